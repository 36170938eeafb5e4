"""The command line: `refcrypto methods`, `refcrypto check`, and `python -m refcrypto`."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from refcrypto.cli import main


def test_methods_json_lists_every_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["methods", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    names = [r["name"] for r in rows if not r["extension"]]
    assert len(names) == 53 and "mbedtls:aes-256-gcm" in names and "table" in names
    assert all(r["implemented"] for r in rows)


def test_methods_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    assert "chacha20-ietf-poly1305" in out
    assert "53 Python shadowsocks methods" in out


def test_check_unknown_method(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "-m", "aes-256-gmc"]) == 2
    assert "aes-256-gcm" in capsys.readouterr().err


def test_python_dash_m() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "refcrypto", "methods", "--json"],
        capture_output=True, text=True, timeout=120, check=True,
    )
    assert len(json.loads(result.stdout)) >= 53
