"""Shadowsocks 2022 TCP (SIP022 2 and 3.1): the method rows, PSKs, round trips at any split in
both directions, the wire layout against an independent construction, and every rejection a
receiver must make, each releasing no plaintext of an unauthenticated chunk."""

from __future__ import annotations

import base64

import pytest
from Crypto.Cipher import AES, ChaCha20_Poly1305
from hypothesis import given, settings
from hypothesis import strategies as st

import refcrypto
from refcrypto.errors import (
    DecoderFailed,
    HandshakeIncomplete,
    HeaderOverrun,
    InvalidAddress,
    InvalidHeaderType,
    InvalidPSK,
    InvalidTag,
    InvalidTimestamp,
    MethodNotImplemented,
    MissingPayloadOrPadding,
    PaddingTooLong,
    RefcryptoError,
    ReplayedSalt,
    RequestSaltMismatch,
    SaltStoreFull,
    TruncatedData,
)
from refcrypto.methods import Method
from refcrypto.wire.ss2022 import (
    Cryptor2022,
    RequestDecoder,
    RequestEncoder,
    ResponseDecoder,
    ResponseEncoder,
    SaltStore,
    decode_psk,
    decode_psk_chain,
    new_decoder_2022,
    new_encoder_2022,
)
from refcrypto.wire.ss2022.keys import session_subkey
from refcrypto.wire.ss2022.tcp import MAX_CHUNK_PAYLOAD

M2022 = refcrypto.methods(edition2022=True)
NOW = 1_700_000_000
TARGET = ("example.com", 443)


def ids(m: Method) -> str:
    return m.name


def psk_of(m: Method, seed: int = 1) -> str:
    return base64.b64encode(bytes((seed + i) % 256 for i in range(m.key_size))).decode()


def clock_at(t: int):  # type: ignore[no-untyped-def]
    return lambda: t


def cut(data: bytes, points: list[int]) -> list[bytes]:
    edges = sorted(p % (len(data) + 1) for p in points)
    pieces, last = [], 0
    for edge in edges:
        pieces.append(data[last:edge])
        last = edge
    pieces.append(data[last:])
    return pieces


def pair(m: Method, **client: object) -> tuple[Cryptor2022, Cryptor2022, SaltStore]:
    store = SaltStore()
    c = Cryptor2022(psk_of(m), m, role="client", target=TARGET, clock=clock_at(NOW),
                    **client)  # type: ignore[arg-type]
    s = Cryptor2022(psk_of(m), m, role="server", salts=store, clock=clock_at(NOW))
    return c, s, store


# --- crafting streams by hand (for the rejections) --------------------------------------------


class Sealer:
    """Seals chunks the way SIP022 3.1.1 says, for streams no encoder would make."""

    def __init__(self, m: Method, key: bytes, salt: bytes) -> None:
        self.aead = m.new_aead(session_subkey(key, salt))
        self.n = 0

    def seal(self, plain: bytes) -> bytes:
        out = self.aead.seal(self.n.to_bytes(12, "little"), plain)
        self.n += 1
        return out


def craft_request(m: Method, *, kind: int = 0, timestamp: int = NOW, variable: bytes | None = None,
                  salt: bytes | None = None, length: int | None = None) -> bytes:
    salt = salt if salt is not None else bytes(range(1, m.salt_size + 1))
    if variable is None:
        variable = b"\x03\x0bexample.com\x01\xbb" + (0).to_bytes(2, "big") + b"payload"
    sealer = Sealer(m, decode_psk(psk_of(m), m), salt)
    size = len(variable) if length is None else length
    fixed = bytes((kind,)) + timestamp.to_bytes(8, "big") + size.to_bytes(2, "big")
    return salt + sealer.seal(fixed) + sealer.seal(variable)


def craft_response(m: Method, request_salt: bytes, *, kind: int = 1, timestamp: int = NOW,
                   payload: bytes = b"response") -> bytes:
    salt = bytes(range(100, 100 + m.salt_size))
    sealer = Sealer(m, decode_psk(psk_of(m), m), salt)
    fixed = (bytes((kind,)) + timestamp.to_bytes(8, "big") + request_salt
             + len(payload).to_bytes(2, "big"))
    return salt + sealer.seal(fixed) + sealer.seal(payload)


def server_decoder(m: Method, store: SaltStore | None = None, now: int = NOW) -> RequestDecoder:
    salts = store if store is not None else SaltStore()
    return RequestDecoder(m, psk_of(m), salts=salts, clock=clock_at(now))


# --- the method rows and PSKs -----------------------------------------------------------------


def test_the_2022_rows_are_listed_apart() -> None:
    assert len(refcrypto.methods()) == 53
    assert len(refcrypto.methods(extensions=True)) == 65
    assert [m.name for m in M2022] == [
        "2022-blake3-aes-128-gcm", "2022-blake3-aes-256-gcm", "2022-blake3-chacha20-poly1305"]
    classic = set(refcrypto.methods(extensions=True))
    assert not classic & set(M2022)
    for m in M2022:
        assert refcrypto.method(m.name.upper()) is m
        assert m.category.value == "aead-2022" and m.is_2022 and not m.is_aead
        assert (m.key_size, m.salt_size, m.nonce_size, m.tag_size) == (
            {"2022-blake3-aes-128-gcm": 16}.get(m.name, 32),) * 2 + (12, 16)
        assert "SIP022" in m.spec and m.implemented
        assert m.as_dict()["category"] == "aead-2022"


@pytest.mark.parametrize("m", M2022, ids=ids)
def test_classic_codecs_refuse_2022_methods(m: Method) -> None:
    with pytest.raises(TypeError, match="Shadowsocks 2022"):
        refcrypto.Cryptor(psk_of(m), m)
    with pytest.raises(TypeError, match="Shadowsocks 2022"):
        refcrypto.encrypt_all(psk_of(m), m, b"x")
    with pytest.raises(TypeError, match="not a Shadowsocks 2022 method"):
        Cryptor2022(psk_of(m), "aes-256-gcm", role="client", target=TARGET)


@pytest.mark.parametrize("m", M2022, ids=ids)
def test_psk_decoding(m: Method) -> None:
    raw = bytes(range(m.key_size))
    text = base64.b64encode(raw).decode()
    assert decode_psk(text, m) == raw
    assert decode_psk(f"  {text}\n", m) == raw  # as `openssl rand -base64` prints it
    assert decode_psk(raw, m) == decode_psk(bytearray(raw), m) == raw
    with pytest.raises(InvalidPSK, match=f"{m.name}: PSK is not valid base64.*{m.key_size}"):
        decode_psk(text[:-2] + "!!", m)
    with pytest.raises(InvalidPSK, match="not valid base64"):
        decode_psk("naïve", m)
    short = base64.b64encode(raw[:-1]).decode()
    with pytest.raises(InvalidPSK, match=f"must be {m.key_size} bytes, base64 PSK decodes to "
                                         f"{m.key_size - 1}"):
        decode_psk(short, m)
    longer = base64.b64encode(raw + b"x").decode()
    with pytest.raises(InvalidPSK, match=f"must be {m.key_size} bytes"):
        decode_psk(longer, m)  # sing-box would hash it down with SHA-256; SIP022 forbids that
    with pytest.raises(InvalidPSK, match=f"raw PSK is {m.key_size + 1}"):
        decode_psk(raw + b"x", m)
    with pytest.raises(TypeError, match=r"psk must be str .* not int"):
        decode_psk(5, m)  # type: ignore[arg-type]
    with pytest.raises(InvalidPSK):
        Cryptor2022(short, m, role="client", target=TARGET)
    with pytest.raises(InvalidPSK):
        decode_psk_chain(f"{text}:{short}", m)


def test_chains_are_for_the_aes_methods_only() -> None:
    m = refcrypto.method("2022-blake3-chacha20-poly1305")
    with pytest.raises(MethodNotImplemented, match="AES methods only"):
        decode_psk_chain(f"{psk_of(m, 1)}:{psk_of(m, 2)}", m)
    aes = refcrypto.method("2022-blake3-aes-128-gcm")
    assert len(decode_psk_chain(f"{psk_of(aes, 1)}:{psk_of(aes, 2)}", aes)) == 2
    assert len(decode_psk_chain([psk_of(aes, 1), bytes(16), psk_of(aes, 3)], aes)) == 3


# --- round trips ------------------------------------------------------------------------------

split_points = st.lists(st.integers(min_value=0, max_value=1 << 18), max_size=8)


@pytest.mark.parametrize("m", M2022, ids=ids)
@given(request=st.lists(st.binary(max_size=3000), max_size=5),
       response=st.lists(st.binary(max_size=3000), max_size=5),
       up=split_points, down=split_points)
@settings(max_examples=25)
def test_round_trip_both_directions_at_any_split(
    m: Method, request: list[bytes], response: list[bytes], up: list[int], down: list[int]
) -> None:
    client, server, _ = pair(m)
    wire = client.start() + b"".join(client.encrypt(piece) for piece in request)
    got = b"".join(server.decrypt(piece) for piece in cut(wire, up))
    assert got == b"".join(request)
    assert server.target == TARGET and server.user is None
    assert server.request_salt == client.salt
    back = b"".join(server.encrypt(piece) for piece in response)
    assert b"".join(client.decrypt(piece) for piece in cut(back, down)) == b"".join(response)
    server.finish()
    client.finish()


@pytest.mark.parametrize("m", M2022, ids=ids)
@given(data=st.binary(min_size=1, max_size=200), address=st.sampled_from(
    [("example.com", 80), ("192.0.2.1", 53), ("2001:db8::1", 65535), ("ünïcode.example", 0)]))
@settings(max_examples=20)
def test_initial_payload_and_target(m: Method, data: bytes, address: tuple[str, int]) -> None:
    store = SaltStore()
    client = Cryptor2022(psk_of(m), m, role="client", target=address)
    server = Cryptor2022(psk_of(m), m, role="server", salts=store)
    assert server.decrypt(client.encrypt(data)) == data
    assert server.target == address


@pytest.mark.parametrize("m", M2022, ids=ids)
def test_one_byte_feeds_and_empty_writes(m: Method) -> None:
    client, server, _ = pair(m)
    data = bytes(range(256)) * 4
    wire = b"".join(client.encrypt(w) for w in (b"", data[:1], b"", data[1:]))
    assert server.decrypt(b"") == b""
    assert b"".join(server.decrypt(wire[i : i + 1]) for i in range(len(wire))) == data
    back = server.encrypt(b"") + server.encrypt(data)
    assert b"".join(client.decrypt(back[i : i + 1]) for i in range(len(back))) == data


@pytest.mark.parametrize("m", M2022, ids=ids)
def test_large_writes_split_at_0xffff(m: Method) -> None:
    client, server, _ = pair(m, padding=0)
    data = bytes(range(256)) * 700  # 179 200 bytes: the header chunk, then 0xFFFF chunks
    wire = client.encrypt(data)
    assert server.decrypt(wire) == data
    address = 2 + len(TARGET[0]) + 2
    first = MAX_CHUNK_PAYLOAD - address - 2
    rest = len(data) - first
    chunks = -(-rest // MAX_CHUNK_PAYLOAD)
    assert len(wire) == (m.salt_size + 11 + 16 + MAX_CHUNK_PAYLOAD + 16
                         + chunks * (2 + 16 + 16) + rest)
    back = server.encrypt(data)
    assert client.decrypt(back) == data
    assert len(back) == (m.salt_size + 1 + 8 + m.salt_size + 2 + 16 + len(data) + 16
                         + 2 * (2 + 16 + 16))


@pytest.mark.parametrize("m", M2022, ids=ids)
def test_salt_and_headers_leave_in_one_write(m: Method) -> None:
    client, server, _ = pair(m, salt=bytes(m.salt_size), padding=0)
    wire = client.encrypt(b"hello")
    assert wire[: m.salt_size] == bytes(m.salt_size) == client.salt
    # salt | fixed header 11+16 | variable header (address, padding length, payload) + 16
    assert len(wire) == m.salt_size + 27 + (2 + 11 + 2) + 2 + 5 + 16
    assert client.encrypt(b"more") != b"" and client.start() == b""
    decoder = server._decoder
    assert isinstance(decoder, RequestDecoder) and decoder.header_size == m.salt_size + 27
    assert server.decrypt(wire) == b"hello"
    back = server.encrypt(b"ok")
    assert len(back) == m.salt_size + (1 + 8 + m.salt_size + 2 + 16) + 2 + 16


@pytest.mark.parametrize("m", M2022, ids=ids)
def test_client_padding(m: Method) -> None:
    for _ in range(20):
        client, server, _ = pair(m)
        assert server.decrypt(client.start()) == b""  # no payload: 1..900 bytes of padding
        decoder = server._decoder
        assert isinstance(decoder, RequestDecoder)
        assert decoder.padding_length is not None and 1 <= decoder.padding_length <= 900
    client, server, _ = pair(m)
    server.decrypt(client.encrypt(b"x" * 900))  # a long first payload needs none (sing-box)
    assert server._decoder.padding_length == 0  # type: ignore[union-attr]
    client, server, _ = pair(m, padding=0)
    with pytest.raises(MissingPayloadOrPadding, match="padding=0 with no payload"):
        client.start()
    with pytest.raises(PaddingTooLong):
        Cryptor2022(psk_of(m), m, role="client", target=TARGET, padding=901)


# --- the wire, against an independent construction --------------------------------------------


def independent_aead(m: Method, key: bytes, nonce: bytes):  # type: ignore[no-untyped-def]
    if "aes" in m.name:
        return AES.new(key, AES.MODE_GCM, nonce=nonce, mac_len=16)
    return ChaCha20_Poly1305.new(key=key, nonce=nonce)


@pytest.mark.parametrize("m", M2022, ids=ids)
def test_wire_matches_an_independent_construction(m: Method) -> None:
    """The request and response streams rebuilt from SIP022 with the `blake3` bindings and
    pycryptodome's own AEAD objects, byte for byte."""
    blake3 = pytest.importorskip("blake3").blake3
    psk = decode_psk(psk_of(m), m)
    salt = bytes(range(7, 7 + m.salt_size))
    client = Cryptor2022(psk_of(m), m, role="client", target=("192.0.2.7", 8080), salt=salt,
                         clock=clock_at(NOW), padding=3)
    wire = client.encrypt(b"initial") + client.encrypt(b"second")

    subkey = blake3(psk + salt, derive_key_context="shadowsocks 2022 session subkey").digest(
        m.key_size)

    def seal(n: int, plain: bytes) -> bytes:
        ciphertext, tag = independent_aead(m, subkey, n.to_bytes(12, "little")
                                           ).encrypt_and_digest(plain)
        return bytes(ciphertext) + bytes(tag)

    variable = bytes([1, 192, 0, 2, 7]) + (8080).to_bytes(2, "big") + b"\x00\x03" + bytes(3)
    variable += b"initial"
    fixed = b"\x00" + NOW.to_bytes(8, "big") + len(variable).to_bytes(2, "big")
    expected = (salt + seal(0, fixed) + seal(1, variable) + seal(2, b"\x00\x06")
                + seal(3, b"second"))
    assert wire == expected

    response_salt = bytes(range(50, 50 + m.salt_size))
    server = Cryptor2022(psk_of(m), m, role="server", salts=SaltStore(), clock=clock_at(NOW + 1),
                         salt=response_salt)
    assert server.decrypt(wire) == b"initialsecond"
    back = server.encrypt(b"reply")
    subkey = blake3(psk + response_salt,
                    derive_key_context="shadowsocks 2022 session subkey").digest(m.key_size)
    fixed = b"\x01" + (NOW + 1).to_bytes(8, "big") + salt + b"\x00\x05"
    assert back == response_salt + seal(0, fixed) + seal(1, b"reply")


@pytest.mark.parametrize("m", M2022, ids=ids)
def test_empty_chunks_are_accepted(m: Method) -> None:
    """A length chunk of 0 (a tag-only payload chunk) is legal in SIP022, which has no
    SIP004 minimum; shadowsocks-rust reads it too. Encoders never send one."""
    salt = bytes(range(1, m.salt_size + 1))
    request = craft_request(m, salt=salt)
    sealer = Sealer(m, decode_psk(psk_of(m), m), salt)
    sealer.n = 2  # after the two header chunks
    tail = b"".join(sealer.seal(p) for p in (b"\x00\x00", b"", b"\x00\x01", b"!"))
    decoder = server_decoder(m)
    assert decoder.update(request + tail) == b"payload!"
    decoder.finish()


@pytest.mark.parametrize("m", M2022, ids=ids)
def test_fixed_salt_clock_and_padding_are_reproducible(m: Method) -> None:
    def stream() -> bytes:
        c = Cryptor2022(psk_of(m), m, role="client", target=TARGET, salt=bytes(m.salt_size),
                        clock=clock_at(NOW), padding=10)
        return c.encrypt(b"teaching example")

    assert stream() == stream()


# --- rejections -------------------------------------------------------------------------------


@pytest.mark.parametrize("m", M2022, ids=ids)
@pytest.mark.parametrize("skew", [-30, 30])
def test_timestamp_30_s_off_is_accepted(m: Method, skew: int) -> None:
    assert server_decoder(m, now=NOW + skew).update(craft_request(m)) == b"payload"
    request_salt = bytes(m.salt_size)
    decoder = ResponseDecoder(m, psk_of(m), request_salt, clock=clock_at(NOW + skew))
    assert decoder.update(craft_response(m, request_salt)) == b"response"


@pytest.mark.parametrize("m", M2022, ids=ids)
@pytest.mark.parametrize("skew", [-31, 31, NOW])
def test_timestamp_more_than_30_s_off_is_a_replay(m: Method, skew: int) -> None:
    store = SaltStore()
    decoder = server_decoder(m, store, now=NOW + skew)
    with pytest.raises(InvalidTimestamp, match=f"{m.name} request: timestamp {NOW}") as info:
        decoder.update(craft_request(m))
    assert info.value.plaintext == b""
    assert len(store) == 0  # a stale header does not reach the salt store
    request_salt = bytes(m.salt_size)
    client = ResponseDecoder(m, psk_of(m), request_salt, clock=clock_at(NOW + skew))
    with pytest.raises(InvalidTimestamp, match="response"):
        client.update(craft_response(m, request_salt))


@pytest.mark.parametrize("m", M2022, ids=ids)
def test_wrong_header_type(m: Method) -> None:
    with pytest.raises(InvalidHeaderType, match="request header type is 1, expected 0"):
        server_decoder(m).update(craft_request(m, kind=1))
    request_salt = bytes(m.salt_size)
    client = ResponseDecoder(m, psk_of(m), request_salt, clock=clock_at(NOW))
    with pytest.raises(InvalidHeaderType, match="response header type is 0, expected 1"):
        client.update(craft_response(m, request_salt, kind=0))


@pytest.mark.parametrize("m", M2022, ids=ids)
def test_response_naming_another_request_salt(m: Method) -> None:
    client, server, _ = pair(m)
    server.decrypt(client.encrypt(b"hi"))
    other = bytes(a ^ 1 for a in client.salt)
    with pytest.raises(RequestSaltMismatch, match="response names request salt") as info:
        client.decrypt(craft_response(m, other))
    assert info.value.plaintext == b""
    # Responses meant for another connection fail the same way.
    second, _, _ = pair(m)
    with pytest.raises(RequestSaltMismatch):
        second.decrypt(server.encrypt(b"for the first client"))


@pytest.mark.parametrize("m", M2022, ids=ids)
def test_request_with_neither_payload_nor_padding(m: Method) -> None:
    variable = b"\x01\x7f\x00\x00\x01\x00\x50" + b"\x00\x00"
    with pytest.raises(MissingPayloadOrPadding, match="neither initial payload nor padding"):
        server_decoder(m).update(craft_request(m, variable=variable))
    # Padding alone, or payload alone, is a valid request.
    assert server_decoder(m).update(craft_request(m, variable=variable[:-1] + b"\x01\x00")) == b""
    assert server_decoder(m).update(craft_request(m, variable=variable + b"p")) == b"p"


@pytest.mark.parametrize("m", M2022, ids=ids)
def test_padding_over_900(m: Method) -> None:
    ok = b"\x01\x7f\x00\x00\x01\x00\x50" + (900).to_bytes(2, "big") + bytes(900)
    assert server_decoder(m).update(craft_request(m, variable=ok)) == b""
    bad = b"\x01\x7f\x00\x00\x01\x00\x50" + (901).to_bytes(2, "big") + bytes(901) + b"data"
    with pytest.raises(PaddingTooLong, match="padding length 901 is over 900") as info:
        server_decoder(m).update(craft_request(m, variable=bad))
    assert info.value.plaintext == b""


@pytest.mark.parametrize("m", M2022, ids=ids)
@pytest.mark.parametrize("variable", [
    b"\x01\x7f\x00\x00\x01\x00\x50" + (10).to_bytes(2, "big") + bytes(9),  # padding runs past
    b"\x01\x7f\x00\x00\x01\x00\x50\x00",  # the padding length itself is cut
    b"\x01\x7f\x00\x00\x01\x00",  # the port is cut
    b"\x03\x20example.com\x00\x50\x00\x01\x00",  # the name is shorter than its length byte
    b"",  # an empty variable-length header
], ids=["padding", "padding-length", "port", "domain", "empty"])
def test_header_running_past_its_chunk(m: Method, variable: bytes) -> None:
    with pytest.raises(HeaderOverrun) as info:
        server_decoder(m).update(craft_request(m, variable=variable))
    assert info.value.plaintext == b""


@pytest.mark.parametrize("m", M2022, ids=ids)
def test_unknown_address_type(m: Method) -> None:
    with pytest.raises(InvalidAddress, match="unknown address type 0x02"):
        server_decoder(m).update(craft_request(m, variable=b"\x02" + bytes(10)))
    with pytest.raises(InvalidAddress, match="empty domain"):
        server_decoder(m).update(craft_request(m, variable=b"\x03\x00\x00\x50\x00\x01\x00"))


@pytest.mark.parametrize("m", M2022, ids=ids)
def test_replayed_salt(m: Method) -> None:
    store = SaltStore()
    request = craft_request(m)
    assert server_decoder(m, store).update(request) == b"payload"
    with pytest.raises(ReplayedSalt, match="already received") as info:
        server_decoder(m, store).update(request)
    assert info.value.plaintext == b""
    # Also a whole genuine connection, replayed 59 s later to a second decoder.
    client, server, store = pair(m)
    wire = client.encrypt(b"GET /")
    assert server.decrypt(wire) == b"GET /"
    late = Cryptor2022(psk_of(m), m, role="server", salts=store, clock=clock_at(NOW + 29))
    with pytest.raises(ReplayedSalt):
        late.decrypt(wire)
    with pytest.raises(DecoderFailed, match="ReplayedSalt"):
        late.decrypt(b"")


@pytest.mark.parametrize("m", M2022, ids=ids)
def test_client_salt_store_records_response_salts(m: Method) -> None:
    store = SaltStore()
    request_salt = bytes(m.salt_size)
    response = craft_response(m, request_salt)
    ResponseDecoder(m, psk_of(m), request_salt, salts=store, clock=clock_at(NOW)).update(response)
    assert response[: m.salt_size] in store
    with pytest.raises(ReplayedSalt):
        ResponseDecoder(m, psk_of(m), request_salt, salts=store,
                        clock=clock_at(NOW)).update(response)


def test_salt_store_keeps_salts_exactly_60_s() -> None:
    store = SaltStore()
    store.add(b"a" * 16, now=1000)
    store.add(b"b" * 16, now=1000)
    store.add(b"c" * 16, now=1030)
    with pytest.raises(ReplayedSalt):
        store.add(b"a" * 16, now=1059)
    assert len(store) == 3
    store.add(b"a" * 16, now=1060)  # 60 s on: forgotten, and stored afresh
    assert b"b" * 16 not in store and b"c" * 16 in store and len(store) == 2
    store.add(b"d" * 16, now=900)  # the clock stepped back: kept longer, never shorter
    store.expire(1089)
    assert b"d" * 16 in store
    store.expire(1120)
    assert len(store) == 0
    with pytest.raises(TypeError, match=r"salt must be a bytes-like object .*, not str"):
        store.add("salt", now=0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least 60"):
        SaltStore(lifetime=59)


def test_full_salt_store_refuses_new_sessions() -> None:
    store = SaltStore(max_size=2)
    store.add(b"1" * 32, now=0)
    store.add(b"2" * 32, now=10)
    with pytest.raises(SaltStoreFull, match="maximum of 2"):
        store.add(b"3" * 32, now=59)
    assert len(store) == 2 and b"3" * 32 not in store
    store.add(b"3" * 32, now=60)  # the first salt's 60 s are over
    m = refcrypto.method("2022-blake3-aes-256-gcm")
    full = SaltStore(max_size=1)
    full.add(b"x" * 32, now=NOW)
    with pytest.raises(SaltStoreFull):
        server_decoder(m, full).update(craft_request(m))


@pytest.mark.parametrize("m", M2022, ids=ids)
@given(where=st.integers(min_value=0), bit=st.integers(0, 7), bytewise=st.booleans())
@settings(max_examples=30)
def test_any_bit_flip_is_caught_before_release(m: Method, where: int, bit: int,
                                               bytewise: bool) -> None:
    client, server, _ = pair(m, padding=5)
    pieces = [b"first", b"second" * 10, b"third"]
    ends, wire = [], b""
    for piece in pieces:
        wire += client.encrypt(piece)
        ends.append(len(wire))
    position = where % len(wire)
    tampered = bytearray(wire)
    tampered[position] ^= 1 << bit
    bad = next(i for i, end in enumerate(ends) if position < end)
    released = b""
    with pytest.raises(RefcryptoError) as info:
        if bytewise:
            for i in range(len(tampered)):
                released += server.decrypt(tampered[i : i + 1])
        else:
            released += server.decrypt(bytes(tampered))
    assert isinstance(info.value, InvalidTag)
    assert released + info.value.plaintext == b"".join(pieces[:bad])
    with pytest.raises(DecoderFailed):
        server.decrypt(wire)


@pytest.mark.parametrize("m", M2022, ids=ids)
def test_wrong_psk(m: Method) -> None:
    client = Cryptor2022(psk_of(m, 1), m, role="client", target=TARGET)
    server = Cryptor2022(psk_of(m, 2), m, role="server", salts=SaltStore())
    with pytest.raises(InvalidTag, match=f"{m.name}: request fixed-length header"):
        server.decrypt(client.encrypt(b"x"))


@pytest.mark.parametrize("m", M2022, ids=ids)
def test_truncated_streams(m: Method) -> None:
    client, _, _ = pair(m)
    first = client.encrypt(b"abc")
    wire = first + client.encrypt(b"defg")
    for length in range(0, len(wire)):
        decoder = server_decoder(m)
        decoder.update(wire[:length])
        if length in (0, len(first)):  # nothing at all, or a whole write: complete
            decoder.finish()
            continue
        with pytest.raises(TruncatedData, match=m.name):
            decoder.finish()
    decoder = server_decoder(m)
    assert decoder.update(wire) == b"abcdefg"
    decoder.finish()


@pytest.mark.parametrize("m", M2022, ids=ids)
def test_server_cannot_answer_before_the_request(m: Method) -> None:
    client, server, _ = pair(m)
    assert server.encrypt(b"") == b""
    wire = client.encrypt(b"hello")
    server.decrypt(wire[: m.salt_size + 27])  # the fixed header only
    with pytest.raises(HandshakeIncomplete, match="request's headers"):
        server.encrypt(b"too early")
    assert server.decrypt(wire[m.salt_size + 27 :]) == b"hello"
    assert client.decrypt(server.encrypt(b"now")) == b"now"


@pytest.mark.parametrize("m", M2022, ids=ids)
def test_non_bytes_input_is_a_type_error(m: Method) -> None:
    client, server, _ = pair(m)
    with pytest.raises(TypeError, match=r"data must be a bytes-like object .*, not str"):
        client.encrypt("text")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"data must be a bytes-like object .*, not int"):
        server.decrypt(5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"data must be a bytes-like object .*, not list"):
        server.encrypt([1])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"salt must be a bytes-like object .*, not str"):
        Cryptor2022(psk_of(m), m, role="client", target=TARGET, salt="s" * m.salt_size)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="address must be a"):
        Cryptor2022(psk_of(m), m, role="client", target="example.com:80")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="needs target"):
        Cryptor2022(psk_of(m), m, role="client")
    with pytest.raises(TypeError, match="needs salts"):
        Cryptor2022(psk_of(m), m, role="server")
    with pytest.raises(ValueError, match="role must be"):
        Cryptor2022(psk_of(m), m, role="relay", target=TARGET)  # type: ignore[arg-type]
    assert client.encrypt(bytearray(b"ok")) and server.decrypt(memoryview(b""))  == b""


@pytest.mark.parametrize("m", M2022, ids=ids)
def test_sans_io_codecs(m: Method) -> None:
    psk = psk_of(m)
    encoder = new_encoder_2022(m, psk, role="client", target=TARGET, clock=clock_at(NOW))
    assert isinstance(encoder, RequestEncoder)
    decoder = new_decoder_2022(m, psk, role="server", salts=SaltStore(), clock=clock_at(NOW))
    assert isinstance(decoder, RequestDecoder)
    assert decoder.update(encoder.update(b"up")) == b"up"
    assert decoder.salt == encoder.salt and decoder.timestamp == NOW
    back = new_encoder_2022(m, psk, role="server", request_salt=encoder.salt)
    assert isinstance(back, ResponseEncoder)
    reader = new_decoder_2022(m, psk, role="client", request_salt=encoder.salt)
    assert isinstance(reader, ResponseDecoder)
    assert reader.update(back.update(b"down")) == b"down"
    assert reader.header_size == 2 * m.salt_size + 11 + 16
    with pytest.raises(TypeError, match="request_salt"):
        new_encoder_2022(m, psk, role="server")
    with pytest.raises(TypeError, match="request_salt"):
        new_decoder_2022(m, psk, role="client")
