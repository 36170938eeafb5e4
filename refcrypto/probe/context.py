"""The settings of a probe run (:class:`ProbeOptions`) and the state its probes share
(:class:`Run`)."""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Callable

from ..methods import Method
from .dialect import ClientStream, Dialect
from .net import TOKEN_SIZE, Targets

__all__ = ["ProbeError", "ProbeOptions", "Run"]

Address = tuple[str, int]

#: Full run: 10 MB in bulk, 50 connections at once, 10 s of silence, a 35 s replay delay
#: (past the 30 s of SIP022's timestamp window).
FULL = {"bulk": 10_000_000, "connections": 50, "silence": 10.0, "replay_delay": 35.0,
        "udp_wait": 2.0, "io_timeout": 120.0, "concurrency": 50}
#: --quick: 1 MiB, 10 connections, 2 s of silence, a 1 s replay delay, fewer sizes.
QUICK = {"bulk": 1 << 20, "connections": 10, "silence": 2.0, "replay_delay": 1.0,
         "udp_wait": 1.0, "io_timeout": 30.0, "concurrency": 100}


class ProbeError(Exception):
    """The probe cannot run: the server is unreachable, or an option is unusable."""


class ProbeOptions:
    """What to probe and how.

    ``server`` and ``method`` and ``key`` (a password, or a 2022 base64 PSK) are required.
    ``udp`` adds the UDP probes; ``target`` names an echo server (TCP and UDP) for the
    probed server to reach instead of the probe's own on 127.0.0.1 (without the probe's own
    targets the half-close-by-target and 2022 crafted-header probes cannot run).
    ``quick`` makes a shorter run (fewer lengths and sizes, 1 MiB in bulk, 10 connections,
    2 s of silence). ``silence``, ``replay_delay``, ``bulk``, ``connections`` and
    ``udp_wait`` (the wait for one UDP reply) override the run's defaults; ``probes`` limits
    the run to the probes named; ``seed`` fixes the random bytes sent.
    """

    __slots__ = (
        "__weakref__", "bulk", "concurrency", "connections", "io_timeout", "key", "method",
        "probes", "quick", "replay_delay", "seed", "server", "silence", "target", "udp",
        "udp_wait",
    )

    def __init__(
        self,
        server: Address,
        method: Method,
        key: str | bytes,
        *,
        udp: bool = False,
        target: Address | None = None,
        quick: bool = False,
        seed: int = 0,
        silence: float | None = None,
        replay_delay: float | None = None,
        bulk: int | None = None,
        connections: int | None = None,
        udp_wait: float | None = None,
        probes: frozenset[str] | None = None,
    ) -> None:
        defaults = QUICK if quick else FULL
        self.server = server
        self.method = method
        self.key = key
        self.udp = udp
        self.target = target
        self.quick = quick
        self.seed = seed
        self.silence = float(defaults["silence"] if silence is None else silence)
        self.replay_delay = float(defaults["replay_delay"] if replay_delay is None
                                  else replay_delay)
        self.bulk = int(defaults["bulk"] if bulk is None else bulk)
        self.connections = int(defaults["connections"] if connections is None else connections)
        self.udp_wait = float(defaults["udp_wait"] if udp_wait is None else udp_wait)
        self.io_timeout = float(defaults["io_timeout"])
        self.concurrency = int(defaults["concurrency"])
        self.probes = probes
        for name, value in (("silence", self.silence), ("replay delay", self.replay_delay),
                            ("UDP wait", self.udp_wait)):
            if not 0 < value <= 600:
                raise ProbeError(f"{name} must be more than 0 and at most 600 s, got {value}")
        if not 1 <= self.connections <= 1000:
            raise ProbeError(f"connections must be 1..1000, got {self.connections}")
        if not 1 <= self.bulk <= 1 << 30:
            raise ProbeError(f"bulk size must be 1 B..1 GiB, got {self.bulk}")

    def as_dict(self) -> dict[str, object]:
        return {
            "quick": self.quick, "udp": self.udp, "seed": self.seed, "silence": self.silence,
            "replay_delay": self.replay_delay, "bulk": self.bulk,
            "connections": self.connections,
            "target": f"{self.target[0]}:{self.target[1]}" if self.target else "own",
        }


class Run:
    """What the probes of one run share: options, the method's dialect, the targets, a
    seeded random source, and every salt seen (to find one used twice)."""

    __slots__ = (
        "__weakref__", "client_salts", "dialect", "limit", "options", "rng",
        "salt_reuse", "server_salts", "targets", "udp_salt_reuse", "udp_salts",
    )

    def __init__(self, options: ProbeOptions, dialect: Dialect, targets: Targets) -> None:
        self.options = options
        self.dialect = dialect
        self.targets = targets
        self.rng = random.Random(options.seed)
        #: At most this many probe connections at once.
        self.limit = asyncio.Semaphore(options.concurrency)
        #: Server IV/salt -> the probe that received it first.
        self.server_salts: dict[bytes, str] = {}
        #: Every IV/salt the probe sent.
        self.client_salts: set[bytes] = set()
        #: ``(probe, salt, what)`` for each server salt seen twice or reflected.
        self.salt_reuse: list[tuple[str, bytes, str]] = []
        #: UDP reply IVs/salts (classic methods) -> the probe that received it first.
        self.udp_salts: dict[bytes, str] = {}
        self.udp_salt_reuse: list[tuple[str, bytes]] = []

    @property
    def silence(self) -> float:
        return self.options.silence

    @property
    def idle_timeout(self) -> float:
        """Seconds without a byte after which a conformance exchange gives up."""
        return max(2 * self.options.silence, 5.0)

    def token(self) -> bytes:
        """A fresh token (the start of a request's data; the targets record them)."""
        return self.rng.randbytes(TOKEN_SIZE)

    def data(self, size: int) -> bytes:
        """``size`` random bytes (seeded: small ones; large ones from the OS, for speed)."""
        return self.rng.randbytes(size) if size <= 65536 else os.urandom(size)

    def client(self, target: Address | None = None, *, salt: bytes | None = None,
               clock: Callable[[], int] | None = None, padding: int | None = None,
               key: str | bytes | None = None) -> ClientStream:
        """A client codec to ``target`` (the echo by default); its salt is recorded."""
        stream = ClientStream(self.dialect, target or self.targets.echo, salt=salt,
                              clock=clock, padding=padding, key=key)
        self.client_salts.add(stream.request_salt)
        return stream

    def server_salt(self, probe: str, salt: bytes) -> None:
        """Record the IV or salt a server sent on one connection."""
        if not salt:
            return
        if salt in self.client_salts:
            self.salt_reuse.append((probe, salt, "is the probe's own request salt, sent back"))
        first = self.server_salts.get(salt)
        if first is not None:
            self.salt_reuse.append((probe, salt, f"was already sent on a connection of {first}"))
        else:
            self.server_salts[salt] = probe

    def udp_salt(self, probe: str, salt: bytes) -> None:
        if not salt:
            return
        first = self.udp_salts.get(salt)
        if first is not None:
            self.udp_salt_reuse.append((probe, salt))
        else:
            self.udp_salts[salt] = probe
