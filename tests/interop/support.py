"""Helpers for the interoperability tests: processes, loopback echo servers, a SOCKS5 client.

Rules every helper keeps: only 127.0.0.1 is ever bound or contacted; every wait has a
deadline; every process started is put in its own process group and killed with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import importlib
import os
import random
import re
import selectors
import shutil
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest

LOOPBACK = "127.0.0.1"
REPO_ROOT = Path(__file__).resolve().parents[2]
#: Seconds a process gets to start listening.
START_TIMEOUT = 15.0
#: Seconds one exchange (connect, send, receive everything) may take.
IO_TIMEOUT = 60.0
#: Seconds to wait for one UDP reply before sending again.
UDP_REPLY_TIMEOUT = 2.0
UDP_ATTEMPTS = 4
PASSWORD = "interop-password"

Address = tuple[str, int]
Transform = Callable[[bytes], bytes]
T = TypeVar("T")


# --- availability --------------------------------------------------------------------------


def native_required() -> bool:
    """REFCRYPTO_REQUIRE_NATIVE=1 turns a missing peer program into a failure."""
    return os.environ.get("REFCRYPTO_REQUIRE_NATIVE") == "1"


def unavailable(reason: str) -> None:
    """Skip the test, or fail it when native peers are required."""
    if native_required():
        pytest.fail(f"{reason} (REFCRYPTO_REQUIRE_NATIVE=1)", pytrace=False)
    pytest.skip(reason)


def require_program(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        unavailable(f"{name} not found (Debian: apt-get install shadowsocks-libev)")
    assert path is not None
    return path


def require_shadowsocks_package() -> None:
    try:
        importlib.import_module("shadowsocks.cryptor")
        importlib.import_module("shadowsocks.server")
    except ImportError as exc:
        unavailable(f"Python shadowsocks package not importable ({exc}); "
                    "pip install shadowsocks-alexforks")


def python_env() -> dict[str, str]:
    """Environment for Python children: this checkout first on the path."""
    env = dict(os.environ)
    env.pop("REFCRYPTO_KEY", None)  # the tools take -k from the tests; two sources are an error
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p
    )
    env["PYTHONUNBUFFERED"] = "1"
    return env


# --- ports and processes -------------------------------------------------------------------


def free_port() -> int:
    """A loopback port that is free for both TCP and UDP right now."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((LOOPBACK, 0))
            port = int(tcp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind((LOOPBACK, port))
                except OSError:
                    continue
        return port
    raise RuntimeError("no free loopback port")


def port_accepts(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=1.0):
            return True
    except OSError:
        return False


class StartupFailed(Exception):
    """The process exited (or never listened) during start-up; ``log`` is its output."""

    def __init__(self, command: Sequence[str], log: str, returncode: int | None) -> None:
        self.command = list(command)
        self.log = log
        self.returncode = returncode
        state = "did not start listening" if returncode is None else f"exited {returncode}"
        super().__init__(f"{Path(command[0]).name} {state} at start-up:\n{log.strip()}")


class Process:
    """A child process in its own process group, output to a log file."""

    def __init__(self, command: Sequence[str], log_path: Path, env: dict[str, str] | None):
        self.command = list(command)
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.popen = subprocess.Popen(
            self.command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=env,
            start_new_session=True,  # own process group: stop() kills children too
        )
        self.pid = self.popen.pid

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def wait_for_port(self, port: int, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise StartupFailed(self.command, self.log(), self.popen.returncode)
            if port_accepts(port):
                return
            time.sleep(0.05)
        raise StartupFailed(self.command, self.log(), None)

    def read_line(self, pattern: str, timeout: float = START_TIMEOUT) -> re.Match[str]:
        """Wait for a stdout line matching ``pattern``."""
        assert self.popen.stdout is not None
        fd = self.popen.stdout.fileno()
        os.set_blocking(fd, False)
        buffer = b""
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while (left := deadline - time.monotonic()) > 0:
                selector.select(left)
                with contextlib.suppress(BlockingIOError):
                    chunk = os.read(fd, 4096)
                    if not chunk:
                        break
                    buffer += chunk
                for line in buffer.decode(errors="replace").splitlines():
                    if match := re.search(pattern, line):
                        return match
        self.popen.poll()
        raise StartupFailed(self.command, buffer.decode(errors="replace") + self.log(),
                            self.popen.returncode)

    def stop(self) -> None:
        """SIGTERM the process group, then SIGKILL it if it lingers; idempotent."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.pid, signal.SIGKILL)
                self.popen.wait(timeout=5)
        else:  # the leader is gone; make sure nothing of its group is left
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)
        if self.popen.stdout is not None:
            self.popen.stdout.close()
        self._log.close()


@contextlib.contextmanager
def running(
    command: Sequence[str],
    log_path: Path,
    *,
    port: int | None = None,
    ready_line: str | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[tuple[Process, re.Match[str] | None]]:
    """Start ``command``, wait until it listens on ``port`` or prints ``ready_line``, and
    stop it on exit, also when the body fails. Raises :class:`StartupFailed`."""
    process = Process(command, log_path, env)
    try:
        match = process.read_line(ready_line) if ready_line else None
        if port is not None:
            process.wait_for_port(port)
        yield process, match
    finally:
        process.stop()


def start_with_free_port(
    make_command: Callable[[int], Sequence[str]],
    log_path: Path,
    *,
    env: dict[str, str] | None = None,
    attempts: int = 3,
) -> tuple[contextlib.ExitStack, Process, int]:
    """Start a server on a fresh free port, retrying with another port if the port was
    taken between choosing and binding. Returns (stack to close, process, port)."""
    for attempt in range(attempts):
        port = free_port()
        stack = contextlib.ExitStack()
        try:
            process, _ = stack.enter_context(running(make_command(port), log_path, port=port,
                                                     env=env))
        except StartupFailed as exc:
            stack.close()
            if "in use" in exc.log.lower() and attempt < attempts - 1:
                continue
            raise
        return stack, process, port
    raise AssertionError("unreachable")


# --- loopback servers ------------------------------------------------------------------------


class _EchoHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(IO_TIMEOUT)
        with contextlib.suppress(OSError):
            while data := sock.recv(65536):
                sock.sendall(data)


class _ThreadingTCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class _ServerThread:
    """A socketserver on 127.0.0.1 (free port) served from a daemon thread; ``close`` stops
    it within a bounded wait."""

    def __init__(self, server: socketserver.BaseServer) -> None:
        self.server = server
        self.address: Address = (LOOPBACK, int(server.server_address[1]))  # type: ignore[index]
        self.thread = threading.Thread(target=server.serve_forever, kwargs={
            "poll_interval": 0.1}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


class TcpEcho(_ServerThread):
    """A TCP echo server on 127.0.0.1 in a thread."""

    def __init__(self) -> None:
        super().__init__(_ThreadingTCPServer((LOOPBACK, 0), _EchoHandler))


class UdpEcho:
    """A UDP echo server on 127.0.0.1 in a thread."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((LOOPBACK, 0))
        self.sock.settimeout(0.1)
        self.address: Address = (LOOPBACK, int(self.sock.getsockname()[1]))
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            with contextlib.suppress(OSError):
                self.sock.sendto(data, peer)

    def close(self) -> None:
        self._stop.set()
        self.thread.join(timeout=5)
        self.sock.close()


PAGE = b"<!doctype html><title>refcrypto</title><p>" + b"fetched through shadowsocks " * 4000


class _PageHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = PAGE if self.path == "/" else b"not found"
        self.send_response(200 if self.path == "/" else 404)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class HttpServer(_ServerThread):
    """http.server on 127.0.0.1 in a thread, serving :data:`PAGE` at ``/``."""

    def __init__(self) -> None:
        server = http.server.ThreadingHTTPServer((LOOPBACK, 0), _PageHandler)
        server.daemon_threads = True
        super().__init__(server)


# --- payloads and exchanges ------------------------------------------------------------------


def payload(size: int, seed: int = 0) -> bytes:
    return random.Random(size * 7919 + seed).randbytes(size)


def uneven_pieces(data: bytes, seed: int = 0) -> list[bytes]:
    """``data`` cut into pieces of irregular sizes: single bytes, odd sizes, sizes around
    AEAD's 0x3FFF chunk limit and larger, so codecs see every kind of boundary."""
    rng = random.Random(len(data) * 31 + seed)
    sizes = (1, 2, 3, 7, 15, 16, 17, 63, 64, 65, 1000, 4095, 16383, 16384, 16385, 40000)
    pieces, pos = [], 0
    while pos < len(data):
        size = rng.choice(sizes)
        pieces.append(data[pos : pos + size])
        pos += size
    return pieces


def _identity(data: bytes) -> bytes:
    return data


def exchange(
    sock: socket.socket,
    pieces: Sequence[bytes],
    expected_size: int,
    *,
    encode: Transform = _identity,
    decode: Transform = _identity,
    timeout: float = IO_TIMEOUT,
    seed: int = 0,
) -> bytes:
    """Send ``encode(piece)`` for every piece while reading, and return the decoded bytes
    once ``expected_size`` of them have arrived.

    Sending and receiving interleave (a 1 MiB echo would deadlock otherwise). Every received
    buffer is cut again at random points before ``decode`` sees it, so decoders also meet
    IVs, salts and chunks split across calls.
    """
    rng = random.Random(seed)
    outgoing = [encode(piece) for piece in pieces]
    out_index, out_offset = 0, 0
    received: list[bytes] = []
    got = 0
    deadline = time.monotonic() + timeout
    sock.setblocking(False)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    with selectors.DefaultSelector() as selector:
        selector.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE)
        while got < expected_size:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(
                    f"exchange timed out: received {got} of {expected_size} bytes, sent "
                    f"{out_index} of {len(outgoing)} pieces"
                )
            if out_index == len(outgoing):
                selector.modify(sock, selectors.EVENT_READ)
            for _, events in selector.select(min(left, 1.0)):
                if events & selectors.EVENT_WRITE and out_index < len(outgoing):
                    with contextlib.suppress(BlockingIOError):
                        out_offset += sock.send(outgoing[out_index][out_offset:])
                    if out_offset >= len(outgoing[out_index]):
                        out_index, out_offset = out_index + 1, 0
                if events & selectors.EVENT_READ:
                    try:
                        data = sock.recv(262144)
                    except BlockingIOError:
                        continue
                    if not data:
                        raise ConnectionError(
                            f"peer closed after {got} of {expected_size} bytes"
                        )
                    pos = 0
                    while pos < len(data):
                        step = rng.choice((1, 5, 17, 100, 5000, len(data)))
                        plain = decode(data[pos : pos + step])
                        received.append(plain)
                        got += len(plain)
                        pos += step
    return b"".join(received)


# --- SOCKS5 client (RFC 1928) ----------------------------------------------------------------


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError(f"SOCKS5 proxy closed after {len(data)} of {size} bytes")
        data += chunk
    return data


def _socks5_request(sock: socket.socket, command: int, address: Address) -> Address:
    """Greeting (no authentication) and one request; return the reply's BND address."""
    sock.sendall(b"\x05\x01\x00")
    if _recv_exact(sock, 2) != b"\x05\x00":
        raise ConnectionError("SOCKS5 proxy refused 'no authentication'")
    host, port = address
    sock.sendall(b"\x05" + bytes((command, 0, 1)) + socket.inet_aton(host)
                 + port.to_bytes(2, "big"))
    version, reply, _, atyp = _recv_exact(sock, 4)
    if version != 5 or reply != 0:
        raise ConnectionError(f"SOCKS5 request failed: reply code {reply}")
    if atyp == 1:
        bound = socket.inet_ntoa(_recv_exact(sock, 4))
    elif atyp == 4:
        bound = socket.inet_ntop(socket.AF_INET6, _recv_exact(sock, 16))
    else:
        bound = _recv_exact(sock, _recv_exact(sock, 1)[0]).decode()
    return bound, int.from_bytes(_recv_exact(sock, 2), "big")


def socks5_connect(proxy_port: int, target: Address, timeout: float = IO_TIMEOUT) -> socket.socket:
    """A TCP connection to ``target`` through the SOCKS5 proxy on 127.0.0.1:``proxy_port``."""
    sock = socket.create_connection((LOOPBACK, proxy_port), timeout=timeout)
    try:
        _socks5_request(sock, 1, target)
    except BaseException:
        sock.close()
        raise
    return sock


class Socks5Udp:
    """A SOCKS5 UDP association (command 3) through the proxy on 127.0.0.1:``proxy_port``.

    The request names this client's own UDP address (127.0.0.1 and its port); the TCP control
    connection stays open for the association's lifetime.
    """

    def __init__(self, proxy_port: int) -> None:
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind((LOOPBACK, 0))
        self.control = socket.create_connection((LOOPBACK, proxy_port), timeout=IO_TIMEOUT)
        try:
            relay = _socks5_request(self.control, 3, self.udp.getsockname())
        except BaseException:
            self.close()
            raise
        # A proxy may answer 0.0.0.0 ("same host as the control connection").
        self.relay: Address = (LOOPBACK if relay[0] in ("0.0.0.0", "::") else relay[0],
                               relay[1])
        if self.relay[0] != LOOPBACK:
            self.close()
            raise ConnectionError(f"SOCKS5 relay address is not loopback: {relay}")

    def round_trip(
        self, target: Address, data: bytes, *, attempts: int = UDP_ATTEMPTS
    ) -> tuple[Address, bytes]:
        """Send one datagram to ``target`` and return (source, payload) of the reply; sent
        again up to ``attempts`` times if no reply comes (UDP may drop)."""
        header = b"\x00\x00\x00\x01" + socket.inet_aton(target[0]) + target[1].to_bytes(2, "big")
        self._drain()
        for _ in range(attempts):
            self.udp.sendto(header + data, self.relay)
            self.udp.settimeout(UDP_REPLY_TIMEOUT)
            try:
                reply, _ = self.udp.recvfrom(65536)
            except TimeoutError:
                continue
            if reply[:4] != b"\x00\x00\x00\x01":
                raise ConnectionError(f"unexpected SOCKS5 UDP header {reply[:4].hex()}")
            source = (socket.inet_ntoa(reply[4:8]), int.from_bytes(reply[8:10], "big"))
            return source, reply[10:]
        raise TimeoutError(f"no UDP reply through the SOCKS5 relay {self.relay}")

    def _drain(self) -> None:
        """Drop late replies to earlier, re-sent datagrams."""
        self.udp.setblocking(False)
        try:
            while True:
                self.udp.recvfrom(65536)
        except BlockingIOError:
            pass
        finally:
            self.udp.setblocking(True)

    def close(self) -> None:
        self.udp.close()
        self.control.close()


def udp_round_trip(server: Address, packet: bytes) -> bytes:
    """Send one datagram to ``server`` from 127.0.0.1 and return the reply (retried)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOOPBACK, 0))
        sock.settimeout(UDP_REPLY_TIMEOUT)
        for _ in range(UDP_ATTEMPTS):
            sock.sendto(packet, server)
            try:
                return sock.recvfrom(65536)[0]
            except TimeoutError:
                continue
    raise TimeoutError(f"no UDP reply from {server}")


def python_command(*args: str) -> list[str]:
    return [sys.executable, *args]


async def _close_server(server: asyncio.AbstractServer) -> None:
    server.close()
    await server.wait_closed()


class BackgroundLoop:
    """An asyncio event loop in a thread, for running refcrypto's tools in-process."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = IO_TIMEOUT) -> T:
        """Run ``coroutine`` on the loop and wait (bounded) for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close_server(self, server: asyncio.AbstractServer) -> None:
        """Close an asyncio server of this loop, on the loop (asyncio servers are not
        thread-safe: closing one from another thread races with its connections ending)."""
        self.run(_close_server(server))

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        self.loop.close()
