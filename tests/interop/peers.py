"""Starting the peers: shadowsocks-libev's ss-server/ss-local, refcrypto's server, and Python
shadowsocks' ssserver on refcrypto. Also the method lists the tests run over."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

import refcrypto
from refcrypto.compat import CIPHERS

from .support import (
    LOOPBACK,
    PASSWORD,
    StartupFailed,
    python_command,
    python_env,
    running,
    start_with_free_port,
)

# Every name shadowsocks-libev 3.3.5 has in its method tables: src/stream.c
# supported_stream_ciphers (21 names; "table" is rejected at start-up since v3.0.0) and
# src/aead.c supported_aead_ciphers (5 names). `ss-server --help` lists 19 of them (not
# table, rc4, cast5-cfb, des-cfb, idea-cfb, rc2-cfb, seed-cfb). Checked against the
# strings of Debian's ss-server binary.
LIBEV_STREAM = (
    "table", "rc4", "rc4-md5",
    "aes-128-cfb", "aes-192-cfb", "aes-256-cfb",
    "aes-128-ctr", "aes-192-ctr", "aes-256-ctr",
    "bf-cfb", "camellia-128-cfb", "camellia-192-cfb", "camellia-256-cfb",
    "cast5-cfb", "des-cfb", "idea-cfb", "rc2-cfb", "seed-cfb",
    "salsa20", "chacha20", "chacha20-ietf",
)  # fmt: skip
LIBEV_AEAD = (
    "aes-128-gcm", "aes-192-gcm", "aes-256-gcm",
    "chacha20-ietf-poly1305", "xchacha20-ietf-poly1305",
)  # fmt: skip
LIBEV_METHODS = LIBEV_STREAM + LIBEV_AEAD

#: Names in libev's tables that Debian's build refuses at start-up: `table` ("Table is
#: deprecated") and five that its mbed TLS table marks unsupported. test_libev_matrix asserts
#: that exactly these are refused; every other name must start, so the wire tests fail (never
#: skip) if one does not.
REFUSED_AT_STARTUP = ("table", "cast5-cfb", "des-cfb", "idea-cfb", "rc2-cfb", "seed-cfb")
LIBEV_WORKING = tuple(name for name in LIBEV_METHODS if name not in REFUSED_AT_STARTUP)

#: Working libev names the Python shadowsocks package also has (all of them: its table is a
#: superset).
SHARED_WITH_PACKAGE = tuple(name for name in LIBEV_WORKING if name in CIPHERS)

#: Methods that also get a 1 MiB payload (the rest get up to ~50 kB: every AEAD payload
#: still spans four SIP004 chunks). One per primitive family that is fast in refcrypto.
ONE_MIB_METHODS = (
    "aes-256-gcm", "chacha20-ietf-poly1305", "xchacha20-ietf-poly1305",
    "aes-128-cfb", "aes-256-ctr", "chacha20-ietf", "rc4-md5",
)  # fmt: skip

#: libev's replay filter refuses every UDP packet of ``rc4`` after the first: ``rc4`` has a
#: zero-length IV, and stream_decrypt_all() checks the (empty) IV against the ping-pong Bloom
#: filter and then adds it, for every method (src/stream.c; its TCP path checks only methods
#: from rc4-md5 on). Tested on its own in test_libev_client.py / test_libev_server.py.
RC4_UDP_REASON = (
    "libev accepts one rc4 UDP packet per process: its zero-length IV goes into the replay "
    "filter, and every later packet is 'repeat IV detected' (src/stream.c stream_decrypt_all)"
)

#: How libev says no at start-up (src/crypto.c, src/stream.c, src/aead.c).
REJECTIONS = {
    "unsupported by mbed TLS": r"currently is not supported by mbed TLS library",
    "deprecated": r"Table is deprecated",
    "unknown name": r"invalid cipher name",
}

assert set(LIBEV_METHODS) <= {m.name for m in refcrypto.methods(extensions=True)}


def libev_rejection(failure: StartupFailed) -> str | None:
    """If libev refused the method at start-up, say why (its own ERROR lines)."""
    for pattern in REJECTIONS.values():
        if re.search(pattern, failure.log):
            errors = [line.split("ERROR:", 1)[1].strip() for line in failure.log.splitlines()
                      if "ERROR:" in line]
            return "; ".join(errors)
    return None


def fail_if_rejected(program: str, method: str, failure: StartupFailed) -> None:
    """A method expected to work was refused at start-up: fail with libev's own words."""
    reason = libev_rejection(failure)
    if reason is None:
        raise failure
    pytest.fail(f"{program} rejects {method} at start-up: {reason}")


@contextlib.contextmanager
def ss_server(binary: str, method: str, log_dir: Path) -> Iterator[int]:
    """libev's ss-server on 127.0.0.1 (TCP and UDP); yields its port."""
    stack, _, port = start_with_free_port(
        # -b: outgoing TCP and UDP sockets bound to 127.0.0.1 too (not the wildcard).
        lambda port: [binary, "-s", LOOPBACK, "-p", str(port), "-b", LOOPBACK, "-k", PASSWORD,
                      "-m", method, "-u", "-t", "30", "-v"],
        log_dir / f"ss-server-{method}.log",
    )
    with stack:
        yield port


@contextlib.contextmanager
def ss_local(binary: str, method: str, server_port: int, log_dir: Path) -> Iterator[int]:
    """libev's ss-local: SOCKS5 (TCP and UDP) on 127.0.0.1; yields its port."""
    stack, _, port = start_with_free_port(
        lambda port: [binary, "-s", LOOPBACK, "-p", str(server_port), "-b", LOOPBACK,
                      "-l", str(port), "-k", PASSWORD, "-m", method, "-u", "-t", "30", "-v"],
        log_dir / f"ss-local-{method}.log",
    )
    with stack:
        yield port


@contextlib.contextmanager
def refcrypto_server(method: str, log_dir: Path) -> Iterator[int]:
    """``python -m refcrypto.tools.server`` on a port of its choosing; yields the port."""
    command = python_command("-m", "refcrypto.tools.server", "--listen", f"{LOOPBACK}:0",
                             "-m", method, "-k", PASSWORD, "--timeout", "30")
    with running(command, log_dir / f"refcrypto-server-{method}.log",
                 ready_line=r"listening on 127\.0\.0\.1:(\d+)", env=python_env()) as (_, match):
        assert match is not None
        yield int(match.group(1))


LAUNCHER = Path(__file__).with_name("ssserver_on_refcrypto.py")


@contextlib.contextmanager
def package_ssserver(method: str, log_dir: Path) -> Iterator[tuple[int, int]]:
    """Python shadowsocks' ssserver on refcrypto (through :data:`LAUNCHER`); yields
    (port, pid). ``--forbidden-ip ""`` lets it reach loopback targets."""
    stack, process, port = start_with_free_port(
        lambda port: python_command(str(LAUNCHER), "-s", LOOPBACK, "-p", str(port),
                                    "-k", PASSWORD, "-m", method, "--forbidden-ip", "",
                                    "-t", "30", "-v"),
        log_dir / f"ssserver-{method}.log",
        env=python_env(),
    )
    with stack:
        yield port, process.pid
