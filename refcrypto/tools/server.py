"""A Shadowsocks server on refcrypto: TCP and UDP relay with asyncio.

::

    python -m refcrypto.tools.server --listen 127.0.0.1:8388 -m aes-256-gcm -k PASSWORD

It prints ``listening on HOST:PORT`` once TCP and UDP are bound (UDP on the same port, as
clients expect); ``--listen 127.0.0.1:0`` picks a free port.

What it does, per the shadowsocks-org whitepaper:

* **TCP**: decrypt the client's stream with :class:`refcrypto.Cryptor` until the target
  address (:func:`refcrypto.tools.parse_address`) is complete, connect to the target, send it
  whatever followed the address, then relay: client -> ``decrypt`` -> target and
  target -> ``encrypt`` -> client. An end of stream is passed on as a half-close. A
  connection that fails authentication or names a bad address is closed.
* **UDP**: every packet is ``encrypt_all([address][payload])``. The payload goes to the
  target from one outbound socket per client (and address family); each reply comes back
  as ``encrypt_all([address of the replying host][reply])``. Idle outbound sockets are
  closed after ``timeout`` seconds.

It is a reference peer for interoperability tests, not a hardened server: it has no replay
filter (shadowsocks-crypto.md 5.3), no access control (it connects wherever the client
asks) and no defence against active probing. Do not expose it to the Internet.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import logging
import signal
import socket
from collections.abc import Awaitable, Callable, Sequence
from typing import cast

from ..errors import RefcryptoError
from ..methods import Method
from ..methods import method as lookup_method
from ..wire import Cryptor, decrypt_all, encrypt_all
from . import AddressError, pack_address, parse_address, parse_host_port

__all__ = ["DEFAULT_TIMEOUT", "ShadowsocksServer", "main"]

log = logging.getLogger("refcrypto.server")

#: Seconds a connection (or a client's UDP socket) may stay idle in both directions.
DEFAULT_TIMEOUT = 300.0
#: Seconds to wait for the target to accept a TCP connection.
CONNECT_TIMEOUT = 10.0
#: Bytes asked for per read.
READ_SIZE = 65536

Address = tuple[str, int]
Transform = Callable[[bytes], bytes]


class _Idle:
    """When either direction of a connection last moved data (shared by both pipes)."""

    __slots__ = ("last",)

    def __init__(self, now: float) -> None:
        self.last = now


async def _pipe(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    transform: Transform,
    idle: _Idle,
    timeout: float,
) -> None:
    """Copy ``reader`` to ``writer`` through ``transform``, then half-close ``writer``.

    Gives up with ``TimeoutError`` when neither direction has moved data for ``timeout``.
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


def _close(writer: asyncio.StreamWriter | None) -> None:
    if writer is not None:
        writer.close()


def _family(host: str) -> socket.AddressFamily | None:
    try:
        return socket.AF_INET if ipaddress.ip_address(host).version == 4 else socket.AF_INET6
    except ValueError:
        return None


class _ServerDatagrams(asyncio.DatagramProtocol):
    """The server's UDP socket: hands every packet to the server."""

    def __init__(self, server: ShadowsocksServer) -> None:
        self.server = server

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.server._udp_request(data, (str(addr[0]), int(addr[1])))

    def error_received(self, exc: Exception) -> None:
        log.debug("udp: %s", exc)


class _UdpRelay(asyncio.DatagramProtocol):
    """One client's outbound UDP socket; replies go back to that client, encrypted."""

    def __init__(self, server: ShadowsocksServer, client: Address, now: float) -> None:
        self.server = server
        self.client = client
        self.last = now
        self.transport: asyncio.DatagramTransport | None = None
        self.pending: list[tuple[bytes, Address]] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # asyncio's selector datagram transport does not subclass DatagramTransport.
        self.transport = cast(asyncio.DatagramTransport, transport)
        for data, target in self.pending:
            self.transport.sendto(data, target)
        self.pending.clear()

    def send(self, data: bytes, target: Address, now: float) -> None:
        self.last = now
        if self.transport is None:
            self.pending.append((data, target))
        else:
            self.transport.sendto(data, target)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.last = asyncio.get_running_loop().time()
        self.server._udp_reply(self.client, data, (str(addr[0]), int(addr[1])))

    def error_received(self, exc: Exception) -> None:
        log.debug("udp relay for %s: %s", self.client, exc)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
        self.pending.clear()


class ShadowsocksServer:
    """A Shadowsocks server for one method and password.

    >>> async def run() -> None:
    ...     server = ShadowsocksServer("aes-256-gcm", "secret")
    ...     host, port = await server.start("127.0.0.1", 0)
    ...     await server.close()
    >>> asyncio.run(run())
    """

    def __init__(
        self,
        method: str | Method,
        password: str | bytes,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        connect_timeout: float = CONNECT_TIMEOUT,
    ) -> None:
        self.method = lookup_method(method)
        self.password = password
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.address: Address | None = None
        self._tcp: asyncio.Server | None = None
        self._udp: asyncio.DatagramTransport | None = None
        self._relays: dict[tuple[Address, int], _UdpRelay] = {}
        self._handlers: set[asyncio.Task[None]] = set()
        self._background: set[asyncio.Task[object]] = set()
        self._sweeper: asyncio.TimerHandle | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0, *, udp: bool = True) -> Address:
        """Listen on ``host:port`` (TCP, and UDP on the same port); return the address.

        With ``port`` 0 the system picks a TCP port; if UDP cannot have the same number,
        another is tried.
        """
        loop = asyncio.get_running_loop()
        attempts = 20 if port == 0 and udp else 1
        for attempt in range(attempts):
            tcp = await asyncio.start_server(self._handle, host, port)
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
            self._sweeper = loop.call_later(self.timeout / 2, self._sweep)
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
            cryptor = Cryptor(self.password, self.method)
            request = b""
            while (parsed := parse_address(request)) is None:
                data = await asyncio.wait_for(reader.read(READ_SIZE), self.timeout)
                if not data:
                    return  # closed before naming a target
                request += cryptor.decrypt(data)
            host, port, size = parsed
            target_reader, target_writer = await asyncio.wait_for(
                asyncio.open_connection(host, port), self.connect_timeout
            )
            upstream = target_writer
            log.debug("%s -> %s:%d", peer, host, port)
            if len(request) > size:
                target_writer.write(request[size:])
            idle = _Idle(asyncio.get_running_loop().time())
            await _both(
                asyncio.ensure_future(
                    _pipe(reader, target_writer, cryptor.decrypt, idle, self.timeout)
                ),
                asyncio.ensure_future(
                    _pipe(target_reader, writer, cryptor.encrypt, idle, self.timeout)
                ),
            )
        except (RefcryptoError, AddressError) as exc:
            log.warning("%s: closing: %s", peer, exc)
        except (OSError, asyncio.TimeoutError) as exc:
            log.info("%s: closing: %r", peer, exc)
        finally:
            _close(upstream)
            _close(writer)
            self._handlers.discard(task)

    # --- UDP ------------------------------------------------------------------------------

    def _udp_request(self, packet: bytes, client: Address) -> None:
        try:
            payload = decrypt_all(self.password, self.method, packet)
            parsed = parse_address(payload)
            if parsed is None:
                raise AddressError("packet ends inside the target address")
        except (RefcryptoError, AddressError) as exc:
            log.info("udp from %s:%d: dropped: %s", *client, exc)
            return
        host, port, size = parsed
        family = _family(host)
        if family is None:
            self._spawn(self._udp_resolve_and_send(client, host, port, payload[size:]))
        else:
            self._udp_send(client, family, payload[size:], (host, port))

    async def _udp_resolve_and_send(
        self, client: Address, host: str, port: int, data: bytes
    ) -> None:
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM), self.connect_timeout
            )
        except (OSError, asyncio.TimeoutError) as exc:
            log.info("udp: cannot resolve %s: %r", host, exc)
            return
        family, _, _, _, sockaddr = infos[0]
        self._udp_send(client, family, data, (str(sockaddr[0]), int(sockaddr[1])))

    def _udp_send(
        self, client: Address, family: socket.AddressFamily, data: bytes, target: Address
    ) -> None:
        loop = asyncio.get_running_loop()
        relay = self._relays.get((client, family))
        if relay is None:
            relay = self._relays[(client, family)] = _UdpRelay(self, client, loop.time())
            # Send from the listening address when the family matches (a server bound to one
            # interface answers from it); otherwise from any address.
            assert self.address is not None
            local = (self.address[0], 0) if _family(self.address[0]) == family else None
            made = relay  # the factory hands asyncio the relay created above
            self._spawn(
                loop.create_datagram_endpoint(lambda: made, local_addr=local, family=family)
            )
        relay.send(data, target, loop.time())

    def _udp_reply(self, client: Address, data: bytes, source: Address) -> None:
        if self._udp is not None:
            packet = encrypt_all(self.password, self.method, pack_address(*source) + data)
            self._udp.sendto(packet, client)

    def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        for key, relay in list(self._relays.items()):
            if now - relay.last >= self.timeout:
                relay.close()
                del self._relays[key]
        self._sweeper = loop.call_later(self.timeout / 2, self._sweep)

    def _spawn(self, coroutine: Awaitable[object]) -> None:
        task: asyncio.Task[object] = asyncio.ensure_future(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)


# --- command line ---------------------------------------------------------------------------


async def _serve(args: argparse.Namespace) -> None:
    host, port = parse_host_port(args.listen)
    server = ShadowsocksServer(args.method, args.password, timeout=args.timeout)
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
    )
    parser.add_argument("--listen", default="127.0.0.1:8388", help="HOST:PORT (port 0: any)")
    parser.add_argument("-m", "--method", required=True, help="cipher method, e.g. aes-256-gcm")
    parser.add_argument("-k", "--password", required=True)
    parser.add_argument("--no-udp", action="store_true", help="TCP only")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="idle seconds")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
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
