"""Native backends: the same methods run by OpenSSL libcrypto, libsodium, mbed TLS and pyca's
``cryptography``, through thin adapters, so refcrypto can be checked against them and they
against refcrypto.

Nothing here loads a library at import time, and importing :mod:`refcrypto` never imports
this package. A library is loaded the first time a backend is asked :meth:`Backend.available`
(directly or through any other method); a missing library makes the backend *unavailable*
with a reason, never an import error.

The interface every backend implements (:class:`Backend`)::

    name: str                        # "openssl", "sodium", "mbedtls", "cryptography"
    available() -> str | None        # None if the library loaded, else the reason
    describe() -> str                # version and the file that was loaded
    unsupported(method) -> str|None  # None if the backend runs the method's primitive
    new_stream(method, key, iv, decrypt) -> Stream
    new_aead(method, key) -> AEAD

A backend maps a method to its *primitive*, not to its name: ``mbedtls:aes-256-cfb128`` is
``aes-256-cfb`` for OpenSSL and ``aes-256-cfb`` is ``AES-256-CFB128`` for mbed TLS
(:func:`primitive_name`). ``new_stream``/``new_aead`` check the IV (or nonce) length of the
method and raise :class:`NativeUnsupported` (a :class:`~refcrypto.errors.MethodNotImplemented`)
for a method the backend cannot run; its ``reason`` is what :meth:`Backend.unsupported` says.

Streams and AEADs returned here follow :mod:`refcrypto.primitives.base`: a stream keeps its
state across ``update`` calls, ``open`` raises :class:`~refcrypto.errors.InvalidTag`. Objects
that own a native context free it deterministically: a ``weakref.finalize`` frees it when the
object's last reference goes (no ``__del__``, no reference cycle), and ``close()`` frees it
early. They are not safe to share between threads, like every refcrypto stream.

Example::

    from refcrypto import method
    from refcrypto.native import backends

    openssl = backends()["openssl"]
    if openssl.unsupported(method("aes-256-cfb")) is None:
        stream = openssl.new_stream(method("aes-256-cfb"), key, iv, decrypt=False)
"""

from __future__ import annotations

import ctypes
import threading
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from ..errors import (
    InvalidKeySize,
    InvalidNonceSize,
    MethodNotImplemented,
    RefcryptoError,
    TruncatedData,
)
from ..methods import Method
from ..methods import method as lookup_method

if TYPE_CHECKING:
    from ..knownanswers import KnownAnswer
    from ..primitives.base import AEAD, Buffer, Stream

__all__ = [
    "BACKEND_NAMES",
    "TAG_SIZE",
    "VARIABLE_KEY_PRIMITIVES",
    "AEADSizes",
    "Backend",
    "NativeBackend",
    "NativeFailure",
    "NativeUnsupported",
    "backend",
    "backends",
    "primitive_name",
    "verify_with",
]

#: Every AEAD of every backend here uses a 16-byte tag appended to the ciphertext.
TAG_SIZE = 16

#: The backends, in the order :func:`backends` lists them.
BACKEND_NAMES = ("openssl", "sodium", "mbedtls", "cryptography")

#: Primitives whose key length is not fixed by the method (OpenSSL's ``bf``, ``cast5``,
#: ``rc2`` and ``rc4`` take variable keys; Shadowsocks always uses 16 bytes). A backend may
#: accept other lengths, as the published vectors need (RC2's 8-byte key), or refuse them
#: with :class:`~refcrypto.errors.InvalidKeySize`.
VARIABLE_KEY_PRIMITIVES = frozenset({"bf-cfb", "cast5-cfb", "rc2-cfb", "rc4"})


class NativeUnsupported(MethodNotImplemented):
    """This backend cannot run this method (or its library is unavailable)."""

    def __init__(self, backend: str, method: str, reason: str) -> None:
        self.backend = backend
        self.method = method
        self.reason = reason
        super().__init__(f"{method}: not supported by the {backend} backend: {reason}")


class NativeFailure(RefcryptoError, RuntimeError):
    """A native library call failed where it should not have (out of memory, a limit of the
    library such as libsodium's 2^32-block IETF ChaCha20 keystream, a broken build)."""


@runtime_checkable
class Backend(Protocol):
    """What a native backend offers; see the module docstring."""

    name: str

    def available(self) -> str | None:
        """``None`` when the library is loaded and usable, else why not."""
        ...

    def describe(self) -> str:
        """Library and version, and the file that was loaded."""
        ...

    def unsupported(self, method: Method) -> str | None:
        """``None`` when this backend can run ``method``'s primitive, else why not."""
        ...

    def new_stream(self, method: Method, key: bytes, iv: bytes, decrypt: bool) -> Stream:
        """One direction of a stream method, keyed with the raw key and IV."""
        ...

    def new_aead(self, method: Method, key: bytes) -> AEAD:
        """The method's AEAD keyed with ``key`` (a session subkey)."""
        ...


def primitive_name(method: Method | str) -> str:
    """The OpenSSL-style name of what ``method`` computes, shared by every backend's table.

    ``mbedtls:aes-256-cfb128`` -> ``aes-256-cfb``, ``mbedtls:aes-128-gcm`` -> ``aes-128-gcm``,
    ``sodium:aes-256-gcm`` -> ``aes-256-gcm``; every other name is its own primitive name
    (the prefixed rows are wire-identical to the OpenSSL rows; docs/methods-and-wire-formats.md).
    """
    name = lookup_method(method).name
    if name.startswith("mbedtls:"):
        name = name.removeprefix("mbedtls:")
        if name.endswith("-cfb128"):
            name = name.removesuffix("128")
    return name.removeprefix("sodium:")


class AEADSizes:
    """The size properties of the AEAD protocol, for native AEADs that store ``_key_size``
    and ``_nonce_size`` (every native AEAD appends a 16-byte tag)."""

    __slots__ = ()

    _key_size: int
    _nonce_size: int

    @property
    def key_size(self) -> int:
        return self._key_size

    @property
    def nonce_size(self) -> int:
        return self._nonce_size

    @property
    def tag_size(self) -> int:
        return TAG_SIZE


def check_nonce(what: str, nonce: Buffer, size: int) -> bytes:
    """Return ``nonce`` as bytes, or raise :class:`InvalidNonceSize` naming ``what``."""
    if len(nonce) != size:
        raise InvalidNonceSize(f"{what}: nonce must be {size} bytes, got {len(nonce)}")
    return bytes(nonce)


def split_tag(what: str, data: Buffer) -> tuple[bytes, bytes]:
    """``ciphertext || tag`` -> ``(ciphertext, tag)``; :class:`TruncatedData` if too short."""
    if len(data) < TAG_SIZE:
        raise TruncatedData(
            f"{what}: sealed data must be at least {TAG_SIZE} bytes (the tag), got {len(data)}"
        )
    raw = bytes(data)
    return raw[:-TAG_SIZE], raw[-TAG_SIZE:]


def output_buffer(size: int) -> tuple[bytearray, int]:
    """A zeroed writable buffer of ``size`` bytes and the address of its first byte.

    Not ``ctypes.create_string_buffer``: each new length makes a new ``c_char * n`` type,
    which ctypes caches only weakly, so every call would leave a dead type object in a
    reference cycle -- garbage that only the cyclic collector frees, and never when a server
    disables it. The address stays valid while the bytearray lives and is not resized.
    """
    buffer = bytearray(max(size, 1))
    return buffer, ctypes.addressof(ctypes.c_char.from_buffer(buffer))


def take(buffer: bytearray, start: int, stop: int) -> bytes:
    """``bytes(buffer[start:stop])`` with one copy."""
    return bytes(memoryview(buffer)[start:stop])


class NativeBackend:
    """Shared behaviour of the backends: a lazy, thread-safe load; argument checks; refusal.

    Subclasses set :attr:`name` and implement ``_load`` (returns ``None`` or a reason),
    ``_describe``, ``_unsupported`` (for a loaded library) and ``_new_stream``/``_new_aead``
    (called only for supported methods, with sizes already checked).
    """

    name: str = ""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded = False
        self._reason: str | None = None

    # -- the Backend interface ------------------------------------------------------------

    def available(self) -> str | None:
        with self._lock:
            if not self._loaded:
                self._reason = self._load()
                self._loaded = True
        return self._reason

    def describe(self) -> str:
        reason = self.available()
        if reason is not None:
            return f"{self.name}: unavailable ({reason})"
        return self._describe()

    def unsupported(self, method: Method | str) -> str | None:
        reason = self.available()
        if reason is not None:
            return f"the {self.name} backend is unavailable: {reason}"
        m = lookup_method(method)
        return self._unsupported(m, primitive_name(m))

    def new_stream(self, method: Method | str, key: bytes, iv: bytes, decrypt: bool) -> Stream:
        m = lookup_method(method)
        if m.is_aead:
            raise TypeError(f"{m.name} is an AEAD method; use new_aead")
        self._refuse(m)
        primitive = primitive_name(m)
        if primitive not in VARIABLE_KEY_PRIMITIVES:
            self._check_key(m, key)
        return self._new_stream(m, primitive, bytes(key), m.check_iv(bytes(iv)), decrypt)

    def new_aead(self, method: Method | str, key: bytes) -> AEAD:
        m = lookup_method(method)
        if not m.is_aead:
            raise TypeError(f"{m.name} is a stream method; use new_stream")
        self._refuse(m)
        self._check_key(m, key)
        return self._new_aead(m, primitive_name(m), bytes(key))

    # -- helpers and hooks ----------------------------------------------------------------

    def _refuse(self, m: Method) -> None:
        reason = self.unsupported(m)
        if reason is not None:
            raise NativeUnsupported(self.name, m.name, reason)

    def _check_key(self, m: Method, key: bytes) -> None:
        if len(key) != m.key_size:
            raise InvalidKeySize(f"{m.name}: key must be {m.key_size} bytes, got {len(key)}")

    def _load(self) -> str | None:
        raise NotImplementedError

    def _describe(self) -> str:
        raise NotImplementedError

    def _unsupported(self, m: Method, primitive: str) -> str | None:
        raise NotImplementedError

    def _new_stream(self, m: Method, primitive: str, key: bytes, iv: bytes,
                    decrypt: bool) -> Stream:
        raise NotImplementedError

    def _new_aead(self, m: Method, primitive: str, key: bytes) -> AEAD:
        raise NotImplementedError


_BACKENDS: dict[str, Backend] = {}
_BACKENDS_LOCK = threading.Lock()


def _construct(name: str) -> Backend:
    # Imported here, not at the top: importing refcrypto.native must stay cheap and load
    # nothing (the backends themselves load their libraries only in available()).
    if name == "openssl":
        from .openssl import OpenSSLBackend

        return OpenSSLBackend()
    if name == "sodium":
        from .sodium import SodiumBackend

        return SodiumBackend()
    if name == "mbedtls":
        from .mbedtls import MbedTLSBackend

        return MbedTLSBackend()
    if name == "cryptography":
        from .pyca import CryptographyBackend

        return CryptographyBackend()
    raise KeyError(f"unknown backend {name!r}; known: {', '.join(BACKEND_NAMES)}")


def backends() -> dict[str, Backend]:
    """Every backend by name (one shared instance each, built on first use; no library is
    loaded until a backend is asked something)."""
    with _BACKENDS_LOCK:
        for name in BACKEND_NAMES:
            if name not in _BACKENDS:
                _BACKENDS[name] = _construct(name)
        return dict(_BACKENDS)


def backend(name: str) -> Backend:
    """One backend by name (``openssl``, ``sodium``, ``mbedtls``, ``cryptography``)."""
    if name not in BACKEND_NAMES:
        raise KeyError(f"unknown backend {name!r}; known: {', '.join(BACKEND_NAMES)}")
    return backends()[name]


def verify_with(native: Backend, answer: KnownAnswer) -> bool:
    """Run one known answer through ``native``'s primitives (see
    :func:`refcrypto.knownanswers.verify`); ``True`` when it matches.

    Raises :class:`NativeUnsupported` for a method (or answer kind) the backend cannot run
    and :class:`~refcrypto.errors.InvalidKeySize` for a key length it refuses.
    """
    from ..knownanswers import verify

    if answer.kind == "table":
        raise NativeUnsupported(native.name, answer.method, "'table' answers are not native")
    return verify(answer, native)
