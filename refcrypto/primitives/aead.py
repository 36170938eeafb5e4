"""AEAD primitives: AES-GCM, AES-OCB3, ChaCha20-Poly1305 (IETF, XChaCha and the original).

Every class is keyed once (``Cls(key)``) and then seals or opens one message per nonce:

* ``seal(nonce, plaintext, aad=b"") -> ciphertext || tag``
* ``open(nonce, data, aad=b"") -> plaintext``, raising :class:`~refcrypto.errors.InvalidTag`
  on any mismatch; no plaintext is returned unless the tag verified.

Shadowsocks always passes empty associated data; ``aad`` exists for the published vectors.

AES-GCM and the IETF/X ChaCha20-Poly1305 keep their per-key state (the AES key schedule and
GHASH table; the ChaCha20 key) and seal or open through :mod:`._fast`, which calls
pycryptodome's C code directly, when that module is enabled; otherwise, and for messages with
associated data, they make one pycryptodome AEAD object per message. Both give the same bytes
(``tests/test_fast_paths.py``).
"""

from __future__ import annotations

import struct

from Crypto.Cipher import AES, ChaCha20, ChaCha20_Poly1305
from Crypto.Hash import Poly1305

from ..errors import InvalidNonceSize, InvalidTag, TruncatedData
from . import _fast
from ._short import ChaChaPolyLength, GcmLength
from .base import Buffer, bytes_of, check_key_size, readonly_bytes

__all__ = [
    "AESGCM",
    "AESOCB",
    "TAG_SIZE",
    "ChaCha20Poly1305IETF",
    "ChaCha20Poly1305Original",
    "XChaCha20Poly1305",
]

#: Every Shadowsocks AEAD uses a 16-byte tag appended to the ciphertext.
TAG_SIZE = 16


class _AEADBase:
    """Shared size checks; subclasses define ``name``, ``key_sizes`` and ``nonce_size``."""

    __slots__ = ("__weakref__", "_key")

    name = "aead"
    key_sizes: tuple[int, ...] = (32,)
    nonce_size = 12
    tag_size = TAG_SIZE

    def __init__(self, key: Buffer) -> None:
        self._key = check_key_size(self.name, key, *self.key_sizes)

    @property
    def key_size(self) -> int:
        return len(self._key)

    def _check_nonce(self, nonce: Buffer) -> bytes:
        nonce = bytes_of(nonce, f"{self.name}: nonce")
        if len(nonce) != self.nonce_size:
            raise InvalidNonceSize(
                f"{self.name}: nonce must be {self.nonce_size} bytes, got {len(nonce)}"
            )
        return bytes(nonce)

    def _split(self, data: Buffer) -> tuple[bytes, bytes]:
        data = bytes_of(data, f"{self.name}: data")
        if len(data) < TAG_SIZE:
            raise TruncatedData(
                f"{self.name}: sealed data must be at least {TAG_SIZE} bytes (the tag), "
                f"got {len(data)}"
            )
        return data[:-TAG_SIZE], data[-TAG_SIZE:]


class _PycryptodomeAEAD(_AEADBase):
    """AEADs that pycryptodome provides as one object per message."""

    __slots__ = ()

    def _new(self, nonce: bytes):  # type: ignore[no-untyped-def]
        raise NotImplementedError

    def seal(self, nonce: Buffer, plaintext: Buffer, aad: Buffer = b"") -> bytes:
        cipher = self._new(self._check_nonce(nonce))
        plaintext = readonly_bytes(plaintext, f"{self.name}: plaintext")
        aad = bytes_of(aad, f"{self.name}: aad")
        if aad:
            cipher.update(aad)
        ciphertext, tag = cipher.encrypt_and_digest(plaintext)
        return ciphertext + tag  # type: ignore[no-any-return]

    def open(self, nonce: Buffer, data: Buffer, aad: Buffer = b"") -> bytes:
        cipher = self._new(self._check_nonce(nonce))
        ciphertext, tag = self._split(data)
        aad = bytes_of(aad, f"{self.name}: aad")
        if aad:
            cipher.update(aad)
        try:
            return cipher.decrypt_and_verify(ciphertext, tag)  # type: ignore[no-any-return]
        except ValueError:
            raise InvalidTag(f"{self.name}: authentication tag does not match") from None


class _FastAEAD(_PycryptodomeAEAD):
    """A pycryptodome AEAD with a per-key fast path (:mod:`._fast`) for messages without
    associated data; subclasses set ``_engine`` in ``__init__`` (``None``: no fast path).

    Without the fast path, two-byte messages (the SIP004 length chunk, half of all seals)
    go through :mod:`._short`, made on first use for this key; everything else through one
    pycryptodome object per message.
    """

    __slots__ = ("_engine", "_short")

    _engine: _fast.GcmKey | _fast.ChaChaPolyKey | None
    _short: GcmLength | ChaChaPolyLength | None
    #: Longest message the fast path takes.
    _fast_limit = 1 << 62

    def _new_short(self) -> GcmLength | ChaChaPolyLength:
        raise NotImplementedError

    def seal(self, nonce: Buffer, plaintext: Buffer, aad: Buffer = b"") -> bytes:
        engine = self._engine
        if type(plaintext) is not bytes:
            plaintext = readonly_bytes(plaintext, f"{self.name}: plaintext")
        if aad or type(nonce) is not bytes or len(nonce) != self.nonce_size:
            return super().seal(nonce, plaintext, aad)  # also raises the size errors
        if engine is not None and len(plaintext) <= self._fast_limit:
            return engine.seal(nonce, plaintext)
        if len(plaintext) == 2:
            short = self._short
            if short is None:
                short = self._short = self._new_short()
            return short.seal(nonce, plaintext)
        return super().seal(nonce, plaintext)

    def open(self, nonce: Buffer, data: Buffer, aad: Buffer = b"") -> bytes:
        engine = self._engine
        if type(data) is not bytes:
            # One immutable copy (none for a view of bytes), read for the tag and to decrypt.
            data = readonly_bytes(data, f"{self.name}: data")
        if aad or type(nonce) is not bytes or len(nonce) != self.nonce_size:
            return super().open(nonce, data, aad)  # also raises the size errors
        if engine is not None and TAG_SIZE <= len(data) <= self._fast_limit + TAG_SIZE:
            plaintext = engine.open(nonce, data)
        elif len(data) == 2 + TAG_SIZE:
            short = self._short
            if short is None:
                short = self._short = self._new_short()
            plaintext = short.open(nonce, data)
        else:
            return super().open(nonce, data)
        if plaintext is None:
            raise InvalidTag(f"{self.name}: authentication tag does not match")
        return plaintext


class AESGCM(_FastAEAD):
    """AES-GCM (SP 800-38D) with a 12-byte nonce and a 16-byte tag."""

    __slots__ = ()
    name = "aes-gcm"
    key_sizes = (16, 24, 32)
    _fast_limit = _fast.GCM_MAX_MESSAGE

    def __init__(self, key: Buffer) -> None:
        super().__init__(key)
        self._engine = _fast.GcmKey(self._key) if _fast.ENABLED else None
        self._short = None

    def _new_short(self) -> GcmLength:
        return GcmLength(self._key)

    def _new(self, nonce: bytes):  # type: ignore[no-untyped-def]
        return AES.new(self._key, AES.MODE_GCM, nonce=nonce, mac_len=TAG_SIZE)


class AESOCB(_PycryptodomeAEAD):
    """AES-OCB3 (RFC 7253) with a 12-byte nonce and a 16-byte tag."""

    __slots__ = ()
    name = "aes-ocb"
    key_sizes = (16, 24, 32)

    def _new(self, nonce: bytes):  # type: ignore[no-untyped-def]
        return AES.new(self._key, AES.MODE_OCB, nonce=nonce, mac_len=TAG_SIZE)


class _ChaCha20Poly1305(_FastAEAD):
    """ChaCha20-Poly1305 as pycryptodome builds it: RFC 8439 for a 12-byte nonce, XChaCha
    for a 24-byte one."""

    __slots__ = ()

    def __init__(self, key: Buffer) -> None:
        super().__init__(key)
        self._engine = _fast.ChaChaPolyKey(self._key) if _fast.ENABLED else None
        self._short = None

    def _new_short(self) -> ChaChaPolyLength:
        return ChaChaPolyLength(self._key)

    def _new(self, nonce: bytes):  # type: ignore[no-untyped-def]
        return ChaCha20_Poly1305.new(key=self._key, nonce=nonce)


class ChaCha20Poly1305IETF(_ChaCha20Poly1305):
    """AEAD_CHACHA20_POLY1305 (RFC 8439, 2.8) with a 12-byte nonce."""

    __slots__ = ()
    name = "chacha20-ietf-poly1305"


class XChaCha20Poly1305(_ChaCha20Poly1305):
    """AEAD_XChaCha20_Poly1305 (draft-irtf-cfrg-xchacha-03, 2.3) with a 24-byte nonce."""

    __slots__ = ()
    name = "xchacha20-ietf-poly1305"
    nonce_size = 24


class ChaCha20Poly1305Original(_AEADBase):
    """libsodium's original ``crypto_aead_chacha20poly1305`` (draft-agl-tls-chacha20poly1305-04).

    Differs from RFC 8439 in two places, which is why pycryptodome's 8-byte-nonce mode
    gives another tag (docs/vector-notes.md):

    * the nonce is 8 bytes and ChaCha20 runs with the original 64-bit block counter;
    * the Poly1305 input is ``AD || le64(len AD) || CT || le64(len CT)``, with no padding.

    As in both constructions, the one-time Poly1305 key is the first 32 bytes of keystream
    block 0, and the data is encrypted from block 1 on (draft-agl, section 5).
    """

    __slots__ = ()
    name = "chacha20-poly1305"
    nonce_size = 8

    def _mac(self, nonce: bytes, aad: bytes, ciphertext: bytes) -> Poly1305.Poly1305_MAC:
        # Poly1305.new(cipher=ChaCha20) derives (r, s) from keystream block 0 of (key, nonce).
        mac = Poly1305.new(key=self._key, cipher=ChaCha20, nonce=nonce)
        mac.update(aad)
        mac.update(struct.pack("<Q", len(aad)))
        mac.update(ciphertext)
        mac.update(struct.pack("<Q", len(ciphertext)))
        return mac

    def _keystream_cipher(self, nonce: bytes) -> ChaCha20.ChaCha20Cipher:
        cipher = ChaCha20.new(key=self._key, nonce=nonce)
        cipher.seek(64)  # block 0 went to the Poly1305 key
        return cipher

    def seal(self, nonce: Buffer, plaintext: Buffer, aad: Buffer = b"") -> bytes:
        nonce_bytes = self._check_nonce(nonce)
        plaintext = readonly_bytes(plaintext, f"{self.name}: plaintext")
        ciphertext = self._keystream_cipher(nonce_bytes).encrypt(plaintext)
        aad = bytes_of(aad, f"{self.name}: aad")
        return ciphertext + self._mac(nonce_bytes, aad, ciphertext).digest()

    def open(self, nonce: Buffer, data: Buffer, aad: Buffer = b"") -> bytes:
        nonce_bytes = self._check_nonce(nonce)
        ciphertext, tag = self._split(data)
        try:
            self._mac(nonce_bytes, bytes_of(aad, f"{self.name}: aad"), ciphertext).verify(tag)
        except ValueError:
            raise InvalidTag(f"{self.name}: authentication tag does not match") from None
        return self._keystream_cipher(nonce_bytes).decrypt(ciphertext)
