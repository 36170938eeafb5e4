"""Every Shadowsocks 2022 entry point takes any bytes-like input as its bytes or refuses it, and
the 2022 codecs follow the one-thread-at-a-time rule of the classic ones.

* Buffers of every item size (``memoryview.cast``, ``array.array``), 2-D and read-only views
  give exactly what ``bytes`` gives, on every entry point that takes bytes.
* str, int, None, float, list and dict raise ``TypeError`` naming the method (or
  ``SaltStore.add``), the argument and the type received.
* A TCP encoder or decoder, a ``Cryptor2022`` direction, a UDP client direction, a UDP server's
  receiving side and its replies to one session raise :class:`refcrypto.ConcurrentUse` when
  entered from a second thread while a call is running (a primitive source that blocks inside
  the AEAD holds the first call); the other direction, and replies to another session, go on.
  The shared ``SaltStore`` waits for its lock instead.
"""

from __future__ import annotations

import array
import base64
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import refcrypto
from refcrypto import ConcurrentUse
from refcrypto.errors import ReplayedSalt
from refcrypto.methods import Method
from refcrypto.wire.ss2022 import (
    Cryptor2022,
    IdentityRelay,
    RequestDecoder,
    RequestEncoder,
    ResponseDecoder,
    ResponseEncoder,
    SaltStore,
    UdpClient2022,
    UdpServer2022,
    UserTable,
    decode_psk,
    new_decoder_2022,
    new_encoder_2022,
)

M2022 = refcrypto.methods(edition2022=True)
NOW = 1_700_000_000
TARGET = ("example.com", 443)


def ids(m: Method) -> str:
    return m.name


def clock() -> int:
    return NOW


def psk_of(m: Method, seed: int = 1) -> bytes:
    return bytes((seed * 31 + i) & 0xFF for i in range(m.key_size))


def salt_of(m: Method, seed: int) -> bytes:
    return bytes((seed * 17 + 3 * i) & 0xFF for i in range(m.salt_size))


def shapes(raw: bytes) -> Iterator[tuple[str, object]]:
    """``raw`` as every kind of buffer (its length must be a multiple of 8)."""
    assert len(raw) % 8 == 0, len(raw)
    yield "bytearray", bytearray(raw)
    for fmt in "bBhHiIlLqQfdc":
        yield f"memoryview.cast({fmt!r})", memoryview(raw).cast(fmt)
    for code in "bBhHiIlLqQfd":
        yield f"array({code!r})", array.array(code, raw)
    yield "2-D memoryview", memoryview(raw).cast("B", (len(raw) // 8, 8))
    yield "read-only view of a bytearray", memoryview(bytearray(raw)).toreadonly()


def aligned(make: Callable[[bytes], bytes], start: int = 64) -> bytes:
    """The first payload of ``start``.. bytes whose output from ``make`` is 8-byte aligned."""
    for size in range(start, start + 16):
        data = bytes((7 * i + 3) & 0xFF for i in range(size))
        if len(make(data)) % 8 == 0:
            return data
    raise AssertionError("no aligned size")


def _datagram(d: Any) -> tuple[object, ...]:
    return (d.session_id, d.packet_id, d.timestamp, d.padding_length, d.address, d.payload,
            d.user)


def entry_points(m: Method) -> Iterator[tuple[str, str, bytes, Callable[[Any], object]]]:
    """(entry point, argument, its bytes value, a function of one buffer giving a comparable
    result). Everything is fixed (salts, clock, padding, IDs, nonces), so buffer input must
    give the very result bytes input gives."""
    psk = psk_of(m)
    salt = salt_of(m, 1)
    nonce = bytes(range(24))
    chacha = "chacha" in m.name

    def request(data: bytes) -> bytes:
        return RequestEncoder(m, psk, TARGET, salt=salt, clock=clock, padding=8).update(data)

    def response(data: bytes) -> bytes:
        return ResponseEncoder(m, psk, salt, salt=salt_of(m, 2), clock=clock).update(data)

    def client_packet(data: bytes) -> bytes:
        return UdpClient2022(psk, m, session_id=5, clock=clock).encrypt(data, TARGET, padding=0,
                                                                         nonce=nonce)

    def server() -> UdpServer2022:
        s = UdpServer2022(psk, m, clock=clock, session_ids=lambda: 9)
        s.decrypt(UdpClient2022(psk, m, session_id=5, clock=clock).encrypt(b"", TARGET,
                                                                            padding=0))
        return s

    def server_packet(data: bytes) -> bytes:
        return server().encrypt(5, data, TARGET, nonce=nonce)

    data = bytes(range(64))
    wire = request(aligned(request))
    answer = response(aligned(response))
    packet = client_packet(aligned(client_packet, 40))
    reply = server_packet(aligned(server_packet, 40))

    def server_cryptor() -> Cryptor2022:
        c = Cryptor2022(psk, m, role="server", salts=SaltStore(), clock=clock, salt=salt_of(m, 2))
        c.decrypt(request(b"hi"))
        return c

    yield "Cryptor2022.encrypt", "data", data, lambda b: Cryptor2022(
        psk, m, role="client", target=TARGET, clock=clock, salt=salt, padding=8).encrypt(b)
    yield "Cryptor2022.encrypt (server)", "data", data, lambda b: server_cryptor().encrypt(b)
    yield "Cryptor2022.decrypt", "data", wire, lambda b: Cryptor2022(
        psk, m, role="server", salts=SaltStore(), clock=clock).decrypt(b)
    yield "Cryptor2022(salt=)", "salt", salt, lambda b: Cryptor2022(
        psk, m, role="client", target=TARGET, clock=clock, salt=b, padding=8).encrypt(data)
    yield "Cryptor2022(psk)", "psk", psk, lambda b: Cryptor2022(
        b, m, role="client", target=TARGET, clock=clock, salt=salt, padding=8).encrypt(data)
    yield "RequestEncoder.update", "data", data, request
    yield "RequestEncoder(salt=)", "salt", salt, lambda b: RequestEncoder(
        m, psk, TARGET, salt=b, clock=clock, padding=8).update(data)
    yield "ResponseEncoder.update", "data", data, response
    yield "ResponseEncoder(request_salt)", "request_salt", salt, lambda b: ResponseEncoder(
        m, psk, b, salt=salt_of(m, 2), clock=clock).update(data)
    yield "RequestDecoder.update", "data", wire, lambda b: RequestDecoder(
        m, psk, salts=SaltStore(), clock=clock).update(b)
    yield "ResponseDecoder.update", "data", answer, lambda b: ResponseDecoder(
        m, psk, salt, clock=clock).update(b)
    yield "ResponseDecoder(request_salt)", "request_salt", salt, lambda b: ResponseDecoder(
        m, psk, b, clock=clock).update(answer)
    yield "new_encoder_2022(request_salt=)", "request_salt", salt, lambda b: new_encoder_2022(
        m, psk, role="server", request_salt=b, salt=salt_of(m, 2), clock=clock).update(data)
    yield "new_decoder_2022(request_salt=)", "request_salt", salt, lambda b: new_decoder_2022(
        m, psk, role="client", request_salt=b, clock=clock).update(answer)
    yield "UdpClient2022.encrypt", "payload", data, client_packet
    yield "UdpClient2022.decrypt", "packet", reply, lambda b: _datagram(
        UdpClient2022(psk, m, session_id=5, clock=clock).decrypt(b))
    yield "UdpServer2022.decrypt", "packet", packet, lambda b: _datagram(
        UdpServer2022(psk, m, clock=clock).decrypt(b))
    yield "UdpServer2022.encrypt", "payload", data, server_packet
    yield "decode_psk", "psk", psk, lambda b: decode_psk(b, m)
    yield "SaltStore.add", "salt", salt, lambda b: _stored(b, salt)
    if chacha:
        yield "UdpClient2022.encrypt(nonce=)", "nonce", nonce, lambda b: UdpClient2022(
            psk, m, session_id=5, clock=clock).encrypt(data, TARGET, padding=0, nonce=b)
        yield "UdpServer2022.encrypt(nonce=)", "nonce", nonce, lambda b: server().encrypt(
            5, data, TARGET, nonce=b)
    else:
        users = UserTable(m, {"user": psk_of(m, 3)})
        chain_wire = RequestEncoder(m, [psk, psk_of(m, 3)], TARGET, salt=salt, clock=clock,
                                    padding=8).update(data)
        relay = IdentityRelay(psk, m, users)
        head = chain_wire[: aligned_head(m)]
        chain_packet = UdpClient2022([psk, psk_of(m, 3)], m, session_id=5, clock=clock).encrypt(
            aligned(lambda p: UdpClient2022([psk, psk_of(m, 3)], m, session_id=5, clock=clock
                                            ).encrypt(p, TARGET, padding=0), 40),
            TARGET, padding=0)
        yield "IdentityRelay.route_tcp", "head", head, relay.route_tcp
        yield "IdentityRelay.route_udp", "packet", chain_packet, relay.route_udp


def aligned_head(m: Method) -> int:
    """A head length (salt, identity header and more) that is a multiple of 8."""
    return m.salt_size + 16 + 8


def _stored(buffer: object, salt: bytes) -> str:
    store = SaltStore()
    store.add(buffer, now=NOW)  # type: ignore[arg-type]
    try:
        store.add(salt, now=NOW)
    except ReplayedSalt:
        return "stored as its bytes"
    return "stored as something else"


@pytest.mark.parametrize("m", M2022, ids=ids)
def test_buffers_of_every_item_size_count_as_their_bytes(m: Method) -> None:
    checked = 0
    wrong: dict[str, str] = {}
    for entry, _, raw, call in entry_points(m):
        expected = call(raw)
        for shape, buffer in shapes(raw):
            try:
                got = call(buffer)
            except Exception as exc:
                got = f"{type(exc).__name__}: {exc}"
            checked += 1
            if got != expected:
                wrong[f"{entry} {shape}"] = str(got)[:120]
    assert not wrong, f"{len(wrong)} of {checked} calls differ from bytes input: {wrong}"
    assert checked == 22 * 28  # 22 entry points x 28 buffer shapes


NOT_BYTES: list[Any] = ["text", 5, None, 1.5, [1, 2, 3], {"a": 1}]


def _skip(entry: str, argument: str, bad: object) -> bool:
    """The documented meanings that are not errors: ``None`` salt or nonce is random, a str
    PSK is base64 and a list of PSKs is a SIP023 chain."""
    if bad is None and (entry.endswith(("(salt=)", "(nonce=)"))):
        return True
    return argument == "psk" and isinstance(bad, (str, list))


@pytest.mark.parametrize("m", M2022, ids=ids)
def test_values_that_are_not_bytes_like_raise_type_error(m: Method) -> None:
    count = 0
    for entry, argument, _, call in entry_points(m):
        for bad in NOT_BYTES:
            if _skip(entry, argument, bad):
                continue
            with pytest.raises(TypeError) as info:
                call(bad)
            message = str(info.value)
            owner = "SaltStore.add" if entry == "SaltStore.add" else m.name
            assert owner in message, (entry, message)
            assert argument in message, (entry, message)
            assert type(bad).__name__ in message, (entry, message)
            count += 1
    assert count >= 20 * 5


def test_a_psk_as_base64_text_still_works() -> None:
    m = M2022[0]
    text = base64.b64encode(psk_of(m)).decode()
    assert decode_psk(text, m) == decode_psk(array.array("B", psk_of(m)), m)


# --------------------------------------------------------------------------------------------
# One thread at a time
# --------------------------------------------------------------------------------------------


class _Blocking:
    """A primitive source whose AEADs block inside the first seal/open after :meth:`arm`."""

    def __init__(self) -> None:
        self.armed = False
        self.entered = threading.Event()
        self.release = threading.Event()

    def arm(self) -> None:
        self.armed = True

    def wait(self) -> None:
        if self.armed:
            self.armed = False
            self.entered.set()
            assert self.release.wait(10)

    def new_stream(self, method: Method, key: bytes, iv: bytes, decrypt: bool) -> Any:
        raise AssertionError("the 2022 codecs use AEADs only")

    def new_aead(self, method: Method, key: bytes) -> Any:
        return _BlockingAEAD(method.new_aead(key), self)


class _BlockingAEAD:
    def __init__(self, inner: Any, source: _Blocking) -> None:
        self.inner, self.source = inner, source
        self.key_size, self.nonce_size, self.tag_size = (inner.key_size, inner.nonce_size,
                                                         inner.tag_size)

    def seal(self, nonce: bytes, data: bytes, aad: bytes = b"") -> bytes:
        self.source.wait()
        out: bytes = self.inner.seal(nonce, data, aad)
        return out

    def open(self, nonce: bytes, data: bytes, aad: bytes = b"") -> bytes:
        self.source.wait()
        out: bytes = self.inner.open(nonce, data, aad)
        return out


def _scenario(kind: str, m: Method, source: _Blocking
              ) -> tuple[Callable[[], object], Callable[[], object], Callable[[], object] | None]:
    """(first call, second call, a call of the other direction that must go on) for ``kind``."""
    psk = psk_of(m)
    salt = salt_of(m, 1)
    plain_request = RequestEncoder(m, psk, TARGET, salt=salt, clock=clock, padding=8)
    wire = plain_request.update(b"request")
    answer = ResponseEncoder(m, psk, salt, salt=salt_of(m, 2), clock=clock).update(b"answer")
    if kind == "request-encoder":
        enc = RequestEncoder(m, psk, TARGET, clock=clock, padding=8, backend=source)
        return (lambda: enc.update(b"one")), (lambda: enc.update(b"two")), None
    if kind == "request-encoder-start":
        enc = RequestEncoder(m, psk, TARGET, clock=clock, padding=8, backend=source)
        return enc.start, (lambda: enc.update(b"two")), None
    if kind == "response-encoder":
        back = ResponseEncoder(m, psk, salt, clock=clock, backend=source)
        return (lambda: back.update(b"one")), (lambda: back.update(b"two")), None
    if kind == "request-decoder":
        dec = RequestDecoder(m, psk, salts=SaltStore(), clock=clock, backend=source)
        return (lambda: dec.update(wire)), (lambda: dec.update(b"")), None
    if kind == "response-decoder":
        reader = ResponseDecoder(m, psk, salt, clock=clock, backend=source)
        return (lambda: reader.update(answer)), (lambda: reader.update(b"")), None
    if kind == "cryptor-client":
        client = Cryptor2022(psk, m, role="client", target=TARGET, clock=clock, salt=salt,
                             padding=8, backend=source)
        return ((lambda: client.encrypt(b"one")), (lambda: client.encrypt(b"two")),
                (lambda: _unblocked(source, lambda: client.decrypt(answer))))
    if kind == "cryptor-server":
        server = Cryptor2022(psk, m, role="server", salts=SaltStore(), clock=clock,
                             backend=source)
        return ((lambda: server.decrypt(wire)), (lambda: server.decrypt(b"")), None)
    if kind == "cryptor-server-encrypt":
        server = Cryptor2022(psk, m, role="server", salts=SaltStore(), clock=clock,
                             backend=source)
        server.decrypt(wire)
        return (lambda: server.encrypt(b"one")), (lambda: server.encrypt(b"two")), None
    udp_client = UdpClient2022(psk, m, session_id=1, clock=clock, backend=source)
    udp_server = UdpServer2022(psk, m, clock=clock, backend=source)
    if kind == "udp-client-encrypt":
        peer = UdpServer2022(psk, m, clock=clock)
        peer.decrypt(UdpClient2022(psk, m, session_id=1, clock=clock).encrypt(b"", TARGET))
        reply = peer.encrypt(1, b"reply", TARGET)
        return ((lambda: udp_client.encrypt(b"one", TARGET)),
                (lambda: udp_client.encrypt(b"two", TARGET)),
                (lambda: _unblocked(source, lambda: udp_client.decrypt(reply))))
    if kind == "udp-client-decrypt":
        peer = UdpServer2022(psk, m, clock=clock)
        peer.decrypt(UdpClient2022(psk, m, session_id=1, clock=clock).encrypt(b"", TARGET))
        replies = [peer.encrypt(1, bytes([i]), TARGET) for i in range(2)]
        return ((lambda: udp_client.decrypt(replies[0])),
                (lambda: udp_client.decrypt(replies[1])),
                (lambda: _unblocked(source, lambda: udp_client.encrypt(b"x", TARGET))))
    if kind == "udp-server-decrypt":
        packets = [UdpClient2022(psk, m, session_id=i, clock=clock).encrypt(b"q", TARGET)
                   for i in (1, 2)]
        return ((lambda: udp_server.decrypt(packets[0])),
                (lambda: udp_server.decrypt(packets[1])), None)
    assert kind == "udp-server-encrypt"
    for session in (1, 2):
        udp_server.decrypt(UdpClient2022(psk, m, session_id=session, clock=clock).encrypt(
            b"q", TARGET))
    return ((lambda: udp_server.encrypt(1, b"one", TARGET)),
            (lambda: udp_server.encrypt(1, b"two", TARGET)),
            (lambda: _unblocked(source, lambda: udp_server.encrypt(2, b"other", TARGET))))


def _unblocked(source: _Blocking, call: Callable[[], object]) -> object:
    assert not source.armed  # the blocked call took the one block; this one runs through
    return call()


KINDS = ["request-encoder", "request-encoder-start", "response-encoder", "request-decoder",
         "response-decoder", "cryptor-client", "cryptor-server", "cryptor-server-encrypt",
         "udp-client-encrypt", "udp-client-decrypt", "udp-server-decrypt",
         "udp-server-encrypt"]


@pytest.mark.parametrize("m", M2022, ids=ids)
@pytest.mark.parametrize("kind", KINDS)
def test_a_2022_codec_entered_from_a_second_thread_raises(kind: str, m: Method) -> None:
    source = _Blocking()
    first, second, other_direction = _scenario(kind, m, source)
    results: list[object] = []
    errors: list[BaseException] = []

    def run_first() -> None:
        try:
            results.append(first())
        except BaseException as exc:  # reported below
            errors.append(exc)

    source.arm()
    thread = threading.Thread(target=run_first)
    thread.start()
    try:
        assert source.entered.wait(10), "the first call never reached the AEAD"
        with pytest.raises(ConcurrentUse, match=f"{m.name}: .* two threads"):
            second()
        if other_direction is not None:
            assert other_direction() is not None  # the other direction is not blocked
    finally:
        source.release.set()
        thread.join()
    assert errors == [] and len(results) == 1
    second()  # usable again once the first call returned


def test_the_salt_store_waits_for_its_lock_instead_of_raising() -> None:
    store = SaltStore()
    done: list[str] = []

    def add() -> None:
        store.add(b"s" * 16, now=NOW)
        done.append("added")

    store._lock.acquire()  # another thread is inside add()
    thread = threading.Thread(target=add)
    try:
        thread.start()
        thread.join(0.2)
        assert thread.is_alive() and done == []  # waiting, not raising, not racing
    finally:
        store._lock.release()
    thread.join()
    assert done == ["added"] and b"s" * 16 in store
    with pytest.raises(ReplayedSalt):
        store.add(b"s" * 16, now=NOW)


def test_many_threads_adding_the_same_salts_accept_each_once() -> None:
    store = SaltStore()
    accepted: list[int] = []
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        for i in range(300):
            try:
                store.add(i.to_bytes(16, "big"), now=NOW)
            except ReplayedSalt:
                continue
            accepted.append(i)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(accepted) == list(range(300))
