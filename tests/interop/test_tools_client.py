"""refcrypto.tools.client: fetch a page from a loopback http.server through the client and
libev's ss-server (the command line, as a user runs it), and through refcrypto's own server
(in-process, no libev); UDP ASSOCIATE (RFC 1928, 7) for every method, through libev's
ss-server and refcrypto's server; plus the SOCKS5 refusals."""

from __future__ import annotations

import base64
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import refcrypto
import refcrypto.tools.client as client_module
from refcrypto.tools.client import start
from refcrypto.tools.server import ShadowsocksServer

from .peers import LIBEV_WORKING, ss_server
from .support import (
    IO_TIMEOUT,
    LOOPBACK,
    PAGE,
    PASSWORD,
    BackgroundLoop,
    HttpServer,
    Socks5Udp,
    UdpEcho,
    payload,
    python_command,
    python_env,
    running,
    socks5_connect,
)


def fetch(socks_port: int, server: tuple[str, int], path: str = "/") -> tuple[int, bytes]:
    """HTTP/1.0 GET through the SOCKS5 proxy; (status, body)."""
    with socks5_connect(socks_port, server) as sock:
        sock.sendall(f"GET {path} HTTP/1.0\r\nHost: {server[0]}:{server[1]}\r\n\r\n".encode())
        response = b""
        while chunk := sock.recv(65536):
            response += chunk
    head, _, body = response.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


@pytest.mark.parametrize("method", ["aes-256-gcm", "chacha20-ietf-poly1305", "aes-256-cfb"])
def test_fetch_page_through_ss_server(
    method: str, ss_server_bin: str, log_dir: Path, http_server: HttpServer
) -> None:
    with ss_server(ss_server_bin, method, log_dir) as server_port:
        command = python_command(
            "-m", "refcrypto.tools.client", "--server", f"{LOOPBACK}:{server_port}",
            "--listen", f"{LOOPBACK}:0", "-m", method, "-k", PASSWORD,
        )
        ready = r"listening on 127\.0\.0\.1:(\d+)"
        with running(command, log_dir / f"client-{method}.log", ready_line=ready,
                     env=python_env()) as (_, match):
            assert match is not None
            socks_port = int(match.group(1))
            assert fetch(socks_port, http_server.address) == (200, PAGE)
            assert fetch(socks_port, http_server.address, "/missing") == (404, b"not found")


@pytest.fixture
def in_process() -> Iterator[tuple[BackgroundLoop, int]]:
    """refcrypto's client in front of refcrypto's server, on one background loop; yields
    (loop, SOCKS5 port)."""
    loop = BackgroundLoop()
    server = ShadowsocksServer("xchacha20-ietf-poly1305", PASSWORD, timeout=30)
    try:
        server_address = loop.run(server.start(LOOPBACK, 0, udp=False))
        socks = loop.run(start((LOOPBACK, 0), server_address, "xchacha20-ietf-poly1305",
                               PASSWORD))
        try:
            yield loop, int(socks.sockets[0].getsockname()[1])
        finally:
            loop.close_server(socks)
    finally:
        loop.run(server.close())
        loop.close()


def test_fetch_page_through_refcrypto_server(
    in_process: tuple[BackgroundLoop, int], http_server: HttpServer
) -> None:
    _, socks_port = in_process
    assert fetch(socks_port, http_server.address) == (200, PAGE)


def socks_exchange(socks_port: int, data: bytes, reply_size: int) -> bytes:
    with socket.create_connection((LOOPBACK, socks_port), timeout=IO_TIMEOUT) as sock:
        sock.sendall(data)
        reply = b""
        while len(reply) < reply_size and (chunk := sock.recv(reply_size - len(reply))):
            reply += chunk
        return reply


def test_socks5_refusals(in_process: tuple[BackgroundLoop, int]) -> None:
    _, socks_port = in_process
    # Only username/password offered: "no acceptable methods".
    assert socks_exchange(socks_port, b"\x05\x01\x02", 2) == b"\x05\xff"
    # BIND is not supported: reply 7 (CONNECT and UDP ASSOCIATE are).
    request = b"\x05\x01\x00" + b"\x05\x02\x00\x01" + socket.inet_aton(LOOPBACK) + b"\x00\x00"
    assert socks_exchange(socks_port, request, 5) == b"\x05\x00\x05\x07\x00"


#: The client is meant to be read in one sitting next to RFC 1928 and the whitepaper. The
#: CONNECT-only client fitted in 200 lines; UDP ASSOCIATE (RFC 1928, section 7: the request,
#: the relay socket, the datagram header both ways, the association's lifetime) adds about
#: 100, the module's walk-through of it included. The codecs of both editions live in
#: refcrypto.tools (ClientCipher), so the edition adds nothing here.
CLIENT_MAX_LINES = 320


def test_client_stays_a_short_read() -> None:
    source = Path(client_module.__file__).read_text().splitlines()
    assert len(source) < CLIENT_MAX_LINES


# --- UDP ASSOCIATE (RFC 1928, section 7) --------------------------------------------------------

EVERY_METHOD = [*refcrypto.methods(extensions=True), *refcrypto.methods(edition2022=True)]


def key_of(method: refcrypto.Method) -> str:
    if method.is_2022:
        return base64.b64encode(bytes(range(method.key_size))).decode()
    return PASSWORD


def associate(socks_port: int, target: tuple[str, int], sizes: tuple[int, ...]) -> None:
    association = Socks5Udp(socks_port)
    try:
        for size in sizes:
            data = payload(size, seed=size)
            assert association.round_trip(target, data) == (target, data), size
    finally:
        association.close()


@pytest.fixture(scope="module")
def loop() -> Iterator[BackgroundLoop]:
    background = BackgroundLoop()
    try:
        yield background
    finally:
        background.close()


@pytest.mark.parametrize("method", EVERY_METHOD, ids=lambda m: m.name)
def test_udp_associate_through_refcrypto_server(
    method: refcrypto.Method, loop: BackgroundLoop, udp_echo: UdpEcho
) -> None:
    """Every method of both editions: SOCKS5 datagrams -> client -> server -> echo and back
    (encrypt_all/decrypt_all per packet, or one UdpClient2022 session per association)."""
    server = ShadowsocksServer(method, key_of(method), timeout=30)
    _, port = loop.run(server.start(LOOPBACK, 0))
    try:
        socks = loop.run(start((LOOPBACK, 0), (LOOPBACK, port), method.name, key_of(method)))
        try:
            associate(int(socks.sockets[0].getsockname()[1]), udp_echo.address, (1, 1400))
        finally:
            loop.close_server(socks)
    finally:
        loop.run(server.close())


@pytest.mark.parametrize("method", [name for name in LIBEV_WORKING if name != "rc4"])
def test_udp_associate_through_ss_server(
    method: str, ss_server_bin: str, log_dir: Path, loop: BackgroundLoop, udp_echo: UdpEcho
) -> None:
    """The classic methods libev runs, against an independent server: libev's ss-server -u.
    (rc4: libev takes one UDP packet per process, RC4_UDP_REASON in peers.py.)"""
    with ss_server(ss_server_bin, method, log_dir) as port:
        socks = loop.run(start((LOOPBACK, 0), (LOOPBACK, port), method, PASSWORD))
        try:
            associate(int(socks.sockets[0].getsockname()[1]), udp_echo.address, (1, 1400, 2700))
        finally:
            loop.close_server(socks)


def test_udp_associate_rules(loop: BackgroundLoop, udp_echo: UdpEcho) -> None:
    """Datagrams from a port other than the one the request named, and fragments, are
    dropped; the association ends with its TCP connection."""
    server = ShadowsocksServer("aes-128-gcm", PASSWORD, timeout=30)
    _, port = loop.run(server.start(LOOPBACK, 0))
    socks = loop.run(start((LOOPBACK, 0), (LOOPBACK, port), "aes-128-gcm", PASSWORD))
    try:
        check_association_rules(int(socks.sockets[0].getsockname()[1]), udp_echo)
    finally:
        loop.close_server(socks)
        loop.run(server.close())


def check_association_rules(socks_port: int, udp_echo: UdpEcho) -> None:
    association = Socks5Udp(socks_port)
    try:
        header = b"\x00\x00\x00\x01" + socket.inet_aton(udp_echo.address[0]) \
            + udp_echo.address[1].to_bytes(2, "big")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as stranger:
            stranger.bind((LOOPBACK, 0))
            stranger.settimeout(0.5)
            stranger.sendto(header + b"not mine", association.relay)
            with pytest.raises(TimeoutError):
                stranger.recvfrom(65536)
        association.udp.sendto(b"\x00\x00\x01" + header[3:] + b"fragment", association.relay)
        association.udp.settimeout(0.5)
        with pytest.raises(TimeoutError):
            association.udp.recvfrom(65536)
        assert association.round_trip(udp_echo.address, b"mine") == (udp_echo.address, b"mine")
        relay = association.relay
    finally:
        association.close()
    # The TCP connection is closed: so is the relay socket (the datagram is refused or lost).
    time.sleep(0.2)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as late:
        late.bind((LOOPBACK, 0))
        late.settimeout(0.5)
        late.sendto(header + b"too late", relay)
        with pytest.raises((TimeoutError, ConnectionRefusedError)):
            late.recvfrom(65536)
