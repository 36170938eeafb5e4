"""libsodium through ctypes: the Salsa20/ChaCha20 stream methods with Shadowsocks' byte
counter, and the ChaCha20-Poly1305 and AES-256-GCM AEADs (``shadowsocks/crypto/sodium.py``).

Streams. ``crypto_stream_*_xor_ic(out, in, len, nonce, ic, key)`` can only start at a 64-byte
block boundary (``ic`` is the initial block counter). Python shadowsocks and libev keep a byte
counter per cipher object and, for every write (docs/methods-and-wire-formats.md):

1. ``pad = counter % 64``, ``ic = counter // 64``;
2. XOR ``pad`` zero bytes followed by the data, starting at block ``ic``;
3. drop the first ``pad`` output bytes;
4. ``counter += len(data)``.

Encryption and decryption are the same operation. ``salsa20``, ``chacha20`` and ``xchacha20``
take a 64-bit ``ic``; ``chacha20-ietf`` a 32-bit one (``uint32_t``), so one IV is good for
2^32 blocks (256 GiB). libsodium aborts the process (``sodium_misuse``) if an IETF call would
run past that block, so this adapter raises :class:`~refcrypto.native.NativeFailure` first.

AEADs: ``crypto_aead_chacha20poly1305_*`` (libsodium's original construction, 8-byte nonce:
``chacha20-poly1305``), ``crypto_aead_chacha20poly1305_ietf_*`` (12),
``crypto_aead_xchacha20poly1305_ietf_*`` (24) and ``crypto_aead_aes256gcm_*`` (12), the last
only when ``crypto_aead_aes256gcm_is_available()`` says the CPU has AES-NI and PCLMULQDQ.
``aes-256-gcm``, ``sodium:aes-256-gcm`` and ``mbedtls:aes-256-gcm`` all map to it.

libsodium keeps no per-message state here: the objects hold the key and nonce as Python bytes
and own no native memory, so there is nothing to free.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from typing import Any

from ..errors import InvalidTag
from ..methods import Method
from ..primitives.base import AEAD, Buffer, Stream
from . import (
    TAG_SIZE,
    AEADSizes,
    NativeBackend,
    NativeFailure,
    check_nonce,
    output_buffer,
    split_tag,
    take,
)
from ._loader import LIBSODIUM, load

__all__ = ["SodiumAEAD", "SodiumBackend", "SodiumStream"]

#: libsodium's stream functions work in 64-byte blocks (libev's SODIUM_BLOCK_SIZE).
BLOCK_SIZE = 64

#: primitive -> (xor_ic function, block-counter bits).
_STREAMS: dict[str, tuple[str, int]] = {
    "salsa20": ("crypto_stream_salsa20_xor_ic", 64),
    "chacha20": ("crypto_stream_chacha20_xor_ic", 64),
    "chacha20-ietf": ("crypto_stream_chacha20_ietf_xor_ic", 32),
    "xchacha20": ("crypto_stream_xchacha20_xor_ic", 64),
}
#: primitive -> function prefix (``_encrypt`` / ``_decrypt`` appended).
_AEADS: dict[str, str] = {
    "chacha20-poly1305": "crypto_aead_chacha20poly1305",
    "chacha20-ietf-poly1305": "crypto_aead_chacha20poly1305_ietf",
    "xchacha20-ietf-poly1305": "crypto_aead_xchacha20poly1305_ietf",
    "aes-256-gcm": "crypto_aead_aes256gcm",
}
_NOT_IN_SODIUM = {
    "aes-128-gcm": "libsodium's AES-GCM is AES-256-GCM only",
    "aes-192-gcm": "libsodium's AES-GCM is AES-256-GCM only",
    "table": "the table method is a byte substitution, not a cipher of any library",
}
_NO_BLOCK_MODES = (
    "libsodium has no block-cipher modes (CFB/OFB/CTR/OCB) and no legacy ciphers; its "
    "stream ciphers are Salsa20 and the ChaCha20 variants"
)

_Func = Callable[..., Any]


def _bind_stream(lib: ctypes.CDLL, name: str, counter_bits: int) -> _Func:
    func: Any = getattr(lib, name)
    ic = ctypes.c_uint64 if counter_bits == 64 else ctypes.c_uint32
    # (c, m, mlen, n, ic, k)
    func.argtypes = (ctypes.c_void_p, ctypes.c_char_p, ctypes.c_ulonglong, ctypes.c_char_p, ic,
                     ctypes.c_char_p)
    func.restype = ctypes.c_int
    return func  # type: ignore[no-any-return]


def _bind_aead(lib: ctypes.CDLL, prefix: str) -> tuple[_Func, _Func]:
    ull_p = ctypes.POINTER(ctypes.c_ulonglong)
    encrypt: Any = getattr(lib, prefix + "_encrypt")
    # (c, *clen, m, mlen, ad, adlen, nsec, npub, k)
    encrypt.argtypes = (ctypes.c_void_p, ull_p, ctypes.c_char_p, ctypes.c_ulonglong,
                        ctypes.c_char_p, ctypes.c_ulonglong, ctypes.c_void_p, ctypes.c_char_p,
                        ctypes.c_char_p)
    encrypt.restype = ctypes.c_int
    decrypt: Any = getattr(lib, prefix + "_decrypt")
    # (m, *mlen, nsec, c, clen, ad, adlen, npub, k)
    decrypt.argtypes = (ctypes.c_void_p, ull_p, ctypes.c_void_p, ctypes.c_char_p,
                        ctypes.c_ulonglong, ctypes.c_char_p, ctypes.c_ulonglong, ctypes.c_char_p,
                        ctypes.c_char_p)
    decrypt.restype = ctypes.c_int
    return encrypt, decrypt


class SodiumStream:
    """One libsodium stream with Shadowsocks' byte counter (either direction: XOR)."""

    __slots__ = ("__weakref__", "_counter", "_key", "_limit", "_nonce", "_what", "_xor")

    def __init__(self, xor: _Func, what: str, key: bytes, nonce: bytes, counter_bits: int) -> None:
        self._xor = xor
        self._what = what
        self._key = key
        self._nonce = nonce
        self._counter = 0
        #: Bytes of keystream one nonce gives: 2^bits blocks of 64 bytes.
        self._limit = BLOCK_SIZE << counter_bits

    def update(self, data: Buffer) -> bytes:
        """XOR ``data`` with the keystream from the current byte position."""
        size = len(data)
        if not size:
            return b""
        if self._counter + size > self._limit:
            raise NativeFailure(
                f"{self._what}: keystream exhausted ({self._limit} bytes under one nonce); "
                "libsodium would abort the process"
            )
        pad, ic = self._counter % BLOCK_SIZE, self._counter // BLOCK_SIZE
        message = bytes(pad) + bytes(data) if pad else bytes(data)
        out, address = output_buffer(len(message))
        if self._xor(address, message, len(message), self._nonce, ic, self._key) != 0:
            raise NativeFailure(f"{self._what}: crypto_stream xor failed")
        self._counter += size
        return take(out, pad, len(message))


class SodiumAEAD(AEADSizes):
    """A libsodium AEAD (combined mode: ``ciphertext || tag``) keyed once."""

    __slots__ = ("__weakref__", "_decrypt", "_encrypt", "_key", "_key_size", "_nonce_size",
                 "_what")

    def __init__(self, functions: tuple[_Func, _Func], what: str, key: bytes,
                 nonce_size: int) -> None:
        self._encrypt, self._decrypt = functions
        self._what = what
        self._key = key
        self._key_size = len(key)
        self._nonce_size = nonce_size

    def seal(self, nonce: Buffer, plaintext: Buffer, aad: Buffer = b"") -> bytes:
        """Return ``ciphertext || tag``."""
        npub = check_nonce(self._what, nonce, self._nonce_size)
        message, ad = bytes(plaintext), bytes(aad)
        out, address = output_buffer(len(message) + TAG_SIZE)
        written = ctypes.c_ulonglong()
        if self._encrypt(address, ctypes.byref(written), message, len(message), ad, len(ad), None,
                         npub, self._key) != 0:
            raise NativeFailure(f"{self._what}: encryption failed")
        return take(out, 0, written.value)

    def open(self, nonce: Buffer, data: Buffer, aad: Buffer = b"") -> bytes:
        """Verify and decrypt ``ciphertext || tag``; :class:`InvalidTag` on any mismatch."""
        npub = check_nonce(self._what, nonce, self._nonce_size)
        split_tag(self._what, data)  # size check only
        sealed, ad = bytes(data), bytes(aad)
        out, address = output_buffer(len(sealed) - TAG_SIZE)
        written = ctypes.c_ulonglong()
        status = self._decrypt(address, ctypes.byref(written), None, sealed, len(sealed), ad,
                               len(ad), npub, self._key)
        if status != 0:
            raise InvalidTag(f"{self._what}: authentication failed")
        return take(out, 0, written.value)


class SodiumBackend(NativeBackend):
    """libsodium through ctypes; see the module docstring."""

    name = "sodium"

    def __init__(self) -> None:
        super().__init__()
        self._lib: ctypes.CDLL | None = None
        self._path = ""
        # Bound once at load: primitive -> xor function / (encrypt, decrypt).
        self._stream_functions: dict[str, _Func] = {}
        self._aead_functions: dict[str, tuple[_Func, _Func]] = {}
        self._version = ""
        self._aes_gcm_available = False

    def _load(self) -> str | None:
        loaded = load(LIBSODIUM)
        if loaded.library is None:
            return loaded.reason
        lib = loaded.library
        lib.sodium_init.restype = ctypes.c_int
        if lib.sodium_init() < 0:
            return f"{loaded.path}: sodium_init() failed"
        if hasattr(lib, "sodium_version_string"):
            lib.sodium_version_string.restype = ctypes.c_char_p
            self._version = lib.sodium_version_string().decode(errors="replace")
        if hasattr(lib, "crypto_aead_aes256gcm_is_available"):
            lib.crypto_aead_aes256gcm_is_available.restype = ctypes.c_int
            self._aes_gcm_available = bool(lib.crypto_aead_aes256gcm_is_available())
        for primitive, (function, bits) in _STREAMS.items():
            if hasattr(lib, function):
                self._stream_functions[primitive] = _bind_stream(lib, function, bits)
        for primitive, prefix in _AEADS.items():
            if hasattr(lib, prefix + "_encrypt") and hasattr(lib, prefix + "_decrypt"):
                self._aead_functions[primitive] = _bind_aead(lib, prefix)
        self._lib = lib
        self._path = loaded.path
        return None

    def _describe(self) -> str:
        version = self._version or "(unknown version)"
        return f"libsodium {version} ({self._path})"

    def _unsupported(self, m: Method, primitive: str) -> str | None:
        assert self._lib is not None
        if primitive in _NOT_IN_SODIUM:
            return _NOT_IN_SODIUM[primitive]
        if m.is_aead:
            prefix = _AEADS.get(primitive)
            if prefix is None:
                return _NO_BLOCK_MODES
            if primitive not in self._aead_functions:
                return f"this libsodium ({self._version}) has no {prefix}_encrypt"
            if primitive == "aes-256-gcm" and not self._aes_gcm_available:
                return ("CPU lacks AES-NI/PCLMUL (crypto_aead_aes256gcm_is_available() is 0), "
                        "so libsodium refuses AES-256-GCM")
            return None
        entry = _STREAMS.get(primitive)
        if entry is None:
            return _NO_BLOCK_MODES
        if primitive not in self._stream_functions:
            return f"this libsodium ({self._version}) has no {entry[0]}"
        return None

    def _new_stream(self, m: Method, primitive: str, key: bytes, iv: bytes,
                    decrypt: bool) -> Stream:
        bits = _STREAMS[primitive][1]
        xor = self._stream_functions[primitive]
        return SodiumStream(xor, f"sodium {m.name}", key, iv, bits)

    def _new_aead(self, m: Method, primitive: str, key: bytes) -> AEAD:
        functions = self._aead_functions[primitive]
        return SodiumAEAD(functions, f"sodium {m.name}", key, m.nonce_size)
