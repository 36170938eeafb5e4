"""A Shadowsocks server on refcrypto: TCP and UDP relay with asyncio, every method.

::

    python -m refcrypto.tools.server --listen 127.0.0.1:8388 -m aes-256-gcm -k PASSWORD
    python -m refcrypto.tools.server -m 2022-blake3-aes-128-gcm -k "$(openssl rand -base64 16)"
    python -m refcrypto.tools.server -m 2022-blake3-aes-256-gcm -k IPSK --users users.txt

It prints ``listening on HOST:PORT`` once TCP and UDP are bound (UDP on the same port, as
clients expect); ``--listen 127.0.0.1:0`` picks a free port.

**Keys.** Classic methods (stream, 2017 AEAD) take a password. Shadowsocks 2022 methods
take the base64 PSK of exactly the key size (SIP022 2.1). ``--users FILE`` (2022 AES
methods) makes a multi-user server (SIP023): ``-k`` is then the server's identity PSK
(iPSK), and FILE holds one ``name:base64-uPSK`` per line (``#`` comments and blank lines
skipped, :func:`refcrypto.tools.parse_users`); a client of user *name* uses the key
``iPSK:uPSK``, as sing-box and shadowsocks-rust write it.

What it does, per the shadowsocks-org whitepaper and SIP022:

* **TCP**: decrypt the client's stream (:meth:`refcrypto.tools.ServerCipher.stream`) until
  the target address is complete, connect to the target, send it whatever followed the
  address, then relay: client -> ``decrypt`` -> target and target -> ``encrypt`` -> client.
  A clean end of stream is passed on as a half-close. For 2022 the decoder checks the
  header's type and timestamp (30 s) and records the salt in the server's one
  :class:`~refcrypto.wire.ss2022.SaltStore` (60 s, exact), refusing a salt seen before.
  For the classic methods the IV or salt of every connection whose header decrypted goes
  into the server's :class:`~refcrypto.tools.replay.ReplayFilter` (exact; 24 h, at most
  10^6 entries, the oldest forgotten first when full), and one seen before is refused.
* **UDP**: classic methods: every packet is ``encrypt_all([address][payload])``, its IV or
  salt checked against the same replay filter. 2022: the
  server's :class:`~refcrypto.wire.ss2022.UdpServer2022` opens each packet (session, packet
  ID window, timestamp) and seals each reply to its session. The payload goes to the
  target from one outbound socket (a *relay*) per client and address family, a client
  being its address (classic) or its session ID (2022, replies go to the address the
  session last sent from); each reply comes back sealed with the address of the replying
  host.

Limits, and what happens to bad input (``docs/interop.md``, "The reference server's limits"):

* **Handshake deadline** (``--handshake-timeout``, default 30 s, never more than
  ``--timeout``): the whole salt or IV and the first header (the target address) must
  arrive within it, however the bytes are spread out; otherwise the connection is closed.
  Clients send both in their first write, so 30 s leaves room for many retransmissions.
* **Idle timeout** (``--timeout``, default 300 s): a connection, or a UDP relay, that moved
  no data for that long is closed. (2022 UDP sessions are kept at least 60 s, SIP022 3.2.4.)
* **UDP relays** (``--max-udp-relays``, default a quarter of the process's descriptor limit
  ``RLIMIT_NOFILE``, at most 512, the cap of shadowsocks-libev's ``ss-server``): each relay
  is one descriptor. When the table is full, the least recently used relay is closed to make
  room (its client gets a new one with its next packet). Refusing new relays instead would
  let one flood of replayed packets lock every new client out for the idle timeout; with
  eviction a flood costs at most this many descriptors, and TCP always has the rest.
* **Failed relays**: a relay whose socket cannot be opened (``EMFILE``...) is closed and
  forgotten; the packets it held are dropped and counted, and the client's next packet tries
  again. A relay holds at most :data:`MAX_PENDING_PACKETS` while its socket is being opened.
  At most :data:`MAX_UDP_LOOKUPS` host names are resolved for UDP at once; other packets
  naming hosts are dropped and counted.
* **Bad input** after the request (bad requests: next item): a stream that fails
  authentication, names an address the resolver cannot take, or ends inside the salt, IV
  or a chunk (the decoder's ``finish()``) is logged, the client connection closed
  and the target connection reset (RST), so the target never takes a broken stream for a
  complete one. A host name the resolver cannot even encode (a label over 63 bytes raises
  ``UnicodeError``) is a bad address. Bad UDP packets are dropped. No exception of one
  connection or one packet reaches the event loop's handler.
* **Bad requests, every method** (SIP022 3.1.3: failures must not show how many bytes were
  read; the classic methods get the same treatment, since active probes measure exactly
  that): a request whose IV, salt or headers fail in any way (authentication, unknown user,
  type, timestamp, replayed salt or IV, padding, address; for the stream methods, which
  authenticate nothing, also a target that cannot be reached) is not closed at once. The
  server stops decrypting and reads on, discarding, until the client closes or the
  handshake deadline (counted from the connection's start) passes, then closes: exactly
  what it does to a
  client that sends too few bytes. A prober sees the same close at the same time whatever
  it sent. Failures after the headers (a later chunk) are handled as bad input above.

:attr:`ShadowsocksServer.stats` counts what was refused or dropped.

It is the baseline of ``refcrypto probe`` (every probe passes against it, ``docs/probe.md``)
and a reference peer for interoperability tests, not a hardened server: it has no access
control (it connects wherever the client asks), no cap on TCP connections (when descriptors
run out asyncio stops accepting for a second at a time), its classic replay filter forgets
(after 24 h, or 10^6 newer IVs, or a restart: without timestamps no bounded filter can do
better), and ``rc4`` and ``table`` have no IV to filter. Do not expose it to the Internet.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import logging
import signal
import socket
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import cast

from ..errors import HandshakeIncomplete, RefcryptoError, ReplayError
from ..methods import Method
from ..methods import method as lookup_method
from . import (
    AddressError,
    ServerCipher,
    ServerStream,
    parse_host_port,
    read_users,
    reset,
    warn_about_method,
)
from .replay import ReplayFilter

__all__ = [
    "DEFAULT_HANDSHAKE_TIMEOUT",
    "DEFAULT_TIMEOUT",
    "ServerStats",
    "ShadowsocksServer",
    "default_max_udp_relays",
    "main",
]

log = logging.getLogger("refcrypto.server")

#: Seconds a connection (or a client's UDP relay) may stay idle in both directions.
DEFAULT_TIMEOUT = 300.0
#: Seconds a new TCP connection has to deliver its salt or IV and its whole first header.
DEFAULT_HANDSHAKE_TIMEOUT = 30.0
#: Seconds to wait for the target to accept a TCP connection (or for a UDP name look-up).
CONNECT_TIMEOUT = 10.0
#: Bytes asked for per read.
READ_SIZE = 65536
#: The most UDP relays by default, whatever the descriptor limit (shadowsocks-libev's
#: ``ss-server`` caps its UDP table at the same number).
MAX_UDP_RELAYS = 512
#: Packets one relay queues while its socket is being opened; more are dropped.
MAX_PENDING_PACKETS = 16
#: UDP packets whose host name is being resolved at once; more are dropped.
MAX_UDP_LOOKUPS = 64

Address = tuple[str, int]
Transform = Callable[[bytes], bytes]
#: (client, address family of the target); the client is its address (classic methods) or
#: its session ID (2022).
RelayKey = tuple[Address | int, int]


def default_max_udp_relays() -> int:
    """A quarter of the soft ``RLIMIT_NOFILE``, between 1 and :data:`MAX_UDP_RELAYS`.

    Each relay is one descriptor and each relayed TCP connection two, so a UDP flood can
    take at most a quarter of the descriptors and TCP keeps the other three quarters.
    """
    try:
        import resource
    except ImportError:  # not on Windows
        return MAX_UDP_RELAYS
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return MAX_UDP_RELAYS
    return max(1, min(MAX_UDP_RELAYS, soft // 4))


class ServerStats:
    """What the server refused or dropped since it started (for logs and tests)."""

    __slots__ = (
        "__weakref__",
        "bad_streams",
        "handshake_timeouts",
        "replays",
        "udp_lookup_errors",
        "udp_packets_dropped",
        "udp_relays_evicted",
        "udp_relays_failed",
        "unexpected_errors",
    )

    def __init__(self) -> None:
        #: TCP connections closed for failed authentication, a bad address or a cut stream.
        self.bad_streams = 0
        #: TCP connections closed because the header was not complete by the deadline.
        self.handshake_timeouts = 0
        #: Requests and packets refused by the replay checks (2022: a salt or packet ID seen
        #: before, a timestamp over 30 s away; classic methods: an IV or salt in the replay
        #: filter); TCP ones are also counted as bad streams.
        self.replays = 0
        #: UDP packets whose host name could not be resolved.
        self.udp_lookup_errors = 0
        #: UDP packets dropped: held by a relay that failed or was evicted, over a relay's
        #: queue, or over the limit of look-ups in progress.
        self.udp_packets_dropped = 0
        #: UDP relays closed to make room for a new client (least recently used first).
        self.udp_relays_evicted = 0
        #: UDP relays whose socket could not be opened.
        self.udp_relays_failed = 0
        #: Errors no other counter expects, caught and logged per connection or packet.
        self.unexpected_errors = 0

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)}" for name in self.__slots__[1:])
        return f"ServerStats({fields})"


class _Idle:
    """When either direction of a connection last moved data (shared by both pipes)."""

    __slots__ = ("__weakref__", "last")

    def __init__(self, now: float) -> None:
        self.last = now


async def _pipe(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    transform: Transform,
    idle: _Idle,
    timeout: float,
    finish: Callable[[], None] | None = None,
) -> None:
    """Copy ``reader`` to ``writer`` through ``transform``, then half-close ``writer``.

    At the end of the input, ``finish`` (a decoder's) raises if the stream stopped inside a
    chunk, salt or IV; then nothing is half-closed. Gives up with ``TimeoutError`` when
    neither direction has moved data for ``timeout``.
    """
    loop = asyncio.get_running_loop()
    while True:
        try:
            data = await asyncio.wait_for(reader.read(READ_SIZE), timeout)
        except asyncio.TimeoutError:
            if loop.time() - idle.last < timeout:
                continue  # the other direction is busy: keep waiting
            raise
        if not data:
            break
        idle.last = loop.time()
        out = transform(data)
        if out:
            writer.write(out)
            await writer.drain()
    if finish is not None:
        finish()
    if writer.can_write_eof():
        writer.write_eof()


async def _both(first: asyncio.Task[None], second: asyncio.Task[None]) -> None:
    """Wait for two pipes; if one fails, cancel the other and raise its error."""
    try:
        done, _ = await asyncio.wait((first, second), return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            task.result()
    finally:
        for task in (first, second):
            task.cancel()
        await asyncio.gather(first, second, return_exceptions=True)


async def _read_header(
    reader: asyncio.StreamReader, stream: ServerStream, iv: bytearray | None = None,
    iv_size: int = 0,
) -> tuple[str, int, bytes] | None:
    """Decrypt until the target address is complete: ``(host, port, what followed it)``, or
    ``None`` if the client closed first. ``iv`` collects the first ``iv_size`` bytes of the
    stream (the IV or salt, for the replay filter)."""
    rest = b""
    while stream.target is None:
        data = await reader.read(READ_SIZE)
        if not data:
            return None
        if iv is not None and len(iv) < iv_size:
            iv += data[: iv_size - len(iv)]
        rest += stream.decrypt(data)
    host, port = stream.target
    return host, port, rest


async def _drain(reader: asyncio.StreamReader, seconds: float) -> None:
    """Read and discard until the peer closes or ``seconds`` pass (SIP022 3.1.3)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    with contextlib.suppress(OSError):
        while (left := deadline - loop.time()) > 0:
            try:
                if not await asyncio.wait_for(reader.read(READ_SIZE), left):
                    return
            except asyncio.TimeoutError:
                return


def _close(writer: asyncio.StreamWriter | None) -> None:
    if writer is not None:
        writer.close()


def _family(host: str) -> socket.AddressFamily | None:
    try:
        return socket.AF_INET if ipaddress.ip_address(host).version == 4 else socket.AF_INET6
    except ValueError:
        return None


def _tcp_handler(
    ref: weakref.ref[ShadowsocksServer],
) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    """The callback for ``asyncio.start_server``; it holds the server weakly (the asyncio
    server it is stored in belongs to the server: a strong reference would be a cycle)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        server = ref()
        if server is None:
            writer.close()
        else:
            await server._handle(reader, writer)

    return handle


def _sweep(ref: weakref.ref[ShadowsocksServer]) -> None:
    server = ref()
    if server is not None:
        server._sweep()


def _report(task: asyncio.Task[object]) -> None:
    """Done-callback of background tasks: log an error nothing else caught."""
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.error("background task failed: %r", exc)


class _ServerDatagrams(asyncio.DatagramProtocol):
    """The server's UDP socket: hands every packet to the server (held weakly)."""

    __slots__ = ("__weakref__", "_server")

    def __init__(self, server: ShadowsocksServer) -> None:
        self._server = weakref.ref(server)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        server = self._server()
        if server is not None:
            server._udp_request(data, (str(addr[0]), int(addr[1])))

    def error_received(self, exc: Exception) -> None:
        log.debug("udp: %s", exc)


class _UdpRelay(asyncio.DatagramProtocol):
    """One client's outbound UDP socket; replies go back to that client, encrypted.

    ``client`` is where replies go: the client's address, which for a 2022 session is the
    address its latest packet came from (SIP022 3.2.4: a session may change address).
    ``session`` is the 2022 client session ID (``None`` for the classic methods).
    """

    __slots__ = (
        "__weakref__", "_server", "client", "closed", "key", "last", "pending", "session",
        "transport",
    )

    def __init__(self, server: ShadowsocksServer, key: RelayKey, client: Address,
                 session: int | None, now: float) -> None:
        self._server = weakref.ref(server)
        self.key = key
        self.client = client
        self.session = session
        self.last = now
        self.closed = False
        self.transport: asyncio.DatagramTransport | None = None
        self.pending: list[tuple[bytes, Address]] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # asyncio's selector datagram transport does not subclass DatagramTransport.
        self.transport = cast(asyncio.DatagramTransport, transport)
        if self.closed:  # evicted while its socket was being opened
            self.transport.close()
            return
        for data, target in self.pending:
            self.transport.sendto(data, target)
        self.pending.clear()

    def send(self, data: bytes, target: Address, now: float) -> bool:
        """Send, or queue until the socket is open; ``False`` if dropped (queue full)."""
        self.last = now
        if self.transport is not None:
            self.transport.sendto(data, target)
        elif len(self.pending) < MAX_PENDING_PACKETS:
            self.pending.append((data, target))
        else:
            return False
        return True

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.last = asyncio.get_running_loop().time()
        server = self._server()
        if server is not None and not self.closed:
            server._udp_reply(self, data, (str(addr[0]), int(addr[1])))

    def error_received(self, exc: Exception) -> None:
        log.debug("udp relay for %s:%d: %s", *self.client, exc)

    def close(self) -> int:
        """Close the socket (now, or as soon as it opens); return the packets dropped."""
        self.closed = True
        if self.transport is not None:
            self.transport.close()
        dropped = len(self.pending)
        self.pending.clear()
        return dropped


class ShadowsocksServer:
    """A Shadowsocks server for one method and key.

    >>> async def run() -> None:
    ...     server = ShadowsocksServer("aes-256-gcm", "secret")
    ...     host, port = await server.start("127.0.0.1", 0)
    ...     await server.close()
    >>> asyncio.run(run())

    ``password`` is the password of a classic method, or the base64 PSK of a 2022 method;
    with ``users`` (name -> base64 uPSK; 2022 AES methods) it is the server's identity PSK
    and the server is a SIP023 multi-user server (:class:`refcrypto.tools.ServerCipher`).
    ``max_udp_relays`` defaults to :func:`default_max_udp_relays`; the limits are described
    in the module documentation.
    """

    __slots__ = (
        "__weakref__",
        "_background",
        "_handlers",
        "_lookups",
        "_relays",
        "_sweeper",
        "_tcp",
        "_udp",
        "_warned_full",
        "address",
        "cipher",
        "connect_timeout",
        "handshake_timeout",
        "max_udp_relays",
        "method",
        "password",
        "replays",
        "stats",
        "timeout",
    )

    def __init__(
        self,
        method: str | Method,
        password: str | bytes,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        connect_timeout: float = CONNECT_TIMEOUT,
        handshake_timeout: float = DEFAULT_HANDSHAKE_TIMEOUT,
        max_udp_relays: int | None = None,
        users: Mapping[str, str] | None = None,
        replays: ReplayFilter | None = None,
        replay_filter: bool = True,
    ) -> None:
        if max_udp_relays is not None and max_udp_relays < 1:
            raise ValueError(f"max_udp_relays must be at least 1, got {max_udp_relays}")
        if not timeout > 0 or not handshake_timeout > 0:
            raise ValueError("timeouts must be positive")
        self.method = lookup_method(method)
        self.password = password
        #: The codecs, and for 2022 the salt store, UDP sessions and users.
        self.cipher = ServerCipher(self.method, password, users=users,
                                   session_timeout=int(timeout))
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.handshake_timeout = handshake_timeout
        self.max_udp_relays = (
            default_max_udp_relays() if max_udp_relays is None else max_udp_relays
        )
        self.stats = ServerStats()
        #: Classic methods with an IV: the IVs and salts seen (``replays``, or a new
        #: :class:`~refcrypto.tools.replay.ReplayFilter`); 2022 has its salt store instead
        #: (SIP022 makes it mandatory). ``replay_filter=False`` turns the classic filter off,
        #: only to demonstrate what a server without one accepts (docs/demos/).
        self.replays: ReplayFilter | None = None
        if replay_filter and not self.method.is_2022 and self.method.iv_size:
            self.replays = replays if replays is not None else ReplayFilter()
        self.address: Address | None = None
        self._tcp: asyncio.Server | None = None
        self._udp: asyncio.DatagramTransport | None = None
        # Least recently used first: moved to the end on every packet either way.
        self._relays: OrderedDict[RelayKey, _UdpRelay] = OrderedDict()
        self._lookups = 0
        self._warned_full = False
        self._handlers: set[asyncio.Task[None]] = set()
        self._background: set[asyncio.Task[object]] = set()
        self._sweeper: asyncio.TimerHandle | None = None

    @property
    def udp_relays(self) -> int:
        """UDP relays (outbound sockets) open or being opened."""
        return len(self._relays)

    async def start(self, host: str = "127.0.0.1", port: int = 0, *, udp: bool = True) -> Address:
        """Listen on ``host:port`` (TCP, and UDP on the same port); return the address.

        With ``port`` 0 the system picks a TCP port; if UDP cannot have the same number,
        another is tried. Logs a warning first if the method is ``rc4`` or legacy.
        """
        warn_about_method(self.method, log)
        loop = asyncio.get_running_loop()
        attempts = 20 if port == 0 and udp else 1
        for attempt in range(attempts):
            tcp = await asyncio.start_server(_tcp_handler(weakref.ref(self)), host, port)
            bound = tcp.sockets[0].getsockname()
            address = (str(bound[0]), int(bound[1]))
            if udp:
                try:
                    self._udp, _ = await loop.create_datagram_endpoint(
                        lambda: _ServerDatagrams(self), local_addr=address
                    )
                except OSError:
                    tcp.close()
                    await tcp.wait_closed()
                    if attempt == attempts - 1:
                        raise
                    continue
            self._tcp, self.address = tcp, address
            break
        if udp:
            self._sweeper = loop.call_later(self.timeout / 2, _sweep, weakref.ref(self))
        log.info("%s: listening on %s:%d", self.method.name, *address)
        return address

    async def close(self) -> None:
        """Stop listening, drop every connection and UDP association."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        if self._tcp is not None:
            self._tcp.close()
        for task in (*self._handlers, *self._background):
            task.cancel()
        await asyncio.gather(*self._handlers, *self._background, return_exceptions=True)
        if self._tcp is not None:
            await self._tcp.wait_closed()
            self._tcp = None
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        for relay in self._relays.values():
            relay.close()
        self._relays.clear()

    # --- TCP ------------------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        peer = writer.get_extra_info("peername")
        upstream: asyncio.StreamWriter | None = None
        try:
            stream = self.cipher.stream()
            loop = asyncio.get_running_loop()
            deadline = min(self.handshake_timeout, self.timeout)
            ends = loop.time() + deadline
            iv = bytearray()
            try:
                header = await asyncio.wait_for(
                    _read_header(reader, stream, iv, self.method.iv_size), deadline)
                if header is not None and self.replays is not None:
                    self.replays.check_and_add(bytes(iv))  # ReplayedIV: a replayed connection
            except asyncio.TimeoutError:
                self.stats.handshake_timeouts += 1
                log.info("%s: closing: no complete header within %g s", peer, deadline)
                return
            except (RefcryptoError, AddressError) as exc:  # every method (module docstring)
                await self._refuse(peer, exc, reader, ends - loop.time())
                return
            if header is None:
                return  # closed before naming a target
            host, port, rest = header
            try:
                target_reader, target_writer = await asyncio.wait_for(
                    asyncio.open_connection(host, port), self.connect_timeout
                )
            except (OSError, ValueError, asyncio.TimeoutError) as exc:
                if self.method.is_aead or self.method.is_2022:
                    if isinstance(exc, ValueError):  # UnicodeError: a name it cannot encode
                        raise AddressError(f"cannot resolve {host!r}: {exc}") from None
                    raise
                # Stream methods authenticate nothing: 3 random streams in 256 name an
                # address, so an unreachable target is refused like bad input.
                await self._refuse(peer, AddressError(f"cannot connect to {host}:{port}: "
                                                      f"{exc!r}"), reader, ends - loop.time())
                return
            upstream = target_writer
            if stream.user is not None:
                log.debug("%s -> %s:%d (user %s)", peer, host, port, stream.user)
            else:
                log.debug("%s -> %s:%d", peer, host, port)
            if rest:
                target_writer.write(rest)
            idle = _Idle(loop.time())
            await _both(
                asyncio.ensure_future(_pipe(
                    reader, target_writer, stream.decrypt, idle, self.timeout, stream.finish
                )),
                asyncio.ensure_future(
                    _pipe(target_reader, writer, stream.encrypt, idle, self.timeout)
                ),
            )
        except asyncio.CancelledError:
            pass  # the server is closing (Python 3.11's start_server logs a cancelled handler)
        except Exception as exc:  # one connection never takes the server down
            self._closing(peer, exc, upstream)
            # Its traceback holds this frame, and so this server, in a cycle with the task
            # asyncio.wait_for made: drop it so that the server is freed without the collector.
            exc.__traceback__ = None
        finally:
            _close(upstream)
            _close(writer)
            self._handlers.discard(task)

    async def _refuse(
        self, peer: object, exc: RefcryptoError | AddressError, reader: asyncio.StreamReader,
        seconds: float,
    ) -> None:
        """A request whose salt, IV or headers failed (any method): read on until the client
        closes or the handshake deadline, then close (SIP022 3.1.3; module documentation)."""
        self.stats.bad_streams += 1
        if isinstance(exc, ReplayError):
            self.stats.replays += 1
        log.warning("%s: refused (closing when the client does, or in %.1f s): %s",
                    peer, max(seconds, 0.0), exc)
        exc.__traceback__ = None  # as in _handle: no cycle holding this server
        await _drain(reader, seconds)

    def _closing(self, peer: object, exc: Exception, upstream: asyncio.StreamWriter | None) -> None:
        """Log why a connection ends early; reset the target if the client's stream was bad."""
        if isinstance(exc, (RefcryptoError, AddressError)):
            self.stats.bad_streams += 1
            log.warning("%s: closing: %s", peer, exc)
            if upstream is not None:
                reset(upstream)  # not a clean end of stream: the target must not take it as one
        elif isinstance(exc, (OSError, asyncio.TimeoutError)):
            log.info("%s: closing: %r", peer, exc)
        else:
            self.stats.unexpected_errors += 1
            log.error("%s: closing after an unexpected error", peer, exc_info=exc)

    # --- UDP ------------------------------------------------------------------------------

    def _udp_request(self, packet: bytes, client: Address) -> None:
        try:
            self._udp_dispatch(packet, client)
        except Exception:  # one packet never takes the server down
            self.stats.unexpected_errors += 1
            log.exception("udp from %s:%d: dropped after an unexpected error", *client)

    def _udp_dispatch(self, packet: bytes, client: Address) -> None:
        try:
            session, (host, port), payload = self.cipher.open_packet(packet)
            if self.replays is not None:  # classic methods: the packet's own IV or salt
                self.replays.check_and_add(packet[: self.method.iv_size])
        except (RefcryptoError, AddressError) as exc:
            if isinstance(exc, ReplayError):
                self.stats.replays += 1
            log.info("udp from %s:%d: dropped: %s", *client, exc)
            return
        family = _family(host)
        if family is not None:
            self._udp_send(client, session, family, payload, (host, port))
        elif self._lookups >= MAX_UDP_LOOKUPS:
            self.stats.udp_packets_dropped += 1
            log.info("udp from %s:%d: dropped: %d look-ups in progress", *client, self._lookups)
        else:
            self._lookups += 1
            self._spawn(self._udp_resolve_and_send(client, session, host, port, payload))

    async def _udp_resolve_and_send(
        self, client: Address, session: int | None, host: str, port: int, data: bytes
    ) -> None:
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM), self.connect_timeout
            )
        except (OSError, ValueError, asyncio.TimeoutError) as exc:
            # ValueError: UnicodeError for a name the resolver cannot encode.
            self.stats.udp_lookup_errors += 1
            log.info("udp: cannot resolve %r: %r", host, exc)
            exc.__traceback__ = None  # as in _handle: no cycle holding this server
            return
        finally:
            self._lookups -= 1
        if infos:
            family, _, _, _, sockaddr = infos[0]
            self._udp_send(client, session, family, data, (str(sockaddr[0]), int(sockaddr[1])))

    def _udp_send(
        self, client: Address, session: int | None, family: socket.AddressFamily, data: bytes,
        target: Address,
    ) -> None:
        loop = asyncio.get_running_loop()
        key: RelayKey = (client if session is None else session, int(family))
        relay = self._relays.get(key)
        if relay is None:
            relay = self._open_relay(key, client, session, family, loop.time())
        else:
            relay.client = client  # a 2022 session follows its client's latest address
            self._relays.move_to_end(key)
        if not relay.send(data, target, loop.time()):
            self.stats.udp_packets_dropped += 1

    def _open_relay(self, key: RelayKey, client: Address, session: int | None,
                    family: socket.AddressFamily, now: float) -> _UdpRelay:
        while len(self._relays) >= self.max_udp_relays:
            _, oldest = self._relays.popitem(last=False)
            self.stats.udp_packets_dropped += oldest.close()
            self.stats.udp_relays_evicted += 1
            if not self._warned_full:
                self._warned_full = True
                log.warning("udp: %d relays open (the limit): closing the least recently "
                            "used for each new client", self.max_udp_relays)
        relay = self._relays[key] = _UdpRelay(self, key, client, session, now)
        # Send from the listening address when the family matches (a server bound to one
        # interface answers from it); otherwise from any address.
        assert self.address is not None
        local = (self.address[0], 0) if _family(self.address[0]) == family else None
        self._spawn(self._connect_relay(relay, local, family))
        return relay

    async def _connect_relay(
        self, relay: _UdpRelay, local: Address | None, family: socket.AddressFamily
    ) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.create_datagram_endpoint(lambda: relay, local_addr=local, family=family)
        except OSError as exc:  # EMFILE, ENOBUFS...: forget the relay, drop what it held
            self.stats.udp_relays_failed += 1
            self.stats.udp_packets_dropped += relay.close()
            if self._relays.get(relay.key) is relay:
                del self._relays[relay.key]
            log.info("udp relay for %s:%d: cannot open a socket: %s", *relay.client, exc)

    def _udp_reply(self, relay: _UdpRelay, data: bytes, source: Address) -> None:
        if self._relays.get(relay.key) is relay:
            self._relays.move_to_end(relay.key)
        if self._udp is None:
            return
        try:
            packet = self.cipher.seal_packet(relay.session, source, data)
        except HandshakeIncomplete as exc:  # the 2022 session was forgotten (idle)
            self.stats.udp_packets_dropped += 1
            log.info("udp reply for %s:%d: dropped: %s", *relay.client, exc)
            return
        self._udp.sendto(packet, relay.client)

    def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        for key, relay in list(self._relays.items()):
            if now - relay.last >= self.timeout:
                relay.close()
                del self._relays[key]
        self._sweeper = loop.call_later(self.timeout / 2, _sweep, weakref.ref(self))

    def _spawn(self, coroutine: Awaitable[object]) -> None:
        task: asyncio.Task[object] = asyncio.ensure_future(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        task.add_done_callback(_report)


# --- command line ---------------------------------------------------------------------------


async def _serve(args: argparse.Namespace) -> None:
    host, port = parse_host_port(args.listen)
    users = read_users(args.users) if args.users is not None else None
    server = ShadowsocksServer(args.method, args.password, timeout=args.timeout,
                               handshake_timeout=args.handshake_timeout,
                               max_udp_relays=args.max_udp_relays, users=users,
                               replay_filter=not args.no_replay_filter)
    bound = await server.start(host, port, udp=not args.no_udp)
    print(f"listening on {bound[0]}:{bound[1]}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # not on Windows
            loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await server.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m refcrypto.tools.server",
        description="A Shadowsocks server (TCP and UDP) on refcrypto.",
        epilog="The key is the password of a classic method, or the base64 PSK of a 2022 "
        "method (`openssl rand -base64 16` or 32); with --users, the server's identity PSK.",
    )
    parser.add_argument("--listen", default="127.0.0.1:8388", help="HOST:PORT (port 0: any)")
    parser.add_argument("-m", "--method", required=True, help="cipher method, e.g. aes-256-gcm")
    parser.add_argument("--no-udp", action="store_true", help="TCP only")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="idle seconds")
    parser.add_argument("--handshake-timeout", type=float, default=DEFAULT_HANDSHAKE_TIMEOUT,
                        help="seconds for the salt/IV and target address (default 30)")
    parser.add_argument("--max-udp-relays", type=int, default=None, metavar="N",
                        help="UDP relay sockets; beyond, the least recently used is "
                        "closed (default: 1/4 of the descriptor limit, at most 512)")
    parser.add_argument("--users", metavar="FILE",
                        help="multi-user server (SIP023; 2022 AES methods): one "
                        "NAME:BASE64-uPSK per line; the key is then the identity PSK")
    parser.add_argument("--no-replay-filter", action="store_true",
                        help="classic methods: accept a repeated IV or salt (unsafe; for "
                        "demonstrations of what servers without a filter accept)")
    parser.add_argument("-v", "--verbose", action="store_true")
    from ..keyinput import KeyInputError, add_key_arguments, key_from_args

    add_key_arguments(parser)  # --key-file PATH, REFCRYPTO_KEY, or -k (visible in ps)
    args = parser.parse_args(argv)
    try:
        args.password = key_from_args(args)
    except KeyInputError as exc:
        parser.error(str(exc))
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        lookup_method(args.method)
        asyncio.run(_serve(args))
    except (RefcryptoError, ValueError) as exc:
        parser.error(str(exc))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
