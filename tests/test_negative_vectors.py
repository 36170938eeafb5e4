"""The negative vectors of vectors/negative/: the generator reproduces the committed files,
every case was verified by an independent implementation, refcrypto passes them all, and a
backend that accepts a tampered chunk (or an over-short packet, or masks reserved length
bits) fails the ``negative`` check of ``refcrypto check``."""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import NoReturn

import pytest

import refcrypto
from refcrypto.conformance import negative
from refcrypto.conformance.backend import PrimitiveWire, RefcryptoPrimitives
from refcrypto.conformance.engine import check_pair, wire_backend
from refcrypto.conformance.negative import (
    FILES,
    INVALID,
    NOTES,
    TCP,
    UDP,
    NegativeVectorError,
    check_method,
    generate,
    load,
    parse,
    render,
)
from refcrypto.errors import InvalidTag
from refcrypto.methods import Method
from refcrypto.primitives.base import AEAD, Buffer
from refcrypto.vectorfiles import vector_path
from refcrypto.wire.cryptor import Password

REQUIRE_NATIVE_ENV = "REFCRYPTO_REQUIRE_NATIVE"
#: Flags every AEAD method's cases must cover (issue 14).
AEAD_FLAGS = {"TamperedLengthTag", "TamperedPayloadTag", "ReservedLengthBits", "ZeroLength",
              "LengthOverLimit", "TruncatedSalt", "TruncatedLengthChunk",
              "TruncatedPayloadChunk", "WrongPassword", "ShortPacket", "ValidStream",
              "ValidPacket"}
#: ... and every stream method with an IV.
STREAM_FLAGS = {"TruncatedIV", "IvOnly", "WrongPasswordGarbage", "NoIntegrity", "ValidStream",
                "BitFlipMalleable", "ValidPacket"}


def skip_or_fail(reason: str) -> NoReturn:
    if os.environ.get(REQUIRE_NATIVE_ENV) == "1":
        pytest.fail(f"{REQUIRE_NATIVE_ENV}=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def selected() -> list[Method]:
    return [m for m in refcrypto.methods(extensions=True) if m.implemented and not m.is_2022]


# --- the files ------------------------------------------------------------------------------


def test_generator_reproduces_the_committed_cases() -> None:
    made = generate()
    for kind, relative in FILES.items():
        committed = parse(json.loads(vector_path(relative).read_text()), relative)
        assert [(g.type, g.method) for g in committed] == [(g.type, g.method) for g in made[kind]]
        for old, new in zip(committed, made[kind], strict=True):
            fresh = {c.tc_id: c for c in new.tests}
            for case in old.tests:  # a case no one verified is left out, so a subset
                assert case.verified_by, (old.method, case.tc_id)
                assert case == replace(fresh[case.tc_id], verified_by=case.verified_by), (
                    old.method, case.tc_id)
        # And the renderer writes the committed file byte for byte.
        assert render(kind, committed) == vector_path(relative).read_text(encoding="utf-8")


def test_every_method_is_covered_with_the_required_flags() -> None:
    groups = load()
    by_method: dict[str, list[negative.Group]] = {}
    for group in groups:
        by_method.setdefault(group.method, []).append(group)
    assert set(by_method) == {m.name for m in selected()}
    for m in selected():
        flags = {f for g in by_method[m.name] for c in g.tests for f in c.flags}
        kinds = sorted(g.type for g in by_method[m.name])
        assert kinds == sorted([TCP, UDP]), m.name
        if m.is_aead:
            assert AEAD_FLAGS <= flags, (m.name, AEAD_FLAGS - flags)
            assert sum(len(g.tests) for g in by_method[m.name]) >= 34, m.name
        elif m.iv_size:
            assert STREAM_FLAGS <= flags, (m.name, STREAM_FLAGS - flags)
        else:  # rc4, table: no IV to truncate, but still no integrity
            assert {"WrongPasswordGarbage", "ValidStream"} <= flags, m.name
    total = Counter(g.type for g in groups for _ in g.tests)
    assert total[TCP] >= 550 and total[UDP] >= 290, total


def test_stream_wrong_password_cases_are_valid_and_say_so() -> None:
    for group in load():
        for case in group.tests:
            if "WrongPasswordGarbage" in case.flags:
                assert case.result == "valid" and "NoIntegrity" in case.flags
                assert case.msg and "garbage, no error" in case.comment
            if "WrongPassword" in case.flags:
                assert case.result == INVALID and case.msg == b""
    assert "WITHOUT an error" in NOTES["WrongPasswordGarbage"]


@pytest.mark.peers
def test_regeneration_with_every_verifier_is_byte_identical(tmp_path: Path) -> None:
    for name in negative.VERIFIERS:
        reason = wire_backend(name).available()
        if reason:
            skip_or_fail(f"verifier {name} cannot run here: {reason}")
    assert negative.main(["--write", str(tmp_path)]) == 0
    for relative in FILES.values():
        name = Path(relative).name
        assert (tmp_path / name).read_text() == vector_path(relative).read_text(), name


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda d: d["testGroups"][0]["tests"][0].pop("ct"), "missing field 'ct'"),
    (lambda d: d["testGroups"][0]["tests"][0].update(result="acceptable"),
     "result must be valid or invalid"),
    (lambda d: d["testGroups"][0]["tests"][0].update(flags=["Nonsense"]), "unknown flags"),
    (lambda d: d["testGroups"][0]["tests"][0].update(msg="zz"), "field 'msg' is not hex"),
    (lambda d: d["testGroups"][0]["tests"][0].update(tcId=True), "field 'tcId' must be int"),
    (lambda d: d["testGroups"][0].update(type="Other"), "type must be"),
    (lambda d: d.update(schema="v0"), "schema is 'v0'"),
])
def test_malformed_files_raise_a_named_error(mutate: object, message: str) -> None:
    document = json.loads(vector_path(FILES["aead"]).read_text())
    mutate(document)  # type: ignore[operator]
    with pytest.raises(NegativeVectorError, match=message):
        parse(document, "aead.json")


def test_missing_files_make_the_check_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(name: str) -> list[negative.Group]:
        raise FileNotFoundError(name)

    monkeypatch.setattr(negative, "groups_for", missing)
    status, detail, _ = check_method(wire_backend("refcrypto"), refcrypto.method("rc4"))
    assert (status, detail) == ("skipped", "vectors/negative/ missing")


# --- the check ------------------------------------------------------------------------------


@pytest.mark.parametrize("m", selected(), ids=lambda m: m.name)
def test_refcrypto_passes_every_case(m: Method) -> None:
    status, detail, cases = check_method(wire_backend("refcrypto"), m)
    assert status == "pass", detail
    assert cases >= (5 if m.iv_size == 0 else 34 if m.is_aead else 8)


class _IgnoresTag:
    """An AEAD whose open never fails: it decrypts whatever it is given."""

    __slots__ = ("inner", "key_size", "nonce_size", "tag_size")

    def __init__(self, inner: AEAD) -> None:
        self.inner = inner
        self.key_size, self.nonce_size, self.tag_size = (
            inner.key_size, inner.nonce_size, inner.tag_size)

    def seal(self, nonce: Buffer, plaintext: Buffer, aad: Buffer = b"") -> bytes:
        return self.inner.seal(nonce, plaintext, aad)

    def open(self, nonce: Buffer, data: Buffer, aad: Buffer = b"") -> bytes:
        try:
            return self.inner.open(nonce, data, aad)
        except InvalidTag:
            return bytes(len(data) - self.tag_size)


class _TagBlind(RefcryptoPrimitives):
    __slots__ = ()

    def new_aead(self, method: Method, key: bytes) -> AEAD:
        return _IgnoresTag(method.new_aead(key))


class _ShortPacketsDecryptToNothing(PrimitiveWire):
    """A UDP packet shorter than its salt and tag decrypts to b"" instead of an error."""

    __slots__ = ()

    def udp_decrypt(self, method: Method, password: Password, packet: bytes) -> bytes:
        if len(packet) < method.iv_size + method.tag_size:
            return b""
        return super().udp_decrypt(method, password, packet)


def test_accepting_a_tampered_chunk_fails_the_negative_check() -> None:
    wire = PrimitiveWire(_TagBlind())
    result = check_pair("tag-blind", refcrypto.method("aes-128-gcm"), budget=3, long=False,
                        backend=wire, primitives=wire.primitives)
    negative_check = {c.name: c for c in result.checks}["negative"]
    assert negative_check.status == "fail"
    # Its length chunks decode to zero (refused); the payload chunks come out unverified.
    assert "[TamperedPayloadTag] (invalid)" in negative_check.detail


def test_a_short_packet_that_decrypts_fails_the_negative_check() -> None:
    m = refcrypto.method("aes-256-gcm")
    status, detail, _ = check_method(_ShortPacketsDecryptToNothing(RefcryptoPrimitives()), m)
    assert status == "fail"
    assert "UDP tcId" in detail and "[ShortPacket]" in detail and "instead of raising" in detail


def test_negative_is_a_row_of_every_pair() -> None:
    result = check_pair("refcrypto", refcrypto.method("chacha20-ietf-poly1305"), long=False)
    outcome = {c.name: c for c in result.checks}["negative"]
    assert outcome.status == "pass" and outcome.cases >= 34
    assert "TCP" in outcome.detail and "UDP" in outcome.detail
