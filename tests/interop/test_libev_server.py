"""refcrypto as the server of shadowsocks-libev's ss-local.

A SOCKS5 client (support.py) drives ``ss-local``, which talks to
``python -m refcrypto.tools.server``, which reaches loopback echo servers. TCP through SOCKS5
CONNECT, UDP through SOCKS5 UDP ASSOCIATE (ss-local -u); both directions byte-exact.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from .peers import (
    LIBEV_WORKING,
    ONE_MIB_METHODS,
    fail_if_rejected,
    refcrypto_server,
    ss_local,
)
from .support import (
    Socks5Udp,
    StartupFailed,
    TcpEcho,
    UdpEcho,
    exchange,
    payload,
    socks5_connect,
    uneven_pieces,
)

TCP_SIZES = (1, 2, 15, 1000, 16383, 16384, 50001)
#: ss-local reads datagrams into 2 x 1397 bytes, like ss-server (src/udprelay.c).
UDP_SIZES = (1, 100, 1400, 2700)
ONE_MIB = 1 << 20


@pytest.fixture(scope="module", params=LIBEV_WORKING)
def through_ss_local(
    request: pytest.FixtureRequest, ss_local_bin: str, log_dir: Path
) -> Iterator[tuple[str, int]]:
    """(method, SOCKS5 port of ss-local) with refcrypto's server behind it."""
    method: str = request.param
    with ExitStack() as stack:
        server_port = stack.enter_context(refcrypto_server(method, log_dir))
        try:
            socks_port = stack.enter_context(ss_local(ss_local_bin, method, server_port, log_dir))
        except StartupFailed as failure:
            fail_if_rejected("ss-local", method, failure)
        yield method, socks_port


def tcp_round_trip(socks_port: int, target: tuple[str, int], data: bytes) -> bytes:
    with socks5_connect(socks_port, target) as sock:
        return exchange(sock, uneven_pieces(data, seed=socks_port), len(data), seed=len(data))


def test_tcp(through_ss_local: tuple[str, int], tcp_echo: TcpEcho) -> None:
    _, socks_port = through_ss_local
    for size in TCP_SIZES:
        data = payload(size)
        assert tcp_round_trip(socks_port, tcp_echo.address, data) == data, size


@pytest.mark.parametrize("through_ss_local", ONE_MIB_METHODS, indirect=True)
def test_tcp_one_mib(through_ss_local: tuple[str, int], tcp_echo: TcpEcho) -> None:
    _, socks_port = through_ss_local
    data = payload(ONE_MIB)
    assert tcp_round_trip(socks_port, tcp_echo.address, data) == data


def test_udp(through_ss_local: tuple[str, int], udp_echo: UdpEcho, log_dir: Path) -> None:
    method, socks_port = through_ss_local
    association = Socks5Udp(socks_port)
    try:
        if method == "rc4":
            # ss-local checks reply IVs against its replay filter too: the first reply gets
            # through byte-exact, the second is dropped as a replay.
            data = payload(1400, seed=3)
            assert association.round_trip(udp_echo.address, data) == (udp_echo.address, data)
            with pytest.raises(TimeoutError):
                association.round_trip(udp_echo.address, data, attempts=1)
            assert "repeat IV detected" in (log_dir / "ss-local-rc4.log").read_text()
            return  # first rc4 packet byte-exact, the second refused: RC4_UDP_REASON
        for size in UDP_SIZES:
            data = payload(size, seed=1)
            source, reply = association.round_trip(udp_echo.address, data)
            assert source == udp_echo.address
            assert reply == data, size
    finally:
        association.close()
