"""``refcrypto explain``: every family dissected, failures located, JSON shape, --encrypt."""

from __future__ import annotations

import base64
import json

import pytest

import refcrypto
from refcrypto import cli
from refcrypto.explain import KINDS, Explanation, explain, first_difference, make_wire
from refcrypto.kdf import session_subkey
from refcrypto.wire.ss2022 import UdpClient2022, UdpServer2022

PASSWORD = "correct horse"
TEXT = b"GET /index.html HTTP/1.1\r\nHost: example.com\r\n\r\n"
TARGET = ("example.com", 80)
NOW = 1_700_000_000
CLASSIC = [m.name for m in refcrypto.methods(extensions=True)]
EDITION_2022 = [m.name for m in refcrypto.methods(edition2022=True)]


def psk_for(name: str) -> str:
    return base64.b64encode(bytes(range(refcrypto.method(name).key_size))).decode()


def assert_covers(result: Explanation, wire: bytes) -> None:
    """Fields are contiguous, in order, cover the whole wire, and carry its bytes."""
    assert result.ok, result.failure
    position = 0
    for f in result.fields:
        assert f.kind in KINDS
        assert f.offset == position, f
        assert f.data == wire[f.offset : f.end]
        position = f.end
    assert position == len(wire)


@pytest.mark.parametrize("name", CLASSIC)
def test_tcp_every_classic_method(name: str) -> None:
    row = refcrypto.method(name)
    wire = make_wire(name, PASSWORD, TEXT, iv=bytes(range(row.iv_size)), target=TARGET,
                     writes=20)
    result = explain(name, PASSWORD, wire)
    assert_covers(result, wire)
    assert result.plaintext == TEXT
    header = next(f for f in result.fields if f.kind == "header")
    assert (header.decoded["host"], header.decoded["port"]) == TARGET
    if row.is_aead:
        assert result.fields[0].kind == "salt"
        tags = [f for f in result.fields if f.kind == "tag"]
        assert len(tags) == 6  # three writes of up to 20 bytes: three chunks, two tags each
        lengths = [f.decoded["value"] for f in result.fields if f.kind == "length"]
        assert lengths == [15 + 20, 20, len(TEXT) - 40]  # the 15-byte address rides in front
        nonces = [f.decoded["counter"] for f in result.fields if f.kind in ("length", "payload")]
        assert nonces == sorted(nonces) and nonces[0] == 0
    else:
        assert result.fields[0].kind == ("iv" if row.iv_size else "header")
        assert not any(f.kind == "tag" for f in result.fields)


@pytest.mark.parametrize("name", CLASSIC)
def test_udp_every_classic_method(name: str) -> None:
    row = refcrypto.method(name)
    wire = make_wire(name, PASSWORD, b"a datagram", iv=bytes(row.iv_size), udp=True,
                     target=("192.0.2.1", 53))
    assert refcrypto.decrypt_all(PASSWORD, name, wire).endswith(b"a datagram")
    result = explain(name, PASSWORD, wire, udp=True)
    assert_covers(result, wire)
    assert result.plaintext == b"a datagram"
    assert [f.kind for f in result.fields][-1] == ("tag" if row.is_aead else "ciphertext")


@pytest.mark.parametrize("name", EDITION_2022)
def test_2022_tcp_request_and_response(name: str) -> None:
    psk = psk_for(name)
    salt = bytes(range(refcrypto.method(name).salt_size))
    wire = make_wire(name, psk, TEXT, iv=salt, target=TARGET, now=NOW, padding=5, writes=16)
    server = refcrypto.Cryptor2022(psk, name, role="server", salts=refcrypto.SaltStore(),
                                   clock=lambda: NOW)
    assert server.decrypt(wire) == TEXT
    result = explain(name, psk, wire, now=NOW + 3)
    assert_covers(result, wire)
    assert result.plaintext == TEXT
    by_name = {f.name: f for f in result.fields}
    assert by_name["type"].decoded["value"] == 0
    assert by_name["timestamp"].decoded["value"] == NOW
    assert by_name["timestamp"].decoded["seconds_from_now"] == -3
    assert by_name["padding length"].decoded["value"] == 5
    assert (by_name["target address"].decoded["host"], by_name["target address"].decoded["port"]
            ) == TARGET

    reply = make_wire(name, psk, b"HTTP/1.1 200 OK\r\n", iv=bytes(len(salt)), response=True,
                      request_salt=salt, now=NOW, writes=8)
    back = explain(name, psk, reply, response=True, request_salt=salt, now=NOW)
    assert_covers(back, reply)
    assert back.plaintext == b"HTTP/1.1 200 OK\r\n"
    assert {f.name: f for f in back.fields}["request salt"].decoded["value"] == salt.hex()
    wrong = explain(name, psk, reply, response=True, request_salt=bytes(len(salt) - 1) + b"x")
    assert wrong.failure is not None and wrong.failure.name == "request salt"


@pytest.mark.parametrize("name", EDITION_2022)
def test_2022_udp_both_directions(name: str) -> None:
    psk = psk_for(name)
    iv = bytes(range(8 if "aes" in name else 24))
    packet = make_wire(name, psk, b"query", iv=iv, udp=True, target=("192.0.2.53", 53), now=NOW,
                       padding=4)
    result = explain(name, psk, packet, udp=True, now=NOW)
    assert_covers(result, packet)
    assert result.plaintext == b"query"
    # A server's reply (its session ID is random), dissected from the client's side.
    server = UdpServer2022(psk, name, clock=lambda: NOW)
    datagram = server.decrypt(packet)
    reply = server.encrypt(datagram.session_id, b"answer", ("192.0.2.53", 53))
    client = UdpClient2022(psk, name, session_id=datagram.session_id, clock=lambda: NOW)
    assert client.decrypt(reply).payload == b"answer"
    back = explain(name, psk, reply, udp=True, response=True, now=NOW)
    assert_covers(back, reply)
    assert back.plaintext == b"answer"
    named = next(f for f in back.fields if f.name == "client session ID")
    assert named.decoded["value"] == datagram.session_id.to_bytes(8, "big").hex()


def test_2022_tcp_identity_headers() -> None:
    name = "2022-blake3-aes-128-gcm"
    ipsk = base64.b64encode(bytes(16)).decode()
    upsk = psk_for(name)
    wire = make_wire(name, f"{ipsk}:{upsk}", b"hello", iv=bytes(16), target=TARGET, now=NOW)
    result = explain(name, f"{ipsk}:{upsk}", wire)
    assert_covers(result, wire)
    assert result.fields[1].name == "identity header 0" and result.fields[1].length == 16
    other = base64.b64encode(b"\x01" * 16).decode()
    wrong = explain(name, f"{ipsk}:{other}", wire)
    assert wrong.failure is not None and wrong.failure.name == "identity header 0"


def _aead_stream() -> bytes:
    return make_wire("aes-128-gcm", PASSWORD, TEXT, iv=bytes(16), target=TARGET, writes=20)


@pytest.mark.parametrize(("field_index", "byte"), [(2, 0), (5, 15), (9, 3), (13, 7)])
def test_tampered_tag_stops_at_that_tag(field_index: int, byte: int) -> None:
    wire = _aead_stream()
    fields = explain("aes-128-gcm", PASSWORD, wire).fields
    target = fields[field_index]
    assert target.kind == "tag"
    bad = bytearray(wire)
    bad[target.offset + byte] ^= 0x80
    result = explain("aes-128-gcm", PASSWORD, bytes(bad))
    failure = result.failure
    assert failure is not None
    assert (failure.offset, failure.kind, failure.name) == (target.offset, "tag", target.name)
    assert result.fields[-1] is failure  # nothing after the failing field
    assert failure.expected is not None and str(target.decoded["nonce"]) in failure.expected
    # Before it: the sealed bytes it covers, withheld, and the good stream's fields up to them.
    sealed = result.fields[-2]
    assert sealed.kind == "ciphertext" and sealed.end == failure.offset
    assert "plaintext" not in sealed.decoded
    before = [(f.offset, f.kind) for f in fields if f.end <= sealed.offset]
    assert [(f.offset, f.kind) for f in result.fields[:-2]] == before


def test_tampered_ciphertext_fails_at_its_tag_and_withholds_the_plaintext() -> None:
    wire = bytearray(_aead_stream())
    wire[16] ^= 1  # the sealed length of chunk 0
    result = explain("aes-128-gcm", PASSWORD, bytes(wire))
    assert [(f.kind, f.ok) for f in result.fields] == [("salt", True), ("ciphertext", True),
                                                       ("tag", False)]
    assert "plaintext" not in result.fields[1].decoded


def test_wrong_password_and_truncation() -> None:
    wire = _aead_stream()
    failure = explain("aes-128-gcm", "not the password", wire).failure
    assert failure is not None and (failure.offset, failure.kind) == (18, "tag")
    cut = explain("aes-128-gcm", PASSWORD, wire[:40]).failure
    assert cut is not None and cut.offset == 34 and cut.length == 6
    assert cut.expected is not None and "got 6" in cut.expected
    short_iv = explain("aes-256-cfb", PASSWORD, bytes(5)).failure
    assert short_iv is not None and short_iv.kind == "iv"


def test_reserved_length_bits_fail_at_the_length_field() -> None:
    row = refcrypto.method("aes-128-gcm")
    salt = bytes(16)
    aead = row.new_aead(session_subkey(refcrypto.master_key(PASSWORD, row), salt))
    wire = salt + aead.seal(bytes(12), (0xC005).to_bytes(2, "big"))
    result = explain(row, PASSWORD, wire)
    failure = result.failure
    assert failure is not None and failure.kind == "length" and failure.decoded["value"] == 0xC005
    assert failure.expected is not None and "reserved" in failure.expected


def test_stream_method_with_a_wrong_password_fails_at_the_address() -> None:
    wire = make_wire("aes-256-ctr", PASSWORD, TEXT, iv=bytes(16), target=TARGET)
    failure = explain("aes-256-ctr", "guess", wire).failure
    assert failure is not None and failure.kind == "header" and failure.offset == 16
    # Without integrity, a changed byte decrypts to a changed byte: nothing fails.
    bad = bytearray(wire)
    bad[-1] ^= 1
    altered = explain("aes-256-ctr", PASSWORD, bytes(bad))
    assert altered.ok and altered.plaintext == TEXT[:-1] + bytes([TEXT[-1] ^ 1])


def test_2022_stale_timestamp_fails_there() -> None:
    name = "2022-blake3-aes-256-gcm"
    wire = make_wire(name, psk_for(name), b"x", iv=bytes(32), target=TARGET, now=NOW)
    assert explain(name, psk_for(name), wire).ok  # not checked without a clock
    failure = explain(name, psk_for(name), wire, now=NOW + 31).failure
    assert failure is not None and failure.name == "timestamp"
    assert explain(name, psk_for(name), wire, now=NOW + 30).ok


def test_first_difference_names_the_field() -> None:
    wire = _aead_stream()
    other = bytearray(wire)
    other[40] ^= 1
    difference = first_difference("aes-128-gcm", PASSWORD, wire, bytes(other))
    assert difference is not None and difference.offset == 40
    assert difference.field is not None and difference.field.name == "target address"
    assert first_difference("aes-128-gcm", PASSWORD, wire, wire) is None
    longer = first_difference("aes-128-gcm", PASSWORD, wire, wire + b"!")
    assert longer is not None and longer.field is None and "past the end" in str(longer)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = cli.main(["explain", *argv])
    return code, capsys.readouterr().out


def test_json_records(capsys: pytest.CaptureFixture[str]) -> None:
    wire = _aead_stream()
    code, out = run(capsys, "-m", "aes-128-gcm", "-k", PASSWORD, "--json", wire.hex())
    assert code == 0
    records = json.loads(out)
    assert isinstance(records, list) and len(records) == 14
    for record in records:
        assert {"offset", "length", "kind", "hex", "ok", "name", "meaning"} <= set(record)
        assert record["kind"] in KINDS and record["ok"] is True
        assert bytes.fromhex(record["hex"]) == wire[record["offset"] : record["offset"]
                                                    + record["length"]]
    assert records[0]["decoded"]["subkey"] == session_subkey(
        refcrypto.master_key(PASSWORD, "aes-128-gcm"), bytes(16)).hex()
    assert "".join(r["hex"] for r in records) == wire.hex()
    bad = bytearray(wire)
    bad[-1] ^= 1
    code, out = run(capsys, "-m", "aes-128-gcm", "-k", PASSWORD, "--json", bad.hex())
    assert code == 1
    last = json.loads(out)[-1]
    assert last["ok"] is False and last["kind"] == "tag" and "expected" in last


@pytest.mark.parametrize("name", ["aes-256-cfb", "chacha20-ietf-poly1305",
                                  "2022-blake3-aes-128-gcm"])
def test_encrypt_round_trip(capsys: pytest.CaptureFixture[str], name: str,
                            monkeypatch: pytest.MonkeyPatch) -> None:
    row = refcrypto.method(name)
    key = psk_for(name) if row.is_2022 else PASSWORD
    monkeypatch.setenv("REFCRYPTO_KEY", key)
    iv = bytes(range(row.iv_size)).hex()
    args = ["-m", name, "--encrypt", "--iv", iv, "--target", "example.com:80", "--text",
            "hello, world", "--write-size", "5", "--now", str(NOW), "--padding", "2"]
    code, out = run(capsys, *args, "--json")
    assert code == 0
    wire = bytes.fromhex("".join(r["hex"] for r in json.loads(out)))
    if row.is_2022:
        server = refcrypto.Cryptor2022(key, name, role="server", salts=refcrypto.SaltStore(),
                                       clock=lambda: NOW)
        assert server.decrypt(wire) == b"hello, world"
    else:
        plain = refcrypto.Cryptor(PASSWORD, name).decrypt(wire)
        assert plain.endswith(b"hello, world") and plain.startswith(b"\x03\x0bexample.com")
    # The text output names the wire it made; dissecting that again prints the same fields.
    code, text = run(capsys, *args)
    assert code == 0 and f"wire (made with --encrypt): {wire.hex()}" in text
    code, again = run(capsys, "-m", name, wire.hex(), "--now", str(NOW))
    assert code == 0
    assert again.splitlines()[-1] == text.splitlines()[-1]
    assert again.splitlines()[3:] == text.splitlines()[4:]


def test_bad_input_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["explain", "-m", "aes-128-gcm", "-k", "pw", "zz"]) == 2
    assert "HEX" in capsys.readouterr().err
    assert cli.main(["explain", "-m", "no-such-method", "-k", "pw", "00"]) == 2
    assert cli.main(["explain", "-m", "2022-blake3-aes-128-gcm", "-k", "pw", "00"]) == 2
