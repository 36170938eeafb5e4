"""refcrypto.tools.client: fetch a page from a loopback http.server through the client and
libev's ss-server (the command line, as a user runs it), and through refcrypto's own server
(in-process, no libev); plus the SOCKS5 refusals."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

import refcrypto.tools.client as client_module
from refcrypto.tools.client import start
from refcrypto.tools.server import ShadowsocksServer

from .peers import ss_server
from .support import (
    IO_TIMEOUT,
    LOOPBACK,
    PAGE,
    PASSWORD,
    BackgroundLoop,
    HttpServer,
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
            socks.close()
            loop.run(socks.wait_closed())
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
    # UDP ASSOCIATE is not supported: reply 7.
    request = b"\x05\x01\x00" + b"\x05\x03\x00\x01" + socket.inet_aton(LOOPBACK) + b"\x00\x00"
    assert socks_exchange(socks_port, request, 5) == b"\x05\x00\x05\x07\x00"


def test_client_stays_a_short_read() -> None:
    source = Path(client_module.__file__).read_text().splitlines()
    assert len(source) < 200
