"""Honest verdicts from `refcrypto check`: every check runs in every install (Hypothesis or
not), a pair whose checks did not all run is `partial` and never `pass`, a backend asked for
by name that cannot run is an error, and progress reaches a log that is not a terminal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import NoReturn
from xml.etree import ElementTree

import pytest

import refcrypto
from refcrypto.cli import EXIT_PARTIAL, main
from refcrypto.conformance import engine
from refcrypto.conformance.backend import PrimitiveWire, RefcryptoPrimitives
from refcrypto.conformance.cases import (
    Binary,
    Integers,
    Lists,
    find_failure,
    resolve_generator,
)
from refcrypto.conformance.engine import CheckOutcome, PairResult, check_pair, verdict
from refcrypto.conformance.report import Progress, matrix

REQUIRE_NATIVE_ENV = "REFCRYPTO_REQUIRE_NATIVE"

#: Runs the command with Hypothesis unimportable, as in a plain `pip install refcrypto`.
NO_HYPOTHESIS = (
    "import sys\n"
    "sys.modules['hypothesis'] = None\n"
    "from refcrypto.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)
#: The same, with one more package unimportable (its name is the first argument).
WITHOUT_PACKAGE = (
    "import sys\n"
    "sys.modules[sys.argv.pop(1)] = None\n"
    "from refcrypto.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def skip_or_fail(reason: str) -> NoReturn:
    """Skip, or fail when ``REFCRYPTO_REQUIRE_NATIVE=1`` asks for every backend to run."""
    if os.environ.get(REQUIRE_NATIVE_ENV) == "1":
        pytest.fail(f"{REQUIRE_NATIVE_ENV}=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def run_cli(script: str, *args: str, env: dict[str, str] | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "REFCRYPTO_KEY"}
    environment.update(env or {})
    return subprocess.run([sys.executable, "-c", script, *args], capture_output=True,
                          text=True, timeout=timeout, env=environment)


def checks_of(row: dict[str, object]) -> dict[str, dict[str, object]]:
    checks = row["checks"]
    assert isinstance(checks, list)
    return {str(c["check"]): c for c in checks}


# --- without Hypothesis ----------------------------------------------------------------------


def test_without_hypothesis_shadowsocks_still_fails_iv_split(tmp_path: Path) -> None:
    wire = engine.wire_backend("shadowsocks")
    reason = wire.available() or wire.unsupported(refcrypto.method("aes-128-gcm"))
    if reason:
        skip_or_fail(f"the shadowsocks backend cannot run aes-128-gcm here: {reason}")
    report = tmp_path / "report.json"
    result = run_cli(NO_HYPOTHESIS, "check", "-b", "shadowsocks", "-m", "aes-128-gcm",
                     "-m", "table", "--quick", "--budget", "8", "--json", str(report))
    assert "Traceback" not in result.stderr
    assert result.returncode == 1, result.stdout + result.stderr
    rows = {r["method"]: r for r in json.loads(report.read_text())["results"]}
    gcm = rows["aes-128-gcm"]
    assert gcm["status"] == "fail" and gcm["detail"].startswith("iv-split:")
    checks = checks_of(gcm)
    assert checks["iv-split"]["status"] == "fail"
    # The generated checks ran, on the seeded random generator, and passed.
    for name in ("encode", "decode", "udp", "tamper"):
        assert checks[name]["status"] == "pass", name
        assert "seeded random generator" in str(checks[name]["detail"]), name
        assert checks[name]["cases"] == 8, name
    assert rows["table"]["status"] == "pass"
    assert checks_of(rows["table"])["iv-split"]["status"] == "n/a"  # table has no IV
    # Nothing was skipped, and no pair with a skipped check could have passed anyway.
    for row in rows.values():
        statuses = {c["status"] for c in checks_of(row).values()}
        assert "skipped" not in statuses, row
    assert "FAIL" in result.stdout and "1 pairs pass, 1 fail, 0 partial" in result.stdout


def test_random_generator_runs_every_differential_check() -> None:
    m = refcrypto.method("chacha20-ietf-poly1305")
    checks = engine.differential_checks(PrimitiveWire(RefcryptoPrimitives()), m, budget=5,
                                        seed=3, generator="random")
    assert [c.name for c in checks] == ["encode", "decode", "iv-split", "udp", "tamper"]
    assert all(c.status == "pass" for c in checks), checks


# --- the case generator without Hypothesis ---------------------------------------------------


def _long_write(writes: list[bytes], cuts: list[int]) -> str:
    return "too long" if any(len(w) >= 5 for w in writes) else ""


SPECS = {
    "writes": Lists(Binary(min_size=1, max_size=300), min_size=1, max_size=5),
    "cuts": Lists(Integers(min_value=0, max_value=1000), max_size=4),
}


def test_random_generator_shrinks_and_is_reproducible() -> None:
    first = find_failure("demo", 50, 7, SPECS, _long_write, generator="random")
    again = find_failure("demo", 50, 7, SPECS, _long_write, generator="random")
    assert first is not None and again is not None
    assert first == again
    # Shrunk to the smallest failing case: one write of exactly five zero bytes, no cuts.
    assert first.case == {"writes": [bytes(5)], "cuts": []}
    assert first.problem == "too long"


def test_random_generator_reports_nothing_when_every_case_passes() -> None:
    assert find_failure("ok", 30, 1, SPECS, lambda **case: "", generator="random") is None


def test_random_generator_turns_exceptions_into_failures() -> None:
    def boom(writes: list[bytes], cuts: list[int]) -> str:
        raise RuntimeError("backend crashed")

    failure = find_failure("boom", 5, 0, SPECS, boom, generator="random")
    assert failure is not None and failure.problem == "RuntimeError: backend crashed"


def test_generator_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="generator must be one of"):
        resolve_generator("quickcheck")
    with pytest.raises(ValueError, match="budget must be at least 1"):
        find_failure("x", 0, 0, SPECS, _long_write, generator="random")


# --- partial ---------------------------------------------------------------------------------


def test_verdict_rules() -> None:
    ok = CheckOutcome("encode", "pass", "20 generated cases")
    bad = CheckOutcome("decode", "fail", "wrong bytes")
    skipped = CheckOutcome("wire-vectors", "skipped", "no wire vectors")
    na = CheckOutcome("iv-split", "n/a", "the method has no IV")
    assert verdict([ok, na]) == ("pass", "encode 20 generated cases")
    assert verdict([ok, skipped]) == ("partial", "not run: wire-vectors: no wire vectors")
    status, detail = verdict([ok, bad, skipped])
    assert status == "fail" and detail.startswith("decode: wrong bytes")
    assert "not run: wire-vectors" in detail


@pytest.fixture
def no_wire_vectors(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if vectors/wire/ were missing: the wire-vectors check cannot run."""
    monkeypatch.setattr(engine, "_tcp_vectors", lambda: ())
    monkeypatch.setattr(engine, "_udp_vectors", lambda: ())


@pytest.mark.usefixtures("no_wire_vectors")
def test_a_skipped_check_makes_the_pair_partial() -> None:
    result = check_pair("refcrypto-primitives", refcrypto.method("aes-128-gcm"), budget=3,
                        long=False, backend=PrimitiveWire(RefcryptoPrimitives()),
                        primitives=RefcryptoPrimitives())
    assert result.status == "partial"
    assert result.detail.startswith("not run: wire-vectors:")


@pytest.mark.usefixtures("no_wire_vectors")
def test_partial_in_table_json_junit_and_exit_status(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report, junit = tmp_path / "r.json", tmp_path / "r.xml"
    code = main(["check", "-b", "refcrypto", "-m", "rc4-md5", "--quick", "--json", str(report),
                 "--junit", str(junit)])
    assert code == EXIT_PARTIAL
    out = capsys.readouterr().out
    assert "rc4-md5  partial" in out
    assert "0 pairs pass, 0 fail, 1 partial, 0 unsupported" in out
    assert "Partial (no failure, but not every check ran; not a pass):" in out
    payload = json.loads(report.read_text())
    assert [r["status"] for r in payload["results"]] == ["partial"]
    assert payload["counts"] == {"pass": 0, "fail": 0, "partial": 1, "unsupported": 0}
    suite = ElementTree.parse(junit).getroot()[0]
    assert suite.get("errors") == "1" and suite.get("failures") == "0"
    error = suite.find("testcase/error")
    assert error is not None and error.get("type") == "partial"


def test_matrix_gives_partial_a_cell_of_its_own() -> None:
    results = [PairResult("openssl", "rc4", "partial", "not run: x"),
               PairResult("openssl", "rc4-md5", "pass", "ok")]
    text = matrix(results, ["openssl"], ["rc4", "rc4-md5"])
    assert text.splitlines()[1].split() == ["rc4", "partial"]
    assert text.splitlines()[2].split() == ["rc4-md5", "pass"]


# --- a backend asked for by name must run ----------------------------------------------------


def test_asked_for_backend_without_its_package_is_an_error() -> None:
    result = run_cli(WITHOUT_PACKAGE, "shadowsocks", "check", "-b", "shadowsocks", "-m",
                     "aes-128-gcm", "--quick")
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert "backend shadowsocks is unavailable" in lines[0]
    assert "pip install shadowsocks-alexforks" in lines[0]
    assert "pairs pass" not in result.stdout


def test_asked_for_backend_with_missing_native_library_is_an_error(tmp_path: Path) -> None:
    missing = str(tmp_path / "libsodium-missing.so")
    result = run_cli(NO_HYPOTHESIS, "check", "-b", "sodium", "-m", "chacha20", "--quick",
                     env={"REFCRYPTO_LIBSODIUM": missing})
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert "backend sodium is unavailable" in lines[0] and missing in lines[0]
    assert "apt-get install libsodium23" in lines[0]


def test_default_run_still_skips_what_is_absent(tmp_path: Path) -> None:
    missing = str(tmp_path / "libmbedcrypto-missing.so")
    result = run_cli(NO_HYPOTHESIS, "check", "-m", "rc4-md5", "--quick", "--budget", "3",
                     env={"REFCRYPTO_LIBMBEDCRYPTO": missing})
    assert "Traceback" not in result.stderr
    assert result.returncode == 0, result.stdout + result.stderr
    header = result.stdout.split("\n\n")[0]
    assert "refcrypto" in header and "mbedtls" not in header


# --- progress on a log that is not a terminal ------------------------------------------------


def _results(backend: str, count: int) -> list[PairResult]:
    return [PairResult(backend, f"m{i}", "fail" if i == 3 else "pass", "", seconds=0.0)
            for i in range(count)]


def test_progress_lines_for_a_log(capsys: pytest.CaptureFixture[str]) -> None:
    progress = Progress(50, per_backend=25)  # stderr under capsys is not a terminal
    for result in _results("openssl", 25) + _results("sodium", 25):
        progress.update(result)
    progress.close()
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 6, lines
    assert lines[0].startswith("refcrypto check: openssl: 10/25 pairs (")
    assert lines[1].startswith("refcrypto check: openssl: 20/25 pairs (")
    assert lines[2].startswith("refcrypto check: openssl done [1/2]: 24 pairs pass, 1 fail, "
                               "0 partial, 0 unsupported in ")
    assert lines[3].startswith("refcrypto check: sodium: 10/25 pairs (")
    assert lines[5].startswith("refcrypto check: sodium done [2/2]: ")


def test_check_help_gives_the_time_and_points_to_quick(
        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["check", "--help"])
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "2-core machine" in text and "--quick" in text and "min" in text
    assert "partial" in text and "exit status" in text
