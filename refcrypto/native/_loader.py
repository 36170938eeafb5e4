"""Find and load one native library with :mod:`ctypes`, and say which file was loaded.

Search order for each library (:data:`LIBCRYPTO`, :data:`LIBSODIUM`, :data:`LIBMBEDCRYPTO`):

1. the environment override (``REFCRYPTO_LIBCRYPTO``, ``REFCRYPTO_LIBSODIUM``,
   ``REFCRYPTO_LIBMBEDCRYPTO``): a file name or path. When it is set, *only* that file is
   tried, so a test run that asks for a particular build never silently gets another one;
2. the explicit sonames the Debian/Ubuntu packages install (``libcrypto.so.3``,
   ``libsodium.so.23``, ``libmbedcrypto.so.7``, ...), most likely first, resolved by the
   dynamic linker's own search path;
3. :func:`ctypes.util.find_library` with the bare name (``crypto``, ``sodium``,
   ``mbedcrypto``), which also covers macOS and other layouts.

Python shadowsocks called ``find_library`` with ``lib``-prefixed names, which fails on
Python 3.11 with ``FileNotFoundError: ... b'liblibcrypto.a'`` (its PR #1493);
here ``find_library`` gets the bare name and any exception it raises is a reason, not a crash.

:func:`load` never raises for a missing library: it returns a :class:`Loaded` whose
``library`` is ``None`` and whose ``reason`` says what was tried. Nothing here runs at import.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from dataclasses import dataclass

__all__ = ["LIBCRYPTO", "LIBMBEDCRYPTO", "LIBSODIUM", "LibrarySpec", "Loaded", "load"]


@dataclass(frozen=True)
class LibrarySpec:
    """Where to look for one library."""

    #: Human name for messages, e.g. ``OpenSSL libcrypto``.
    title: str
    #: Environment variable that overrides the search.
    env: str
    #: Explicit file names tried in order (dynamic-linker search path).
    sonames: tuple[str, ...]
    #: Bare name for :func:`ctypes.util.find_library`.
    find_name: str
    #: A symbol every usable build exports; a file without it is rejected.
    probe: str


LIBCRYPTO = LibrarySpec(
    "OpenSSL libcrypto",
    "REFCRYPTO_LIBCRYPTO",
    ("libcrypto.so.3", "libcrypto.so.1.1", "libcrypto.so"),
    "crypto",
    "EVP_CipherInit_ex",
)
LIBSODIUM = LibrarySpec(
    "libsodium",
    "REFCRYPTO_LIBSODIUM",
    ("libsodium.so.23", "libsodium.so.26", "libsodium.so"),
    "sodium",
    "sodium_init",
)
LIBMBEDCRYPTO = LibrarySpec(
    "mbed TLS libmbedcrypto",
    "REFCRYPTO_LIBMBEDCRYPTO",
    ("libmbedcrypto.so.7", "libmbedcrypto.so.3", "libmbedcrypto.so"),
    "mbedcrypto",
    "mbedtls_cipher_info_from_string",
)


@dataclass(frozen=True)
class Loaded:
    """The outcome of :func:`load`: a library and the file it came from, or a reason."""

    library: ctypes.CDLL | None
    #: The file actually mapped (absolute when the platform can tell), or ``""``.
    path: str
    #: ``None`` when loaded, else why not (every candidate tried and what it said).
    reason: str | None


class _DlInfo(ctypes.Structure):
    # <dlfcn.h> Dl_info (glibc, musl, macOS, the BSDs all share this layout).
    _fields_ = (
        ("dli_fname", ctypes.c_char_p),
        ("dli_fbase", ctypes.c_void_p),
        ("dli_sname", ctypes.c_char_p),
        ("dli_saddr", ctypes.c_void_p),
    )


def _mapped_file(library: ctypes.CDLL, symbol: str, fallback: str) -> str:
    """The file a symbol of ``library`` lives in, via ``dladdr``; ``fallback`` if unknown."""
    try:
        dladdr = ctypes.CDLL(None).dladdr
    except (OSError, AttributeError):
        return fallback
    dladdr.argtypes = (ctypes.c_void_p, ctypes.POINTER(_DlInfo))
    dladdr.restype = ctypes.c_int
    info = _DlInfo()
    address = ctypes.cast(getattr(library, symbol), ctypes.c_void_p).value
    if not dladdr(address, ctypes.byref(info)) or not info.dli_fname:
        return fallback
    return os.fsdecode(info.dli_fname)


def _try(candidate: str, spec: LibrarySpec) -> tuple[ctypes.CDLL | None, str]:
    try:
        library = ctypes.CDLL(candidate)
    except OSError as exc:
        message = str(exc)  # the dynamic linker's message usually names the file already
        return None, message if candidate in message else f"{candidate}: {message}"
    if not hasattr(library, spec.probe):
        return None, f"{candidate}: loaded but has no {spec.probe}, not {spec.title}"
    return library, ""


def load(spec: LibrarySpec) -> Loaded:
    """Load ``spec``'s library (see the module docstring for the order); never raises."""
    override = os.environ.get(spec.env, "").strip()
    if override:
        library, error = _try(override, spec)
        if library is None:
            return Loaded(None, "", f"{spec.env}={override} could not be used ({error})")
        return Loaded(library, _mapped_file(library, spec.probe, override), None)
    errors: list[str] = []
    for candidate in spec.sonames:
        library, error = _try(candidate, spec)
        if library is not None:
            return Loaded(library, _mapped_file(library, spec.probe, candidate), None)
        errors.append(error)
    # Only now ask find_library: it may run ldconfig or a compiler in a subprocess.
    try:
        found = ctypes.util.find_library(spec.find_name)
    except Exception as exc:  # any failure of the helper programs is just a miss
        found = None
        errors.append(f"find_library({spec.find_name!r}) failed: {exc}")
    if found and found not in spec.sonames:
        library, error = _try(found, spec)
        if library is not None:
            return Loaded(library, _mapped_file(library, spec.probe, found), None)
        errors.append(error)
    elif not found:
        errors.append(f"find_library({spec.find_name!r}) found nothing")
    return Loaded(
        None, "", f"{spec.title} not found (set {spec.env} to its path); tried: "
        + "; ".join(errors)
    )
