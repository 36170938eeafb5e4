"""How the engine drives a wire backend's TCP side: a list of writes or reads in, one output
per call out, and what a rejection released.

A wire backend streams through ``Transform`` objects (``tcp_encoder``/``tcp_decoder``, see
:mod:`.backend`). A backend may also offer **batch operations**, which take a whole stream
at once and are what a subprocess harness answers (:mod:`.execbackend`)::

    tcp_encode(method, password, iv, writes)        -> list[bytes]   # one output per write
    tcp_decode(method, password, reads, final=...)  -> list[bytes]   # one output per read

``tcp_decode`` raises :class:`StreamRejected` when the implementation rejects the stream
(with what it released before), and ``final=True`` asks it to check the end of the stream
too (nothing pending: no partial IV, salt or chunk). When a backend has both operations the
engine uses them, so a stream costs one request however many writes it has; otherwise it
calls the ``Transform`` once per write or read. An exception of the class
:class:`HarnessFault` is a failure of the backend's own machinery (a crashed harness, an
answer that breaks the protocol), never a rejection of the data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from Crypto.Hash import SHA256

from ..methods import Method
from ..methods import method as lookup_method
from ..wire.cryptor import Password
from .backend import WireBackend
from .wirevectors import DECODE_PIECES, WireVector, check_tcp, field_note, plaintext

__all__ = [
    "Decoded",
    "HarnessFault",
    "StreamRejected",
    "check_tcp_vector",
    "decode",
    "decode_reads",
    "encode",
    "encode_writes",
    "is_batch",
]


class HarnessFault(RuntimeError):
    """The backend itself failed (a harness crashed, timed out or broke the protocol): not a
    verdict on the data, so a check never counts it as a rejection."""


class StreamRejected(Exception):
    """A batch ``tcp_decode`` rejected the stream at read ``at`` (``len(reads)``: at the end
    of the stream). ``outputs`` are the outputs of the reads before it, ``released`` what the
    failing read gave out before the error (normally nothing); ``error`` is the error's name
    (``InvalidTag``, ``TruncatedData``, ...)."""

    def __init__(self, error: str, message: str, *, at: int, outputs: Sequence[bytes] = (),
                 released: bytes = b"") -> None:
        self.error, self.message, self.at = error, message, at
        self.outputs, self.released = tuple(outputs), released
        super().__init__(f"{error}: {message}" if message else error)


@dataclass(frozen=True)
class Decoded:
    """What a decoder did with a list of reads: the output of each read it completed, and
    for a rejection, where (``at``), why (``error``) and what the failing read released."""

    outputs: tuple[bytes, ...]
    error: str | None = None
    at: int | None = None
    released: bytes = b""

    @property
    def plaintext(self) -> bytes:
        """Everything released, the failing read's part included."""
        return b"".join(self.outputs) + self.released


def is_batch(backend: object) -> bool:
    """Whether ``backend`` offers the batch operations ``tcp_encode`` and ``tcp_decode``."""
    return callable(getattr(backend, "tcp_encode", None)) and callable(
        getattr(backend, "tcp_decode", None))


def encode_writes(backend: WireBackend, m: Method, password: Password, iv: bytes,
                  writes: Sequence[bytes]) -> list[bytes]:
    """The backend's output for each write of one TCP stream."""
    if is_batch(backend):
        outputs: list[bytes] = backend.tcp_encode(  # type: ignore[attr-defined]
            m, password, iv, list(writes))
        if len(outputs) != len(writes):
            raise HarnessFault(f"tcp_encode gave {len(outputs)} outputs for {len(writes)} "
                               "writes")
        return outputs
    update = backend.tcp_encoder(m, password, iv).update
    return [update(w) for w in writes]


def encode(backend: WireBackend, m: Method, password: Password, iv: bytes,
           writes: Sequence[bytes]) -> bytes:
    """The backend's whole TCP stream for ``writes``."""
    return b"".join(encode_writes(backend, m, password, iv, writes))


def decode(backend: WireBackend, m: Method, password: Password, reads: Sequence[bytes]) -> bytes:
    """The backend's plaintext of ``reads``; a rejection raises (whatever the backend raises,
    or :class:`StreamRejected`). The end of the stream is not checked."""
    if is_batch(backend):
        return b"".join(backend.tcp_decode(  # type: ignore[attr-defined]
            m, password, list(reads), final=False))
    update = backend.tcp_decoder(m, password).update
    return b"".join(update(r) for r in reads)


def decode_reads(backend: WireBackend, m: Method, password: Password, reads: Sequence[bytes],
                 *, final: bool = True) -> Decoded:
    """Feed ``reads`` to the backend's decoder and, with ``final``, end the stream (a
    ``Transform`` without ``finish()`` cannot be asked, so its end is not checked). A
    rejection is returned, not raised; :class:`HarnessFault` propagates."""
    if is_batch(backend):
        try:
            outputs = backend.tcp_decode(m, password, list(reads),  # type: ignore[attr-defined]
                                         final=final)
        except StreamRejected as exc:
            return Decoded(exc.outputs, str(exc), exc.at, exc.released)
        if len(outputs) != len(reads):
            raise HarnessFault(f"tcp_decode gave {len(outputs)} outputs for {len(reads)} reads")
        return Decoded(tuple(outputs))
    done: list[bytes] = []
    decoder = backend.tcp_decoder(m, password)
    for index, piece in enumerate(reads):
        try:
            done.append(decoder.update(piece))
        except HarnessFault:
            raise
        except Exception as exc:  # a backend may raise anything when it rejects input
            return Decoded(tuple(done), _describe(exc), index, _released(exc))
    finish = getattr(decoder, "finish", None)
    if final and callable(finish):
        try:
            finish()
        except HarnessFault:
            raise
        except Exception as exc:
            return Decoded(tuple(done), _describe(exc), len(reads))
    return Decoded(tuple(done))


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _released(exc: BaseException) -> bytes:
    """What a refcrypto-style decoder put on its exception: the plaintext of the chunks that
    call verified before it failed."""
    value = getattr(exc, "plaintext", b"")
    return bytes(value) if isinstance(value, bytes | bytearray) else b""


# --- the wire vectors through batch operations ------------------------------------------------


def check_tcp_vector(backend: WireBackend, v: WireVector) -> str | None:
    """:func:`.wirevectors.check_tcp`, through the batch operations when the backend has
    them (one request for the whole stream instead of one per write)."""
    if not is_batch(backend):
        return check_tcp(backend, v)
    m = lookup_method(v.method)
    writes, position = [], 0
    for size in v.all_writes():
        writes.append(plaintext(position, size))
        position += size
    wire = encode(backend, m, v.password, v.iv, writes)
    if (len(wire), SHA256.new(wire).hexdigest()) != (v.wire_length, v.wire_sha256):
        where = ""
        if v.wire is not None:
            at = next((i for i, (a, b) in enumerate(zip(wire, v.wire, strict=False)) if a != b),
                      min(len(wire), len(v.wire)))
            where = f" from byte {at}{field_note(m, v.password, v.wire, wire)}"
        return (f"encoder output differs{where} (length {len(wire)}, expected "
                f"{v.wire_length})")
    # The same pieces as check_tcp: the IV/salt and one byte, then odd sizes, cycling.
    first = m.iv_size + 1
    reads, offset, index = [wire[:first]], first, 0
    while offset < len(wire):
        size = DECODE_PIECES[index % len(DECODE_PIECES)]
        reads.append(wire[offset : offset + size])
        offset += size
        index += 1
    got = decode(backend, m, v.password, reads)
    if got != b"".join(writes):
        return f"decoder gave {len(got)} bytes, not the {position} plaintext bytes"
    return None
