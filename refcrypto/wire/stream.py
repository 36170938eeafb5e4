"""TCP codec for stream methods: the IV once, then the ciphertext (sans-I/O).

::

    +--------------+------------------------------------------+
    |  IV          |  ciphertext (stream continues per write)  |
    |  iv_size B   |  any length                              |
    +--------------+------------------------------------------+

``rc4`` and ``table`` have ``iv_size == 0`` and send no prefix (shadowsocks-crypto.md 2.2).
The decoder buffers the IV until all of it has arrived, however the input is split
(Python shadowsocks takes the IV from the first read only, which is a bug).
"""

from __future__ import annotations

from ..errors import TruncatedData
from ..methods import Method
from ..primitives.base import Buffer, Stream
from .source import OWN, Primitives

__all__ = ["StreamDecoder", "StreamEncoder"]


class StreamEncoder:
    """Encrypts one direction of a TCP stream: ``IV || E(data_1) || E(data_2) ...``.

    The IV goes out with the first non-empty write; an empty write returns ``b""``.
    """

    __slots__ = ("__weakref__", "_prefix", "_stream", "iv", "method")

    def __init__(
        self, method: Method, key: bytes, iv: bytes, *, backend: Primitives = OWN
    ) -> None:
        self.method = method
        self._stream: Stream = backend.new_stream(method, key, iv, False)
        self.iv = self._prefix = bytes(iv)  # the prefix is sent once, then emptied

    def update(self, data: Buffer) -> bytes:
        if not data:
            return b""
        out = self._stream.update(data)
        if self._prefix:
            out = self._prefix + out
            self._prefix = b""
        return out


class StreamDecoder:
    """Decrypts one direction of a TCP stream: waits for the whole IV, then decrypts."""

    __slots__ = ("__weakref__", "_backend", "_key", "_pending", "_stream", "iv", "method")

    def __init__(self, method: Method, key: bytes, *, backend: Primitives = OWN) -> None:
        self.method = method
        self._key = bytes(key)
        self._backend = backend
        self._stream: Stream | None = None
        self._pending = bytearray()
        #: The peer's IV, once it has been received.
        self.iv: bytes | None = None
        if method.iv_size == 0:
            self._start(b"")

    def _start(self, iv: bytes) -> None:
        self.iv = iv
        self._stream = self._backend.new_stream(self.method, self._key, iv, True)

    def update(self, data: Buffer) -> bytes:
        if self._stream is not None:
            return self._stream.update(data) if data else b""
        self._pending += data
        need = self.method.iv_size
        if len(self._pending) < need:
            return b""
        iv = bytes(self._pending[:need])
        rest = bytes(self._pending[need:])
        self._pending = bytearray()
        self._start(iv)
        assert self._stream is not None
        return self._stream.update(rest) if rest else b""

    @property
    def pending(self) -> int:
        """Bytes received but not yet decrypted (a partial IV)."""
        return len(self._pending)

    def finish(self) -> None:
        """Declare the end of the stream; raise :class:`TruncatedData` if it ended inside
        the IV."""
        if self._pending:
            raise TruncatedData(
                f"{self.method.name}: stream ended after {len(self._pending)} of "
                f"{self.method.iv_size} IV bytes"
            )
