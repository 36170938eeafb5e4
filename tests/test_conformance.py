"""The conformance engine tested on itself: deliberately broken backends must be reported as
failed, by the right check, with a small reproducible case; refcrypto passes; the command
line writes the matrix, JSON and JUnit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest

import refcrypto
from refcrypto.cli import main
from refcrypto.conformance.backend import PrimitiveWire, RefcryptoPrimitives, Transform
from refcrypto.conformance.engine import CheckOutcome, PairResult, check_pair
from refcrypto.conformance.wirevectors import load_tcp, load_udp
from refcrypto.errors import InvalidTag
from refcrypto.methods import Method
from refcrypto.primitives.base import AEAD, Buffer
from refcrypto.wire.cryptor import Password


class _ReversedNonce:
    """An AEAD that uses the nonce counter big-endian: a classic interoperability bug."""

    __slots__ = ("inner", "key_size", "nonce_size", "tag_size")

    def __init__(self, inner: AEAD) -> None:
        self.inner = inner
        self.key_size, self.nonce_size, self.tag_size = (
            inner.key_size, inner.nonce_size, inner.tag_size
        )

    def seal(self, nonce: Buffer, plaintext: Buffer, aad: Buffer = b"") -> bytes:
        return self.inner.seal(bytes(nonce)[::-1], plaintext, aad)

    def open(self, nonce: Buffer, data: Buffer, aad: Buffer = b"") -> bytes:
        return self.inner.open(bytes(nonce)[::-1], data, aad)


class _IgnoresTag(_ReversedNonce):
    """An AEAD whose open never fails: it returns something even when the tag is wrong."""

    __slots__ = ()

    def seal(self, nonce: Buffer, plaintext: Buffer, aad: Buffer = b"") -> bytes:
        return self.inner.seal(nonce, plaintext, aad)

    def open(self, nonce: Buffer, data: Buffer, aad: Buffer = b"") -> bytes:
        try:
            return self.inner.open(nonce, data, aad)
        except InvalidTag:
            return bytes(len(data) - self.tag_size)


class BrokenPrimitives(RefcryptoPrimitives):
    __slots__ = ("wrapper",)

    def __init__(self, wrapper: type[_ReversedNonce]) -> None:
        self.wrapper = wrapper

    def new_aead(self, method: Method, key: bytes) -> AEAD:
        return self.wrapper(method.new_aead(key))


class _DropsLastByte:
    __slots__ = ("inner",)

    def __init__(self, inner: Transform) -> None:
        self.inner = inner

    def update(self, data: Buffer) -> bytes:
        return self.inner.update(data)[:-1]


class DropsByteWire(PrimitiveWire):
    """A wire backend whose encoder loses the last byte of every write."""

    __slots__ = ()

    def tcp_encoder(self, method: Method, password: Password, iv: bytes) -> Transform:
        return _DropsLastByte(super().tcp_encoder(method, password, iv))


#: The case generators of the differential checks: Hypothesis, and the seeded random
#: generator used when Hypothesis is not installed. Both must catch every broken backend.
GENERATORS = ["hypothesis", "random"]


def check(name: str, method: str, wire: PrimitiveWire, generator: str = "hypothesis"
          ) -> PairResult:
    return check_pair(name, refcrypto.method(method), budget=15, seed=1, long=False,
                      backend=wire, primitives=wire.primitives, generator=generator)


def outcome(result: PairResult, name: str) -> CheckOutcome:
    (found,) = [c for c in result.checks if c.name == name]
    return found


@pytest.mark.parametrize("generator", GENERATORS)
def test_wrong_nonce_order_is_caught(generator: str) -> None:
    result = check("broken-nonce", "aes-128-gcm", PrimitiveWire(BrokenPrimitives(_ReversedNonce)),
                   generator)
    assert result.status == "fail"
    assert outcome(result, "wire-vectors").status == "fail"
    encode = outcome(result, "encode")
    assert encode.status == "fail"
    # The first seal uses nonce 0, the same either way: the stream departs at the payload.
    assert "differs from refcrypto at byte" in encode.detail
    assert "smallest case" in encode.detail and "seed 1" in encode.detail
    # ... and `refcrypto explain` names the field there: the first payload chunk (nonce 1).
    assert "first different field:" in encode.detail
    assert "payload" in encode.detail.split("first different field:")[1]
    assert "first different field:" in outcome(result, "wire-vectors").detail
    # UDP packets use only the all-zero nonce, which reads the same both ways round.
    assert outcome(result, "udp").status == "pass"


@pytest.mark.parametrize("generator", GENERATORS)
def test_dropped_byte_is_caught_with_a_shrunk_case(generator: str) -> None:
    base = RefcryptoPrimitives()
    result = check("drops-byte", "aes-256-cfb", DropsByteWire(base), generator)
    assert result.status == "fail"
    encode = outcome(result, "encode")
    assert encode.status == "fail"
    assert "writes=[<1 B>]" in encode.detail  # shrunk to a single one-byte write
    assert outcome(result, "decode").status == "pass"  # the decoder is not broken
    assert outcome(result, "udp").status == "pass"


@pytest.mark.parametrize("generator", GENERATORS)
def test_silent_tag_failure_is_caught(generator: str) -> None:
    result = check("ignores-tag", "chacha20-ietf-poly1305",
                   PrimitiveWire(BrokenPrimitives(_IgnoresTag)), generator)
    assert result.status == "fail"
    tamper = outcome(result, "tamper")
    assert tamper.status == "fail" and "not detected" in tamper.detail
    for name in ("encode", "decode", "udp", "wire-vectors"):
        assert outcome(result, name).status == "pass", name


@pytest.mark.parametrize("generator", GENERATORS)
@pytest.mark.parametrize("name", ["aes-128-gcm", "chacha20", "table", "seed-cfb"])
def test_refcrypto_through_its_own_primitives_passes(name: str, generator: str) -> None:
    result = check("refcrypto-primitives", name, PrimitiveWire(RefcryptoPrimitives()), generator)
    assert result.status == "pass", result.detail
    assert all(c.status in ("pass", "n/a") for c in result.checks), result.checks
    assert {c.name for c in result.checks} >= {"vectors", "wire-vectors", "encode", "decode"}


def test_refcrypto_backend_passes_with_round_trips() -> None:
    result = check_pair("refcrypto", refcrypto.method("xchacha20-ietf-poly1305"), long=False)
    assert result.status == "pass"
    assert outcome(result, "round-trips").status == "pass"


def test_wire_vectors_cover_every_method_and_long_streams() -> None:
    tcp, udp = load_tcp(), load_udp()
    names = {m.name for m in refcrypto.methods(extensions=True)}
    assert {v.method for v in tcp} == names and {u.method for u in udp} == names
    for m in refcrypto.methods(extensions=True):
        mine = [v for v in tcp if v.method == m.name]
        if m.is_aead:
            # 35,000 chunks = 70,000 seals: the nonce counter carries through two bytes.
            assert max(len(v.writes) * v.repeat for v in mine) >= 35000
    # Every vector was re-made by at least one independent implementation.
    assert [v.label for v in tcp if not v.verified_by] == []
    assert [u.method for u in udp if not u.verified_by] == []


def test_check_command_writes_json_and_junit(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    report, junit = tmp_path / "r.json", tmp_path / "r.xml"
    code = main(["check", "-b", "refcrypto", "-m", "aes-128-gcm", "-m", "rc4-md5", "--quick",
                 "--json", str(report), "--junit", str(junit)])
    assert code == 0
    out = capsys.readouterr().out
    assert "2 pairs pass, 0 fail, 0 partial, 0 unsupported" in out
    rows = json.loads(report.read_text())["results"]
    assert [(r["backend"], r["method"], r["status"]) for r in rows] == [
        ("refcrypto", "aes-128-gcm", "pass"), ("refcrypto", "rc4-md5", "pass")]
    assert all(r["detail"] and r["checks"] for r in rows)
    suites = ElementTree.parse(junit).getroot()
    assert suites[0].get("name") == "refcrypto" and suites[0].get("tests") == "2"


def test_check_rejects_unknown_backend(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "-b", "nosuch", "-m", "rc4"]) == 2
    assert "unknown backend" in capsys.readouterr().err


def test_encrypt_decrypt_commands_round_trip(tmp_path: Path) -> None:
    plain = tmp_path / "plain.bin"
    plain.write_bytes(b"teaching example " * 100)
    wire, back = tmp_path / "wire.bin", tmp_path / "back.bin"
    base = [sys.executable, "-m", "refcrypto"]
    common = ["-m", "aes-256-gcm", "-k", "pw"]
    env = {k: v for k, v in os.environ.items() if k != "REFCRYPTO_KEY"}
    subprocess.run([*base, "encrypt", *common, "--iv", "00" * 32, "-i", str(plain), "-o",
                    str(wire)], check=True, timeout=60, env=env)
    assert wire.read_bytes()[:32] == bytes(32)
    assert wire.read_bytes() == refcrypto.Cryptor("pw", "aes-256-gcm", iv=bytes(32)).encrypt(
        plain.read_bytes())
    subprocess.run([*base, "decrypt", *common, "-i", str(wire), "-o", str(back)], check=True,
                   timeout=60, env=env)
    assert back.read_bytes() == plain.read_bytes()
    # A truncated stream is an error, not silently shorter output.
    wire.write_bytes(wire.read_bytes()[:-1])
    result = subprocess.run([*base, "decrypt", *common, "-i", str(wire)], capture_output=True,
                            timeout=60, env=env)
    assert result.returncode == 2 and b"stream ended" in result.stderr


def test_encrypt_udp_hex(capsys: pytest.CaptureFixture[str],
                         monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    monkeypatch.delenv("REFCRYPTO_KEY", raising=False)

    stdin = sys.stdin
    sys.stdin = io.TextIOWrapper(io.BytesIO(b"68656c6c6f"))
    try:
        assert main(["encrypt", "-m", "rc4-md5", "-k", "pw", "--udp", "--iv", "00" * 16,
                     "--hex-in", "--hex-out"]) == 0
    finally:
        sys.stdin = stdin
    packet = bytes.fromhex(capsys.readouterr().out.strip())
    assert refcrypto.decrypt_all("pw", "rc4-md5", packet) == b"hello"
