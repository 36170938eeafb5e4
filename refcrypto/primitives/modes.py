"""CFB, OFB and CTR (NIST SP 800-38A) over any refcrypto block cipher.

Every mode here is a :class:`~.base.Stream`: ``update(data)`` returns exactly ``len(data)``
bytes and keeps its state, so ``update(a) + update(b) == update(a + b)`` for every split,
empty updates included. The block cipher is any object with ``block_size`` and
``encrypt_block`` / ``encrypt_blocks`` (:class:`~.base.BlockCipher`): the pycryptodome
adapters of :mod:`.blocks` or the pure-Python Camellia, SEED and IDEA.

* :class:`CFB` -- cipher feedback, SP 800-38A section 6.3, with 1-bit, 8-bit or full-block
  segments. Full-block CFB treats a partial last segment the way OpenSSL's ``aes-*-cfb``,
  ``bf-cfb`` ... do (Shadowsocks' ``*-cfb`` methods): keystream bytes are used one at a
  time and the feedback register is completed as ciphertext bytes arrive, across calls.
  CFB-1 reads each byte most significant bit first, as OpenSSL's ``*-cfb1`` byte API does.
* :class:`OFB` -- output feedback, section 6.4.
* :class:`CTR` -- counter mode, section 6.5; the IV is the whole initial counter block,
  incremented as one big-endian ``8 * block_size``-bit integer modulo its size (OpenSSL's
  ``aes-*-ctr``; the SP 800-38A F.5, RFC 3686 and RFC 5528 vectors use it that way).
* :func:`cfb1_bits` -- CFB-1 on a string of ``'0'``/``'1'`` characters, for the NIST CAVP
  CFB1 files, whose messages are bit strings of any length.

A wrong IV length raises :class:`~refcrypto.errors.InvalidIVSize`; an unsupported segment
size raises :class:`~refcrypto.errors.RefcryptoError`.

Speed. Block ciphers may be slow pure-Python ones and a pycryptodome call has a fixed cost
(about 2.4 us here, as much as ~1000 AES blocks of work), so every mode batches what it can
into ONE ``encrypt_blocks`` call per ``update``:

* CTR: all counter blocks are known; OFB's chain is inherently serial (one block at a time).
* CFB decryption: every cipher input is the IV or earlier ciphertext, all known up front.
* CFB encryption is serial (the next input is the ciphertext just produced), so full-block
  and 8-bit CFB encryption go block by block in a tight loop. CFB-1 encryption over a
  cipher whose batch calls are cheap speculates instead (see :class:`_CFB1Encryptor`).
XOR of whole messages is done on Python integers (``int.from_bytes`` / ``to_bytes``),
which runs in C, instead of a Python loop over bytes.

Objects hold no reference to themselves (``__slots__``, no closures over ``self``); a
stored ``encrypt_blocks`` is a bound method of the *cipher* object, which is fine.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from ..errors import InvalidIVSize, RefcryptoError
from .base import BlockCipher, Buffer, bytes_of

__all__ = ["CFB", "CTR", "OFB", "cfb1_bits"]

_Transform = Callable[[bytes], bytes]

#: CFB-1 decryption builds 8 * block_size bytes of cipher input per ciphertext byte; writes
#: longer than this many bytes are processed in pieces to bound memory (1 MiB for AES).
_CFB1_PIECE = 8192
#: CFB-8 decryption builds block_size bytes of cipher input per byte; same idea.
_CFB8_PIECE = 65536

#: Byte -> its most significant bit (0 or 1), for ``bytes.translate``.
_MSB = bytes(b >> 7 for b in range(256))
#: Single-byte bytes objects, to append one byte to a register without a call to bytes().
_BYTE = tuple(bytes((b,)) for b in range(256))


def _xor(a: bytes, b: bytes) -> bytes:
    """XOR two equal-length byte strings (one C-speed big-integer XOR)."""
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(len(a), "big")


def _check_iv(name: str, cipher: BlockCipher, iv: Buffer) -> bytes:
    size = cipher.block_size
    if len(iv) != size:
        raise InvalidIVSize(f"{name}: iv must be {size} bytes, got {len(iv)}")
    return bytes(iv)


def _window_inputs(src: bytes, n: int, bs: int) -> bytes:
    """The n sliding windows ``src[i : i + bs]`` (i = 0..n-1) as one byte string, in
    *residue order*: first every i with ``i % bs == 0``, then ``i % bs == 1``, and so on.

    These are the cipher inputs of CFB-8 and CFB-1 decryption. A loop over n windows would
    cost ~100 ns of Python per window; but the windows at ``i = r, r + bs, r + 2*bs, ...``
    do not overlap and sit end to end, so together they are simply the slice
    ``src[r : r + bs * count]``. All n windows are ``bs`` slices and one join, at memcpy
    speed. ECB does not care about block order; :func:`_residue_to_index_order` undoes
    the permutation on the outputs. ``src`` must hold at least ``n + bs - 1`` bytes.
    """
    return b"".join(src[r : r + bs * ((n - r + bs - 1) // bs)] for r in range(min(bs, n)))


def _residue_to_index_order(values: bytes, n: int, bs: int) -> bytes:
    """Reorder n per-window bytes from :func:`_window_inputs`' residue order to i order.

    The ``count`` values of residue r belong at ``i = r, r + bs, ...``: one strided slice
    assignment ``out[r::bs]`` per residue.
    """
    out = bytearray(n)
    start = 0
    for r in range(min(bs, n)):
        count = (n - r + bs - 1) // bs
        out[r::bs] = values[start : start + count]
        start += count
    return bytes(out)


# --------------------------------------------------------------------------------------
# CFB with full-block segments (SP 800-38A, 6.3 with s = b), stream-style partial segments
# --------------------------------------------------------------------------------------


class _CFBBlockEncryptor:
    """Full-block CFB encryption: C_j = P_j XOR CIPH_K(C_{j-1}), C_0 = IV (SP 800-38A 6.3).

    State: ``_reg`` is the next cipher input when no segment is open (``_pos == 0``);
    otherwise ``_ks`` is the open segment's keystream, ``_pos`` how many of its bytes are
    used and ``_seg`` the ciphertext bytes of it produced so far (the next register once
    complete).
    """

    __slots__ = ("__weakref__", "_bs", "_encrypt_block", "_ks", "_pos", "_reg", "_seg")

    def __init__(self, cipher: BlockCipher, iv: bytes) -> None:
        self._bs = cipher.block_size
        self._encrypt_block: _Transform = cipher.encrypt_block
        self._reg = iv
        self._ks = b""
        self._pos = 0
        self._seg = b""

    def update(self, data: bytes) -> bytes:
        n = len(data)
        bs = self._bs
        out: list[bytes] = []
        start = 0
        pos = self._pos
        if pos:  # finish the open segment first
            take = min(bs - pos, n)
            head = _xor(data[:take], self._ks[pos : pos + take])
            out.append(head)
            seg = self._seg + head
            pos += take
            if pos == bs:  # segment complete: its ciphertext is the next register
                self._reg = seg
                pos = 0
                seg = b""
            self._pos = pos
            self._seg = seg
            if take == n:
                return head
            start = take
        # Whole blocks: inherently serial. Locals and int XOR keep the loop short.
        end = start + (n - start) // bs * bs
        reg = self._reg
        encrypt = self._encrypt_block
        from_bytes = int.from_bytes
        for j in range(start, end, bs):
            reg = (from_bytes(encrypt(reg), "big") ^ from_bytes(data[j : j + bs], "big")).to_bytes(
                bs, "big"
            )
            out.append(reg)
        self._reg = reg
        if end < n:  # open a new segment with the tail
            ks = encrypt(reg)
            tail = _xor(data[end:], ks[: n - end])
            out.append(tail)
            self._ks = ks
            self._pos = n - end
            self._seg = tail
        return b"".join(out)


class _CFBBlockDecryptor:
    """Full-block CFB decryption: P_j = C_j XOR CIPH_K(C_{j-1}) (SP 800-38A 6.3).

    All cipher inputs are the register and ciphertext already received, so one
    ``encrypt_blocks`` call per update produces the whole keystream: the inputs for
    ``k = ceil(m / b)`` segments are ``register || C[0 : (k - 1) * b]``.
    """

    __slots__ = ("__weakref__", "_bs", "_encrypt_blocks", "_ks", "_pos", "_reg", "_seg")

    def __init__(self, cipher: BlockCipher, iv: bytes) -> None:
        self._bs = cipher.block_size
        self._encrypt_blocks: _Transform = cipher.encrypt_blocks
        self._reg = iv
        self._ks = b""
        self._pos = 0
        self._seg = b""

    def update(self, data: bytes) -> bytes:
        n = len(data)
        bs = self._bs
        head = b""
        pos = self._pos
        if pos:
            take = min(bs - pos, n)
            head = _xor(data[:take], self._ks[pos : pos + take])
            seg = self._seg + data[:take]
            pos += take
            if pos == bs:
                self._reg = seg
                pos = 0
                seg = b""
            self._pos = pos
            self._seg = seg
            if take == n:
                return head
            data = data[take:]
            n -= take
        segments = -(-n // bs)  # ceil(n / bs)
        last = (segments - 1) * bs  # where the last (possibly partial) segment starts
        ks = self._encrypt_blocks(self._reg + data[:last])
        body = (int.from_bytes(data, "big") ^ int.from_bytes(ks[:n], "big")).to_bytes(n, "big")
        if n - last == bs:
            self._reg = data[last:]
        else:
            self._ks = ks[last:]
            self._pos = n - last
            self._seg = data[last:]
        return head + body if head else body


# --------------------------------------------------------------------------------------
# CFB-8 (SP 800-38A 6.3 with s = 8)
# --------------------------------------------------------------------------------------


class _CFB8Encryptor:
    """CFB-8 encryption: one cipher call per byte, I_{j+1} = LSB_{b-8}(I_j) || C_j."""

    __slots__ = ("__weakref__", "_encrypt_block", "_reg")

    def __init__(self, cipher: BlockCipher, iv: bytes) -> None:
        self._encrypt_block: _Transform = cipher.encrypt_block
        self._reg = iv

    def update(self, data: bytes) -> bytes:
        out = bytearray(len(data))
        reg = self._reg
        encrypt = self._encrypt_block
        byte = _BYTE
        for i, p in enumerate(data):
            c = encrypt(reg)[0] ^ p
            out[i] = c
            reg = reg[1:] + byte[c]
        self._reg = reg
        return bytes(out)


class _CFB8Decryptor:
    """CFB-8 decryption with one ``encrypt_blocks`` call per update.

    The cipher input for byte i is the ``b``-byte window ``H[i : i + b]`` of
    ``H = register || ciphertext`` (SP 800-38A 6.3: I_j = LSB_{b-8}(I_{j-1}) || C#_{j-1}).
    :func:`_window_inputs` lays all n windows end to end at C speed; the keystream byte of
    each block is its first output byte, ``out[::b]``. Writes over 64 KiB go in pieces, to
    bound the ``b``-times-larger input buffer.
    """

    __slots__ = ("__weakref__", "_bs", "_encrypt_blocks", "_reg")

    def __init__(self, cipher: BlockCipher, iv: bytes) -> None:
        self._bs = cipher.block_size
        self._encrypt_blocks: _Transform = cipher.encrypt_blocks
        self._reg = iv

    def update(self, data: bytes) -> bytes:
        if len(data) > _CFB8_PIECE:
            return b"".join(
                self.update(data[i : i + _CFB8_PIECE]) for i in range(0, len(data), _CFB8_PIECE)
            )
        bs = self._bs
        hist = self._reg + data
        n = len(data)
        ks = self._encrypt_blocks(_window_inputs(hist, n, bs))[::bs]
        self._reg = hist[-bs:]
        return _xor(data, _residue_to_index_order(ks, n, bs))


# --------------------------------------------------------------------------------------
# CFB-1 (SP 800-38A 6.3 with s = 1), bytes read most significant bit first
# --------------------------------------------------------------------------------------


class _CFB1Decryptor:
    """CFB-1 decryption with one ``encrypt_blocks`` call per update.

    (Writes over 8 KiB go in 8 KiB pieces: the cipher input is ``8 * b`` times the data.)

    With ``H = register || ciphertext`` read as a bit string, the cipher input for bit
    ``j = 8*i + s`` (byte i, bit s counted from the most significant) is the ``8b``-bit
    window of H starting at bit j (SP 800-38A 6.3 with s = 1). Building all ``8n`` inputs
    at C speed:

    1. For each bit offset s in 0..7, shift the integer H left by s bits once and convert
       it back to bytes ``Y_s``; the byte-aligned ``b``-byte window of ``Y_s`` at byte i is
       exactly the window of H at bit ``8*i + s``.
    2. :func:`_window_inputs` gives the n windows of each ``Y_s`` (in residue order) with
       ``b`` slices; the eight results, one after the other, are the ``8n`` inputs.
    3. Encrypt them in one call. ``out[::b]`` is the first byte of each output block and
       ``translate`` maps it to its top bit (0 or 1): keystream bit (s, i) is byte
       ``s*n + rank(i)`` of that string, where rank is the residue-order position.
    4. Pack with integers: read the n bytes of offset s as one big integer and shift it
       left by ``7 - s``; each byte's 0/1 moves to bit ``7 - s`` of the same byte (no
       carries). OR-ing the eight gives the n keystream bytes, still in residue order;
       :func:`_residue_to_index_order` puts them in order.
    """

    __slots__ = ("__weakref__", "_bs", "_encrypt_blocks", "_reg")

    def __init__(self, cipher: BlockCipher, iv: bytes) -> None:
        self._bs = cipher.block_size
        self._encrypt_blocks: _Transform = cipher.encrypt_blocks
        self._reg = iv

    def update(self, data: bytes) -> bytes:
        if len(data) > _CFB1_PIECE:
            return b"".join(
                self.update(data[i : i + _CFB1_PIECE]) for i in range(0, len(data), _CFB1_PIECE)
            )
        n = len(data)
        bs = self._bs
        hist = self._reg + data
        size = bs + n
        whole = int.from_bytes(hist, "big")
        # (whole << s).to_bytes(size + 1)[1:] is H shifted left by s bits (the byte dropped
        # holds the bits pushed out at the top).
        inputs = b"".join(
            _window_inputs((whole << s).to_bytes(size + 1, "big")[1:], n, bs) for s in range(8)
        )
        bits = self._encrypt_blocks(inputs)[::bs].translate(_MSB)
        from_bytes = int.from_bytes
        packed = 0
        for s in range(8):
            packed |= from_bytes(bits[s * n : s * n + n], "big") << (7 - s)
        ks = _residue_to_index_order(packed.to_bytes(n, "big"), n, bs)
        self._reg = hist[-bs:]
        return _xor(data, ks)


@cache
def _cfb1_last_bytes() -> tuple[bytes, ...]:
    """For each low register byte r, the last bytes of the 255 speculative cipher inputs.

    Level j (0..7) of the tree has the inputs ``(R << j) | v`` (mod 2^(8b)) for
    v = 0..2^j - 1. Their last byte is ``((r << j) & 0xFF) | v``: it depends only on the
    register's last byte r. Entry r is those 255 bytes in tree (heap) order.
    """
    return tuple(
        bytes(((r << j) & 0xFF) | v for j in range(8) for v in range(1 << j)) for r in range(256)
    )


class _CFB1Encryptor:
    """CFB-1 encryption, optionally speculative.

    Straight CFB-1 needs 8 serial cipher calls per byte, each input depending on the
    previous ciphertext bit; with pycryptodome a call costs ~2.4 us, which caps it near
    50 KB/s. Speculation makes it one call per byte:

    Within one plaintext byte, after j of its bits the register is
    ``R_j = (R << j | v) mod 2^(8b)`` where v is the j ciphertext bits produced so far. All
    possible inputs form a binary tree of depth 8 with 2^j nodes on level j, 255 in all.
    Number them in heap order (root 0, children of node i are 2i+1 for bit 0 and 2i+2 for
    bit 1; level j starts at 2^j - 1). Build the 255 inputs at C speed -- level j is the
    block ``(R << j) mod 2^(8b)`` repeated 2^j times (one bytes multiplication), and the
    last byte of every block, which is where v goes, is written by one strided slice
    assignment from a table indexed by R's last byte (:func:`_cfb1_last_bytes`) -- encrypt
    them in ONE ``encrypt_blocks`` call (4080 bytes for AES), then walk the tree with the
    plaintext bits: at node i the keystream bit is the top bit of that node's output, the
    ciphertext bit picks the child, and after 8 steps the leaf index minus 255 is the
    ciphertext byte.

    Speculation costs 255 block encryptions instead of 8, so it only pays when a batch
    call's fixed cost dominates (pycryptodome). With ``speculate=False`` it runs 8 calls of
    one block per byte, the better choice for pure-Python ciphers.
    """

    __slots__ = ("__weakref__", "_bs", "_encrypt_blocks", "_mask", "_reg", "_speculate")

    def __init__(self, cipher: BlockCipher, iv: bytes, speculate: bool) -> None:
        self._bs = cipher.block_size
        self._encrypt_blocks: _Transform = cipher.encrypt_blocks
        self._mask = (1 << (8 * self._bs)) - 1
        self._reg = int.from_bytes(iv, "big")
        self._speculate = speculate

    def update(self, data: bytes) -> bytes:
        if self._speculate:
            return self._update_speculative(data)
        return self._update_serial(data)

    def _update_serial(self, data: bytes) -> bytes:
        bs = self._bs
        mask = self._mask
        reg = self._reg
        encrypt = self._encrypt_blocks
        out = bytearray(len(data))
        for i, p in enumerate(data):
            c = 0
            for shift in (7, 6, 5, 4, 3, 2, 1, 0):
                bit = (p >> shift & 1) ^ (encrypt(reg.to_bytes(bs, "big"))[0] >> 7)
                c = c << 1 | bit
                reg = (reg << 1 | bit) & mask
            out[i] = c
        self._reg = reg
        return bytes(out)

    def _update_speculative(self, data: bytes) -> bytes:
        bs = self._bs
        mask = self._mask
        reg = self._reg
        encrypt = self._encrypt_blocks
        last_bytes = _cfb1_last_bytes()
        last_column = slice(bs - 1, None, bs)
        join = bytearray().join  # builds a mutable buffer directly, for the patch below
        out = bytearray(len(data))
        for i, p in enumerate(data):
            # Level j of the tree: the block (R << j) mod 2^(8b), 2^j times.
            buf = join(
                (
                    reg.to_bytes(bs, "big"),
                    (reg << 1 & mask).to_bytes(bs, "big") * 2,
                    (reg << 2 & mask).to_bytes(bs, "big") * 4,
                    (reg << 3 & mask).to_bytes(bs, "big") * 8,
                    (reg << 4 & mask).to_bytes(bs, "big") * 16,
                    (reg << 5 & mask).to_bytes(bs, "big") * 32,
                    (reg << 6 & mask).to_bytes(bs, "big") * 64,
                    (reg << 7 & mask).to_bytes(bs, "big") * 128,
                )
            )
            buf[last_column] = last_bytes[reg & 0xFF]  # OR in v (the bits so far)
            m = encrypt(bytes(buf))[::bs]  # first output byte of each of the 255 nodes
            # Walk: ciphertext bit = plaintext bit XOR top bit of the node's output.
            node = 1 + ((p >> 7) ^ (m[0] >> 7))
            node = 2 * node + 1 + ((p >> 6 & 1) ^ (m[node] >> 7))
            node = 2 * node + 1 + ((p >> 5 & 1) ^ (m[node] >> 7))
            node = 2 * node + 1 + ((p >> 4 & 1) ^ (m[node] >> 7))
            node = 2 * node + 1 + ((p >> 3 & 1) ^ (m[node] >> 7))
            node = 2 * node + 1 + ((p >> 2 & 1) ^ (m[node] >> 7))
            node = 2 * node + 1 + ((p >> 1 & 1) ^ (m[node] >> 7))
            node = 2 * node + 1 + ((p & 1) ^ (m[node] >> 7))
            c = node - 255  # leaves are numbered 255..510
            out[i] = c
            reg = (reg << 8 | c) & mask
        self._reg = reg
        return bytes(out)


# --------------------------------------------------------------------------------------
# Public classes
# --------------------------------------------------------------------------------------


class CFB:
    """Cipher feedback mode (NIST SP 800-38A, 6.3), one direction.

    ``CFB(cipher, iv, *, segment_bits, decrypt, speculate=None)``:

    * ``cipher`` -- a keyed :class:`~.base.BlockCipher`; ``iv`` -- ``block_size`` bytes.
    * ``segment_bits`` -- 1, 8 or ``8 * block_size``. Full-block segments handle a partial
      last segment stream-style, as OpenSSL does (so the Shadowsocks ``*-cfb`` methods can
      send any length per write); CFB-1 takes each byte most significant bit first.
    * ``decrypt`` -- False to encrypt, True to decrypt. (Unlike OFB and CTR, CFB is not
      symmetric: the feedback is always the ciphertext.)
    * ``speculate`` -- CFB-1 encryption only: one batch call of 255 blocks per byte instead
      of 8 calls of one block (see :class:`_CFB1Encryptor`). The default (None) speculates
      when ``cipher`` says its ``encrypt_blocks`` runs in C (``ecb_in_c = True``, as the
      :mod:`.blocks` adapters do). Output is identical either way.

    ``update(data)`` returns ``len(data)`` bytes; the state carries across calls.
    """

    __slots__ = ("__weakref__", "_update", "block_size", "decrypting", "segment_bits")

    def __init__(
        self,
        cipher: BlockCipher,
        iv: Buffer,
        *,
        segment_bits: int,
        decrypt: bool,
        speculate: bool | None = None,
    ) -> None:
        raw_iv = _check_iv("cfb", cipher, iv)
        bs = cipher.block_size
        update: _Transform
        if segment_bits == 8 * bs:
            if decrypt:
                update = _CFBBlockDecryptor(cipher, raw_iv).update
            else:
                update = _CFBBlockEncryptor(cipher, raw_iv).update
        elif segment_bits == 8:
            if decrypt:
                update = _CFB8Decryptor(cipher, raw_iv).update
            else:
                update = _CFB8Encryptor(cipher, raw_iv).update
        elif segment_bits == 1:
            if decrypt:
                update = _CFB1Decryptor(cipher, raw_iv).update
            else:
                if speculate is None:
                    speculate = bool(getattr(cipher, "ecb_in_c", False))
                update = _CFB1Encryptor(cipher, raw_iv, speculate).update
        else:
            raise RefcryptoError(f"cfb: segment_bits must be 1, 8 or {8 * bs}, got {segment_bits}")
        # A bound method of the engine (another object), so no reference cycle.
        self._update = update
        #: Block length of the underlying cipher, in bytes.
        self.block_size = bs
        #: Segment size s in bits (SP 800-38A): 1, 8 or 8 * block_size.
        self.segment_bits = segment_bits
        #: True for a decryptor.
        self.decrypting = decrypt

    def update(self, data: Buffer) -> bytes:
        """Encrypt or decrypt ``data``; returns as many bytes as were given."""
        if type(data) is not bytes:
            data = bytes_of(data, "cfb: data")
        if not data:
            return b""
        return self._update(data)


class _KeystreamMode:
    """Shared body of OFB and CTR: XOR with a keystream, unused keystream kept for later."""

    __slots__ = ("__weakref__", "_bs", "_left")

    def __init__(self, cipher: BlockCipher) -> None:
        self._bs = cipher.block_size
        self._left = b""  # keystream bytes produced but not used yet (< block_size)

    def _keystream(self, blocks: int) -> bytes:
        raise NotImplementedError

    def update(self, data: Buffer) -> bytes:
        """XOR ``data`` with the next ``len(data)`` keystream bytes."""
        if type(data) is not bytes:
            data = bytes_of(data, "keystream mode: data")
        n = len(data)
        if not n:
            return b""
        left = self._left
        if n <= len(left):
            ks = left[:n]
            self._left = left[n:]
        else:
            blocks = -(-(n - len(left)) // self._bs)
            stream = left + self._keystream(blocks)
            ks = stream[:n]
            self._left = stream[n:]
        return (int.from_bytes(data, "big") ^ int.from_bytes(ks, "big")).to_bytes(n, "big")


class OFB(_KeystreamMode):
    """Output feedback mode (NIST SP 800-38A, 6.4): ``OFB(cipher, iv)``.

    O_1 = CIPH_K(IV), O_j = CIPH_K(O_{j-1}); the data is XORed with O_1 || O_2 || ...
    The same object encrypts and decrypts. A partial block's unused keystream is kept for
    the next ``update``. The chain is serial, so one ``encrypt_block`` call per block.
    """

    __slots__ = ("_encrypt_block", "_out")

    def __init__(self, cipher: BlockCipher, iv: Buffer) -> None:
        self._out = _check_iv("ofb", cipher, iv)
        super().__init__(cipher)
        self._encrypt_block: _Transform = cipher.encrypt_block

    def _keystream(self, blocks: int) -> bytes:
        encrypt = self._encrypt_block
        out = self._out
        parts = []
        for _ in range(blocks):
            out = encrypt(out)
            parts.append(out)
        self._out = out
        return b"".join(parts)


class CTR(_KeystreamMode):
    """Counter mode (NIST SP 800-38A, 6.5): ``CTR(cipher, iv)``.

    ``iv`` is the whole initial counter block T_1; T_{j+1} = T_j + 1 as one big-endian
    ``8 * block_size``-bit integer, wrapping to zero after all ones (SP 800-38A B.1's
    standard incrementing function with m = b; OpenSSL ``aes-*-ctr``, pycryptodome
    ``MODE_CTR`` with ``nonce=b''`` and ``initial_value=iv``). The same object encrypts and
    decrypts. Every update encrypts all the counter blocks it needs in one
    ``encrypt_blocks`` call.
    """

    __slots__ = ("_counter", "_encrypt_blocks", "_modulus")

    def __init__(self, cipher: BlockCipher, iv: Buffer) -> None:
        self._counter = int.from_bytes(_check_iv("ctr", cipher, iv), "big")
        super().__init__(cipher)
        self._modulus = 1 << (8 * self._bs)
        self._encrypt_blocks: _Transform = cipher.encrypt_blocks

    def _keystream(self, blocks: int) -> bytes:
        bs = self._bs
        first = self._counter
        modulus = self._modulus
        if first + blocks <= modulus:  # no wrap: consecutive integers
            counters = b"".join((first + i).to_bytes(bs, "big") for i in range(blocks))
        else:
            counters = b"".join(((first + i) % modulus).to_bytes(bs, "big") for i in range(blocks))
        self._counter = (first + blocks) % modulus
        return self._encrypt_blocks(counters)


def cfb1_bits(cipher: BlockCipher, iv: Buffer, bits: str, *, decrypt: bool) -> str:
    """CFB-1 (NIST SP 800-38A, 6.3, s = 1) on a bit string, one cipher call per bit.

    ``bits`` is a string of ``'0'``/``'1'`` characters of any length (as in the NIST CAVP
    CFB1 files); the result is the same length. I_1 = IV,
    I_j = LSB_{b-1}(I_{j-1}) || C#_{j-1}, O_j = CIPH_K(I_j), C#_j = P#_j XOR MSB_1(O_j).
    A reference for tests, not a fast path (use :class:`CFB` for bytes).
    """
    raw_iv = _check_iv("cfb1", cipher, iv)
    if bits.strip("01"):
        raise RefcryptoError(f"cfb1_bits: bits must contain only '0' and '1', got {bits!r}")
    bs = cipher.block_size
    mask = (1 << (8 * bs)) - 1
    reg = int.from_bytes(raw_iv, "big")
    out = []
    for ch in bits:
        bit = 1 if ch == "1" else 0
        result = bit ^ (cipher.encrypt_block(reg.to_bytes(bs, "big"))[0] >> 7)
        feedback = bit if decrypt else result
        reg = (reg << 1 | feedback) & mask
        out.append("1" if result else "0")
    return "".join(out)
