"""The replay filter of the classic methods' IVs and salts, for :mod:`refcrypto.tools.server`.

A stream or 2017 AEAD connection carries nothing that dates it: a recorded connection sent
again decrypts exactly as the first time, so a server that serves it confirms what it is to
whoever replays it (replayed recordings are one of the active probes measured in "How China
Detects and Blocks Shadowsocks", Alice, Bob, Carol, Beznazwy, Houmansadr, IMC 2020). The
only defence those methods allow is to remember the IVs and salts already seen and refuse
them. (The 2022 edition has timestamps and its own 60-second salt store, SIP022 3.1.4:
:class:`refcrypto.wire.ss2022.SaltStore`.)

:class:`ReplayFilter` is exact: a ``set`` of the IVs themselves, never a Bloom filter, so an
honest connection is never refused by a false positive (shadowsocks-libev's ``ppbloom``
trades that for memory; SIP022 3.1.4 forbids it for the 2022 salts). Two bounds keep it
finite:

* **time**: an entry is forgotten ``lifetime`` seconds after it was added (default
  :data:`DEFAULT_LIFETIME`, 24 hours);
* **size**: at most ``max_size`` entries (default :data:`DEFAULT_MAX_ENTRIES`, 10^6). When
  the filter is full, the **oldest entry is forgotten** to make room, exactly as if it had
  expired; the new connection is served. Refusing new connections instead (what the 2022
  salt store does, where a forgotten salt would still pass the 30-second timestamp check)
  would let a flood lock every client out for the whole lifetime, since the classic methods
  cannot tell a fresh IV from an old one in any other way. :attr:`ReplayFilter.evicted`
  counts the entries forgotten early.

So a recording is refused as long as its IV is among the last ``max_size`` IVs and younger
than ``lifetime``; older recordings are served again (a server restart forgets everything
too). No bounded filter can do better without timestamps.

**Memory** (CPython 3.11, tracemalloc, 10^6 random entries, the IV objects included):
about 91 bytes an entry for 16-byte IVs and salts and 107 bytes for 32-byte salts, that is
87 MiB and 102 MiB per 10^6 entries (8-byte IVs: about 79 MiB); the default bound caps the
filter there. The server
adds an entry for each TCP connection (and classic UDP packet) whose header decrypted and
named an address, never for bytes that fail to decrypt, so a prober without the key cannot
fill it with AEAD methods (with stream methods, which authenticate nothing, about 3 random
streams in 256 name an address).

What goes in: the first ``iv_size`` bytes of the client's stream (or UDP packet), the IV of
a stream method or the salt of an AEAD method. ``rc4`` and ``table`` have no IV: every
connection starts the same keystream, so there is nothing to filter and the server does
not filter them.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from threading import Lock

from ..errors import ReplayError
from ..primitives.base import Buffer, bytes_of

__all__ = ["DEFAULT_LIFETIME", "DEFAULT_MAX_ENTRIES", "ReplayFilter", "ReplayedIV"]

#: Seconds an IV or salt is remembered.
DEFAULT_LIFETIME = 24 * 3600
#: Most IVs and salts remembered; beyond it the oldest is forgotten.
DEFAULT_MAX_ENTRIES = 1_000_000


class ReplayedIV(ReplayError):
    """A classic method's IV or salt that the server's replay filter already holds."""


class ReplayFilter:
    """An exact, bounded set of the IVs and salts seen recently (module documentation).

    >>> seen = ReplayFilter(clock=lambda: 1000.0)
    >>> seen.check_and_add(b"\\x01" * 16)
    >>> seen.check_and_add(b"\\x01" * 16)
    Traceback (most recent call last):
    ...
    refcrypto.tools.replay.ReplayedIV: IV or salt 01010101010101... received before (replayed)

    ``clock`` returns seconds (monotonic by default). Layout: a ``set`` for the look-ups, a
    ``deque`` of the entries in arrival order, and a ``deque`` of ``[expiry second, count]``
    runs (one per second of arrival), so expired entries leave from the front in amortised
    O(1). Safe to share between threads (one lock).
    """

    __slots__ = (
        "__weakref__", "_clock", "_expiries", "_lock", "_order", "_seen", "evicted", "lifetime",
        "max_size",
    )

    def __init__(
        self,
        *,
        max_size: int = DEFAULT_MAX_ENTRIES,
        lifetime: float = DEFAULT_LIFETIME,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if type(max_size) is not int or max_size < 1:
            raise ValueError(f"max_size must be a positive int, got {max_size!r}")
        if not isinstance(lifetime, (int, float)) or not lifetime > 0:
            raise ValueError(f"lifetime must be a positive number of seconds, got {lifetime!r}")
        #: Most entries kept; a new one beyond it makes the oldest be forgotten.
        self.max_size = max_size
        #: Seconds each entry is kept.
        self.lifetime = float(lifetime)
        #: Entries forgotten before their lifetime because the filter was full.
        self.evicted = 0
        self._clock = clock
        self._seen: set[bytes] = set()
        self._order: deque[bytes] = deque()
        self._expiries: deque[list[int]] = deque()
        self._lock = Lock()

    def __len__(self) -> int:
        return len(self._seen)

    def __contains__(self, iv: object) -> bool:
        return iv in self._seen

    def check_and_add(self, iv: Buffer) -> None:
        """Remember ``iv``; raise :class:`ReplayedIV` (and change nothing) if it is already
        remembered."""
        key = bytes_of(iv, "ReplayFilter: iv")
        with self._lock:
            now = self._clock()
            self._expire(now)
            if key in self._seen:
                raise ReplayedIV(f"IV or salt {key[:7].hex()}... received before (replayed)")
            if len(self._seen) >= self.max_size:
                self._forget_oldest()
                self.evicted += 1
            self._seen.add(key)
            self._order.append(key)
            expiry = math.ceil(now + self.lifetime)
            expiries = self._expiries
            if expiries and expiries[-1][0] >= expiry:  # same second, or the clock stepped back
                expiries[-1][1] += 1
            else:
                expiries.append([expiry, 1])

    def expire(self) -> None:
        """Forget the entries whose lifetime is over."""
        with self._lock:
            self._expire(self._clock())

    def _expire(self, now: float) -> None:
        expiries, order, seen = self._expiries, self._order, self._seen
        while expiries and expiries[0][0] <= now:
            _, count = expiries.popleft()
            for _ in range(count):
                seen.discard(order.popleft())

    def _forget_oldest(self) -> None:
        self._seen.discard(self._order.popleft())
        run = self._expiries[0]
        run[1] -= 1
        if not run[1]:
            self._expiries.popleft()
