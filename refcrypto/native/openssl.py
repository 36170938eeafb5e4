"""OpenSSL libcrypto through ctypes: ``EVP_CIPHER_CTX`` streams and AEADs, as Python
shadowsocks drives them (its ``shadowsocks/crypto/openssl.py``).

Streams: one ``EVP_CIPHER_CTX`` per object, ``EVP_CipherInit_ex`` once, then one
``EVP_CipherUpdate`` per write; ``EVP_CipherFinal_ex`` is never called for a stream mode.
Ciphers are found by their OpenSSL names (``aes-256-cfb``, ``bf-cfb``, ``rc4``, ...).

* OpenSSL 3 keeps Blowfish, CAST5, DES, IDEA, RC2, RC4 and SEED in the ``legacy`` provider.
  This backend creates its *own* library context (``OSSL_LIB_CTX_new``) and loads both the
  ``default`` and the ``legacy`` provider into it, so it neither depends on nor changes the
  process-wide configuration (``openssl.cnf``, other users of libcrypto in the process).
  With OpenSSL 1.1 (no library contexts) ciphers come from ``EVP_get_cipherbyname``.
* Debian and Ubuntu build OpenSSL with ``no-idea``: ``idea-cfb`` is then *unsupported*, with
  that reason, not failed.
* ``rc2-cfb``: the effective key bits are set to 128 (``EVP_CTRL_SET_RC2_KEY_BITS``), which
  is what OpenSSL's ``rc2-cfb`` gives a 16-byte key by default; 8-byte keys (the published
  vectors) get 128 effective bits too.
* ``rc4-md5`` is OpenSSL's ``rc4`` keyed with MD5(key || iv) (MD5 from pycryptodome, not
  ``hashlib``, which would load another libcrypto).
* ``chacha20``/``chacha20-ietf``: OpenSSL's ``chacha20`` takes a 16-byte IV that is the last
  four words of the ChaCha state, the first being a 32-bit little-endian block counter whose
  overflow carries into the second (``chacha_cipher`` in OpenSSL). So the original layout
  (64-bit counter, 8-byte nonce) is IV = 8 zero bytes || nonce, exactly; the IETF layout
  (32-bit counter, 12-byte nonce) is IV = 4 zero bytes || nonce, identical to RFC 8439 for the
  2^32 blocks (256 GiB) the IETF counter allows.

AEADs (aes-*-gcm, aes-*-ocb, chacha20-ietf-poly1305 via ``chacha20-poly1305``): one context per
object; each ``seal``/``open`` re-initialises it with the nonce (the IV length is set to the
method's nonce size with ``EVP_CTRL_AEAD_SET_IVLEN``), and with the key again whenever the
direction changes (OCB decryption needs the inverse key schedule), feeds the associated data
and the data, and calls Final; the tag is read with ``EVP_CTRL_AEAD_GET_TAG`` and set before
decryption with ``EVP_CTRL_AEAD_SET_TAG``, and a failing Final is :class:`InvalidTag`.
Salsa20, XChaCha20, libsodium's original ChaCha20-Poly1305 and XChaCha20-Poly1305 are not in
OpenSSL and are reported unsupported.

The OpenSSL error queue is cleared after every failing call, so a refused cipher or a bad
tag leaves nothing behind for other users of libcrypto in the process.
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
from ._loader import LIBCRYPTO, load

__all__ = ["OpenSSLAEAD", "OpenSSLBackend", "OpenSSLStream"]

# <openssl/evp.h> control codes (same values in OpenSSL 1.1 and 3).
EVP_CTRL_SET_RC2_KEY_BITS = 0x3
EVP_CTRL_AEAD_SET_IVLEN = 0x9
EVP_CTRL_AEAD_GET_TAG = 0x10
EVP_CTRL_AEAD_SET_TAG = 0x11
#: ``EVP_CipherInit_ex``'s "keep the current direction" value.
_KEEP_DIRECTION = -1
#: RC2 effective key bits of OpenSSL's ``rc2-cfb`` (RFC 2268; docs/vector-notes.md).
RC2_EFFECTIVE_BITS = 128
#: ``EVP_CipherUpdate`` takes an ``int`` length; larger writes are fed in pieces this big.
_MAX_UPDATE = 1 << 30

#: Stream primitives and how OpenSSL runs them: primitive -> (EVP name, IV transform).
#: IV transforms: "iv" as is, "md5" (rc4-md5: no IV, key = MD5(key || iv)), "djb" (8 zero
#: bytes || nonce), "ietf" (4 zero bytes || nonce).
_STREAMS: dict[str, tuple[str, str]] = {}
for _bits in (128, 192, 256):
    for _mode in ("cfb", "ofb", "ctr", "cfb8", "cfb1"):
        _STREAMS[f"aes-{_bits}-{_mode}"] = (f"aes-{_bits}-{_mode}", "iv")
        _STREAMS[f"camellia-{_bits}-{_mode}"] = (f"camellia-{_bits}-{_mode}", "iv")
for _name in ("bf-cfb", "cast5-cfb", "des-cfb", "idea-cfb", "rc2-cfb", "seed-cfb", "rc4"):
    _STREAMS[_name] = (_name, "iv")
_STREAMS["rc4-md5"] = ("rc4", "md5")
_STREAMS["chacha20"] = ("chacha20", "djb")
_STREAMS["chacha20-ietf"] = ("chacha20", "ietf")

#: AEAD primitives -> EVP name.
_AEADS: dict[str, str] = {"chacha20-ietf-poly1305": "chacha20-poly1305"}
for _bits in (128, 192, 256):
    _AEADS[f"aes-{_bits}-gcm"] = f"aes-{_bits}-gcm"
    _AEADS[f"aes-{_bits}-ocb"] = f"aes-{_bits}-ocb"
del _bits, _mode, _name

#: Ciphers OpenSSL 3 keeps in the legacy provider.
_LEGACY = frozenset({"bf-cfb", "cast5-cfb", "des-cfb", "idea-cfb", "rc2-cfb", "seed-cfb", "rc4"})

_NOT_IN_OPENSSL = {
    "salsa20": "OpenSSL has no Salsa20",
    "xchacha20": "OpenSSL has no XChaCha20 (no HChaCha20 subkey derivation)",
    "chacha20-poly1305": "OpenSSL has only the RFC 8439 ChaCha20-Poly1305 (12-byte nonce), "
    "not libsodium's original 8-byte-nonce construction, whose MAC input differs",
    "xchacha20-ietf-poly1305": "OpenSSL has no XChaCha20-Poly1305",
    "table": "the table method is a byte substitution, not a cipher of any library",
}

_Func = Callable[..., Any]


class _LibCrypto:
    """The libcrypto functions this backend calls, with their C signatures declared."""

    def __init__(self, lib: ctypes.CDLL) -> None:
        c_void_p, c_int, c_char_p = ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p

        def bind(name: str, restype: Any, *argtypes: Any) -> _Func:
            func = getattr(lib, name)
            func.restype = restype
            func.argtypes = argtypes
            return func  # type: ignore[no-any-return]

        def first(names: tuple[str, ...], restype: Any, *argtypes: Any) -> _Func:
            for name in names:
                if hasattr(lib, name):
                    return bind(name, restype, *argtypes)
            raise AttributeError(" / ".join(names))

        self.ctx_new = bind("EVP_CIPHER_CTX_new", c_void_p)
        self.ctx_free = bind("EVP_CIPHER_CTX_free", None, c_void_p)
        # (ctx, cipher, engine, key, iv, enc)
        self.init = bind("EVP_CipherInit_ex", c_int, c_void_p, c_void_p, c_void_p, c_char_p,
                         c_char_p, c_int)
        # (ctx, out, *outl, in, inl)
        self.update = bind("EVP_CipherUpdate", c_int, c_void_p, c_void_p,
                           ctypes.POINTER(c_int), c_char_p, c_int)
        self.final = bind("EVP_CipherFinal_ex", c_int, c_void_p, c_void_p, ctypes.POINTER(c_int))
        self.ctrl = bind("EVP_CIPHER_CTX_ctrl", c_int, c_void_p, c_int, c_int, c_void_p)
        self.set_key_length = bind("EVP_CIPHER_CTX_set_key_length", c_int, c_void_p, c_int)
        # OpenSSL 3 renamed the getters (the old names are macros there).
        self.key_length = first(("EVP_CIPHER_get_key_length", "EVP_CIPHER_key_length"),
                                c_int, c_void_p)
        self.iv_length = first(("EVP_CIPHER_get_iv_length", "EVP_CIPHER_iv_length"),
                               c_int, c_void_p)
        self.clear_errors = bind("ERR_clear_error", None)
        self.version = first(("OpenSSL_version", "SSLeay_version"), c_char_p, c_int)
        # OpenSSL 3: a private library context with explicitly loaded providers.
        self.has_libctx = hasattr(lib, "OSSL_LIB_CTX_new")
        if self.has_libctx:
            self.libctx_new = bind("OSSL_LIB_CTX_new", c_void_p)
            self.provider_load = bind("OSSL_PROVIDER_load", c_void_p, c_void_p, c_char_p)
            self.fetch = bind("EVP_CIPHER_fetch", c_void_p, c_void_p, c_char_p, c_char_p)
        else:
            self.get_cipherbyname = bind("EVP_get_cipherbyname", c_void_p, c_char_p)


def _new_context(api: _LibCrypto) -> int:
    ctx = api.ctx_new()
    if not ctx:
        raise NativeFailure("EVP_CIPHER_CTX_new failed (out of memory?)")
    return int(ctx)


class OpenSSLStream:
    """One direction of an OpenSSL stream cipher; owns one ``EVP_CIPHER_CTX``."""

    __slots__ = ("__weakref__", "_api", "_ctx", "_finalizer", "_what")

    def __init__(self, api: _LibCrypto, cipher: int, what: str, key: bytes, iv: bytes | None,
                 decrypt: bool, *, rc2: bool = False) -> None:
        self._api = api
        self._what = what
        self._ctx = _new_context(api)
        # The finalizer holds the free function and the pointer, never self.
        self._finalizer = weakref.finalize(self, api.ctx_free, self._ctx)
        enc = 0 if decrypt else 1
        try:
            if not api.init(self._ctx, cipher, None, None, None, enc):
                raise NativeFailure(f"{what}: EVP_CipherInit_ex failed")
            if len(key) != api.key_length(cipher) and not api.set_key_length(self._ctx, len(key)):
                raise InvalidKeySize(f"{what}: OpenSSL refuses a {len(key)}-byte key")
            if rc2 and not api.ctrl(self._ctx, EVP_CTRL_SET_RC2_KEY_BITS, RC2_EFFECTIVE_BITS,
                                    None):
                raise NativeFailure(f"{what}: EVP_CTRL_SET_RC2_KEY_BITS failed")
            if not api.init(self._ctx, None, None, key, iv, enc):
                raise NativeFailure(f"{what}: EVP_CipherInit_ex (key, iv) failed")
        except BaseException:
            api.clear_errors()
            self._finalizer()
            raise

    def update(self, data: Buffer) -> bytes:
        """Encrypt or decrypt ``data``; returns exactly ``len(data)`` bytes."""
        if not self._finalizer.alive:
            raise ValueError(f"{self._what}: stream is closed")
        raw = bytes(data)
        if not raw:
            return b""
        out, base = output_buffer(len(raw) + 32)
        written = ctypes.c_int()
        total = 0
        for start in range(0, len(raw), _MAX_UPDATE):
            piece = raw[start:start + _MAX_UPDATE]
            if not self._api.update(self._ctx, base + total, ctypes.byref(written), piece,
                                    len(piece)):
                self._api.clear_errors()
                raise NativeFailure(f"{self._what}: EVP_CipherUpdate failed")
            total += written.value
        if total != len(raw):
            raise NativeFailure(f"{self._what}: EVP_CipherUpdate returned {total} bytes "
                                f"for {len(raw)}")
        return take(out, 0, total)

    def close(self) -> None:
        """Free the native context now (also done automatically when the object dies)."""
        self._finalizer()


class OpenSSLAEAD(AEADSizes):
    """An OpenSSL AEAD (GCM, OCB, ChaCha20-Poly1305) keyed once; owns one ``EVP_CIPHER_CTX``."""

    __slots__ = ("__weakref__", "_api", "_ctx", "_direction", "_finalizer", "_key",
                 "_key_size", "_nonce_size", "_what")

    def __init__(self, api: _LibCrypto, cipher: int, what: str, key: bytes,
                 nonce_size: int) -> None:
        self._api = api
        self._what = what
        self._key = key
        self._key_size = len(key)
        self._nonce_size = nonce_size
        self._direction = 1
        self._ctx = _new_context(api)
        self._finalizer = weakref.finalize(self, api.ctx_free, self._ctx)
        try:
            if not api.init(self._ctx, cipher, None, None, None, 1):
                raise NativeFailure(f"{what}: EVP_CipherInit_ex failed")
            if not api.ctrl(self._ctx, EVP_CTRL_AEAD_SET_IVLEN, nonce_size, None):
                raise NativeFailure(f"{what}: EVP_CTRL_AEAD_SET_IVLEN {nonce_size} failed")
            if not api.init(self._ctx, None, None, key, None, _KEEP_DIRECTION):
                raise NativeFailure(f"{what}: EVP_CipherInit_ex (key) failed")
        except BaseException:
            api.clear_errors()
            self._finalizer()
            raise

    def _start(self, nonce: Buffer, aad: Buffer, enc: int) -> None:
        if not self._finalizer.alive:
            raise ValueError(f"{self._what}: AEAD is closed")
        iv = check_nonce(self._what, nonce, self._nonce_size)
        api, ctx = self._api, self._ctx
        # A change of direction re-keys: OCB decrypts full blocks with the inverse cipher,
        # whose key schedule OpenSSL builds only when a key is given for decryption.
        key = self._key if enc != self._direction else None
        if not api.init(ctx, None, None, key, iv, enc):
            api.clear_errors()
            raise NativeFailure(f"{self._what}: EVP_CipherInit_ex (nonce) failed")
        self._direction = enc
        if aad:
            written = ctypes.c_int()
            if not api.update(ctx, None, ctypes.byref(written), bytes(aad), len(aad)):
                api.clear_errors()
                raise NativeFailure(f"{self._what}: EVP_CipherUpdate (aad) failed")

    def _run(self, data: bytes) -> tuple[bytearray, int, int, bool]:
        """Update with ``data`` then Final; returns (buffer, its address, output length,
        Final succeeded)."""
        api, ctx = self._api, self._ctx
        # OCB holds back a partial block until Final, so Final may write up to a block.
        out, base = output_buffer(len(data) + 32)
        written = ctypes.c_int()
        total = 0
        if data:
            if len(data) > _MAX_UPDATE:
                raise NativeFailure(f"{self._what}: message longer than {_MAX_UPDATE} bytes")
            if not api.update(ctx, base, ctypes.byref(written), data, len(data)):
                api.clear_errors()
                raise NativeFailure(f"{self._what}: EVP_CipherUpdate failed")
            total = written.value
        ok = bool(api.final(ctx, base + total, ctypes.byref(written)))
        if ok:
            total += written.value
        else:
            api.clear_errors()
        return out, base, total, ok

    def seal(self, nonce: Buffer, plaintext: Buffer, aad: Buffer = b"") -> bytes:
        """Return ``ciphertext || tag``."""
        self._start(nonce, aad, 1)
        out, _, total, ok = self._run(bytes(plaintext))
        if not ok:
            raise NativeFailure(f"{self._what}: EVP_CipherFinal_ex failed while sealing")
        tag, tag_address = output_buffer(TAG_SIZE)
        if not self._api.ctrl(self._ctx, EVP_CTRL_AEAD_GET_TAG, TAG_SIZE, tag_address):
            self._api.clear_errors()
            raise NativeFailure(f"{self._what}: EVP_CTRL_AEAD_GET_TAG failed")
        return take(out, 0, total) + bytes(tag)

    def open(self, nonce: Buffer, data: Buffer, aad: Buffer = b"") -> bytes:
        """Verify and decrypt ``ciphertext || tag``; :class:`InvalidTag` on any mismatch."""
        ciphertext, tag = split_tag(self._what, data)
        self._start(nonce, aad, 0)
        # The ctrl takes a non-const pointer; give it a private copy of the tag.
        tag_buffer, tag_address = output_buffer(TAG_SIZE)
        tag_buffer[:] = tag
        if not self._api.ctrl(self._ctx, EVP_CTRL_AEAD_SET_TAG, TAG_SIZE, tag_address):
            self._api.clear_errors()
            raise NativeFailure(f"{self._what}: EVP_CTRL_AEAD_SET_TAG failed")
        out, base, total, ok = self._run(ciphertext)
        if not ok:
            ctypes.memset(base, 0, len(out))  # never let unverified plaintext linger
            raise InvalidTag(f"{self._what}: authentication failed")
        return take(out, 0, total)

    def close(self) -> None:
        """Free the native context now (also done automatically when the object dies)."""
        self._finalizer()


class OpenSSLBackend(NativeBackend):
    """OpenSSL libcrypto (1.1 or 3) through ctypes; see the module docstring."""

    name = "openssl"

    def __init__(self) -> None:
        super().__init__()
        self._api: _LibCrypto | None = None
        self._path = ""
        self._libctx: int | None = None
        self._legacy_error = ""
        # EVP name -> (EVP_CIPHER pointer, None) or (None, reason); one entry per name in the
        # tables above, kept for the life of the backend (the EVP_CIPHERs are never freed).
        self._ciphers: dict[str, tuple[int | None, str | None]] = {}

    def _load(self) -> str | None:
        loaded = load(LIBCRYPTO)
        if loaded.library is None:
            return loaded.reason
        try:
            api = _LibCrypto(loaded.library)
        except AttributeError as exc:
            return f"{loaded.path} lacks a libcrypto function this backend needs: {exc}"
        if api.has_libctx:
            libctx = api.libctx_new()
            if not libctx:
                return f"{loaded.path}: OSSL_LIB_CTX_new failed"
            if not api.provider_load(libctx, b"default"):
                api.clear_errors()
                return f"{loaded.path}: the OpenSSL default provider did not load"
            if not api.provider_load(libctx, b"legacy"):
                api.clear_errors()
                self._legacy_error = (
                    "needs OpenSSL's legacy provider, which did not load "
                    "(is the ossl-modules/legacy module installed?)"
                )
            self._libctx = int(libctx)
        self._api = api
        self._path = loaded.path
        return None

    def _describe(self) -> str:
        assert self._api is not None
        version = self._api.version(0) or b"OpenSSL (unknown version)"
        return f"{version.decode(errors='replace')} ({self._path})"

    def _cipher(self, evp_name: str, primitive: str) -> tuple[int | None, str | None]:
        """Fetch and test-initialise an EVP cipher once; cache the outcome."""
        cached = self._ciphers.get(evp_name)
        if cached is not None:
            return cached
        api = self._api
        assert api is not None
        if api.has_libctx:
            cipher = api.fetch(self._libctx, evp_name.encode(), None)
        else:
            cipher = api.get_cipherbyname(evp_name.encode())
        result: tuple[int | None, str | None]
        if not cipher:
            api.clear_errors()
            if primitive in _LEGACY and self._legacy_error:
                reason = f"{evp_name} {self._legacy_error}"
            elif evp_name == "idea-cfb":
                reason = (f"idea-cfb is not in {self._path} (Debian and Ubuntu build OpenSSL "
                          "with no-idea)")
            else:
                reason = f"{evp_name} is not in {self._path}"
            result = (None, reason)
        else:
            result = (int(cipher), self._trial(int(cipher), evp_name))
        self._ciphers[evp_name] = result
        return result

    def _trial(self, cipher: int, evp_name: str) -> str | None:
        """Can a context actually be initialised with this cipher? (A cipher can be found
        but refuse to initialise, e.g. without its provider.)"""
        api = self._api
        assert api is not None
        ctx = _new_context(api)
        try:
            key = bytes(api.key_length(cipher))
            iv = bytes(max(api.iv_length(cipher), 0)) or None
            if api.init(ctx, cipher, None, key, iv, 1):
                return None
            api.clear_errors()
            return f"{evp_name}: EVP_CipherInit_ex fails in {self._path}"
        finally:
            api.ctx_free(ctx)

    def _unsupported(self, m: Method, primitive: str) -> str | None:
        if primitive in _NOT_IN_OPENSSL:
            return _NOT_IN_OPENSSL[primitive]
        if m.is_aead:
            evp_name = _AEADS.get(primitive)
        else:
            entry = _STREAMS.get(primitive)
            evp_name = entry[0] if entry else None
        if evp_name is None:
            return f"no OpenSSL cipher is mapped to {primitive}"
        return self._cipher(evp_name, primitive)[1]

    def _new_stream(self, m: Method, primitive: str, key: bytes, iv: bytes,
                    decrypt: bool) -> Stream:
        assert self._api is not None
        evp_name, transform = _STREAMS[primitive]
        cipher = self._cipher(evp_name, primitive)[0]
        assert cipher is not None
        evp_iv: bytes | None = iv
        if transform == "md5":
            key, evp_iv = MD5.new(key + iv).digest(), None
        elif transform == "djb":
            evp_iv = bytes(8) + iv  # 64-bit block counter 0, then the 8-byte nonce
        elif transform == "ietf":
            evp_iv = bytes(4) + iv  # 32-bit block counter 0, then the 12-byte nonce
        return OpenSSLStream(self._api, cipher, f"openssl {m.name}", key, evp_iv or None,
                             decrypt, rc2=evp_name == "rc2-cfb")

    def _new_aead(self, m: Method, primitive: str, key: bytes) -> AEAD:
        assert self._api is not None
        cipher = self._cipher(_AEADS[primitive], primitive)[0]
        assert cipher is not None
        return OpenSSLAEAD(self._api, cipher, f"openssl {m.name}", key, m.nonce_size)
