"""IDEA, the International Data Encryption Algorithm (Lai and Massey), in pure Python.

Standard: X. Lai, *On the Design and Security of Block Ciphers*, ETH Series in Information
Processing vol. 1, Hartung-Gorre, Konstanz, 1992 (the definition RFC 3058 refers to for IDEA
in CMS); the same algorithm is written out in the *Handbook of Applied Cryptography*
(Menezes, van Oorschot, Vanstone, 1996), section 7.6: Algorithm 7.101 (encryption),
Algorithm 7.102 (key schedule), Note 7.103 (decryption subkeys) and Note 7.104 (the
multiplication).

What a caller needs:

* ``IDEA(key)`` takes a 16-byte key; anything else raises
  :class:`~refcrypto.errors.InvalidKeySize`.
* Blocks are 8 bytes, read as four big-endian 16-bit words ``X1 X2 X3 X4``.
  ``encrypt_block`` / ``decrypt_block`` take exactly one block; ``encrypt_blocks`` runs ECB
  over any whole number of blocks (the batch entry point used by CFB decryption). Wrong
  lengths raise :class:`~refcrypto.errors.RefcryptoError` naming the length.
* The object holds only its two subkey tuples and can be shared by any number of modes.

This pure-Python implementation is NOT constant-time: multiplication, ``%`` and the
``or`` that maps 0 to 2^16 all take data-dependent time in CPython. Do not use it where
timing side channels matter.

The maths (Lai 1992; HAC 7.6). IDEA mixes three group operations on 16-bit
words:

* ``a XOR b``;
* ``a [+] b`` -- addition modulo 2^16;
* ``a (.) b`` -- multiplication modulo the prime 2^16 + 1 = 65537, where the word 0 stands
  for 2^16 (so every word has a multiplicative inverse and ``(.)`` is a group operation).

Encryption is 8 identical rounds and an output transformation, driven by 52 subkeys
``Z_i^(r)`` (rounds r = 1..8 use ``Z_1..Z_6``; the output transformation r = 9 uses
``Z_1..Z_4``). Round r on the words ``X1..X4``::

    Y1 = X1 (.) Z1      Y2 = X2 [+] Z2      Y3 = X3 [+] Z3      Y4 = X4 (.) Z4
    MA structure, inputs f1 = Y1 XOR Y3, f2 = Y2 XOR Y4:
        t  = f1 (.) Z5
        g1 = (t [+] f2) (.) Z6
        g2 = t [+] g1
    X1' = Y1 XOR g1     X2' = Y3 XOR g1     X3' = Y2 XOR g2     X4' = Y4 XOR g2

(the two middle words change places). The output transformation undoes the last swap:
``C1 = X1 (.) Z1^(9)``, ``C2 = X3 [+] Z2^(9)``, ``C3 = X2 [+] Z3^(9)``,
``C4 = X4 (.) Z4^(9)``.

Key schedule: the 128-bit key, split into eight 16-bit words (most significant first), gives
the first eight subkeys in the order ``Z_1^(1) .. Z_6^(1), Z_1^(2), Z_2^(2)``; the key is then
rotated left by 25 bits and gives the next eight, and so on until 52 subkeys exist.

Decryption is the same computation with the decryption subkeys ``U_i^(r)`` (HAC Note 7.103):
for r = 1..9, ``U_1^(r)`` and ``U_4^(r)`` are the ``(.)``-inverses of ``Z_1^(10-r)`` and
``Z_4^(10-r)``; ``U_2^(r), U_3^(r)`` are the ``[+]``-inverses of ``Z_2^(10-r), Z_3^(10-r)``
for r = 1 and 9, and of ``Z_3^(10-r), Z_2^(10-r)`` (crossed) for r = 2..8; for r = 1..8,
``U_5^(r) = Z_5^(9-r)`` and ``U_6^(r) = Z_6^(9-r)`` unchanged (XORing in the MA outputs
undoes itself, since it leaves the MA inputs ``f1`` and ``f2`` as they were).
"""

from __future__ import annotations

import struct

from ..errors import RefcryptoError
from .base import Buffer, check_key_size

__all__ = ["BLOCK_SIZE", "IDEA", "KEY_SIZE", "decryption_subkeys", "encryption_subkeys"]

#: Block length in bytes (64 bits).
BLOCK_SIZE = 8
#: Key length in bytes (128 bits).
KEY_SIZE = 16

_NAME = "idea"
_ROUNDS = 8
_SUBKEYS = 6 * _ROUNDS + 4  # 52
_MASK16 = 0xFFFF
_TWO16 = 0x10000  # 2^16, the value the word 0 stands for in (.)
_MODULUS = 0x10001  # 2^16 + 1, prime

#: Subkey positions (index % 6 within a round) that enter a (.) multiplication:
#: Z1 and Z4 on the words, Z5 and Z6 in the MA structure. Z2 and Z3 are added.
_MULTIPLIED = (0, 3, 4, 5)


def _mul_inverse(z: int) -> int:
    """The (.)-inverse of the word ``z``: 0 stands for 2^16 = -1 (mod 65537), its own
    inverse, so 0 maps to 0 and 1 to 1."""
    return pow(z or _TWO16, -1, _MODULUS) & _MASK16


def _add_inverse(z: int) -> int:
    """The [+]-inverse of the word ``z``: ``-z mod 2^16``."""
    return -z & _MASK16


def encryption_subkeys(key: bytes) -> list[int]:
    """The 52 encryption subkeys ``Z_1^(1), ..., Z_6^(1), ..., Z_1^(9), ..., Z_4^(9)``
    (HAC Algorithm 7.102): 16-bit words of the key, re-read after each 25-bit left
    rotation of the 128-bit key."""
    k = int.from_bytes(key, "big")
    z: list[int] = []
    while True:
        for shift in range(112, -16, -16):  # eight words, most significant first
            z.append((k >> shift) & _MASK16)
            if len(z) == _SUBKEYS:
                return z
        k = ((k << 25) | (k >> 103)) & ((1 << 128) - 1)


def decryption_subkeys(z: list[int]) -> list[int]:
    """The 52 decryption subkeys ``U_i^(r)`` from the encryption subkeys (HAC Note 7.103;
    see the module docstring for the rule)."""
    u: list[int] = []
    for r in range(1, _ROUNDS + 2):
        e = 6 * (9 - r)  # index of Z_1^(10-r) in z
        if r in (1, _ROUNDS + 1):
            u2, u3 = _add_inverse(z[e + 1]), _add_inverse(z[e + 2])
        else:
            u2, u3 = _add_inverse(z[e + 2]), _add_inverse(z[e + 1])
        u += (_mul_inverse(z[e]), u2, u3, _mul_inverse(z[e + 3]))
        if r <= _ROUNDS:
            m = 6 * (8 - r)  # index of Z_1^(9-r) in z
            u += (z[m + 4], z[m + 5])
    return u


def _prepare(subkeys: list[int]) -> tuple[int, ...]:
    """The subkeys as the fast path consumes them: every multiplied subkey 0 is replaced by
    the 2^16 it stands for, so the rounds never test a subkey for 0."""
    return tuple((s or _TWO16) if i % 6 in _MULTIPLIED else s for i, s in enumerate(subkeys))


def _ecb(data: Buffer, keys: tuple[int, ...]) -> bytes:
    """Run the IDEA computation over every 8-byte block of ``data`` (length already
    checked) with prepared subkeys ``keys``; encryption and decryption differ only in keys.

    Speed notes. The rounds are unrolled and the 52 subkeys live in locals named after the
    spec: ``zR_I`` is ``Z_I^(R)`` (or ``U_I^(R)`` when decrypting). Words are reduced
    modulo 2^16 lazily: XOR and + agree with their 16-bit versions on the low 16 bits
    whatever bits lie above, so a word only has to be masked where its exact value matters,
    just before a (.) multiplication and at the output. A (.) is then
    ``((a & 0xFFFF) or 0x10000) * z % 0x10001``: the ``or`` turns the word 0 into the
    2^16 it stands for, the prepared subkey ``z`` is already in 1..2^16, and the product
    modulo the prime 65537 is in 1..2^16, where 2^16 again means the word 0 (it is 0
    modulo 2^16, which is all later XORs and additions look at). The unmasked words grow
    by at most one bit per round (staying below 2^27), so they remain one-digit ints.
    """
    # fmt: off
    (
        z1_1, z1_2, z1_3, z1_4, z1_5, z1_6,
        z2_1, z2_2, z2_3, z2_4, z2_5, z2_6,
        z3_1, z3_2, z3_3, z3_4, z3_5, z3_6,
        z4_1, z4_2, z4_3, z4_4, z4_5, z4_6,
        z5_1, z5_2, z5_3, z5_4, z5_5, z5_6,
        z6_1, z6_2, z6_3, z6_4, z6_5, z6_6,
        z7_1, z7_2, z7_3, z7_4, z7_5, z7_6,
        z8_1, z8_2, z8_3, z8_4, z8_5, z8_6,
        z9_1, z9_2, z9_3, z9_4,
    ) = keys
    # fmt: on
    count = len(data) // 2
    words = struct.unpack(f">{count}H", data)
    out: list[int] = []
    it = iter(words)
    for x1, x2, x3, x4 in zip(it, it, it, it, strict=True):
        # Round 1. Y1 = X1 (.) Z1, Y2 = X2 [+] Z2, Y3 = X3 [+] Z3, Y4 = X4 (.) Z4.
        x1 = ((x1 & 0xFFFF) or 0x10000) * z1_1 % 0x10001
        x2 += z1_2
        x3 += z1_3
        x4 = ((x4 & 0xFFFF) or 0x10000) * z1_4 % 0x10001
        # MA structure: t = (Y1 XOR Y3) (.) Z5, g1 = (t [+] (Y2 XOR Y4)) (.) Z6,
        # g2 = t [+] g1.
        t = (((x1 ^ x3) & 0xFFFF) or 0x10000) * z1_5 % 0x10001
        g1 = (((t + (x2 ^ x4)) & 0xFFFF) or 0x10000) * z1_6 % 0x10001
        g2 = t + g1
        # X1' = Y1 XOR g1, X2' = Y3 XOR g1, X3' = Y2 XOR g2, X4' = Y4 XOR g2.
        x1 ^= g1
        x4 ^= g2
        x2, x3 = x3 ^ g1, x2 ^ g2
        # Round 2.
        x1 = ((x1 & 0xFFFF) or 0x10000) * z2_1 % 0x10001
        x2 += z2_2
        x3 += z2_3
        x4 = ((x4 & 0xFFFF) or 0x10000) * z2_4 % 0x10001
        t = (((x1 ^ x3) & 0xFFFF) or 0x10000) * z2_5 % 0x10001
        g1 = (((t + (x2 ^ x4)) & 0xFFFF) or 0x10000) * z2_6 % 0x10001
        g2 = t + g1
        x1 ^= g1
        x4 ^= g2
        x2, x3 = x3 ^ g1, x2 ^ g2
        # Round 3.
        x1 = ((x1 & 0xFFFF) or 0x10000) * z3_1 % 0x10001
        x2 += z3_2
        x3 += z3_3
        x4 = ((x4 & 0xFFFF) or 0x10000) * z3_4 % 0x10001
        t = (((x1 ^ x3) & 0xFFFF) or 0x10000) * z3_5 % 0x10001
        g1 = (((t + (x2 ^ x4)) & 0xFFFF) or 0x10000) * z3_6 % 0x10001
        g2 = t + g1
        x1 ^= g1
        x4 ^= g2
        x2, x3 = x3 ^ g1, x2 ^ g2
        # Round 4.
        x1 = ((x1 & 0xFFFF) or 0x10000) * z4_1 % 0x10001
        x2 += z4_2
        x3 += z4_3
        x4 = ((x4 & 0xFFFF) or 0x10000) * z4_4 % 0x10001
        t = (((x1 ^ x3) & 0xFFFF) or 0x10000) * z4_5 % 0x10001
        g1 = (((t + (x2 ^ x4)) & 0xFFFF) or 0x10000) * z4_6 % 0x10001
        g2 = t + g1
        x1 ^= g1
        x4 ^= g2
        x2, x3 = x3 ^ g1, x2 ^ g2
        # Round 5.
        x1 = ((x1 & 0xFFFF) or 0x10000) * z5_1 % 0x10001
        x2 += z5_2
        x3 += z5_3
        x4 = ((x4 & 0xFFFF) or 0x10000) * z5_4 % 0x10001
        t = (((x1 ^ x3) & 0xFFFF) or 0x10000) * z5_5 % 0x10001
        g1 = (((t + (x2 ^ x4)) & 0xFFFF) or 0x10000) * z5_6 % 0x10001
        g2 = t + g1
        x1 ^= g1
        x4 ^= g2
        x2, x3 = x3 ^ g1, x2 ^ g2
        # Round 6.
        x1 = ((x1 & 0xFFFF) or 0x10000) * z6_1 % 0x10001
        x2 += z6_2
        x3 += z6_3
        x4 = ((x4 & 0xFFFF) or 0x10000) * z6_4 % 0x10001
        t = (((x1 ^ x3) & 0xFFFF) or 0x10000) * z6_5 % 0x10001
        g1 = (((t + (x2 ^ x4)) & 0xFFFF) or 0x10000) * z6_6 % 0x10001
        g2 = t + g1
        x1 ^= g1
        x4 ^= g2
        x2, x3 = x3 ^ g1, x2 ^ g2
        # Round 7.
        x1 = ((x1 & 0xFFFF) or 0x10000) * z7_1 % 0x10001
        x2 += z7_2
        x3 += z7_3
        x4 = ((x4 & 0xFFFF) or 0x10000) * z7_4 % 0x10001
        t = (((x1 ^ x3) & 0xFFFF) or 0x10000) * z7_5 % 0x10001
        g1 = (((t + (x2 ^ x4)) & 0xFFFF) or 0x10000) * z7_6 % 0x10001
        g2 = t + g1
        x1 ^= g1
        x4 ^= g2
        x2, x3 = x3 ^ g1, x2 ^ g2
        # Round 8.
        x1 = ((x1 & 0xFFFF) or 0x10000) * z8_1 % 0x10001
        x2 += z8_2
        x3 += z8_3
        x4 = ((x4 & 0xFFFF) or 0x10000) * z8_4 % 0x10001
        t = (((x1 ^ x3) & 0xFFFF) or 0x10000) * z8_5 % 0x10001
        g1 = (((t + (x2 ^ x4)) & 0xFFFF) or 0x10000) * z8_6 % 0x10001
        g2 = t + g1
        x1 ^= g1
        x4 ^= g2
        x2, x3 = x3 ^ g1, x2 ^ g2
        # Output transformation (r = 9), undoing round 8's swap of the middle words.
        out += (
            (((x1 & 0xFFFF) or 0x10000) * z9_1 % 0x10001) & 0xFFFF,
            (x3 + z9_2) & 0xFFFF,
            (x2 + z9_3) & 0xFFFF,
            (((x4 & 0xFFFF) or 0x10000) * z9_4 % 0x10001) & 0xFFFF,
        )
    return struct.pack(f">{count}H", *out)


class IDEA:
    """IDEA (Lai and Massey, 1991/1992) as a refcrypto block cipher: 16-byte key, 8-byte blocks.

    ``IDEA(key)`` raises :class:`~refcrypto.errors.InvalidKeySize` unless ``len(key) == 16``.
    ``encrypt_block`` / ``decrypt_block`` take exactly 8 bytes and ``encrypt_blocks`` a
    multiple of 8 (ECB); other lengths raise :class:`~refcrypto.errors.RefcryptoError`.
    Pure Python and NOT constant-time: not for use where timing side channels matter.
    """

    __slots__ = ("__weakref__", "_decrypt_keys", "_encrypt_keys")

    block_size = BLOCK_SIZE
    key_size = KEY_SIZE

    def __init__(self, key: Buffer) -> None:
        z = encryption_subkeys(check_key_size(_NAME, key, KEY_SIZE))
        self._encrypt_keys = _prepare(z)
        self._decrypt_keys = _prepare(decryption_subkeys(z))

    def encrypt_block(self, block: Buffer) -> bytes:
        """Encrypt one 8-byte block."""
        if len(block) != BLOCK_SIZE:
            raise RefcryptoError(f"{_NAME}: block must be 8 bytes, got {len(block)}")
        return _ecb(block, self._encrypt_keys)

    def decrypt_block(self, block: Buffer) -> bytes:
        """Decrypt one 8-byte block."""
        if len(block) != BLOCK_SIZE:
            raise RefcryptoError(f"{_NAME}: block must be 8 bytes, got {len(block)}")
        return _ecb(block, self._decrypt_keys)

    def encrypt_blocks(self, data: Buffer) -> bytes:
        """Encrypt ``len(data) // 8`` consecutive blocks (ECB) in one pass."""
        if len(data) % BLOCK_SIZE:
            raise RefcryptoError(
                f"{_NAME}: data length must be a multiple of 8 bytes, got {len(data)}"
            )
        return _ecb(data, self._encrypt_keys)
