"""The Shadowsocks wire for every method: TCP round trips at any split, IV/salt prefixing,
SIP004 chunking and its failure modes, and UDP packets."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import refcrypto
from refcrypto import Cryptor, decrypt_all, encrypt_all
from refcrypto.errors import (
    DecoderFailed,
    InvalidChunkLength,
    InvalidIVSize,
    InvalidTag,
    TruncatedData,
)
from refcrypto.kdf import session_subkey
from refcrypto.methods import Method
from refcrypto.wire.aead import MAX_CHUNK_PAYLOAD

ALL = refcrypto.methods(extensions=True)
AEAD = [m for m in ALL if m.is_aead]
STREAM = [m for m in ALL if not m.is_aead]


def ids(m: Method) -> str:
    return m.name


def cut(data: bytes, points: list[int]) -> list[bytes]:
    """Split ``data`` at the given points (taken modulo len + 1, sorted; duplicates give empty
    pieces, which the codecs must accept)."""
    edges = sorted(p % (len(data) + 1) for p in points)
    pieces, last = [], 0
    for edge in edges:
        pieces.append(data[last:edge])
        last = edge
    pieces.append(data[last:])
    return pieces


def run_session(m: Method, data: bytes, enc_points: list[int], dec_points: list[int]) -> bytes:
    sender, receiver = Cryptor("pass-word", m), Cryptor("pass-word", m)
    wire = b"".join(sender.encrypt(piece) for piece in cut(data, enc_points))
    return b"".join(receiver.decrypt(piece) for piece in cut(wire, dec_points))


split_points = st.lists(st.integers(min_value=0, max_value=1 << 16), max_size=8)


def test_every_method_is_implemented() -> None:
    missing = [m.name for m in ALL if not m.implemented]
    assert missing == []


@pytest.mark.parametrize("m", ALL, ids=ids)
@given(data=st.binary(max_size=2048), enc=split_points, dec=split_points)
def test_round_trip_at_any_split(m: Method, data: bytes, enc: list[int], dec: list[int]) -> None:
    assert run_session(m, data, enc, dec) == data


@pytest.mark.parametrize("m", ALL, ids=ids)
def test_round_trip_one_byte_feeds_and_empty_writes(m: Method) -> None:
    data = bytes(range(256)) * 3
    sender, receiver = Cryptor(b"\x00\xffbytes-password", m), Cryptor(b"\x00\xffbytes-password", m)
    writes = [b"", data[:1], b"", data[1:]]
    wire = b"".join(sender.encrypt(w) for w in writes)
    out = [receiver.decrypt(wire[i : i + 1]) for i in range(len(wire))]
    assert receiver.decrypt(b"") == b""
    assert b"".join(out) == data


@pytest.mark.parametrize("m", ALL, ids=ids)
def test_iv_prefix_sent_once_and_fresh(m: Method) -> None:
    a, b = Cryptor("pw", m), Cryptor("pw", m)
    assert a.encrypt(b"") == b""  # nothing, not even the IV, for an empty write
    first, second = a.encrypt(b"x" * 10), a.encrypt(b"y" * 10)
    assert len(a.cipher_iv) == m.iv_size
    assert first[: m.iv_size] == a.cipher_iv
    overhead = (2 + 2 * m.tag_size) if m.is_aead else 0
    assert len(first) == m.iv_size + 10 + overhead
    assert len(second) == 10 + overhead  # the IV is not sent again
    if m.iv_size:
        assert a.cipher_iv != b.cipher_iv


@pytest.mark.parametrize("m", ALL, ids=ids)
def test_decoder_waits_for_the_whole_iv(m: Method) -> None:
    sender = Cryptor("pw", m)
    wire = sender.encrypt(b"payload that follows the prefix")
    receiver = refcrypto.new_decoder(m, refcrypto.master_key("pw", m))
    # Everything but the last prefix byte: nothing can be decrypted yet, nothing is lost.
    assert receiver.update(wire[: max(m.iv_size - 1, 0)]) == b""
    assert receiver.update(wire[max(m.iv_size - 1, 0) :]) == b"payload that follows the prefix"


@pytest.mark.parametrize("m", ALL, ids=ids)
def test_fixed_iv_is_reproducible_and_checked(m: Method) -> None:
    iv = bytes(range(m.iv_size))
    one = Cryptor("pw", m, iv=iv).encrypt(b"teaching example")
    two = Cryptor("pw", m, iv=iv).encrypt(b"teaching example")
    assert one == two and one[: m.iv_size] == iv
    with pytest.raises(InvalidIVSize, match=m.name):
        Cryptor("pw", m, iv=bytes(m.iv_size + 1))


@pytest.mark.parametrize("m", ALL, ids=ids)
@given(data=st.binary(max_size=600), iv_seed=st.binary(min_size=32, max_size=32))
@settings(max_examples=15)
def test_udp_round_trip(m: Method, data: bytes, iv_seed: bytes) -> None:
    iv = iv_seed[: m.iv_size]
    packet = encrypt_all("pw", m, data, iv=iv)
    assert packet[: m.iv_size] == iv
    assert len(packet) == m.iv_size + len(data) + m.tag_size
    assert decrypt_all("pw", m, packet) == data
    # A fresh random IV/salt per packet when none is given.
    if m.iv_size:
        assert encrypt_all("pw", m, data)[: m.iv_size] != encrypt_all("pw", m, data)[: m.iv_size]


@pytest.mark.parametrize("m", [m for m in ALL if m.iv_size + m.tag_size], ids=ids)
def test_udp_too_short(m: Method) -> None:
    # (table and rc4 have neither prefix nor tag: any length is a packet.)
    with pytest.raises(TruncatedData, match=m.name):
        decrypt_all("pw", m, bytes(m.iv_size + m.tag_size - 1))


# --- AEAD specifics ---------------------------------------------------------------------------

chunk_sizes = st.lists(st.integers(min_value=1, max_value=300), min_size=1, max_size=6)


def make_stream(m: Method, sizes: list[int]) -> tuple[bytes, list[bytes], list[int]]:
    """A TCP stream of one chunk per write; returns wire, payloads and the wire end of each
    chunk (the salt counts as part of the first)."""
    sender = Cryptor("pw", m)
    payloads = [bytes([i % 251]) * size for i, size in enumerate(sizes)]
    ends, wire = [], b""
    for payload in payloads:
        wire += sender.encrypt(payload)
        ends.append(len(wire))
    return wire, payloads, ends


@pytest.mark.parametrize("m", AEAD, ids=ids)
@given(sizes=chunk_sizes, where=st.integers(min_value=0), bit=st.integers(0, 7), data=st.data())
@settings(max_examples=30)
def test_aead_any_bit_flip_is_caught_before_release(
    m: Method, sizes: list[int], where: int, bit: int, data: st.DataObject
) -> None:
    wire, payloads, ends = make_stream(m, sizes)
    position = where % len(wire)
    tampered = bytearray(wire)
    tampered[position] ^= 1 << bit
    bad_chunk = next(i for i, end in enumerate(ends) if position < end)
    feed = data.draw(st.sampled_from(["all", "bytewise"]))
    receiver = Cryptor("pw", m)
    released = b""
    with pytest.raises(InvalidTag) as info:
        if feed == "all":
            released += receiver.decrypt(bytes(tampered))
        else:
            for i in range(len(tampered)):
                released += receiver.decrypt(tampered[i : i + 1])
    released += info.value.plaintext
    # Exactly the chunks before the tampered one were released; nothing of it or after it.
    assert released == b"".join(payloads[:bad_chunk])
    with pytest.raises(DecoderFailed):
        receiver.decrypt(b"")
    with pytest.raises(DecoderFailed):
        receiver.decrypt(wire)


@pytest.mark.parametrize("m", AEAD, ids=ids)
@given(sizes=chunk_sizes, where=st.integers(min_value=0))
@settings(max_examples=30)
def test_aead_truncated_stream_yields_complete_chunks(
    m: Method, sizes: list[int], where: int
) -> None:
    wire, payloads, ends = make_stream(m, sizes)
    length = where % (len(wire) + 1)
    decoder = refcrypto.new_decoder(m, refcrypto.master_key("pw", m))
    released = decoder.update(wire[:length])
    complete = sum(1 for end in ends if end <= length)
    assert released == b"".join(payloads[:complete])
    if length in (0, *ends):  # the salt alone (length == salt size) is truncated too
        decoder.finish()
    else:
        with pytest.raises(TruncatedData, match=m.name):
            decoder.finish()


@pytest.mark.parametrize("m", AEAD, ids=ids)
def test_aead_wrong_password(m: Method) -> None:
    wire = Cryptor("right", m).encrypt(b"secret")
    with pytest.raises(InvalidTag, match=m.name):
        Cryptor("wrong", m).decrypt(wire)
    with pytest.raises(InvalidTag):
        decrypt_all("wrong", m, encrypt_all("right", m, b"secret"))


@pytest.mark.parametrize("m", AEAD, ids=ids)
@given(where=st.integers(min_value=0), bit=st.integers(0, 7))
@settings(max_examples=20)
def test_udp_tamper_detected(m: Method, where: int, bit: int) -> None:
    packet = bytearray(encrypt_all("pw", m, b"datagram payload"))
    packet[where % len(packet)] ^= 1 << bit
    with pytest.raises(InvalidTag):
        decrypt_all("pw", m, bytes(packet))


def forge_chunk(m: Method, length_field: int) -> bytes:
    """salt || a correctly sealed length chunk carrying ``length_field``."""
    salt = bytes(m.salt_size)
    aead = m.new_aead(session_subkey(refcrypto.master_key("pw", m), salt))
    return salt + aead.seal(bytes(m.nonce_size), length_field.to_bytes(2, "big"))


@pytest.mark.parametrize("m", AEAD, ids=ids)
@pytest.mark.parametrize("length_field", [0, 0x4000, 0x8001, 0xFFFF])
def test_aead_rejects_zero_and_reserved_lengths(m: Method, length_field: int) -> None:
    receiver = Cryptor("pw", m)
    with pytest.raises(InvalidChunkLength, match=m.name):
        receiver.decrypt(forge_chunk(m, length_field))
    with pytest.raises(DecoderFailed):
        receiver.decrypt(b"more")


@pytest.mark.parametrize("m", AEAD, ids=ids)
def test_aead_accepts_the_largest_length(m: Method) -> None:
    receiver = Cryptor("pw", m)
    assert receiver.decrypt(forge_chunk(m, MAX_CHUNK_PAYLOAD)) == b""  # waits for the payload


@pytest.mark.parametrize("m", AEAD, ids=ids)
def test_large_write_is_split_into_max_chunks(m: Method) -> None:
    # SIP004: a 40000-byte write becomes chunks of 16383, 16383 and 7234.
    data = bytes(range(256)) * 156 + bytes(64)
    assert len(data) == 40000
    wire = Cryptor("pw", m).encrypt(data)
    overhead = 2 + 2 * m.tag_size
    assert len(wire) == m.salt_size + 3 * overhead + len(data)
    decoder = refcrypto.new_decoder(m, refcrypto.master_key("pw", m))
    chunk1_end = m.salt_size + overhead + MAX_CHUNK_PAYLOAD
    assert decoder.update(wire[:chunk1_end]) == data[:MAX_CHUNK_PAYLOAD]
    assert decoder.update(wire[chunk1_end:]) == data[MAX_CHUNK_PAYLOAD:]


# --- Names that are the same wire ----------------------------------------------------------------

SAME_WIRE = [(f"mbedtls:aes-{b}-cfb128", f"aes-{b}-cfb") for b in (128, 192, 256)]
SAME_WIRE += [(f"mbedtls:aes-{b}-ctr", f"aes-{b}-ctr") for b in (128, 192, 256)]
SAME_WIRE += [(f"mbedtls:camellia-{b}-cfb128", f"camellia-{b}-cfb") for b in (128, 192, 256)]
SAME_WIRE += [(f"mbedtls:aes-{b}-gcm", f"aes-{b}-gcm") for b in (128, 192, 256)]
SAME_WIRE += [("sodium:aes-256-gcm", "aes-256-gcm")]


@pytest.mark.parametrize("pair", SAME_WIRE, ids=lambda p: p[0])
def test_aliased_names_give_identical_wire(pair: tuple[str, str]) -> None:
    first, second = (refcrypto.method(name) for name in pair)
    iv = bytes(range(first.iv_size))
    data = bytes(range(200)) * 3
    assert Cryptor("pw", first, iv=iv).encrypt(data) == Cryptor("pw", second, iv=iv).encrypt(data)
    assert encrypt_all("pw", first, data, iv=iv) == encrypt_all("pw", second, data, iv=iv)
