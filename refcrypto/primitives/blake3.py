"""BLAKE3 (hash, keyed_hash, derive_key, extendable output), in pure Python.

Standard: J. O'Connor, J.-P. Aumasson, S. Neves, Z. Wilcox-O'Hearn, *BLAKE3: one function,
fast everywhere* (2020), section 2 (the specification: 2.1 tree structure, 2.2 compression
function, 2.3 modes, 2.4 chunk chaining values, 2.5 parent node chaining values, 2.6
extendable output) and section 5 (5.1 incremental hashing with the chaining-value stack,
5.3 SIMD). Shadowsocks 2022 (SIP022) derives its session subkeys with
``derive_key("shadowsocks 2022 session subkey", PSK || salt)``, and SIP023 identity headers
use ``blake3(PSK)`` and ``derive_key("shadowsocks 2022 identity subkey", iPSK || salt)``.

What a caller needs:

* ``blake3(data, length=32)``, ``keyed_hash(key, data, length=32)`` (``key`` exactly 32
  bytes, else :class:`~refcrypto.errors.InvalidKeySize`) and
  ``derive_key(context, key_material, length=32)`` (``context`` a ``str``, hashed as UTF-8).
  ``length`` may be any count of bytes from 0 up: shorter outputs are prefixes of longer ones.
* :class:`Blake3Hasher` for incremental input: ``update(data)``, ``digest(length, seek=...)``
  (any number of times; it does not end the hasher), ``copy()``.
* Data, keys and key material are bytes-like objects; a memoryview counts as its bytes,
  whatever its item size. Anything else raises ``TypeError`` naming the argument.

Not constant-time, though close to it. BLAKE3 is an ARX design: the code has no table
lookups and no branch on key or data values; what it does (how many compressions, which
branches, which lanes) depends only on lengths (input length, output length, ``seek``).
But every operation is on CPython's arbitrary-precision ``int``, whose cost is not
guaranteed to be independent of the value: the number of 30-bit digits of an intermediate
result depends on the data, CPython caches the small integers -5..256 instead of
allocating them, and allocation goes through free lists. The timing differences this
leaves are small and noisy, but they exist; use a native BLAKE3 where a timing side
channel on secret keys or inputs matters. (The cache of derive_key context keys holds
values derived from the public context strings only, never from key material.)

Speed (CPython 3.11, the project's 2-core x86-64 machine, ``python -m timeit -p``, i.e.
process time; wall-clock times are higher while other work shares the cores):

* one compression: about 16 us;
* ``derive_key("shadowsocks 2022 session subkey", 64 bytes)``: about 20 us (one compression;
  the context key is cached), about 41 us for a context not seen before;
* hashing 1 MiB: about 70 ms, some 15 MB/s (3.2 MB/s if chunks are compressed one at a time).

For comparison, the ``blake3`` package from PyPI (Rust with SIMD) takes 0.6 us for that
derive_key call and 0.16 ms for 1 MiB on the same machine. Measured with, for example::

    python -m timeit -p -s "from refcrypto.primitives.blake3 import derive_key; k = bytes(64)" \
        "derive_key('shadowsocks 2022 session subkey', k)"

How the compression function is made fast in CPython. Section 5.3 of the paper describes two
ways of using SIMD; here a Python ``int`` plays the SIMD register, with 64-bit lanes whose top
32 bits absorb carries and rotation spill-over until the next mask:

* One compression at a time (short inputs, the last chunk, parent nodes, output blocks):
  the four rows ``v0..v3``, ``v4..v7``, ``v8..v11``, ``v12..v15`` of the state are each
  packed into one int, so one pass of the G formulas mixes all four columns, rotating three
  rows by one, two and three lanes turns the diagonals into columns, and a second pass mixes
  them. Measured: 16 us per compression, against 31-34 us for G on sixteen separate word
  variables (unrolled or not); unrolling the seven rounds gains nothing measurable.
* Many chunks at once (bulk input): word ``v_i`` of up to 32 chunks sits in one int, lane
  ``k`` belonging to chunk ``k``, and G runs on columns and diagonals exactly as written in
  the paper, for all chunks together: 3.1 us per compression at 32 lanes, transposition
  included.

A 32-bit rotation is ``x * 0x100000001 >> n`` then a mask: the product places a copy of
``x`` just above it in the lane (measured about 5-10% faster than two shifts and an ``or``).
Sums are masked to 32 bits right away because each feeds an XOR and a rotation.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Sequence

from ..errors import InvalidKeySize, RefcryptoError
from .base import Buffer

__all__ = [
    "BLOCK_LEN",
    "CHUNK_END",
    "CHUNK_LEN",
    "CHUNK_START",
    "DERIVE_KEY_CONTEXT",
    "DERIVE_KEY_MATERIAL",
    "IV",
    "KEYED_HASH",
    "KEY_LEN",
    "MSG_PERMUTATION",
    "OUT_LEN",
    "PARENT",
    "ROOT",
    "Blake3Hasher",
    "blake3",
    "compress",
    "derive_key",
    "keyed_hash",
]

# --- constants (paper section 2 and its appendix) -------------------------------------------

#: Bytes per message block and per chunk (2.1, 2.4), bytes of a key and of the default output.
BLOCK_LEN = 64
CHUNK_LEN = 1024
KEY_LEN = 32
OUT_LEN = 32

#: IV_0..IV_7, the BLAKE2s (and SHA-256) initial values (2.2; the paper's IV appendix).
IV = (
    0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A,
    0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19,
)  # fmt: skip

#: Between rounds the message words are permuted: round r+1 uses m'[i] = m[MSG_PERMUTATION[i]]
#: (2.2; this single permutation replaces BLAKE2's table of ten schedules).
MSG_PERMUTATION = (2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8)

#: Domain-separation flags, the compression input d (2.2, table of flags).
CHUNK_START = 1 << 0
CHUNK_END = 1 << 1
PARENT = 1 << 2
ROOT = 1 << 3
KEYED_HASH = 1 << 4
DERIVE_KEY_CONTEXT = 1 << 5
DERIVE_KEY_MATERIAL = 1 << 6

_NAME = "blake3"
_ROUNDS = 7
_BLOCKS_PER_CHUNK = CHUNK_LEN // BLOCK_LEN  # 16
_M32 = 0xFFFFFFFF
#: Output is at most 2^64 bytes (2.6: the 64-bit counter t numbers the output blocks).
_MAX_OUTPUT = 1 << 64
#: Chunks compressed together by the lane-sliced path: at most 32 (measured per compression,
#: process time: 2 lanes 18 us, 8 lanes 6.3 us, 32 lanes 3.1 us, 64 lanes barely better), and
#: at least 3 (two lanes are no faster than two chunks one compression at a time).
_MAX_LANES = 32
_MIN_LANES = 3
#: derive_key context keys kept (contexts are hard-coded constants, so a few suffice).
_CONTEXT_CACHE = 64

_UNPACK_BLOCK = struct.Struct("<16I").unpack
_UNPACK_CHUNK = struct.Struct(f"<{_BLOCKS_PER_CHUNK * 16}I").unpack
_PACK_OUTPUT = struct.Struct("<16I").pack
_PACK_CV = struct.Struct("<8I").pack
_ZERO_BLOCK = bytes(BLOCK_LEN)

# --- packed rows: four 32-bit words in one int, one per 64-bit lane --------------------------

#: The low 32 bits of each of the four lanes.
_ROW_LANES = _M32 | _M32 << 64 | _M32 << 128 | _M32 << 192
#: x * _DOUBLE == x << 32 | x for x < 2^32, per lane: a rotation is then one shift and a mask.
_DOUBLE = 0x100000001

#: Row v8..v11 of the initial state, IV_0..IV_3 (2.2).
_IV_ROW = IV[0] | IV[1] << 64 | IV[2] << 128 | IV[3] << 192

Words = tuple[int, ...]
#: A chaining value as two packed rows: (h0..h3, h4..h7).
Rows = tuple[int, int]


def _row(w0: int, w1: int, w2: int, w3: int) -> int:
    return w0 | w1 << 64 | w2 << 128 | w3 << 192


def _unrow(row: int) -> Words:
    return (row & _M32, row >> 64 & _M32, row >> 128 & _M32, row >> 192)


def _rows(words: Sequence[int]) -> Rows:
    """Eight words (a key or chaining value) as two packed rows."""
    return (
        _row(words[0], words[1], words[2], words[3]),
        _row(words[4], words[5], words[6], words[7]),
    )


def _unrows(rows: Rows) -> Words:
    return _unrow(rows[0]) + _unrow(rows[1])


def _permutation(a: int, b: int, c: int, d: int, m: Sequence[int]) -> tuple[int, int, int, int]:
    """The 7-round keyed permutation E(m, v) of 2.2 on the packed rows a, b, c, d.

    Each round is the paper's round function: G_0..G_3 on the columns
    (v0,v4,v8,v12) .. (v3,v7,v11,v15), then G_4..G_7 on the diagonals (v0,v5,v10,v15),
    (v1,v6,v11,v12), (v2,v7,v8,v13), (v3,v4,v9,v14), where G_i(a, b, c, d) is::

        a = a + b + m[2i]       d = (d ^ a) >>> 16      c = c + d      b = (b ^ c) >>> 12
        a = a + b + m[2i+1]     d = (d ^ a) >>> 8       c = c + d      b = (b ^ c) >>> 7

    (additions modulo 2^32, >>> a right rotation of the 32-bit word). Lane i of each packed
    row is column i, so one pass of the G formulas is G_0..G_3 together. Rotating row b by
    one lane, c by two and d by three puts diagonal i in lane i for G_4..G_7, and the
    opposite rotations restore the columns. After each round the message words are permuted
    by MSG_PERMUTATION (after the seventh the permuted words are simply not used).
    """
    lanes = _ROW_LANES
    dup = _DOUBLE
    m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15 = m
    for _ in range(_ROUNDS):
        # Columns: G_0..G_3 with message words m0..m7.
        a = (a + b + (m0 | m2 << 64 | m4 << 128 | m6 << 192)) & lanes
        d = (d ^ a) * dup >> 16 & lanes
        c = (c + d) & lanes
        b = (b ^ c) * dup >> 12 & lanes
        a = (a + b + (m1 | m3 << 64 | m5 << 128 | m7 << 192)) & lanes
        d = (d ^ a) * dup >> 8 & lanes
        c = (c + d) & lanes
        b = (b ^ c) * dup >> 7 & lanes
        # Diagonalize: lane i of b, c, d takes v[4+(i+1)%4], v[8+(i+2)%4], v[12+(i+3)%4].
        b = (b >> 64 | b << 192) & lanes
        c = (c >> 128 | c << 128) & lanes
        d = (d >> 192 | d << 64) & lanes
        # Diagonals: G_4..G_7 with message words m8..m15.
        a = (a + b + (m8 | m10 << 64 | m12 << 128 | m14 << 192)) & lanes
        d = (d ^ a) * dup >> 16 & lanes
        c = (c + d) & lanes
        b = (b ^ c) * dup >> 12 & lanes
        a = (a + b + (m9 | m11 << 64 | m13 << 128 | m15 << 192)) & lanes
        d = (d ^ a) * dup >> 8 & lanes
        c = (c + d) & lanes
        b = (b ^ c) * dup >> 7 & lanes
        # Undiagonalize.
        b = (b >> 192 | b << 64) & lanes
        c = (c >> 128 | c << 128) & lanes
        d = (d >> 64 | d << 192) & lanes
        # The message permutation (MSG_PERMUTATION).
        m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15 = (
            m2, m6, m3, m10, m7, m0, m4, m13, m1, m11, m12, m5, m9, m14, m15, m8
        )  # fmt: skip
    return a, b, c, d


def _last_row(t: int, b: int, d: int) -> int:
    """Row v12..v15 of the initial state: t_0, t_1, b, d (2.2)."""
    return (t & _M32) | (t >> 32) << 64 | b << 128 | d << 192


def _chaining_value(h: Rows, m: Sequence[int], t: int, b: int, d: int) -> Rows:
    """The truncated compression function: h'_0..h'_7 = v'_i ^ v'_(i+8) (2.2)."""
    a, bb, c, dd = _permutation(h[0], h[1], _IV_ROW, _last_row(t, b, d), m)
    return a ^ c, bb ^ dd


def compress(h: Sequence[int], m: Sequence[int], t: int, b: int, d: int) -> Words:
    """The BLAKE3 compression function (2.2): 16 output words h'_0..h'_15.

    ``h`` is the 8-word input chaining value, ``m`` the 16-word message block, ``t`` the
    64-bit counter, ``b`` the number of input bytes in the block and ``d`` the flags. The
    state starts as the rows ``h0..h3``, ``h4..h7``, ``IV0..IV3``, ``t0 t1 b d``; after the
    seven rounds, ``h'_i = v'_i ^ v'_(i+8)`` and ``h'_(i+8) = v'_(i+8) ^ h_i`` for i < 8.
    The first eight words are the chaining value; all sixteen are output of the root node.
    """
    if len(h) != 8 or len(m) != 16:
        raise RefcryptoError(f"{_NAME}: compress takes 8 chaining-value words and 16 message words")
    hx, hy = _rows(h)
    a, bb, c, dd = _permutation(hx, hy, _IV_ROW, _last_row(t, b, d), m)
    return _unrow(a ^ c) + _unrow(bb ^ dd) + _unrow(c ^ hx) + _unrow(dd ^ hy)


# --- many chunks at once: word-sliced lanes (5.3, second approach) --------------------------


def _compress_lanes(
    h: Sequence[int],
    m: Sequence[int],
    t0: int,
    t1: int,
    b: int,
    d: int,
    iv: Sequence[int],
    mask: int,
) -> Words:
    """The truncated compression function on n states at once, one per 64-bit lane.

    Every argument holds one word per lane (``iv`` is IV_0..IV_3 repeated in every lane),
    ``mask`` is 2^32 - 1 in every lane. The code is the round function of 2.2 word for word
    (G_0..G_7 on v0..v15), each operation acting on all lanes.
    """
    dup = _DOUBLE
    v0, v1, v2, v3, v4, v5, v6, v7 = h
    v8, v9, v10, v11 = iv
    v12, v13, v14, v15 = t0, t1, b, d
    m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15 = m
    for _ in range(_ROUNDS):
        # G_0(v0, v4, v8, v12) with m0, m1
        v0 = (v0 + v4 + m0) & mask
        v12 = (v12 ^ v0) * dup >> 16 & mask
        v8 = (v8 + v12) & mask
        v4 = (v4 ^ v8) * dup >> 12 & mask
        v0 = (v0 + v4 + m1) & mask
        v12 = (v12 ^ v0) * dup >> 8 & mask
        v8 = (v8 + v12) & mask
        v4 = (v4 ^ v8) * dup >> 7 & mask
        # G_1(v1, v5, v9, v13) with m2, m3
        v1 = (v1 + v5 + m2) & mask
        v13 = (v13 ^ v1) * dup >> 16 & mask
        v9 = (v9 + v13) & mask
        v5 = (v5 ^ v9) * dup >> 12 & mask
        v1 = (v1 + v5 + m3) & mask
        v13 = (v13 ^ v1) * dup >> 8 & mask
        v9 = (v9 + v13) & mask
        v5 = (v5 ^ v9) * dup >> 7 & mask
        # G_2(v2, v6, v10, v14) with m4, m5
        v2 = (v2 + v6 + m4) & mask
        v14 = (v14 ^ v2) * dup >> 16 & mask
        v10 = (v10 + v14) & mask
        v6 = (v6 ^ v10) * dup >> 12 & mask
        v2 = (v2 + v6 + m5) & mask
        v14 = (v14 ^ v2) * dup >> 8 & mask
        v10 = (v10 + v14) & mask
        v6 = (v6 ^ v10) * dup >> 7 & mask
        # G_3(v3, v7, v11, v15) with m6, m7
        v3 = (v3 + v7 + m6) & mask
        v15 = (v15 ^ v3) * dup >> 16 & mask
        v11 = (v11 + v15) & mask
        v7 = (v7 ^ v11) * dup >> 12 & mask
        v3 = (v3 + v7 + m7) & mask
        v15 = (v15 ^ v3) * dup >> 8 & mask
        v11 = (v11 + v15) & mask
        v7 = (v7 ^ v11) * dup >> 7 & mask
        # G_4(v0, v5, v10, v15) with m8, m9
        v0 = (v0 + v5 + m8) & mask
        v15 = (v15 ^ v0) * dup >> 16 & mask
        v10 = (v10 + v15) & mask
        v5 = (v5 ^ v10) * dup >> 12 & mask
        v0 = (v0 + v5 + m9) & mask
        v15 = (v15 ^ v0) * dup >> 8 & mask
        v10 = (v10 + v15) & mask
        v5 = (v5 ^ v10) * dup >> 7 & mask
        # G_5(v1, v6, v11, v12) with m10, m11
        v1 = (v1 + v6 + m10) & mask
        v12 = (v12 ^ v1) * dup >> 16 & mask
        v11 = (v11 + v12) & mask
        v6 = (v6 ^ v11) * dup >> 12 & mask
        v1 = (v1 + v6 + m11) & mask
        v12 = (v12 ^ v1) * dup >> 8 & mask
        v11 = (v11 + v12) & mask
        v6 = (v6 ^ v11) * dup >> 7 & mask
        # G_6(v2, v7, v8, v13) with m12, m13
        v2 = (v2 + v7 + m12) & mask
        v13 = (v13 ^ v2) * dup >> 16 & mask
        v8 = (v8 + v13) & mask
        v7 = (v7 ^ v8) * dup >> 12 & mask
        v2 = (v2 + v7 + m13) & mask
        v13 = (v13 ^ v2) * dup >> 8 & mask
        v8 = (v8 + v13) & mask
        v7 = (v7 ^ v8) * dup >> 7 & mask
        # G_7(v3, v4, v9, v14) with m14, m15
        v3 = (v3 + v4 + m14) & mask
        v14 = (v14 ^ v3) * dup >> 16 & mask
        v9 = (v9 + v14) & mask
        v4 = (v4 ^ v9) * dup >> 12 & mask
        v3 = (v3 + v4 + m15) & mask
        v14 = (v14 ^ v3) * dup >> 8 & mask
        v9 = (v9 + v14) & mask
        v4 = (v4 ^ v9) * dup >> 7 & mask
        # The message permutation (MSG_PERMUTATION).
        m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15 = (
            m2, m6, m3, m10, m7, m0, m4, m13, m1, m11, m12, m5, m9, m14, m15, m8
        )  # fmt: skip
    return (v0 ^ v8, v1 ^ v9, v2 ^ v10, v3 ^ v11, v4 ^ v12, v5 ^ v13, v6 ^ v14, v7 ^ v15)


def _chunk_cvs_lanes(
    key: Words, flags: int, data: bytes | bytearray, start: int, counter: int, n: int
) -> list[Words]:
    """Chaining values of the n >= 2 whole chunks ``data[start : start + n*CHUNK_LEN]``,
    numbered ``counter``, ``counter + 1``, ... (2.4), compressed together in n lanes."""
    lane_bytes = 8 * n
    # Transpose: word u (0..255) of chunk k goes to bytes [u*8n + 8k, u*8n + 8k + 4) of
    # `spread`, so bytes [u*8n, (u+1)*8n) read little-endian are word u of all n chunks,
    # one per 64-bit lane (the upper four bytes of each lane stay zero).
    spread = bytearray(lane_bytes * (CHUNK_LEN // 4))
    for k in range(n):
        base = start + k * CHUNK_LEN
        for byte in range(4):
            spread[8 * k + byte :: lane_bytes] = data[base + byte : base + CHUNK_LEN : 4]
    from_bytes = int.from_bytes
    words = [
        from_bytes(spread[u * lane_bytes : (u + 1) * lane_bytes], "little")
        for u in range(CHUNK_LEN // 4)
    ]
    ones = from_bytes(b"\x01\x00\x00\x00\x00\x00\x00\x00" * n, "little")  # 1 in every lane
    mask = _M32 * ones
    iv = (IV[0] * ones, IV[1] * ones, IV[2] * ones, IV[3] * ones)
    t0 = from_bytes(
        b"".join(((counter + k) & _M32).to_bytes(8, "little") for k in range(n)), "little"
    )
    t1 = from_bytes(
        b"".join(((counter + k) >> 32).to_bytes(8, "little") for k in range(n)), "little"
    )
    block_len = BLOCK_LEN * ones
    h: Sequence[int] = tuple(word * ones for word in key)
    for i in range(_BLOCKS_PER_CHUNK):
        d = flags
        if i == 0:
            d |= CHUNK_START
        if i == _BLOCKS_PER_CHUNK - 1:
            d |= CHUNK_END
        h = _compress_lanes(h, words[16 * i : 16 * i + 16], t0, t1, block_len, d * ones, iv, mask)
    columns = [struct.unpack(f"<{n}Q", word.to_bytes(lane_bytes, "little")) for word in h]
    return list(zip(*columns, strict=True))


# --- the tree (2.1, 2.4, 2.5) and its incremental form (5.1) --------------------------------


def _parent_cv(key: Rows, flags: int, left: Words, right: Words) -> Words:
    """Chaining value of a parent node (2.5): the key as input CV, the children's CVs as
    the message, t = 0, b = 64, flag PARENT."""
    return _unrows(_chaining_value(key, left + right, 0, BLOCK_LEN, flags | PARENT))


class _Output:
    """The inputs of a node's last compression, kept so that it can be run as the root
    with ROOT set and any counter t (2.6)."""

    __slots__ = ("__weakref__", "block_len", "cv", "flags", "message")

    def __init__(self, cv: Rows, message: Words, block_len: int, flags: int) -> None:
        self.cv = cv
        self.message = message
        self.block_len = block_len
        self.flags = flags

    def root_bytes(self, length: int, seek: int) -> bytes:
        """Bytes ``seek .. seek + length`` of the root output stream (2.6): output block
        k is the full 16-word compression output with t = k and ROOT set."""
        hx, hy = self.cv
        m = self.message
        b = self.block_len
        d = self.flags | ROOT
        counter, skip = divmod(seek, BLOCK_LEN)
        out = bytearray()
        need = skip + length
        while len(out) < need:
            a, bb, c, dd = _permutation(hx, hy, _IV_ROW, _last_row(counter, b, d), m)
            lo = _unrow(a ^ c) + _unrow(bb ^ dd)
            if need - len(out) <= OUT_LEN:
                out += _PACK_CV(*lo)
            else:
                out += _PACK_OUTPUT(*lo, *_unrow(c ^ hx), *_unrow(dd ^ hy))
            counter += 1
        return bytes(out[skip:need])


def _chunk_end_output(key: Rows, flags: int, data: bytes) -> _Output:
    """The output node of a single chunk (at most CHUNK_LEN bytes, counter 0)."""
    cv = key
    blocks = max(1, -(-len(data) // BLOCK_LEN))
    start_flag = CHUNK_START
    for i in range(blocks - 1):
        m = _UNPACK_BLOCK(data[i * BLOCK_LEN : (i + 1) * BLOCK_LEN])
        cv = _chaining_value(cv, m, 0, BLOCK_LEN, flags | start_flag)
        start_flag = 0
    last = data[(blocks - 1) * BLOCK_LEN :]
    m = _UNPACK_BLOCK(last + _ZERO_BLOCK[len(last) :])
    return _Output(cv, m, len(last), flags | start_flag | CHUNK_END)


def _check_length(length: object, seek: object = 0) -> None:
    if not isinstance(length, int) or isinstance(length, bool):
        raise TypeError(f"{_NAME}: length must be an int, got {type(length).__name__}")
    if not isinstance(seek, int) or isinstance(seek, bool):
        raise TypeError(f"{_NAME}: seek must be an int, got {type(seek).__name__}")
    if length < 0:
        raise RefcryptoError(f"{_NAME}: length must be >= 0, got {length}")
    if seek < 0:
        raise RefcryptoError(f"{_NAME}: seek must be >= 0, got {seek}")
    if seek + length > _MAX_OUTPUT:
        raise RefcryptoError(
            f"{_NAME}: the output stream ends at 2**64 bytes; seek + length is {seek + length}"
        )


def _bytes_of(value: object, name: str) -> bytes | bytearray:
    """``value`` as bytes (a memoryview by its bytes, whatever its format), or TypeError."""
    if isinstance(value, (bytes, bytearray)):
        return value
    try:
        view = memoryview(value)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(
            f"{_NAME}: {name} must be a bytes-like object, got {type(value).__name__}"
        ) from None
    with view:
        return view.tobytes()


def _key_rows(key: object) -> Rows:
    raw = _bytes_of(key, "key")
    if len(raw) != KEY_LEN:
        raise InvalidKeySize(f"{_NAME}: key must be {KEY_LEN} bytes, got {len(raw)}")
    return _rows(struct.unpack("<8I", raw))


@functools.lru_cache(maxsize=_CONTEXT_CACHE)
def _context_key(context: str) -> Rows:
    """derive_key's first stage (2.3): the context string hashed with the IV as key and
    DERIVE_KEY_CONTEXT set; its first 8 output words key the second stage."""
    try:
        encoded = context.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise RefcryptoError(
            f"{_NAME}: context must be encodable as UTF-8 ({exc.reason})"
        ) from None
    root = _root_output(_IV_KEY, DERIVE_KEY_CONTEXT, encoded)
    return _rows(struct.unpack("<8I", root.root_bytes(KEY_LEN, 0)))


def _check_context(context: object) -> str:
    if not isinstance(context, str):
        raise TypeError(f"{_NAME}: context must be a str, got {type(context).__name__}")
    return context


#: The key words of the hash mode and of derive_key's first stage: IV_0..IV_7 (2.3).
_IV_KEY: Rows = _rows(IV)


class Blake3Hasher:
    """Incremental BLAKE3 (5.1): ``update`` any number of times, ``digest`` at any point.

    ``Blake3Hasher()`` is the hash mode, ``Blake3Hasher(key)`` keyed_hash (32-byte key),
    ``Blake3Hasher(context="...")`` derive_key with that context string (the key material
    then comes through ``update``). ``digest(length, seek=s)`` returns bytes s .. s+length
    of the output stream and leaves the hasher as it was.

    State (5.1.1, 5.1.2): the chaining value of the current chunk after its first
    ``_blocks`` blocks, the input not yet compressed (at most one block once ``update``
    returns: a block is compressed only when more input follows it, since the last block
    is compressed differently), the number of finished chunks, and the stack of chaining
    values of completed subtrees, one per 1-bit of that number.
    """

    __slots__ = ("__weakref__", "_blocks", "_buf", "_chunks", "_cv", "_flags", "_key", "_stack")

    _key: Rows
    _flags: int
    _cv: Rows
    _blocks: int
    _buf: bytearray
    _chunks: int
    _stack: list[Words]

    def __init__(self, key: Buffer | None = None, *, context: str | None = None) -> None:
        if key is not None and context is not None:
            raise TypeError(f"{_NAME}: give a key (keyed_hash) or a context (derive_key), not both")
        if context is not None:
            key_rows = _context_key(_check_context(context))
            flags = DERIVE_KEY_MATERIAL
        elif key is not None:
            key_rows = _key_rows(key)
            flags = KEYED_HASH
        else:
            key_rows = _IV_KEY
            flags = 0
        self._start(key_rows, flags)

    def _start(self, key: Rows, flags: int) -> None:
        self._key = key
        self._flags = flags
        self._cv = key
        self._blocks = 0
        self._buf = bytearray()
        self._chunks = 0
        self._stack = []

    @classmethod
    def _new(cls, key: Rows, flags: int) -> Blake3Hasher:
        hasher = cls.__new__(cls)
        hasher._start(key, flags)
        return hasher

    def copy(self) -> Blake3Hasher:
        """An independent hasher in the same state."""
        other = Blake3Hasher._new(self._key, self._flags)
        other._cv = self._cv
        other._blocks = self._blocks
        other._buf = bytearray(self._buf)
        other._chunks = self._chunks
        other._stack = list(self._stack)
        return other

    def update(self, data: Buffer) -> None:
        """Absorb ``data`` (any bytes-like object)."""
        raw = _bytes_of(data, "data")
        if not raw:
            return
        buf = self._buf
        buf += raw
        if len(buf) <= BLOCK_LEN:
            return
        key = self._key
        flags = self._flags
        pos = 0
        end = len(buf)
        while end - pos > BLOCK_LEN:
            if self._blocks == 0 and end - pos > CHUNK_LEN:
                # Whole chunks with input after them: none of them is the root (2.4, 5.1.1).
                n = min((end - pos - 1) // CHUNK_LEN, _MAX_LANES)
                if n < _MIN_LANES:
                    n = 1
                    cvs = [self._one_chunk_cv(buf, pos)]
                else:
                    cvs = _chunk_cvs_lanes(_unrows(key), flags, buf, pos, self._chunks, n)
                for cv in cvs:
                    self._push_chunk_cv(cv)
                pos += n * CHUNK_LEN
                continue
            # Blocks of the current chunk that have input after them.
            count = min(_BLOCKS_PER_CHUNK - self._blocks, (end - pos - 1) // BLOCK_LEN)
            cv = self._cv
            for _ in range(count):
                d = flags
                if self._blocks == 0:
                    d |= CHUNK_START
                if self._blocks == _BLOCKS_PER_CHUNK - 1:
                    d |= CHUNK_END
                m = _UNPACK_BLOCK(buf[pos : pos + BLOCK_LEN])
                cv = _chaining_value(cv, m, self._chunks, BLOCK_LEN, d)
                pos += BLOCK_LEN
                self._blocks += 1
            if self._blocks == _BLOCKS_PER_CHUNK:
                self._push_chunk_cv(_unrows(cv))
                cv = key
                self._blocks = 0
            self._cv = cv
        del buf[:pos]

    def _one_chunk_cv(self, buf: bytearray, pos: int) -> Words:
        words = _UNPACK_CHUNK(buf[pos : pos + CHUNK_LEN])
        cv = self._key
        for i in range(_BLOCKS_PER_CHUNK):
            d = self._flags
            if i == 0:
                d |= CHUNK_START
            if i == _BLOCKS_PER_CHUNK - 1:
                d |= CHUNK_END
            cv = _chaining_value(cv, words[16 * i : 16 * i + 16], self._chunks, BLOCK_LEN, d)
        return _unrows(cv)

    def _push_chunk_cv(self, cv: Words) -> None:
        """Add a finished chunk's CV to the tree (5.1.2): for each trailing 0-bit of the new
        number of chunks, a subtree is complete; merge it with the CV on top of the stack."""
        self._chunks += 1
        total = self._chunks
        stack = self._stack
        while total & 1 == 0:
            cv = _parent_cv(self._key, self._flags, stack.pop(), cv)
            total >>= 1
        stack.append(cv)

    def _root(self) -> _Output:
        """The root node (2.1): the current chunk's last block, merged with every CV on the
        stack from the top (right) down; the last parent is the root, or the chunk if the
        stack is empty. Nothing in ``self`` changes."""
        buf = bytes(self._buf)
        d = self._flags | CHUNK_END
        if self._blocks == 0:
            d |= CHUNK_START
        node = _Output(self._cv, _UNPACK_BLOCK(buf + _ZERO_BLOCK[len(buf) :]), len(buf), d)
        counter = self._chunks
        for left in reversed(self._stack):
            right = _unrows(
                _chaining_value(node.cv, node.message, counter, node.block_len, node.flags)
            )
            node = _Output(self._key, left + right, BLOCK_LEN, self._flags | PARENT)
            counter = 0
        return node

    def digest(self, length: int = OUT_LEN, *, seek: int = 0) -> bytes:
        """Bytes ``seek .. seek + length`` of the output (2.6); the hasher stays usable."""
        _check_length(length, seek)
        if length == 0:
            return b""
        return self._root().root_bytes(length, seek)


def _root_output(key: Rows, flags: int, data: bytes | bytearray) -> _Output:
    if len(data) <= CHUNK_LEN:
        return _chunk_end_output(key, flags, bytes(data))
    hasher = Blake3Hasher._new(key, flags)
    hasher.update(data)
    return hasher._root()


def _oneshot(key: Rows, flags: int, data: bytes | bytearray, length: int) -> bytes:
    if length == 0:
        return b""
    size = len(data)
    if size <= BLOCK_LEN and length <= OUT_LEN:
        # The common key-derivation case: one block, which is the whole (root) chunk, and
        # one output block of which only the chaining-value half is needed (2.4, 2.6).
        m = _UNPACK_BLOCK(data + _ZERO_BLOCK[size:]) if size < BLOCK_LEN else _UNPACK_BLOCK(data)
        d = flags | CHUNK_START | CHUNK_END | ROOT
        a, b, c, dd = _permutation(key[0], key[1], _IV_ROW, size << 128 | d << 192, m)
        return _PACK_CV(*_unrow(a ^ c), *_unrow(b ^ dd))[:length]
    return _root_output(key, flags, data).root_bytes(length, 0)


def blake3(data: Buffer, length: int = OUT_LEN) -> bytes:
    """BLAKE3 ``hash`` mode (2.3): ``length`` bytes of output (32 by default)."""
    raw = _bytes_of(data, "data")
    _check_length(length)
    return _oneshot(_IV_KEY, 0, raw, length)


def keyed_hash(key: Buffer, data: Buffer, length: int = OUT_LEN) -> bytes:
    """BLAKE3 ``keyed_hash`` mode (2.3): the 32-byte key as key words, KEYED_HASH set."""
    key_rows = _key_rows(key)
    raw = _bytes_of(data, "data")
    _check_length(length)
    return _oneshot(key_rows, KEYED_HASH, raw, length)


def derive_key(context: str, key_material: Buffer, length: int = OUT_LEN) -> bytes:
    """BLAKE3 ``derive_key`` mode (2.3): the key material hashed with the context key
    (the first 32 bytes of the context string's hash under DERIVE_KEY_CONTEXT) as key
    words and DERIVE_KEY_MATERIAL set."""
    key_rows = _context_key(_check_context(context))
    raw = _bytes_of(key_material, "key_material")
    _check_length(length)
    return _oneshot(key_rows, DERIVE_KEY_MATERIAL, raw, length)
