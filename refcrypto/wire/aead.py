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
shadowsocks-crypto.md 2.7.
"""

from __future__ import annotations

from enum import Enum

from ..errors import (
    DecoderFailed,
    InvalidChunkLength,
    InvalidTag,
    RefcryptoError,
    TruncatedData,
)
from ..kdf import session_subkey
from ..methods import Method
from ..primitives.base import AEAD, Buffer
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
    :data:`MAX_CHUNK_PAYLOAD` are split into several chunks.
    """

    __slots__ = ("__weakref__", "_aead", "_counter", "_prefix", "method", "salt")

    def __init__(
        self, method: Method, master_key: bytes, salt: bytes, *, backend: Primitives = OWN
    ) -> None:
        self.method = method
        self.salt = bytes(salt)
        self._aead: AEAD = backend.new_aead(method, session_subkey(master_key, self.salt))
        self._counter = 0
        self._prefix = self.salt

    @property
    def iv(self) -> bytes:
        """The salt, under the name stream encoders use."""
        return self.salt

    def update(self, data: Buffer) -> bytes:
        if not data:
            return b""
        seal = self._aead.seal
        size = self.method.nonce_size
        n = self._counter
        view = memoryview(data)
        out = [self._prefix] if self._prefix else []
        self._prefix = b""
        for start in range(0, len(view), MAX_CHUNK_PAYLOAD):
            payload = view[start : start + MAX_CHUNK_PAYLOAD]
            out.append(seal(n.to_bytes(size, "little"), len(payload).to_bytes(LENGTH_SIZE, "big")))
            out.append(seal((n + 1).to_bytes(size, "little"), payload))
            n += 2
        self._counter = n
        return b"".join(out)


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
    chunks before the bad one, their plaintext is on the exception as ``plaintext``.
    """

    __slots__ = (
        "__weakref__",
        "_aead",
        "_backend",
        "_buffer",
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
        #: The peer's salt, once received.
        self.salt: bytes | None = None

    @property
    def pending(self) -> int:
        """Bytes received but not yet released (a partial salt or chunk)."""
        return len(self._buffer)

    def update(self, data: Buffer) -> bytes:
        if self._failure is not None:
            raise DecoderFailed(
                f"{self.method.name}: decoder refuses input after an earlier failure "
                f"({self._failure})",
                self._failure,
            )
        self._buffer += data
        out: list[bytes] = []
        try:
            self._drain(out)
        except RefcryptoError as exc:
            # Keep a description, not the exception: its traceback holds this frame, and so
            # this decoder, which would make a reference cycle.
            self._failure = f"{type(exc).__name__}: {exc}"
            self._state = _State.FAILED
            self._buffer = bytearray()
            exc.plaintext = b"".join(out)
            raise
        return b"".join(out)

    def _drain(self, out: list[bytes]) -> None:
        buffer = self._buffer
        tag_size = self.method.tag_size
        nonce_size = self.method.nonce_size
        pos = 0
        try:
            while len(buffer) - pos >= self._need:
                end = pos + self._need
                if self._state is _State.SALT:
                    self.salt = bytes(buffer[pos:end])
                    subkey = session_subkey(self._master_key, self.salt)
                    self._aead = self._backend.new_aead(self.method, subkey)
                    self._state, self._need = _State.LENGTH, LENGTH_SIZE + tag_size
                else:
                    assert self._aead is not None
                    nonce = self._counter.to_bytes(nonce_size, "little")
                    try:
                        plain = self._aead.open(nonce, buffer[pos:end])
                    except InvalidTag:
                        what = "length" if self._state is _State.LENGTH else "payload"
                        raise InvalidTag(
                            f"{self.method.name}: {what} chunk with nonce {self._counter} "
                            "failed authentication (wrong password, or data altered)"
                        ) from None
                    self._counter += 1
                    if self._state is _State.LENGTH:
                        length = int.from_bytes(plain, "big")
                        if length == 0 or length & RESERVED_LENGTH_BITS:
                            raise InvalidChunkLength(
                                f"{self.method.name}: chunk length 0x{length:04x} is "
                                f"{'zero' if length == 0 else 'over 0x3FFF (reserved bits set)'}"
                            )
                        self._state, self._need = _State.PAYLOAD, length + tag_size
                    else:
                        out.append(plain)
                        self._state, self._need = _State.LENGTH, LENGTH_SIZE + tag_size
                pos = end
        finally:
            # One deletion per call keeps buffering linear in the input size.
            del buffer[:pos]

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
