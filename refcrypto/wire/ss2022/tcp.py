"""Shadowsocks 2022 TCP streams (SIP022 3.1), sans-I/O: bytes in, bytes out.

Every chunk is sealed with the stream's session subkey (SIP022 2.2) under a 12-byte
little-endian counter nonce, incremented after each seal or open (SIP022 3.1.1)::

    Request stream (client -> server):
    +--------+-------------+--------------------+--------------------------+--------+---------+
    |  salt  | [identity   | fixed-length header| variable-length header   | length | payload |...
    | 16/32B |  headers]   | 11B + 16B tag      | chunk + 16B tag          | 2B+tag | + tag   |
    +--------+-------------+--------------------+--------------------------+--------+---------+

    fixed-length header:    type (0) | timestamp u64be | length u16be of the next chunk
    variable-length header: ATYP | address | port u16be | padding length u16be | padding
                            | initial payload

    Response stream (server -> client):
    +--------+----------------------------------+--------------------+--------+---------+
    |  salt  | fixed-length header              | payload chunk      | length | payload |...
    | 16/32B | 1+8+16/32+2 B + 16B tag          | + 16B tag          | 2B+tag | + tag   |
    +--------+----------------------------------+--------------------+--------+---------+

    fixed-length header:    type (1) | timestamp u64be | request salt | length u16be

A payload chunk holds up to 0xFFFF bytes (SIP022 3.1.2). The identity headers of SIP023 sit
after the request salt when the client holds a PSK chain (:mod:`.identity`).

Receiving sides check, each raising its own error and releasing no plaintext of a chunk
before its tag verified: the header type, the timestamp (30 s), the response's request
salt, the request's padding (at most 900 bytes; padding or payload present; nothing past
the chunk), and the salt against the :class:`~.salts.SaltStore` (after the header
authenticated and its timestamp passed, SIP022 3.1.4).

SIP022 3.1.3 also asks that the salt and headers leave in one write (every encoder here
returns them in one ``bytes``) and be taken from one read, with failures that do not show
how many bytes were consumed: that is the I/O layer's part; :attr:`RequestDecoder.header_size`
and :attr:`ResponseDecoder.header_size` say how many bytes the first read must hold.
"""

from __future__ import annotations

import os
from enum import Enum
from threading import Lock

from ...errors import (
    DecoderFailed,
    HandshakeIncomplete,
    HeaderOverrun,
    InvalidHeaderType,
    InvalidTag,
    MissingPayloadOrPadding,
    PaddingTooLong,
    RefcryptoError,
    RequestSaltMismatch,
    TruncatedData,
)
from ...methods import Method
from ...primitives.base import AEAD, Buffer
from .._guard import busy_error
from ..source import OWN, Primitives
from .header import (
    MAX_PADDING,
    TYPE_CLIENT,
    TYPE_SERVER,
    Address,
    Clock,
    bytes_arg,
    check_timestamp,
    encode_address,
    parse_address,
    random_padding_length,
    system_clock,
)
from .identity import IDENTITY_HEADER_SIZE, UserTable, open_tcp_identity, tcp_identity_headers
from .keys import (
    PSK,
    PSKInput,
    aead_method,
    decode_psk,
    decode_psk_chain,
    method_2022,
    session_subkey,
)
from .salts import SaltStore

__all__ = [
    "LENGTH_SIZE",
    "MAX_CHUNK_PAYLOAD",
    "REQUEST_FIXED_HEADER_SIZE",
    "RequestDecoder",
    "RequestEncoder",
    "ResponseDecoder",
    "ResponseEncoder",
]

#: Largest payload of one chunk (SIP022 3.1.2; the 0x3FFF cap of SIP004 does not apply).
MAX_CHUNK_PAYLOAD = 0xFFFF
#: Bytes of a length chunk before sealing.
LENGTH_SIZE = 2
#: Request fixed-length header: type, timestamp, length (SIP022 3.1.3).
REQUEST_FIXED_HEADER_SIZE = 1 + 8 + 2
#: Counter nonces are this many bytes, little-endian (SIP022 3.1.1).
NONCE_SIZE = 12


def _check_padding(padding: int | None) -> int | None:
    if padding is not None and (type(padding) is not int or not 0 <= padding <= MAX_PADDING):
        raise PaddingTooLong(f"padding must be an int in 0..{MAX_PADDING} or None, got {padding!r}")
    return padding


def checked_salt(row: Method, salt: Buffer | None) -> bytes:
    """The given salt, checked, or a random one."""
    if salt is None:
        return os.urandom(row.salt_size)
    return row.check_iv(bytes_arg(salt, f"{row.name}: salt"))


def new_session_aead(row: Method, key: bytes, salt: bytes, backend: Primitives) -> AEAD:
    """The AEAD of one stream: the method's AEAD from ``backend`` under the session subkey."""
    return backend.new_aead(aead_method(row), session_subkey(key, salt))


class _ChunkSealer:
    """The sealing half shared by both encoders: counter nonces, length/payload chunks."""

    __slots__ = ("__weakref__", "_aead", "_counter")

    def __init__(self, aead: AEAD) -> None:
        self._aead = aead
        self._counter = 0

    def seal(self, plaintext: bytes) -> bytes:
        n = self._counter
        self._counter = n + 1
        return self._aead.seal(n.to_bytes(NONCE_SIZE, "little"), plaintext)

    def chunks(self, data: bytes) -> list[bytes]:
        """``data`` as length/payload chunk pairs of at most :data:`MAX_CHUNK_PAYLOAD`."""
        out = []
        for start in range(0, len(data), MAX_CHUNK_PAYLOAD):
            piece = data[start : start + MAX_CHUNK_PAYLOAD]
            out.append(self.seal(len(piece).to_bytes(LENGTH_SIZE, "big")))
            out.append(self.seal(piece))
        return out


class RequestEncoder:
    """The client's request stream (SIP022 3.1): salt, identity headers, both header chunks
    and the initial payload in one write, then length/payload chunks.

    ``psk`` is the PSK, or a SIP023 chain (``"iPSK0:...:uPSK"``). ``target`` is the
    ``(host, port)`` the server connects to. The header goes out with the first non-empty
    :meth:`update` (its data as initial payload), or with :meth:`start` when the client has
    nothing to send first. ``padding`` fixes the padding length (0..900, for vectors); by
    default it is random, 1..900 bytes when the initial payload is shorter than 900 bytes
    (sing-box's rule; SIP022 3.1.3 requires it when there is no payload). ``backend`` is
    where the AEAD comes from (:mod:`refcrypto.wire.source`; refcrypto's own by default).

    One thread at a time: a call entered while another thread's call is running raises
    :class:`~refcrypto.errors.ConcurrentUse` (two seals under one nonce counter would follow).
    """

    __slots__ = (
        "__weakref__", "_address", "_busy", "_clock", "_padding", "_prefix", "_sealer", "method",
        "salt", "target",
    )

    def __init__(
        self,
        method: Method | str,
        psk: PSKInput,
        target: Address,
        *,
        salt: Buffer | None = None,
        clock: Clock | None = None,
        padding: int | None = None,
        backend: Primitives = OWN,
    ) -> None:
        row = method_2022(method)
        chain = decode_psk_chain(psk, row)
        self.method = row
        #: This stream's salt (random unless given).
        self.salt = checked_salt(row, salt)
        #: Where the server is asked to connect.
        self.target = target
        self._address = encode_address(target)
        self._clock = clock or system_clock
        self._padding = _check_padding(padding)
        self._sealer = _ChunkSealer(new_session_aead(row, chain[-1], self.salt, backend))
        self._prefix: bytes | None = self.salt + tcp_identity_headers(chain, self.salt)
        self._busy = Lock()

    @property
    def header_sent(self) -> bool:
        return self._prefix is None

    def start(self) -> bytes:
        """The salt and headers with padding and no payload; ``b""`` once they were sent."""
        busy = self._busy
        if not busy.acquire(False):
            raise busy_error(self.method, "request encoder")
        try:
            return self._header(b"") if self._prefix is not None else b""
        finally:
            busy.release()

    def update(self, data: Buffer) -> bytes:
        """Encrypt the next piece of the request stream (``b""`` for an empty write)."""
        data = bytes_arg(data, f"{self.method.name}: data")
        if not data:
            return b""
        busy = self._busy
        if not busy.acquire(False):
            raise busy_error(self.method, "request encoder")
        try:
            if self._prefix is not None:
                return self._header(data)
            return b"".join(self._sealer.chunks(data))
        finally:
            busy.release()

    def _header(self, payload: bytes) -> bytes:
        assert self._prefix is not None
        padding = self._padding
        if padding is None:
            padding = random_padding_length(len(payload))
        if padding == 0 and not payload:
            raise MissingPayloadOrPadding(
                f"{self.method.name}: a request needs initial payload or padding "
                "(SIP022 3.1.3); padding=0 with no payload"
            )
        room = MAX_CHUNK_PAYLOAD - len(self._address) - 2 - padding
        variable = (self._address + padding.to_bytes(2, "big") + bytes(padding)
                    + payload[:room])
        fixed = (bytes((TYPE_CLIENT,)) + int(self._clock()).to_bytes(8, "big")
                 + len(variable).to_bytes(2, "big"))
        sealer = self._sealer
        pieces = [self._prefix, sealer.seal(fixed), sealer.seal(variable)]
        pieces += sealer.chunks(payload[room:])
        self._prefix = None
        return b"".join(pieces)


class ResponseEncoder:
    """The server's response stream (SIP022 3.1): salt and the fixed-length header (naming
    the request salt) with the first payload chunk, then length/payload chunks.

    ``psk`` is the key the request was sealed with (the user's PSK behind SIP023 identity
    headers). Nothing is sent before the first non-empty :meth:`update`: the header "is
    always sent along with payload" (SIP022 3.1.3). One thread at a time, as
    :class:`RequestEncoder`.
    """

    __slots__ = (
        "__weakref__", "_busy", "_clock", "_prefix", "_sealer", "method", "request_salt", "salt",
    )

    def __init__(
        self,
        method: Method | str,
        psk: PSK,
        request_salt: Buffer,
        *,
        salt: Buffer | None = None,
        clock: Clock | None = None,
        backend: Primitives = OWN,
    ) -> None:
        row = method_2022(method)
        key = decode_psk(psk, row)
        self.method = row
        self.request_salt = row.check_iv(bytes_arg(request_salt, f"{row.name}: request_salt"))
        self.salt = checked_salt(row, salt)
        self._clock = clock or system_clock
        self._sealer = _ChunkSealer(new_session_aead(row, key, self.salt, backend))
        self._prefix: bytes | None = self.salt
        self._busy = Lock()

    def update(self, data: Buffer) -> bytes:
        """Encrypt the next piece of the response stream (``b""`` for an empty write)."""
        data = bytes_arg(data, f"{self.method.name}: data")
        if not data:
            return b""
        busy = self._busy
        if not busy.acquire(False):
            raise busy_error(self.method, "response encoder")
        try:
            return self._seal(data)
        finally:
            busy.release()

    def _seal(self, data: bytes) -> bytes:
        sealer = self._sealer
        if self._prefix is None:
            return b"".join(sealer.chunks(data))
        first = data[:MAX_CHUNK_PAYLOAD]
        fixed = (bytes((TYPE_SERVER,)) + int(self._clock()).to_bytes(8, "big") + self.request_salt
                 + len(first).to_bytes(2, "big"))
        pieces = [self._prefix, sealer.seal(fixed), sealer.seal(first)]
        pieces += sealer.chunks(data[MAX_CHUNK_PAYLOAD:])
        self._prefix = None
        return b"".join(pieces)


class _Stage(Enum):
    HEADER = "waiting for the salt and fixed-length header"
    VARIABLE = "waiting for the variable-length header chunk"
    LENGTH = "waiting for a length chunk"
    PAYLOAD = "waiting for a payload chunk"
    FAILED = "failed"


class _Decoder:
    """Buffering, counter nonces and failure handling shared by both decoders."""

    __slots__ = (
        "__weakref__", "_aead", "_backend", "_buffer", "_busy", "_clock", "_counter", "_failure",
        "_need", "_stage", "method", "salt", "timestamp",
    )

    #: What :class:`~refcrypto.errors.ConcurrentUse` calls this decoder.
    _what = "decoder"

    def __init__(self, method: Method, clock: Clock | None, need: int,
                 backend: Primitives) -> None:
        self.method = method
        self._backend = backend
        self._busy = Lock()
        self._clock = clock or system_clock
        self._aead: AEAD | None = None
        self._buffer = bytearray()
        self._counter = 0
        self._failure: str | None = None
        self._need = need
        self._stage = _Stage.HEADER
        #: The peer's salt, once its header authenticated.
        self.salt: bytes | None = None
        #: The peer's header timestamp, once its header authenticated.
        self.timestamp: int | None = None

    @property
    def pending(self) -> int:
        """Bytes received but not yet released (a partial salt, header or chunk)."""
        return len(self._buffer)

    @property
    def header_done(self) -> bool:
        """Whether the peer's headers have been received and checked."""
        return self._stage in (_Stage.LENGTH, _Stage.PAYLOAD)

    def update(self, data: Buffer) -> bytes:
        """Decrypt the next piece of the stream: the plaintext of every chunk completed (and
        verified) by this call. The first failure is raised (with ``plaintext`` holding the
        chunks this call verified before it); every later call raises
        :class:`DecoderFailed`. One thread at a time: a call entered while another thread's
        call is running raises :class:`~refcrypto.errors.ConcurrentUse`."""
        data = bytes_arg(data, f"{self.method.name}: data")
        busy = self._busy
        if not busy.acquire(False):
            raise busy_error(self.method, self._what)
        try:
            return self._update(data)
        finally:
            busy.release()

    def _update(self, data: bytes) -> bytes:
        if self._failure is not None:
            raise DecoderFailed(
                f"{self.method.name}: decoder refuses input after an earlier failure "
                f"({self._failure})",
                self._failure,
            )
        buffer = self._buffer
        buffer += data
        out: list[bytes] = []
        pos = 0
        try:
            while len(buffer) - pos >= self._need:
                need = self._need
                chunk = bytes(memoryview(buffer)[pos : pos + need])
                pos += need
                self._step(chunk, out)
        except RefcryptoError as exc:
            # A description, not the exception: its traceback holds this frame (a cycle).
            self._failure = f"{type(exc).__name__}: {exc}"
            self._stage = _Stage.FAILED
            self._buffer = bytearray()
            exc.plaintext = b"".join(out)
            raise
        del buffer[:pos]
        return b"".join(out)

    def finish(self) -> None:
        """Declare the end of the stream: :class:`TruncatedData` if it ended inside the
        salt, a header or a chunk (nothing received at all is a complete, empty stream)."""
        if self._failure is not None:
            return
        empty = self._stage is _Stage.HEADER and not self._buffer
        if not empty and (self._buffer or self._stage is not _Stage.LENGTH):
            raise TruncatedData(
                f"{self.method.name}: stream ended {self._stage.value}: "
                f"{len(self._buffer)} of {self._need} bytes received"
            )

    def _open(self, sealed: bytes, what: str) -> bytes:
        assert self._aead is not None
        n = self._counter
        try:
            plain = self._aead.open(n.to_bytes(NONCE_SIZE, "little"), sealed)
        except InvalidTag:
            raise InvalidTag(
                f"{self.method.name}: {what} with nonce {n} failed authentication "
                "(wrong PSK, or data altered)"
            ) from None
        self._counter = n + 1
        return plain

    def _step(self, chunk: bytes, out: list[bytes]) -> None:
        tag = self.method.tag_size
        if self._stage is _Stage.LENGTH:
            length = int.from_bytes(self._open(chunk, "length chunk"), "big")
            self._need, self._stage = length + tag, _Stage.PAYLOAD
        elif self._stage is _Stage.PAYLOAD:
            plain = self._open(chunk, "payload chunk")
            if plain:
                out.append(plain)
            self._need, self._stage = LENGTH_SIZE + tag, _Stage.LENGTH
        else:
            self._header_step(chunk, out)

    def _header_step(self, chunk: bytes, out: list[bytes]) -> None:
        raise NotImplementedError


class RequestDecoder(_Decoder):
    """The server's side of a request stream (SIP022 3.1; SIP023 with ``users``).

    ``psk`` is the server's PSK or, with ``users`` (a :class:`~.identity.UserTable` of
    name -> uPSK), its identity PSK. ``salts`` is the server's :class:`~.salts.SaltStore`,
    shared by all its connections. Once the headers are in: :attr:`target`, :attr:`user`
    (the user's name, or ``None``), :attr:`user_psk` (the key the response is sealed with),
    :attr:`padding_length`, :attr:`salt`, :attr:`timestamp`. :meth:`update` returns the
    initial payload and every later payload chunk.
    """

    __slots__ = ("_psk", "_salts", "_users", "padding_length", "target", "user", "user_psk")

    _what = "request decoder"

    def __init__(
        self,
        method: Method | str,
        psk: PSK,
        *,
        salts: SaltStore,
        users: UserTable | None = None,
        clock: Clock | None = None,
        backend: Primitives = OWN,
    ) -> None:
        row = method_2022(method)
        if not isinstance(salts, SaltStore):
            raise TypeError(f"salts must be a SaltStore, not {type(salts).__name__}")
        if users is not None and not isinstance(users, UserTable):
            raise TypeError(f"users must be a UserTable or None, not {type(users).__name__}")
        if users is not None and users.method is not row:
            raise TypeError(f"users are for {users.method.name}, the decoder for {row.name}")
        identity = IDENTITY_HEADER_SIZE if users is not None else 0
        super().__init__(row, clock,
                         row.salt_size + identity + REQUEST_FIXED_HEADER_SIZE + row.tag_size,
                         backend)
        self._psk = decode_psk(psk, row)
        self._salts = salts
        self._users = users
        #: Where the client asks to connect, once the headers are in.
        self.target: Address | None = None
        #: The SIP023 user's name (``None`` without a user table, or before the header).
        self.user: str | None = None
        #: The key of this stream: the PSK, or the user's PSK (``None`` before the header).
        self.user_psk: bytes | None = None
        #: The request's padding length, once the headers are in.
        self.padding_length: int | None = None

    @property
    def header_size(self) -> int:
        """Bytes the first read must hold: salt, identity header, fixed-length header."""
        size = self.method.salt_size + REQUEST_FIXED_HEADER_SIZE + self.method.tag_size
        return size + (IDENTITY_HEADER_SIZE if self._users is not None else 0)

    def _header_step(self, chunk: bytes, out: list[bytes]) -> None:
        name = self.method.name
        if self._stage is _Stage.HEADER:
            size = self.method.salt_size
            salt, pos = chunk[:size], size
            key, user = self._psk, None
            if self._users is not None:
                digest = open_tcp_identity(key, salt, chunk[pos : pos + IDENTITY_HEADER_SIZE])
                user, key = self._users.lookup(digest)
                pos += IDENTITY_HEADER_SIZE
            self._aead = new_session_aead(self.method, key, salt, self._backend)
            fixed = self._open(chunk[pos:], "request fixed-length header")
            if fixed[0] != TYPE_CLIENT:
                raise InvalidHeaderType(
                    f"{name}: request header type is {fixed[0]}, expected {TYPE_CLIENT}"
                )
            timestamp = int.from_bytes(fixed[1:9], "big")
            now = int(self._clock())
            check_timestamp(f"{name} request", timestamp, now)
            self._salts.add(salt, now=now)
            self.salt, self.timestamp, self.user_psk, self.user = salt, timestamp, key, user
            self._need = int.from_bytes(fixed[9:11], "big") + self.method.tag_size
            self._stage = _Stage.VARIABLE
            return
        plain = self._open(chunk, "request variable-length header")
        what = f"{name} request header"
        target, pos = parse_address(plain, 0, len(plain), what)
        if pos + 2 > len(plain):
            raise HeaderOverrun(f"{what}: chunk ends before the padding length")
        padding = int.from_bytes(plain[pos : pos + 2], "big")
        if padding > MAX_PADDING:
            raise PaddingTooLong(f"{what}: padding length {padding} is over {MAX_PADDING}")
        pos += 2 + padding
        if pos > len(plain):
            raise HeaderOverrun(
                f"{what}: {padding} bytes of padding run {pos - len(plain)} bytes past the "
                "chunk"
            )
        if padding == 0 and pos == len(plain):
            raise MissingPayloadOrPadding(
                f"{what}: neither initial payload nor padding (SIP022 3.1.3)"
            )
        self.target, self.padding_length = target, padding
        if pos < len(plain):
            out.append(plain[pos:])
        self._need, self._stage = LENGTH_SIZE + self.method.tag_size, _Stage.LENGTH


class ResponseDecoder(_Decoder):
    """The client's side of a response stream (SIP022 3.1).

    ``psk`` is the key the request was sealed with (the last of a SIP023 chain);
    ``request_salt`` the salt the client sent, which the response header must name.
    ``salts``, if given, also records the response salts (SIP022 3.1.4 asks clients too).
    """

    __slots__ = ("_psk", "_salts", "request_salt")

    _what = "response decoder"

    def __init__(
        self,
        method: Method | str,
        psk: PSK,
        request_salt: Buffer,
        *,
        salts: SaltStore | None = None,
        clock: Clock | None = None,
        backend: Primitives = OWN,
    ) -> None:
        row = method_2022(method)
        if salts is not None and not isinstance(salts, SaltStore):
            raise TypeError(f"salts must be a SaltStore or None, not {type(salts).__name__}")
        super().__init__(row, clock, self._header_size(row), backend)
        self._psk = decode_psk(psk, row)
        self._salts = salts
        self.request_salt = row.check_iv(bytes_arg(request_salt, f"{row.name}: request_salt"))

    @staticmethod
    def _header_size(row: Method) -> int:
        return 2 * row.salt_size + 1 + 8 + LENGTH_SIZE + row.tag_size

    @property
    def header_size(self) -> int:
        """Bytes the first read must hold: salt and fixed-length header."""
        return self._header_size(self.method)

    def _header_step(self, chunk: bytes, out: list[bytes]) -> None:
        name = self.method.name
        size = self.method.salt_size
        salt = chunk[:size]
        self._aead = new_session_aead(self.method, self._psk, salt, self._backend)
        fixed = self._open(chunk[size:], "response fixed-length header")
        if fixed[0] != TYPE_SERVER:
            raise InvalidHeaderType(
                f"{name}: response header type is {fixed[0]}, expected {TYPE_SERVER}"
            )
        timestamp = int.from_bytes(fixed[1:9], "big")
        now = int(self._clock())
        check_timestamp(f"{name} response", timestamp, now)
        if fixed[9 : 9 + size] != self.request_salt:
            raise RequestSaltMismatch(
                f"{name}: response names request salt {fixed[9:9 + size][:8].hex()}..., this "
                f"client sent {self.request_salt[:8].hex()}..."
            )
        if self._salts is not None:
            self._salts.add(salt, now=now)
        self.salt, self.timestamp = salt, timestamp
        self._need = int.from_bytes(fixed[9 + size :], "big") + self.method.tag_size
        self._stage = _Stage.PAYLOAD


def require_header(decoder: RequestDecoder) -> tuple[bytes, bytes]:
    """``(request salt, key)`` of a request decoder whose headers are in, for the response;
    :class:`HandshakeIncomplete` before that."""
    if decoder.salt is None or decoder.user_psk is None or not decoder.header_done:
        raise HandshakeIncomplete(
            f"{decoder.method.name}: no response before the request's headers arrived "
            "(the response names the request salt)"
        )
    return decoder.salt, decoder.user_psk
