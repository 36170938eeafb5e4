"""The command line: `refcrypto methods`, `refcrypto check`, and `python -m refcrypto`; bad
input of every kind ends with one line on stderr and exit status 2, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import refcrypto
from refcrypto.cli import main


def test_methods_json_lists_every_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["methods", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    names = [r["name"] for r in rows if not r["extension"] and r["category"] != "aead-2022"]
    assert len(names) == 53 and "mbedtls:aes-256-gcm" in names and "table" in names
    assert all(r["implemented"] for r in rows)
    edition2022 = [r["name"] for r in rows if r["category"] == "aead-2022"]
    assert edition2022 == ["2022-blake3-aes-128-gcm", "2022-blake3-aes-256-gcm",
                           "2022-blake3-chacha20-poly1305"]


def test_methods_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    assert "chacha20-ietf-poly1305" in out and "2022-blake3-aes-256-gcm" in out
    assert "53 Python shadowsocks methods, 12 extensions, 3 Shadowsocks 2022 methods" in out


def test_check_unknown_method(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "-m", "aes-256-gmc"]) == 2
    assert "aes-256-gcm" in capsys.readouterr().err


def test_python_dash_m() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "refcrypto", "methods", "--json"],
        capture_output=True, text=True, timeout=120, check=True,
    )
    assert len(json.loads(result.stdout)) >= 53


# --- bad input: one line on stderr, exit 2, never a traceback --------------------------------


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "REFCRYPTO_KEY"}


def _refcrypto(*args: str, stdin: bytes = b"", cwd: Path | None = None
               ) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "refcrypto", *args], input=stdin,
                          capture_output=True, timeout=120, env=_env(), cwd=cwd)


@pytest.fixture(scope="module")
def wire_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("wire") / "wire.bin"
    path.write_bytes(refcrypto.Cryptor("right", "aes-128-gcm").encrypt(b"a secret message"))
    return path


ENC = ("encrypt", "-m", "aes-128-gcm", "-k", "pw")

BAD_INPUT = [
    # (id, arguments, stdin, what the one line must name)
    ("odd-iv", [*ENC, "--iv", "0001020"], b"x", "--iv: odd number of hex digits (7)"),
    ("non-hex-iv", [*ENC, "--iv", "00zz"], b"x", "--iv: 'z' is not a hex digit"),
    ("short-iv", [*ENC, "--iv", "0001"], b"x", "--iv: aes-128-gcm takes a 16-byte salt"),
    ("long-iv", ["encrypt", "-m", "aes-256-cfb", "-k", "pw", "--iv", "00" * 17], b"x",
     "--iv: aes-256-cfb takes a 16-byte IV (32 hex digits), got 17 bytes"),
    ("iv-without-iv", ["encrypt", "-m", "table", "-k", "pw", "--iv", "00"], b"x",
     "--iv: table takes no IV"),
    ("hex-in-non-hex", [*ENC, "--hex-in"], b"68656g6c6f\n", "'g' is not a hex digit"),
    ("hex-in-0x", [*ENC, "--hex-in"], b"0x68656c6c6f\n", "0x prefix"),
    ("hex-in-0x-each", [*ENC, "--hex-in"], b"0x68 0x65\n", "0x prefix"),
    ("hex-in-odd", [*ENC, "--hex-in"], b"686\n", "odd number of hex digits (3)"),
    ("hex-in-binary", [*ENC, "--hex-in"], b"\x89PNG\r\n\x1a\n\x00\xff", "not hex text"),
    ("missing-input", [*ENC, "-i", "no/such/file.bin"], b"",
     "cannot read input file no/such/file.bin: No such file or directory"),
    ("input-is-directory", [*ENC, "-i", "."], b"", "cannot read input file .:"),
    ("missing-output-dir", [*ENC, "-o", "no/such/dir/out.bin"], b"x",
     "cannot write output file no/such/dir/out.bin: No such file or directory"),
    ("budget-zero", ["check", "--budget", "0"], b"", "--budget: must be at least 1, got 0"),
    ("budget-negative", ["check", "--budget", "-5"], b"", "--budget: must be at least 1, got -5"),
    ("budget-not-a-number", ["check", "--budget", "many"], b"", "--budget: not an integer"),
    ("unknown-method", ["encrypt", "-m", "aes-256-gmc", "-k", "pw"], b"x",
     "unknown method 'aes-256-gmc'; did you mean aes-256-gcm"),
    ("unknown-method-check", ["check", "-m", "chacha20-poly1350"], b"",
     "did you mean chacha20-poly1305"),
    ("unknown-backend", ["check", "-b", "nosuch", "-m", "rc4"], b"", "unknown backend nosuch"),
    ("report-in-missing-dir", ["check", "-b", "refcrypto", "-m", "rc4", "--json", "no/dir/r.json"],
     b"", "--json no/dir/r.json: no such directory no/dir"),
    ("junit-is-a-directory", ["check", "-b", "refcrypto", "-m", "rc4", "--junit", "."], b"",
     "--junit .: is a directory"),
    ("no-key", ["encrypt", "-m", "aes-128-gcm"], b"x", "no key given"),
    ("two-keys", [*ENC, "--key-file", "key.txt"], b"x", "not -k and --key-file together"),
    ("key-and-data-on-stdin", ["encrypt", "-m", "rc4-md5", "--key-file", "-"], b"pw\n",
     "--key-file - and the input both read standard input"),
    ("unknown-option", [*ENC, "--frobnicate"], b"x", "unrecognized arguments: --frobnicate"),
]


@pytest.mark.parametrize(("args", "stdin", "names"), [c[1:] for c in BAD_INPUT],
                         ids=[c[0] for c in BAD_INPUT])
def test_bad_input_is_one_line_and_exit_2(args: list[str], stdin: bytes, names: str,
                                          tmp_path: Path) -> None:
    result = _refcrypto(*args, stdin=stdin, cwd=tmp_path)
    err = result.stderr.decode()
    assert result.returncode == 2, err
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    assert names in err
    assert result.stdout == b""


def test_wrong_password_on_decrypt(wire_file: Path) -> None:
    result = _refcrypto("decrypt", "-m", "aes-128-gcm", "-k", "wrong", "-i", str(wire_file))
    err = result.stderr.decode()
    assert result.returncode == 2 and len(err.splitlines()) == 1 and "Traceback" not in err
    assert "failed authentication (wrong password, or data altered)" in err
    assert result.stdout == b""


def test_truncated_stream_on_decrypt(wire_file: Path, tmp_path: Path) -> None:
    short = tmp_path / "short.bin"
    short.write_bytes(wire_file.read_bytes()[:-3])
    result = _refcrypto("decrypt", "-m", "aes-128-gcm", "-k", "right", "-i", str(short))
    err = result.stderr.decode()
    assert result.returncode == 2 and len(err.splitlines()) == 1 and "Traceback" not in err
    assert "stream ended" in err
    assert result.stdout == b""


def test_closed_pipe_ends_quietly() -> None:
    """`refcrypto methods | head`: the reader is gone before the first write (the read end
    is closed before the command starts, so the write fails every time)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run([sys.executable, "-m", "refcrypto", "methods"], stdout=write_end,
                                stderr=subprocess.PIPE, timeout=120, env=_env())
    finally:
        os.close(write_end)
    assert result.stderr == b""
    assert result.returncode == 141  # 128 + SIGPIPE, what a shell shows for `yes | head`


def test_methods_into_head_prints_no_traceback() -> None:
    result = subprocess.run(f"{sys.executable} -m refcrypto methods | head -n 3",
                            shell=True, capture_output=True, timeout=120, env=_env())
    assert result.returncode == 0
    assert len(result.stdout.splitlines()) == 3
    assert result.stderr == b""
