"""refcrypto as the client of shadowsocks-libev's ss-server.

refcrypto encrypts ``[address of a loopback echo server][payload]`` and decrypts what comes
back: both directions must be byte-exact. TCP payloads go from 1 byte to 1 MiB, written in
uneven pieces and decoded in uneven pieces; UDP packets are made with ``encrypt_all`` and
opened with ``decrypt_all``.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

import refcrypto
from refcrypto.tools import pack_address, parse_address

from .peers import LIBEV_WORKING, ONE_MIB_METHODS, fail_if_rejected, ss_server
from .support import (
    IO_TIMEOUT,
    LOOPBACK,
    PASSWORD,
    StartupFailed,
    TcpEcho,
    UdpEcho,
    exchange,
    payload,
    udp_round_trip,
    uneven_pieces,
)

#: Every method: single bytes, odd sizes, one full AEAD chunk, one byte over, four chunks.
TCP_SIZES = (1, 2, 15, 1000, 16383, 16384, 50001)
#: libev reads a datagram into 2 x DEFAULT_PACKET_SIZE = 2794 bytes (src/udprelay.c
#: buf_size; more with --mtu) and cuts longer ones: 2700 + address + salt + tag fits.
UDP_SIZES = (1, 100, 1400, 2700)
ONE_MIB = 1 << 20


@pytest.fixture(scope="module", params=LIBEV_WORKING)
def libev_server(
    request: pytest.FixtureRequest, ss_server_bin: str, log_dir: Path
) -> Iterator[tuple[str, int]]:
    method: str = request.param
    try:
        server = ss_server(ss_server_bin, method, log_dir)
        port = server.__enter__()
    except StartupFailed as failure:
        fail_if_rejected("ss-server", method, failure)
    try:
        yield method, port
    finally:
        server.__exit__(None, None, None)


def tcp_round_trip(method: str, port: int, target: tuple[str, int], data: bytes) -> bytes:
    cryptor = refcrypto.Cryptor(PASSWORD, method)
    pieces = uneven_pieces(data, seed=port)
    pieces[0] = pack_address(*target) + pieces[0]  # the address travels with the first bytes
    with socket.create_connection((LOOPBACK, port), timeout=IO_TIMEOUT) as sock:
        return exchange(sock, pieces, len(data), encode=cryptor.encrypt, decode=cryptor.decrypt,
                        seed=len(data))


def test_tcp(libev_server: tuple[str, int], tcp_echo: TcpEcho) -> None:
    method, port = libev_server
    for size in TCP_SIZES:
        data = payload(size)
        assert tcp_round_trip(method, port, tcp_echo.address, data) == data, size


@pytest.mark.parametrize("libev_server", ONE_MIB_METHODS, indirect=True)
def test_tcp_one_mib(libev_server: tuple[str, int], tcp_echo: TcpEcho) -> None:
    method, port = libev_server
    data = payload(ONE_MIB)
    assert tcp_round_trip(method, port, tcp_echo.address, data) == data


def udp_packet(method: str, port: int, target: tuple[str, int], data: bytes) -> bytes:
    """One ``[address][data]`` packet through ss-server; returns the reply's payload after
    checking that its address is the echo server's."""
    packet = refcrypto.encrypt_all(PASSWORD, method, pack_address(*target) + data)
    reply = refcrypto.decrypt_all(PASSWORD, method, udp_round_trip((LOOPBACK, port), packet))
    parsed = parse_address(reply)
    assert parsed is not None
    host, source_port, header = parsed
    assert (host, source_port) == target
    return reply[header:]


def test_udp(libev_server: tuple[str, int], udp_echo: UdpEcho) -> None:
    method, port = libev_server
    if method == "rc4":
        # This ss-server has already put rc4's empty IV into its replay filter (its own TCP
        # replies), so it refuses every UDP packet (RC4_UDP_REASON);
        # test_udp_rc4_first_packet_only checks the first packet of a fresh one.
        with pytest.raises(TimeoutError):
            udp_packet(method, port, udp_echo.address, payload(100, seed=1))
        return
    for size in UDP_SIZES:
        data = payload(size, seed=1)
        assert udp_packet(method, port, udp_echo.address, data) == data, size


def test_udp_rc4_first_packet_only(ss_server_bin: str, log_dir: Path, udp_echo: UdpEcho) -> None:
    """rc4 over UDP: the first packet of a fresh ss-server is byte-exact both ways; libev
    refuses the second as a replay (RC4_UDP_REASON), which this test pins down."""
    fresh = log_dir / "rc4-udp-client"
    fresh.mkdir(exist_ok=True)
    with ss_server(ss_server_bin, "rc4", fresh) as port:
        data = payload(1400, seed=2)
        assert udp_packet("rc4", port, udp_echo.address, data) == data
        packet = refcrypto.encrypt_all(PASSWORD, "rc4", pack_address(*udp_echo.address) + data)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((LOOPBACK, 0))
            sock.settimeout(1.0)
            sock.sendto(packet, (LOOPBACK, port))
            with pytest.raises((TimeoutError, socket.timeout)):
                sock.recvfrom(65536)
        log = (fresh / "ss-server-rc4.log").read_text()
        assert "repeat IV detected" in log
