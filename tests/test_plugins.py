"""Plug-in backends: ``refcrypto check -b module:attribute``, ``-b file.py:attribute`` and
installed entry points run like the built-in backends in every report; a plug-in of another
API version, or one that is not a backend, is refused with a message saying why."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree

import pytest

import refcrypto
from refcrypto.cli import EXIT_FAIL, EXIT_USAGE, main
from refcrypto.conformance import plugins
from refcrypto.conformance.backend import API_VERSION
from refcrypto.conformance.engine import check_pair, primitive_backend, wire_backend
from refcrypto.conformance.plugins import PluginError, load_backend

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "docs" / "examples"
PLUGINS = Path(__file__).resolve().parent / "plugins"
EXAMPLE = EXAMPLES / "tinyaead.py"
BAD = PLUGINS / "bad_plugins.py"


def run_check(*args: str, pythonpath: Path | str = EXAMPLES,
              cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REFCRYPTO_KEY", "PYTHONPATH")}
    env["PYTHONPATH"] = os.pathsep.join([str(pythonpath), str(ROOT)])
    return subprocess.run([sys.executable, "-m", "refcrypto", "check", *args],
                          capture_output=True, text=True, timeout=300, env=env, cwd=cwd)


def rows_of(report: Path) -> dict[tuple[str, str], dict[str, object]]:
    return {(r["backend"], r["method"]): r for r in json.loads(report.read_text())["results"]}


def checks_of(row: dict[str, object]) -> dict[str, str]:
    checks = row["checks"]
    assert isinstance(checks, list)
    return {str(c["check"]): str(c["status"]) for c in checks}


@pytest.fixture(autouse=True)
def clean_registry() -> Iterator[None]:
    before = dict(plugins._REGISTRY)
    yield
    plugins._REGISTRY.clear()
    plugins._REGISTRY.update(before)


# --- the documented example, through the command line -------------------------------------


def test_module_attribute_plugin_runs_in_every_report(tmp_path: Path) -> None:
    report, junit = tmp_path / "r.json", tmp_path / "r.xml"
    result = run_check("-b", "tinyaead:Backend", "-m", "aes-256-gcm", "-m",
                       "chacha20-ietf-poly1305", "-m", "rc4", "--quick", "--budget", "5",
                       "--json", str(report), "--junit", str(junit))
    assert result.returncode == 0, result.stdout + result.stderr
    # The matrix: a column named after the plug-in.
    assert "tinyaead" in result.stdout.splitlines()[0]
    assert "2 pairs pass, 0 fail, 0 partial, 1 unsupported" in result.stdout
    rows = rows_of(report)
    assert rows["tinyaead", "aes-256-gcm"]["status"] == "pass"
    assert rows["tinyaead", "rc4"]["status"] == "unsupported"
    checks = checks_of(rows["tinyaead", "chacha20-ietf-poly1305"])
    assert checks == {"wire-vectors": "pass", "encode": "pass", "decode": "pass",
                      "iv-split": "pass", "udp": "pass", "tamper": "pass", "negative": "pass"}
    assert "tinyaead (docs/examples/tinyaead.py" in json.loads(report.read_text())[
        "backends"]["tinyaead"]
    suite = ElementTree.parse(junit).getroot()[0]
    assert suite.get("name") == "tinyaead" and suite.get("tests") == "3"
    assert suite.get("skipped") == "1" and suite.get("failures") == "0"


def test_planted_defect_fails_the_negative_check_only(tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    result = run_check("-b", f"{EXAMPLE}:LenientLengthBackend", "-m", "aes-128-gcm", "--quick",
                       "--budget", "5", "--json", str(report), pythonpath="")
    assert result.returncode == EXIT_FAIL, result.stdout + result.stderr
    row = rows_of(report)["tinyaead-lenient", "aes-128-gcm"]
    assert row["status"] == "fail"
    assert str(row["detail"]).startswith("negative: TCP tcId ")
    assert "[ReservedLengthBits] (invalid)" in str(row["detail"])
    failing = {name for name, status in checks_of(row).items() if status == "fail"}
    assert failing == {"negative"}


def test_relative_file_path_from_another_folder(tmp_path: Path) -> None:
    result = run_check("-b", "../docs/examples/tinyaead.py:Backend", "-m", "aes-128-gcm",
                       "--quick", "--budget", "3", pythonpath="", cwd=ROOT / "tests")
    assert result.returncode == 0, result.stdout + result.stderr


def test_installed_plugin_through_its_entry_point(tmp_path: Path) -> None:
    dist = tmp_path / "tinyaead_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: tinyaead-plugin\n"
                                   "Version: 1.0\n")
    (dist / "entry_points.txt").write_text("[refcrypto.backends]\ntiny = tinyaead:Backend\n")
    report = tmp_path / "r.json"
    paths = os.pathsep.join([str(tmp_path), str(EXAMPLES)])
    result = run_check("-b", "tiny", "-m", "aes-192-gcm", "--quick", "--budget", "3",
                       "--json", str(report), pythonpath=paths)
    assert result.returncode == 0, result.stdout + result.stderr
    assert rows_of(report)["tinyaead", "aes-192-gcm"]["status"] == "pass"
    # An unknown name lists the installed plug-ins.
    result = run_check("-b", "tiny2", "-m", "aes-192-gcm", pythonpath=paths)
    assert result.returncode == EXIT_USAGE
    assert "unknown backend tiny2" in result.stderr and "installed plug-ins: tiny" in result.stderr


def test_primitive_plugin_gets_the_known_answers(tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    result = run_check("-b", f"{PLUGINS / 'primitive_plugin.py'}:Backend", "-m", "aes-128-cfb",
                       "-m", "aes-256-gcm", "--quick", "--budget", "3", "--json", str(report))
    assert result.returncode == 0, result.stdout + result.stderr
    rows = rows_of(report)
    for method in ("aes-128-cfb", "aes-256-gcm"):
        checks = checks_of(rows["pycryptodome-direct", method])
        assert checks["vectors"] == "pass" and checks["negative"] == "pass", checks


# --- loading, in this process ---------------------------------------------------------------


def test_loaded_plugin_is_looked_up_by_the_engine() -> None:
    loaded = load_backend(f"{EXAMPLE}:Backend")
    assert loaded.name == "tinyaead" and loaded.primitives is None
    assert wire_backend("tinyaead") is loaded.wire
    assert primitive_backend("tinyaead") is None
    assert load_backend(f"{EXAMPLE}:Backend") is loaded  # the same spec twice: one plug-in
    result = check_pair("tinyaead", refcrypto.method("aes-128-gcm"), budget=3, long=False)
    assert result.status == "pass", result.detail
    plugins.unregister("tinyaead")
    with pytest.raises(KeyError, match="unknown backend"):
        wire_backend("tinyaead")


def test_primitive_plugin_is_wrapped_in_refcrypto_codecs() -> None:
    loaded = load_backend(f"{PLUGINS / 'primitive_plugin.py'}:Backend")
    assert loaded.primitives is not None
    assert primitive_backend(loaded.name) is loaded.primitives


def test_factory_function_is_accepted() -> None:
    assert load_backend(f"{BAD}:make_good").name == "good"


@pytest.mark.parametrize(("attribute", "message"), [
    ("NoVersion", "declares no API_VERSION; add API_VERSION = 1"),
    ("FutureVersion", "implements backend API 2, this refcrypto implements API 1; upgrade "
                      "refcrypto"),
    ("OldVersion", "implements backend API 0, this refcrypto implements API 1; update the "
                   "plug-in"),
    ("TextVersion", "API_VERSION must be an integer, got '1'"),
    ("BuiltinName", "name 'openssl' is a built-in backend's"),
    ("SpacedName", "name must be 1 to 32 letters"),
    ("NotABackend", "neither a wire backend (missing describe, unsupported, tcp_encoder"),
    ("Raises", "making the backend failed: RuntimeError: no licence file"),
    ("Missing", "has no attribute 'Missing'"),
])
def test_bad_plugins_are_refused_with_the_reason(attribute: str, message: str) -> None:
    with pytest.raises(PluginError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_backend(f"{BAD}:{attribute}")


def test_two_plugins_with_one_name_are_refused() -> None:
    load_backend(f"{BAD}:Good")
    with pytest.raises(PluginError, match="the name 'good' is already taken by -b"):
        load_backend(f"{BAD}:SameNameAsGood")


@pytest.mark.parametrize(("spec", "message"), [
    ("no_such_module_here:Backend", "cannot import module 'no_such_module_here'"),
    ("missing/file.py:Backend", "no such file"),
    ("docs/examples/tinyaead.py", "say which attribute of the file is the backend"),
    ("nosuch", "unknown backend nosuch; known: refcrypto, openssl"),
    (":Backend", "expected module:attribute"),
])
def test_bad_specs_are_refused(spec: str, message: str) -> None:
    with pytest.raises(PluginError, match=message):
        load_backend(spec)


def test_api_version_is_one() -> None:
    # Changing it is a decision: the plug-in documentation must change with it.
    assert API_VERSION == 1
    assert "API_VERSION = 1" in (ROOT / "docs" / "backends.md").read_text()


def test_cli_reports_a_refused_plugin_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "-b", f"{BAD}:FutureVersion", "-m", "rc4"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "implements backend API 2" in err
