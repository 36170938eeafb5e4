"""A real shadowsocks server on refcrypto: the Python shadowsocks package's ``ssserver``,
with :func:`refcrypto.compat.install` as its crypto layer.

It serves libev's ``ss-local`` for every method both have, and refcrypto's own ``Cryptor``
for every one of the package's 53 methods (libev lacks or refuses 33 of them). After the
traffic (cipher objects are made lazily, so a native library would be loaded by then),
``/proc/PID/maps`` of the server must show pycryptodome and no libcrypto, libssl, libsodium
or libmbedcrypto.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

import refcrypto
from refcrypto.compat import CIPHERS, native_crypto_libraries
from refcrypto.tools import pack_address, parse_address

from .peers import SHARED_WITH_PACKAGE, fail_if_rejected, package_ssserver, ss_local
from .support import (
    IO_TIMEOUT,
    LOOPBACK,
    PASSWORD,
    Socks5Udp,
    StartupFailed,
    TcpEcho,
    UdpEcho,
    exchange,
    payload,
    socks5_connect,
    udp_round_trip,
    uneven_pieces,
)

#: The package's event loop reads 32 KiB at a time (tcprelay.BUF_SIZE): 50 kB crosses reads
#: and AEAD chunks; 1 MiB for one AEAD method.
TCP_SIZES = (1, 1000, 50001)
UDP_SIZES = (1, 1400, 2700)
ONE_MIB = 1 << 20

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="ss-local and /proc/PID/maps: Linux"
)


def assert_runs_on_refcrypto(pid: int) -> None:
    maps = Path(f"/proc/{pid}/maps").read_text()
    assert "/Crypto/" in maps  # pycryptodome's extension modules: the right process
    assert native_crypto_libraries(pid) == []


@pytest.fixture(scope="module", params=SHARED_WITH_PACKAGE)
def package_server(
    request: pytest.FixtureRequest, shadowsocks_package: None, ss_local_bin: str, log_dir: Path
) -> Iterator[tuple[str, int, int]]:
    """(method, ss-local SOCKS5 port, ssserver pid)."""
    method: str = request.param
    with ExitStack() as stack:
        server_port, pid = stack.enter_context(package_ssserver(method, log_dir))
        try:
            socks_port = stack.enter_context(ss_local(ss_local_bin, method, server_port, log_dir))
        except StartupFailed as failure:
            fail_if_rejected("ss-local", method, failure)
        yield method, socks_port, pid


def test_tcp_and_no_native_library(
    package_server: tuple[str, int, int], tcp_echo: TcpEcho
) -> None:
    _, socks_port, pid = package_server
    for size in TCP_SIZES:
        data = payload(size)
        with socks5_connect(socks_port, tcp_echo.address) as sock:
            got = exchange(sock, uneven_pieces(data, seed=3), len(data), seed=size)
        assert got == data, size
    assert_runs_on_refcrypto(pid)


@pytest.mark.parametrize("package_server", ["aes-256-gcm"], indirect=True)
def test_tcp_one_mib(package_server: tuple[str, int, int], tcp_echo: TcpEcho) -> None:
    _, socks_port, pid = package_server
    data = payload(ONE_MIB)
    with socks5_connect(socks_port, tcp_echo.address) as sock:
        assert exchange(sock, uneven_pieces(data), len(data)) == data
    assert_runs_on_refcrypto(pid)


def test_udp(package_server: tuple[str, int, int], udp_echo: UdpEcho) -> None:
    method, socks_port, pid = package_server
    association = Socks5Udp(socks_port)
    try:
        sizes = UDP_SIZES[:1] if method == "rc4" else UDP_SIZES
        for size in sizes:
            data = payload(size, seed=1)
            assert association.round_trip(udp_echo.address, data) == (udp_echo.address, data)
    finally:
        association.close()
    # rc4: one packet only (RC4_UDP_REASON; ss-local checks the replies' IVs too).
    assert_runs_on_refcrypto(pid)


@pytest.mark.parametrize("method", list(CIPHERS))
def test_every_package_method_with_refcrypto_client(
    method: str, shadowsocks_package: None, log_dir: Path, tcp_echo: TcpEcho, udp_echo: UdpEcho
) -> None:
    """TCP (two AEAD chunks, uneven writes) and one UDP packet, refcrypto on both ends."""
    data = payload(20000)
    with package_ssserver(method, log_dir) as (port, pid):
        cryptor = refcrypto.Cryptor(PASSWORD, method)
        pieces = uneven_pieces(data)
        pieces[0] = pack_address(*tcp_echo.address) + pieces[0]
        with socket.create_connection((LOOPBACK, port), timeout=IO_TIMEOUT) as sock:
            got = exchange(sock, pieces, len(data), encode=cryptor.encrypt,
                           decode=cryptor.decrypt)
        assert got == data

        request = pack_address(*udp_echo.address) + data[:1400]
        packet = refcrypto.encrypt_all(PASSWORD, method, request)
        reply = refcrypto.decrypt_all(PASSWORD, method, udp_round_trip((LOOPBACK, port), packet))
        assert parse_address(reply) == (*udp_echo.address, 7)
        assert reply[7:] == data[:1400]
        assert_runs_on_refcrypto(pid)
