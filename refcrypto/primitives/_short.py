"""The public-API path's shortcut for two-byte messages: the SIP004 length chunk.

Every Shadowsocks AEAD chunk starts with a sealed two-byte length. Through pycryptodome's
public API each of those is a new cipher object (``AES.new(key, MODE_GCM, nonce=...)``: a key
schedule, H = E_K(0^128) and a GHASH table; ``ChaCha20_Poly1305.new``: two ChaCha20 objects),
which is most of the cost of a short write. For a message of exactly two bytes the tag is so
small a computation that it is cheaper in Python, with the keystream still from one
pycryptodome call:

* AES-GCM (SP 800-38D, 7.1 and 6.4): with ``J0 = IV || 0^31 || 1``, ``C = P xor
  MSB_16(E_K(inc32(J0)))`` and ``T = E_K(J0) xor GHASH_H(C || 0^112, [0]_64 || [16]_64)``;
  GHASH over these two blocks is ``X1 * H^2 xor X2 * H`` in GF(2^128). X2 is the same for
  every length chunk, so ``X2 * H`` is computed once per key, and X1 has only 16 non-zero
  bits, so ``X1 * H^2`` is four table look-ups (one per nibble) into tables made once per key.
  The keystream blocks come from one AES-ECB object per key (one call per message).
* ChaCha20-Poly1305 (RFC 8439, 2.8; XChaCha20: draft-irtf-cfrg-xchacha-03, 2.3): one
  ChaCha20 call gives block 0 (the one-time key, 2.6) and the two keystream bytes of block 1;
  Poly1305 (2.5) over the two blocks ``C || 0^14`` and ``le64(0) || le64(2)`` is two
  multiplications modulo 2^130 - 5 on Python integers.

The per-key state is made on the first two-byte message. Used only where :mod:`._fast` is off
(``REFCRYPTO_FAST=0``, or pycryptodome without cffi); ``tests/test_fast_paths.py`` holds it to
pycryptodome's own AEADs for random keys, nonces and both byte values. Not constant-time in
the strict sense (Python integers), like every pure-Python part of refcrypto; the secret-
dependent table look-ups are on H-multiples of public ciphertext bits.
"""

from __future__ import annotations

from hmac import compare_digest

from Crypto.Cipher import AES, ChaCha20

__all__ = ["ChaChaPolyLength", "GcmLength"]

_R = 0xE1 << 120  # SP 800-38D 6.3: R = 11100001 || 0^120
_CLAMP = 0x0FFFFFFC0FFFFFFC0FFFFFFC0FFFFFFF  # RFC 8439 2.5.1
_P1305 = (1 << 130) - 5
_HIBIT = 1 << 128  # the 0x01 byte appended to each full 16-byte Poly1305 block
_MASK128 = (1 << 128) - 1
# Poly1305's second block for a 2-byte message: le64(len AAD = 0) || le64(len C = 2), plus
# the appended 0x01 byte.
_POLY_LENGTHS = (2 << 64) | _HIBIT
# GHASH's second block for a 2-byte message: [len(A)]_64 || [len(C)]_64 = 0 || 16 (bits).
_GCM_LENGTHS = 16
_COUNTER_1 = (1).to_bytes(4, "big")
_COUNTER_2 = (2).to_bytes(4, "big")


def _gf_mul(x: int, y: int) -> int:
    """X * Y in GF(2^128) with GCM's bit order (SP 800-38D, 6.3, Algorithm 1)."""
    z = 0
    v = y
    for i in range(127, -1, -1):
        if (x >> i) & 1:
            z ^= v
        v = (v >> 1) ^ _R if v & 1 else v >> 1
    return z


class GcmLength:
    """AES-GCM with a 12-byte IV, for two-byte messages only (see the module docstring)."""

    __slots__ = ("__weakref__", "_ecb", "_lengths_h", "_tables")

    def __init__(self, key: bytes) -> None:
        self._ecb = AES.new(key, AES.MODE_ECB)
        h = int.from_bytes(self._ecb.encrypt(bytes(16)), "big")
        self._lengths_h = _gf_mul(_GCM_LENGTHS, h)
        # V_i = H^2 * x^i for the 16 leading bit positions i (Algorithm 1's V sequence); the
        # product of H^2 and a block whose only set bits are its first 16 is the XOR of the V_i
        # of those bits. Grouped by nibble: table j, entry n = XOR of V_{4j+k} where bit k
        # (from the left) of n is set.
        v = _gf_mul(h, h)
        basis = []
        for _ in range(16):
            basis.append(v)
            v = (v >> 1) ^ _R if v & 1 else v >> 1
        tables = []
        for j in range(4):
            table = [0] * 16
            for n in range(1, 16):
                acc = 0
                for k in range(4):
                    if (n >> (3 - k)) & 1:
                        acc ^= basis[4 * j + k]
                table[n] = acc
            tables.append(tuple(table))
        self._tables: tuple[tuple[int, ...], ...] = tuple(tables)

    def _blocks(self, iv: bytes) -> bytes:
        # E_K(J0) || E_K(inc32(J0)) in one call
        return self._ecb.encrypt(iv + _COUNTER_1 + iv + _COUNTER_2)

    def _ghash(self, c0: int, c1: int) -> int:
        t = self._tables
        return (t[0][c0 >> 4] ^ t[1][c0 & 15] ^ t[2][c1 >> 4] ^ t[3][c1 & 15]
                ^ self._lengths_h)

    def seal(self, iv: bytes, plaintext: bytes | memoryview) -> bytes:
        """``C || T`` for a two-byte ``plaintext``."""
        blocks = self._blocks(iv)
        c0 = plaintext[0] ^ blocks[16]
        c1 = plaintext[1] ^ blocks[17]
        tag = int.from_bytes(blocks[:16], "big") ^ self._ghash(c0, c1)
        return bytes((c0, c1)) + tag.to_bytes(16, "big")

    def open(self, iv: bytes, data: bytes | memoryview) -> bytes | None:
        """The two plaintext bytes of ``C || T`` (18 bytes), or ``None`` if T is wrong."""
        blocks = self._blocks(iv)
        c0, c1 = data[0], data[1]
        tag = int.from_bytes(blocks[:16], "big") ^ self._ghash(c0, c1)
        if not compare_digest(tag.to_bytes(16, "big"), bytes(data[2:18])):
            return None
        return bytes((c0 ^ blocks[16], c1 ^ blocks[17]))


class ChaChaPolyLength:
    """ChaCha20-Poly1305 (12-byte nonce) or XChaCha20-Poly1305 (24-byte nonce), for
    two-byte messages only (see the module docstring)."""

    __slots__ = ("__weakref__", "_key")

    def __init__(self, key: bytes) -> None:
        self._key = key

    def seal(self, nonce: bytes, plaintext: bytes | memoryview) -> bytes:
        """``C || tag`` for a two-byte ``plaintext``."""
        stream = ChaCha20.new(key=self._key, nonce=nonce).encrypt(bytes(66))
        c0 = plaintext[0] ^ stream[64]
        c1 = plaintext[1] ^ stream[65]
        return bytes((c0, c1)) + _poly1305_2(stream, c0, c1)

    def open(self, nonce: bytes, data: bytes | memoryview) -> bytes | None:
        """The two plaintext bytes of ``C || tag`` (18 bytes), or ``None`` if the tag is
        wrong."""
        stream = ChaCha20.new(key=self._key, nonce=nonce).encrypt(bytes(66))
        c0, c1 = data[0], data[1]
        if not compare_digest(_poly1305_2(stream, c0, c1), bytes(data[2:18])):
            return None
        return bytes((c0 ^ stream[64], c1 ^ stream[65]))


def _poly1305_2(stream: bytes, c0: int, c1: int) -> bytes:
    """The Poly1305 tag (RFC 8439, 2.5) of ``C || 0^14 || le64(0) || le64(2)``, keyed with
    the first 32 bytes of ``stream`` (keystream block 0, 2.6)."""
    r = int.from_bytes(stream[:16], "little") & _CLAMP
    s = int.from_bytes(stream[16:32], "little")
    acc = ((c0 | (c1 << 8) | _HIBIT) * r) % _P1305
    acc = ((acc + _POLY_LENGTHS) * r) % _P1305
    return ((acc + s) & _MASK128).to_bytes(16, "little")
