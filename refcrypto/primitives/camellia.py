"""Camellia block cipher (RFC 3713), in pure Python.

``Camellia(key)`` takes a 16-, 24- or 32-byte key (Camellia-128/-192/-256) and implements
the :class:`~refcrypto.primitives.base.BlockCipher` protocol on 16-byte blocks:
``encrypt_block``, ``decrypt_block`` and ``encrypt_blocks`` (ECB over whole blocks, for the
modes whose block inputs are all known in advance). A key of another length raises
:class:`~refcrypto.errors.InvalidKeySize`; a block or buffer of the wrong length raises
:class:`~refcrypto.errors.RefcryptoError`.

The code follows RFC 3713 section by section and keeps its names, so it can be read beside
the RFC: ``SBOX1``..``SBOX4`` (2.4.3), ``F`` (2.4.1), ``FL`` / ``FLINV`` (2.4.2), the key
schedule with ``KL``, ``KR``, ``KA``, ``KB``, ``Sigma1``..``Sigma6`` and the subkeys
``kw``, ``k``, ``ke`` (2.2), and the 18- or 24-round Feistel network (2.3.1, 2.3.2) that
decrypts with its subkeys in reverse order (2.3.3). ``P``, ``F``, ``FL`` and ``FLINV``
are written literally (the key schedule uses ``F``); the two fast paths below compute the
same network, and the tests check them against a literal RFC network built from these
functions, against published vectors, and against OpenSSL through ``cryptography``.

Two table optimisations make the data path fast enough for a pure-Python proxy:

* **One block at a time** (``encrypt_block``, ``decrypt_block``, short ``encrypt_blocks``
  calls). The halves ``D1``/``D2`` are 64-bit ints. The linear part ``P`` of ``F`` (the
  ``y1``..``y8`` equations of 2.4.1) is XOR-linear, so ``F`` is the XOR of eight
  contributions, one per input byte: ``SP[i][b] = P(0, .., SBOXi(b), .., 0)``, the S-box
  output of byte position ``i`` already spread to all the output bytes it feeds. A round
  is then one ``to_bytes`` and eight table lookups XORed together. The eight 256-entry
  tables are built from ``SBOX1``..``SBOX4`` and ``P`` at import time.
* **Many blocks at once** (``encrypt_blocks`` with at least ``SLICED_MIN_BLOCKS`` blocks,
  as in CFB decryption or CTR). The data are *byte-sliced*: byte position ``j`` of every
  block is gathered into one string (``data[j::16]``) and held as one big int. A round then
  applies ``F`` to all blocks together: the subkey XOR and the S-box of each of the eight
  byte positions are one ``bytes.translate`` with a 256-byte table ``SBOXi[x ^ k_byte]``
  built per key and round (lazily, on the first such call: 24 x 8 x 256 bytes), and the
  equations of ``P`` run unchanged on the big ints, XORing the same byte of every block at
  once. ``FL``/``FLINV`` use masks to rotate within each byte lane. The per-call overhead
  is about that of ten single blocks, after which each block costs a small fraction of the
  one-block path.

**Not constant-time.** Both paths look up tables indexed by secret data (the S-box tables,
``bytes.translate``), so their timing and cache footprint depend on key and data. This is a
reference implementation: do not use it where timing side channels matter.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Final

from ..errors import RefcryptoError
from .base import Buffer, check_key_size

__all__ = ["SLICED_MIN_BLOCKS", "Camellia"]

MASK8: Final = 0xFF
MASK32: Final = 0xFFFFFFFF
MASK64: Final = 0xFFFFFFFFFFFFFFFF
MASK128: Final = (1 << 128) - 1

#: Blocks from which ``encrypt_blocks`` switches to the byte-sliced path (measured crossover).
SLICED_MIN_BLOCKS: Final = 10

# --------------------------------------------------------------------------------------
# RFC 3713, 2.4.3: S-boxes. SBOX1 is transcribed from the RFC's table (decimal, row x0..xF);
# SBOX2..SBOX4 are defined from it by 8-bit rotations, as the RFC does.
# --------------------------------------------------------------------------------------

# fmt: off
SBOX1: Final = bytes((
    112, 130, 44, 236, 179, 39, 192, 229, 228, 133, 87, 53, 234, 12, 174, 65,
    35, 239, 107, 147, 69, 25, 165, 33, 237, 14, 79, 78, 29, 101, 146, 189,
    134, 184, 175, 143, 124, 235, 31, 206, 62, 48, 220, 95, 94, 197, 11, 26,
    166, 225, 57, 202, 213, 71, 93, 61, 217, 1, 90, 214, 81, 86, 108, 77,
    139, 13, 154, 102, 251, 204, 176, 45, 116, 18, 43, 32, 240, 177, 132, 153,
    223, 76, 203, 194, 52, 126, 118, 5, 109, 183, 169, 49, 209, 23, 4, 215,
    20, 88, 58, 97, 222, 27, 17, 28, 50, 15, 156, 22, 83, 24, 242, 34,
    254, 68, 207, 178, 195, 181, 122, 145, 36, 8, 232, 168, 96, 252, 105, 80,
    170, 208, 160, 125, 161, 137, 98, 151, 84, 91, 30, 149, 224, 255, 100, 210,
    16, 196, 0, 72, 163, 247, 117, 219, 138, 3, 230, 218, 9, 63, 221, 148,
    135, 92, 131, 2, 205, 74, 144, 51, 115, 103, 246, 243, 157, 127, 191, 226,
    82, 155, 216, 38, 200, 55, 198, 59, 129, 150, 111, 75, 19, 190, 99, 46,
    233, 121, 167, 140, 159, 110, 188, 142, 41, 245, 249, 182, 47, 253, 180, 89,
    120, 152, 6, 106, 231, 70, 113, 186, 212, 37, 171, 66, 136, 162, 141, 250,
    114, 7, 185, 85, 248, 238, 172, 10, 54, 73, 42, 104, 60, 56, 241, 164,
    64, 40, 211, 123, 187, 201, 67, 193, 21, 227, 173, 244, 119, 199, 128, 158,
))
# fmt: on


def _rotl8(x: int, n: int) -> int:
    """``x <<< n`` on 8 bits."""
    return ((x << n) | (x >> (8 - n))) & MASK8


SBOX2: Final = bytes(_rotl8(SBOX1[x], 1) for x in range(256))  # SBOX2[x] = SBOX1[x] <<< 1
SBOX3: Final = bytes(_rotl8(SBOX1[x], 7) for x in range(256))  # SBOX3[x] = SBOX1[x] <<< 7
SBOX4: Final = bytes(SBOX1[_rotl8(x, 1)] for x in range(256))  # SBOX4[x] = SBOX1[x <<< 1]

#: The S-box applied to input bytes t1..t8 of F (RFC 3713, 2.4.1).
_SBOX_OF_BYTE: Final = (SBOX1, SBOX2, SBOX3, SBOX4, SBOX2, SBOX3, SBOX4, SBOX1)

# --------------------------------------------------------------------------------------
# RFC 3713, 2.2: key-schedule constants.
# --------------------------------------------------------------------------------------

Sigma1: Final = 0xA09E667F3BCC908B
Sigma2: Final = 0xB67AE8584CAA73B2
Sigma3: Final = 0xC6EF372FE94F82BE
Sigma4: Final = 0x54FF53A5F1D36F1C
Sigma5: Final = 0x10E527FADE682D1D
Sigma6: Final = 0xB05688C2B3E6C1FD


# --------------------------------------------------------------------------------------
# RFC 3713, 2.4: components, written literally.
# --------------------------------------------------------------------------------------


def P(
    t1: int, t2: int, t3: int, t4: int, t5: int, t6: int, t7: int, t8: int
) -> tuple[int, int, int, int, int, int, int, int]:
    """The linear part of F (RFC 3713, 2.4.1: y1..y8 from the S-box outputs t1..t8; the
    Camellia specification calls it the P-function).

    Only XOR is used, so the arguments may be single bytes or, in the byte-sliced path,
    big ints holding the same byte position of many blocks.
    """
    y1 = t1 ^ t3 ^ t4 ^ t6 ^ t7 ^ t8
    y2 = t1 ^ t2 ^ t4 ^ t5 ^ t7 ^ t8
    y3 = t1 ^ t2 ^ t3 ^ t5 ^ t6 ^ t8
    y4 = t2 ^ t3 ^ t4 ^ t5 ^ t6 ^ t7
    y5 = t1 ^ t2 ^ t6 ^ t7 ^ t8
    y6 = t2 ^ t3 ^ t5 ^ t7 ^ t8
    y7 = t3 ^ t4 ^ t5 ^ t6 ^ t8
    y8 = t1 ^ t4 ^ t5 ^ t6 ^ t7
    return y1, y2, y3, y4, y5, y6, y7, y8


def F(F_IN: int, KE: int) -> int:
    """F-function (RFC 3713, 2.4.1): 64-bit input ``F_IN``, 64-bit subkey ``KE``."""
    x = F_IN ^ KE
    t1 = SBOX1[x >> 56]
    t2 = SBOX2[(x >> 48) & MASK8]
    t3 = SBOX3[(x >> 40) & MASK8]
    t4 = SBOX4[(x >> 32) & MASK8]
    t5 = SBOX2[(x >> 24) & MASK8]
    t6 = SBOX3[(x >> 16) & MASK8]
    t7 = SBOX4[(x >> 8) & MASK8]
    t8 = SBOX1[x & MASK8]
    return int.from_bytes(bytes(P(t1, t2, t3, t4, t5, t6, t7, t8)), "big")


def _rotl32(x: int, n: int) -> int:
    return ((x << n) | (x >> (32 - n))) & MASK32


def FL(FL_IN: int, KE: int) -> int:
    """FL-function (RFC 3713, 2.4.2)."""
    x1, x2 = FL_IN >> 32, FL_IN & MASK32
    k1, k2 = KE >> 32, KE & MASK32
    x2 = x2 ^ _rotl32(x1 & k1, 1)
    x1 = x1 ^ (x2 | k2)
    return (x1 << 32) | x2


def FLINV(FLINV_IN: int, KE: int) -> int:
    """FLINV-function, the inverse of FL (RFC 3713, 2.4.2)."""
    y1, y2 = FLINV_IN >> 32, FLINV_IN & MASK32
    k1, k2 = KE >> 32, KE & MASK32
    y1 = y1 ^ (y2 | k2)
    y2 = y2 ^ _rotl32(y1 & k1, 1)
    return (y1 << 32) | y2


# The SP tables: F(x, k) == SP[0][b1] ^ SP[1][b2] ^ ... ^ SP[7][b8] where b1..b8 are the
# bytes of x ^ k (b1 most significant). SP[i][b] is P applied to a vector that is zero
# except for SBOX_i(b) in position i+1, packed big-endian into a 64-bit word; this holds
# because P is linear over XOR.
def _sp_table(position: int) -> tuple[int, ...]:
    sbox = _SBOX_OF_BYTE[position]
    table = []
    for b in range(256):
        t = [0] * 8
        t[position] = sbox[b]
        table.append(int.from_bytes(bytes(P(*t)), "big"))
    return tuple(table)


_SP: Final = tuple(_sp_table(i) for i in range(8))

# --------------------------------------------------------------------------------------
# RFC 3713, 2.2: key scheduling part.
# --------------------------------------------------------------------------------------

_L, _R = "L", "R"  # left half ``>> 64`` or right half ``& MASK64`` of a rotated 128-bit value

# One row per 64-bit subkey, in the RFC's order: (name, source, rotation, half), meaning
# ``name = (source <<< rotation) >> 64`` for _L and ``... & MASK64`` for _R.
# fmt: off
_SUBKEYS_128: Final = (
    ("kw1", "KL", 0, _L), ("kw2", "KL", 0, _R),
    ("k1", "KA", 0, _L), ("k2", "KA", 0, _R),
    ("k3", "KL", 15, _L), ("k4", "KL", 15, _R),
    ("k5", "KA", 15, _L), ("k6", "KA", 15, _R),
    ("ke1", "KA", 30, _L), ("ke2", "KA", 30, _R),
    ("k7", "KL", 45, _L), ("k8", "KL", 45, _R),
    ("k9", "KA", 45, _L), ("k10", "KL", 60, _R),
    ("k11", "KA", 60, _L), ("k12", "KA", 60, _R),
    ("ke3", "KL", 77, _L), ("ke4", "KL", 77, _R),
    ("k13", "KL", 94, _L), ("k14", "KL", 94, _R),
    ("k15", "KA", 94, _L), ("k16", "KA", 94, _R),
    ("k17", "KL", 111, _L), ("k18", "KL", 111, _R),
    ("kw3", "KA", 111, _L), ("kw4", "KA", 111, _R),
)

_SUBKEYS_192_256: Final = (
    ("kw1", "KL", 0, _L), ("kw2", "KL", 0, _R),
    ("k1", "KB", 0, _L), ("k2", "KB", 0, _R),
    ("k3", "KR", 15, _L), ("k4", "KR", 15, _R),
    ("k5", "KA", 15, _L), ("k6", "KA", 15, _R),
    ("ke1", "KR", 30, _L), ("ke2", "KR", 30, _R),
    ("k7", "KB", 30, _L), ("k8", "KB", 30, _R),
    ("k9", "KL", 45, _L), ("k10", "KL", 45, _R),
    ("k11", "KA", 45, _L), ("k12", "KA", 45, _R),
    ("ke3", "KL", 60, _L), ("ke4", "KL", 60, _R),
    ("k13", "KR", 60, _L), ("k14", "KR", 60, _R),
    ("k15", "KB", 60, _L), ("k16", "KB", 60, _R),
    ("k17", "KL", 77, _L), ("k18", "KL", 77, _R),
    ("ke5", "KA", 77, _L), ("ke6", "KA", 77, _R),
    ("k19", "KR", 94, _L), ("k20", "KR", 94, _R),
    ("k21", "KA", 94, _L), ("k22", "KA", 94, _R),
    ("k23", "KL", 111, _L), ("k24", "KL", 111, _R),
    ("kw3", "KB", 111, _L), ("kw4", "KB", 111, _R),
)
# fmt: on


def _rotl128(x: int, n: int) -> int:
    return ((x << n) | (x >> (128 - n))) & MASK128


class _Subkeys:
    """The 64-bit subkeys of RFC 3713, 2.2, in encryption order (see ``reversed``)."""

    __slots__ = ("__weakref__", "k", "ke", "kw")

    def __init__(self, kw: Sequence[int], k: Sequence[int], ke: Sequence[int]) -> None:
        self.kw = tuple(kw)  # kw1..kw4
        self.k = tuple(k)  # k1..k18 or k1..k24
        self.ke = tuple(ke)  # ke1..ke4 or ke1..ke6

    def reversed(self) -> _Subkeys:
        """The subkeys decryption uses (RFC 3713, 2.3.3): kw1<->kw3, kw2<->kw4, k and ke in
        reverse order (k1<->k18, ..., ke1<->ke4, ...; with 24 rounds k1<->k24, ke1<->ke6)."""
        kw1, kw2, kw3, kw4 = self.kw
        return _Subkeys((kw3, kw4, kw1, kw2), self.k[::-1], self.ke[::-1])


def key_schedule(key: bytes) -> _Subkeys:
    """Camellia key scheduling part (RFC 3713, 2.2) for a 16-, 24- or 32-byte key."""
    K = int.from_bytes(key, "big")
    if len(key) == 16:
        KL, KR = K, 0
    elif len(key) == 24:
        KL = K >> 64
        right = K & MASK64
        KR = (right << 64) | (~right & MASK64)
    else:
        KL, KR = K >> 128, K & MASK128

    D1 = (KL ^ KR) >> 64
    D2 = (KL ^ KR) & MASK64
    D2 = D2 ^ F(D1, Sigma1)
    D1 = D1 ^ F(D2, Sigma2)
    D1 = D1 ^ (KL >> 64)
    D2 = D2 ^ (KL & MASK64)
    D2 = D2 ^ F(D1, Sigma3)
    D1 = D1 ^ F(D2, Sigma4)
    KA = (D1 << 64) | D2
    D1 = (KA ^ KR) >> 64
    D2 = (KA ^ KR) & MASK64
    D2 = D2 ^ F(D1, Sigma5)
    D1 = D1 ^ F(D2, Sigma6)
    KB = (D1 << 64) | D2

    sources = {"KL": KL, "KR": KR, "KA": KA, "KB": KB}
    rows = _SUBKEYS_128 if len(key) == 16 else _SUBKEYS_192_256
    sub: dict[str, int] = {}
    for name, source, rotation, half in rows:
        rotated = _rotl128(sources[source], rotation)
        sub[name] = rotated >> 64 if half == _L else rotated & MASK64
    rounds = 18 if len(key) == 16 else 24
    return _Subkeys(
        [sub[f"kw{i}"] for i in range(1, 5)],
        [sub[f"k{i}"] for i in range(1, rounds + 1)],
        [sub[f"ke{i}"] for i in range(1, 2 * (rounds // 6 - 1) + 1)],
    )


# --------------------------------------------------------------------------------------
# RFC 3713, 2.3: data randomizing part -- one block at a time, with the SP tables.
# --------------------------------------------------------------------------------------

# A 6-round layer: six round keys, then the FL and FLINV keys applied *before* the layer
# (None for the first layer), each split into its 32-bit halves (k1, k2 of 2.4.2).
_Layer = tuple[int, int, int, int, int, int, int | None, int, int, int]
#: (kw1, kw2, kw3, kw4, layers)
_Schedule = tuple[int, int, int, int, tuple[_Layer, ...]]


def _scalar_schedule(sub: _Subkeys) -> _Schedule:
    layers: list[_Layer] = []
    for g in range(len(sub.k) // 6):
        k1, k2, k3, k4, k5, k6 = sub.k[6 * g : 6 * g + 6]
        fl: tuple[int | None, int, int, int] = (None, 0, 0, 0)
        if g:
            ke_fl, ke_flinv = sub.ke[2 * g - 2], sub.ke[2 * g - 1]
            fl = (ke_fl >> 32, ke_fl & MASK32, ke_flinv >> 32, ke_flinv & MASK32)
        layers.append((k1, k2, k3, k4, k5, k6, *fl))
    kw1, kw2, kw3, kw4 = sub.kw
    return kw1, kw2, kw3, kw4, tuple(layers)


def _crypt_words(words: Sequence[int], schedule: _Schedule) -> list[int]:
    """Run the Feistel network of RFC 3713, 2.3.1 / 2.3.2 over blocks given as 64-bit words
    (M >> 64, M & MASK64, ...) and return the output words the same way. Decryption is the
    same network with the reversed schedule (2.3.3)."""
    kw1, kw2, kw3, kw4, layers = schedule
    S1, S2, S3, S4, S5, S6, S7, S8 = _SP
    out: list[int] = []
    append = out.append
    it = iter(words)
    for D1, D2 in zip(it, it, strict=True):
        D1 ^= kw1  # prewhitening
        D2 ^= kw2
        for k1, k2, k3, k4, k5, k6, fl_k1, fl_k2, flinv_k1, flinv_k2 in layers:
            if fl_k1 is not None:
                # D1 = FL(D1, ke), inlined (2.4.2)
                x1, x2 = D1 >> 32, D1 & MASK32
                t = x1 & fl_k1
                x2 ^= ((t << 1) | (t >> 31)) & MASK32
                D1 = ((x1 ^ (x2 | fl_k2)) << 32) | x2
                # D2 = FLINV(D2, ke), inlined (2.4.2)
                y1, y2 = D2 >> 32, D2 & MASK32
                y1 ^= y2 | flinv_k2
                t = y1 & flinv_k1
                D2 = (y1 << 32) | (y2 ^ (((t << 1) | (t >> 31)) & MASK32))
            # Six rounds: D2 ^= F(D1, k1); D1 ^= F(D2, k2); ... with F from the SP tables.
            b1, b2, b3, b4, b5, b6, b7, b8 = (D1 ^ k1).to_bytes(8, "big")
            D2 ^= S1[b1] ^ S2[b2] ^ S3[b3] ^ S4[b4] ^ S5[b5] ^ S6[b6] ^ S7[b7] ^ S8[b8]
            b1, b2, b3, b4, b5, b6, b7, b8 = (D2 ^ k2).to_bytes(8, "big")
            D1 ^= S1[b1] ^ S2[b2] ^ S3[b3] ^ S4[b4] ^ S5[b5] ^ S6[b6] ^ S7[b7] ^ S8[b8]
            b1, b2, b3, b4, b5, b6, b7, b8 = (D1 ^ k3).to_bytes(8, "big")
            D2 ^= S1[b1] ^ S2[b2] ^ S3[b3] ^ S4[b4] ^ S5[b5] ^ S6[b6] ^ S7[b7] ^ S8[b8]
            b1, b2, b3, b4, b5, b6, b7, b8 = (D2 ^ k4).to_bytes(8, "big")
            D1 ^= S1[b1] ^ S2[b2] ^ S3[b3] ^ S4[b4] ^ S5[b5] ^ S6[b6] ^ S7[b7] ^ S8[b8]
            b1, b2, b3, b4, b5, b6, b7, b8 = (D1 ^ k5).to_bytes(8, "big")
            D2 ^= S1[b1] ^ S2[b2] ^ S3[b3] ^ S4[b4] ^ S5[b5] ^ S6[b6] ^ S7[b7] ^ S8[b8]
            b1, b2, b3, b4, b5, b6, b7, b8 = (D2 ^ k6).to_bytes(8, "big")
            D1 ^= S1[b1] ^ S2[b2] ^ S3[b3] ^ S4[b4] ^ S5[b5] ^ S6[b6] ^ S7[b7] ^ S8[b8]
        append(D2 ^ kw3)  # postwhitening; C = D2 || D1
        append(D1 ^ kw4)
    return out


# --------------------------------------------------------------------------------------
# RFC 3713, 2.3 again -- many blocks at once, byte-sliced (encryption only).
# --------------------------------------------------------------------------------------

# XOR_TABLE[k] maps byte x to x ^ k, for bytes.translate.
_IDENTITY: Final = int.from_bytes(bytes(range(256)), "big")
_REPEAT_01: Final = int.from_bytes(b"\x01" * 256, "big")
_XOR_TABLE: Final = tuple((_IDENTITY ^ (k * _REPEAT_01)).to_bytes(256, "big") for k in range(256))


def _xor_tables(word: int) -> tuple[bytes, ...]:
    """Eight translate tables XORing byte positions 1..8 with the bytes of a 64-bit word."""
    return tuple(_XOR_TABLE[b] for b in word.to_bytes(8, "big"))


class _SlicedSchedule:
    """Encryption subkeys prepared for the byte-sliced path."""

    __slots__ = ("__weakref__", "fl", "kw1", "kw2", "kw3", "kw4", "rounds")

    def __init__(self, sub: _Subkeys) -> None:
        kw1, kw2, kw3, kw4 = sub.kw
        self.kw1 = _xor_tables(kw1)
        self.kw2 = _xor_tables(kw2)
        self.kw3 = _xor_tables(kw3)
        self.kw4 = _xor_tables(kw4)
        # Round r: table j maps x to SBOX_j(x ^ byte j of k_r) -- the key XOR and the S-box
        # of F (2.4.1) in one translate. XOR_TABLE[b].translate(S)[x] == S[x ^ b].
        self.rounds = tuple(
            tuple(
                xt.translate(sbox) for xt, sbox in zip(_xor_tables(kr), _SBOX_OF_BYTE, strict=True)
            )
            for kr in sub.k
        )
        # FL/FLINV keys as bytes: the byte lanes are masked with them.
        self.fl = tuple(ke.to_bytes(8, "big") for ke in sub.ke)


def _f_sliced(x: Sequence[int], tables: Sequence[bytes], n: int) -> tuple[int, ...]:
    """F(x, k) (2.4.1) on byte slices: x[j] holds byte j+1 of the F input of all n blocks;
    ``tables`` already include the round key k."""
    from_bytes = int.from_bytes
    t = [
        from_bytes(xj.to_bytes(n, "big").translate(table), "big")
        for xj, table in zip(x, tables, strict=True)
    ]
    return P(*t)


def _fl_sliced(x: list[int], ke: bytes, ones: int) -> None:
    """x = FL(x, ke) (2.4.2) in place on byte slices; ``ones`` has 0x01 in every byte lane."""
    low7, high = ones * 0x7F, ones * 0x80
    # x2 ^= (x1 & k1) <<< 1 on the 32-bit word u1 u2 u3 u4 (u = x1 & k1, bytes 1..4):
    # output byte j is (u_j << 1) | (u_(j+1) >> 7), computed within each byte lane.
    u = [x[j] & (ke[j] * ones) for j in range(4)]
    for j in range(4):
        x[4 + j] ^= ((u[j] & low7) << 1) | ((u[(j + 1) % 4] & high) >> 7)
    for j in range(4):  # x1 ^= x2 | k2
        x[j] ^= x[4 + j] | (ke[4 + j] * ones)


def _flinv_sliced(y: list[int], ke: bytes, ones: int) -> None:
    """y = FLINV(y, ke) (2.4.2) in place on byte slices."""
    low7, high = ones * 0x7F, ones * 0x80
    for j in range(4):  # y1 ^= y2 | k2
        y[j] ^= y[4 + j] | (ke[4 + j] * ones)
    u = [y[j] & (ke[j] * ones) for j in range(4)]  # y2 ^= (y1 & k1) <<< 1
    for j in range(4):
        y[4 + j] ^= ((u[j] & low7) << 1) | ((u[(j + 1) % 4] & high) >> 7)


def _encrypt_sliced(data: bytes, schedule: _SlicedSchedule) -> bytes:
    """ECB-encrypt ``len(data) // 16`` blocks with the byte-sliced network."""
    n = len(data) // 16
    from_bytes = int.from_bytes
    ones = from_bytes(b"\x01" * n, "big")
    # Gather byte position j of every block; prewhitening D1 ^= kw1, D2 ^= kw2 on the way.
    D1 = [from_bytes(data[j::16].translate(schedule.kw1[j]), "big") for j in range(8)]
    D2 = [from_bytes(data[8 + j :: 16].translate(schedule.kw2[j]), "big") for j in range(8)]
    rounds = schedule.rounds
    for r in range(0, len(rounds), 2):
        if r and r % 6 == 0:  # after rounds 6, 12 (and 18): FL(D1, ke_2g-1), FLINV(D2, ke_2g)
            g = r // 6
            _fl_sliced(D1, schedule.fl[2 * g - 2], ones)
            _flinv_sliced(D2, schedule.fl[2 * g - 1], ones)
        y = _f_sliced(D1, rounds[r], n)  # D2 = D2 ^ F(D1, k_(r+1))
        D2 = [d ^ v for d, v in zip(D2, y, strict=True)]
        y = _f_sliced(D2, rounds[r + 1], n)  # D1 = D1 ^ F(D2, k_(r+2))
        D1 = [d ^ v for d, v in zip(D1, y, strict=True)]
    # Postwhitening D2 ^= kw3, D1 ^= kw4, and scatter C = D2 || D1 back into blocks.
    out = bytearray(16 * n)
    for j in range(8):
        out[j::16] = D2[j].to_bytes(n, "big").translate(schedule.kw3[j])
        out[8 + j :: 16] = D1[j].to_bytes(n, "big").translate(schedule.kw4[j])
    return bytes(out)


# --------------------------------------------------------------------------------------
# The BlockCipher.
# --------------------------------------------------------------------------------------

_BLOCK: Final = struct.Struct(">QQ")


class Camellia:
    """Camellia (RFC 3713) with a 16-, 24- or 32-byte key; 16-byte blocks.

    Pure Python and **not constant-time** (table lookups indexed by secret data): not for
    use where timing side channels matter. See the module docstring for the two data paths.
    """

    __slots__ = ("__weakref__", "_dec", "_enc", "_sliced", "_sub")

    block_size = 16

    def __init__(self, key: Buffer) -> None:
        key_bytes = check_key_size("camellia", key, 16, 24, 32)
        sub = key_schedule(key_bytes)
        self._sub = sub
        self._enc = _scalar_schedule(sub)
        self._dec = _scalar_schedule(sub.reversed())
        self._sliced: _SlicedSchedule | None = None  # built on first large batch

    def encrypt_block(self, block: Buffer) -> bytes:
        """Encrypt exactly one 16-byte block."""
        if len(block) != 16:
            raise RefcryptoError(f"camellia: block must be 16 bytes, got {len(block)}")
        return _BLOCK.pack(*_crypt_words(_BLOCK.unpack(block), self._enc))

    def decrypt_block(self, block: Buffer) -> bytes:
        """Decrypt exactly one 16-byte block."""
        if len(block) != 16:
            raise RefcryptoError(f"camellia: block must be 16 bytes, got {len(block)}")
        return _BLOCK.pack(*_crypt_words(_BLOCK.unpack(block), self._dec))

    def encrypt_blocks(self, data: Buffer) -> bytes:
        """ECB-encrypt ``len(data) // 16`` consecutive blocks; ``len(data)`` must be a
        multiple of 16 (it may be 0)."""
        size = len(data)
        if size % 16:
            raise RefcryptoError(
                f"camellia: data length must be a multiple of 16 bytes, got {size}"
            )
        blocks = size // 16
        if blocks >= SLICED_MIN_BLOCKS:
            sliced = self._sliced
            if sliced is None:
                sliced = self._sliced = _SlicedSchedule(self._sub)
            return _encrypt_sliced(bytes(data), sliced)
        if not blocks:
            return b""
        words = struct.unpack(f">{2 * blocks}Q", data)
        return struct.pack(f">{2 * blocks}Q", *_crypt_words(words, self._enc))
