"""``refcrypto bench`` runs, with tiny sizes and loops, and produces a table, JSON and a chart.

Smoke only: no test here looks at a figure or a time (CONTRIBUTING.md); the benchmark's
numbers come from ``bench/`` and ``refcrypto bench`` runs. Peers that are not installed are
reported as unavailable, which is also what these tests accept.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from refcrypto.benchmarks import Config, run
from refcrypto.benchmarks.engine import Report
from refcrypto.benchmarks.memory import run_memory, run_soak
from refcrypto.benchmarks.peers import PEER_NAMES, all_peers
from refcrypto.benchmarks.report import (
    chart,
    configurations_table,
    table,
    targets,
    write_json,
)
from refcrypto.cli import main

TINY = Config(methods=("aes-128-gcm", "chacha20-ietf-poly1305", "salsa20"), sizes=(64, 200),
              rounds=1, seconds=0.001, udp_size=64)


@pytest.fixture(scope="module")
def report() -> Report:
    return run(TINY)


def test_every_case_has_every_peer(report: Report) -> None:
    kinds = {(c.kind, c.method, c.size) for c in report.cases}
    for m in TINY.methods:
        for size in TINY.sizes:
            assert ("tcp-encode", m, size) in kinds and ("tcp-decode", m, size) in kinds
        assert ("udp-encrypt", m, 64) in kinds and ("udp-decrypt", m, 64) in kinds
        assert ("create", m, 0) in kinds
    for case in report.cases:
        assert set(case.peers) == set(report.peers)
        ours = case.peers["refcrypto"]
        assert ours.skipped is None and len(ours.runs) == TINY.rounds and ours.best
        for name, measure in case.peers.items():
            assert measure.skipped is not None or len(measure.runs) == TINY.rounds, name


def test_every_peer_ran(report: Report) -> None:
    """All five peers are there and available (this suite has them installed), and the
    same-seals peer measured the AEAD methods and left the stream method out."""
    assert list(report.peers) == list(PEER_NAMES)
    assert not [v for v in report.peers.values() if v.startswith("unavailable")], report.peers
    for case in report.cases:
        seals = case.peers["pycryptodome-seals"]
        if case.kind == "create":
            assert seals.skipped is not None
        elif case.method == "salsa20":
            assert seals.skipped is not None and "stream method" in seals.skipped
        else:
            assert seals.skipped is None and seals.best, (case.kind, case.method, seals)
            assert case.ratio("pycryptodome-seals") is not None


def test_table_json_and_targets(report: Report, tmp_path: Path) -> None:
    text = table(report)
    for heading in ("TCP throughput", "UDP, packets/s", "Creations/s", "refcrypto",
                    "pycryptodome, same seals", "pycryptodome floor"):
        assert heading in text
    assert "aes-128-gcm" in text and "64 B" in text
    path = tmp_path / "bench.json"
    write_json(report, path)
    data = json.loads(path.read_text())
    assert data["config"]["methods"] == list(TINY.methods)
    assert {c["kind"] for c in data["cases"]} == {
        "tcp-encode", "tcp-decode", "udp-encrypt", "udp-decrypt", "create"}
    for ok, line in targets(report):
        assert isinstance(ok, bool) and "x " in line


def test_report_says_which_path_ran(report: Report) -> None:
    from refcrypto.primitives import _fast

    env = report.environment
    assert env["refcrypto_fast"] is _fast.ENABLED
    assert env["pycryptodome_backend"] in ("cffi", "ctypes")
    assert env["configuration"] == f"{'fast' if _fast.ENABLED else 'public'}/" + \
        env["pycryptodome_backend"]
    assert env["refcrypto_origin"] == "source tree"  # these tests import the checkout
    frozen = env["pip_freeze"]
    assert any(line.startswith("pycryptodome==") for line in frozen), frozen
    lines = table(report).splitlines()
    assert lines[1].startswith(f"Ran: [{env['configuration']}] refcrypto ")
    assert ("fast paths ON" if _fast.ENABLED else "fast paths OFF") in lines[1]
    assert lines[2].startswith("In: ")


def test_json_reads_back_to_the_same_report(report: Report, tmp_path: Path) -> None:
    path = tmp_path / "bench.json"
    write_json(report, path)
    again = Report.from_dict(json.loads(path.read_text()))
    assert json.loads(json.dumps(again.as_dict())) == json.loads(path.read_text())
    assert table(again) == table(report)


def test_configurations_table(report: Report) -> None:
    text = configurations_table([("fast/cffi", report), ("public/cffi", report)])
    header = text.splitlines()[0].split()
    assert header[:6] == ["method", "write", "direction", "unit", "fast/cffi", "public/cffi"]
    assert "same seals" in text and "floor" in text
    assert "(x) = refcrypto / shadowsocks from the same run" in text
    ratio = report.cases[0].ratio("shadowsocks")
    assert ratio is not None and f"({ratio:.2f}x)" in text


def test_chart_is_a_png(report: Report, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    path = tmp_path / "bench.png"
    chart(report, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_bench_quick(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "quick.json"
    code = main(["bench", "--quick", "-m", "aes-256-gcm", "--size", "32", "--peer",
                 "pycryptodome", "--no-create", "--json", str(out)])
    assert code == 0
    assert "TCP throughput" in capsys.readouterr().out
    assert json.loads(out.read_text())["config"]["sizes"] == [32]


def test_peers_are_chosen_and_checked() -> None:
    assert [p.name for p in all_peers(["pproxy"])] == ["refcrypto", "pproxy"]
    assert [p.name for p in all_peers()] == list(PEER_NAMES)
    with pytest.raises(ValueError, match="unknown peer"):
        all_peers(["openssl"])


def test_cli_isolated_options_need_isolated(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--quick", "--config", "public-cffi"]) == 2
    assert "go with --isolated" in capsys.readouterr().err


def test_memory_and_soak_children() -> None:
    lines: list[str] = []
    live = run_memory(["refcrypto"], ["aes-256-gcm"], 50, lines.append)
    assert live[0]["bytes_per_cryptor"] > 0, live
    soak = run_soak(["refcrypto"], ["aes-256-gcm", "table"], 200, lines.append)
    assert [r["method"] for r in soak] == ["aes-256-gcm", "table"]
    for result in soak:
        assert "rss_growth" in result and result["cycles"] == 0, result
    assert lines == ["memory aes-256-gcm", "soak aes-256-gcm", "soak table"]
