"""Stream factories for methods built from a block cipher and a generic mode.

These are the methods pycryptodome cannot carry on its own: Camellia, SEED and IDEA
(pure-Python block ciphers) and CFB-1 (no such mode in pycryptodome), all over the modes
of :mod:`refcrypto.primitives.modes`. Each factory has the stream-factory signature
``(key, iv, decrypt) -> Stream``.
"""

from __future__ import annotations

from .base import Stream
from .blocks import AES
from .camellia import Camellia
from .idea import IDEA
from .modes import CFB, CTR, OFB
from .seed import SEED

__all__ = [
    "aes_cfb1",
    "camellia_cfb1",
    "camellia_cfb8",
    "camellia_cfb128",
    "camellia_ctr",
    "camellia_ofb",
    "idea_cfb64",
    "seed_cfb128",
]


def aes_cfb1(key: bytes, iv: bytes, decrypt: bool) -> Stream:
    """AES-CFB1 (SP 800-38A 6.3, s = 1), bits most-significant first as OpenSSL."""
    return CFB(AES(key), iv, segment_bits=1, decrypt=decrypt)


def camellia_cfb128(key: bytes, iv: bytes, decrypt: bool) -> Stream:
    """Camellia-CFB128 (OpenSSL ``camellia-*-cfb``, mbed TLS ``CAMELLIA-*-CFB128``)."""
    return CFB(Camellia(key), iv, segment_bits=128, decrypt=decrypt)


def camellia_cfb8(key: bytes, iv: bytes, decrypt: bool) -> Stream:
    """Camellia-CFB8 (shadowsocks-rust extension)."""
    return CFB(Camellia(key), iv, segment_bits=8, decrypt=decrypt)


def camellia_cfb1(key: bytes, iv: bytes, decrypt: bool) -> Stream:
    """Camellia-CFB1 (shadowsocks-rust extension), bits most-significant first."""
    return CFB(Camellia(key), iv, segment_bits=1, decrypt=decrypt)


def camellia_ofb(key: bytes, iv: bytes, decrypt: bool) -> Stream:
    """Camellia-OFB (shadowsocks-rust extension); the same object serves both directions."""
    return OFB(Camellia(key), iv)


def camellia_ctr(key: bytes, iv: bytes, decrypt: bool) -> Stream:
    """Camellia-CTR, 128-bit big-endian counter from the IV (RFC 5528; rust extension)."""
    return CTR(Camellia(key), iv)


def seed_cfb128(key: bytes, iv: bytes, decrypt: bool) -> Stream:
    """SEED-CFB128 (OpenSSL ``seed-cfb``)."""
    return CFB(SEED(key), iv, segment_bits=128, decrypt=decrypt)


def idea_cfb64(key: bytes, iv: bytes, decrypt: bool) -> Stream:
    """IDEA-CFB64 (OpenSSL ``idea-cfb``)."""
    return CFB(IDEA(key), iv, segment_bits=64, decrypt=decrypt)
