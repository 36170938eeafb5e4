"""TCP codec for stream methods: the IV once, then the ciphertext (sans-I/O).

::

    +--------------+------------------------------------------+
    |  IV          |  ciphertext (stream continues per write)  |
    |  iv_size B   |  any length                              |
    +--------------+------------------------------------------+

``rc4`` and ``table`` have ``iv_size == 0`` and send no prefix (``shadowsocks/cryptor.py``).
The decoder buffers the IV until all of it has arrived, however the input is split
(Python shadowsocks takes the IV from the first read only, which is a bug).
"""

from __future__ import annotations

from threading import Lock

from ..errors import TruncatedData
from ..methods import Method
from ..primitives.base import Buffer, Stream, bytes_of
from ._guard import busy_error
from .source import OWN, Primitives

__all__ = ["StreamDecoder", "StreamEncoder"]


class StreamEncoder:
    """Encrypts one direction of a TCP stream: ``IV || E(data_1) || E(data_2) ...``.

    The IV goes out with the first non-empty write; an empty write returns ``b""``. One
    thread at a time: a call entered while another thread's call is running raises
    :class:`~refcrypto.errors.ConcurrentUse`.
    """

    __slots__ = ("__weakref__", "_busy", "_prefix", "_stream", "iv", "method")

    def __init__(
        self, method: Method, key: bytes, iv: bytes, *, backend: Primitives = OWN
    ) -> None:
        self.method = method
        self._stream: Stream = backend.new_stream(method, key, iv, False)
        self.iv = self._prefix = bytes(iv)  # the prefix is sent once, then emptied
        self._busy = Lock()

    def update(self, data: Buffer) -> bytes:
        if type(data) is not bytes:
            data = bytes_of(data, f"{self.method.name}: data")
        if not data:
            return b""
        busy = self._busy
        if not busy.acquire(False):
            raise busy_error(self.method, "encoder")
        try:
            out = self._stream.update(data)
            if self._prefix:
                out = self._prefix + out
                self._prefix = b""
        finally:
            busy.release()
        return out


class StreamDecoder:
    """Decrypts one direction of a TCP stream: waits for the whole IV, then decrypts.
    One thread at a time, as :class:`StreamEncoder`."""

    __slots__ = (
        "__weakref__", "_backend", "_busy", "_key", "_pending", "_stream", "iv", "method"
    )

    def __init__(self, method: Method, key: bytes, *, backend: Primitives = OWN) -> None:
        self.method = method
        self._key = bytes(key)
        self._backend = backend
        self._stream: Stream | None = None
        self._pending = bytearray()
        self._busy = Lock()
        #: The peer's IV, once it has been received.
        self.iv: bytes | None = None
        if method.iv_size == 0:
            self._start(b"")

    def _start(self, iv: bytes) -> None:
        self.iv = iv
        self._stream = self._backend.new_stream(self.method, self._key, iv, True)

    def update(self, data: Buffer) -> bytes:
        if type(data) is not bytes:
            data = bytes_of(data, f"{self.method.name}: data")
        busy = self._busy
        if not busy.acquire(False):
            raise busy_error(self.method, "decoder")
        try:
            return self._update(data)
        finally:
            busy.release()

    def _update(self, data: bytes) -> bytes:
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
