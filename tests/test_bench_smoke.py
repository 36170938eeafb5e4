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
from refcrypto.benchmarks.peers import all_peers
from refcrypto.benchmarks.report import chart, table, targets, write_json
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


def test_table_json_and_targets(report: Report, tmp_path: Path) -> None:
    text = table(report)
    for heading in ("TCP throughput", "UDP, packets/s", "Creations/s", "refcrypto"):
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
    with pytest.raises(ValueError, match="unknown peer"):
        all_peers(["openssl"])


def test_memory_and_soak_children() -> None:
    lines: list[str] = []
    live = run_memory(["refcrypto"], ["aes-256-gcm"], 50, lines.append)
    assert live[0]["bytes_per_cryptor"] > 0, live
    soak = run_soak(["refcrypto"], ["aes-256-gcm", "table"], 200, lines.append)
    assert [r["method"] for r in soak] == ["aes-256-gcm", "table"]
    for result in soak:
        assert "rss_growth" in result and result["cycles"] == 0, result
    assert lines == ["memory aes-256-gcm", "soak aes-256-gcm", "soak table"]
