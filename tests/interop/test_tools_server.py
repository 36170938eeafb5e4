"""refcrypto.tools.server on its own (no libev): refcrypto's Cryptor as the client, for every
method, plus the address codec and the server's failure paths."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

import refcrypto
from refcrypto.methods import Method
from refcrypto.tools import AddressError, pack_address, parse_address, parse_host_port
from refcrypto.tools.server import ShadowsocksServer, main

from .support import (
    IO_TIMEOUT,
    LOOPBACK,
    PASSWORD,
    BackgroundLoop,
    TcpEcho,
    UdpEcho,
    exchange,
    payload,
    udp_round_trip,
    uneven_pieces,
)

ALL = refcrypto.methods(extensions=True)
#: Pure-Python primitives that run at well under 1 MB/s get a smaller payload.
SLOW = {m.name for m in ALL if m.name.endswith("-cfb1")
        or (m.name.startswith("camellia") and m.name.endswith("-cfb8"))}


@pytest.fixture(scope="module")
def loop() -> Iterator[BackgroundLoop]:
    background = BackgroundLoop()
    try:
        yield background
    finally:
        background.close()


@pytest.fixture
def server(request: pytest.FixtureRequest, loop: BackgroundLoop) -> Iterator[tuple[Method, int]]:
    method: Method = request.param
    # A bad request is answered with silence until the handshake deadline (SIP022 3.1.3's
    # strategy, for every method): 2 s keeps the tests that wait for the close short.
    instance = ShadowsocksServer(method, PASSWORD, timeout=30, handshake_timeout=2)
    _, port = loop.run(instance.start(LOOPBACK, 0))
    try:
        yield method, port
    finally:
        loop.run(instance.close())


def tcp(method: Method, port: int, target: tuple[str, int], data: bytes) -> bytes:
    cryptor = refcrypto.Cryptor(PASSWORD, method)
    pieces = uneven_pieces(data)
    pieces[0] = pack_address(*target) + pieces[0]
    with socket.create_connection((LOOPBACK, port), timeout=IO_TIMEOUT) as sock:
        return exchange(sock, pieces, len(data), encode=cryptor.encrypt, decode=cryptor.decrypt)


@pytest.mark.parametrize("server", ALL, ids=lambda m: m.name, indirect=True)
def test_tcp_and_udp_every_method(
    server: tuple[Method, int], tcp_echo: TcpEcho, udp_echo: UdpEcho
) -> None:
    method, port = server
    data = payload(3000 if method.name in SLOW else 40000)
    assert tcp(method, port, tcp_echo.address, data) == data

    packet = refcrypto.encrypt_all(PASSWORD, method, pack_address(*udp_echo.address) + data[:999])
    reply = refcrypto.decrypt_all(PASSWORD, method, udp_round_trip((LOOPBACK, port), packet))
    assert parse_address(reply) == (*udp_echo.address, 7)
    assert reply[7:] == data[:999]


@pytest.mark.parametrize("server", [refcrypto.method("aes-256-gcm")], indirect=True)
def test_one_mib_and_concurrent_connections(
    server: tuple[Method, int], tcp_echo: TcpEcho
) -> None:
    method, port = server
    data = payload(1 << 20)
    assert tcp(method, port, tcp_echo.address, data) == data
    # Two connections open at once keep their own cryptors.
    first = socket.create_connection((LOOPBACK, port), timeout=IO_TIMEOUT)
    second = socket.create_connection((LOOPBACK, port), timeout=IO_TIMEOUT)
    with first, second:
        a, b = refcrypto.Cryptor(PASSWORD, method), refcrypto.Cryptor(PASSWORD, method)
        header = pack_address(*tcp_echo.address)
        assert exchange(first, [header + b"one"], 3, encode=a.encrypt, decode=a.decrypt) == b"one"
        assert exchange(second, [header + b"two"], 3, encode=b.encrypt, decode=b.decrypt) == b"two"


def closed_without_reply(port: int, data: bytes) -> bool:
    with socket.create_connection((LOOPBACK, port), timeout=IO_TIMEOUT) as sock:
        sock.sendall(data)
        sock.settimeout(5)
        try:
            return sock.recv(1) == b""
        except ConnectionResetError:
            return True


@pytest.mark.parametrize("server", [refcrypto.method("chacha20-ietf-poly1305")], indirect=True)
def test_wrong_password_is_closed(server: tuple[Method, int], tcp_echo: TcpEcho) -> None:
    method, port = server
    wrong = refcrypto.Cryptor("not the password", method)
    assert closed_without_reply(port, wrong.encrypt(pack_address(*tcp_echo.address) + b"x"))


@pytest.mark.parametrize("server", [refcrypto.method("aes-128-ctr")], indirect=True)
def test_bad_address_type_is_closed(server: tuple[Method, int]) -> None:
    method, port = server
    assert closed_without_reply(port, refcrypto.Cryptor(PASSWORD, method).encrypt(b"\x09rest"))


@pytest.mark.parametrize("server", [refcrypto.method("aes-256-gcm")], indirect=True)
def test_bad_udp_packets_are_dropped(server: tuple[Method, int], udp_echo: UdpEcho) -> None:
    method, port = server
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOOPBACK, 0))
        sock.settimeout(0.5)
        for bad in (b"short", refcrypto.encrypt_all("wrong", method, b"\x01abcdef" + b"x")):
            sock.sendto(bad, (LOOPBACK, port))
            with pytest.raises((TimeoutError, socket.timeout)):
                sock.recvfrom(65536)
    # and the server still works afterwards
    good = refcrypto.encrypt_all(PASSWORD, method, pack_address(*udp_echo.address) + b"ok")
    reply = refcrypto.decrypt_all(PASSWORD, method, udp_round_trip((LOOPBACK, port), good))
    assert reply[7:] == b"ok"


# --- the address codec (refcrypto.tools) ----------------------------------------------------


@pytest.mark.parametrize(
    ("host", "port", "encoded"),
    [
        ("127.0.0.1", 80, "017f0000010050"),
        ("::1", 443, "04" + "00" * 15 + "01" + "01bb"),
        ("example.com", 8388, "030b" + b"example.com".hex() + "20c4"),
    ],
)
def test_address_codec(host: str, port: int, encoded: str) -> None:
    raw = bytes.fromhex(encoded)
    assert pack_address(host, port) == raw
    assert parse_address(raw + b"payload") == (host, port, len(raw))
    for cut in range(len(raw)):
        assert parse_address(raw[:cut]) is None


@pytest.mark.parametrize(
    "raw", [b"\x02\x00\x00", b"\x03\x00\x00\x50", b"\xff", b"\x03\x02\xff\xfe\x00\x50"]
)
def test_address_errors(raw: bytes) -> None:
    with pytest.raises(AddressError):
        parse_address(raw)


def test_pack_address_limits() -> None:
    with pytest.raises(AddressError):
        pack_address("a" * 256, 80)
    with pytest.raises(AddressError):
        pack_address("127.0.0.1", 65536)


def test_parse_host_port() -> None:
    assert parse_host_port("127.0.0.1:8388") == ("127.0.0.1", 8388)
    assert parse_host_port("[::1]:0") == ("::1", 0)
    for bad in ("127.0.0.1", ":80", "host:port", "h:70000"):
        with pytest.raises(ValueError):
            parse_host_port(bad)


def test_command_line_rejects_unknown_method(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--listen", "127.0.0.1:0", "-m", "aes-256-gcn", "-k", "x"])
    assert "aes-256-gcm" in capsys.readouterr().err  # the closest name is suggested
