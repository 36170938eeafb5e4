"""Run the benchmark: calibrate, then measure every peer on every case, interleaved.

A *case* is one workload: ``tcp-encode`` or ``tcp-decode`` of one method at one write size,
``udp-encrypt`` or ``udp-decrypt`` of one packet size, or ``create`` (one ``Cryptor``, or what
a peer makes per connection). For each case every peer is calibrated once (how many calls
fill ``Config.seconds``), then measured ``Config.rounds`` times; within a round the peers
take turns, in an order that rotates from round to round, so a background load spike hits
all of them alike. Each measurement is one timed loop of plain calls (:mod:`.peers`); the
report keeps every run, the best and the median, and gives ratios from the same run.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any

from ..methods import Method, method
from ..wire.cryptor import Cryptor
from .environment import environment
from .peers import PASSWORD, Peer, all_peers

__all__ = [
    "DEFAULT_METHODS",
    "DEFAULT_SIZES",
    "Case",
    "Config",
    "Measure",
    "Report",
    "environment",
    "run",
]

#: The methods of the published table (Shadowsocks' AEAD methods and the common stream ones).
DEFAULT_METHODS = (
    "aes-128-gcm",
    "aes-256-gcm",
    "chacha20-ietf-poly1305",
    "xchacha20-ietf-poly1305",
    "aes-256-cfb",
    "aes-256-ctr",
    "chacha20-ietf",
    "salsa20",
    "rc4-md5",
)
#: TCP write sizes: a small request, a typical read, the largest SIP004 chunk and then some.
DEFAULT_SIZES = (100, 1024, 16384)
#: UDP packet size.
UDP_SIZE = 512

Progress = Callable[[str], None]


@dataclass
class Config:
    """What to run. ``seconds`` is the target length of one timed loop."""

    methods: Sequence[str] = DEFAULT_METHODS
    sizes: Sequence[int] = DEFAULT_SIZES
    peers: Sequence[str] | None = None
    rounds: int = 5
    seconds: float = 0.1
    tcp: bool = True
    udp: bool = True
    create: bool = True
    udp_size: int = UDP_SIZE
    #: Live ``Cryptor`` pairs for the memory figure (0: skip; runs in child processes).
    memory_pairs: int = 0
    #: Short sessions per method family for the soak test (0: skip; child processes).
    soak_pairs: int = 0
    soak_methods: Sequence[str] | None = None


@dataclass
class Measure:
    """One peer on one case: every run's rate, or why it was skipped."""

    runs: list[float] = field(default_factory=list)
    calls: int = 0
    skipped: str | None = None

    @property
    def best(self) -> float | None:
        return max(self.runs) if self.runs else None

    @property
    def median(self) -> float | None:
        return statistics.median(self.runs) if self.runs else None

    def as_dict(self) -> dict[str, Any]:
        return {"best": self.best, "median": self.median, "runs": self.runs,
                "calls_per_run": self.calls, "skipped": self.skipped}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Measure:
        return cls(runs=list(data["runs"]), calls=int(data["calls_per_run"]),
                   skipped=data["skipped"])


@dataclass
class Case:
    """One workload and what every peer did on it. ``unit`` is ``MB/s`` (10^6 plaintext
    bytes per second), ``packets/s`` or ``objects/s``."""

    kind: str
    method: str
    size: int
    unit: str
    peers: dict[str, Measure] = field(default_factory=dict)

    def ratio(self, peer: str, stat: str = "best") -> float | None:
        """refcrypto's rate over ``peer``'s (> 1: refcrypto is faster)."""
        ours, theirs = self.peers.get("refcrypto"), self.peers.get(peer)
        if ours is None or theirs is None:
            return None
        a, b = getattr(ours, stat), getattr(theirs, stat)
        return a / b if a and b else None

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "method": self.method, "size": self.size, "unit": self.unit,
                "peers": {name: m.as_dict() for name, m in self.peers.items()}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Case:
        return cls(data["kind"], data["method"], int(data["size"]), data["unit"],
                   {name: Measure.from_dict(m) for name, m in data["peers"].items()})


@dataclass
class Report:
    """Everything one run produced."""

    config: Config
    environment: dict[str, Any]
    peers: dict[str, str]
    cases: list[Case] = field(default_factory=list)
    memory: list[dict[str, Any]] = field(default_factory=list)
    soak: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "config": asdict(self.config),
            "environment": self.environment,
            "peers": self.peers,
            "cases": [case.as_dict() for case in self.cases],
            "memory": self.memory,
            "soak": self.soak,
            "seconds": self.seconds,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Report:
        """The report :meth:`as_dict` gave (read back from the JSON, e.g. to draw the chart
        in another process than the one that measured)."""
        config = dict(data["config"])
        for key in ("methods", "sizes", "soak_methods"):
            if config.get(key) is not None:
                config[key] = tuple(config[key])
        return cls(
            config=Config(**config),
            environment=dict(data["environment"]),
            peers=dict(data["peers"]),
            cases=[Case.from_dict(c) for c in data["cases"]],
            memory=list(data.get("memory", [])),
            soak=list(data.get("soak", [])),
            seconds=float(data.get("seconds", 0.0)),
        )


# --------------------------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------------------------


def _loop(call: Callable[[Any], Any], inputs: Sequence[Any]) -> float:
    start = time.perf_counter()
    for item in inputs:
        call(item)
    return time.perf_counter() - start


def _loop_make(make: Callable[[], object], count: int) -> float:
    start = time.perf_counter()
    for _ in range(count):
        make()
    return time.perf_counter() - start


def _loop_same(call: Callable[[Any], Any], argument: Any, count: int) -> float:
    """``count`` calls with the same argument."""
    return _loop(call, [argument] * count)


def _calibrate(timed: Callable[[int], float], seconds: float, limit: int) -> int:
    """How many calls fill ``seconds``: double until a loop takes an eighth of it, scale."""
    count = 1
    while True:
        elapsed = timed(count)
        if elapsed >= seconds / 8 or count >= limit:
            break
        count *= 2
    return max(1, min(limit, round(count * seconds / max(elapsed, 1e-9))))


def _order(peers: Sequence[Peer], round_index: int) -> list[Peer]:
    shift = round_index % len(peers)
    return [*peers[shift:], *peers[:shift]]


# --------------------------------------------------------------------------------------------
# The cases
# --------------------------------------------------------------------------------------------


def _skip_reason(peer: Peer, m: Method) -> str | None:
    return peer.unavailable() or peer.unsupported(m)


def _plaintext(result: Any) -> Any:
    """A decoder's result; Python shadowsocks' ``decrypt_all`` returns ``(data, key, iv)``."""
    return result[0] if isinstance(result, tuple) else result


def _tcp_cases(config: Config, peers: Sequence[Peer], m: Method, size: int,
               progress: Progress) -> list[Case]:
    data = os.urandom(size)
    encode = Case("tcp-encode", m.name, size, "MB/s")
    decode = Case("tcp-decode", m.name, size, "MB/s")
    writers: dict[str, Callable[[bytes], Any]] = {}
    limit = max(64, int(2e9 * config.seconds / size))  # 20 GB/s would be absurd
    # One wire stream, from refcrypto's encoder, is what every decoder reads.
    source = Cryptor(PASSWORD, m)
    wire = [source.encrypt(data) for _ in range(2)]
    for peer in peers:
        reason = _skip_reason(peer, m)
        if reason is None and peer.verifies:
            read, inputs = peer.decoder(m, wire, data)
            if _plaintext(read(inputs[0])) != data:
                reason = "decoded bytes differ from the plaintext"
        if reason is not None:
            encode.peers[peer.name] = Measure(skipped=reason)
            decode.peers[peer.name] = Measure(skipped=reason)
            continue
        write = writers[peer.name] = peer.encoder(m)
        calls = _calibrate(partial(_loop_same, write, data), config.seconds, limit)
        encode.peers[peer.name] = Measure(calls=calls)
        decode.peers[peer.name] = Measure(calls=calls)
    most = max((mm.calls for mm in decode.peers.values() if mm.skipped is None), default=0)
    wire += [source.encrypt(data) for _ in range(most - 1)]
    active = [p for p in peers if encode.peers[p.name].skipped is None]
    for index in range(config.rounds):
        for peer in _order(active, index):
            measure = encode.peers[peer.name]
            elapsed = _loop(writers[peer.name], [data] * measure.calls)
            measure.runs.append(size * measure.calls / elapsed / 1e6)
        for peer in _order(active, index):
            measure = decode.peers[peer.name]
            read, inputs = peer.decoder(m, wire[: measure.calls + 1], data)
            elapsed = _loop(read, inputs)
            measure.runs.append(size * len(inputs) / elapsed / 1e6)
    progress(f"tcp {m.name} {size} B")
    return [encode, decode]


def _udp_cases(config: Config, peers: Sequence[Peer], m: Method, progress: Progress
               ) -> list[Case]:
    data = os.urandom(config.udp_size)
    encrypt = Case("udp-encrypt", m.name, config.udp_size, "packets/s")
    decrypt = Case("udp-decrypt", m.name, config.udp_size, "packets/s")
    calls: dict[tuple[str, str], tuple[Callable[[bytes], Any], bytes]] = {}
    for peer in peers:
        reason = _skip_reason(peer, m)
        if reason is None:
            seal, open_ = peer.udp_encrypt(m), peer.udp_decrypt(m)
            # Each peer opens packets it made (pproxy's AEAD packets have its own layout).
            packet = seal(data)
            if peer.verifies and _plaintext(open_(packet)) != data:
                reason = "decrypted packet differs from the plaintext"
        if reason is not None:
            encrypt.peers[peer.name] = Measure(skipped=reason)
            decrypt.peers[peer.name] = Measure(skipped=reason)
            continue
        for case, function, argument in ((encrypt, seal, data), (decrypt, open_, packet)):
            calls[case.kind, peer.name] = function, argument
            count = _calibrate(partial(_loop_same, function, argument), config.seconds, 10**7)
            case.peers[peer.name] = Measure(calls=count)
    for case in (encrypt, decrypt):
        active = [p for p in peers if case.peers[p.name].skipped is None]
        for index in range(config.rounds):
            for peer in _order(active, index):
                measure = case.peers[peer.name]
                function, argument = calls[case.kind, peer.name]
                measure.runs.append(measure.calls / _loop(function, [argument] * measure.calls))
    progress(f"udp {m.name}")
    return [encrypt, decrypt]


def _create_case(config: Config, peers: Sequence[Peer], m: Method, progress: Progress) -> Case:
    case = Case("create", m.name, 0, "objects/s")
    makers: dict[str, Callable[[], object]] = {}
    for peer in peers:
        reason = _skip_reason(peer, m)
        make = peer.creator(m) if reason is None else None
        if make is None:
            case.peers[peer.name] = Measure(skipped=reason or "no per-connection object")
            continue
        makers[peer.name] = make
        count = _calibrate(partial(_loop_make, make), config.seconds, 10**7)
        case.peers[peer.name] = Measure(calls=count)
    active = [p for p in peers if p.name in makers]
    for index in range(config.rounds):
        for peer in _order(active, index):
            measure = case.peers[peer.name]
            measure.runs.append(measure.calls / _loop_make(makers[peer.name], measure.calls))
    progress(f"create {m.name}")
    return case


def run(config: Config, progress: Progress | None = None) -> Report:
    """Run every case of ``config``; ``progress`` gets a line after each."""
    say = progress or (lambda line: None)
    started = time.perf_counter()
    peers = all_peers(config.peers)
    report = Report(config, environment(), {})
    for peer in peers:
        reason = peer.unavailable()
        report.peers[peer.name] = f"unavailable: {reason}" if reason else peer.describe()
    rows = [method(name) for name in config.methods]
    if config.tcp:
        for m in rows:
            for size in config.sizes:
                report.cases += _tcp_cases(config, peers, m, size, say)
    for m in rows:
        if config.udp:
            report.cases += _udp_cases(config, peers, m, say)
        if config.create:
            report.cases.append(_create_case(config, peers, m, say))
    if config.memory_pairs or config.soak_pairs:
        from .memory import run_memory, run_soak

        names = [p.name for p in peers if p.name in ("refcrypto", "shadowsocks")]
        if config.memory_pairs:
            report.memory = run_memory(names, list(config.methods), config.memory_pairs, say)
        if config.soak_pairs:
            soak_methods = list(config.soak_methods or ())
            report.soak = run_soak(names, soak_methods, config.soak_pairs, say)
    report.seconds = time.perf_counter() - started
    return report
