"""`refcrypto probe` without peer programs: its analysis, its verdict rules, the reference
server's replay filter, and whole probe runs against in-process servers, refcrypto's own and
fakes that misbehave on purpose (a server that serves replays, one that resets after exactly
N bytes, one that reuses its salt, one that skips a nonce, one that answers garbage, one that
cuts UDP replies), so that every verdict is seen to fail when it should.

Everything listens on 127.0.0.1 in this process; every wait is bounded.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import socket
import struct
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar, cast
from xml.etree import ElementTree

import pytest

import refcrypto
from refcrypto.cli import main
from refcrypto.errors import (
    HeaderOverrun,
    InvalidTag,
    MissingPayloadOrPadding,
    RefcryptoError,
)
from refcrypto.kdf import session_subkey
from refcrypto.methods import Method
from refcrypto.probe import ALL_PROBES, ProbeError, ProbeOptions, ProbeReport, plan, probe_async
from refcrypto.probe.behaviour import Observation, judge
from refcrypto.probe.context import Run
from refcrypto.probe.dialect import ClientStream, Dialect, names_address_type
from refcrypto.probe.net import Reaction, Targets, TargetState
from refcrypto.probe.results import (
    ProbeResult,
    describe_segments,
    reaction_class,
    segments,
)
from refcrypto.tools import AddressError, pack_address, parse_address
from refcrypto.tools.replay import ReplayedIV, ReplayFilter
from refcrypto.tools.server import ShadowsocksServer
from refcrypto.wire import master_key, new_decoder, new_encoder
from refcrypto.wire.ss2022 import Cryptor2022, SaltStore
from refcrypto.wire.ss2022.tcp import RequestDecoder
from refcrypto.wire.udp import decrypt_packet, encrypt_packet

LOOPBACK = "127.0.0.1"
PASSWORD = "probe-password"
PSK = base64.b64encode(bytes(range(16))).decode()
AEAD = refcrypto.method("aes-128-gcm")
STREAM = refcrypto.method("aes-128-cfb")
SS2022 = refcrypto.method("2022-blake3-aes-128-gcm")
#: Short waits: every fake reacts in milliseconds or not at all.
SILENCE = 1.0
#: Bound on one whole scenario.
SCENARIO_TIMEOUT = 60.0
T = TypeVar("T")


def key_of(method: Method) -> str:
    return PSK if method.is_2022 else PASSWORD


def options(port: int, method: Method, *probes: str, udp: bool = False, quick: bool = True,
            **extra: Any) -> ProbeOptions:
    return ProbeOptions((LOOPBACK, port), method, key_of(method), quick=quick, udp=udp,
                        silence=SILENCE, replay_delay=0.2, udp_wait=0.3,
                        probes=frozenset(probes) if probes else None, **extra)


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(asyncio.wait_for(coroutine, SCENARIO_TIMEOUT))


def verdicts(report: ProbeReport) -> dict[str, str]:
    return {r.probe: r.verdict for r in report.results}


# --- the analysis --------------------------------------------------------------------------------


def test_segments_cut_a_series_into_runs_by_length() -> None:
    samples = [(n, "silence" if n < 50 else "FIN at once") for n in (300, 1, 49, 50, 2)]
    runs = segments(samples)
    assert runs == [(1, 49, "silence"), (50, 300, "FIN at once")]
    assert describe_segments(runs) == "1-49 B: silence; 50-300 B: FIN at once"
    assert segments([(7, "RST at once")]) == [(7, 7, "RST at once")]


@pytest.mark.parametrize(("kind", "seconds", "expected"), [
    ("FIN", 0.01, "FIN at once"),
    ("RST", 0.2, "RST at once"),
    ("FIN", 3.0, "FIN after a delay"),
    ("data", 5.0, "data"),
    ("silence", 10.0, "silence"),
])
def test_reaction_classes(kind: str, seconds: float, expected: str) -> None:
    assert reaction_class(Reaction(kind, seconds), 10.0) == expected


def test_results_refuse_unknown_verdicts_and_families() -> None:
    with pytest.raises(ValueError, match="verdict"):
        ProbeResult("x", "conformance", "echo", 0.0, "maybe", "")
    with pytest.raises(ValueError, match="family"):
        ProbeResult("x", "other", "echo", 0.0, "pass", "")


def test_options_refuse_unusable_values() -> None:
    with pytest.raises(ProbeError, match="silence"):
        ProbeOptions((LOOPBACK, 1), AEAD, PASSWORD, silence=0)
    with pytest.raises(ProbeError, match="connections"):
        ProbeOptions((LOOPBACK, 1), AEAD, PASSWORD, connections=0)


def test_plan_leaves_out_what_a_method_or_run_has_not() -> None:
    names, skipped = plan(ProbeOptions((LOOPBACK, 1), STREAM, PASSWORD))
    assert "bit-flip-length" in skipped and "bit-flip-salt" in names
    assert "timestamp-old" in skipped and "udp-replay" in skipped
    names, skipped = plan(ProbeOptions((LOOPBACK, 1), SS2022, PSK, udp=True),
                          own_targets=False)
    assert "tcp-iv-split" in skipped and "SIP022" in skipped["tcp-iv-split"]
    assert "no-payload-no-padding" in skipped and "udp-timestamp-old" in names
    assert set(names) | set(skipped) == set(ALL_PROBES)


# --- the dialect: the fields the flips hit are the fields named --------------------------------


@pytest.mark.parametrize(("method", "field", "error"), [
    (AEAD, "length", "length chunk with nonce 0"),
    (AEAD, "tag", "length chunk with nonce 0"),
    (AEAD, "payload", "payload chunk with nonce 1"),
    (SS2022, "length", "request fixed-length header"),
    (SS2022, "tag", "request fixed-length header"),
    (SS2022, "payload", "request variable-length header"),
])
def test_each_flipped_field_fails_where_it_should(method: Method, field: str, error: str
                                                  ) -> None:
    dialect = Dialect(method, key_of(method))
    wire = bytearray(ClientStream(dialect, ("127.0.0.1", 80), padding=0).first(b"payload"))
    wire[dialect.fields()[field]] ^= 0x01
    if method.is_2022:
        decoder: Any = RequestDecoder(method, PSK, salts=SaltStore())
    else:
        decoder = new_decoder(method, dialect.master)
    with pytest.raises(InvalidTag, match=error):
        decoder.update(bytes(wire))


def test_stream_flips_never_name_an_address() -> None:
    """The probe must never make a server connect anywhere: masked address types count."""
    assert [t for t in range(256) if names_address_type(t)] == [
        t for t in range(256) if t & 0x0F in (1, 3, 4)]
    dialect = Dialect(STREAM, PASSWORD)
    wire = ClientStream(dialect, ("127.0.0.1", 80)).first(b"x")
    assert dialect.names_address(wire)  # a valid request does
    flipped = bytearray(wire)
    flipped[dialect.fields()["payload"]] ^= 0x04
    assert not dialect.names_address(bytes(flipped))


@pytest.mark.parametrize(("fields", "error"), [
    ({"padding_length": 0, "padding": b"", "payload": b""}, MissingPayloadOrPadding),
    ({"padding_length": 200, "padding": bytes(10), "payload": b""}, HeaderOverrun),
])
def test_crafted_2022_requests_are_what_they_claim(fields: dict[str, Any],
                                                   error: type[Exception]) -> None:
    wire = Dialect(SS2022, PSK).crafted_request(("127.0.0.1", 80), **fields)
    with pytest.raises(error):
        RequestDecoder(SS2022, PSK, salts=SaltStore()).update(wire)


def test_largest_udp_payloads_fill_one_datagram() -> None:
    assert Dialect(refcrypto.method("aes-256-gcm"), PASSWORD).max_udp_payload() == 65452
    assert Dialect(STREAM, PASSWORD).max_udp_payload() == 65507 - 16 - 7
    assert Dialect(refcrypto.method("2022-blake3-aes-256-gcm"),
                   base64.b64encode(bytes(32)).decode()).max_udp_payload() == 65449


# --- the verdict rules, on synthetic observations ------------------------------------------------


def _run_for(method: Method) -> Run:
    targets = Targets(TargetState(), ("127.0.0.1", 1), ("127.0.0.1", 1), None, ())
    return Run(ProbeOptions((LOOPBACK, 1), method, key_of(method), silence=10.0),
               Dialect(method, key_of(method)), targets)


def _series(name: str, classes: Callable[[int], Reaction], lengths: range) -> Observation:
    samples = [(n, classes(n)) for n in lengths]
    return Observation(name, 0, samples[0][1], False, samples=samples)


def _judged(method: Method, *observations: Observation) -> dict[str, ProbeResult]:
    return {r.probe: r for r in judge(_run_for(method), list(observations))}


@pytest.mark.parametrize(("method", "verdict"), [(AEAD, "finding"), (SS2022, "fail")])
def test_a_reaction_that_depends_on_the_length_is_a_finding_or_a_2022_failure(
    method: Method, verdict: str
) -> None:
    first = Dialect(method, key_of(method)).first_chunk
    obs = _series("random-bytes",
                  lambda n: Reaction("silence", 10.0) if n < first else Reaction("RST", 0.01),
                  range(1, 301))
    result = _judged(method, obs)["random-bytes"]
    assert (result.verdict, result.reaction) == (verdict, "varies")
    assert f"changes at {first} bytes" in result.detail and "first chunk" in result.detail
    steady = _series("random-bytes", lambda n: Reaction("RST", 0.01), range(1, 301))
    assert _judged(method, steady)["random-bytes"].verdict == "pass"


@pytest.mark.parametrize(("method", "verdict"), [(AEAD, "finding"), (STREAM, "finding"),
                                                 (SS2022, "fail")])
def test_a_served_replay_is_a_finding_or_a_2022_failure(method: Method, verdict: str) -> None:
    served = Observation("replay-at-once", 121, Reaction("data", 0.01), True)
    refused = Observation("replay-after-delay", 121, Reaction("silence", 10.0), False)
    results = _judged(method, served, refused)
    assert results["replay-at-once"].verdict == verdict
    assert results["replay-after-delay"].verdict == "pass"


@pytest.mark.parametrize("name", ["timestamp-old", "timestamp-future", "replayed-salt",
                                  "no-payload-no-padding", "padding-past-header",
                                  "udp-timestamp-old", "udp-replay"])
def test_serving_what_sip022_forbids_fails(name: str) -> None:
    result = _judged(SS2022, Observation(name, 100, Reaction("data", 0.0), True))[name]
    assert result.verdict == "fail" and "SIP022" in result.detail


def test_served_altered_or_wrong_key_data_fails_except_for_stream_flips() -> None:
    flip = Observation("bit-flip-payload", 100, Reaction("data", 0.0), True)
    assert _judged(AEAD, flip)["bit-flip-payload"].verdict == "fail"
    assert _judged(STREAM, flip)["bit-flip-payload"].verdict == "finding"
    wrong = _series("wrong-key", lambda n: Reaction("data", 0.0), range(1, 5))
    wrong.served = True
    assert _judged(STREAM, wrong)["wrong-key"].verdict == "fail"


def test_a_refusal_unlike_random_bytes_of_the_same_length_is_a_finding() -> None:
    random_bytes = _series("random-bytes", lambda n: Reaction("silence", 10.0), range(1, 301))
    odd = Observation("bit-flip-tag", 121, Reaction("RST", 0.01), False)
    usual = Observation("bit-flip-salt", 121, Reaction("silence", 10.0), False)
    results = _judged(AEAD, random_bytes, odd, usual)
    assert results["bit-flip-tag"].verdict == "finding"
    assert "random bytes of the same length get silence" in results["bit-flip-tag"].detail
    assert results["bit-flip-salt"].verdict == "pass"


def test_an_unjudged_probe_fails_with_the_reason() -> None:
    obs = Observation("replay-at-once", 0, Reaction("-", 0.0), False,
                      note="the recorded connection was not served: reset")
    result = _judged(AEAD, obs)["replay-at-once"]
    assert result.verdict == "fail" and "not judged" in result.detail


# --- the replay filter of the reference server ---------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_replay_filter_is_exact_and_expires() -> None:
    clock = Clock()
    seen = ReplayFilter(lifetime=60, clock=clock)
    seen.check_and_add(b"a" * 16)
    seen.check_and_add(b"b" * 16)  # exact: a different IV is never refused
    with pytest.raises(ReplayedIV, match="61616161616161"):
        seen.check_and_add(b"a" * 16)
    assert len(seen) == 2
    clock.now += 59
    with pytest.raises(ReplayedIV):
        seen.check_and_add(bytearray(b"a" * 16))
    clock.now += 2
    seen.check_and_add(b"a" * 16)  # its 60 s are over: forgotten, accepted again
    assert b"b" * 16 not in seen and len(seen) == 1


def test_replay_filter_forgets_the_oldest_when_full() -> None:
    clock = Clock()
    seen = ReplayFilter(max_size=3, clock=clock)
    for i in range(3):
        seen.check_and_add(bytes([i]) * 8)
        clock.now += 1
    seen.check_and_add(b"new-one!")  # full: the oldest goes, the new one is served
    assert seen.evicted == 1 and len(seen) == 3
    assert bytes([0]) * 8 not in seen and bytes([1]) * 8 in seen
    seen.check_and_add(bytes([0]) * 8)  # forgotten early, so accepted again
    with pytest.raises(ReplayedIV):
        seen.check_and_add(b"new-one!")
    clock.now += 10 * 24 * 3600
    seen.expire()
    assert len(seen) == 0


@pytest.mark.parametrize("bad", [{"max_size": 0}, {"max_size": 1.5}, {"lifetime": 0},
                                 {"lifetime": "60"}])
def test_replay_filter_refuses_bad_bounds(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        ReplayFilter(**bad)


def test_reference_server_filters_classic_methods_only() -> None:
    assert ShadowsocksServer(AEAD, PASSWORD).replays is not None
    assert ShadowsocksServer(STREAM, PASSWORD).replays is not None
    assert ShadowsocksServer("rc4", PASSWORD).replays is None  # no IV to filter
    assert ShadowsocksServer(SS2022, PSK).replays is None  # its salt store does it
    mine = ReplayFilter(max_size=10)
    assert ShadowsocksServer(AEAD, PASSWORD, replays=mine).replays is mine


# --- whole runs against in-process servers -------------------------------------------------------


@contextlib.asynccontextmanager
async def reference_server(method: Method) -> AsyncIterator[tuple[ShadowsocksServer, int]]:
    server = ShadowsocksServer(method, key_of(method), timeout=30)
    _, port = await server.start(LOOPBACK, 0)
    try:
        yield server, port
    finally:
        await server.close()


@pytest.mark.parametrize("method", [STREAM, AEAD, SS2022], ids=lambda m: m.name)
def test_the_reference_server_passes(method: Method) -> None:
    probes = ("tcp-round-trip", "tcp-iv-split", "tcp-half-close-target", "random-bytes",
              "bit-flip-salt", "bit-flip-payload", "replay-at-once", "replayed-salt",
              "timestamp-old", "no-payload-no-padding", "tcp-unique-salts", "udp-sizes",
              "udp-replay", "udp-wrong-key")

    async def scenario() -> tuple[ProbeReport, int]:
        async with reference_server(method) as (server, port):
            report = await probe_async(options(port, method, *probes, udp=True))
            return report, server.stats.replays

    report, replays = run(scenario())
    assert report.results and set(verdicts(report).values()) == {"pass"}, report.results
    assert replays >= 2  # one TCP and one UDP replay refused by the filter or salt store


class _ClassicStream:
    """Classic server side of one connection, optionally with a fixed response salt."""

    def __init__(self, method: Method, salt: bytes | None) -> None:
        key = master_key(PASSWORD, method)
        self._decoder = new_decoder(method, key)
        self._encoder = new_encoder(method, key, salt)
        self._head = b""
        self.target: tuple[str, int] | None = None

    def decrypt(self, data: bytes) -> bytes:
        plain = self._decoder.update(data)
        if self.target is not None:
            return plain
        self._head += plain
        parsed = parse_address(self._head)
        if parsed is None:
            return b""
        host, port, size = parsed
        self.target = (host, port)
        return self._head[size:]

    def encrypt(self, data: bytes) -> bytes:
        return self._encoder.update(data)


class _SkewedEncoder:
    """SIP004 chunks sealed with nonces from 1 instead of 0 (a wrong nonce sequence)."""

    def __init__(self, method: Method) -> None:
        salt = os.urandom(method.salt_size)
        self._aead = method.new_aead(session_subkey(master_key(PASSWORD, method), salt))
        self._prefix = salt
        self._n = 1
        self._size = method.nonce_size

    def update(self, data: bytes) -> bytes:
        n, self._n = self._n, self._n + 2
        out = (self._prefix + self._aead.seal(n.to_bytes(self._size, "little"),
                                              len(data).to_bytes(2, "big"))
               + self._aead.seal((n + 1).to_bytes(self._size, "little"), data))
        self._prefix = b""
        return out


class Fake:
    """A Shadowsocks server that misbehaves on purpose (TCP, and UDP for classic methods).

    ``serve_replays``: no replay filter (2022: a new salt store per connection);
    ``reset_after``: a connection without a complete header is reset once that many bytes
    have arrived; ``fixed_salt``: every response carries this salt; ``skew_nonces``: AEAD
    responses sealed from nonce 1; ``answer_garbage``: bad input gets bytes back;
    ``udp_cut``: UDP replies cut to that many bytes of payload. Without ``reset_after`` a
    bad request is closed at once (as Python shadowsocks does).
    """

    def __init__(self, method: Method, *, serve_replays: bool = False,
                 reset_after: int | None = None, fixed_salt: bytes | None = None,
                 skew_nonces: bool = False, answer_garbage: bool = False,
                 udp_cut: int | None = None) -> None:
        self.method = method
        self.serve_replays = serve_replays
        self.reset_after = reset_after
        self.fixed_salt = fixed_salt
        self.skew_nonces = skew_nonces
        self.answer_garbage = answer_garbage
        self.udp_cut = udp_cut
        self.salts = SaltStore()
        self.seen = ReplayFilter()
        self.tasks: set[asyncio.Task[None]] = set()

    def stream(self) -> Any:
        if self.method.is_2022:
            store = SaltStore() if self.serve_replays else self.salts
            return Cryptor2022(PSK, self.method, role="server", salts=store,
                               salt=self.fixed_salt)
        return _ClassicStream(self.method, self.fixed_salt)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        try:
            await self._handle(reader, writer)
        except (OSError, asyncio.TimeoutError, RefcryptoError, AddressError):
            pass
        finally:
            writer.close()
            self.tasks.discard(task)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        stream = self.stream()
        consumed, rest, head = 0, b"", b""
        failed = False
        while stream.target is None:
            data = await asyncio.wait_for(reader.read(65536), 10)
            if not data:
                return
            consumed += len(data)
            head = (head + data)[: self.method.iv_size]
            if not failed:
                try:
                    rest += stream.decrypt(data)
                except (RefcryptoError, AddressError):
                    failed = True
            if stream.target is not None:
                break
            if self.reset_after is not None and consumed >= self.reset_after:
                writer.transport.get_extra_info("socket").setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                writer.transport.abort()
                return
            if failed and self.reset_after is None:
                if self.answer_garbage:
                    writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
                return  # close at once
        if not self.method.is_2022 and not self.serve_replays:
            try:
                self.seen.check_and_add(head)
            except ReplayedIV:
                await asyncio.sleep(30)
                return
        host, port = stream.target
        target_reader, target_writer = await asyncio.open_connection(host, port)
        encoder = _SkewedEncoder(self.method) if self.skew_nonces else stream
        try:
            if rest:
                target_writer.write(rest)

            async def upstream() -> None:
                while data := await reader.read(65536):
                    target_writer.write(stream.decrypt(data))
                    await target_writer.drain()
                target_writer.write_eof()

            async def downstream() -> None:
                while data := await target_reader.read(65536):
                    writer.write(encoder.encrypt(data) if encoder is stream
                                 else encoder.update(data))
                    await writer.drain()
                writer.write_eof()

            await asyncio.wait_for(asyncio.gather(upstream(), downstream()), 30)
        finally:
            target_writer.close()

    # UDP (classic methods)

    def datagram(self, transport: asyncio.DatagramTransport, packet: bytes,
                 client: tuple[str, int]) -> None:
        key = master_key(PASSWORD, self.method)
        try:
            plain = decrypt_packet(self.method, key, packet)
            if not self.serve_replays:
                self.seen.check_and_add(packet[: self.method.iv_size])
        except RefcryptoError:
            return
        parsed = parse_address(plain)
        if parsed is None:
            return
        host, port, size = parsed
        task = asyncio.ensure_future(self._udp_relay(transport, client, (host, port),
                                                     plain[size:], key))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _udp_relay(self, transport: asyncio.DatagramTransport, client: tuple[str, int],
                         target: tuple[str, int], payload: bytes, key: bytes) -> None:
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[bytes] = loop.create_future()
        out, _ = await loop.create_datagram_endpoint(
            lambda: _Once(answer), local_addr=(LOOPBACK, 0))
        try:
            out.sendto(payload, target)
            reply = await asyncio.wait_for(answer, 5)
        except asyncio.TimeoutError:
            return
        finally:
            out.close()
        if self.udp_cut is not None:
            reply = reply[: self.udp_cut]
        iv = os.urandom(self.method.iv_size)
        transport.sendto(encrypt_packet(self.method, key, pack_address(*target) + reply, iv),
                         client)


class _Once(asyncio.DatagramProtocol):
    def __init__(self, answer: asyncio.Future[bytes]) -> None:
        self.answer = answer

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        if not self.answer.done():
            self.answer.set_result(data)


class _FakeDatagrams(asyncio.DatagramProtocol):
    def __init__(self, fake: Fake) -> None:
        self.fake = fake
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # asyncio's selector datagram transport does not subclass DatagramTransport.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        assert self.transport is not None
        self.fake.datagram(self.transport, data, (str(addr[0]), int(addr[1])))


@contextlib.asynccontextmanager
async def fake_server(fake: Fake) -> AsyncIterator[int]:
    server = await asyncio.start_server(fake.handle, LOOPBACK, 0)
    port = int(server.sockets[0].getsockname()[1])
    loop = asyncio.get_running_loop()
    udp, _ = await loop.create_datagram_endpoint(lambda: _FakeDatagrams(fake),
                                                 local_addr=(LOOPBACK, port))
    try:
        yield port
    finally:
        udp.close()
        server.close()
        for task in list(fake.tasks):
            task.cancel()
        await asyncio.gather(*fake.tasks, return_exceptions=True)
        await server.wait_closed()


def probe_fake(fake: Fake, *probes: str, udp: bool = False, quick: bool = True) -> ProbeReport:
    async def scenario() -> ProbeReport:
        async with fake_server(fake) as port:
            return await probe_async(options(port, fake.method, *probes, udp=udp, quick=quick))

    return run(scenario())


@pytest.mark.parametrize(("method", "verdict"), [(AEAD, "finding"), (STREAM, "finding"),
                                                 (SS2022, "fail")])
def test_a_server_that_serves_replays(method: Method, verdict: str) -> None:
    report = probe_fake(Fake(method, serve_replays=True), "tcp-round-trip", "replay-at-once",
                        "replayed-salt")
    results = report.by_name()
    assert results["tcp-round-trip"].verdict == "pass"
    assert results["replay-at-once"].verdict == verdict
    assert results["replay-at-once"].reaction == "data"
    if method.is_2022:
        assert results["replayed-salt"].verdict == "fail"
    honest = verdicts(probe_fake(Fake(method), "replay-at-once"))
    assert honest == {"replay-at-once": "pass"}


@pytest.mark.parametrize(("method", "verdict"), [(AEAD, "finding"), (SS2022, "fail")])
def test_a_server_that_resets_after_exactly_n_bytes(method: Method, verdict: str) -> None:
    """Every length from 1 to 300 (not --quick): the change is found to the byte."""
    report = probe_fake(Fake(method, reset_after=40), "random-bytes", "wrong-key", quick=False)
    result = report.by_name()["random-bytes"]
    assert result.verdict == verdict
    assert "1-39 B: silence; 40-300 B: RST at once" in result.detail
    assert "changes at 40 bytes" in result.detail
    assert report.by_name()["wrong-key"].verdict == verdict


def test_a_server_that_closes_bad_requests_at_once_shows_its_first_chunk() -> None:
    report = probe_fake(Fake(AEAD), "random-bytes")
    result = report.by_name()["random-bytes"]
    assert result.verdict == "finding"
    assert "changes at 34 bytes (the salt and the first chunk: 16 + 18)" in result.detail


def test_a_server_that_answers_garbage_fails() -> None:
    report = probe_fake(Fake(AEAD, answer_garbage=True), "random-bytes")
    assert verdicts(report) == {"random-bytes": "fail"}
    assert report.by_name()["random-bytes"].reaction == "data"


def test_a_classic_server_that_reuses_its_salt() -> None:
    fixed = bytes(range(16))
    report = probe_fake(Fake(AEAD, fixed_salt=fixed), "tcp-round-trip", "tcp-concurrent",
                        "tcp-unique-salts")
    results = report.by_name()
    assert results["tcp-round-trip"].verdict == "pass"  # each connection decodes...
    assert results["tcp-unique-salts"].verdict == "fail"  # ...but the salt comes back
    assert fixed[:8].hex() in results["tcp-unique-salts"].detail


def test_a_2022_server_that_reuses_its_salt_fails_in_the_decoder() -> None:
    report = probe_fake(Fake(SS2022, fixed_salt=bytes(16)), "tcp-round-trip", "tcp-concurrent")
    result = report.by_name()["tcp-concurrent"]
    assert result.verdict == "fail" and "ReplayedSalt" not in result.probe
    assert "already received" in result.detail


def test_a_server_with_a_wrong_nonce_sequence_is_named() -> None:
    report = probe_fake(Fake(AEAD, skew_nonces=True), "tcp-round-trip")
    result = report.by_name()["tcp-round-trip"]
    assert (result.verdict, result.reaction) == ("fail", "decoder")
    assert "length chunk with nonce 0 failed authentication" in result.detail


def test_udp_replays_and_cut_replies() -> None:
    report = probe_fake(Fake(AEAD, serve_replays=True, udp_cut=1000), "udp-sizes",
                        "udp-replay", udp=True)
    results = report.by_name()
    assert results["udp-replay"].verdict == "finding"
    assert results["udp-sizes"].verdict == "fail"
    assert "cut short" in results["udp-sizes"].detail and "1400-byte" in results[
        "udp-sizes"].detail
    honest = verdicts(probe_fake(Fake(AEAD), "udp-sizes", "udp-replay", udp=True))
    assert honest == {"udp-sizes": "pass", "udp-replay": "pass"}


# --- the command ---------------------------------------------------------------------------------


class BackgroundServer:
    """refcrypto's server (or a fake) on an event loop in a thread, for the command, which
    runs its own loop."""

    def __init__(self, method: Method, fake: Fake | None = None) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.fake = fake
        self.server: ShadowsocksServer | None = None
        self._stack: contextlib.AsyncExitStack | None = None
        self.port = self._call(self._start(method))

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(30)

    async def _start(self, method: Method) -> int:
        self._stack = contextlib.AsyncExitStack()
        if self.fake is not None:
            return await self._stack.enter_async_context(fake_server(self.fake))
        self.server, port = await self._stack.enter_async_context(reference_server(method))
        return port

    def close(self) -> None:
        if self._stack is not None:
            self._call(self._stack.aclose())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@contextlib.contextmanager
def background(method: Method, fake: Fake | None = None) -> Iterator[int]:
    server = BackgroundServer(method, fake)
    try:
        yield server.port
    finally:
        server.close()


def test_command_writes_json_and_junit(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                       ) -> None:
    report, junit = tmp_path / "probe.json", tmp_path / "probe.xml"
    with background(AEAD) as port:
        code = main(["probe", "--server", f"{LOOPBACK}:{port}", "-m", AEAD.name, "-k", PASSWORD,
                     "--quick", "--silence", str(SILENCE), "--probe", "tcp-round-trip",
                     "--probe", "random-bytes", "--probe", "replay-at-once",
                     "--json", str(report), "--junit", str(junit)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "tcp-round-trip" in out and "3 pass, 0 fail, 0 finding" in out
    data = json.loads(report.read_text())
    assert data["method"] == AEAD.name and data["counts"] == {"pass": 3, "fail": 0, "finding": 0}
    for record in data["results"]:
        assert {"probe", "family", "reaction", "seconds", "verdict", "detail"} <= set(record)
    series = next(r for r in data["results"] if r["probe"] == "random-bytes")
    assert series["family"] == "behaviour" and len(series["samples"]) > 10
    suite = ElementTree.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("tests") == "3" and suite.get("failures") == "0"


def test_command_exits_1_on_a_failure(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                      ) -> None:
    junit = tmp_path / "probe.xml"
    with background(AEAD, Fake(AEAD, skew_nonces=True)) as port:
        code = main(["probe", "--server", f"{LOOPBACK}:{port}", "-m", AEAD.name, "-k", PASSWORD,
                     "--quick", "--probe", "tcp-round-trip", "--junit", str(junit)])
    assert code == 1
    assert "fail" in capsys.readouterr().out
    failure = ElementTree.parse(junit).getroot().find("testsuite/testcase/failure")
    assert failure is not None and "nonce 0" in (failure.text or "")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(("args", "message"), [
    (["-m", "aes-128-gcm", "-k", "x"], "cannot connect to the server"),
    (["-m", "2022-blake3-aes-128-gcm", "-k", "not base64!"], "2022-blake3-aes-128-gcm"),
    (["-m", "aes-128-gmc", "-k", "x"], "aes-128-gcm"),
    (["-m", "aes-128-gcm"], "no key given"),
])
def test_command_bad_usage_is_one_line_and_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("REFCRYPTO_KEY", raising=False)
    code = main(["probe", "--server", f"{LOOPBACK}:{_closed_port()}", *args, "--quick"])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
