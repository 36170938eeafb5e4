"""A SOCKS5-to-Shadowsocks client on refcrypto, small enough to read in one sitting.

::

    python -m refcrypto.tools.client --server 127.0.0.1:8388 --listen 127.0.0.1:1080 \\
        -m aes-256-gcm -k PASSWORD
    curl --socks5-hostname 127.0.0.1:1080 http://example.com/

One connection, step by step:

1. **SOCKS5** (RFC 1928): the application greets us; we choose "no authentication"; it sends
   a CONNECT request naming the target.
2. **Shadowsocks**: we connect to the server and send ``encrypt(target address)``; the
   :class:`refcrypto.Cryptor` puts the IV (stream methods) or salt (AEAD methods) in front of
   the first bytes it encrypts. The address format is SOCKS5's (:mod:`refcrypto.tools`).
3. We tell the application the tunnel is up, then relay both ways:
   application -> ``encrypt`` -> server, server -> ``decrypt`` -> application.

Kept out on purpose: UDP ASSOCIATE, SOCKS authentication, idle timeouts, and the usual
trick of sending the address together with the application's first bytes.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Callable, Sequence

from ..errors import RefcryptoError
from ..methods import method as lookup_method
from ..wire import Cryptor
from . import (
    ATYP_DOMAIN,
    ATYP_IPV4,
    ATYP_IPV6,
    AddressError,
    pack_address,
    parse_address,
    parse_host_port,
)

__all__ = ["handle", "main", "start"]

log = logging.getLogger("refcrypto.client")

SOCKS_VERSION = 5
NO_AUTHENTICATION, NO_ACCEPTABLE_METHOD = 0x00, 0xFF
CMD_CONNECT = 1
# Reply codes (RFC 1928, section 6).
SUCCEEDED, GENERAL_FAILURE, COMMAND_NOT_SUPPORTED = 0x00, 0x01, 0x07
CONNECT_TIMEOUT = 10.0
ADDRESS_BYTES = {ATYP_IPV4: 4, ATYP_IPV6: 16}

Address = tuple[str, int]


async def socks5_handshake(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> Address | None:
    """Run the SOCKS5 greeting and read a CONNECT request; return its target."""
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
        raw = await reader.readexactly(ADDRESS_BYTES.get(atyp, 0) + 2)
    parsed = parse_address(bytes((atyp,)) + raw)  # raises AddressError for a bad ATYP
    if command != CMD_CONNECT or parsed is None:
        await reply(writer, COMMAND_NOT_SUPPORTED)
        return None
    host, port, _ = parsed
    return host, port


async def reply(writer: asyncio.StreamWriter, code: int) -> None:
    """Send a SOCKS5 reply; BND.ADDR is the address the application is connected to."""
    host, port = writer.get_extra_info("sockname")[:2]
    writer.write(bytes((SOCKS_VERSION, code, 0)) + pack_address(host, port))
    await writer.drain()


async def pipe(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, transform: Callable[[bytes], bytes]
) -> None:
    """Copy ``reader`` to ``writer`` through ``transform``; pass the end of stream on."""
    while data := await reader.read(65536):
        writer.write(transform(data))
        await writer.drain()
    if writer.can_write_eof():
        writer.write_eof()


async def handle(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    server: Address,
    method: str,
    password: str,
) -> None:
    """Serve one SOCKS5 connection through the Shadowsocks server."""
    remote: asyncio.StreamWriter | None = None
    try:
        target = await socks5_handshake(reader, writer)
        if target is None:
            return
        try:
            remote_reader, remote_writer = await asyncio.wait_for(
                asyncio.open_connection(*server), CONNECT_TIMEOUT
            )
        except (OSError, asyncio.TimeoutError):
            await reply(writer, GENERAL_FAILURE)
            raise
        remote = remote_writer
        cryptor = Cryptor(password, method)  # one per connection: fresh IV/salt each way
        remote_writer.write(cryptor.encrypt(pack_address(*target)))
        await reply(writer, SUCCEEDED)
        log.debug("tunnel to %s:%d", *target)

        upstream = asyncio.ensure_future(pipe(reader, remote_writer, cryptor.encrypt))
        downstream = asyncio.ensure_future(pipe(remote_reader, writer, cryptor.decrypt))
        try:
            await asyncio.gather(upstream, downstream)
        finally:
            upstream.cancel()
            downstream.cancel()
    except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError) as exc:
        log.info("connection closed: %r", exc)
    except (RefcryptoError, AddressError) as exc:  # e.g. InvalidTag: wrong password
        log.warning("connection closed: %s", exc)
    finally:
        for stream in (remote, writer):
            if stream is not None:
                stream.close()


async def start(listen: Address, server: Address, method: str, password: str) -> asyncio.Server:
    """Listen for SOCKS5 clients on ``listen``; return the asyncio server."""
    lookup_method(method)  # fail now on an unknown method, not at the first connection

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await handle(reader, writer, server, method, password)

    return await asyncio.start_server(on_connect, *listen)


async def serve(listen: Address, server: Address, method: str, password: str) -> None:
    socks = await start(listen, server, method, password)
    host, port = socks.sockets[0].getsockname()[:2]
    print(f"listening on {host}:{port}", flush=True)
    async with socks:
        await socks.serve_forever()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m refcrypto.tools.client",
        description="A SOCKS5 proxy that tunnels through a Shadowsocks server, on refcrypto.",
    )
    parser.add_argument("--server", required=True, help="Shadowsocks server HOST:PORT")
    parser.add_argument("--listen", default="127.0.0.1:1080", help="SOCKS5 HOST:PORT (0: any)")
    parser.add_argument("-m", "--method", required=True, help="cipher method, e.g. aes-256-gcm")
    parser.add_argument("-k", "--password", required=True)
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
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
