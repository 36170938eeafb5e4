"""Behaviour probes: what the server does with input that is not a valid client.

What an active prober sends ("How China Detects and Blocks Shadowsocks", Alice, Bob,
Carol, Beznazwy, Houmansadr, IMC 2020: random bytes of chosen lengths, and recorded
connections replayed, identical or with bytes changed), and the 2022 checks SIP022 makes
MUSTs (3.1.3 detection prevention and header rules, 3.1.4 salts and timestamps, 3.2.4 the
UDP sliding window):

* ``random-bytes``: one connection per length (1 to 300 bytes; fewer with --quick);
* ``wrong-key``: a valid request under another key, cut at the same kind of lengths;
* ``bit-flip-salt`` / ``-length`` / ``-tag`` / ``-payload``: a valid request with one bit
  flipped in that field (stream methods: the IV, and the address type);
* ``cut-in-first-chunk``: a valid request cut inside its first chunk, the client waiting;
  ``cut-in-first-chunk-fin``: the same, then the client shuts down writing;
* ``replay-at-once``, ``replay-after-delay``: a recorded, served connection sent again;
* 2022: ``timestamp-old``, ``timestamp-future`` (60 s off), ``replayed-salt`` (a new
  request reusing a served request's salt), ``no-payload-no-padding`` and
  ``padding-past-header`` (headers SIP022 3.1.3 says a server MUST reject);
* UDP: ``udp-replay``, ``udp-wrong-key``, and for 2022 ``udp-timestamp-old``.

For each: the server's reaction (data, FIN, RST, or silence until the timeout), the time to
it, and whether the server *served* the input (answered with data, or reached the target:
every request starts its data with a token the probe's own targets record).

The probe never makes a server connect anywhere but its own targets: random or altered
bytes for a stream method are drawn again until they do not decrypt to an address type
(:meth:`~refcrypto.probe.dialect.Dialect.names_address`).

Verdicts (:func:`judge`): for 2022 the MUSTs are ``pass`` or ``fail``; for the classic
methods a served replay and a reaction that depends on the number of bytes sent are
``finding`` s; serving altered AEAD data, a wrong key or random bytes is a ``fail`` for
every family; a reaction to a rejected request that differs from the reaction to random
bytes of the same length is a ``finding``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable

from ..errors import RefcryptoError
from ..wire.udp import decrypt_packet
from .conformance import exchange
from .context import Run
from .dialect import ClientStream, UdpCodec, names_address_type
from .net import TOKEN_SIZE, Reaction, UdpSocket, close, connect, observe
from .results import ProbeResult, describe_segments, reaction_class, segments

__all__ = ["Observation", "judge", "observe_tcp", "observe_udp"]

#: The longest random probe (the lengths the IMC 2020 measurements cover are shorter).
MAX_SERIES_LENGTH = 300
#: Random draws for one input of a stream method before giving up (each is 3/256 likely to
#: name an address, so this is never reached in practice).
MAX_REDRAWS = 200
#: Seconds a 2022 timestamp probe is off (SIP022 3.1.3 allows 30).
TIMESTAMP_OFFSET = 60


class Observation:
    """One behaviour probe before its verdict: what was sent, what happened."""

    __slots__ = ("__weakref__", "length", "name", "note", "reaction", "samples", "served")

    def __init__(self, name: str, length: int, reaction: Reaction, served: bool,
                 note: str = "", samples: list[tuple[int, Reaction]] | None = None) -> None:
        self.name = name
        self.length = length
        self.reaction = reaction
        self.served = served
        #: Set when the probe could not be judged (e.g. the recording was not served).
        self.note = note
        self.samples = samples


# --- sending ------------------------------------------------------------------------------------


async def _send(run: Run, wire: bytes, *, fin: bool = False) -> Reaction:
    """One connection: send ``wire`` in one write (then FIN if asked), and observe."""
    async with run.limit:
        try:
            reader, writer = await connect(run.options.server, run.options.io_timeout)
        except (OSError, asyncio.TimeoutError):
            return Reaction("refused", 0.0)
        try:
            try:
                writer.write(wire)
                await writer.drain()
                if fin and writer.can_write_eof():
                    writer.write_eof()
            except OSError:
                return Reaction("RST", 0.0)
            return await observe(reader, run.silence)
        finally:
            await close(writer)


async def _probe_request(run: Run, name: str, wire: bytes, token: bytes, *,
                         fin: bool = False, sink: int | None = None) -> Observation:
    """Send one request-like input; served = the server answered with data, or the target
    got ``token`` (or, with ``sink``, that sink got a connection)."""
    state = run.targets.state
    before = state.tokens[token] if token else 0
    sinks_before = state.sink_connections[sink] if sink is not None else 0
    reaction = await _send(run, wire, fin=fin)
    reached = bool(token) and state.tokens[token] > before
    if sink is not None:
        reached = reached or state.sink_connections[sink] > sinks_before
    return Observation(name, len(wire), reaction, reaction.kind == "data" or reached)


def _random_input(run: Run, length: int) -> bytes:
    """``length`` random bytes that do not decrypt to an address type (stream methods)."""
    for _ in range(MAX_REDRAWS):
        data = run.rng.randbytes(length)
        if not run.dialect.names_address(data):
            return data
    raise RefcryptoError(f"no random input of {length} bytes avoids naming an address")


def series_lengths(run: Run, extra: Iterable[int] = (), *, sparse: bool = False) -> list[int]:
    """Lengths of a series: every length 1..300 (``sparse``: every 10th), or with --quick
    the lengths around the method's thresholds; plus ``extra``."""
    marks = run.dialect.thresholds()
    chosen = {1, 2, 8, 64, 128, 221, MAX_SERIES_LENGTH}
    chosen |= {m + d for m in marks for d in (-1, 0, 1)}
    if not run.options.quick:
        chosen |= set(range(1, MAX_SERIES_LENGTH + 1, 10 if sparse else 1))
    chosen |= set(extra)
    return sorted(n for n in chosen if 1 <= n <= MAX_SERIES_LENGTH)


async def _series(run: Run, name: str, make: Callable[[int], bytes], lengths: list[int],
                  token: bytes = b"") -> Observation:
    state = run.targets.state
    before = state.tokens[token] if token else 0
    reactions = await asyncio.gather(*(_send(run, make(n)) for n in lengths))
    samples = list(zip(lengths, reactions, strict=True))
    served = any(r.kind == "data" for r in reactions)
    if token and state.tokens[token] > before:
        served = True
    return Observation(name, 0, reactions[0], served, samples=samples)


# --- requests ------------------------------------------------------------------------------------


def _request(run: Run, client: ClientStream, size: int = 32) -> tuple[bytes, bytes]:
    """A valid request (one write) carrying a fresh token: (wire, token)."""
    token = run.token()
    return client.first(token + run.rng.randbytes(size)), token


def _padding(run: Run) -> int | None:
    """2022 requests of the behaviour probes carry no padding, so their length is known."""
    return 0 if run.dialect.family == "2022" else None


def _flipped(run: Run, wire: bytes, offset: int, field: str) -> bytes:
    """``wire`` with one bit flipped in ``field`` (stream methods: a flip that does not
    make the decrypted stream start with an address type)."""
    if run.dialect.family != "stream":
        out = bytearray(wire)
        out[offset] ^= 0x01
        return bytes(out)
    # The address type 1 (IPv4) becomes 5 with bit 2; an IV flip changes all that follows.
    width = 1 if field == "payload" else max(1, run.dialect.method.iv_size)
    shifts = (2, 0, 1, 3, 4, 5, 6, 7)
    for position in range(offset, offset + width):
        for shift in shifts:
            out = bytearray(wire)
            out[position] ^= 1 << shift
            if not run.dialect.names_address(bytes(out)):
                return bytes(out)
    raise RefcryptoError(f"every one-bit change of the {field} names an address")


def _cut(run: Run) -> int:
    """Where ``cut-in-first-chunk`` cuts: inside the first chunk (stream methods: inside
    the address, after its type)."""
    m = run.dialect.method
    if run.dialect.family == "stream":
        return m.iv_size + 3
    return m.iv_size + (run.dialect.first_chunk - m.iv_size) // 2


class _Recording:
    """A valid connection the server served, kept to be replayed."""

    __slots__ = ("__weakref__", "error", "salt", "token", "wire")

    def __init__(self, wire: bytes, token: bytes, salt: bytes, error: str | None) -> None:
        self.wire = wire
        self.token = token
        self.salt = salt
        #: Why the recorded connection was not served (``None``: it was).
        self.error = error


async def _record(run: Run) -> _Recording:
    client = run.client(padding=_padding(run))
    token = run.token()
    plain = token + run.rng.randbytes(32)
    wire = client.first(plain)
    got = await exchange(run, "replay-at-once", client, [wire], len(plain))
    error = got.error
    if error is None and got.plaintext != plain:
        error = "the echo came back altered"
    return _Recording(wire, token, client.request_salt, error)


async def _replay(run: Run, name: str, recording: _Recording, delay: float) -> Observation:
    if delay:
        await asyncio.sleep(delay)
    if recording.error is not None:
        return Observation(name, len(recording.wire), Reaction("-", 0.0), False,
                           note=f"the recorded connection was not served: {recording.error}")
    return await _probe_request(run, name, recording.wire, recording.token)


# --- the probes ------------------------------------------------------------------------------


async def observe_tcp(run: Run, wanted: Callable[[str], bool]) -> list[Observation]:
    """Run every TCP behaviour probe ``wanted`` accepts; observations in probe order."""
    d = run.dialect
    tasks: dict[str, Awaitable[Observation]] = {}
    singles: list[int] = []

    recording: _Recording | None = None
    if any(wanted(n) for n in ("replay-at-once", "replay-after-delay", "replayed-salt")):
        recording = await _record(run)
        if wanted("replay-at-once"):  # at once: before anything else
            tasks["replay-at-once"] = _done(await _replay(run, "replay-at-once", recording, 0))
        singles.append(len(recording.wire))

    for field, offset in d.fields().items():
        name = f"bit-flip-{field}"
        if wanted(name):
            wire, token = _request(run, run.client(padding=_padding(run)))
            tasks[name] = _probe_request(run, name, _flipped(run, wire, offset, field), token)
            singles.append(len(wire))
    cut = _cut(run)
    for name, fin in (("cut-in-first-chunk", False), ("cut-in-first-chunk-fin", True)):
        if wanted(name):
            wire, token = _request(run, run.client(padding=_padding(run)))
            tasks[name] = _probe_request(run, name, wire[:cut], token, fin=fin)
    singles.append(cut)
    if recording is not None and wanted("replay-after-delay"):
        tasks["replay-after-delay"] = _replay(run, "replay-after-delay", recording,
                                              run.options.replay_delay)
    if d.family == "2022":
        now = int(time.time())
        for name, offset in (("timestamp-old", -TIMESTAMP_OFFSET),
                             ("timestamp-future", TIMESTAMP_OFFSET)):
            if wanted(name):
                client = run.client(clock=_fixed_clock(now + offset), padding=0)
                wire, token = _request(run, client)
                tasks[name] = _probe_request(run, name, wire, token)
                singles.append(len(wire))
        if recording is not None and wanted("replayed-salt"):
            if recording.error is not None:
                tasks["replayed-salt"] = _done(Observation(
                    "replayed-salt", 0, Reaction("-", 0.0), False,
                    note=f"the recorded connection was not served: {recording.error}"))
            else:
                client = run.client(salt=recording.salt, padding=0)
                wire, token = _request(run, client)
                tasks["replayed-salt"] = _probe_request(run, "replayed-salt", wire, token)
                singles.append(len(wire))
        sinks = run.targets.sinks
        if sinks:
            # (name, sink, padding length, padding): neither payload nor padding; a padding
            # length of 200 with 10 bytes of padding in the chunk (SIP022 3.1.3).
            crafted = (("no-payload-no-padding", 0, 0, b""),
                       ("padding-past-header", 1, 200, bytes(10)))
            for name, index, length, padding in crafted:
                if wanted(name):
                    wire = d.crafted_request(sinks[index], padding_length=length,
                                             padding=padding, payload=b"")
                    tasks[name] = _probe_request(run, name, wire, b"", sink=index)
                    singles.append(len(wire))

    if wanted("random-bytes"):
        tasks["random-bytes"] = _series(
            run, "random-bytes", lambda n: _random_input(run, n),
            series_lengths(run, singles))
    if wanted("wrong-key"):
        wire, token = _wrong_key_request(run)
        tasks["wrong-key"] = _series(run, "wrong-key", lambda n: wire[:n],
                                     series_lengths(run, sparse=True), token)
    names = list(tasks)
    observations = await asyncio.gather(*(tasks[n] for n in names))
    return list(observations)


def _fixed_clock(value: int) -> Callable[[], int]:
    def clock() -> int:
        return value
    return clock


async def _done_coroutine(observation: Observation) -> Observation:
    return observation


def _done(observation: Observation) -> Awaitable[Observation]:
    return _done_coroutine(observation)


def _wrong_key_request(run: Run) -> tuple[bytes, bytes]:
    """A request under another key, at least 300 bytes long (stream methods: one whose
    bytes do not decrypt to an address type under the right key)."""
    for _ in range(MAX_REDRAWS):
        client = ClientStream(run.dialect, run.targets.echo, key=run.dialect.wrong_key(),
                              padding=_padding(run))
        token = run.token()
        wire = client.first(token + run.rng.randbytes(MAX_SERIES_LENGTH))
        if not run.dialect.names_address(wire):
            return wire, token
    raise RefcryptoError("no wrong-key request avoids naming an address")


# --- UDP -----------------------------------------------------------------------------------------


async def observe_udp(run: Run, wanted: Callable[[str], bool]) -> list[Observation]:
    tasks: dict[str, Awaitable[Observation]] = {}
    if wanted("udp-replay"):
        tasks["udp-replay"] = _udp_replay(run)
    if wanted("udp-wrong-key"):
        tasks["udp-wrong-key"] = _udp_unanswered(run, "udp-wrong-key", _udp_wrong_key(run))
    if run.dialect.family == "2022" and wanted("udp-timestamp-old"):
        codec = UdpCodec(run.dialect, clock=_fixed_clock(int(time.time()) - TIMESTAMP_OFFSET))
        tasks["udp-timestamp-old"] = _udp_unanswered(
            run, "udp-timestamp-old", codec.seal(run.token() + b"late", run.targets.udp))
    names = list(tasks)
    return list(await asyncio.gather(*(tasks[n] for n in names)))


def _udp_wrong_key(run: Run) -> bytes:
    m = run.dialect.method
    for _ in range(MAX_REDRAWS):
        codec = UdpCodec(run.dialect, key=run.dialect.wrong_key())
        packet = codec.seal(run.token() + b"wrong key", run.targets.udp)
        if run.dialect.family != "stream":
            return packet
        plain = decrypt_packet(m, run.dialect.master, packet)
        if not plain or not names_address_type(plain[0]):
            return packet
    raise RefcryptoError("no wrong-key UDP packet avoids naming an address")


async def _udp_unanswered(run: Run, name: str, packet: bytes) -> Observation:
    """Send a packet the server must drop; any reply within the wait is a served one."""
    sock = await UdpSocket.open(run.options.server)
    loop = asyncio.get_running_loop()
    start = loop.time()
    try:
        sock.send(packet)
        reply = await sock.receive(run.options.udp_wait)
    finally:
        sock.close()
    if reply is None:
        return Observation(name, len(packet), Reaction("silence", loop.time() - start), False)
    return Observation(name, len(packet), Reaction("data", loop.time() - start, reply), True)


async def _udp_replay(run: Run) -> Observation:
    """Fresh packets until one is answered, then that packet again: a second answer carrying
    its token means the replay was served."""
    name = "udp-replay"
    codec = UdpCodec(run.dialect)  # its own session: no other probe's packets in it
    sock = await UdpSocket.open(run.options.server)
    loop = asyncio.get_running_loop()
    answered: dict[bytes, int] = {}
    sent: dict[bytes, bytes] = {}

    async def collect(seconds: float, until: bytes = b"") -> None:
        """Count the replies per token for ``seconds`` (or until ``until`` has two)."""
        end = loop.time() + seconds
        while (left := end - loop.time()) > 0 and answered.get(until, 0) < 2:
            packet = await sock.receive(left)
            if packet is None:
                return
            try:
                _, payload, _ = codec.open(packet)
            except (RefcryptoError, ValueError):
                continue
            token = payload[:TOKEN_SIZE]
            if token in sent:
                answered[token] = answered.get(token, 0) + 1

    try:
        original: bytes | None = None
        for _ in range(3):
            token = run.token()
            packet = codec.seal(token + b"udp replay", run.targets.udp)
            sent[token] = packet
            sock.send(packet)
            await collect(run.options.udp_wait)
            if answered:
                original = sent[next(iter(answered))]
                break
        if original is None:
            return Observation(name, 0, Reaction("-", 0.0), False,
                               note="no reply to the original packets")
        token = next(iter(answered))
        start = loop.time()
        sock.send(original)
        await collect(run.options.udp_wait, token)
        seconds = loop.time() - start
    finally:
        sock.close()
    if answered[token] > 1:
        return Observation(name, len(original), Reaction("data", seconds), True)
    return Observation(name, len(original), Reaction("silence", seconds), False)


# --- verdicts ------------------------------------------------------------------------------------


#: Probes whose input the server must not serve, and whose reaction is compared with the
#: reaction to random bytes of the same length.
_COMPARED = ("bit-flip-salt", "bit-flip-length", "bit-flip-tag", "bit-flip-payload",
             "cut-in-first-chunk", "replay-at-once", "replay-after-delay", "timestamp-old",
             "timestamp-future", "replayed-salt", "no-payload-no-padding",
             "padding-past-header")


def judge(run: Run, observations: list[Observation]) -> list[ProbeResult]:
    """Verdicts for the observations (module documentation)."""
    silence = run.silence
    random_classes: dict[int, str] = {}
    for obs in observations:
        if obs.name == "random-bytes" and obs.samples:
            random_classes = {n: reaction_class(r, silence) for n, r in obs.samples}
    return [_judge_one(run, obs, random_classes) for obs in observations]


def _served_verdict(run: Run, name: str) -> tuple[str, str]:
    """(verdict, why) for a probe whose input was served."""
    family = run.dialect.family
    if name in ("replay-at-once", "replay-after-delay", "udp-replay"):
        if family == "2022":
            rule = ("SIP022 3.2.4: the sliding window MUST refuse it" if name == "udp-replay"
                    else "SIP022 3.1.4: a salt seen in the last 60 s MUST be refused, and a "
                    "timestamp over 30 s off treated as a replay")
            return "fail", f"the replay was served ({rule})"
        return "finding", ("the replay was served: the server confirms what it is to anyone "
                           "who replays a recorded connection (no replay filter)")
    if name.startswith("bit-flip-") and family == "stream":
        return "finding", "altered bytes were served (stream methods authenticate nothing)"
    if name in ("timestamp-old", "timestamp-future", "udp-timestamp-old"):
        return "fail", ("a timestamp 60 s off was served (SIP022 3.1.3: over 30 s MUST be "
                        "treated as a replay)")
    if name == "replayed-salt":
        return "fail", "a request reusing a served salt was served (SIP022 3.1.4)"
    if name == "no-payload-no-padding":
        return "fail", ("the server connected for a header with neither payload nor padding "
                        "(SIP022 3.1.3: servers MUST reject it)")
    if name == "padding-past-header":
        return "fail", ("the server connected for a header whose padding runs past the header "
                        "chunk (SIP022 3.1.3: servers MUST enforce that it does not)")
    if name in ("wrong-key", "udp-wrong-key"):
        return "fail", "input under a wrong key was served"
    if name == "random-bytes":
        return "fail", "random bytes were answered with data"
    return "fail", "input that is not a valid request was served"


def _judge_one(run: Run, obs: Observation, random_classes: dict[int, str]) -> ProbeResult:
    silence = run.silence
    if obs.note:
        return ProbeResult(obs.name, "behaviour", obs.reaction.kind, obs.reaction.seconds,
                           "fail", f"not judged: {obs.note}")
    if obs.samples is not None:
        return _judge_series(run, obs)
    cls = reaction_class(obs.reaction, silence)
    seconds = obs.reaction.seconds
    if obs.served:
        verdict, why = _served_verdict(run, obs.name)
        return ProbeResult(obs.name, "behaviour", cls, seconds, verdict,
                           f"{obs.length} bytes sent: {why}")
    detail = f"{obs.length} bytes sent: not served; {cls}"
    if cls != "silence":
        detail += f" after {seconds:.3f} s"
    if obs.name in _COMPARED and obs.length in random_classes:
        expected = random_classes[obs.length]
        if expected != cls:
            return ProbeResult(
                obs.name, "behaviour", cls, seconds, "finding",
                f"{detail}, but random bytes of the same length get {expected}: a prober "
                "can tell this input from garbage")
        detail += " (as random bytes of the same length)"
    if obs.name == "cut-in-first-chunk-fin":
        detail += " (the client shut down writing)"
    return ProbeResult(obs.name, "behaviour", cls, seconds, "pass", detail)


def _judge_series(run: Run, obs: Observation) -> ProbeResult:
    silence = run.silence
    assert obs.samples is not None
    samples = [(n, reaction_class(r, silence), r.seconds) for n, r in obs.samples]
    runs = segments([(n, c) for n, c, _ in samples])
    times = sorted(s for _, c, s in samples if c != "silence")
    seconds = times[len(times) // 2] if times else silence
    span = f"{samples[0][0]}-{samples[-1][0]} B" if samples else "no lengths"
    if obs.served:
        verdict, why = _served_verdict(run, obs.name)
        return ProbeResult(obs.name, "behaviour", "data", seconds, verdict,
                           f"{why}: {describe_segments(runs)}", samples)
    if len(runs) == 1:
        cls = runs[0][2]
        return ProbeResult(obs.name, "behaviour", cls, seconds, "pass",
                           f"{len(samples)} lengths ({span}): {cls} for every one", samples)
    before, change = runs[0][1], runs[1][0]
    where = (f"at {change} bytes{_threshold_name(run, change)}" if change == before + 1
             else f"between {before + 1} and {change} bytes")
    text = (f"the reaction depends on the number of bytes sent: {describe_segments(runs)}; "
            f"it changes {where}, which shows how many the server reads before it decides")
    if run.dialect.family == "2022":
        return ProbeResult(obs.name, "behaviour", "varies", seconds, "fail",
                           f"{text} (SIP022 3.1.3: it MUST NOT)", samples)
    return ProbeResult(obs.name, "behaviour", "varies", seconds, "finding", text, samples)


def _threshold_name(run: Run, length: int) -> str:
    d = run.dialect
    m = d.method
    what = "salt" if m.is_aead or m.is_2022 else "IV"
    names = {
        m.iv_size: f"the {what}",
        m.iv_size + 1: f"the {what} and one byte",
        d.first_chunk: f"the {what} and the first chunk",
        d.first_chunk + 1: f"the {what}, the first chunk and one byte",
    }
    if d.family == "stream":
        names[m.iv_size + 1] = "the IV and the address type"
    name = names.get(length)
    return f" ({name}: {m.iv_size} + {length - m.iv_size})" if name else ""
