"""SIP023 extensible identity headers: multi-user servers and relays behind one port, on TCP
and UDP, with one and two identity layers, checked against an independent construction."""

from __future__ import annotations

import base64
from itertools import pairwise

import pytest
from Crypto.Cipher import AES

import refcrypto
from refcrypto.errors import (
    InvalidPSK,
    InvalidTag,
    MethodNotImplemented,
    ReplayedSalt,
    TruncatedData,
    UnknownUser,
)
from refcrypto.methods import Method
from refcrypto.wire.ss2022 import (
    Cryptor2022,
    IdentityRelay,
    SaltStore,
    UdpClient2022,
    UdpServer2022,
    UserTable,
    decode_psk,
)

AES_METHODS = [m for m in refcrypto.methods(edition2022=True) if "aes" in m.name]
NOW = 1_700_000_000
TARGET = ("example.com", 443)
DNS = ("192.0.2.53", 53)


def ids(m: Method) -> str:
    return m.name


def key(m: Method, seed: int) -> str:
    return base64.b64encode(bytes((seed * 7 + i) % 256 for i in range(m.key_size))).decode()


def clock() -> int:
    return NOW


class Keys:
    """The scenario of SIP023: relay0 [iPSK0] in front of server0 [iPSK1; users u0, u1] and
    of server1, a plain server [u3]."""

    def __init__(self, m: Method) -> None:
        self.ipsk0, self.ipsk1 = key(m, 1), key(m, 2)
        self.u0, self.u1, self.u3 = key(m, 10), key(m, 11), key(m, 13)
        self.users = UserTable(m, {"alice": self.u0, "bob": self.u1})
        self.routes = UserTable(m, {"server0": self.ipsk1, "server1": self.u3})


def tcp_server(m: Method, psk: str, users: UserTable | None,
               store: SaltStore | None = None) -> Cryptor2022:
    return Cryptor2022(psk, m, role="server", users=users,
                       salts=store if store is not None else SaltStore(), clock=clock)


# --- TCP --------------------------------------------------------------------------------------


@pytest.mark.parametrize("m", AES_METHODS, ids=ids)
def test_tcp_one_identity_layer(m: Method) -> None:
    k = Keys(m)
    for user, upsk in (("alice", k.u0), ("bob", k.u1)):
        client = Cryptor2022(f"{k.ipsk1}:{upsk}", m, role="client", target=TARGET, clock=clock)
        server = tcp_server(m, k.ipsk1, k.users)
        wire = client.encrypt(b"GET /")
        assert server.decrypt(wire) == b"GET /"
        assert (server.user, server.target) == (user, TARGET)
        assert client.decrypt(server.encrypt(b"200 OK")) == b"200 OK"
        assert client.decrypt(server.encrypt(b"more")) == b"more"


@pytest.mark.parametrize("m", AES_METHODS, ids=ids)
def test_tcp_two_identity_layers_through_a_relay(m: Method) -> None:
    k = Keys(m)
    relay = IdentityRelay(k.ipsk0, m, k.routes)
    client = Cryptor2022(f"{k.ipsk0}:{k.ipsk1}:{k.u1}", m, role="client", target=TARGET,
                         clock=clock)
    wire = client.encrypt(b"through the relay") + client.encrypt(b" and more")
    hop, forwarded = relay.route_tcp(wire)
    assert hop == "server0" and len(forwarded) == len(wire) - 16
    server = tcp_server(m, k.ipsk1, k.users)
    assert server.decrypt(forwarded) == b"through the relay and more"
    assert server.user == "bob"
    # The response goes back through the relay unchanged.
    assert client.decrypt(server.encrypt(b"back")) == b"back"


@pytest.mark.parametrize("m", AES_METHODS, ids=ids)
def test_tcp_relay_to_a_plain_server(m: Method) -> None:
    k = Keys(m)
    client = Cryptor2022([k.ipsk0, k.u3], m, role="client", target=TARGET, clock=clock)
    hop, forwarded = IdentityRelay(k.ipsk0, m, k.routes).route_tcp(client.encrypt(b"hi"))
    server = tcp_server(m, k.u3, None)
    assert hop == "server1" and server.decrypt(forwarded) == b"hi" and server.user is None


@pytest.mark.parametrize("m", AES_METHODS, ids=ids)
def test_tcp_identity_header_matches_an_independent_construction(m: Method) -> None:
    blake3 = pytest.importorskip("blake3").blake3
    k = Keys(m)
    salt = bytes(range(m.salt_size))
    client = Cryptor2022(f"{k.ipsk0}:{k.ipsk1}:{k.u0}", m, role="client", target=TARGET,
                         salt=salt, clock=clock)
    wire = client.encrypt(b"x")
    chain = [decode_psk(p, m) for p in (k.ipsk0, k.ipsk1, k.u0)]
    expected = b""
    for ipsk, following in pairwise(chain):
        subkey = blake3(ipsk + salt, derive_key_context="shadowsocks 2022 identity subkey"
                        ).digest(m.key_size)
        expected += AES.new(subkey, AES.MODE_ECB).encrypt(blake3(following).digest()[:16])
    assert wire[: m.salt_size] == salt
    assert wire[m.salt_size : m.salt_size + 32] == expected
    # and the rest is sealed under the user's PSK, as without identity headers
    plain = Cryptor2022(k.u0, m, role="client", target=TARGET, salt=salt, clock=clock,
                        padding=0)
    with_headers = Cryptor2022(f"{k.ipsk0}:{k.ipsk1}:{k.u0}", m, role="client", target=TARGET,
                               salt=salt, clock=clock, padding=0)
    assert with_headers.encrypt(b"y") == salt + expected + plain.encrypt(b"y")[m.salt_size:]


@pytest.mark.parametrize("m", AES_METHODS, ids=ids)
def test_tcp_unknown_user(m: Method) -> None:
    k = Keys(m)
    stranger = key(m, 99)
    client = Cryptor2022(f"{k.ipsk1}:{stranger}", m, role="client", target=TARGET, clock=clock)
    server = tcp_server(m, k.ipsk1, k.users)
    with pytest.raises(UnknownUser, match="names no PSK of this table") as info:
        server.decrypt(client.encrypt(b"let me in"))
    assert info.value.plaintext == b"" and server.user is None
    # A wrong iPSK reads as an unknown user too; a relay says the same.
    client = Cryptor2022(f"{key(m, 98)}:{k.u0}", m, role="client", target=TARGET, clock=clock)
    request = client.encrypt(b"x")
    with pytest.raises(UnknownUser):
        tcp_server(m, k.ipsk1, k.users).decrypt(request)
    with pytest.raises(UnknownUser):
        IdentityRelay(k.ipsk0, m, k.routes).route_tcp(request)
    # Without an identity header, a multi-user server reads the first chunk's bytes as one.
    plain = Cryptor2022(k.u0, m, role="client", target=TARGET, clock=clock)
    with pytest.raises(UnknownUser):
        tcp_server(m, k.ipsk1, k.users).decrypt(plain.encrypt(b"x"))


@pytest.mark.parametrize("m", AES_METHODS, ids=ids)
def test_tcp_identity_header_tampering(m: Method) -> None:
    k = Keys(m)
    client = Cryptor2022(f"{k.ipsk1}:{k.u0}", m, role="client", target=TARGET, clock=clock)
    wire = bytearray(client.encrypt(b"x"))
    wire[m.salt_size + 3] ^= 0x40
    with pytest.raises(UnknownUser):
        tcp_server(m, k.ipsk1, k.users).decrypt(bytes(wire))
    # The user's key is right but the header is a replay: the salt store still decides.
    store = SaltStore()
    original = Cryptor2022(f"{k.ipsk1}:{k.u0}", m, role="client", target=TARGET, clock=clock)
    request = original.encrypt(b"once")
    assert tcp_server(m, k.ipsk1, k.users, store).decrypt(request) == b"once"
    with pytest.raises(ReplayedSalt):
        tcp_server(m, k.ipsk1, k.users, store).decrypt(request)


@pytest.mark.parametrize("m", AES_METHODS, ids=ids)
def test_tcp_user_header_alone_fails_on_the_wrong_users_key(m: Method) -> None:
    """The identity header picks the key; the chunks must then authenticate under it."""
    k = Keys(m)
    alice = Cryptor2022(f"{k.ipsk1}:{k.u0}", m, role="client", target=TARGET, clock=clock)
    bob = Cryptor2022(f"{k.ipsk1}:{k.u1}", m, role="client", target=TARGET, clock=clock)
    a, b = alice.encrypt(b"a"), bob.encrypt(b"b")
    header = m.salt_size + 16
    spliced = b[:m.salt_size] + a[m.salt_size : header] + b[header:]  # alice's id, bob's data
    with pytest.raises(UnknownUser):  # the identity subkey depends on the salt
        tcp_server(m, k.ipsk1, k.users).decrypt(spliced)
    spliced = a[:header] + b[header:]
    with pytest.raises(InvalidTag):
        tcp_server(m, k.ipsk1, k.users).decrypt(spliced)


def test_relay_needs_the_whole_identity_header() -> None:
    m = AES_METHODS[0]
    k = Keys(m)
    relay = IdentityRelay(k.ipsk0, m, k.routes)
    assert relay.tcp_head_size == m.salt_size + 16
    with pytest.raises(TruncatedData, match=r"\(32 bytes\), got 31"):
        relay.route_tcp(bytes(31))
    with pytest.raises(TruncatedData, match="32 bytes"):
        relay.route_udp(bytes(31))
    with pytest.raises(TypeError, match=r"head must be a bytes-like object .*, not str"):
        relay.route_tcp("x" * 40)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="routes must be a UserTable"):
        IdentityRelay(k.ipsk0, m, {"server0": k.ipsk1})  # type: ignore[arg-type]


# --- UDP --------------------------------------------------------------------------------------


@pytest.mark.parametrize("m", AES_METHODS, ids=ids)
def test_udp_one_identity_layer(m: Method) -> None:
    k = Keys(m)
    server = UdpServer2022(k.ipsk1, m, users=k.users, clock=clock)
    for user, upsk in (("alice", k.u0), ("bob", k.u1)):
        client = UdpClient2022(f"{k.ipsk1}:{upsk}", m, clock=clock)
        for n in range(3):
            got = server.decrypt(client.encrypt(b"query %d" % n, DNS))
            assert (got.user, got.payload, got.packet_id) == (user, b"query %d" % n, n)
            reply = client.decrypt(server.encrypt(got.session_id, b"answer", DNS))
            assert reply.payload == b"answer" and reply.user is None
    assert len(server) == 2


@pytest.mark.parametrize("m", AES_METHODS, ids=ids)
def test_udp_two_identity_layers_through_a_relay(m: Method) -> None:
    k = Keys(m)
    relay = IdentityRelay(k.ipsk0, m, k.routes)
    server = UdpServer2022(k.ipsk1, m, users=k.users, clock=clock)
    client = UdpClient2022([k.ipsk0, k.ipsk1, k.u0], m, clock=clock)
    for n in range(3):
        packet = client.encrypt(b"q%d" % n, DNS)
        hop, forwarded = relay.route_udp(packet)
        assert hop == "server0" and len(forwarded) == len(packet) - 16
        got = server.decrypt(forwarded)
        assert (got.user, got.payload) == ("alice", b"q%d" % n)
        # replies are sealed with the user's PSK and pass the relay unchanged
        assert client.decrypt(server.encrypt(got.session_id, b"a%d" % n, DNS)).payload == (
            b"a%d" % n)
    plain = UdpServer2022(k.u3, m, clock=clock)
    client3 = UdpClient2022(f"{k.ipsk0}:{k.u3}", m, clock=clock)
    hop, forwarded = relay.route_udp(client3.encrypt(b"to server1", DNS))
    got = plain.decrypt(forwarded)
    assert hop == "server1" and got.payload == b"to server1" and got.user is None
    assert client3.decrypt(plain.encrypt(got.session_id, b"ok", DNS)).payload == b"ok"


@pytest.mark.parametrize("m", AES_METHODS, ids=ids)
def test_udp_identity_header_matches_an_independent_construction(m: Method) -> None:
    blake3 = pytest.importorskip("blake3").blake3
    k = Keys(m)
    client = UdpClient2022(f"{k.ipsk0}:{k.ipsk1}:{k.u0}", m, session_id=0xABCDEF, clock=clock)
    packet = client.encrypt(b"x", DNS)
    chain = [decode_psk(p, m) for p in (k.ipsk0, k.ipsk1, k.u0)]
    separate = (0xABCDEF).to_bytes(8, "big") + bytes(8)
    assert packet[:16] == AES.new(chain[0], AES.MODE_ECB).encrypt(separate)
    for i in range(2):
        digest = blake3(chain[i + 1]).digest()[:16]
        mixed = bytes(a ^ b for a, b in zip(digest, separate, strict=True))
        assert packet[16 * (i + 1) : 16 * (i + 2)] == AES.new(chain[i], AES.MODE_ECB).encrypt(
            mixed)
    # the body: AES-GCM under the user's session subkey, as without identity headers
    subkey = blake3(chain[2] + separate[:8],
                    derive_key_context="shadowsocks 2022 session subkey").digest(m.key_size)
    body = AES.new(subkey, AES.MODE_GCM, nonce=separate[4:]).decrypt_and_verify(
        packet[48:-16], packet[-16:])
    assert body[0] == 0 and body.endswith(b"x")


@pytest.mark.parametrize("m", AES_METHODS, ids=ids)
def test_udp_unknown_user(m: Method) -> None:
    k = Keys(m)
    server = UdpServer2022(k.ipsk1, m, users=k.users, clock=clock)
    stranger = UdpClient2022(f"{k.ipsk1}:{key(m, 99)}", m, clock=clock)
    with pytest.raises(UnknownUser, match="names no PSK"):
        server.decrypt(stranger.encrypt(b"q", DNS))
    with pytest.raises(UnknownUser):
        IdentityRelay(k.ipsk0, m, k.routes).route_udp(stranger.encrypt(b"q", DNS))
    assert len(server) == 0


# --- tables -----------------------------------------------------------------------------------


def test_identity_headers_are_for_the_aes_methods_only() -> None:
    m = refcrypto.method("2022-blake3-chacha20-poly1305")
    psk = key(m, 1)
    with pytest.raises(MethodNotImplemented, match="AES methods only"):
        UserTable(m, {"alice": psk})
    with pytest.raises(MethodNotImplemented, match="AES methods only"):
        IdentityRelay(psk, m, UserTable(AES_METHODS[1], {}))
    with pytest.raises(MethodNotImplemented, match="AES methods only"):
        Cryptor2022(f"{psk}:{psk}", m, role="client", target=TARGET)
    with pytest.raises(MethodNotImplemented, match="AES methods only"):
        UdpClient2022([psk, psk], m)


@pytest.mark.parametrize("m", AES_METHODS, ids=ids)
def test_user_table_checks(m: Method) -> None:
    k = Keys(m)
    assert k.users.names() == ["alice", "bob"] and len(k.users) == 2
    with pytest.raises(InvalidPSK, match="'alice' and 'carol' have the same PSK"):
        UserTable(m, {"alice": k.u0, "carol": k.u0})
    with pytest.raises(InvalidPSK, match=f"must be {m.key_size} bytes"):
        UserTable(m, {"alice": base64.b64encode(b"short").decode()})
    with pytest.raises(TypeError, match="mapping"):
        UserTable(m, [("alice", k.u0)])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="user names must be str"):
        UserTable(m, {1: k.u0})  # type: ignore[dict-item]
    other = next(x for x in AES_METHODS if x is not m)
    with pytest.raises(TypeError, match="users are for"):
        Cryptor2022(key(other, 1), other, role="server", users=k.users, salts=SaltStore())
    with pytest.raises(TypeError, match="users are for"):
        UdpServer2022(key(other, 1), other, users=k.users)
    empty = UserTable(m, {})
    with pytest.raises(UnknownUser):
        UdpServer2022(k.ipsk1, m, users=empty, clock=clock).decrypt(
            UdpClient2022(f"{k.ipsk1}:{k.u0}", m, clock=clock).encrypt(b"q", DNS))
