"""Shadowsocks 2022 UDP (SIP022 3.2 and 4.1): round trips both ways for the three methods,
the packet layout against an independent construction, timestamps, padding, session
routing and the sliding-window replay filter."""

from __future__ import annotations

import base64

import pytest
from Crypto.Cipher import AES, ChaCha20_Poly1305
from hypothesis import given, settings
from hypothesis import strategies as st

import refcrypto
from refcrypto.errors import (
    HandshakeIncomplete,
    HeaderOverrun,
    InvalidAddress,
    InvalidHeaderType,
    InvalidNonceSize,
    InvalidTag,
    InvalidTimestamp,
    PaddingTooLong,
    ReplayedPacket,
    SessionMismatch,
    SessionTableFull,
    TooManyServerSessions,
    TruncatedData,
)
from refcrypto.methods import Method
from refcrypto.wire.ss2022 import Datagram, PacketWindow, UdpClient2022, UdpServer2022, decode_psk
from refcrypto.wire.ss2022.keys import session_subkey
from refcrypto.wire.ss2022.udp import WINDOW_SIZE

M2022 = refcrypto.methods(edition2022=True)
AES_METHODS = [m for m in M2022 if "aes" in m.name]
NOW = 1_700_000_000
DNS = ("192.0.2.53", 53)


def ids(m: Method) -> str:
    return m.name


def psk_of(m: Method, seed: int = 1) -> str:
    return base64.b64encode(bytes((seed + i) % 256 for i in range(m.key_size))).decode()


class Clock:
    """A settable clock."""

    def __init__(self, now: int = NOW) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def endpoints(m: Method, **server: object) -> tuple[UdpClient2022, UdpServer2022, Clock]:
    clock = Clock()
    client = UdpClient2022(psk_of(m), m, clock=clock)
    return client, UdpServer2022(psk_of(m), m, clock=clock, **server), clock  # type: ignore[arg-type]


def craft(m: Method, session_id: int, packet_id: int, body: bytes, seed: int = 1) -> bytes:
    """A packet sealed as SIP022 3.2.1 / 4.1 say, around any body."""
    psk = decode_psk(psk_of(m, seed), m)
    separate = session_id.to_bytes(8, "big") + packet_id.to_bytes(8, "big")
    if "aes" in m.name:
        aead = m.new_aead(session_subkey(psk, separate[:8]))
        return AES.new(psk, AES.MODE_ECB).encrypt(separate) + aead.seal(separate[4:], body)
    nonce = bytes(range(24))
    ciphertext, tag = ChaCha20_Poly1305.new(key=psk, nonce=nonce).encrypt_and_digest(
        separate + body)
    return nonce + ciphertext + tag


def client_body(timestamp: int = NOW, padding: bytes = b"", kind: int = 0,
                address: bytes = b"\x01\xc0\x00\x02\x01\x00\x35", payload: bytes = b"q") -> bytes:
    return (bytes((kind,)) + timestamp.to_bytes(8, "big") + len(padding).to_bytes(2, "big")
            + padding + address + payload)


# --- round trips ------------------------------------------------------------------------------


@pytest.mark.parametrize("m", M2022, ids=ids)
@given(packets=st.lists(st.tuples(st.binary(max_size=1500), st.binary(max_size=1500)),
                        min_size=1, max_size=5),
       target=st.sampled_from([("example.com", 443), DNS, ("2001:db8::5", 5353)]))
@settings(max_examples=20)
def test_round_trip_both_directions(m: Method, packets: list[tuple[bytes, bytes]],
                                    target: tuple[str, int]) -> None:
    client, server, _ = endpoints(m)
    for packet_id, (query, answer) in enumerate(packets):
        got = server.decrypt(client.encrypt(query, target))
        assert isinstance(got, Datagram)
        assert (got.payload, got.address, got.session_id, got.packet_id, got.user) == (
            query, target, client.session_id, packet_id, None)
        reply = client.decrypt(server.encrypt(got.session_id, answer, target))
        assert (reply.payload, reply.address, reply.packet_id) == (answer, target, packet_id)
        assert reply.session_id != client.session_id  # the server's own session ID
    assert len(server) == 1


@pytest.mark.parametrize("m", M2022, ids=ids)
def test_many_clients_are_separate_sessions(m: Method) -> None:
    server = UdpServer2022(psk_of(m), m, clock=Clock())
    clients = [UdpClient2022(psk_of(m), m, clock=Clock()) for _ in range(5)]
    for client in clients:
        got = server.decrypt(client.encrypt(b"hi", DNS))
        assert client.decrypt(server.encrypt(got.session_id, b"yo", DNS)).payload == b"yo"
    assert len(server) == 5


@pytest.mark.parametrize("m", M2022, ids=ids)
def test_fixed_ids_clock_and_padding_are_reproducible(m: Method) -> None:
    def packet() -> bytes:
        client = UdpClient2022(psk_of(m), m, session_id=7, clock=Clock())
        return client.encrypt(b"teaching", DNS, padding=4, nonce=bytes(24))

    assert packet() == packet()


# --- the wire, against an independent construction --------------------------------------------


@pytest.mark.parametrize("m", AES_METHODS, ids=ids)
def test_aes_packet_matches_an_independent_construction(m: Method) -> None:
    blake3 = pytest.importorskip("blake3").blake3
    psk = decode_psk(psk_of(m), m)
    client = UdpClient2022(psk_of(m), m, session_id=0x0102030405060708, clock=Clock())
    client.next_packet_id = 0x1122
    packet = client.encrypt(b"payload", ("192.0.2.1", 80), padding=2)
    separate = (0x0102030405060708).to_bytes(8, "big") + (0x1122).to_bytes(8, "big")
    subkey = blake3(psk + separate[:8], derive_key_context="shadowsocks 2022 session subkey"
                    ).digest(m.key_size)
    body = (b"\x00" + NOW.to_bytes(8, "big") + b"\x00\x02\x00\x00" + b"\x01\xc0\x00\x02\x01"
            + (80).to_bytes(2, "big") + b"payload")
    ciphertext, tag = AES.new(subkey, AES.MODE_GCM, nonce=separate[4:]).encrypt_and_digest(body)
    assert packet == AES.new(psk, AES.MODE_ECB).encrypt(separate) + ciphertext + tag
    assert client.next_packet_id == 0x1123


def test_chacha_packet_matches_an_independent_construction() -> None:
    m = refcrypto.method("2022-blake3-chacha20-poly1305")
    psk = decode_psk(psk_of(m), m)
    client = UdpClient2022(psk_of(m), m, session_id=9, clock=Clock())
    nonce = bytes(range(24))
    packet = client.encrypt(b"payload", ("example.com", 443), padding=0, nonce=nonce)
    plain = ((9).to_bytes(8, "big") + (0).to_bytes(8, "big") + b"\x00" + NOW.to_bytes(8, "big")
             + b"\x00\x00" + b"\x03\x0bexample.com" + (443).to_bytes(2, "big") + b"payload")
    ciphertext, tag = ChaCha20_Poly1305.new(key=psk, nonce=nonce).encrypt_and_digest(plain)
    assert packet == nonce + ciphertext + tag
    with pytest.raises(InvalidNonceSize, match="24 bytes"):
        client.encrypt(b"x", DNS, nonce=bytes(12))


@pytest.mark.parametrize("m", AES_METHODS, ids=ids)
def test_server_reply_layout(m: Method) -> None:
    psk = decode_psk(psk_of(m), m)
    client, server, _ = endpoints(m)
    got = server.decrypt(client.encrypt(b"q", DNS))
    reply = server.encrypt(got.session_id, b"answer", DNS)
    separate = AES.new(psk, AES.MODE_ECB).decrypt(reply[:16])
    assert separate[8:] == bytes(8)  # the server numbers its packets from 0
    aead = m.new_aead(session_subkey(psk, separate[:8]))
    body = aead.open(separate[4:], reply[16:])
    assert body[0] == 1 and body[9:17] == client.session_id.to_bytes(8, "big")
    assert body[17:19] == b"\x00\x00"  # no padding from the server (as sing-box)


# --- padding ----------------------------------------------------------------------------------


@pytest.mark.parametrize("m", M2022, ids=ids)
def test_dns_queries_are_padded_others_not(m: Method) -> None:
    client, server, _ = endpoints(m)
    for _ in range(10):
        got = server.decrypt(client.encrypt(b"query", DNS))
        assert 1 <= got.padding_length <= 900 - 5
        assert server.decrypt(client.encrypt(b"x", ("192.0.2.1", 443))).padding_length == 0
    assert server.decrypt(client.encrypt(b"q" * 900, DNS)).padding_length == 0
    assert server.decrypt(client.encrypt(b"q", DNS, padding=1000)).padding_length == 1000
    with pytest.raises(PaddingTooLong):
        client.encrypt(b"q", DNS, padding=70000)
    with pytest.raises(TypeError, match="padding must be an int"):
        client.encrypt(b"q", DNS, padding="5")  # type: ignore[arg-type]


@pytest.mark.parametrize("m", M2022, ids=ids)
def test_padding_running_past_the_packet(m: Method) -> None:
    server = UdpServer2022(psk_of(m), m, clock=Clock())
    body = client_body()[:9] + (500).to_bytes(2, "big") + bytes(20)
    with pytest.raises(HeaderOverrun, match="500 bytes of padding"):
        server.decrypt(craft(m, 1, 0, body))
    with pytest.raises(HeaderOverrun, match="address"):
        server.decrypt(craft(m, 1, 0, client_body(address=b"\x04" + bytes(5), payload=b"")))
    with pytest.raises(HeaderOverrun, match="shorter than its header"):
        server.decrypt(craft(m, 1, 0, b"\x00" + bytes(5)))
    with pytest.raises(InvalidAddress):
        server.decrypt(craft(m, 1, 0, client_body(address=b"\x09" + bytes(6))))
    assert len(server) == 0


# --- timestamps and types ---------------------------------------------------------------------


@pytest.mark.parametrize("m", M2022, ids=ids)
@pytest.mark.parametrize("skew", [-30, 30])
def test_timestamp_30_s_off_is_accepted(m: Method, skew: int) -> None:
    client, server, clock = endpoints(m)
    packet = client.encrypt(b"q", DNS)
    clock.now = NOW + skew
    got = server.decrypt(packet)
    reply = server.encrypt(got.session_id, b"a", DNS)
    clock.now = NOW
    assert client.decrypt(reply).payload == b"a"


@pytest.mark.parametrize("m", M2022, ids=ids)
@pytest.mark.parametrize("skew", [-31, 31])
def test_timestamp_more_than_30_s_off_is_a_replay(m: Method, skew: int) -> None:
    client, server, clock = endpoints(m)
    packet = client.encrypt(b"q", DNS)
    clock.now = NOW + skew
    with pytest.raises(InvalidTimestamp, match="client packet: timestamp"):
        server.decrypt(packet)
    assert len(server) == 0  # no session for a rejected packet
    clock.now = NOW
    got = server.decrypt(packet)  # the same packet in time: nothing was recorded before
    reply = server.encrypt(got.session_id, b"a", DNS)
    clock.now = NOW - skew
    with pytest.raises(InvalidTimestamp, match="server packet"):
        client.decrypt(reply)


@pytest.mark.parametrize("m", M2022, ids=ids)
def test_wrong_header_type(m: Method) -> None:
    client, server, _ = endpoints(m)
    with pytest.raises(InvalidHeaderType, match="header type is 1, expected 0"):
        server.decrypt(craft(m, 5, 0, client_body(kind=1)))
    # A client's own packet reflected back to it.
    with pytest.raises(InvalidHeaderType, match="header type is 0, expected 1"):
        client.decrypt(client.encrypt(b"q", DNS))
    # A server's reply sent to a server.
    got = server.decrypt(client.encrypt(b"q", DNS))
    with pytest.raises(InvalidHeaderType):
        UdpServer2022(psk_of(m), m, clock=Clock()).decrypt(server.encrypt(got.session_id, b"a",
                                                                          DNS))


@pytest.mark.parametrize("m", M2022, ids=ids)
def test_reply_for_another_client_session(m: Method) -> None:
    alice, server, _ = endpoints(m)
    bob = UdpClient2022(psk_of(m), m, clock=Clock())
    got = server.decrypt(alice.encrypt(b"q", DNS))
    with pytest.raises(SessionMismatch, match="names client session"):
        bob.decrypt(server.encrypt(got.session_id, b"for alice", DNS))


# --- authentication and sizes -----------------------------------------------------------------


@pytest.mark.parametrize("m", M2022, ids=ids)
@given(where=st.integers(min_value=0), bit=st.integers(0, 7))
@settings(max_examples=30)
def test_any_bit_flip_is_refused_and_changes_nothing(m: Method, where: int, bit: int) -> None:
    client, server, _ = endpoints(m)
    packet = bytearray(client.encrypt(b"datagram", ("example.com", 443)))
    packet[where % len(packet)] ^= 1 << bit
    with pytest.raises(InvalidTag, match="failed authentication"):
        server.decrypt(bytes(packet))
    assert len(server) == 0


@pytest.mark.parametrize("m", M2022, ids=ids)
def test_wrong_psk_and_short_packets(m: Method) -> None:
    client = UdpClient2022(psk_of(m, 1), m, clock=Clock())
    server = UdpServer2022(psk_of(m, 2), m, clock=Clock())
    with pytest.raises(InvalidTag):
        server.decrypt(client.encrypt(b"q", DNS))
    minimum = 16 + 16 + (24 if "chacha" in m.name else 0)
    for size in (0, minimum - 1):
        with pytest.raises(TruncatedData, match="too short"):
            server.decrypt(bytes(size))
        with pytest.raises(TruncatedData, match="too short"):
            client.decrypt(bytes(size))


@pytest.mark.parametrize("m", M2022, ids=ids)
def test_non_bytes_input_is_a_type_error(m: Method) -> None:
    client, server, _ = endpoints(m)
    with pytest.raises(TypeError, match=r"payload must be a bytes-like object .*, not str"):
        client.encrypt("q", DNS)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"packet must be a bytes-like object .*, not NoneType"):
        server.decrypt(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"packet must be a bytes-like object .*, not int"):
        client.decrypt(7)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="address must be"):
        client.encrypt(b"q", ("example.com", "53"))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="session_id must be"):
        UdpClient2022(psk_of(m), m, session_id=1 << 64)
    with pytest.raises(TypeError, match="session_id must be int"):
        server.encrypt("1", b"x", DNS)  # type: ignore[arg-type]
    got = server.decrypt(client.encrypt(bytearray(b"q"), DNS))
    assert server.encrypt(got.session_id, memoryview(b"a"), DNS)


# --- sessions ---------------------------------------------------------------------------------


@pytest.mark.parametrize("m", M2022, ids=ids)
def test_server_replies_only_to_live_sessions(m: Method) -> None:
    client, server, clock = endpoints(m, session_timeout=60)
    with pytest.raises(HandshakeIncomplete, match="no live session"):
        server.encrypt(client.session_id, b"a", DNS)
    got = server.decrypt(client.encrypt(b"q", DNS))
    clock.now = NOW + 59
    server.expire(clock.now)
    assert server.encrypt(got.session_id, b"a", DNS)
    clock.now = NOW + 60
    server.expire(clock.now)
    assert len(server) == 0
    with pytest.raises(HandshakeIncomplete):
        server.encrypt(got.session_id, b"a", DNS)
    with pytest.raises(ValueError, match="at least 60"):
        UdpServer2022(psk_of(m), m, session_timeout=59)


@pytest.mark.parametrize("m", M2022, ids=ids)
def test_full_session_table_refuses_new_sessions(m: Method) -> None:
    client, server, clock = endpoints(m, max_sessions=1, session_timeout=60)
    server.decrypt(client.encrypt(b"q", DNS))
    other = UdpClient2022(psk_of(m), m, clock=clock)
    with pytest.raises(SessionTableFull, match="1 sessions are live"):
        server.decrypt(other.encrypt(b"q", DNS))
    assert server.decrypt(client.encrypt(b"again", DNS)).payload == b"again"  # existing: fine
    clock.now += 60
    assert server.decrypt(other.encrypt(b"q", DNS)).session_id == other.session_id


@pytest.mark.parametrize("m", M2022, ids=ids)
def test_client_keeps_at_most_two_server_sessions(m: Method) -> None:
    client, first, clock = endpoints(m)
    servers = [first, UdpServer2022(psk_of(m), m, clock=clock),
               UdpServer2022(psk_of(m), m, clock=clock)]
    query = client.encrypt(b"q", DNS)
    replies = []
    for server in servers:  # the same query to three servers (restarts, say)
        got = server.decrypt(query)
        replies.append(server.encrypt(got.session_id, b"a", DNS))
    client.decrypt(replies[0])
    client.decrypt(replies[1])  # the second server session: the first becomes the old one
    with pytest.raises(TooManyServerSessions, match="third server session"):
        client.decrypt(replies[2])
    clock.now += 60  # the old session's last packet is a minute old: it may go
    reply = servers[2].encrypt(client.session_id, b"late", DNS)
    assert client.decrypt(reply).payload == b"late"


# --- the sliding window -----------------------------------------------------------------------


def accept(window: PacketWindow, packet_id: int) -> None:
    window.check(packet_id)
    window.add(packet_id)


def test_window_in_order_and_out_of_order_within_it() -> None:
    window = PacketWindow()
    for packet_id in range(100):
        accept(window, packet_id)
    accept(window, 200)
    for packet_id in (150, 101, 199, 200 - WINDOW_SIZE + 1):  # late but inside the window
        accept(window, packet_id)
    assert window.highest == 200


def test_window_duplicates() -> None:
    window = PacketWindow()
    for packet_id in (0, 5, 3):
        accept(window, packet_id)
    for packet_id in (0, 5, 3):
        with pytest.raises(ReplayedPacket, match=f"packet ID {packet_id} was already received"):
            window.check(packet_id)
    window.check(4)  # never seen: fine


def test_window_too_old() -> None:
    window = PacketWindow()
    accept(window, 0)
    accept(window, WINDOW_SIZE)  # 0 is now exactly the size behind: out of the window
    with pytest.raises(ReplayedPacket, match="outside the window of 8128"):
        window.check(0)
    window.check(1)
    accept(window, 10 * WINDOW_SIZE)  # a big jump forgets everything before the window
    with pytest.raises(ReplayedPacket, match="outside the window"):
        window.check(9 * WINDOW_SIZE)
    accept(window, 10 * WINDOW_SIZE - 1)
    with pytest.raises(ValueError, match="at least 64"):
        PacketWindow(63)


@given(ids_=st.lists(st.integers(min_value=0, max_value=3 * 64), max_size=60),
       size=st.integers(min_value=64, max_value=96))
def test_window_against_a_model(ids_: list[int], size: int) -> None:
    window, seen, highest = PacketWindow(size), set(), -1
    for packet_id in ids_:
        fresh = packet_id not in seen and highest - packet_id < size
        try:
            window.check(packet_id)
        except ReplayedPacket:
            assert not fresh
            continue
        assert fresh
        window.add(packet_id)
        seen.add(packet_id)
        highest = max(highest, packet_id)


@pytest.mark.parametrize("m", M2022, ids=ids)
def test_replayed_and_reordered_packets_through_the_server(m: Method) -> None:
    client, server, _ = endpoints(m)
    packets = [client.encrypt(bytes([i]), DNS) for i in range(5)]
    for i in (0, 3, 1, 4, 2):  # out of order, inside the window
        assert server.decrypt(packets[i]).packet_id == i
    with pytest.raises(ReplayedPacket, match="packet ID 3 was already received"):
        server.decrypt(packets[3])
    client.next_packet_id = WINDOW_SIZE + 10
    server.decrypt(client.encrypt(b"far ahead", DNS))
    client.next_packet_id = 5
    with pytest.raises(ReplayedPacket, match="outside the window"):
        server.decrypt(client.encrypt(b"too old", DNS))
    # The client's window, for the server's replies.
    reply = server.encrypt(client.session_id, b"a", DNS)
    client.decrypt(reply)
    with pytest.raises(ReplayedPacket):
        client.decrypt(reply)
