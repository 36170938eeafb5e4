"""The probe's sockets: its own loopback targets, and what a server does after a probe's
last byte (its *reaction*).

Reactions, as :class:`Reaction` names them:

* ``data``: the server sent bytes;
* ``FIN``: the server closed its side cleanly (a read returned end of stream);
* ``RST``: the connection was reset (a read or write failed with ``ECONNRESET`` or
  ``EPIPE``); a server that closes a socket with unread input sends this;
* ``silence``: nothing until the probe's silence timeout;
* ``refused``: the connection itself could not be made.

Every wait is bounded, and every socket the probe opens is closed before its probe ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from typing import cast

__all__ = [
    "HALF_CLOSE_GREETING",
    "TOKEN_SIZE",
    "Reaction",
    "TargetState",
    "Targets",
    "UdpSocket",
    "connect",
    "observe",
    "start_targets",
]

Address = tuple[str, int]

#: Every request a probe sends starts its data with a random token of this size; the
#: probe's own targets record the tokens they receive, so a probe knows whether a server
#: forwarded its request even when the answer never comes back.
TOKEN_SIZE = 16
#: What the half-close target sends after the token, before it shuts down its writing side.
HALF_CLOSE_GREETING = b"half-closed by the target; still reading"
#: Bytes asked for per read.
READ_SIZE = 262144
#: Longest a target waits for one read (the probe's own waits are shorter).
TARGET_TIMEOUT = 120.0


class Reaction:
    """What a server did after the probe's last byte, and when (seconds after it)."""

    __slots__ = ("__weakref__", "data", "kind", "seconds")

    def __init__(self, kind: str, seconds: float, data: bytes = b"") -> None:
        #: ``data``, ``FIN``, ``RST``, ``silence`` or ``refused``.
        self.kind = kind
        #: Seconds from the probe's last byte to the reaction (the timeout for silence).
        self.seconds = seconds
        #: What the server sent (for ``data``).
        self.data = data

    def __repr__(self) -> str:
        return f"Reaction({self.kind!r}, {self.seconds:.3f}, {len(self.data)} bytes)"


async def connect(server: Address, timeout: float
                  ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A TCP connection to ``server`` (TCP_NODELAY: every write leaves as it is made)."""
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(server[0], server[1], limit=READ_SIZE), timeout
    )
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return reader, writer


async def observe(reader: asyncio.StreamReader, silence: float, *, linger: float = 0.2
                  ) -> Reaction:
    """Wait for the server's reaction: the first of data, FIN, RST or ``silence`` seconds.

    After data, reads on for up to ``linger`` seconds more (so a reply in several segments
    is whole), stopping early at FIN or RST.
    """
    loop = asyncio.get_running_loop()
    start = loop.time()
    try:
        first = await asyncio.wait_for(reader.read(READ_SIZE), silence)
    except asyncio.TimeoutError:
        return Reaction("silence", loop.time() - start)
    except (ConnectionResetError, BrokenPipeError):
        return Reaction("RST", loop.time() - start)
    except OSError:
        return Reaction("RST", loop.time() - start)
    seconds = loop.time() - start
    if not first:
        return Reaction("FIN", seconds)
    data = bytearray(first)
    end = loop.time() + linger
    with contextlib.suppress(asyncio.TimeoutError, OSError):
        while (left := end - loop.time()) > 0:
            more = await asyncio.wait_for(reader.read(READ_SIZE), left)
            if not more:
                break
            data += more
    return Reaction("data", seconds, bytes(data))


async def close(writer: asyncio.StreamWriter) -> None:
    """Close a connection and wait (bounded) for it to go."""
    writer.close()
    with contextlib.suppress(OSError, asyncio.TimeoutError):
        await asyncio.wait_for(writer.wait_closed(), 2.0)


# --- the probe's own targets --------------------------------------------------------------


class TargetState:
    """What the probe's targets saw: tokens (first bytes of each echo connection), the
    connections to the sink, and what the half-close target read after its FIN."""

    __slots__ = ("__weakref__", "half_close_received", "sink_connections", "tokens",
                 "udp_tokens")

    def __init__(self) -> None:
        #: Token -> echo connections that started with it.
        self.tokens: Counter[bytes] = Counter()
        #: Token -> UDP datagrams that started with it.
        self.udp_tokens: Counter[bytes] = Counter()
        #: Sink number -> connections it accepted.
        self.sink_connections: Counter[int] = Counter()
        #: Token -> bytes the half-close target read after shutting down its writing side.
        self.half_close_received: dict[bytes, int] = {}


async def _echo(state: TargetState, reader: asyncio.StreamReader,
                writer: asyncio.StreamWriter) -> None:
    """Echo everything; at the end of the input, half-close back (then close)."""
    head = b""
    try:
        while data := await asyncio.wait_for(reader.read(READ_SIZE), TARGET_TIMEOUT):
            if len(head) < TOKEN_SIZE:
                head += data[: TOKEN_SIZE - len(head)]
                if len(head) == TOKEN_SIZE:
                    state.tokens[head] += 1
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
        await writer.drain()
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError):
        pass
    finally:
        await close(writer)


async def _half_close(state: TargetState, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> None:
    """Read the token, answer it with a greeting, shut down writing, then read to the end
    and record how much came after the FIN."""
    try:
        token = await asyncio.wait_for(reader.readexactly(TOKEN_SIZE), TARGET_TIMEOUT)
        writer.write(token + HALF_CLOSE_GREETING)
        await writer.drain()
        writer.write_eof()
        received = 0
        while data := await asyncio.wait_for(reader.read(READ_SIZE), TARGET_TIMEOUT):
            received += len(data)
        state.half_close_received[token] = received
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError):
        pass
    finally:
        await close(writer)


async def _sink(state: TargetState, index: int, reader: asyncio.StreamReader,
                writer: asyncio.StreamWriter) -> None:
    """Count the connection; read and discard to the end."""
    state.sink_connections[index] += 1
    try:
        while await asyncio.wait_for(reader.read(READ_SIZE), TARGET_TIMEOUT):
            pass
    except (OSError, asyncio.TimeoutError):
        pass
    finally:
        await close(writer)


class _UdpEcho(asyncio.DatagramProtocol):
    """Sends every datagram back to where it came from; records its token."""

    __slots__ = ("__weakref__", "state", "transport")

    def __init__(self, state: TargetState) -> None:
        self.state = state
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        if len(data) >= TOKEN_SIZE:
            self.state.udp_tokens[data[:TOKEN_SIZE]] += 1
        if self.transport is not None:
            self.transport.sendto(data, addr)


class Targets:
    """Where probed servers are asked to connect: TCP echo, a half-close target, two sinks,
    and a UDP echo, all on 127.0.0.1 (or an echo named by ``--target``, then without the
    half-close target and the sinks: ``own`` is False)."""

    __slots__ = ("__weakref__", "echo", "half_close", "own", "sinks", "state", "udp")

    def __init__(self, state: TargetState, echo: Address, udp: Address,
                 half_close: Address | None, sinks: tuple[Address, ...]) -> None:
        self.state = state
        #: TCP echo.
        self.echo = echo
        #: UDP echo.
        self.udp = udp
        #: Answers a token, shuts down writing, reads on (own targets only).
        self.half_close = half_close
        #: Each accepts and counts connections (own targets only).
        self.sinks = sinks
        #: Whether these are the probe's own targets (it can see what they received).
        self.own = half_close is not None


def _bound(server: asyncio.AbstractServer) -> Address:
    sockets: Sequence[socket.socket] = getattr(server, "sockets", ())
    host, port = sockets[0].getsockname()[:2]
    return str(host), int(port)


@contextlib.asynccontextmanager
async def start_targets(host: str = "127.0.0.1", external: Address | None = None
                        ) -> AsyncIterator[Targets]:
    """The probe's targets on ``host`` (free ports), closed on exit. With ``external``,
    that address is the TCP and UDP echo and only the state is local."""
    state = TargetState()
    if external is not None:
        yield Targets(state, external, external, None, ())
        return
    loop = asyncio.get_running_loop()
    servers: list[asyncio.AbstractServer] = []
    udp: asyncio.DatagramTransport | None = None
    try:
        handlers = (functools.partial(_echo, state), functools.partial(_half_close, state),
                    functools.partial(_sink, state, 0), functools.partial(_sink, state, 1))
        for handler in handlers:
            servers.append(await asyncio.start_server(handler, host, 0, limit=READ_SIZE))
        transport, _ = await loop.create_datagram_endpoint(
            functools.partial(_UdpEcho, state), local_addr=(host, 0))
        udp = transport
        udp_address = udp.get_extra_info("sockname")
        yield Targets(state, _bound(servers[0]), (str(udp_address[0]), int(udp_address[1])),
                      _bound(servers[1]), (_bound(servers[2]), _bound(servers[3])))
    finally:
        if udp is not None:
            udp.close()
        for server in servers:
            server.close()
        for server in servers:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(server.wait_closed(), 2.0)


# --- UDP to the server ----------------------------------------------------------------------


class _Inbox(asyncio.DatagramProtocol):
    """Queues every datagram received."""

    __slots__ = ("__weakref__", "queue")

    def __init__(self, queue: asyncio.Queue[bytes]) -> None:
        self.queue = queue

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.queue.put_nowait(data)


class UdpSocket:
    """A UDP socket connected to the server: :meth:`send`, :meth:`receive` with a timeout."""

    __slots__ = ("__weakref__", "queue", "transport")

    def __init__(self, transport: asyncio.DatagramTransport, queue: asyncio.Queue[bytes]
                 ) -> None:
        self.transport = transport
        self.queue = queue

    @classmethod
    async def open(cls, server: Address) -> UdpSocket:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        transport, _ = await loop.create_datagram_endpoint(
            functools.partial(_Inbox, queue), remote_addr=server)
        return cls(transport, queue)

    def send(self, packet: bytes) -> None:
        self.transport.sendto(packet)

    async def receive(self, timeout: float) -> bytes | None:
        """The next datagram, or ``None`` after ``timeout`` seconds."""
        try:
            return await asyncio.wait_for(self.queue.get(), timeout)
        except asyncio.TimeoutError:
            return None

    def close(self) -> None:
        self.transport.close()
