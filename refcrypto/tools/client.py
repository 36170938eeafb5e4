"""A SOCKS5-to-Shadowsocks client on refcrypto, small enough to read in one sitting.

::

    python -m refcrypto.tools.client --server 127.0.0.1:8388 --listen 127.0.0.1:1080 \\
        -m aes-256-gcm -k PASSWORD
    curl --socks5-hostname 127.0.0.1:1080 http://example.com/

For a Shadowsocks 2022 method the key is the base64 PSK (``-m 2022-blake3-aes-128-gcm -k
PSK``), or ``-k iPSK:uPSK`` for a user of a multi-user server (SIP023).

One TCP connection (CONNECT), step by step:

1. **SOCKS5** (RFC 1928): the application greets us; we choose "no authentication"; it sends
   a request naming the target.
2. **Shadowsocks**: we connect to the server and send ``stream.start()``: the salt (AEAD,
   2022) or IV (stream methods) and the target address, in one write. Classic methods put
   the address in front of the stream (:mod:`refcrypto.tools`); 2022 puts it in the
   encrypted request header, with padding (:class:`~refcrypto.wire.ss2022.Cryptor2022`).
3. We tell the application the tunnel is up, then relay both ways:
   application -> ``encrypt`` -> server, server -> ``decrypt`` -> application. A server
   stream that fails or ends inside a chunk (``finish()``) resets the application.

One UDP association (UDP ASSOCIATE, RFC 1928 section 7):

1. We open a UDP socket for the application (its address is the reply's BND.ADDR and
   BND.PORT) and one towards the server. Datagrams are taken only from the application's
   host (the TCP connection's peer), and from the port its request named, if it named one.
2. Each datagram from the application is ``RSV(2) FRAG(1) address DATA``; DATA is sealed for
   the address (``packets.seal``: one ``encrypt_all([address][DATA])`` for the classic
   methods, a packet of the association's one ``UdpClient2022`` session for 2022) and sent.
3. Each packet from the server is opened (``packets.open``: authenticated, and for 2022
   checked for its session, timestamp and packet ID) and handed to the application with the
   source address in the same header. Packets that fail are dropped.
4. The association lasts as long as the TCP connection that asked for it.

Kept out on purpose: SOCKS authentication, BIND, UDP fragments (FRAG != 0: dropped), idle
timeouts, and the usual trick of sending the address together with the application's first
bytes (2022 sends padding instead).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Callable, Sequence

from ..errors import RefcryptoError
from . import (
    ADDRESS_SIZES,
    ATYP_DOMAIN,
    AddressError,
    ClientCipher,
    ClientPackets,
    pack_address,
    parse_address,
    parse_host_port,
    reset,
    warn_about_method,
)

__all__ = ["Association", "handle", "main", "start"]

log = logging.getLogger("refcrypto.client")

SOCKS_VERSION = 5
NO_AUTHENTICATION, NO_ACCEPTABLE_METHOD = 0x00, 0xFF
CMD_CONNECT, CMD_UDP_ASSOCIATE = 1, 3
# Reply codes (RFC 1928, section 6).
SUCCEEDED, GENERAL_FAILURE, COMMAND_NOT_SUPPORTED = 0x00, 0x01, 0x07
CONNECT_TIMEOUT = 10.0

Address = tuple[str, int]


async def socks5_handshake(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> tuple[int, Address] | None:
    """Run the SOCKS5 greeting and read a request; return ``(command, address)``."""
    version, count = await reader.readexactly(2)
    offered = await reader.readexactly(count)
    if version != SOCKS_VERSION or NO_AUTHENTICATION not in offered:
        writer.write(bytes((SOCKS_VERSION, NO_ACCEPTABLE_METHOD)))
        return None
    writer.write(bytes((SOCKS_VERSION, NO_AUTHENTICATION)))

    # VER CMD RSV ATYP, then the address in the same format Shadowsocks uses.
    _, command, _, atyp = await reader.readexactly(4)
    if atyp == ATYP_DOMAIN:
        length = await reader.readexactly(1)
        raw = length + await reader.readexactly(length[0] + 2)
    else:
        raw = await reader.readexactly(ADDRESS_SIZES.get(atyp, 0) + 2)
    parsed = parse_address(bytes((atyp,)) + raw)  # raises AddressError for a bad ATYP
    if command not in (CMD_CONNECT, CMD_UDP_ASSOCIATE) or parsed is None:
        await reply(writer, COMMAND_NOT_SUPPORTED)
        return None
    host, port, _ = parsed
    return command, (host, port)


async def reply(writer: asyncio.StreamWriter, code: int, bound: Address | None = None) -> None:
    """Send a SOCKS5 reply; BND is ``bound``, else the address the application is connected to."""
    host, port = bound or writer.get_extra_info("sockname")[:2]
    writer.write(bytes((SOCKS_VERSION, code, 0)) + pack_address(host, port))
    await writer.drain()


async def pipe(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
    transform: Callable[[bytes], bytes], finish: Callable[[], None] | None = None,
) -> None:
    """Copy ``reader`` to ``writer`` through ``transform``; ``finish()``, then pass the end on."""
    while data := await reader.read(65536):
        writer.write(transform(data))
        await writer.drain()
    if finish is not None:
        finish()  # a decoder's: raises TruncatedData if the stream stopped inside a chunk
    if writer.can_write_eof():
        writer.write_eof()


class _Datagrams(asyncio.DatagramProtocol):
    """A UDP socket that hands each datagram to ``receive(data, (host, port))``."""

    def __init__(self, receive: Callable[[bytes, Address], None]) -> None:
        self.receive = receive

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.receive(data, (str(addr[0]), int(addr[1])))

    def error_received(self, exc: Exception) -> None:
        log.debug("udp: %s", exc)


class Association:
    """One UDP ASSOCIATE (RFC 1928, 7): the application's datagrams to the server and back."""

    def __init__(self, packets: ClientPackets, app_host: str, app_port: int) -> None:
        self.packets = packets
        self.app_host, self.app_port = app_host, app_port  # port 0: not known in advance
        self.app: Address | None = None  # where replies go: the latest sender
        self.to_app: asyncio.DatagramTransport | None = None
        self.to_server: asyncio.DatagramTransport | None = None

    def from_app(self, data: bytes, sender: Address) -> None:
        if sender[0] != self.app_host or self.app_port not in (0, sender[1]):
            return  # only the application may use the association
        if len(data) < 4 or data[:3] != b"\0\0\0" or self.to_server is None:
            return  # RSV must be zero; a fragment (FRAG != 0) is dropped
        try:
            parsed = parse_address(data[3:])
            if parsed is None:
                raise AddressError("datagram ends inside the address")
            host, port, size = parsed
            packet = self.packets.seal(data[3 + size :], (host, port))
        except ValueError as exc:  # AddressError, RefcryptoError
            log.info("udp from the application: dropped: %s", exc)
            return
        self.app = sender
        self.to_server.sendto(packet)

    def from_server(self, packet: bytes, _: Address) -> None:
        if self.app is None or self.to_app is None:
            return
        try:
            source, payload = self.packets.open(packet)
        except (RefcryptoError, AddressError) as exc:
            log.info("udp from the server: dropped: %s", exc)
            return
        self.to_app.sendto(b"\0\0\0" + pack_address(*source) + payload, self.app)

    def close(self) -> None:
        for transport in (self.to_app, self.to_server):
            if transport is not None:
                transport.close()


async def associate(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: Address,
    cipher: ClientCipher, requested: Address,
) -> None:
    """Serve a UDP ASSOCIATE request until its TCP connection closes."""
    loop = asyncio.get_running_loop()
    association = Association(cipher.packets(), writer.get_extra_info("peername")[0],
                              requested[1])
    try:
        association.to_app, _ = await loop.create_datagram_endpoint(
            lambda: _Datagrams(association.from_app),
            local_addr=(writer.get_extra_info("sockname")[0], 0))
        association.to_server, _ = await loop.create_datagram_endpoint(
            lambda: _Datagrams(association.from_server), remote_addr=server)
        bound = association.to_app.get_extra_info("sockname")[:2]
    except OSError:
        association.close()
        await reply(writer, GENERAL_FAILURE)
        raise
    try:
        await reply(writer, SUCCEEDED, bound)
        log.debug("udp association for %s on %s:%d", association.app_host, *bound)
        while await reader.read(65536):
            pass  # the association ends with this connection (RFC 1928, 7)
    finally:
        association.close()


async def handle(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    server: Address,
    cipher: ClientCipher,
) -> None:
    """Serve one SOCKS5 connection through the Shadowsocks server."""
    remote: asyncio.StreamWriter | None = None
    try:
        request = await socks5_handshake(reader, writer)
        if request is None:
            return
        command, target = request
        if command == CMD_UDP_ASSOCIATE:
            await associate(reader, writer, server, cipher, target)
            return
        try:
            remote_reader, remote_writer = await asyncio.wait_for(
                asyncio.open_connection(*server), CONNECT_TIMEOUT
            )
        except (OSError, asyncio.TimeoutError):
            await reply(writer, GENERAL_FAILURE)
            raise
        remote = remote_writer
        stream = cipher.stream(target)  # one per connection: a fresh salt or IV
        remote_writer.write(stream.start())
        await reply(writer, SUCCEEDED)
        log.debug("tunnel to %s:%d", *target)

        upstream = asyncio.ensure_future(pipe(reader, remote_writer, stream.encrypt))
        downstream = asyncio.ensure_future(
            pipe(remote_reader, writer, stream.decrypt, stream.finish))
        try:
            await asyncio.gather(upstream, downstream)
        finally:
            upstream.cancel()
            downstream.cancel()
    except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError) as exc:
        log.info("connection closed: %r", exc)
    except (RefcryptoError, AddressError) as exc:  # InvalidTag (wrong key), cut stream
        log.warning("connection closed: %s", exc)
        reset(writer)
    finally:
        for stream_writer in (remote, writer):
            if stream_writer is not None:
                stream_writer.close()


async def start(
    listen: Address, server: Address, method: str, password: str | bytes
) -> asyncio.Server:
    """Listen for SOCKS5 clients on ``listen``; return the asyncio server. ``password`` is
    the password, or for a 2022 method the base64 PSK (or ``iPSK:uPSK``)."""
    warn_about_method(method, log)  # fail now on an unknown method; warn about rc4, legacy
    cipher = ClientCipher(method, password)  # fail now on a key the method cannot take

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await handle(reader, writer, server, cipher)

    return await asyncio.start_server(on_connect, *listen)


async def serve(listen: Address, server: Address, method: str, password: str | bytes) -> None:
    socks = await start(listen, server, method, password)
    host, port = socks.sockets[0].getsockname()[:2]
    print(f"listening on {host}:{port}", flush=True)
    async with socks:
        await socks.serve_forever()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m refcrypto.tools.client",
        description="A SOCKS5 proxy (TCP and UDP) that tunnels through a Shadowsocks server.",
        epilog="The key is the password of a classic method, or the base64 PSK of a 2022 "
        "method (iPSK:uPSK for a user of a multi-user server).",
    )
    parser.add_argument("--server", required=True, help="Shadowsocks server HOST:PORT")
    parser.add_argument("--listen", default="127.0.0.1:1080", help="SOCKS5 HOST:PORT (0: any)")
    parser.add_argument("-m", "--method", required=True, help="cipher method, e.g. aes-256-gcm")
    parser.add_argument("-v", "--verbose", action="store_true")
    from ..keyinput import KeyInputError, add_key_arguments, key_from_args

    add_key_arguments(parser)  # --key-file PATH, REFCRYPTO_KEY, or -k (visible in ps)
    args = parser.parse_args(argv)
    try:
        args.password = key_from_args(args)
    except KeyInputError as exc:
        parser.error(str(exc))
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING)
    try:
        listen, server = parse_host_port(args.listen), parse_host_port(args.server)
        asyncio.run(serve(listen, server, args.method, args.password))
    except (RefcryptoError, ValueError) as exc:
        parser.error(str(exc))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
