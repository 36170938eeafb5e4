"""Shadowsocks 2022 UDP (SIP022 3.2 and 4.1), sans-I/O: one packet in, one packet out.

AES methods (SIP022 3.2.1, 3.2.2)::

    +-----------------------------------+-----------------+-----------------------------+
    | AES-ECB(PSK, session ID | packet ID) | [identity hdrs] | AES-GCM(body) + 16B tag     |
    |            16B                    |  16B each       | key: session subkey,        |
    |                                   |  (SIP023)       | nonce: separate header 4..16|
    +-----------------------------------+-----------------+-----------------------------+

    session subkey = blake3::derive_key("shadowsocks 2022 session subkey", PSK || session ID)

ChaCha method (SIP022 4.1): XChaCha20-Poly1305 under the PSK itself, a random nonce per
packet, and the session and packet IDs inside the sealed body::

    +-----------+-----------------------------------------------------------+
    | nonce 24B | XChaCha20-Poly1305(PSK, session ID | packet ID | body) + tag |
    +-----------+-----------------------------------------------------------+

The body (SIP022 3.2.3)::

    client -> server: type 0 | timestamp u64be |                   padding length u16be
                      | padding | ATYP | address | port | payload
    server -> client: type 1 | timestamp u64be | client session ID | padding length u16be
                      | padding | ATYP | address | port | payload

Session and packet IDs are u64 big-endian; each side numbers its packets from 0. A receiver
opens the packet, checks the type, the timestamp (30 s) and, server to client, its own
session ID, and only then the packet ID against the session's sliding window (SIP022 3.2.4:
"after header validation"); nothing of a packet is returned unless all of that passed.

The window: :data:`WINDOW_SIZE` = 8128 packet IDs, the size of the RFC 6479 filter (64-bit
blocks, a ring of 128, one block of slack) that sing-box and shadowsocks-rust both take from
WireGuard. It is exact here: an ID is accepted once, if it is newer than the newest seen or
one of the 8128 IDs ending at it.

The AEADs (AES-GCM bodies, XChaCha20-Poly1305 packets) come from a primitive source
(``backend``, :mod:`refcrypto.wire.source`; refcrypto's own by default); the AES-ECB of the
separate and identity headers is always refcrypto's (pycryptodome).

Threads: each direction of an object is one thread at a time. A client's :meth:`encrypt`
(its packet-ID counter) entered while another thread's is running raises
:class:`~refcrypto.errors.ConcurrentUse`, and so does its :meth:`decrypt` (the server
sessions and their windows); one thread may send while another receives. A server's
:meth:`decrypt` (its session table) is one thread at a time; its :meth:`encrypt` is one
thread at a time per client session (that session's packet-ID counter), so replies to
different sessions may be sealed in parallel.
"""

from __future__ import annotations

import os
import secrets
from collections import OrderedDict
from collections.abc import Callable
from threading import Lock

from ...errors import (
    HandshakeIncomplete,
    HeaderOverrun,
    InvalidHeaderType,
    InvalidNonceSize,
    InvalidTag,
    PaddingTooLong,
    ReplayedPacket,
    SessionMismatch,
    SessionTableFull,
    TooManyServerSessions,
    TruncatedData,
)
from ...methods import Method
from ...primitives.base import AEAD, Buffer
from ...primitives.blocks import AES
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
    system_clock,
)
from .identity import (
    IDENTITY_HEADER_SIZE,
    UserTable,
    open_udp_identity,
    udp_identity_headers,
)
from .keys import (
    PSK,
    PSKInput,
    aead_method,
    decode_psk,
    decode_psk_chain,
    method_2022,
    psk_hash,
    session_subkey,
    udp_aead_method,
)

__all__ = [
    "DEFAULT_MAX_SESSIONS",
    "DEFAULT_SESSION_TIMEOUT",
    "SEPARATE_HEADER_SIZE",
    "WINDOW_SIZE",
    "XCHACHA_NONCE_SIZE",
    "Datagram",
    "PacketWindow",
    "UdpClient2022",
    "UdpServer2022",
]

#: Session ID and packet ID, one AES block (SIP022 3.2.2).
SEPARATE_HEADER_SIZE = 16
#: The random nonce in front of a ChaCha packet (SIP022 4.1).
XCHACHA_NONCE_SIZE = 24
#: Packet IDs the sliding window remembers below the newest one.
WINDOW_SIZE = 8128
#: Seconds a server keeps an idle session (SIP022 3.2.4: at least 60); sing-box's default.
DEFAULT_SESSION_TIMEOUT = 300
#: Most live sessions a server keeps; a new one beyond it raises SessionTableFull.
DEFAULT_MAX_SESSIONS = 16384
#: How long a client keeps an old server session after its last packet (SIP022 3.2.4).
SERVER_SESSION_GRACE = 60

_TAG = 16
_U64 = 1 << 64


def _is_aes(method: Method) -> bool:
    return method.name.startswith("2022-blake3-aes-")


def _session_id(value: int | None, name: str) -> int:
    if value is None:
        return random_session_id()
    if type(value) is not int or not 0 <= value < _U64:
        raise TypeError(f"{name} must be an int in 0..2**64-1, not {value!r}")
    return value


def random_session_id() -> int:
    """A random 64-bit session ID (SIP022 3.2.2), the default of clients and servers."""
    return int.from_bytes(os.urandom(8), "big")


def _session_aead(method: Method, backend: Primitives, key: bytes, session_id: bytes) -> AEAD:
    """The AES-GCM of one session: the method's AEAD from ``backend`` under the session
    subkey of ``key`` and the 8-byte session ID (SIP022 3.2.1)."""
    return backend.new_aead(aead_method(method), session_subkey(key, session_id))


def _padding(value: int | None, default: int) -> int:
    if value is None:
        return default
    if type(value) is not int:
        raise TypeError(f"padding must be an int or None, not {type(value).__name__}")
    if not 0 <= value <= 0xFFFF:
        raise PaddingTooLong(f"padding must be 0..65535 bytes (a u16 length), got {value}")
    return value


class PacketWindow:
    """The sliding-window replay filter of one session (SIP022 3.2.4): :meth:`check` an ID,
    and :meth:`add` it once the packet is accepted.

    Bit ``i`` of ``_seen`` stands for packet ID ``highest - i``; IDs more than ``size - 1``
    below the highest are refused as too old.
    """

    __slots__ = ("__weakref__", "_seen", "highest", "size")

    def __init__(self, size: int = WINDOW_SIZE) -> None:
        if type(size) is not int or size < 64:
            raise ValueError(f"window size must be an int of at least 64, got {size!r}")
        self.size = size
        #: The newest packet ID accepted (-1: none yet).
        self.highest = -1
        self._seen = 0

    def check(self, packet_id: int, what: str = "packet") -> None:
        """Raise :class:`ReplayedPacket` if ``packet_id`` was accepted before or is older
        than the window; change nothing."""
        behind = self.highest - packet_id
        if behind < 0:
            return
        if behind >= self.size:
            raise ReplayedPacket(
                f"{what}: packet ID {packet_id} is {behind} behind the newest ({self.highest}),"
                f" outside the window of {self.size}"
            )
        if self._seen >> behind & 1:
            raise ReplayedPacket(f"{what}: packet ID {packet_id} was already received")

    def add(self, packet_id: int) -> None:
        """Record ``packet_id`` as accepted (after :meth:`check` passed)."""
        ahead = packet_id - self.highest
        if ahead > 0:
            self._seen = ((self._seen << ahead) | 1) & ((1 << self.size) - 1)
            self.highest = packet_id
        else:
            self._seen |= 1 << -ahead


class Datagram:
    """One opened packet: who sent it, and what it carries.

    ``session_id``/``packet_id`` are the sender's; ``address`` is the target (client to
    server) or the source the payload came from (server to client); ``user`` is the SIP023
    user's name on a multi-user server, else ``None``.
    """

    __slots__ = (
        "__weakref__", "address", "packet_id", "padding_length", "payload", "session_id",
        "timestamp", "user",
    )

    def __init__(self, session_id: int, packet_id: int, timestamp: int, padding_length: int,
                 address: Address, payload: bytes, user: str | None) -> None:
        self.session_id = session_id
        self.packet_id = packet_id
        self.timestamp = timestamp
        self.padding_length = padding_length
        self.address = address
        self.payload = payload
        self.user = user

    def __repr__(self) -> str:
        return (f"Datagram(session_id={self.session_id:#018x}, packet_id={self.packet_id}, "
                f"address={self.address!r}, payload={len(self.payload)} bytes, "
                f"user={self.user!r})")


def _body(kind: int, timestamp: int, client_session_id: bytes, padding: int, address: bytes,
          payload: bytes) -> bytes:
    return b"".join((bytes((kind,)), timestamp.to_bytes(8, "big"), client_session_id,
                     padding.to_bytes(2, "big"), bytes(padding), address, payload))


def _parse_body(body: bytes, expected: int, what: str
                ) -> tuple[int, bytes, int, Address, bytes]:
    """``(timestamp, client session ID or b"", padding length, address, payload)``; the
    type is checked here, the timestamp by the caller."""
    fixed = 1 + 8 + (8 if expected == TYPE_SERVER else 0) + 2
    if len(body) < fixed:
        raise HeaderOverrun(f"{what}: body of {len(body)} bytes is shorter than its header")
    if body[0] != expected:
        raise InvalidHeaderType(f"{what}: header type is {body[0]}, expected {expected}")
    timestamp = int.from_bytes(body[1:9], "big")
    client_session = body[9:17] if expected == TYPE_SERVER else b""
    padding = int.from_bytes(body[fixed - 2 : fixed], "big")
    pos = fixed + padding
    if pos > len(body):
        raise HeaderOverrun(
            f"{what}: {padding} bytes of padding run {pos - len(body)} bytes past the packet"
        )
    address, pos = parse_address(body, pos, len(body), what)
    return timestamp, client_session, padding, address, body[pos:]


def _open_error(method: Method, what: str) -> InvalidTag:
    return InvalidTag(f"{method.name}: {what} failed authentication (wrong PSK, or altered)")


class _RemoteSession:
    """A server session as a client sees it: its AEAD (AES methods), window, last packet."""

    __slots__ = ("__weakref__", "aead", "last_seen", "session_id", "window")

    def __init__(self, session_id: int, aead: AEAD | None, now: int) -> None:
        self.session_id = session_id
        self.aead = aead
        self.window = PacketWindow()
        self.last_seen = now


class UdpClient2022:
    """One client UDP session (SIP022 3.2): seals packets to the server, opens its replies.

    ``psk`` is the PSK or a SIP023 chain (AES methods). ``session_id`` is random unless
    given. Replies may come from more than one server session (a restarted server): as
    SIP022 3.2.4 allows, the client keeps the current one and one old one, and refuses a
    third (:class:`TooManyServerSessions`) while the old one had a packet in the last 60 s.
    """

    __slots__ = (
        "__weakref__", "_backend", "_clock", "_current", "_hashes", "_header_cipher",
        "_identity_chain", "_previous", "_psk", "_recv_busy", "_reply_cipher", "_send_aead",
        "_send_busy", "_xchacha", "method", "next_packet_id", "session_id",
    )

    def __init__(self, psk: PSKInput, method: Method | str, *, session_id: int | None = None,
                 clock: Clock | None = None, backend: Primitives = OWN) -> None:
        row = method_2022(method)
        chain = decode_psk_chain(psk, row)
        self.method = row
        #: This client session's ID.
        self.session_id = _session_id(session_id, "session_id")
        #: The packet ID the next packet gets.
        self.next_packet_id = 0
        self._clock = clock or system_clock
        self._backend = backend
        self._send_busy = Lock()
        self._recv_busy = Lock()
        self._psk = chain[-1]
        self._current: _RemoteSession | None = None
        self._previous: _RemoteSession | None = None
        self._identity_chain = chain[:-1]
        self._hashes = tuple(psk_hash(key) for key in chain[1:])
        sid = self.session_id.to_bytes(8, "big")
        if _is_aes(row):
            self._header_cipher: AES | None = AES(chain[0])
            self._reply_cipher: AES | None = AES(chain[-1])
            self._send_aead: AEAD | None = _session_aead(row, backend, chain[-1], sid)
            self._xchacha: AEAD | None = None
        else:
            self._header_cipher = self._reply_cipher = self._send_aead = None
            self._xchacha = backend.new_aead(udp_aead_method(row), chain[0])

    def encrypt(self, payload: Buffer, target: Address, *, padding: int | None = None,
                nonce: Buffer | None = None) -> bytes:
        """One packet carrying ``payload`` to ``target``.

        ``padding`` fixes the padding length; by default it is sing-box's: 1..(900 - size)
        random bytes for a DNS query (port 53) shorter than 900 bytes, else none. ``nonce``
        fixes the ChaCha method's 24-byte nonce (vectors only; random otherwise).
        """
        name = self.method.name
        payload = bytes_arg(payload, f"{name}: payload")
        address = encode_address(target)
        default = 0
        if target[1] == 53 and len(payload) < MAX_PADDING:
            default = 1 + secrets.randbelow(MAX_PADDING - len(payload))
        pad = _padding(padding, default)
        nonce = _nonce(nonce, name) if self._xchacha is not None else None
        busy = self._send_busy
        if not busy.acquire(False):
            raise busy_error(self.method, "UdpClient2022.encrypt")
        try:
            return self._seal(payload, address, pad, nonce)
        finally:
            busy.release()

    def _seal(self, payload: bytes, address: bytes, pad: int, nonce: bytes | None) -> bytes:
        packet_id = self.next_packet_id
        self.next_packet_id = packet_id + 1
        separate = self.session_id.to_bytes(8, "big") + packet_id.to_bytes(8, "big")
        body = _body(TYPE_CLIENT, int(self._clock()), b"", pad, address, payload)
        if self._xchacha is not None and nonce is not None:
            return nonce + self._xchacha.seal(nonce, separate + body)
        assert self._header_cipher is not None and self._send_aead is not None
        identity = udp_identity_headers(self._identity_chain, self._hashes, separate)
        return (self._header_cipher.encrypt_block(separate) + identity
                + self._send_aead.seal(separate[4:], body))

    def decrypt(self, packet: Buffer) -> Datagram:
        """Open one packet from the server; raise, releasing nothing, unless it authenticates,
        is of type 1, is within 30 s, names this client session and is not a replay."""
        packet = bytes_arg(packet, f"{self.method.name}: packet")
        busy = self._recv_busy
        if not busy.acquire(False):
            raise busy_error(self.method, "UdpClient2022.decrypt")
        try:
            return self._open(packet)
        finally:
            busy.release()

    def _open(self, packet: bytes) -> Datagram:
        row = self.method
        what = f"{row.name} server packet"
        remote: _RemoteSession | None
        aead: AEAD | None = None
        if self._xchacha is not None:
            if len(packet) < XCHACHA_NONCE_SIZE + SEPARATE_HEADER_SIZE + _TAG:
                raise TruncatedData(f"{what}: {len(packet)} bytes is too short")
            try:
                plain = self._xchacha.open(packet[:XCHACHA_NONCE_SIZE],
                                           packet[XCHACHA_NONCE_SIZE:])
            except InvalidTag:
                raise _open_error(row, "server packet") from None
            separate, body = plain[:SEPARATE_HEADER_SIZE], plain[SEPARATE_HEADER_SIZE:]
            remote = self._remote(int.from_bytes(separate[:8], "big"))
        else:
            assert self._reply_cipher is not None
            if len(packet) < SEPARATE_HEADER_SIZE + _TAG:
                raise TruncatedData(f"{what}: {len(packet)} bytes is too short")
            separate = self._reply_cipher.decrypt_block(packet[:SEPARATE_HEADER_SIZE])
            remote = self._remote(int.from_bytes(separate[:8], "big"))
            aead = remote.aead if remote is not None else None
            if aead is None:  # a new server session
                aead = _session_aead(row, self._backend, self._psk, separate[:8])
            try:
                body = aead.open(separate[4:], packet[SEPARATE_HEADER_SIZE:])
            except InvalidTag:
                raise _open_error(row, "server packet") from None
        server_session = int.from_bytes(separate[:8], "big")
        packet_id = int.from_bytes(separate[8:], "big")
        timestamp, client_session, padding, address, payload = _parse_body(body, TYPE_SERVER,
                                                                             what)
        now = int(self._clock())
        check_timestamp(what, timestamp, now)
        if int.from_bytes(client_session, "big") != self.session_id:
            raise SessionMismatch(
                f"{what}: names client session {client_session.hex()}, this client is "
                f"{self.session_id:016x}"
            )
        if remote is not None:
            remote.window.check(packet_id, what)
        else:
            previous = self._previous
            if (self._current is not None and previous is not None
                    and now - previous.last_seen < SERVER_SESSION_GRACE):
                raise TooManyServerSessions(
                    f"{what}: a third server session ({server_session:016x}) while the old one "
                    f"({previous.session_id:016x}) had a packet {now - previous.last_seen} s ago"
                )
            remote = _RemoteSession(server_session, aead, now)
            current = self._current  # a session object (data), kept as the old one
            if current is not None:
                self._previous = current
            self._current = remote
        remote.window.add(packet_id)
        remote.last_seen = now
        return Datagram(server_session, packet_id, timestamp, padding, address, payload, None)

    def _remote(self, session_id: int) -> _RemoteSession | None:
        for remote in (self._current, self._previous):
            if remote is not None and remote.session_id == session_id:
                return remote
        return None


def _nonce(nonce: Buffer | None, name: str) -> bytes:
    if nonce is None:
        return os.urandom(XCHACHA_NONCE_SIZE)
    nonce = bytes_arg(nonce, f"{name}: nonce")
    if len(nonce) != XCHACHA_NONCE_SIZE:
        raise InvalidNonceSize(
            f"{name}: nonce must be {XCHACHA_NONCE_SIZE} bytes, got {len(nonce)}"
        )
    return nonce


class _ServerSession:
    """A client session as the server keeps it (SIP022 3.2.4)."""

    __slots__ = (
        "__weakref__", "busy", "client_session_id", "last_seen", "next_packet_id", "recv_aead",
        "reply_cipher", "send_aead", "server_session_id", "user", "window",
    )

    def __init__(self, method: Method, client_session_id: int, server_session_id: int,
                 key: bytes, user: str | None, recv_aead: AEAD | None, now: int,
                 backend: Primitives) -> None:
        self.client_session_id = client_session_id
        self.server_session_id = server_session_id
        self.user = user
        self.recv_aead = recv_aead
        self.window = PacketWindow()
        self.last_seen = now
        self.next_packet_id = 0
        #: Held while a reply to this session is sealed (its packet-ID counter).
        self.busy = Lock()
        if _is_aes(method):
            sid = server_session_id.to_bytes(8, "big")
            self.send_aead: AEAD | None = _session_aead(method, backend, key, sid)
            self.reply_cipher: AES | None = AES(key)
        else:
            self.send_aead = self.reply_cipher = None


class UdpServer2022:
    """A server's UDP side (SIP022 3.2): opens client packets, seals replies, and keeps one
    session per client session ID with its sliding window.

    ``psk`` is the server's PSK or, with ``users`` (a :class:`~.identity.UserTable`, AES
    methods), its identity PSK; replies to a SIP023 user are sealed with the user's PSK.
    Sessions idle for ``session_timeout`` seconds are forgotten; at most ``max_sessions``
    live at once, and a packet that would open one more raises :class:`SessionTableFull`
    (forgetting a live session early would let its packets be replayed).

    ``session_ids`` gives the server session ID of each new session (random by default; a
    fixed source makes replies reproducible, for vectors and tests); one equal to the
    client's own session ID is refused and asked again (SIP022 3.2.2), at most 16 times.
    ``backend`` is where the AEADs come from (:mod:`refcrypto.wire.source`).
    """

    __slots__ = (
        "__weakref__", "_backend", "_clock", "_header_cipher", "_psk", "_recv_busy",
        "_session_ids", "_sessions", "_users", "_xchacha", "max_sessions", "method",
        "session_timeout",
    )

    def __init__(self, psk: PSK, method: Method | str, *, users: UserTable | None = None,
                 clock: Clock | None = None, max_sessions: int = DEFAULT_MAX_SESSIONS,
                 session_timeout: int = DEFAULT_SESSION_TIMEOUT,
                 session_ids: Callable[[], int] | None = None,
                 backend: Primitives = OWN) -> None:
        row = method_2022(method)
        if users is not None and not isinstance(users, UserTable):
            raise TypeError(f"users must be a UserTable or None, not {type(users).__name__}")
        if users is not None and users.method is not row:
            raise TypeError(f"users are for {users.method.name}, the server for {row.name}")
        if type(max_sessions) is not int or max_sessions < 1:
            raise ValueError(f"max_sessions must be a positive int, got {max_sessions!r}")
        if type(session_timeout) is not int or session_timeout < 60:
            raise ValueError(
                f"session_timeout must be an int of at least 60 s (SIP022 3.2.4), "
                f"got {session_timeout!r}"
            )
        self.method = row
        self.max_sessions = max_sessions
        self.session_timeout = session_timeout
        self._psk = decode_psk(psk, row)
        self._users = users
        self._clock = clock or system_clock
        self._session_ids = session_ids or random_session_id
        self._backend = backend
        self._recv_busy = Lock()
        self._sessions: OrderedDict[int, _ServerSession] = OrderedDict()
        if _is_aes(row):
            self._header_cipher: AES | None = AES(self._psk)
            self._xchacha: AEAD | None = None
        else:
            self._header_cipher = None
            self._xchacha = backend.new_aead(udp_aead_method(row), self._psk)

    def __len__(self) -> int:
        """Live sessions."""
        return len(self._sessions)

    def expire(self, now: int) -> None:
        """Forget the sessions idle for ``session_timeout`` seconds at ``now`` (one thread at a
        time with :meth:`decrypt`: both change the session table)."""
        busy = self._recv_busy
        if not busy.acquire(False):
            raise busy_error(self.method, "UdpServer2022.expire")
        try:
            self._expire(now)
        finally:
            busy.release()

    def _expire(self, now: int) -> None:
        sessions = self._sessions
        while sessions:
            first = next(iter(sessions.values()))
            if first.last_seen + self.session_timeout > now:
                break
            sessions.popitem(last=False)

    def _new_server_session_id(self, client_session: int) -> int:
        for _ in range(16):
            candidate = _session_id(self._session_ids(), "server session ID")
            if candidate != client_session:  # SIP022 3.2.2: never the client's
                return candidate
        raise ValueError(
            f"{self.method.name}: session_ids keeps giving the client's own session ID "
            f"{client_session:#x}"
        )

    def decrypt(self, packet: Buffer) -> Datagram:
        """Open one client packet; raise, releasing nothing and changing no session, unless
        it authenticates, is of type 0, is within 30 s and is not a replay."""
        packet = bytes_arg(packet, f"{self.method.name}: packet")
        busy = self._recv_busy
        if not busy.acquire(False):
            raise busy_error(self.method, "UdpServer2022.decrypt")
        try:
            return self._open(packet)
        finally:
            busy.release()

    def _open(self, packet: bytes) -> Datagram:
        row = self.method
        what = f"{row.name} client packet"
        now = int(self._clock())
        self._expire(now)
        user: str | None = None
        key = self._psk
        if self._xchacha is not None:
            if len(packet) < XCHACHA_NONCE_SIZE + SEPARATE_HEADER_SIZE + _TAG:
                raise TruncatedData(f"{what}: {len(packet)} bytes is too short")
            try:
                plain = self._xchacha.open(packet[:XCHACHA_NONCE_SIZE],
                                           packet[XCHACHA_NONCE_SIZE:])
            except InvalidTag:
                raise _open_error(row, "client packet") from None
            separate, body = plain[:SEPARATE_HEADER_SIZE], plain[SEPARATE_HEADER_SIZE:]
            session = self._sessions.get(int.from_bytes(separate[:8], "big"))
        else:
            assert self._header_cipher is not None
            start = SEPARATE_HEADER_SIZE + (IDENTITY_HEADER_SIZE if self._users is not None else 0)
            if len(packet) < start + _TAG:
                raise TruncatedData(f"{what}: {len(packet)} bytes is too short")
            separate = self._header_cipher.decrypt_block(packet[:SEPARATE_HEADER_SIZE])
            if self._users is not None:
                digest = open_udp_identity(self._header_cipher,
                                           packet[SEPARATE_HEADER_SIZE:start], separate)
                user, key = self._users.lookup(digest)
            session = self._sessions.get(int.from_bytes(separate[:8], "big"))
            if session is not None:
                aead = session.recv_aead
            else:
                aead = _session_aead(row, self._backend, key, separate[:8])
            assert aead is not None
            try:
                body = aead.open(separate[4:], packet[start:])
            except InvalidTag:
                raise _open_error(row, "client packet") from None
        client_session = int.from_bytes(separate[:8], "big")
        packet_id = int.from_bytes(separate[8:], "big")
        timestamp, _, padding, address, payload = _parse_body(body, TYPE_CLIENT, what)
        check_timestamp(what, timestamp, now)
        if session is not None:
            session.window.check(packet_id, what)
        else:
            if len(self._sessions) >= self.max_sessions:
                raise SessionTableFull(
                    f"{what}: {self.max_sessions} sessions are live; new session "
                    f"{client_session:016x} refused"
                )
            session = _ServerSession(row, client_session,
                                     self._new_server_session_id(client_session), key, user,
                                     aead if self._xchacha is None else None, now, self._backend)
            self._sessions[client_session] = session
        session.window.add(packet_id)
        session.last_seen = now
        self._sessions.move_to_end(client_session)
        return Datagram(client_session, packet_id, timestamp, padding, address, payload, user)

    def encrypt(self, session_id: int, payload: Buffer, source: Address, *, padding: int = 0,
                nonce: Buffer | None = None) -> bytes:
        """One reply to client session ``session_id`` carrying ``payload`` from ``source``.

        No padding by default (sing-box sends none). Raises :class:`HandshakeIncomplete` for a
        session this server has no packet from (or has forgotten).
        """
        payload = bytes_arg(payload, f"{self.method.name}: payload")
        session = self._sessions.get(session_id) if type(session_id) is int else None
        if session is None:
            if type(session_id) is not int:
                raise TypeError(f"session_id must be int, not {type(session_id).__name__}")
            raise HandshakeIncomplete(
                f"{self.method.name}: no live session {session_id:#x}: a server replies only "
                "to sessions it has received a packet from"
            )
        pad = _padding(padding, 0)
        address = encode_address(source)
        nonce = _nonce(nonce, self.method.name) if self._xchacha is not None else None
        busy = session.busy
        if not busy.acquire(False):
            raise busy_error(self.method, f"UdpServer2022.encrypt for session {session_id:#x}")
        try:
            return self._seal(session, session_id, payload, address, pad, nonce)
        finally:
            busy.release()

    def _seal(self, session: _ServerSession, session_id: int, payload: bytes, address: bytes,
              pad: int, nonce: bytes | None) -> bytes:
        packet_id = session.next_packet_id
        session.next_packet_id = packet_id + 1
        separate = (session.server_session_id.to_bytes(8, "big")
                    + packet_id.to_bytes(8, "big"))
        body = _body(TYPE_SERVER, int(self._clock()), session_id.to_bytes(8, "big"), pad,
                     address, payload)
        if self._xchacha is not None and nonce is not None:
            return nonce + self._xchacha.seal(nonce, separate + body)
        assert session.reply_cipher is not None and session.send_aead is not None
        return (session.reply_cipher.encrypt_block(separate)
                + session.send_aead.seal(separate[4:], body))
