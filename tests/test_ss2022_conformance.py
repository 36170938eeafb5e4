"""Conformance of the Shadowsocks 2022 methods: the wire vectors of vectors/wire/ss2022.txt,
their independent verifier, and the 2022 rows of ``refcrypto check``.

* Every record decodes and re-encodes byte for byte through refcrypto's 2022 codecs, and the
  file covers what it must (chunk boundaries, a header with padding and no payload, UDP both
  ways, SIP023 with one and two identity layers for the AES methods).
* The independent rebuild (``blake3`` from PyPI and pyca ``cryptography``) reproduces every
  record and refuses a record with one byte changed, whether in the wire bytes or in a field.
* Each 2022 check of the engine passes on refcrypto and fails on a deliberately broken variant
  (a server that skips the salt store, a clock off by 31 s, a codec that ignores the request
  salt or the header type or the padding limit, a window that forgets, a broken AEAD).
* The native backends run the 2022 methods through their AEADs; the third-party wire backends
  report them unsupported, with the reason.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn

import pytest

import refcrypto
from refcrypto.conformance import ss2022checks
from refcrypto.conformance.engine import check_pair, primitive_backend, wire_backend
from refcrypto.conformance.ss2022checks import (
    CHECKS,
    Codecs2022,
    Outcome,
    check_header_types,
    check_padding,
    check_replay,
    check_request_salt,
    check_round_trips,
    check_timestamp,
    check_udp_replay,
    check_wire_vectors_2022,
    checks_2022,
)
from refcrypto.conformance.ss2022vectors import (
    IndependentBuilder,
    Vector2022,
    check_vector,
    format_vector,
    independent_problem,
    load_2022,
    main,
)
from refcrypto.methods import Method
from refcrypto.primitives.base import AEAD
from refcrypto.wire.source import OWN
from refcrypto.wire.ss2022 import PacketWindow, RequestDecoder, ResponseDecoder, SaltStore
from refcrypto.wire.ss2022 import header as header_module
from refcrypto.wire.ss2022 import tcp as tcp_module

M2022 = refcrypto.methods(edition2022=True)
AES_2022 = [m for m in M2022 if "aes" in m.name]
VECTORS = load_2022()
REQUIRE_NATIVE = "REFCRYPTO_REQUIRE_NATIVE"


def _skip_or_fail(reason: str) -> NoReturn:
    if os.environ.get(REQUIRE_NATIVE) == "1":
        pytest.fail(f"{REQUIRE_NATIVE}=1 but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def builder() -> IndependentBuilder:
    try:
        return IndependentBuilder()
    except ImportError as exc:
        _skip_or_fail(str(exc))


def vid(v: Vector2022) -> str:
    return f"{v.method}-{v.kind}-line{v.line}"


def ids(m: Method) -> str:
    return m.name


# --- the vector file ---------------------------------------------------------------------------


@pytest.mark.parametrize("v", VECTORS, ids=vid)
def test_every_vector_decodes_and_reencodes_through_refcrypto(v: Vector2022) -> None:
    assert check_vector(v) is None
    assert v.verified_by.startswith("ss2022vectors.IndependentBuilder: blake3 ")


def test_the_file_covers_what_it_must() -> None:
    for m in M2022:
        mine = [v for v in VECTORS if v.method == m.name]
        requests = [v for v in mine if v.kind == "tcp-request"]
        assert any(v.start and v.padding for v in requests)  # no initial payload: padding
        assert any(max(v.writes) > 0xFFFF for v in requests)
        assert any(max(v.writes) > 0xFFFF for v in mine if v.kind == "tcp-response")
        assert any(len(v.writes) * v.repeat >= 35000 for v in requests)  # counter carry
        assert {v.kind for v in mine} == {"tcp-request", "tcp-response", "udp-client",
                                          "udp-server"}
        assert any(v.packet_id > 2**32 for v in mine if v.kind == "udp-client")
        assert any(v.packet_id > 0 for v in mine if v.kind == "udp-server")
        layers = {(v.kind, len(v.psk) - 1) for v in mine}
        if "aes" in m.name:
            assert {("tcp-request", 1), ("tcp-request", 2), ("udp-client", 1),
                    ("udp-client", 2)} <= layers
        else:
            assert all(n == 0 for _, n in layers)
            assert all(len(v.nonce) == 24 for v in mine if not v.is_tcp)
    assert len(VECTORS) == 47


def test_format_round_trips_through_the_reader(tmp_path: Path) -> None:
    path = tmp_path / "copy.txt"
    path.write_text("".join("\n" + format_vector(v) + "\n" for v in VECTORS), encoding="utf-8")
    again = load_2022(str(path))
    assert [replace(v, line="") for v in again] == [replace(v, line="") for v in VECTORS]


# --- the independent verifier -----------------------------------------------------------------


@pytest.mark.parametrize("v", VECTORS, ids=vid)
def test_the_independent_rebuild_reproduces_every_vector(v: Vector2022,
                                                         builder: IndependentBuilder) -> None:
    assert independent_problem(v, builder) is None


def _one_byte_changed(v: Vector2022) -> Iterator[tuple[str, Vector2022]]:
    if v.wire is not None:
        for where in (0, len(v.wire) // 2, len(v.wire) - 1):
            wire = bytearray(v.wire)
            wire[where] ^= 0x01
            yield f"wire byte {where}", replace(v, wire=bytes(wire))
    else:
        digest = bytes.fromhex(v.wire_sha256)
        yield "wire digest", replace(v, wire_sha256=(bytes([digest[0] ^ 1]) + digest[1:]).hex())
    psk = bytearray(v.psk[-1])
    psk[3] ^= 0x80
    yield "psk", replace(v, psk=(*v.psk[:-1], bytes(psk)))
    yield "timestamp", replace(v, timestamp=v.timestamp + 1)
    yield "padding", replace(v, padding=v.padding + 1)
    if v.is_tcp:
        yield "salt", replace(v, salt=bytes([v.salt[0] ^ 1]) + v.salt[1:])
    else:
        yield "packet id", replace(v, packet_id=v.packet_id ^ 0x100)
        yield "payload", replace(v, payload=v.payload + b"\x00")
    if v.kind == "tcp-response":
        yield "request salt", replace(v, request_salt=bytes([v.request_salt[-1] ^ 1])
                                      + v.request_salt[1:])
    if len(v.psk) > 1:
        ipsk = bytearray(v.psk[0])
        ipsk[0] ^= 1
        yield "identity PSK", replace(v, psk=(bytes(ipsk), *v.psk[1:]))


@pytest.mark.parametrize("v", [v for v in VECTORS if not v.long], ids=vid)
def test_the_verifier_rejects_a_vector_with_one_byte_changed(
    v: Vector2022, builder: IndependentBuilder
) -> None:
    for what, changed in _one_byte_changed(v):
        if what == "padding" and v.kind == "tcp-response":
            continue  # a response has no padding field
        assert independent_problem(changed, builder) is not None, what
        assert check_vector(changed) is not None, what  # refcrypto's side refuses it too


def test_check_mode_fails_on_a_changed_file(tmp_path: Path, builder: IndependentBuilder,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    short = [v for v in VECTORS if not v.long]
    good = tmp_path / "good.txt"
    good.write_text("".join("\n" + format_vector(v) + "\n" for v in short), encoding="utf-8")
    assert main(["--check", str(good)]) == 0
    text = good.read_text(encoding="utf-8")
    line = next(x for x in text.splitlines() if x.startswith("WIRE = "))
    flipped = line[:-1] + ("0" if line[-1] != "0" else "1")
    bad = tmp_path / "bad.txt"
    bad.write_text(text.replace(line, flipped, 1), encoding="utf-8")
    assert main(["--check", str(bad)]) == 1
    assert "independent rebuild differs" in capsys.readouterr().err


def test_the_xchacha_construction_matches_the_published_answers(
    builder: IndependentBuilder,
) -> None:
    from refcrypto.knownanswers import known_answers

    answers = [a for a in known_answers("xchacha20-ietf-poly1305") if a.kind == "aead"]
    assert len(answers) > 100
    for a in answers:
        if len(a.key) == 32 and len(a.iv) == 24:
            assert builder.xchacha_seal(a.key, a.iv, a.plaintext, a.aad) == a.ciphertext, a.source


def test_the_builder_uses_nothing_of_refcrypto(builder: IndependentBuilder,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    # With refcrypto's BLAKE3, AEADs and AES refusing to run, the rebuild still matches.
    from refcrypto.primitives import aead, blake3, blocks

    def refuse(*_: object, **__: object) -> NoReturn:
        raise AssertionError("the independent verifier called refcrypto")

    for name in ("blake3", "derive_key", "keyed_hash"):
        monkeypatch.setattr(blake3, name, refuse)
    for cls in (aead.AESGCM, aead.ChaCha20Poly1305IETF, aead.XChaCha20Poly1305):
        monkeypatch.setattr(cls, "seal", refuse)
    monkeypatch.setattr(blocks.AES, "encrypt_block", refuse)
    for v in VECTORS:
        if not v.long:
            assert independent_problem(v, builder) is None, v.label
    with pytest.raises(AssertionError, match="called refcrypto"):
        check_vector(VECTORS[0])  # refcrypto's own side does use them


# --- the engine's 2022 rows --------------------------------------------------------------------


def by_name(outcomes: list[Outcome]) -> dict[str, Outcome]:
    return {o.name: o for o in outcomes}


@pytest.mark.parametrize("m", M2022, ids=ids)
def test_refcrypto_passes_every_2022_check(m: Method) -> None:
    result = check_pair("refcrypto", m, long=False)
    assert result.status == "pass", result.detail
    assert [c.name for c in result.checks] == list(CHECKS)
    assert all(c.status == "pass" and c.cases > 0 for c in result.checks), result.checks
    wire = next(c for c in result.checks if c.name == "wire-vectors")
    assert "not run: long (--quick)" in wire.detail


def test_check_command_reports_the_2022_rows(tmp_path: Path) -> None:
    from refcrypto.cli import main as cli

    report, junit = tmp_path / "r.json", tmp_path / "r.xml"
    code = cli(["check", "-b", "refcrypto", "-m", "2022-blake3-aes-256-gcm", "--quick",
                "--json", str(report), "--junit", str(junit)])
    assert code == 0
    (row,) = json.loads(report.read_text())["results"]
    assert [c["check"] for c in row["checks"]] == list(CHECKS)
    assert 'name="2022-blake3-aes-256-gcm"' in junit.read_text()


def test_the_default_check_includes_the_2022_methods(monkeypatch: pytest.MonkeyPatch) -> None:
    from refcrypto.cli import main as cli
    from refcrypto.conformance import engine

    seen: list[str] = []

    def fake_run(names: Any, methods: Any, **_: Any) -> list[Any]:
        seen.extend(m.name for m in methods)
        return []

    monkeypatch.setattr(engine, "run", fake_run)
    cli(["check", "-b", "refcrypto"])
    assert {m.name for m in M2022} <= set(seen)
    assert len(seen) == len(refcrypto.methods(extensions=True)) + len(M2022)


@pytest.mark.peers
@pytest.mark.parametrize("name", ["shadowsocks", "pproxy", "pproxy-py"])
def test_third_party_backends_have_no_2022_support(name: str) -> None:
    reason = wire_backend(name).available()
    if reason is not None:
        _skip_or_fail(reason)
    for m in M2022:
        result = check_pair(name, m)
        assert result.status == "unsupported"
        assert "no Shadowsocks 2022 support" in result.detail


@pytest.mark.peers
@pytest.mark.parametrize("name", ["openssl", "sodium", "mbedtls", "cryptography"])
def test_native_backends_run_the_2022_methods_through_their_aeads(name: str) -> None:
    reason = wire_backend(name).available()
    if reason is not None:
        _skip_or_fail(reason)
    for m in M2022:
        result = check_pair(name, m, long=False, budget=3)
        if name == "sodium" and m.name == "2022-blake3-aes-128-gcm":
            assert result.status == "unsupported" and "AES-256-GCM only" in result.detail
            continue
        assert result.status == "pass", result.detail
        checks = {c.name: c for c in result.checks}
        xchacha = name == "sodium" or "aes" in m.name
        assert checks["udp-replay"].status == ("pass" if xchacha else "n/a")
        assert "refcrypto's bytes" in checks["round-trips"].detail


def test_a_wire_backend_without_2022_operations_is_unsupported() -> None:
    class Wire:
        name = "plug-in"

        def unsupported(self, method: Method) -> str | None:
            return None

    reason = ss2022checks.unsupported_2022(Wire(), None, M2022[0])  # type: ignore[arg-type]
    assert reason is not None and "no Shadowsocks 2022 support" in reason


# --- each check can fail ------------------------------------------------------------------------


AES128 = refcrypto.method("2022-blake3-aes-128-gcm")
CHACHA = refcrypto.method("2022-blake3-chacha20-poly1305")


def run(check: Callable[..., Outcome], codecs: Codecs2022, m: Method = AES128) -> Outcome:
    return check(codecs, m, True)


@pytest.mark.parametrize("m", [AES128, CHACHA], ids=ids)
def test_every_check_passes_on_refcrypto(m: Method) -> None:
    codecs = Codecs2022()
    for check in (check_timestamp, check_replay, check_header_types, check_padding,
                  check_request_salt, check_udp_replay):
        outcome = run(check, codecs, m)
        assert outcome.status == "pass", outcome


class SkipsTheSaltStore(Codecs2022):
    """A server whose connections each keep their own salt store."""

    def request_decoder(self, m: Method, psk: bytes, *, salts: SaltStore,
                        clock: Callable[[], int]) -> RequestDecoder:
        return super().request_decoder(m, psk, salts=SaltStore(), clock=clock)


def test_replay_fails_for_a_server_that_skips_the_salt_store() -> None:
    outcome = run(check_replay, SkipsTheSaltStore())
    assert outcome.status == "fail"
    assert "second server sharing the SaltStore: accepted" in outcome.detail


def test_replay_fails_when_the_store_forgets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(SaltStore, "add", lambda self, salt, *, now: None)
    result = check_pair("refcrypto", AES128, long=False)
    assert result.status == "fail" and result.detail.startswith("replay:")


class ClockOff(Codecs2022):
    """Receivers whose clock is 31 s ahead of the clock they were given."""

    def __init__(self, off: int) -> None:
        super().__init__()
        self.off = off

    def _shift(self, clock: Callable[[], int]) -> Callable[[], int]:
        return lambda: clock() + self.off

    def request_decoder(self, m: Method, psk: bytes, *, salts: SaltStore,
                        clock: Callable[[], int]) -> RequestDecoder:
        return super().request_decoder(m, psk, salts=salts, clock=self._shift(clock))


@pytest.mark.parametrize("off", [31, -31])
def test_timestamp_fails_for_a_clock_off_by_31_s(off: int) -> None:
    outcome = run(check_timestamp, ClockOff(off))
    assert outcome.status == "fail"
    assert "TCP request" in outcome.detail and "InvalidTimestamp" in outcome.detail


def test_timestamp_fails_when_31_s_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(header_module, "MAX_TIME_DIFFERENCE", 31)
    outcome = run(check_timestamp, Codecs2022())
    assert outcome.status == "fail" and "(over 30 s): accepted" in outcome.detail


def test_timestamp_fails_when_30_s_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(header_module, "MAX_TIME_DIFFERENCE", 29)
    outcome = run(check_timestamp, Codecs2022())
    assert outcome.status == "fail" and "(within 30 s): refused" in outcome.detail


def test_header_type_fails_when_the_type_is_not_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tcp_module, "TYPE_CLIENT", 1)  # requests of type 1 now pass
    outcome = run(check_header_types, Codecs2022())
    assert outcome.status == "fail"
    assert "TCP request header of type 1: accepted" in outcome.detail


def test_header_type_fails_when_udp_types_are_not_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    from refcrypto.wire.ss2022 import udp as udp_module

    original = udp_module._parse_body

    def lenient(body: bytes, expected: int, what: str) -> Any:
        return original(bytes([expected]) + body[1:], expected, what)

    monkeypatch.setattr(udp_module, "_parse_body", lenient)
    outcome = run(check_header_types, Codecs2022())
    assert outcome.status == "fail" and "UDP" in outcome.detail


def test_padding_fails_when_901_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tcp_module, "MAX_PADDING", 901)
    outcome = run(check_padding, Codecs2022())
    assert outcome.status == "fail" and "901 bytes of padding" in outcome.detail


class _AnySalt(bytes):
    """Compares equal to every salt: a decoder holding it ignores the request salt."""

    def __ne__(self, other: object) -> bool:
        return False

    def __eq__(self, other: object) -> bool:
        return True

    __hash__ = bytes.__hash__


class IgnoresTheRequestSalt(Codecs2022):
    def response_decoder(self, m: Method, psk: bytes, request_salt: bytes, *,
                         clock: Callable[[], int]) -> ResponseDecoder:
        decoder = super().response_decoder(m, psk, request_salt, clock=clock)
        decoder.request_salt = _AnySalt(request_salt)
        return decoder


def test_request_salt_fails_for_a_codec_that_ignores_it() -> None:
    outcome = run(check_request_salt, IgnoresTheRequestSalt())
    assert outcome.status == "fail" and "another request salt" in outcome.detail


def test_udp_replay_fails_when_the_window_forgets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(PacketWindow, "check", lambda self, packet_id, what="": None)
    outcome = run(check_udp_replay, Codecs2022())
    assert outcome.status == "fail" and "again: accepted" in outcome.detail


def test_udp_replay_is_not_applicable_without_udp() -> None:
    outcome = check_udp_replay(Codecs2022(), CHACHA, False, "UDP n/a: no XChaCha")
    assert outcome.status == "n/a"


class _FlippingAEAD:
    def __init__(self, inner: AEAD) -> None:
        self.inner = inner
        self.key_size, self.nonce_size, self.tag_size = (inner.key_size, inner.nonce_size,
                                                         inner.tag_size)

    def seal(self, nonce: bytes, plaintext: bytes, aad: bytes = b"") -> bytes:
        sealed = bytearray(self.inner.seal(nonce, plaintext, aad))
        sealed[-1] ^= 1
        return bytes(sealed)

    def open(self, nonce: bytes, data: bytes, aad: bytes = b"") -> bytes:
        return self.inner.open(nonce, data[:-1] + bytes([data[-1] ^ 1]), aad)


class BrokenBackend:
    """A primitive backend whose AEAD round-trips with itself but is wrong on the wire."""

    name = "broken"

    def available(self) -> str | None:
        return None

    def describe(self) -> str:
        return "broken"

    def unsupported(self, method: Method) -> str | None:
        return None

    def new_stream(self, method: Method, key: bytes, iv: bytes, decrypt: bool) -> Any:
        return method.new_stream(key, iv, decrypt)

    def new_aead(self, method: Method, key: bytes) -> Any:
        return _FlippingAEAD(method.new_aead(key))


@pytest.mark.parametrize("m", [AES128, CHACHA], ids=ids)
def test_a_broken_aead_fails_vectors_wire_vectors_and_round_trips(m: Method) -> None:
    backend = BrokenBackend()
    outcomes = by_name(checks_2022("broken", backend, m, long=False,  # type: ignore[arg-type]
                                   budget=2))
    assert outcomes["vectors"].status == "fail"
    assert outcomes["wire-vectors"].status == "fail"
    assert "encoder output differs" in outcomes["wire-vectors"].detail
    assert outcomes["round-trips"].status == "fail"
    assert "differs from refcrypto's" in outcomes["round-trips"].detail
    # The protocol checks only need the backend to agree with itself: they pass.
    assert outcomes["replay"].status == "pass"


def test_round_trips_fail_when_a_stream_does_not_decode(monkeypatch: pytest.MonkeyPatch) -> None:
    original = tcp_module.RequestDecoder._update

    def lossy(self: RequestDecoder, data: bytes) -> bytes:
        return original(self, data)[1:]

    monkeypatch.setattr(tcp_module.RequestDecoder, "_update", lossy)
    outcome = check_round_trips(Codecs2022(), AES128, True, seed=0, budget=3, compare=False)
    assert outcome.status == "fail" and "request stream" in outcome.detail


def test_wire_vectors_fail_on_a_changed_vector(monkeypatch: pytest.MonkeyPatch) -> None:
    from refcrypto.conformance import ss2022vectors

    first = next(v for v in VECTORS if v.method == AES128.name and v.wire is not None)
    assert first.wire is not None
    changed = replace(first, wire=first.wire[:-1] + bytes([first.wire[-1] ^ 1]))
    monkeypatch.setattr(ss2022vectors, "load_2022", lambda: [changed])
    outcome = check_wire_vectors_2022(OWN, AES128, long=False, udp=True)
    assert outcome.status == "fail" and "encoder output differs" in outcome.detail


def test_wire_vectors_missing_file_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    from refcrypto.conformance import ss2022vectors

    def missing() -> list[Vector2022]:
        raise FileNotFoundError("gone")

    monkeypatch.setattr(ss2022vectors, "load_2022", missing)
    outcome = check_wire_vectors_2022(OWN, AES128, long=False, udp=True)
    assert outcome.status == "skipped"


def test_a_check_that_raises_is_a_failed_row(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_: object) -> Outcome:
        raise RuntimeError("backend exploded")

    monkeypatch.setattr(ss2022checks, "check_padding", boom)
    outcomes = by_name(checks_2022("refcrypto", primitive_backend("refcrypto"),  # type: ignore[arg-type]
                                   AES128, long=False, budget=1))
    assert outcomes["padding"] == Outcome("padding", "fail", "RuntimeError: backend exploded")
