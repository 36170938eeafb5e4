"""refcrypto.tools.server and .client under abuse: a UDP replay flood with few descriptors,
a handshake dribbled byte by byte, host names the resolver cannot encode, relays whose socket
cannot be opened, encrypted streams cut inside a chunk, and the start-up warnings for rc4 and
the legacy methods.

Loopback only; every loop is bounded in count and time; the one child process (the server
under a lowered RLIMIT_NOFILE) runs in its own process group and is stopped in ``finally``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import refcrypto
from refcrypto.tools import method_warning, pack_address
from refcrypto.tools.client import start as start_client
from refcrypto.tools.server import ShadowsocksServer, default_max_udp_relays
from refcrypto.wire import master_key, new_encoder

from .support import (
    IO_TIMEOUT,
    LOOPBACK,
    PASSWORD,
    BackgroundLoop,
    TcpEcho,
    UdpEcho,
    exchange,
    python_env,
    running,
    socks5_connect,
    udp_round_trip,
)

AEAD = "aes-256-gcm"
READY = r"listening on 127\.0\.0\.1:(\d+)"
#: Generous bound on any single wait in these tests (the behaviour takes well under 2 s).
WAIT = 10.0


def wait_until(condition: Any, timeout: float = WAIT) -> bool:
    """Poll ``condition()`` every 20 ms for at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return bool(condition())


def tcp_echo_round_trip(port: int, target: tuple[str, int], data: bytes, method: str = AEAD,
                        timeout: float = IO_TIMEOUT) -> bytes:
    cryptor = refcrypto.Cryptor(PASSWORD, method)
    with socket.create_connection((LOOPBACK, port), timeout=timeout) as sock:
        return exchange(sock, [pack_address(*target) + data], len(data), encode=cryptor.encrypt,
                        decode=cryptor.decrypt, timeout=timeout)


def udp_packet(target: tuple[str, int], data: bytes) -> bytes:
    return refcrypto.encrypt_all(PASSWORD, AEAD, pack_address(*target) + data)


class RecordingLoop(BackgroundLoop):
    """A background loop whose exception handler records what reaches it in ``errors``:
    nothing a connection or a packet does may get there."""

    def __init__(self) -> None:
        super().__init__()
        errors: list[dict[str, Any]] = []
        self.errors = errors  # the handler closes over the list, not over self
        self.loop.set_exception_handler(lambda _, context: errors.append(context))


@pytest.fixture
def loop() -> Iterator[RecordingLoop]:
    background = RecordingLoop()
    try:
        yield background
    finally:
        background.close()


@contextlib.contextmanager
def serving(loop: RecordingLoop, **options: Any) -> Iterator[tuple[ShadowsocksServer, int]]:
    server = ShadowsocksServer(AEAD, PASSWORD, **{"timeout": 30.0, **options})
    _, port = loop.run(server.start(LOOPBACK, 0))
    try:
        yield server, port
    finally:
        loop.run(server.close())


# --- 9. UDP relays: a flood under 128 descriptors -------------------------------------------

#: Starts the server with RLIMIT_NOFILE lowered to 128 in its own process (set by the child
#: itself: no preexec_fn in a multi-threaded pytest).
LOW_NOFILE_LAUNCHER = (
    "import resource, sys\n"
    "_, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
    "resource.setrlimit(resource.RLIMIT_NOFILE, (128, hard))\n"
    "from refcrypto.tools.server import main\n"
    "sys.exit(main())\n"
)
FLOOD_SOURCES = 160


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_NOFILE, /proc")
def test_udp_replay_flood_under_128_descriptors_leaves_tcp_working(
    log_dir: Path, tcp_echo: TcpEcho, udp_echo: UdpEcho
) -> None:
    """Packets from 160 source ports. Before: one relay per source, so ~120 replies, then
    EMFILE; accept() failed in a loop and TCP stopped for the relays' 300 s. Now: at most
    128 // 4 = 32 relays (least recently used evicted), every source answered, TCP and new UDP
    clients served. (The report's flood replayed one packet; the server's replay filter now
    drops every copy after the first, so each source sends a fresh packet here, which is the
    harder case for the relay cap.)"""
    command = [sys.executable, "-c", LOW_NOFILE_LAUNCHER, "--listen", f"{LOOPBACK}:0",
               "-m", AEAD, "-k", PASSWORD]
    log_path = log_dir / "refcrypto-server-udp-flood.log"
    with running(command, log_path, ready_line=READY, env=python_env()) as (process, match):
        assert match is not None
        port = int(match.group(1))
        answered = 0
        with contextlib.ExitStack() as stack:
            for _ in range(FLOOD_SOURCES):  # all open at once: distinct source ports
                sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
                sock.bind((LOOPBACK, 0))
                sock.settimeout(2.0)
                sock.sendto(udp_packet(udp_echo.address, b"flood"), (LOOPBACK, port))
                try:
                    sock.recvfrom(65536)
                except TimeoutError:
                    break  # the server stopped answering new sources: no point going on
                answered += 1
        assert answered == FLOOD_SOURCES

        # TCP still works, and so does UDP for a new client.
        assert tcp_echo_round_trip(port, tcp_echo.address, b"after the flood", timeout=WAIT) \
            == b"after the flood"
        reply = refcrypto.decrypt_all(PASSWORD, AEAD, udp_round_trip(
            (LOOPBACK, port), udp_packet(udp_echo.address, b"new client")))
        assert reply.endswith(b"new client")

        # The cap held: relays plus the server's own few descriptors, far below 128.
        descriptors = len(os.listdir(f"/proc/{process.pid}/fd"))
        assert descriptors <= 32 + 16, f"{descriptors} descriptors open"
        assert "udp: 32 relays open (the limit)" in process.log()


def test_default_relay_cap_follows_the_descriptor_limit() -> None:
    resource = pytest.importorskip("resource")
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    expected = 512 if soft == resource.RLIM_INFINITY else max(1, min(512, soft // 4))
    assert default_max_udp_relays() == expected
    assert ShadowsocksServer(AEAD, PASSWORD).max_udp_relays == expected
    assert ShadowsocksServer(AEAD, PASSWORD, max_udp_relays=7).max_udp_relays == 7
    with pytest.raises(ValueError):
        ShadowsocksServer(AEAD, PASSWORD, max_udp_relays=0)


def test_udp_relay_cap_evicts_the_least_recently_used(
    loop: RecordingLoop, udp_echo: UdpEcho
) -> None:
    with serving(loop, max_udp_relays=4) as (server, port), contextlib.ExitStack() as stack:
        sources = []
        for _ in range(7):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
            sock.bind((LOOPBACK, 0))
            sock.settimeout(2.0)
            sources.append(sock)

        def ask(index: int) -> None:
            # a fresh packet each time: the replay filter drops a repeated one
            sources[index].sendto(udp_packet(udp_echo.address, b"x"), (LOOPBACK, port))
            sources[index].recvfrom(65536)  # every source is answered

        for index in range(6):
            ask(index)
        assert (server.udp_relays, server.stats.udp_relays_evicted) == (4, 2)  # 0, 1 went
        ask(2)  # 2 becomes the most recently used; 3 is now the least
        ask(6)  # a new client: evicts 3
        assert server.stats.udp_relays_evicted == 3
        ask(2)  # still there
        assert server.stats.udp_relays_evicted == 3
        ask(3)  # was evicted: gets a new relay, evicting another
        assert (server.udp_relays, server.stats.udp_relays_evicted) == (4, 4)
    assert loop.errors == []


def test_relay_whose_socket_fails_drops_its_packets_and_is_forgotten(
    loop: RecordingLoop, udp_echo: UdpEcho, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def out_of_descriptors(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EMFILE, "Too many open files")

    with serving(loop) as (server, port), \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOOPBACK, 0))
        monkeypatch.setattr(loop.loop, "create_datagram_endpoint", out_of_descriptors)
        for _ in range(5):  # fresh packets: the replay filter would drop repeats
            sock.sendto(udp_packet(udp_echo.address, b"x"), (LOOPBACK, port))
        assert wait_until(lambda: server.stats.udp_packets_dropped == 5)
        assert server.stats.udp_relays_failed >= 1
        assert wait_until(lambda: server.udp_relays == 0)
        sock.settimeout(0.5)
        with pytest.raises(TimeoutError):
            sock.recvfrom(65536)
        # Descriptors are back: the same client is served by a new relay.
        monkeypatch.undo()
        sock.settimeout(2.0)
        sock.sendto(udp_packet(udp_echo.address, b"x"), (LOOPBACK, port))
        assert refcrypto.decrypt_all(PASSWORD, AEAD, sock.recvfrom(65536)[0]).endswith(b"x")
        assert server.stats.udp_packets_dropped == 5
    assert loop.errors == []


# --- 9. the handshake deadline ---------------------------------------------------------------


def test_slow_handshake_is_closed_by_the_deadline(loop: RecordingLoop) -> None:
    """One salt byte every 0.8 s against a 1 s deadline. Before: each byte restarted a 1 s
    read timeout and the connection stayed open as long as the bytes kept coming."""
    salt = os.urandom(32)
    with serving(loop, handshake_timeout=1.0) as (server, port), \
            socket.create_connection((LOOPBACK, port), timeout=WAIT) as sock:
        started = time.monotonic()
        sent, closed = 0, False
        for byte in salt[:8]:  # at most 8 bytes, 6.4 s
            try:
                sock.sendall(bytes((byte,)))
            except OSError:
                closed = True
                break
            sent += 1
            sock.settimeout(0.8)  # the pace, and the check for the server's close
            try:
                if sock.recv(1) == b"":
                    closed = True
                    break
            except TimeoutError:
                continue
            except ConnectionResetError:
                closed = True
                break
        elapsed = time.monotonic() - started
        assert closed, f"still open after {sent} bytes, {elapsed:.1f} s"
        assert sent <= 4 and elapsed < 4.0  # closed at about the 1 s deadline
        assert server.stats.handshake_timeouts == 1


def test_deadline_covers_only_the_handshake(loop: RecordingLoop, tcp_echo: TcpEcho) -> None:
    with serving(loop, handshake_timeout=1.0) as (server, port):
        cryptor = refcrypto.Cryptor(PASSWORD, AEAD)
        with socket.create_connection((LOOPBACK, port), timeout=WAIT) as sock:
            header = pack_address(*tcp_echo.address)
            assert exchange(sock, [header + b"one"], 3, encode=cryptor.encrypt,
                            decode=cryptor.decrypt, timeout=WAIT) == b"one"
            time.sleep(1.5)  # past the handshake deadline, well within the idle timeout
            assert exchange(sock, [b"two"], 3, encode=cryptor.encrypt, decode=cryptor.decrypt,
                            timeout=WAIT) == b"two"
        assert server.stats.handshake_timeouts == 0


# --- 9. host names the resolver cannot encode ------------------------------------------------

#: A name with a 64-byte DNS label, as a Shadowsocks address (``pack_address`` refuses to
#: encode it): ``socket.getaddrinfo`` raises UnicodeError (not OSError) for it, before any
#: query is sent.
UNENCODABLE = b"a" * 64 + b".invalid"


def unencodable_address(port: int) -> bytes:
    return bytes((3, len(UNENCODABLE))) + UNENCODABLE + port.to_bytes(2, "big")


def test_unencodable_host_names_are_contained(
    loop: RecordingLoop, tcp_echo: TcpEcho, udp_echo: UdpEcho
) -> None:
    with serving(loop) as (server, port):
        cryptor = refcrypto.Cryptor(PASSWORD, AEAD)
        with socket.create_connection((LOOPBACK, port), timeout=WAIT) as sock:
            sock.sendall(cryptor.encrypt(unencodable_address(80) + b"GET /"))
            try:
                assert sock.recv(1) == b""  # closed, nothing relayed
            except ConnectionResetError:
                pass
        assert wait_until(lambda: server.stats.bad_streams == 1)

        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((LOOPBACK, 0))
            sock.settimeout(1.0)
            packet = refcrypto.encrypt_all(PASSWORD, AEAD, unencodable_address(53) + b"query")
            sock.sendto(packet, (LOOPBACK, port))
            with pytest.raises(TimeoutError):
                sock.recvfrom(65536)
        assert wait_until(lambda: server.stats.udp_lookup_errors == 1)

        # Both services still work, and nothing reached the event loop's handler.
        assert tcp_echo_round_trip(port, tcp_echo.address, b"still here", timeout=WAIT) \
            == b"still here"
        reply = udp_round_trip((LOOPBACK, port), udp_packet(udp_echo.address, b"and here"))
        assert refcrypto.decrypt_all(PASSWORD, AEAD, reply).endswith(b"and here")
        assert server.stats.unexpected_errors == 0
    assert loop.errors == []


# --- 10. a stream cut inside a chunk ----------------------------------------------------------


class Recorder:
    """A one-connection TCP peer in a thread: records what it reads and how the stream
    ended: ``"eof"`` (clean FIN), ``"reset"`` (RST) or ``"timeout"``."""

    def __init__(self, respond: bytes = b"") -> None:
        self.listener = socket.create_server((LOOPBACK, 0))
        self.listener.settimeout(WAIT)
        self.address = (LOOPBACK, int(self.listener.getsockname()[1]))
        self.respond = respond
        self.data = b""
        self.ending = ""
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except OSError:
            self.ending = "no connection"
            return
        with conn:
            conn.settimeout(WAIT)
            if self.respond:  # play a Shadowsocks server: take the request, answer, close
                conn.recv(65536)
                conn.sendall(self.respond)
                return
            try:
                while chunk := conn.recv(65536):
                    self.data += chunk
                self.ending = "eof"
            except ConnectionResetError:
                self.ending = "reset"
            except TimeoutError:
                self.ending = "timeout"

    def join(self) -> None:
        self.thread.join(WAIT)
        self.listener.close()


@pytest.mark.parametrize("method", [AEAD, "chacha20-ietf-poly1305"])
@pytest.mark.parametrize("cut", [True, False], ids=["cut", "complete"])
def test_server_resets_the_target_when_the_client_stream_is_cut(
    loop: RecordingLoop, method: str, cut: bool
) -> None:
    """Before: the server half-closed the target cleanly (FIN), as if the stream had ended
    well. Now the target sees a reset; a complete stream still ends with a clean FIN."""
    target = Recorder()
    server = ShadowsocksServer(method, PASSWORD, timeout=30.0)
    _, port = loop.run(server.start(LOOPBACK, 0, udp=False))
    try:
        encoder = new_encoder(method, master_key(PASSWORD, method))
        first = encoder.update(pack_address(*target.address) + b"first chunk")
        second = encoder.update(b"second chunk")
        with socket.create_connection((LOOPBACK, port), timeout=WAIT) as sock:
            sock.sendall(first)
            assert wait_until(lambda: target.data == b"first chunk")
            sock.sendall(second[:-5] if cut else second)
            sock.shutdown(socket.SHUT_WR)
            target.join()
        if cut:
            assert (target.data, target.ending) == (b"first chunk", "reset")
            assert server.stats.bad_streams == 1
        else:
            assert (target.data, target.ending) == (b"first chunksecond chunk", "eof")
            assert server.stats.bad_streams == 0
    finally:
        loop.run(server.close())
        target.join()
    assert loop.errors == []


@pytest.mark.parametrize("cut", [True, False], ids=["cut", "complete"])
def test_client_resets_the_application_when_the_server_stream_is_cut(
    loop: RecordingLoop, cut: bool
) -> None:
    """A fake server answers with one whole chunk and one cut (or whole) chunk, then closes.
    Before: the application got the first chunk and a clean end of stream either way."""
    encoder = new_encoder(AEAD, master_key(PASSWORD, AEAD))
    whole, last = encoder.update(b"hello "), encoder.update(b"world")
    fake = Recorder(respond=whole + (last[:-3] if cut else last))
    socks = loop.run(start_client((LOOPBACK, 0), fake.address, AEAD, PASSWORD))
    try:
        socks_port = int(socks.sockets[0].getsockname()[1])
        received, ending = b"", "timeout"
        with socks5_connect(socks_port, (LOOPBACK, 9), timeout=WAIT) as app:
            try:
                while chunk := app.recv(65536):
                    received += chunk
                ending = "eof"
            except ConnectionResetError:
                ending = "reset"
            except TimeoutError:
                pass
        assert (received, ending) == ((b"hello ", "reset") if cut else (b"hello world", "eof"))
    finally:
        loop.close_server(socks)
        fake.join()


# --- 11. start-up warnings ------------------------------------------------------------------


@pytest.mark.parametrize("method", refcrypto.methods(extensions=True), ids=lambda m: m.name)
def test_method_warning_text(method: refcrypto.Method) -> None:
    warning = method_warning(method)
    if not method.legacy and method.name != "rc4":
        assert warning is None
        return
    assert warning is not None and "\n" not in warning
    if method.name == "rc4":
        assert warning.startswith("rc4 has no IV: every session, both directions and every "
                                  "UDP packet share one keystream")
    if method.legacy:
        assert f"{method.name} is a legacy method: {method.legacy_reason}" in warning


@pytest.mark.parametrize("tool", ["server", "client"])
@pytest.mark.parametrize("method", ["rc4", "aes-128-cfb", AEAD])
def test_tools_warn_at_start_up(tool: str, method: str, log_dir: Path) -> None:
    listen = ["--listen", f"{LOOPBACK}:0"]
    options = ["--no-udp"] if tool == "server" else ["--server", f"{LOOPBACK}:9"]
    command = [sys.executable, "-m", f"refcrypto.tools.{tool}", *listen, *options,
               "-m", method, "-k", PASSWORD]
    log_path = log_dir / f"refcrypto-{tool}-warning-{method}.log"
    with running(command, log_path, ready_line=READY, env=python_env()) as (process, _):
        lines = [line for line in process.log().splitlines() if "WARNING" in line]
    row = refcrypto.method(method)
    expected = method_warning(row)
    if expected is None:
        assert lines == []
    else:
        assert len(lines) == 1 and lines[0].endswith(expected)
        if method == "rc4":
            assert "rc4 has no IV" in lines[0]
        assert row.legacy_reason in lines[0]
