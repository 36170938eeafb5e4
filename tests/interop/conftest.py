"""Fixtures of the interoperability tests: peer programs, loopback echo servers, log files.

A missing ``ss-server``/``ss-local`` or shadowsocks package skips the tests that need it, or
fails them when REFCRYPTO_REQUIRE_NATIVE=1 (support.unavailable).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .singbox import DIRECTIONS, MatrixKey, format_matrix
from .support import HttpServer, TcpEcho, UdpEcho, require_program, require_shadowsocks_package

#: Results of test_libev_matrix.py: method -> (accepted, reason), for the terminal summary.
MATRIX_KEY = pytest.StashKey[dict[str, tuple[bool, str]]]()
#: Results of test_singbox.py (singbox.record_singbox), for the terminal summary.
SINGBOX_KEY = pytest.StashKey[dict[MatrixKey, str]]()


@pytest.fixture(scope="session")
def ss_server_bin() -> str:
    return require_program("ss-server")


@pytest.fixture(scope="session")
def ss_local_bin() -> str:
    return require_program("ss-local")


@pytest.fixture(scope="session")
def shadowsocks_package() -> None:
    require_shadowsocks_package()


@pytest.fixture(scope="session")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the peers' output goes (printed in failure messages)."""
    return tmp_path_factory.mktemp("interop-logs")


@pytest.fixture(scope="session")
def tcp_echo() -> Iterator[TcpEcho]:
    echo = TcpEcho()
    try:
        yield echo
    finally:
        echo.close()


@pytest.fixture(scope="session")
def udp_echo() -> Iterator[UdpEcho]:
    echo = UdpEcho()
    try:
        yield echo
    finally:
        echo.close()


@pytest.fixture(scope="session")
def http_server() -> Iterator[HttpServer]:
    server = HttpServer()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def libev_matrix(request: pytest.FixtureRequest) -> dict[str, tuple[bool, str]]:
    return request.config.stash.setdefault(MATRIX_KEY, {})


@pytest.fixture(scope="session")
def singbox_matrix(request: pytest.FixtureRequest) -> dict[MatrixKey, str]:
    return request.config.stash.setdefault(SINGBOX_KEY, {})


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    singbox = terminalreporter.config.stash.get(SINGBOX_KEY, None)
    if singbox:
        version = singbox.get(("version",), "?")
        terminalreporter.section(f"sing-box {version}: interoperability matrix")
        for name, meaning in DIRECTIONS.items():
            terminalreporter.write_line(f"{name}: {meaning}")
        for line in format_matrix(singbox):
            terminalreporter.write_line(line)
    matrix = terminalreporter.config.stash.get(MATRIX_KEY, None)
    if not matrix:
        return
    accepted = sorted(name for name, (ok, _) in matrix.items() if ok)
    terminalreporter.section("shadowsocks-libev ss-server: methods at start-up")
    terminalreporter.write_line(f"accepted ({len(accepted)}): {', '.join(accepted)}")
    for name, (ok, reason) in sorted(matrix.items()):
        if not ok and "invalid cipher name" not in reason:
            terminalreporter.write_line(f"rejected {name}: {reason}")
    unknown = sorted(name for name, (ok, r) in matrix.items() if "invalid cipher name" in r)
    if unknown:
        terminalreporter.write_line(f"not in libev's tables ({len(unknown)}): {', '.join(unknown)}")
