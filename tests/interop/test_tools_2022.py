"""refcrypto.tools.server and .client with the Shadowsocks 2022 methods, refcrypto on both
ends (sing-box is the other end in test_singbox.py): TCP and UDP for every 2022 method,
SIP023 users, the replay checks of the server's one salt store and of the UDP sessions, what
a bad request sees (SIP022 3.1.3), and the command lines (``-k iPSK:uPSK``, ``--users``)."""

from __future__ import annotations

import base64
import contextlib
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import refcrypto
from refcrypto.errors import InvalidPSK, MethodNotImplemented
from refcrypto.tools import ClientCipher, ServerCipher, parse_users, psk_text, read_users
from refcrypto.tools import client as client_module
from refcrypto.tools import server as server_module
from refcrypto.tools.client import start as start_client
from refcrypto.tools.server import ShadowsocksServer
from refcrypto.wire.ss2022 import Cryptor2022, UdpClient2022

from .support import (
    IO_TIMEOUT,
    LOOPBACK,
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

M2022 = [m.name for m in refcrypto.methods(edition2022=True)]
AES_2022 = [name for name in M2022 if "-aes-" in name]
READY = r"listening on 127\.0\.0\.1:(\d+)"
WAIT = 10.0


def psk(method: str, seed: int = 0) -> str:
    size = refcrypto.method(method).key_size
    return base64.b64encode(bytes((seed * 53 + i * 7 + 1) % 256 for i in range(size))).decode()


def wait_until(condition: Any, timeout: float = WAIT) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return bool(condition())


@pytest.fixture
def loop() -> Iterator[BackgroundLoop]:
    background = BackgroundLoop()
    try:
        yield background
    finally:
        background.close()


@contextlib.contextmanager
def serving(loop: BackgroundLoop, method: str, key: str, **options: Any
            ) -> Iterator[tuple[ShadowsocksServer, int]]:
    server = ShadowsocksServer(method, key, **{"timeout": 30.0, **options})
    _, port = loop.run(server.start(LOOPBACK, 0))
    try:
        yield server, port
    finally:
        loop.run(server.close())


@contextlib.contextmanager
def socks_client(loop: BackgroundLoop, server_port: int, method: str, key: str
                 ) -> Iterator[int]:
    socks = loop.run(start_client((LOOPBACK, 0), (LOOPBACK, server_port), method, key))
    try:
        yield int(socks.sockets[0].getsockname()[1])
    finally:
        loop.close_server(socks)


def tcp_2022(port: int, method: str, key: str, target: tuple[str, int], data: bytes,
             **options: Any) -> bytes:
    cryptor = Cryptor2022(key, method, role="client", target=target, **options)
    with socket.create_connection((LOOPBACK, port), timeout=IO_TIMEOUT) as sock:
        return exchange(sock, uneven_pieces(data), len(data), encode=cryptor.encrypt,
                        decode=cryptor.decrypt, timeout=WAIT)


def udp_2022(port: int, session: UdpClient2022, target: tuple[str, int], data: bytes,
             sock: socket.socket | None = None) -> bytes:
    """One packet of ``session`` and its reply's payload (``b""`` if none within 1 s)."""
    with contextlib.ExitStack() as stack:
        if sock is None:
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
            sock.bind((LOOPBACK, 0))
        sock.settimeout(1.0)
        sock.sendto(session.encrypt(data, target), (LOOPBACK, port))
        try:
            datagram = session.decrypt(sock.recvfrom(65536)[0])
        except TimeoutError:
            return b""
        assert datagram.address == target
        return datagram.payload


def closes_after(port: int, data: bytes, wait: float) -> str:
    """Send ``data``; ``"open"`` if the server has not closed after ``wait`` seconds, else
    ``"closed"``."""
    with socket.create_connection((LOOPBACK, port), timeout=WAIT) as sock:
        sock.sendall(data)
        sock.settimeout(wait)
        try:
            return "closed" if sock.recv(1) == b"" else "answered"
        except ConnectionResetError:
            return "closed"
        except TimeoutError:
            return "open"


# --- both tools, every 2022 method ------------------------------------------------------------


@pytest.mark.parametrize("method", M2022)
def test_server_tcp_and_udp(
    method: str, loop: BackgroundLoop, tcp_echo: TcpEcho, udp_echo: UdpEcho
) -> None:
    key = psk(method)
    with serving(loop, method, key) as (server, port):
        data = payload(70000)  # more than one 2022 chunk (0xFFFF)
        assert tcp_2022(port, method, key, tcp_echo.address, data) == data
        session = UdpClient2022(key, method)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((LOOPBACK, 0))
            for size in (1, 1400, 30000):
                chunk = payload(size, seed=1)
                assert udp_2022(port, session, udp_echo.address, chunk, sock) == chunk
        assert server.stats.bad_streams == server.stats.unexpected_errors == 0


@pytest.mark.parametrize("method", M2022)
def test_client_and_server(
    method: str, loop: BackgroundLoop, tcp_echo: TcpEcho, udp_echo: UdpEcho
) -> None:
    key = psk(method)
    with serving(loop, method, key) as (_, port), socks_client(loop, port, method, key) as socks:
        data = payload(100000, seed=2)
        with socks5_connect(socks, tcp_echo.address) as sock:
            assert exchange(sock, uneven_pieces(data), len(data), timeout=WAIT) == data
        association = Socks5Udp(socks)
        try:
            for size in (1, 1400, 30000):
                chunk = payload(size, seed=3)
                assert association.round_trip(udp_echo.address, chunk) == (udp_echo.address,
                                                                           chunk)
        finally:
            association.close()


# --- SIP023 users -----------------------------------------------------------------------------


@pytest.mark.parametrize("method", AES_2022)
def test_multi_user_server(
    method: str, loop: BackgroundLoop, tcp_echo: TcpEcho, udp_echo: UdpEcho
) -> None:
    ipsk = psk(method, 9)
    users = {"alice": psk(method, 1), "bob": psk(method, 2)}
    with serving(loop, method, ipsk, users=users) as (server, port):
        assert server.cipher.users == ["alice", "bob"]
        for name, upsk in users.items():
            chain = f"{ipsk}:{upsk}"
            assert tcp_2022(port, method, chain, tcp_echo.address, b"hi " + name.encode()) \
                == b"hi " + name.encode()
            session = UdpClient2022(chain, method)
            assert udp_2022(port, session, udp_echo.address, name.encode()) == name.encode()
            # The tools' client with the same chain.
            with socks_client(loop, port, method, chain) as socks, \
                    socks5_connect(socks, tcp_echo.address) as sock:
                assert exchange(sock, [b"via the client"], 14, timeout=WAIT) == b"via the client"
        # A user the server does not know, and a user's PSK without the identity layer.
        for key in (f"{ipsk}:{psk(method, 3)}", users["alice"]):
            assert closes_after(port, Cryptor2022(key, method, role="client",
                                                  target=tcp_echo.address).start(), 0.5) == "open"
            assert udp_2022(port, UdpClient2022(key, method), udp_echo.address, b"x") == b""
        assert wait_until(lambda: server.stats.bad_streams == 2)


# --- replays (SIP022 3.1.4, 3.2.4) ------------------------------------------------------------


@pytest.mark.parametrize("method", ["2022-blake3-aes-256-gcm"])
def test_replayed_and_stale_requests_are_refused(
    method: str, loop: BackgroundLoop, tcp_echo: TcpEcho, udp_echo: UdpEcho
) -> None:
    key = psk(method)
    with serving(loop, method, key, handshake_timeout=1.0) as (server, port):
        client = Cryptor2022(key, method, role="client", target=tcp_echo.address)
        request = client.encrypt(b"once")
        with socket.create_connection((LOOPBACK, port), timeout=WAIT) as sock:
            assert exchange(sock, [request], 4, decode=client.decrypt, timeout=WAIT) == b"once"
        assert server.cipher.salts is not None and client.salt in server.cipher.salts
        assert closes_after(port, request, 3.0) == "closed"  # at the 1 s deadline
        assert server.stats.replays == 1
        stale = Cryptor2022(key, method, role="client", target=tcp_echo.address,
                            clock=lambda: int(time.time()) - 31)
        assert closes_after(port, stale.encrypt(b"late"), 3.0) == "closed"
        assert (server.stats.replays, server.stats.bad_streams) == (2, 2)

        # UDP: the same packet twice, within one session.
        session = UdpClient2022(key, method)
        packet = session.encrypt(b"udp once", udp_echo.address)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((LOOPBACK, 0))
            sock.settimeout(1.0)
            for expected in (b"udp once", None):
                sock.sendto(packet, (LOOPBACK, port))
                if expected is None:
                    with pytest.raises(TimeoutError):
                        sock.recvfrom(65536)
                else:
                    assert session.decrypt(sock.recvfrom(65536)[0]).payload == expected
        assert server.stats.replays == 3


def test_udp_session_follows_its_client_to_a_new_port(
    loop: BackgroundLoop, udp_echo: UdpEcho
) -> None:
    method = "2022-blake3-chacha20-poly1305"
    key = psk(method)
    with serving(loop, method, key) as (server, port):
        session = UdpClient2022(key, method)
        assert udp_2022(port, session, udp_echo.address, b"from A") == b"from A"
        assert udp_2022(port, session, udp_echo.address, b"from B") == b"from B"
        assert server.udp_relays == 1  # one relay per session, not per source address


# --- bad requests (SIP022 3.1.3) --------------------------------------------------------------


@pytest.mark.parametrize("method", ["2022-blake3-aes-128-gcm"])
def test_bad_requests_all_look_like_a_short_one(
    method: str, loop: BackgroundLoop, tcp_echo: TcpEcho
) -> None:
    """Whatever a prober sends (too few bytes, random bytes, a wrong key, a replay), the
    server says nothing and closes only when the client does or at the handshake
    deadline: never at once, so the prober cannot tell how many bytes were read."""
    key = psk(method)
    genuine = Cryptor2022(key, method, role="client", target=tcp_echo.address)
    replayed = genuine.encrypt(b"first")
    probes = {
        "short": os.urandom(10),
        "random": os.urandom(300),
        "wrong key": Cryptor2022(psk(method, 5), method, role="client",
                                 target=tcp_echo.address).start(),
        "replay": replayed,
    }
    with serving(loop, method, key, handshake_timeout=1.0) as (server, port):
        with socket.create_connection((LOOPBACK, port), timeout=WAIT) as sock:
            assert exchange(sock, [replayed], 5, decode=genuine.decrypt, timeout=WAIT) \
                == b"first"
        for name, data in probes.items():
            # The client closes first: the server closes right after.
            with socket.create_connection((LOOPBACK, port), timeout=WAIT) as sock:
                sock.sendall(data)
                sock.settimeout(0.5)
                with pytest.raises(TimeoutError):
                    sock.recv(1)
                sock.sendall(os.urandom(5000))  # more bytes are read and dropped
                sock.shutdown(socket.SHUT_WR)
                sock.settimeout(WAIT)
                assert sock.recv(1) == b"", name
            # The client stays: the server closes at the deadline.
            assert closes_after(port, data, 5.0) == "closed", name
        # Random, wrong key, replay: twice each; the short one once, when the 5000 bytes
        # that followed it completed its (bad) header; the other short one timed out.
        assert server.stats.bad_streams == 7
        assert server.stats.handshake_timeouts == 1
        assert server.stats.unexpected_errors == 0


# --- keys and users on the command line -------------------------------------------------------


def test_parse_users() -> None:
    text = "# users\n\n  alice : AAECAwQFBgcICQoLDA0ODw==  \nteam:bob:AAECAwQFBgcICQoLDA0OEA==\n"
    assert parse_users(text) == {"alice": "AAECAwQFBgcICQoLDA0ODw==",
                                 "team:bob": "AAECAwQFBgcICQoLDA0OEA=="}
    for bad, message in (("alice\n", "line 1: expected NAME:BASE64-PSK"),
                         (":AAAA\n", "line 1: expected"),
                         ("a:AAAA\na:BBBB\n", "line 2: user 'a' is listed twice"),
                         ("# nobody\n", "no users")):
        with pytest.raises(ValueError, match=message):
            parse_users(bad)


def test_read_users_and_psk_text(tmp_path: Path) -> None:
    path = tmp_path / "users.txt"
    path.write_text("carol:AAECAwQFBgcICQoLDA0ODw==\n")
    assert read_users(path) == {"carol": "AAECAwQFBgcICQoLDA0ODw=="}
    with pytest.raises(ValueError, match="cannot read --users"):
        read_users(tmp_path / "missing.txt")
    # A key file's bytes are base64 text, not the raw key.
    assert psk_text(b"AAECAwQFBgcICQoLDA0ODw==\n") == "AAECAwQFBgcICQoLDA0ODw=="
    ServerCipher("2022-blake3-aes-128-gcm", b"AAECAwQFBgcICQoLDA0ODw==\n")
    with pytest.raises(ValueError, match="not ASCII"):
        psk_text(b"\xff\xfe")


def test_key_errors() -> None:
    method = "2022-blake3-aes-128-gcm"
    with pytest.raises(InvalidPSK, match="16 bytes"):
        ClientCipher(method, base64.b64encode(bytes(32)).decode())
    with pytest.raises(ValueError, match="a server takes one PSK"):
        ServerCipher(method, f"{psk(method)}:{psk(method, 1)}")
    with pytest.raises(ValueError, match="2022 AES methods only"):
        ServerCipher("aes-256-gcm", "password", users={"a": psk(method)})
    with pytest.raises(MethodNotImplemented):
        ServerCipher("2022-blake3-chacha20-poly1305", psk("2022-blake3-chacha20-poly1305"),
                     users={"a": psk("2022-blake3-chacha20-poly1305", 1)})
    with pytest.raises(MethodNotImplemented):
        chacha = "2022-blake3-chacha20-poly1305"
        ClientCipher(chacha, f"{psk(chacha)}:{psk(chacha, 1)}")
    with pytest.raises(InvalidPSK):
        ServerCipher(method, "aes", users={"a": "not base64!"})


@pytest.mark.parametrize(
    ("tool", "arguments", "message"),
    [
        ("server", ["-m", "2022-blake3-aes-128-gcm", "-k", "short"], "not valid base64"),
        ("server", ["-m", "aes-256-gcm", "-k", "pw", "--users", "USERS"], "2022 AES methods"),
        ("server", ["-m", "2022-blake3-aes-128-gcm", "-k", "AAECAwQFBgcICQoLDA0ODw==",
                    "--users", "MISSING"], "cannot read --users"),
        ("client", ["-m", "2022-blake3-aes-256-gcm", "-k", "AAECAwQFBgcICQoLDA0ODw=="],
         "must be 32 bytes"),
    ],
)
def test_command_line_key_errors(
    tool: str, arguments: list[str], message: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    users = tmp_path / "users.txt"
    users.write_text("a:AAECAwQFBgcICQoLDA0ODw==\n")
    arguments = [str(users) if a == "USERS" else str(tmp_path / "x") if a == "MISSING" else a
                 for a in arguments]
    common = ["--listen", f"{LOOPBACK}:0"] + (["--server", f"{LOOPBACK}:9"]
                                              if tool == "client" else ["--no-udp"])
    main = client_module.main if tool == "client" else server_module.main
    with pytest.raises(SystemExit):
        main(common + arguments)
    assert message in capsys.readouterr().err


def test_command_lines_with_users_file_and_chain(
    log_dir: Path, tmp_path: Path, tcp_echo: TcpEcho, udp_echo: UdpEcho
) -> None:
    """``server -k iPSK --users FILE`` and ``client --key-file F`` (F holding
    ``iPSK:uPSK``), as a user runs them."""
    method = "2022-blake3-aes-128-gcm"
    ipsk, upsk = psk(method, 4), psk(method, 5)
    users = tmp_path / "users.txt"
    users.write_text(f"dave:{upsk}\n")
    key_file = tmp_path / "client.key"
    key_file.write_text(f"{ipsk}:{upsk}\n")
    server = python_command("-m", "refcrypto.tools.server", "--listen", f"{LOOPBACK}:0",
                            "-m", method, "-k", ipsk, "--users", str(users), "-v")
    with running(server, log_dir / "refcrypto-server-users-file.log", ready_line=READY,
                 env=python_env()) as (server_process, match):
        assert match is not None
        client = python_command("-m", "refcrypto.tools.client", "--server",
                                f"{LOOPBACK}:{match.group(1)}", "--listen", f"{LOOPBACK}:0",
                                "-m", method, "--key-file", str(key_file))
        with running(client, log_dir / "refcrypto-client-key-file.log", ready_line=READY,
                     env=python_env()) as (_, client_match):
            assert client_match is not None
            socks = int(client_match.group(1))
            with socks5_connect(socks, tcp_echo.address) as sock:
                assert exchange(sock, [b"dave here"], 9, timeout=WAIT) == b"dave here"
            association = Socks5Udp(socks)
            try:
                assert association.round_trip(udp_echo.address, b"dgram") == (
                    udp_echo.address, b"dgram")
            finally:
                association.close()
        assert wait_until(lambda: "(user dave)" in server_process.log())
