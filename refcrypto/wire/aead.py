"""TCP codec for AEAD methods: SIP004 chunks under a SIP007 session subkey (sans-I/O).

::

    +--------+--------------------------+---------+-------------------------+---------+
    |  salt  | sealed length (2 B, BE)  | tag 16B | sealed payload (<= 16383)| tag 16B | ...
    | key_sz |   nonce n                |         |   nonce n + 1            |         |
    +--------+--------------------------+---------+-------------------------+---------+

* subkey = HKDF-SHA1(master key, salt, ``ss-subkey``) (SIP007);
* the nonce is ``nonce_size`` bytes, a little-endian counter from zero, incremented after
  every seal or open, so each chunk consumes two nonces;
* the length is 14 bits: 1 .. 0x3FFF. Python shadowsocks rejects a length of zero or one with
  the two reserved high bits set, and so does this decoder.

Spec: shadowsocks-org whitepaper (AEAD), SIP004 (shadowsocks-org #30), SIP007 (#42);
docs/methods-and-wire-formats.md, "AEAD (SIP004, SIP007)".
"""

from __future__ import annotations

from enum import Enum
from threading import Lock

from ..errors import (
    DecoderFailed,
    InvalidChunkLength,
    InvalidTag,
    RefcryptoError,
    TruncatedData,
)
from ..kdf import session_subkey
from ..methods import Method
from ..primitives.base import AEAD, Buffer, bytes_of
from ._guard import busy_error
from .source import OWN, Primitives

__all__ = [
    "LENGTH_SIZE",
    "MAX_CHUNK_PAYLOAD",
    "RESERVED_LENGTH_BITS",
    "AeadDecoder",
    "AeadEncoder",
]

#: Largest payload in one chunk (SIP004: the length field has 14 usable bits).
MAX_CHUNK_PAYLOAD = 0x3FFF
#: Bytes of the big-endian length field before sealing.
LENGTH_SIZE = 2
#: The two high bits of the length field, reserved and required to be zero.
RESERVED_LENGTH_BITS = 0xC000


class AeadEncoder:
    """Encrypts one direction of a TCP stream into ``salt || chunk || chunk ...``.

    The salt goes out with the first non-empty write; an empty write returns ``b""`` (a
    zero-length chunk would be rejected by every decoder). Writes longer than
    :data:`MAX_CHUNK_PAYLOAD` are split into several chunks. One thread at a time: a call
    entered while another thread's call is running raises
    :class:`~refcrypto.errors.ConcurrentUse` (two seals under one nonce would follow).
    """

    __slots__ = ("__weakref__", "_aead", "_busy", "_counter", "_prefix", "method", "salt")

    def __init__(
        self, method: Method, master_key: bytes, salt: bytes, *, backend: Primitives = OWN
    ) -> None:
        self.method = method
        self.salt = self._prefix = bytes(salt)  # the prefix is sent once, then emptied
        self._aead: AEAD = backend.new_aead(method, session_subkey(master_key, self.salt))
        self._counter = 0
        self._busy = Lock()

    @property
    def iv(self) -> bytes:
        """The salt, under the name stream encoders use."""
        return self.salt

    def update(self, data: Buffer) -> bytes:
        if type(data) is not bytes:
            data = bytes_of(data, f"{self.method.name}: data")
        if not data:
            return b""
        busy = self._busy
        if not busy.acquire(False):
            raise busy_error(self.method, "encoder")
        try:
            return self._seal(data)
        finally:
            busy.release()

    def _seal(self, data: bytes) -> bytes:
        size = len(data)
        seal = self._aead.seal
        nonce_size = self.method.nonce_size
        n = self._counter
        if size <= MAX_CHUNK_PAYLOAD:  # one chunk: the usual write
            self._counter = n + 2
            out = self._prefix + seal(n.to_bytes(nonce_size, "little"), size.to_bytes(2, "big"))
            self._prefix = b""
            return out + seal((n + 1).to_bytes(nonce_size, "little"), data)
        view = memoryview(data)
        pieces = [self._prefix]
        self._prefix = b""
        for start in range(0, size, MAX_CHUNK_PAYLOAD):
            payload = view[start : start + MAX_CHUNK_PAYLOAD]
            pieces.append(seal(n.to_bytes(nonce_size, "little"),
                               len(payload).to_bytes(LENGTH_SIZE, "big")))
            pieces.append(seal((n + 1).to_bytes(nonce_size, "little"), payload))
            n += 2
        self._counter = n
        return b"".join(pieces)


class _State(Enum):
    SALT = "waiting for the salt"
    LENGTH = "waiting for a length chunk"
    PAYLOAD = "waiting for a payload chunk"
    FAILED = "failed"


class AeadDecoder:
    """Decrypts one direction of a SIP004 TCP stream, for any split of its input.

    ``update`` returns the plaintext of every chunk completed and verified by this call;
    bytes of an incomplete chunk stay buffered. Nothing of a chunk is released before its
    tag has verified. The first failure (``InvalidTag``, ``InvalidChunkLength``) is raised,
    and from then on every call raises :class:`DecoderFailed`. When a call completes good
    chunks before the bad one, their plaintext is on the exception as ``plaintext``. One
    thread at a time, as :class:`AeadEncoder`.
    """

    __slots__ = (
        "__weakref__",
        "_aead",
        "_backend",
        "_buffer",
        "_busy",
        "_counter",
        "_failure",
        "_master_key",
        "_need",
        "_state",
        "method",
        "salt",
    )

    def __init__(self, method: Method, master_key: bytes, *, backend: Primitives = OWN) -> None:
        self.method = method
        self._backend = backend
        self._master_key = bytes(master_key)
        self._aead: AEAD | None = None
        self._counter = 0
        self._buffer = bytearray()
        self._state = _State.SALT
        self._need = method.salt_size
        self._failure: str | None = None
        self._busy = Lock()
        #: The peer's salt, once received.
        self.salt: bytes | None = None

    @property
    def pending(self) -> int:
        """Bytes received but not yet released (a partial salt or chunk)."""
        return len(self._buffer)

    def update(self, data: Buffer) -> bytes:
        if type(data) is not bytes:
            data = bytes_of(data, f"{self.method.name}: data")
        busy = self._busy
        if not busy.acquire(False):
            raise busy_error(self.method, "decoder")
        try:
            return self._open(data)
        finally:
            busy.release()

    def _open(self, data: bytes) -> bytes:
        if self._failure is not None:
            raise DecoderFailed(
                f"{self.method.name}: decoder refuses input after an earlier failure "
                f"({self._failure})",
                self._failure,
            )
        # The chunks are opened from an immutable bytes object, through memoryview slices (no
        # copy): the input itself when nothing is pending, else the pending bytes and the
        # input joined once enough has arrived to complete a salt or chunk. Bytes left over
        # wait in a bytearray; each input byte is copied a bounded number of times, so
        # buffering stays linear in the stream length however the input is split.
        buffer = self._buffer
        if buffer:
            buffer += data
            if len(buffer) < self._need:
                return b""
            source = bytes(buffer)
        else:
            source = data
        out: list[bytes] = []
        try:
            used = self._drain(source, out)
        except RefcryptoError as exc:
            # Keep a description, not the exception: its traceback holds this frame, and so
            # this decoder, which would make a reference cycle.
            self._failure = f"{type(exc).__name__}: {exc}"
            self._state = _State.FAILED
            self._buffer = bytearray()
            exc.plaintext = b"".join(out)
            raise
        if used < len(source):
            self._buffer = bytearray(memoryview(source)[used:])
        elif buffer:
            self._buffer = bytearray()
        return b"".join(out)

    def _drain(self, source: bytes, out: list[bytes]) -> int:
        """Open every salt and chunk complete in ``source``; return the bytes used."""
        view = memoryview(source)
        available = len(source)
        pos = 0
        need = self._need
        if self._state is _State.SALT:
            if available < need:
                return 0
            self.salt = source[:need]
            subkey = session_subkey(self._master_key, self.salt)
            self._aead = self._backend.new_aead(self.method, subkey)
            self._state, pos = _State.LENGTH, need
            need = self._need = LENGTH_SIZE + self.method.tag_size
        assert self._aead is not None
        open_ = self._aead.open
        tag_size = self.method.tag_size
        nonce_size = self.method.nonce_size
        counter = self._counter
        reading_length = self._state is _State.LENGTH
        try:
            while available - pos >= need:
                try:
                    plain = open_(counter.to_bytes(nonce_size, "little"), view[pos : pos + need])
                except InvalidTag:
                    what = "length" if reading_length else "payload"
                    raise InvalidTag(
                        f"{self.method.name}: {what} chunk with nonce {counter} "
                        "failed authentication (wrong password, or data altered)"
                    ) from None
                counter += 1
                pos += need
                if reading_length:
                    length = int.from_bytes(plain, "big")
                    if length == 0 or length & RESERVED_LENGTH_BITS:
                        raise InvalidChunkLength(
                            f"{self.method.name}: chunk length 0x{length:04x} is "
                            f"{'zero' if length == 0 else 'over 0x3FFF (reserved bits set)'}"
                        )
                    need = length + tag_size
                else:
                    out.append(plain)
                    need = LENGTH_SIZE + tag_size
                reading_length = not reading_length
        finally:
            self._counter = counter
            self._need = need
            self._state = _State.LENGTH if reading_length else _State.PAYLOAD
        return pos

    def finish(self) -> None:
        """Declare the end of the stream; raise :class:`TruncatedData` if it ended inside
        the salt or a chunk, or right after the salt (everything complete before that was
        already returned)."""
        if self._failure is not None:
            return
        # Complete: nothing received at all, or the last thing received was a whole payload
        # chunk. A salt alone is truncated too (encoders send it with the first chunk only).
        at_chunk_boundary = self._state is _State.LENGTH and self._counter > 0
        if self._buffer or not (at_chunk_boundary or self._state is _State.SALT):
            raise TruncatedData(
                f"{self.method.name}: stream ended {self._state.value}: "
                f"{len(self._buffer)} of {self._need} bytes received"
            )
