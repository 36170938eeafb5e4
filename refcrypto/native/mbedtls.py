"""mbed TLS (libmbedcrypto, 2.x) through ctypes: the generic cipher layer, as Python
shadowsocks' ``mbedtls.py`` and libev's ``stream.c``/``aead.c`` use it.

Streams: ``mbedtls_cipher_info_from_string`` (``AES-256-CFB128``, ``AES-128-CTR``,
``CAMELLIA-256-CFB128``, ``BLOWFISH-CFB64``, ``ARC4-128``, ...), then ``mbedtls_cipher_init``
/ ``_setup`` / ``_setkey`` / ``_set_iv`` / ``_reset`` once and ``mbedtls_cipher_update`` per
write (the cipher layer keeps the CFB/CTR/OFB position and the RC4 state across calls).

* ``rc4`` and ``rc4-md5`` (key = MD5(key || iv), as libev) run on ``ARC4-128``, whose key is
  fixed at 128 bits; ``bf-cfb`` on ``BLOWFISH-CFB64`` (variable key, 128 bits in Shadowsocks).
* ``chacha20-ietf`` runs on ``CHACHA20``, whose IV is the 12-byte nonce with block counter 0.
  ``chacha20`` (8-byte nonce, 64-bit counter) runs on it with the nonce 4 zero bytes || nonce:
  mbed TLS's 32-bit counter sits where the low half of the 64-bit counter does, so the
  streams are identical for the first 2^32 blocks (256 GiB) and differ only where mbed TLS
  would wrap instead of carrying.

AEADs: ``AES-*-GCM`` and ``CHACHA20-POLY1305`` with the one-shot
``mbedtls_cipher_auth_encrypt`` / ``mbedtls_cipher_auth_decrypt`` (iv = nonce, tag 16;
``MBEDTLS_ERR_CIPHER_AUTH_FAILED`` is :class:`InvalidTag`). mbed TLS 3.0 removed those two
functions; when they are missing the ``_ext`` variants (present since 2.25, output
``ciphertext || tag``) are used, as libev does for ``MBEDTLS_VERSION_NUMBER >= 0x03000000``.

``mbedtls_cipher_context_t`` is a struct the caller allocates. Its size is 96 bytes in the
mbed TLS 2.28 headers on x86_64 (``sizeof`` printed from ``<mbedtls/cipher.h>``); each object
allocates :data:`CONTEXT_BYTES`, far more than any configuration needs, calls
``mbedtls_cipher_init`` on it and ``mbedtls_cipher_free`` from a ``weakref.finalize``.
"""

from __future__ import annotations

import ctypes
import weakref
from collections.abc import Callable
from typing import Any

from Crypto.Hash import MD5

from ..errors import InvalidKeySize, InvalidTag
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
from ._loader import LIBMBEDCRYPTO, load

__all__ = ["CONTEXT_BYTES", "MbedTLSAEAD", "MbedTLSBackend", "MbedTLSStream"]

#: Bytes allocated per ``mbedtls_cipher_context_t`` (96 in mbed TLS 2.28 on x86_64).
CONTEXT_BYTES = 512
# <mbedtls/cipher.h>: mbedtls_operation_t
MBEDTLS_DECRYPT = 0
MBEDTLS_ENCRYPT = 1
#: <mbedtls/cipher.h> MBEDTLS_ERR_CIPHER_AUTH_FAILED (-0x6300).
MBEDTLS_ERR_CIPHER_AUTH_FAILED = -0x6300
#: <mbedtls/cipher.h> MBEDTLS_ERR_CIPHER_BAD_INPUT_DATA (-0x6100).
MBEDTLS_ERR_CIPHER_BAD_INPUT_DATA = -0x6100

#: Stream primitives -> (mbed TLS cipher name, IV transform: "iv", "md5", "djb").
_STREAMS: dict[str, tuple[str, str]] = {
    "bf-cfb": ("BLOWFISH-CFB64", "iv"),
    "rc4": ("ARC4-128", "iv"),
    "rc4-md5": ("ARC4-128", "md5"),
    "chacha20-ietf": ("CHACHA20", "iv"),
    "chacha20": ("CHACHA20", "djb"),
}
#: AEAD primitives -> mbed TLS cipher name.
_AEADS: dict[str, str] = {"chacha20-ietf-poly1305": "CHACHA20-POLY1305"}
for _bits in (128, 192, 256):
    _STREAMS[f"aes-{_bits}-cfb"] = (f"AES-{_bits}-CFB128", "iv")
    _STREAMS[f"aes-{_bits}-ofb"] = (f"AES-{_bits}-OFB", "iv")
    _STREAMS[f"aes-{_bits}-ctr"] = (f"AES-{_bits}-CTR", "iv")
    _STREAMS[f"camellia-{_bits}-cfb"] = (f"CAMELLIA-{_bits}-CFB128", "iv")
    _STREAMS[f"camellia-{_bits}-ctr"] = (f"CAMELLIA-{_bits}-CTR", "iv")
    _AEADS[f"aes-{_bits}-gcm"] = f"AES-{_bits}-GCM"
del _bits

_NO_CIPHER_LAYER = "mbed TLS's cipher layer has no {what}"
_REASONS = {
    "cfb8": "CFB-8 mode",
    "cfb1": "CFB-1 mode",
    "ocb": "OCB mode",
    "camellia-ofb": "Camellia-OFB (OFB exists for AES only)",
    "cast5-cfb": "CAST5",
    "des-cfb": "DES-CFB (DES is offered in ECB and CBC only)",
    "idea-cfb": "IDEA",
    "rc2-cfb": "RC2",
    "seed-cfb": "SEED",
    "salsa20": "Salsa20",
    "xchacha20": "XChaCha20",
    "chacha20-poly1305": "libsodium's original 8-byte-nonce ChaCha20-Poly1305 (only the "
    "RFC 8439 one)",
    "xchacha20-ietf-poly1305": "XChaCha20-Poly1305",
}

_Func = Callable[..., Any]


class _LibMbedCrypto:
    """The libmbedcrypto functions this backend calls, with their C signatures declared."""

    def __init__(self, lib: ctypes.CDLL) -> None:
        c_void_p, c_int, c_char_p, c_size_t = (ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p,
                                               ctypes.c_size_t)
        size_p = ctypes.POINTER(c_size_t)

        def bind(name: str, restype: Any, *argtypes: Any) -> _Func:
            func = getattr(lib, name)
            func.restype = restype
            func.argtypes = argtypes
            return func  # type: ignore[no-any-return]

        self.info_from_string = bind("mbedtls_cipher_info_from_string", c_void_p, c_char_p)
        self.init = bind("mbedtls_cipher_init", None, c_void_p)
        self.free = bind("mbedtls_cipher_free", None, c_void_p)
        self.setup = bind("mbedtls_cipher_setup", c_int, c_void_p, c_void_p)
        # (ctx, key, key_bitlen, operation)
        self.setkey = bind("mbedtls_cipher_setkey", c_int, c_void_p, c_char_p, c_int, c_int)
        self.set_iv = bind("mbedtls_cipher_set_iv", c_int, c_void_p, c_char_p, c_size_t)
        self.reset = bind("mbedtls_cipher_reset", c_int, c_void_p)
        # (ctx, input, ilen, output, *olen)
        self.update = bind("mbedtls_cipher_update", c_int, c_void_p, c_char_p, c_size_t,
                           c_void_p, size_p)
        # 2.x: (ctx, iv, iv_len, ad, ad_len, input, ilen, output, *olen, tag, tag_len)
        self.auth_encrypt: _Func | None = None
        self.auth_decrypt: _Func | None = None
        if hasattr(lib, "mbedtls_cipher_auth_encrypt"):
            self.auth_encrypt = bind("mbedtls_cipher_auth_encrypt", c_int, c_void_p, c_char_p,
                                     c_size_t, c_char_p, c_size_t, c_char_p, c_size_t, c_void_p,
                                     size_p, c_void_p, c_size_t)
            self.auth_decrypt = bind("mbedtls_cipher_auth_decrypt", c_int, c_void_p, c_char_p,
                                     c_size_t, c_char_p, c_size_t, c_char_p, c_size_t, c_void_p,
                                     size_p, c_char_p, c_size_t)
        # >= 2.25: (ctx, iv, iv_len, ad, ad_len, input, ilen, output, output_len, *olen, tag_len)
        self.auth_encrypt_ext: _Func | None = None
        self.auth_decrypt_ext: _Func | None = None
        if hasattr(lib, "mbedtls_cipher_auth_encrypt_ext"):
            self.auth_encrypt_ext = bind("mbedtls_cipher_auth_encrypt_ext", c_int, c_void_p,
                                         c_char_p, c_size_t, c_char_p, c_size_t, c_char_p,
                                         c_size_t, c_void_p, c_size_t, size_p, c_size_t)
            self.auth_decrypt_ext = bind("mbedtls_cipher_auth_decrypt_ext", c_int, c_void_p,
                                         c_char_p, c_size_t, c_char_p, c_size_t, c_char_p,
                                         c_size_t, c_void_p, c_size_t, size_p, c_size_t)
        self.version_string: _Func | None = None
        if hasattr(lib, "mbedtls_version_get_string"):
            self.version_string = bind("mbedtls_version_get_string", None, c_void_p)


_Context = ctypes.c_uint64 * (CONTEXT_BYTES // 8)  # 8-byte aligned storage


def _free_context(free: _Func, context: ctypes.Array[ctypes.c_uint64]) -> None:
    # Module-level, so the finalizer references the free function and the storage, not the
    # object that owned them.
    free(ctypes.addressof(context))


class _Owner:
    """Shared part of the objects that own one ``mbedtls_cipher_context_t``."""

    __slots__ = ("__weakref__", "_api", "_ctx", "_finalizer", "_storage", "_what")

    def __init__(self, api: _LibMbedCrypto, info: int, what: str, key: bytes,
                 operation: int) -> None:
        self._api = api
        self._what = what
        self._storage = _Context()
        self._ctx = ctypes.addressof(self._storage)
        api.init(self._ctx)
        self._finalizer = weakref.finalize(self, _free_context, api.free, self._storage)
        try:
            if api.setup(self._ctx, info) != 0:
                raise NativeFailure(f"{what}: mbedtls_cipher_setup failed")
            status = api.setkey(self._ctx, key, 8 * len(key), operation)
            if status == MBEDTLS_ERR_CIPHER_BAD_INPUT_DATA:
                raise InvalidKeySize(f"{what}: mbed TLS refuses a {len(key)}-byte key")
            if status != 0:
                raise NativeFailure(f"{what}: mbedtls_cipher_setkey returned {status}")
        except BaseException:
            self._finalizer()
            raise

    def _check_open(self) -> None:
        if not self._finalizer.alive:
            raise ValueError(f"{self._what}: closed")

    def close(self) -> None:
        """Free the native context now (also done automatically when the object dies)."""
        self._finalizer()


class MbedTLSStream(_Owner):
    """One direction of an mbed TLS stream cipher."""

    __slots__ = ()

    def __init__(self, api: _LibMbedCrypto, info: int, what: str, key: bytes, iv: bytes,
                 decrypt: bool) -> None:
        super().__init__(api, info, what, key, MBEDTLS_DECRYPT if decrypt else MBEDTLS_ENCRYPT)
        try:
            if iv and api.set_iv(self._ctx, iv, len(iv)) != 0:
                raise NativeFailure(f"{what}: mbedtls_cipher_set_iv failed")
            if api.reset(self._ctx) != 0:
                raise NativeFailure(f"{what}: mbedtls_cipher_reset failed")
        except BaseException:
            self._finalizer()
            raise

    def update(self, data: Buffer) -> bytes:
        """Encrypt or decrypt ``data``; returns exactly ``len(data)`` bytes."""
        self._check_open()
        raw = bytes(data)
        if not raw:
            return b""
        out, address = output_buffer(len(raw) + 32)
        written = ctypes.c_size_t()
        status = self._api.update(self._ctx, raw, len(raw), address, ctypes.byref(written))
        if status != 0 or written.value != len(raw):
            raise NativeFailure(f"{self._what}: mbedtls_cipher_update returned {status}, "
                                f"{written.value} bytes for {len(raw)}")
        return take(out, 0, written.value)


class MbedTLSAEAD(_Owner, AEADSizes):
    """An mbed TLS AEAD (GCM, ChaCha20-Poly1305) keyed once, one-shot per message."""

    __slots__ = ("_key_size", "_legacy_api", "_nonce_size")

    def __init__(self, api: _LibMbedCrypto, info: int, what: str, key: bytes, nonce_size: int,
                 legacy_api: bool) -> None:
        # GCM and ChaCha20-Poly1305 use the encryption key schedule in both directions.
        super().__init__(api, info, what, key, MBEDTLS_ENCRYPT)
        self._key_size = len(key)
        self._nonce_size = nonce_size
        self._legacy_api = legacy_api

    def seal(self, nonce: Buffer, plaintext: Buffer, aad: Buffer = b"") -> bytes:
        """Return ``ciphertext || tag``."""
        self._check_open()
        iv = check_nonce(self._what, nonce, self._nonce_size)
        message, ad = bytes(plaintext), bytes(aad)
        out, address = output_buffer(len(message) + TAG_SIZE + 16)
        written = ctypes.c_size_t()
        api = self._api
        if self._legacy_api:
            assert api.auth_encrypt is not None
            tag, tag_address = output_buffer(TAG_SIZE)
            status = api.auth_encrypt(self._ctx, iv, len(iv), ad, len(ad), message, len(message),
                                      address, ctypes.byref(written), tag_address, TAG_SIZE)
            result = take(out, 0, written.value) + bytes(tag)
        else:
            assert api.auth_encrypt_ext is not None
            status = api.auth_encrypt_ext(self._ctx, iv, len(iv), ad, len(ad), message,
                                          len(message), address, len(out),
                                          ctypes.byref(written), TAG_SIZE)
            result = take(out, 0, written.value)
        if status != 0:
            raise NativeFailure(f"{self._what}: authenticated encryption returned {status}")
        return result

    def open(self, nonce: Buffer, data: Buffer, aad: Buffer = b"") -> bytes:
        """Verify and decrypt ``ciphertext || tag``; :class:`InvalidTag` on any mismatch."""
        self._check_open()
        iv = check_nonce(self._what, nonce, self._nonce_size)
        ciphertext, tag = split_tag(self._what, data)
        ad = bytes(aad)
        out, address = output_buffer(len(ciphertext) + 16)
        written = ctypes.c_size_t()
        api = self._api
        if self._legacy_api:
            assert api.auth_decrypt is not None
            status = api.auth_decrypt(self._ctx, iv, len(iv), ad, len(ad), ciphertext,
                                      len(ciphertext), address, ctypes.byref(written), tag,
                                      TAG_SIZE)
        else:
            assert api.auth_decrypt_ext is not None
            sealed = ciphertext + tag
            status = api.auth_decrypt_ext(self._ctx, iv, len(iv), ad, len(ad), sealed,
                                          len(sealed), address, len(out),
                                          ctypes.byref(written), TAG_SIZE)
        if status == MBEDTLS_ERR_CIPHER_AUTH_FAILED:
            ctypes.memset(address, 0, len(out))  # mbed TLS already wipes it; be sure
            raise InvalidTag(f"{self._what}: authentication failed")
        if status != 0:
            raise NativeFailure(f"{self._what}: authenticated decryption returned {status}")
        return take(out, 0, written.value)


class MbedTLSBackend(NativeBackend):
    """mbed TLS 2.x libmbedcrypto through ctypes; see the module docstring.

    ``use_ext=True`` makes the AEADs use the ``_ext`` functions even where the 2.x ones exist
    (the tests run both paths).
    """

    name = "mbedtls"

    def __init__(self, *, use_ext: bool = False) -> None:
        super().__init__()
        self._api: _LibMbedCrypto | None = None
        self._path = ""
        self._use_ext = use_ext
        # mbed TLS cipher name -> mbedtls_cipher_info_t pointer (static data of the library).
        self._infos: dict[str, int] = {}

    def _load(self) -> str | None:
        loaded = load(LIBMBEDCRYPTO)
        if loaded.library is None:
            return loaded.reason
        try:
            self._api = _LibMbedCrypto(loaded.library)
        except AttributeError as exc:
            return f"{loaded.path} lacks an mbed TLS function this backend needs: {exc}"
        self._path = loaded.path
        return None

    def _describe(self) -> str:
        assert self._api is not None
        version = "(unknown version)"
        if self._api.version_string is not None:
            buffer, address = output_buffer(32)
            self._api.version_string(address)
            version = bytes(buffer).split(b"\0", 1)[0].decode(errors="replace")
        return f"mbed TLS {version} ({self._path})"

    def _info(self, cipher: str) -> int | None:
        assert self._api is not None
        if cipher not in self._infos:
            info = self._api.info_from_string(cipher.encode())
            if not info:
                return None
            self._infos[cipher] = int(info)
        return self._infos[cipher]

    def _legacy_api(self) -> bool:
        assert self._api is not None
        return self._api.auth_encrypt is not None and not self._use_ext

    def _unsupported(self, m: Method, primitive: str) -> str | None:
        assert self._api is not None
        if m.is_aead:
            cipher = _AEADS.get(primitive)
            if cipher is not None and not self._legacy_api() and self._api.auth_encrypt_ext is None:
                return f"{self._path} has neither mbedtls_cipher_auth_encrypt nor its _ext form"
        else:
            entry = _STREAMS.get(primitive)
            cipher = entry[0] if entry else None
        if cipher is None:
            return _NO_CIPHER_LAYER.format(what=self._reason_for(primitive))
        if self._info(cipher) is None:
            return f"{cipher} is not in {self._path} (not compiled into this mbed TLS)"
        return None

    @staticmethod
    def _reason_for(primitive: str) -> str:
        if primitive == "table":
            return "table method (a byte substitution, not a cipher of any library)"
        if primitive in _REASONS:
            return _REASONS[primitive]
        if primitive.startswith("camellia-") and primitive.endswith("-ofb"):
            return _REASONS["camellia-ofb"]
        return _REASONS.get(primitive.rsplit("-", 1)[-1], primitive)

    def _new_stream(self, m: Method, primitive: str, key: bytes, iv: bytes,
                    decrypt: bool) -> Stream:
        assert self._api is not None
        cipher, transform = _STREAMS[primitive]
        info = self._info(cipher)
        assert info is not None
        if transform == "md5":
            key, iv = MD5.new(key + iv).digest(), b""
        elif transform == "djb":
            iv = bytes(4) + iv  # 32-bit counter 0, then (zero high counter word || nonce)
        return MbedTLSStream(self._api, info, f"mbedtls {m.name}", key, iv, decrypt)

    def _new_aead(self, m: Method, primitive: str, key: bytes) -> AEAD:
        assert self._api is not None
        info = self._info(_AEADS[primitive])
        assert info is not None
        return MbedTLSAEAD(self._api, info, f"mbedtls {m.name}", key, m.nonce_size,
                           self._legacy_api())
