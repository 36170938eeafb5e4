"""The ``table`` method: a password-derived byte substitution (Shadowsocks 1.x).

Construction (shadowsocks/shadowsocks ``shadowsocks/crypto/table.py``;
docs/methods-and-wire-formats.md, "table"):

1. ``H = MD5(password)``; ``a`` = the first 8 bytes of ``H`` as a little-endian integer.
2. ``T = [0, 1, ..., 255]``.
3. For ``i = 1 .. 1023``: sort ``T`` with a **stable** sort keyed by ``a mod (x + i)``
   (ties keep the previous pass's order; Python's ``list.sort`` is stable).
4. Encryption maps byte ``p`` to ``T[p]``; decryption is the inverse permutation.

This is not encryption in any modern sense (a fixed substitution, no IV): it exists so that
refcrypto covers every name of the table, and it is marked legacy.
"""

from __future__ import annotations

from functools import lru_cache

from Crypto.Hash import MD5

from .base import Buffer, Stream, bytes_of

__all__ = ["TABLE_PASSES", "TableStream", "build_tables", "table"]

#: Number of stable re-sorting passes (``for i in range(1, 1024)``).
TABLE_PASSES = 1023

#: Cached table pairs; building one costs 1023 sorts, so servers want it once per password.
TABLE_CACHE_SIZE = 64


@lru_cache(maxsize=TABLE_CACHE_SIZE)
def build_tables(password: bytes) -> tuple[bytes, bytes]:
    """Return ``(encrypt_table, decrypt_table)`` for ``password`` as 256-byte translate tables."""
    a = int.from_bytes(MD5.new(password).digest()[:8], "little")
    order = list(range(256))
    for i in range(1, TABLE_PASSES + 1):
        order.sort(key=lambda x: a % (x + i))
    encrypt_table = bytes(order)
    decrypt_table = bytearray(256)
    for plain, cipher in enumerate(encrypt_table):
        decrypt_table[cipher] = plain
    return encrypt_table, bytes(decrypt_table)


class TableStream:
    """One direction of the ``table`` method: a byte-wise translate, stateless."""

    __slots__ = ("__weakref__", "_table")

    def __init__(self, password: bytes, decrypt: bool) -> None:
        encrypt_table, decrypt_table = build_tables(bytes(password))
        self._table = decrypt_table if decrypt else encrypt_table

    def update(self, data: Buffer) -> bytes:
        return bytes_of(data, "table: data").translate(self._table)


def table(key: bytes, iv: bytes, decrypt: bool) -> Stream:
    """Stream factory for ``table``: ``key`` is the raw password (key size 0 in the table)."""
    return TableStream(key, decrypt)
