"""Third-party Shadowsocks cipher modules as wire backends: Python shadowsocks and pproxy.

Each backend drives the third-party code the way its own server does, so that what the
conformance engine sees is what a peer of that server would see on the wire:

``shadowsocks`` (:class:`PyShadowsocksWire` over the ``shadowsocks-alexforks`` package)
    TCP through ``shadowsocks.cryptor.Cryptor`` (its ``encrypt``/``decrypt``, as
    ``tcprelay.py`` uses them), UDP through ``encrypt_all_m``/``decrypt_all`` (as
    ``udprelay.py``). Passwords are handed over as bytes, as ``shell.py`` does. The fixed
    IV/salt of an encoder is installed with the Cryptor's own ``get_cipher`` (the random
    cipher made by the constructor is replaced; no module state is touched), and
    ``encrypt_all_m`` takes the IV as an argument. Native libraries are handed over by
    explicit path through the package's documented ``crypto_path`` argument
    (``{'openssl': path, 'sodium': path, 'mbedtls': path}``), which also side-steps its
    ``find_library('lib...')`` search, broken on Python 3.11 (shadowsocks/shadowsocks PR #1493).
    On OpenSSL 3 the ``legacy`` and ``default`` providers are loaded into that same
    libcrypto first, because eight methods (``bf``/``cast5``/``des``/``idea``/``rc2``/
    ``seed-cfb``, ``rc4``, ``rc4-md5``) live in the legacy provider.

    The decoder passes every read straight to ``Cryptor.decrypt``: Python shadowsocks takes
    the IV/salt from the first read only, and that bug stays visible.

``pproxy`` and ``pproxy-py`` (:class:`PproxyWire` over ``pproxy.cipher``, pycryptodome, and
``pproxy.cipherpy``, pure Python)
    Everything goes through ``pproxy.cipher.get_cipher("method:password")``, the function
    pproxy's URI parser calls: TCP through the ``apply_cipher`` wrapper it returns (its
    ``write`` sends the IV with the first write, its reader buffers the IV), fed with stand-in
    reader/writer objects; UDP through the ``PacketCipher`` it returns (``datagram``). The
    names ``method-py`` select the pure-Python module, as in pproxy. The encoder's IV is fixed
    by standing in for that one cipher object's ``setup_iv``; for UDP, ``PacketCipher``'s
    one-line factory (``cipher(key).setup_iv(iv)``) is replaced by an equivalent that can fix
    the IV. pproxy's ``cipher:key`` text cannot carry a password holding ``:`` or non-UTF-8
    bytes; such a password is put into the ``apply_cipher`` closure directly (see
    :meth:`PproxyWire._apply`), so any password can be compared.

    pproxy memoises derived keys by password only (``BaseCipher.CACHE``, whatever the key
    length) and pure-Python block-cipher key schedules by key only, across cipher classes
    (``cipherpy.RAW.CACHE``), so in one process the result for a method depends on which
    methods ran before with the same password. ``isolate_caches=True`` (the default) evicts
    the entries one operation could read or leave behind, which models one pproxy process per
    method; ``isolate_caches=False`` leaves pproxy's caches alone and exposes that.

Importing this module imports neither package and loads no native library: that happens the
first time a backend is asked anything.
"""

from __future__ import annotations

import ctypes
import importlib
import importlib.metadata
import types
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..methods import Method
from ..native._loader import LIBCRYPTO, LIBMBEDCRYPTO, LIBSODIUM, LibrarySpec, Loaded, load
from ..primitives.base import Buffer
from ..wire.cryptor import Password
from .backend import Transform, WireBackend

__all__ = [
    "PY_SHADOWSOCKS_LIBRARIES",
    "NativeLibrary",
    "PproxyWire",
    "PyShadowsocksModules",
    "PyShadowsocksWire",
    "load_python_shadowsocks",
    "pproxy_backend",
    "pproxy_py_backend",
    "shadowsocks_backend",
    "thirdparty_backends",
]

#: Python shadowsocks' ``op`` argument: 1 encrypts, 0 decrypts (``cryptor.py``).
_ENCRYPT = 1
#: Methods OpenSSL 3 keeps in its ``legacy`` provider (OSSL_PROVIDER-legacy(7)).
_OPENSSL_LEGACY = frozenset(
    {"bf-cfb", "cast5-cfb", "des-cfb", "idea-cfb", "rc2-cfb", "rc4", "seed-cfb", "rc4-md5"}
)


def _as_bytes(data: Buffer | str) -> bytes:
    if isinstance(data, str):
        return data.encode("utf-8")
    return bytes(data)


def _password_bytes(password: Password) -> bytes:
    """The password as bytes: ``str`` as UTF-8 (Python shadowsocks' ``common.to_bytes``)."""
    return _as_bytes(password)


def _drain(pieces: list[bytes]) -> bytes:
    out = b"".join(pieces)
    pieces.clear()
    return out


def _distribution_of(module: str) -> tuple[str, str]:
    """``(distribution, version)`` of the installed distribution providing ``module``."""
    top = module.partition(".")[0]
    names = importlib.metadata.packages_distributions().get(top) or [top]
    for name in names:
        try:
            return name, importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return names[0], "unknown version"


# --------------------------------------------------------------------------------------------
# Native libraries, as handed to a Python-shadowsocks-style package
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NativeLibrary:
    """One native library a package loads through ctypes.

    ``key`` is the package's name for it (the key of Python shadowsocks' ``crypto_path``);
    ``modules`` are the package's modules (last dotted component) whose ciphers need it.
    """

    key: str
    spec: LibrarySpec
    modules: tuple[str, ...]


#: The three libraries of Python shadowsocks (``rc4_md5`` is RC4 from libcrypto).
PY_SHADOWSOCKS_LIBRARIES = (
    NativeLibrary("openssl", LIBCRYPTO, ("openssl", "rc4_md5")),
    NativeLibrary("sodium", LIBSODIUM, ("sodium",)),
    NativeLibrary("mbedtls", LIBMBEDCRYPTO, ("mbedtls",)),
)


def _c_string(function: Any, *args: Any) -> str:
    function.restype = ctypes.c_char_p
    value = function(*args)
    return value.decode("ascii", "replace") if isinstance(value, bytes) else "?"


def _library_version(key: str, library: ctypes.CDLL) -> str:
    """The version a loaded library reports about itself, or ``""`` if it has no such call."""
    try:
        if key == "openssl" and hasattr(library, "OpenSSL_version"):
            return _c_string(library.OpenSSL_version, ctypes.c_int(0))
        if key == "openssl" and hasattr(library, "SSLeay_version"):
            return _c_string(library.SSLeay_version, ctypes.c_int(0))
        if key == "sodium" and hasattr(library, "sodium_version_string"):
            return "libsodium " + _c_string(library.sodium_version_string)
        if key == "mbedtls" and hasattr(library, "mbedtls_version_get_string"):
            buffer = ctypes.create_string_buffer(32)
            library.mbedtls_version_get_string(buffer)
            return "mbed TLS " + buffer.value.decode("ascii", "replace")
    except (AttributeError, OSError, ValueError):  # pragma: no cover - exotic builds
        pass
    return ""


def _load_openssl_providers(library: ctypes.CDLL) -> tuple[str, list[int]]:
    """Load OpenSSL 3's ``legacy`` and ``default`` providers into ``library``'s default
    library context; return a note for :meth:`describe` and the provider handles (kept so
    the providers stay loaded). Loading ``legacy`` explicitly stops OpenSSL from loading
    ``default`` implicitly, hence both."""
    if not hasattr(library, "OSSL_PROVIDER_load"):
        return "no provider API (OpenSSL < 3: legacy ciphers are built in)", []
    provider_load = library.OSSL_PROVIDER_load
    provider_load.restype = ctypes.c_void_p
    provider_load.argtypes = (ctypes.c_void_p, ctypes.c_char_p)
    handles: list[int] = []
    missing: list[str] = []
    for provider in (b"legacy", b"default"):
        handle = provider_load(None, provider)
        if handle:
            handles.append(int(handle))
        else:
            missing.append(provider.decode())
    if missing:
        return f"OSSL_PROVIDER_load failed for {', '.join(missing)}", handles
    return "legacy and default providers loaded", handles


# --------------------------------------------------------------------------------------------
# Python shadowsocks shape
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PyShadowsocksModules:
    """The objects of a cipher package written in the shape of Python shadowsocks.

    * ``method_supported``: ``name -> (key_len, iv_len, factory)``, the merged ``ciphers``
      dicts; ``factory(name, key, iv, op, crypto_path)`` returns an object with
      ``encrypt``/``decrypt`` (TCP; the SIP004 chunk codec for AEAD classes, which derive the
      subkey from the master key and salt themselves) and ``encrypt_once``/``decrypt_once``
      (one UDP payload);
    * ``cryptor``: the ``Cryptor(password, method, crypto_path)`` class, with ``encrypt``,
      ``decrypt`` and ``get_cipher(password, method, op, iv)``;
    * ``gen_key_iv(password, method) -> (key, iv, factory)``,
      ``encrypt_all_m(key, iv, factory, method, data, crypto_path) -> packet`` and
      ``decrypt_all(password, method, packet, crypto_path) -> (data, key, iv)``.
    """

    module: str
    method_supported: Mapping[str, tuple[int, int, Callable[..., Any]]]
    cryptor: Callable[..., Any]
    gen_key_iv: Callable[..., Any]
    encrypt_all_m: Callable[..., Any]
    decrypt_all: Callable[..., Any]


def load_python_shadowsocks() -> PyShadowsocksModules:
    """Import ``shadowsocks.cryptor`` (the ``shadowsocks-alexforks`` package, or any install
    of shadowsocks/shadowsocks master) and return its objects."""
    cryptor = importlib.import_module("shadowsocks.cryptor")
    return PyShadowsocksModules(
        module=cryptor.__name__,
        method_supported=cryptor.method_supported,
        cryptor=cryptor.Cryptor,
        gen_key_iv=cryptor.gen_key_iv,
        encrypt_all_m=cryptor.encrypt_all_m,
        decrypt_all=cryptor.decrypt_all,
    )


@dataclass
class _PyState:
    """What :class:`PyShadowsocksWire` found the first time it was used."""

    reason: str | None = None
    modules: PyShadowsocksModules | None = None
    distribution: str = ""
    version: str = ""
    crypto_path: dict[str, str] = field(default_factory=dict)
    loaded: dict[str, Loaded] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    provider_handles: list[int] = field(default_factory=list)
    verdicts: dict[str, str | None] = field(default_factory=dict)


class _CryptorEncoder:
    """One ``Cryptor`` whose encrypting cipher was rebuilt with a chosen IV/salt."""

    __slots__ = ("__weakref__", "_cryptor")

    def __init__(self, cryptor: Any) -> None:
        self._cryptor = cryptor

    def update(self, data: Buffer) -> bytes:
        return bytes(self._cryptor.encrypt(_as_bytes(data)))


class _CryptorDecoder:
    """One ``Cryptor``; every read goes straight to its ``decrypt``, as in ``tcprelay.py``."""

    __slots__ = ("__weakref__", "_cryptor")

    def __init__(self, cryptor: Any) -> None:
        self._cryptor = cryptor

    def update(self, data: Buffer) -> bytes:
        return bytes(self._cryptor.decrypt(_as_bytes(data)))


class PyShadowsocksWire:
    """A wire backend for any cipher package in the shape of Python shadowsocks.

    ``load`` imports the package and returns its objects (:class:`PyShadowsocksModules`); it
    runs the first time the backend is used, never at construction. ``libraries`` says which
    native libraries the package's modules load; each is found with refcrypto's loader (so
    ``REFCRYPTO_LIBCRYPTO`` and friends pick the file) and handed to the package by path in
    ``crypto_path``. With ``openssl_legacy`` the OpenSSL 3 ``legacy`` provider is loaded
    into that libcrypto before any cipher is made.

    :meth:`available` is ``None`` as soon as the package imports; a missing native library
    makes only the methods that need it unsupported (:meth:`missing_dependency` says which),
    and :meth:`describe` lists it as missing.
    """

    __slots__ = ("__weakref__", "_libraries", "_load", "_openssl_legacy", "_state", "name")

    def __init__(
        self,
        name: str,
        load: Callable[[], PyShadowsocksModules],
        *,
        libraries: Iterable[NativeLibrary] = PY_SHADOWSOCKS_LIBRARIES,
        openssl_legacy: bool = True,
    ) -> None:
        self.name = name
        self._load = load
        self._libraries = tuple(libraries)
        self._openssl_legacy = openssl_legacy
        self._state: _PyState | None = None

    # -- loading ---------------------------------------------------------------------------

    def _loaded(self) -> _PyState:
        if self._state is not None:
            return self._state
        state = _PyState()
        try:
            modules = self._load()
        except ImportError as exc:
            state.reason = (
                f"{self.name}: the package is not installed "
                f"(pip install shadowsocks-alexforks): {exc}"
            )
        except Exception as exc:  # a broken install is a reason, not a crash
            state.reason = f"{self.name}: importing the package failed: {exc!r}"
        else:
            state.modules = modules
            state.distribution, state.version = _distribution_of(modules.module)
            for library in self._libraries:
                self._load_library(state, library)
        self._state = state
        return state

    def _load_library(self, state: _PyState, library: NativeLibrary) -> None:
        found = load(library.spec)
        state.loaded[library.key] = found
        if found.library is None:
            return
        state.crypto_path[library.key] = found.path
        note = _library_version(library.key, found.library)
        if library.key == "openssl" and self._openssl_legacy:
            provider_note, handles = _load_openssl_providers(found.library)
            state.provider_handles.extend(handles)
            note = f"{note}; {provider_note}" if note else provider_note
        state.notes[library.key] = note

    def _library_for(self, factory: Callable[..., Any]) -> NativeLibrary | None:
        module = getattr(factory, "__module__", "") or ""
        last = module.rpartition(".")[2]
        for library in self._libraries:
            if last in library.modules:
                return library
        return None

    # -- WireBackend: what it is and what it can do ----------------------------------------

    def available(self) -> str | None:
        return self._loaded().reason

    def describe(self) -> str:
        state = self._loaded()
        if state.modules is None:
            return f"{self.name}: not available ({state.reason})"
        parts = [
            f"{state.distribution} {state.version} ({state.modules.module}, "
            f"{len(state.modules.method_supported)} methods)"
        ]
        for library in self._libraries:
            found = state.loaded[library.key]
            if found.library is None:
                parts.append(f"{library.spec.title}: missing")
                continue
            note = state.notes.get(library.key, "")
            parts.append(f"{library.spec.title}: {found.path}" + (f" ({note})" if note else ""))
        return "; ".join(parts)

    def missing_dependency(self, method: Method) -> str | None:
        """Why ``method`` cannot run here *because something is not installed* (the package
        or a native library), else ``None``. A subset of :meth:`unsupported`."""
        state = self._loaded()
        if state.modules is None:
            return state.reason
        entry = state.modules.method_supported.get(method.name)
        if entry is None:
            return None
        library = self._library_for(entry[2])
        if library is not None and library.key not in state.crypto_path:
            return f"{method.name}: needs {library.spec.title}: {state.loaded[library.key].reason}"
        return None

    def unsupported(self, method: Method) -> str | None:
        state = self._loaded()
        if state.modules is None:
            return state.reason
        name = method.name
        if method.is_2022:
            return f"{name}: {state.distribution} has no Shadowsocks 2022 support"
        if name in state.verdicts:
            return state.verdicts[name]
        verdict = self._verdict(state, state.modules, method)
        state.verdicts[name] = verdict
        return verdict

    def _verdict(
        self, state: _PyState, modules: PyShadowsocksModules, method: Method
    ) -> str | None:
        name = method.name
        entry = modules.method_supported.get(name)
        if entry is None:
            return f"{name}: not a method of {state.distribution} ({modules.module})"
        missing = self.missing_dependency(method)
        if missing is not None:
            return missing
        key_len, iv_len, factory = entry
        if self._library_for(factory) is None:
            return None  # pure Python (table): nothing to probe
        # Build the cipher once and encrypt a byte: this is where a cipher absent from the
        # library build (IDEA on Debian) or a missing provider or symbol shows.
        try:
            probe = factory(name, bytes(key_len), bytes(iv_len), _ENCRYPT, state.crypto_path)
            probe.encrypt(b"\x00")
        except Exception as exc:
            reason = f"{name}: {state.distribution} cannot use it here: {exc}"
            note = state.notes.get("openssl", "")
            if name in _OPENSSL_LEGACY and "failed" in note:
                reason += f" (OpenSSL 3 keeps it in the legacy provider: {note})"
            return reason
        return None

    # -- WireBackend: the wire ---------------------------------------------------------------

    def _modules(self, method: Method) -> tuple[PyShadowsocksModules, dict[str, str]]:
        state = self._loaded()
        if state.modules is None:
            raise RuntimeError(state.reason)
        if method.name not in state.modules.method_supported:
            # Cryptor would log an error and call sys.exit(1).
            raise ValueError(self.unsupported(method))
        return state.modules, state.crypto_path

    def tcp_encoder(self, method: Method, password: Password, iv: bytes) -> Transform:
        modules, crypto_path = self._modules(method)
        iv = method.check_iv(iv)
        secret = _password_bytes(password)
        cryptor = modules.cryptor(secret, method.name, crypto_path)
        # The constructor made the encrypting cipher with a random IV; get_cipher (the call
        # the constructor itself uses) rebuilds it with ours and records it as cipher_iv.
        cryptor.cipher = cryptor.get_cipher(secret, method.name, _ENCRYPT, iv)
        return _CryptorEncoder(cryptor)

    def tcp_decoder(self, method: Method, password: Password) -> Transform:
        modules, crypto_path = self._modules(method)
        return _CryptorDecoder(modules.cryptor(_password_bytes(password), method.name, crypto_path))

    def udp_encrypt(self, method: Method, password: Password, iv: bytes, data: bytes) -> bytes:
        modules, crypto_path = self._modules(method)
        iv = method.check_iv(iv)
        key, _random_iv, factory = modules.gen_key_iv(_password_bytes(password), method.name)
        packet = modules.encrypt_all_m(key, iv, factory, method.name, _as_bytes(data), crypto_path)
        return bytes(packet)

    def udp_decrypt(self, method: Method, password: Password, packet: bytes) -> bytes:
        modules, crypto_path = self._modules(method)
        secret = _password_bytes(password)
        data, _key, _iv = modules.decrypt_all(secret, method.name, _as_bytes(packet), crypto_path)
        return bytes(data)


# --------------------------------------------------------------------------------------------
# pproxy
# --------------------------------------------------------------------------------------------


def _same(data: bytes) -> bytes:
    """pproxy's plugin hooks when no plugin is configured (``server.py`` ``DUMMY``)."""
    return data


def _discard(data: bytes) -> None:
    return None


class _Caches:
    """pproxy's process-wide memo dicts, emptied of the entries one operation touches."""

    __slots__ = ("_base", "_raw")

    def __init__(self, base: dict[Any, Any], raw: dict[Any, Any] | None) -> None:
        self._base = base
        self._raw = raw

    def evict(self, *keys: Any) -> None:
        for key in keys:
            self._base.pop(key, None)
            if self._raw is not None:
                self._raw.pop(key, None)


class _SetupIV:
    """Stands in for one pproxy cipher object's ``setup_iv``: supplies a fixed IV when pproxy
    asks for a random one, and (with caches) evicts the memoised key schedule for the key
    before and after, so that no other method's entry is read and none is left behind.

    Holds the cipher weakly: the cipher owns this object, which must not own it back.
    """

    __slots__ = ("_caches", "_cipher", "_iv")

    def __init__(self, cipher: Any, iv: bytes | None, caches: _Caches | None) -> None:
        self._cipher = weakref.ref(cipher)
        self._iv = iv
        self._caches = caches

    def __call__(self, iv: bytes | None = None) -> Any:
        cipher = self._cipher()
        if cipher is None:  # pragma: no cover - the cipher owns this object
            raise ReferenceError("pproxy cipher object is gone")
        if self._caches is not None:
            self._caches.evict(cipher.key)
        result = type(cipher).setup_iv(cipher, self._iv if iv is None else iv)
        if self._caches is not None:
            self._caches.evict(cipher.key)  # the AEAD subkey, or the stream key
        return result


class _PacketCipherFactory:
    """Equivalent of ``PacketCipher``'s ``lambda iv=None: cipher(key).setup_iv(iv)`` with an
    IV of our choosing instead of a random one."""

    __slots__ = ("_caches", "_cipher_class", "_iv", "_key")

    def __init__(
        self, cipher_class: Any, key: bytes, iv: bytes | None, caches: _Caches | None
    ) -> None:
        self._cipher_class = cipher_class
        self._key = key
        self._iv = iv
        self._caches = caches

    def __call__(self, iv: bytes | None = None) -> Any:
        if self._caches is not None:
            self._caches.evict(b"key" + self._key)
        cipher = self._cipher_class(self._key)
        if self._caches is not None:
            self._caches.evict(b"key" + self._key)
        return _SetupIV(cipher, None, self._caches)(self._iv if iv is None else iv)


class _PproxyEncoder:
    """pproxy's ``writer.write`` wrapper over a writer that collects what it sends."""

    __slots__ = ("__weakref__", "_out", "_writer")

    def __init__(self, writer: Any, out: list[bytes]) -> None:
        self._writer = writer
        self._out = out

    def update(self, data: Buffer) -> bytes:
        self._writer.write(_as_bytes(data))
        return _drain(self._out)


class _PproxyDecoder:
    """pproxy's ``reader.feed_data`` wrapper over a reader that collects what it receives."""

    __slots__ = ("__weakref__", "_out", "_reader")

    def __init__(self, reader: Any, out: list[bytes]) -> None:
        self._reader = reader
        self._out = out

    def update(self, data: Buffer) -> bytes:
        self._reader.feed_data(_as_bytes(data))
        return _drain(self._out)


@dataclass
class _PproxyState:
    reason: str | None = None
    get_cipher: Callable[[str], Any] | None = None
    names: frozenset[str] = frozenset()
    other_names: frozenset[str] = frozenset()
    caches: _Caches | None = None
    description: str = ""


class PproxyWire:
    """pproxy's ciphers as a wire backend: ``module`` is ``pproxy.cipher`` (pycryptodome) or
    ``pproxy.cipherpy`` (pure Python). See the module docstring for how it is driven and
    what ``isolate_caches`` does."""

    __slots__ = ("__weakref__", "_isolate", "_module", "_state", "name")

    _MODULES = ("pproxy.cipher", "pproxy.cipherpy")

    def __init__(self, name: str, module: str, *, isolate_caches: bool = True) -> None:
        if module not in self._MODULES:
            raise ValueError(f"module must be one of {self._MODULES}, not {module!r}")
        self.name = name
        self._module = module
        self._isolate = isolate_caches
        self._state: _PproxyState | None = None

    @property
    def _pure(self) -> bool:
        return self._module == "pproxy.cipherpy"

    def _loaded(self) -> _PproxyState:
        if self._state is not None:
            return self._state
        state = _PproxyState()
        try:
            cipher = importlib.import_module("pproxy.cipher")
            cipherpy = importlib.import_module("pproxy.cipherpy")
            crypto = None if self._pure else importlib.import_module("Crypto")
        except ImportError as exc:
            state.reason = f"{self.name}: pproxy is not installed (pip install pproxy): {exc}"
            self._state = state
            return state
        own, other = (cipherpy, cipher) if self._pure else (cipher, cipherpy)
        version = _distribution_of("pproxy")[1]
        if crypto is not None and tuple(getattr(crypto, "version_info", (0,))) < (3, 4):
            # get_cipher would silently fall back to pproxy.cipherpy.
            state.reason = f"{self.name}: pproxy.cipher needs pycryptodome >= 3.4"
        state.get_cipher = cipher.get_cipher
        state.names = frozenset(own.MAP)
        state.other_names = frozenset(other.MAP)
        if self._isolate:
            raw = getattr(getattr(cipherpy, "RAW", None), "CACHE", None)
            state.caches = _Caches(cipher.BaseCipher.CACHE, raw)
        engine = (
            "pure Python"
            if crypto is None
            else f"pycryptodome {getattr(crypto, '__version__', '?')}, its bundled C code"
        )
        state.description = (
            f"pproxy {version} ({self._module}, {engine}, {len(state.names)} methods; "
            f"no native library of its own; caches "
            f"{'isolated per operation' if self._isolate else 'shared, as in pproxy'})"
        )
        self._state = state
        return state

    def available(self) -> str | None:
        return self._loaded().reason

    def describe(self) -> str:
        state = self._loaded()
        return state.description or f"{self.name}: not available ({state.reason})"

    def missing_dependency(self, method: Method) -> str | None:
        """Why ``method`` cannot run because pproxy is not installed, else ``None``."""
        return self._loaded().reason

    def unsupported(self, method: Method) -> str | None:
        state = self._loaded()
        if state.reason is not None:
            return state.reason
        if method.is_2022:
            return f"{method.name}: pproxy has no Shadowsocks 2022 support"
        if method.name in state.names:
            return None
        reason = f"{method.name}: not a method of {self._module}"
        if ":" in method.name:
            reason += " (and pproxy's 'cipher:key' syntax splits on ':')"
        elif method.name in state.other_names:
            other = "pproxy.cipher" if self._pure else "pproxy.cipherpy (backend pproxy-py)"
            reason += f"; pproxy has it in {other}"
        return reason

    # -- the wire ------------------------------------------------------------------------------

    def _apply(self, method: Method, password: Password) -> tuple[Any, _PproxyState]:
        """``get_cipher("method[-py]:password")``, as pproxy's URI parser calls it.

        pproxy reads the password as text from ``cipher:key`` and splits that on ``:``, so a
        password holding ``:`` or bytes that are not UTF-8 cannot be configured at all (a
        start-up error, not a wire divergence). For those the cipher is made with a
        placeholder and the password bytes are put in the ``key`` variable that
        ``apply_cipher`` closes over: the key derivation and everything on the wire stay
        pproxy's own.
        """
        state = self._loaded()
        if state.get_cipher is None:
            raise RuntimeError(state.reason)
        secret = _password_bytes(password)
        try:
            text: str | None = secret.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        placeholder = text is None or ":" in text
        suffix = "-py" if self._pure else ""
        error, apply = state.get_cipher(f"{method.name}{suffix}:{'x' if placeholder else text}")
        if error:
            raise ValueError(f"{self.name}: {error}")
        if apply.cipher.__module__ != self._module:
            raise RuntimeError(
                f"{self.name}: get_cipher chose {apply.cipher.__module__} for {method.name}"
            )
        if placeholder:
            names = apply.__code__.co_freevars
            if "key" not in names or apply.__closure__ is None:
                raise ValueError(
                    f"{self.name}: pproxy cannot take this password ('cipher:key' is text split "
                    "on ':'), and its apply_cipher no longer closes over 'key'"
                )
            apply.__closure__[names.index("key")].cell_contents = secret
            apply.key = secret
        return apply, state

    def _attach(self, apply: Any, state: _PproxyState, reader: Any, writer: Any) -> Any:
        """Run ``apply_cipher(reader, writer, ...)``; return the two cipher objects."""
        if state.caches is not None:
            state.caches.evict(b"key" + apply.key)
        ciphers = apply(reader, writer, _same, _same, _same, _same)
        if state.caches is not None:
            state.caches.evict(b"key" + apply.key)
        return ciphers

    def tcp_encoder(self, method: Method, password: Password, iv: bytes) -> Transform:
        iv = method.check_iv(iv)
        apply, state = self._apply(method, password)
        out: list[bytes] = []
        writer = types.SimpleNamespace(write=out.append)
        reader = types.SimpleNamespace(feed_data=_discard, _buffer=bytearray())
        _reader_cipher, writer_cipher = self._attach(apply, state, reader, writer)
        writer_cipher.setup_iv = _SetupIV(writer_cipher, iv, state.caches)
        return _PproxyEncoder(writer, out)

    def tcp_decoder(self, method: Method, password: Password) -> Transform:
        apply, state = self._apply(method, password)
        out: list[bytes] = []
        reader = types.SimpleNamespace(feed_data=out.append, _buffer=bytearray())
        writer = types.SimpleNamespace(write=_discard)
        reader_cipher, _writer_cipher = self._attach(apply, state, reader, writer)
        if state.caches is not None:
            reader_cipher.setup_iv = _SetupIV(reader_cipher, None, state.caches)
        return _PproxyDecoder(reader, out)

    def udp_encrypt(self, method: Method, password: Password, iv: bytes, data: bytes) -> bytes:
        iv = method.check_iv(iv)
        apply, state = self._apply(method, password)
        packets = apply.datagram
        packets.cipher = _PacketCipherFactory(apply.cipher, apply.key, iv, state.caches)
        return bytes(packets.encrypt(_as_bytes(data)))

    def udp_decrypt(self, method: Method, password: Password, packet: bytes) -> bytes:
        apply, state = self._apply(method, password)
        packets = apply.datagram
        packets.cipher = _PacketCipherFactory(apply.cipher, apply.key, None, state.caches)
        return bytes(packets.decrypt(_as_bytes(packet)))


# --------------------------------------------------------------------------------------------
# The backends
# --------------------------------------------------------------------------------------------


def shadowsocks_backend() -> PyShadowsocksWire:
    """Python shadowsocks (PyPI ``shadowsocks-alexforks``, a maintained copy of master)."""
    return PyShadowsocksWire("shadowsocks", load_python_shadowsocks)


def pproxy_backend(*, isolate_caches: bool = True) -> PproxyWire:
    """pproxy's pycryptodome cipher module, ``pproxy.cipher``."""
    return PproxyWire("pproxy", "pproxy.cipher", isolate_caches=isolate_caches)


def pproxy_py_backend(*, isolate_caches: bool = True) -> PproxyWire:
    """pproxy's pure-Python cipher module, ``pproxy.cipherpy`` (names ``method-py``)."""
    return PproxyWire("pproxy-py", "pproxy.cipherpy", isolate_caches=isolate_caches)


def thirdparty_backends() -> tuple[WireBackend, ...]:
    """Fresh instances of every third-party wire backend (nothing is imported yet)."""
    return (shadowsocks_backend(), pproxy_backend(), pproxy_py_backend())
