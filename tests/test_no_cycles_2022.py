"""The no-cycle rule for the Shadowsocks 2022 objects, and no native crypto library loaded.

As in test_no_cycles.py: with the cyclic collector off, every object of a full session (TCP
both ways, UDP both ways, SIP023 tables and relays, the stores, failed decoders) must die
at ``del``, and ``gc.collect()`` must then find nothing. The walk also goes through the
containers these objects keep (the salt store's set and deques, the UDP session table), so
the per-session objects inside them are watched too.
"""

from __future__ import annotations

import base64
import enum
import gc
import subprocess
import sys
import types
import weakref
from collections.abc import Callable, Iterator

import pytest

import refcrypto
from refcrypto.errors import DecoderFailed, InvalidTag, ReplayedPacket
from refcrypto.methods import Method
from refcrypto.wire.source import OWN
from refcrypto.wire.ss2022 import (
    Cryptor2022,
    IdentityRelay,
    PacketWindow,
    SaltStore,
    UdpClient2022,
    UdpServer2022,
    UserTable,
    new_decoder_2022,
    new_encoder_2022,
)

M2022 = refcrypto.methods(edition2022=True)
OURS = ("refcrypto", "Crypto")
TARGET = ("example.com", 443)


def psk_of(m: Method, seed: int = 1) -> str:
    return base64.b64encode(bytes((seed + i) % 256 for i in range(m.key_size))).decode()


def _attributes(obj: object) -> Iterator[object]:
    for cls in type(obj).__mro__:
        for slot in cls.__dict__.get("__slots__", ()):
            if slot != "__weakref__" and hasattr(obj, slot):
                yield getattr(obj, slot)
    yield from getattr(obj, "__dict__", {}).values()


def _contents(obj: object) -> Iterator[object]:
    """The items of the containers refcrypto objects keep (dicts, lists, tuples, deques)."""
    if isinstance(obj, dict):
        yield from obj.keys()
        yield from obj.values()
    elif isinstance(obj, (list, tuple, set, frozenset)) or type(obj).__name__ == "deque":
        yield from obj  # type: ignore[union-attr]


def object_graph(root: object) -> list[object]:
    seen: dict[int, object] = {}
    todo = [root]
    while todo:
        obj = todo.pop()
        if isinstance(obj, types.MethodType):
            obj = obj.__self__
        if isinstance(obj, (dict, list, tuple, set, frozenset)) or type(obj).__name__ == "deque":
            todo.extend(_contents(obj))
            continue
        if id(obj) in seen or not type(obj).__module__.startswith(OURS):
            continue
        if isinstance(obj, (type, Method, enum.Enum, types.ModuleType)) or obj is OWN:
            continue  # classes, modules, enum members, method rows and the default primitive
            # source live for the process
        seen[id(obj)] = obj
        todo.extend(a for a in _attributes(obj) if a is not None)
    return list(seen.values())


def assert_freed_without_gc(make_objects: Callable[[], list[object]],
                            expect: set[str]) -> None:
    gc.collect()
    gc.disable()
    try:
        refs: list[tuple[str, weakref.ref[object]]] = []
        roots = make_objects()
        for root in roots:
            for obj in object_graph(root):
                try:
                    refs.append((type(obj).__qualname__, weakref.ref(obj)))
                except TypeError:
                    pytest.fail(f"{type(obj).__qualname__} cannot be weakly referenced: add "
                                "'__weakref__' to its __slots__")
        assert expect <= {name for name, _ in refs}, "the walk missed objects it must watch"
        del roots, root, obj
        alive = [name for name, ref in refs if ref() is not None]
        assert alive == [], f"still alive after del with gc disabled: {alive}"
        assert gc.collect() == 0
    finally:
        gc.enable()


@pytest.mark.parametrize("m", M2022, ids=lambda m: m.name)
def test_tcp_session_objects_die_at_del(m: Method) -> None:
    def session() -> list[object]:
        store = SaltStore()
        client = Cryptor2022(psk_of(m), m, role="client", target=TARGET)
        server = Cryptor2022(psk_of(m), m, role="server", salts=store)
        assert server.decrypt(client.encrypt(b"request" * 100)) == b"request" * 100
        assert client.decrypt(server.encrypt(b"x" * 70000)) == b"x" * 70000
        encoder = new_encoder_2022(m, psk_of(m), role="client", target=TARGET)
        decoder = new_decoder_2022(m, psk_of(m), role="server", salts=store)
        decoder.update(encoder.update(b"y" * 70000))
        failed = Cryptor2022(psk_of(m, 2), m, role="server", salts=store)
        with pytest.raises(InvalidTag):
            failed.decrypt(Cryptor2022(psk_of(m), m, role="client", target=TARGET).encrypt(b"z"))
        with pytest.raises(DecoderFailed):
            failed.decrypt(b"more")
        return [client, server, encoder, decoder, failed, store]

    assert_freed_without_gc(session, {"Cryptor2022", "RequestEncoder", "RequestDecoder",
                                      "ResponseEncoder", "ResponseDecoder", "SaltStore"})


@pytest.mark.parametrize("m", M2022, ids=lambda m: m.name)
def test_udp_session_objects_die_at_del(m: Method) -> None:
    def session() -> list[object]:
        client = UdpClient2022(psk_of(m), m)
        server = UdpServer2022(psk_of(m), m)
        got = None
        for _ in range(3):
            got = server.decrypt(client.encrypt(b"q", ("192.0.2.1", 53)))
            client.decrypt(server.encrypt(got.session_id, b"a", ("192.0.2.1", 53)))
        with pytest.raises(InvalidTag):
            server.decrypt(bytes(64))
        window = PacketWindow()
        window.add(3)
        with pytest.raises(ReplayedPacket):
            window.check(3)
        return [client, server, got, window]

    assert_freed_without_gc(session, {"UdpClient2022", "UdpServer2022", "_ServerSession",
                                      "_RemoteSession", "PacketWindow", "Datagram"})


@pytest.mark.parametrize("m", [m for m in M2022 if "aes" in m.name], ids=lambda m: m.name)
def test_identity_objects_die_at_del(m: Method) -> None:
    def session() -> list[object]:
        ipsk0, ipsk1, upsk = psk_of(m, 1), psk_of(m, 2), psk_of(m, 3)
        users = UserTable(m, {"alice": upsk})
        relay = IdentityRelay(ipsk0, m, UserTable(m, {"server0": ipsk1}))
        client = Cryptor2022(f"{ipsk0}:{ipsk1}:{upsk}", m, role="client", target=TARGET)
        server = Cryptor2022(ipsk1, m, role="server", users=users, salts=SaltStore())
        _, forwarded = relay.route_tcp(client.encrypt(b"hello"))
        assert server.decrypt(forwarded) == b"hello" and server.user == "alice"
        udp_client = UdpClient2022([ipsk0, ipsk1, upsk], m)
        udp_server = UdpServer2022(ipsk1, m, users=users)
        _, packet = relay.route_udp(udp_client.encrypt(b"q", TARGET))
        assert udp_server.decrypt(packet).user == "alice"
        return [users, relay, client, server, udp_client, udp_server]

    assert_freed_without_gc(session, {"UserTable", "IdentityRelay", "Cryptor2022",
                                      "UdpClient2022", "UdpServer2022", "_ServerSession"})


def test_no_del_in_the_2022_modules() -> None:
    from pathlib import Path

    import refcrypto.wire.ss2022 as package

    for path in Path(package.__file__).parent.glob("*.py"):
        assert "def __del__" not in path.read_text(), path


NATIVE = ("libcrypto", "libssl", "libsodium", "libmbedcrypto", "libmbedtls", "blake3")

# As in test_no_cycles.py, the child runs as on a system without OpenSSL's _hashlib, and must
# not load any native crypto library (nor the `blake3` bindings: BLAKE3 is refcrypto's own).
CHILD = """
import sys, base64
sys.modules["_hashlib"] = None
import refcrypto
from refcrypto.wire.ss2022 import Cryptor2022, SaltStore, UdpClient2022, UdpServer2022
for m in refcrypto.methods(edition2022=True):
    psk = base64.b64encode(bytes(m.key_size)).decode()
    a = Cryptor2022(psk, m, role="client", target=("example.com", 80))
    b = Cryptor2022(psk, m, role="server", salts=SaltStore())
    assert b.decrypt(a.encrypt(b"hello" * 50)) == b"hello" * 50
    assert a.decrypt(b.encrypt(b"back")) == b"back"
    c, s = UdpClient2022(psk, m), UdpServer2022(psk, m)
    assert s.decrypt(c.encrypt(b"udp", ("example.com", 53))).payload == b"udp"
print(open("/proc/self/maps").read())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/self/maps is Linux-only")
def test_no_native_crypto_library_is_loaded() -> None:
    result = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=300, check=True
    )
    lines = result.stdout.splitlines()
    assert any("_raw_aes" in line for line in lines)  # looking at the right process
    loaded = sorted({line.split()[-1] for line in lines if any(n in line for n in NATIVE)})
    assert loaded == []
