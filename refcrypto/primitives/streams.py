"""Stream methods whose primitive pycryptodome has: thin adapters, one object per direction.

Each factory takes ``(key, iv, decrypt)`` and returns a :class:`~.base.Stream`. pycryptodome's
cipher objects already keep their state across calls (CFB partial segments, the ChaCha20
byte position), so ``update(a) + update(b) == update(a + b)`` holds without extra
buffering, which is the libsodium byte-counter behaviour Shadowsocks relies on
(docs/methods-and-wire-formats.md, "libsodium byte counter").

Where :mod:`._fast` is enabled, the AES modes, RC4, Salsa20 and ChaCha20 call pycryptodome's
C code directly (:class:`._fast.RawStream`), which saves its per-call Python wrapper; the
bytes are the same (``tests/test_fast_paths.py``).

Legacy: every stream method gives confidentiality only. The ciphertext is malleable, and
the 2020 redirect attack (shadowsocks-org issue #154) decrypts recorded streams of any of
them without the password. They exist here for compatibility and for testing others.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from Crypto.Cipher import AES, ARC2, ARC4, CAST, DES, Blowfish, ChaCha20, Salsa20
from Crypto.Hash import MD5

from . import _fast
from .base import Buffer, Stream, bytes_of

__all__ = [
    "RC2_EFFECTIVE_BITS",
    "PycryptodomeStream",
    "aes_cfb8",
    "aes_cfb128",
    "aes_ctr",
    "aes_ofb",
    "bf_cfb",
    "cast5_cfb",
    "chacha20",
    "des_cfb",
    "rc2_cfb",
    "rc4",
    "rc4_md5",
    "salsa20",
    "xchacha20",
]

#: OpenSSL's ``rc2-cfb`` uses 128 effective key bits whatever the key length; pycryptodome's
#: ARC2 would otherwise default to 1024 (docs/vector-notes.md).
RC2_EFFECTIVE_BITS = 128


class PycryptodomeStream:
    """A :class:`~.base.Stream` over one pycryptodome cipher object and one direction.

    ``_transform`` is the cipher object's own ``encrypt`` or ``decrypt`` method: a bound
    method of *another* object, so no reference cycle. ``update`` first makes the input
    ``bytes`` (:func:`~.base.bytes_of`): pycryptodome would count a memoryview of wider items
    in items and refuse it with an unrelated message.
    """

    __slots__ = ("__weakref__", "_cipher", "_transform")

    def __init__(self, cipher: Any, decrypt: bool) -> None:
        # Any: pycryptodome's cipher classes share no base type with encrypt/decrypt.
        self._cipher = cipher
        self._transform: Callable[[bytes], bytes] = cipher.decrypt if decrypt else cipher.encrypt

    def update(self, data: Buffer) -> bytes:
        if type(data) is not bytes:
            data = bytes_of(data, "stream cipher: data")
        return self._transform(data)


def _wrap(cipher: Any, decrypt: bool) -> Stream:
    return PycryptodomeStream(cipher, decrypt)


# SP 800-38A, 6.3: CFB with full-block (128-bit) segments; pycryptodome's segment_size is
# in bits and defaults to 8, so it is always given explicitly.
def aes_cfb128(key: bytes, iv: bytes, decrypt: bool) -> Stream:
    """AES-CFB128 (OpenSSL ``aes-*-cfb``, mbed TLS ``AES-*-CFB128``)."""
    if _fast.ENABLED:
        return _fast.aes_cfb(key, iv, 16, decrypt)
    return _wrap(AES.new(key, AES.MODE_CFB, iv=iv, segment_size=128), decrypt)


def aes_cfb8(key: bytes, iv: bytes, decrypt: bool) -> Stream:
    """AES-CFB8 (SP 800-38A, 6.3 with s = 8)."""
    if _fast.ENABLED:
        return _fast.aes_cfb(key, iv, 1, decrypt)
    return _wrap(AES.new(key, AES.MODE_CFB, iv=iv, segment_size=8), decrypt)


def aes_ofb(key: bytes, iv: bytes, decrypt: bool) -> Stream:
    """AES-OFB (SP 800-38A, 6.4)."""
    if _fast.ENABLED:
        return _fast.aes_ofb(key, iv)
    return _wrap(AES.new(key, AES.MODE_OFB, iv=iv), decrypt)


def aes_ctr(key: bytes, iv: bytes, decrypt: bool) -> Stream:
    """AES-CTR (SP 800-38A, 6.5): the IV is the whole initial counter block, incremented as
    one 128-bit big-endian integer, as OpenSSL's ``aes-*-ctr``."""
    if _fast.ENABLED:
        return _fast.aes_ctr(key, iv)
    return _wrap(AES.new(key, AES.MODE_CTR, nonce=b"", initial_value=iv), decrypt)


def bf_cfb(key: bytes, iv: bytes, decrypt: bool) -> Stream:
    """Blowfish-CFB64 (OpenSSL ``bf-cfb``)."""
    return _wrap(Blowfish.new(key, Blowfish.MODE_CFB, iv=iv, segment_size=64), decrypt)


def cast5_cfb(key: bytes, iv: bytes, decrypt: bool) -> Stream:
    """CAST5-CFB64 (RFC 2144 cipher; OpenSSL ``cast5-cfb``)."""
    return _wrap(CAST.new(key, CAST.MODE_CFB, iv=iv, segment_size=64), decrypt)


def des_cfb(key: bytes, iv: bytes, decrypt: bool) -> Stream:
    """DES-CFB64 (FIPS 81; OpenSSL ``des-cfb``)."""
    return _wrap(DES.new(key, DES.MODE_CFB, iv=iv, segment_size=64), decrypt)


def rc2_cfb(key: bytes, iv: bytes, decrypt: bool) -> Stream:
    """RC2-CFB64 with 128 effective key bits (RFC 2268; OpenSSL ``rc2-cfb``)."""
    cipher = ARC2.new(
        key, ARC2.MODE_CFB, iv=iv, segment_size=64, effective_keylen=RC2_EFFECTIVE_BITS
    )
    return _wrap(cipher, decrypt)


def rc4(key: bytes, iv: bytes, decrypt: bool) -> Stream:
    """RC4 keyed directly with the master key (no IV)."""
    return _fast.arc4(key) if _fast.ENABLED else _wrap(ARC4.new(key), decrypt)


def rc4_md5(key: bytes, iv: bytes, decrypt: bool) -> Stream:
    """RC4 keyed with MD5(key || IV) (shadowsocks ``rc4_md5.py``, libev ``stream.c``)."""
    if _fast.ENABLED:
        return _fast.arc4(_fast.md5(key + iv))
    return _wrap(ARC4.new(MD5.new(key + iv).digest()), decrypt)


def salsa20(key: bytes, iv: bytes, decrypt: bool) -> Stream:
    """Salsa20/20 with an 8-byte nonce and a 64-bit block counter from 0."""
    if _fast.ENABLED:
        return _fast.salsa20(key, iv)
    return _wrap(Salsa20.new(key=key, nonce=iv), decrypt)


def chacha20(key: bytes, iv: bytes, decrypt: bool) -> Stream:
    """ChaCha20 with the nonce length of the method: 8 bytes (original DJB layout,
    64-bit counter) or 12 bytes (RFC 8439 layout, 32-bit counter); counter from 0."""
    if _fast.ENABLED:
        return _fast.chacha20(key, iv)
    return _wrap(ChaCha20.new(key=key, nonce=iv), decrypt)


def xchacha20(key: bytes, iv: bytes, decrypt: bool) -> Stream:
    """XChaCha20 (draft-irtf-cfrg-xchacha-03, 2.3): HChaCha20 subkey, counter from 0.

    pycryptodome keeps a 32-bit block counter here (libsodium: 64-bit); the streams differ
    only past 256 GiB under one IV."""
    if _fast.ENABLED:
        return _fast.chacha20(key, iv)
    return _wrap(ChaCha20.new(key=key, nonce=iv), decrypt)
