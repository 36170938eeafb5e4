"""The exec backend (docs/exec-protocol.md): implementations in other languages, driven through
a subprocess. The Node.js and C harnesses of harnesses/ pass clean and fail, at the right
check, with each planted defect; a Python harness on refcrypto tests the protocol handling
(batch and replayed streams, crashes, silence, nonsense answers) where neither is present."""

from __future__ import annotations

import gc
import json
import os
import shlex
import shutil
import subprocess
import sys
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest

import refcrypto
from refcrypto.conformance import plugins
from refcrypto.conformance.drive import HarnessFault, StreamRejected, decode_reads
from refcrypto.conformance.engine import check_pair
from refcrypto.conformance.execbackend import (
    ExecBackend,
    ExecSpecError,
    PacketRejected,
    _ReplayDecoder,
)
from refcrypto.conformance.plugins import load_backend
from refcrypto.wire import master_key, new_encoder

ROOT = Path(__file__).resolve().parents[1]
PY_HARNESS = Path(__file__).resolve().parent / "plugins" / "refcrypto_harness.py"
NODE_HARNESS = ROOT / "harnesses" / "node" / "harness.mjs"
C_HARNESS = ROOT / "harnesses" / "c" / "harness.c"
REQUIRE_NATIVE_ENV = "REFCRYPTO_REQUIRE_NATIVE"

#: The methods both harnesses must have (the brief of issue 14), and the defects they plant.
REQUIRED = ("aes-256-gcm", "chacha20-ietf-poly1305", "aes-256-cfb")
DEFECTS = ("nonce-endian", "drop-byte", "skip-tag", "mask-length")


def skip_or_fail(reason: str) -> NoReturn:
    if os.environ.get(REQUIRE_NATIVE_ENV) == "1":
        pytest.fail(f"{REQUIRE_NATIVE_ENV}=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def py_backend(misbehave: str = "", timeout: float | None = None) -> ExecBackend:
    env = {k: v for k, v in os.environ.items() if k != "HARNESS_MISBEHAVE"}
    env["PYTHONPATH"] = str(ROOT)
    if misbehave:
        env["HARNESS_MISBEHAVE"] = misbehave
    return ExecBackend([sys.executable, str(PY_HARNESS)], env=env, timeout=timeout)


def run_check(command: list[str], *args: str, defect: str = "",
              report: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("REFCRYPTO_KEY", "HARNESS_DEFECT", "HARNESS_MISBEHAVE")}
    env["PYTHONPATH"] = str(ROOT)
    if defect:
        env["HARNESS_DEFECT"] = defect
    return subprocess.run([sys.executable, "-m", "refcrypto", "check", "-b",
                           "exec:" + shlex.join(command), *args, "--json", str(report)],
                          capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)


def rows_of(report: Path) -> dict[str, dict[str, object]]:
    return {str(r["method"]): r for r in json.loads(report.read_text())["results"]}


def statuses(row: dict[str, object]) -> dict[str, str]:
    checks = row["checks"]
    assert isinstance(checks, list)
    return {str(c["check"]): str(c["status"]) for c in checks}


@pytest.fixture(autouse=True)
def clean_registry() -> Iterator[None]:
    before = dict(plugins._REGISTRY)
    yield
    for name in set(plugins._REGISTRY) - set(before):
        wire = plugins._REGISTRY[name].wire
        if isinstance(wire, ExecBackend):
            wire.close()
    plugins._REGISTRY.clear()
    plugins._REGISTRY.update(before)


# --- the protocol, with a Python harness on refcrypto ----------------------------------------


def test_python_harness_passes_through_the_command_line(tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    result = run_check([sys.executable, str(PY_HARNESS)], "-m", "aes-128-gcm", "-m",
                       "aes-256-cfb", "-m", "table", "-m", "rc4", "--quick", "--budget", "4",
                       report=report)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = rows_of(report)
    assert [rows[m]["status"] for m in ("aes-128-gcm", "aes-256-cfb", "table", "rc4")] == [
        "pass", "pass", "pass", "unsupported"]
    assert set(statuses(rows["aes-128-gcm"]).values()) == {"pass"}
    assert "negative" in statuses(rows["table"])
    assert rows["aes-128-gcm"]["backend"] == "py-refcrypto"
    assert "exec protocol 1" in json.loads(report.read_text())["backends"]["py-refcrypto"]


def test_batch_operations_and_replayed_streams() -> None:
    backend = py_backend()
    try:
        m = refcrypto.method("chacha20-ietf-poly1305")
        salt = bytes(range(32))
        writes = [b"", b"a", b"bc" * 9000]
        expected = new_encoder(m, master_key(b"pw", m), salt)
        assert backend.tcp_encode(m, b"pw", salt, writes) == [expected.update(w) for w in writes]
        # The streaming interface, replayed over the batch protocol.
        encoder = backend.tcp_encoder(m, b"pw", salt)
        wire = b"".join(encoder.update(w) for w in writes)
        decoder = backend.tcp_decoder(m, "pw")
        assert decoder.update(wire[:40]) == b""
        assert decoder.update(wire[40:]) == b"a" + b"bc" * 9000
        assert isinstance(decoder, _ReplayDecoder)
        decoder.finish()
        # A rejection: the read it happened in, and what came out before.
        tampered = bytearray(wire)
        tampered[-1] ^= 1
        with pytest.raises(StreamRejected) as caught:
            backend.tcp_decode(m, b"pw", [bytes(tampered[:60]), bytes(tampered[60:])])
        assert caught.value.error == "InvalidTag" and caught.value.at == 1
        # The second write took two chunks; the last one's tag is the one flipped.
        assert b"".join(caught.value.outputs) + caught.value.released == (
            b"a" + (b"bc" * 9000)[:0x3FFF])
        truncated = decode_reads(backend, m, b"pw", [wire[:-1]], final=True)
        assert truncated.error is not None and truncated.error.startswith("TruncatedData")
        assert truncated.at == 1
        assert decode_reads(backend, m, b"pw", [wire[:-1]], final=False).error is None
        with pytest.raises(PacketRejected, match="TruncatedData"):
            backend.udp_decrypt(m, b"pw", bytes(40))
    finally:
        backend.close()


def test_a_crashed_harness_fails_the_case_and_is_restarted() -> None:
    backend = py_backend("crash")
    try:
        m = refcrypto.method("aes-128-gcm")
        with pytest.raises(HarnessFault, match=r"exited with status 7 without answering; its "
                                               r"stderr: harness: crashing on purpose"):
            backend.tcp_decode(m, b"pw", [b"x"])
        packet = backend.udp_encrypt(m, b"pw", bytes(16), b"after the crash")
        assert backend.udp_decrypt(m, b"pw", packet) == b"after the crash"
    finally:
        backend.close()


@pytest.mark.parametrize(("misbehave", "message"), [
    ("not-json", "answer is not JSON"),
    ("wrong-id", "answer has id -1, expected"),
    ("bad-at", "error TruncatedData with at=6, not a read index"),
])
def test_answers_outside_the_protocol_are_harness_faults(misbehave: str, message: str) -> None:
    backend = py_backend(misbehave)
    try:
        with pytest.raises(HarnessFault, match=message):
            backend.tcp_decode(refcrypto.method("aes-128-gcm"), b"pw", [b"x"], final=True)
    finally:
        backend.close()


def test_a_silent_harness_times_out() -> None:
    backend = py_backend("silent", timeout=1)
    try:
        with pytest.raises(HarnessFault, match=r"not done answering after 1 s"):
            backend.udp_encrypt(refcrypto.method("aes-128-gcm"), b"pw", bytes(16), b"x")
    finally:
        backend.close()


def test_a_harness_error_is_never_counted_as_a_rejection() -> None:
    """InternalError on every udp-decrypt: the negative check must fail, not pass because
    the invalid packets "were rejected"."""
    backend = py_backend("internal")
    try:
        result = check_pair("py-refcrypto", refcrypto.method("aes-128-gcm"), budget=2,
                            long=False, backend=backend)
        negative = {c.name: c for c in result.checks}["negative"]
        assert negative.status == "fail" and "InternalError" in negative.detail
    finally:
        backend.close()


def test_an_unstartable_or_mute_harness_is_unavailable() -> None:
    missing = ExecBackend(["/nonexistent/harness", "--x"])
    assert missing.available() is not None and "cannot start" in str(missing.available())
    assert missing.name == "exec"
    mute = ExecBackend([sys.executable, "-c", "pass"])
    reason = mute.available()
    assert reason is not None and "exited with status 0 without answering" in reason
    assert mute.unsupported(refcrypto.method("aes-128-gcm")) == reason


def test_exec_specs() -> None:
    with pytest.raises(ExecSpecError, match="no command given"):
        load_backend("exec:")
    with pytest.raises(ExecSpecError, match="cannot split the command"):
        load_backend("exec:node 'unterminated")
    loaded = load_backend(f"exec:{shlex.quote(sys.executable)} {PY_HARNESS}")
    assert loaded.name == "py-refcrypto" and isinstance(loaded.wire, ExecBackend)


def test_timeout_setting_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REFCRYPTO_EXEC_TIMEOUT", "soon")
    with pytest.raises(ExecSpecError, match="must be a positive number of seconds, got 'soon'"):
        ExecBackend(["true"])


def test_backend_is_freed_without_the_cyclic_collector() -> None:
    backend = py_backend()
    process = backend._harness._process if backend._harness else None
    assert process is not None and process.poll() is None
    ref = weakref.ref(backend)
    gc.disable()
    try:
        del backend
        assert ref() is None
    finally:
        gc.enable()
    assert process.wait(timeout=10) == 0  # the finalizer closed its input; it exited


# --- the Node.js and C harnesses -------------------------------------------------------------


@pytest.fixture(scope="module")
def node_command() -> list[str]:
    node = shutil.which("node")
    if node is None:
        skip_or_fail("node (Node.js) is not installed")
    return [node, str(NODE_HARNESS)]


@pytest.fixture(scope="module")
def c_command(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    gcc = shutil.which("gcc")
    if gcc is None:
        skip_or_fail("gcc is not installed")
    binary = tmp_path_factory.mktemp("c-harness") / "harness"
    build = subprocess.run([gcc, "-O2", "-Wall", "-Wextra", "-Werror", "-std=c11", "-o",
                            str(binary), str(C_HARNESS), "-lcrypto"],
                           capture_output=True, text=True, timeout=300)
    if build.returncode != 0:
        if "openssl/" in build.stderr and "No such file" in build.stderr:
            skip_or_fail("OpenSSL's headers are missing (Debian: apt-get install libssl-dev)")
        pytest.fail(f"the C harness does not compile:\n{build.stderr}")
    return [str(binary)]


@pytest.fixture(params=["node", "c"])
def harness(request: pytest.FixtureRequest) -> list[str]:
    command: list[str] = request.getfixturevalue(f"{request.param}_command")
    return command


#: What each planted defect must break, on which method: the first failing check (the
#: pair's verdict), every failing check, and a text the verdict must hold.
PLANTED = {
    "nonce-endian": ("aes-256-gcm", "wire-vectors",
                     {"wire-vectors", "encode", "decode", "iv-split", "negative"},
                     "from byte 50"),  # 32-byte salt, 2+16 bytes of length chunk
    "drop-byte": ("aes-256-cfb", "wire-vectors",
                  {"wire-vectors", "decode", "iv-split", "negative"}, "decoder gave"),
    "skip-tag": ("chacha20-ietf-poly1305", "tamper", {"tamper", "negative"}, "not detected"),
    "mask-length": ("aes-256-gcm", "negative", {"negative"}, "[ReservedLengthBits]"),
}


@pytest.mark.peers
def test_harness_passes_clean(harness: list[str], tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    # aes-128-gcm with the long wire vectors: 70,000 seals in one batch request.
    result = run_check(harness, "-m", "aes-128-gcm", "--budget", "5", report=report)
    assert result.returncode == 0, result.stdout + result.stderr
    result = run_check(harness, *(a for m in (*REQUIRED, "aes-128-cfb", "aes-256-ctr",
                                              "chacha20-ietf", "aes-192-gcm")
                                  for a in ("-m", m)),
                       "--quick", "--budget", "5", report=report)
    assert result.returncode == 0, result.stdout + result.stderr
    for method, row in rows_of(report).items():
        assert row["status"] == "pass", (method, row["detail"])
        assert set(statuses(row).values()) == {"pass"}, (method, row["checks"])


@pytest.mark.peers
@pytest.mark.parametrize("defect", DEFECTS)
def test_planted_defect_fails_at_the_right_check(harness: list[str], defect: str,
                                                 tmp_path: Path) -> None:
    method, first, failing, text = PLANTED[defect]
    report = tmp_path / "r.json"
    result = run_check(harness, "-m", method, "--quick", "--budget", "5", defect=defect,
                       report=report)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"PLANTED DEFECT {defect}" in result.stdout
    row = rows_of(report)[method]
    assert row["status"] == "fail"
    assert str(row["detail"]).startswith(f"{first}:") and text in str(row["detail"]), row
    assert {c for c, s in statuses(row).items() if s == "fail"} == failing


@pytest.mark.peers
def test_unknown_defect_name_makes_the_harness_unavailable(harness: list[str],
                                                           tmp_path: Path) -> None:
    result = run_check(harness, "-m", "aes-256-gcm", defect="typo", report=tmp_path / "r.json")
    assert result.returncode == 2
    assert "HARNESS_DEFECT must be one of" in result.stderr
