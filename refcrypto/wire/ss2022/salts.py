"""The salt store of SIP022 3.1.4: every incoming TCP salt, kept exactly, for 60 seconds.

"Servers and clients MUST store all incoming salts for 60 seconds ... implementations MUST
NOT use Bloom filters or anything that could return a false positive result." A salt is
stored once its header has authenticated and its timestamp passed the 30-second check
(the order of SIP022 3.1.4 and of shadowsocks-rust; sing-box checks the salt before
decrypting, which lets unauthenticated bytes fill its filter).

Memory is bounded: at most ``max_size`` live salts. When the store is full of salts younger
than 60 s, a new salt raises :class:`~refcrypto.errors.SaltStoreFull` and its session is
refused. Forgetting a live salt early instead would make it replayable (its header's
timestamp still passes the 30-second check), so refusing is the safe side: a flood can
delay new sessions, never open a replay.

Memory (CPython 3.11, ``bench/ss2022_salt_store.py``, tracemalloc, salt copies included):
about 91 bytes a salt for 16-byte salts and 107 for 32-byte salts, that is 87 MiB and 102 MiB
per 10^6 salts; the default bound of 10^6 live salts caps the store there.

Expiry uses the clock the decoders pass in (the one their timestamps are checked against):
a salt stays for 60 s of that clock. If the clock steps back, salts are kept longer than
60 s, never shorter.
"""

from __future__ import annotations

from collections import deque
from threading import Lock

from ...errors import ReplayedSalt, SaltStoreFull
from ...primitives.base import Buffer
from .header import bytes_arg

__all__ = ["DEFAULT_MAX_SALTS", "SALT_LIFETIME", "SaltStore"]

#: Seconds a salt is kept (SIP022 3.1.4).
SALT_LIFETIME = 60
#: Default bound: 10^6 salts, about 16 700 new sessions a second sustained for 60 s.
DEFAULT_MAX_SALTS = 1_000_000


class SaltStore:
    """An exact set of the salts received in the last 60 s, owned by one server (or client)
    and shared by all its connections.

    >>> store = SaltStore()
    >>> store.add(b"s" * 32, now=1000)
    >>> store.add(b"s" * 32, now=1059)
    Traceback (most recent call last):
    ...
    refcrypto.errors.ReplayedSalt: salt 7373737373737373... was already received in the last 60 s

    Layout: a ``set`` for the exact lookups, a ``deque`` of the salts in arrival order, and a
    ``deque`` of ``[expiry, count]`` runs (one per second of arrival, not one per salt), so
    the expired salts are dropped from the front in amortised O(1) per salt.

    Shared by design, so safe to share between threads: :meth:`add` and :meth:`expire` hold
    a lock (waiting for it, unlike the codecs' one-thread rule), so that two copies of one
    salt arriving at once in two threads cannot both be accepted.
    """

    __slots__ = ("__weakref__", "_expiries", "_lock", "_order", "_salts", "lifetime", "max_size")

    def __init__(self, *, max_size: int = DEFAULT_MAX_SALTS, lifetime: int = SALT_LIFETIME):
        if type(max_size) is not int or max_size < 1:
            raise ValueError(f"max_size must be a positive int, got {max_size!r}")
        if type(lifetime) is not int or lifetime < SALT_LIFETIME:
            raise ValueError(
                f"lifetime must be an int of at least {SALT_LIFETIME} s (SIP022 3.1.4), "
                f"got {lifetime!r}"
            )
        #: Most live salts kept; a new one beyond it raises :class:`SaltStoreFull`.
        self.max_size = max_size
        #: Seconds each salt is kept.
        self.lifetime = lifetime
        self._salts: set[bytes] = set()
        self._order: deque[bytes] = deque()
        self._expiries: deque[list[int]] = deque()
        self._lock = Lock()

    def __len__(self) -> int:
        return len(self._salts)

    def __contains__(self, salt: object) -> bool:
        return salt in self._salts

    def expire(self, now: int) -> None:
        """Forget the salts whose 60 s are over at ``now``."""
        with self._lock:
            self._expire(now)

    def _expire(self, now: int) -> None:
        expiries, order, salts = self._expiries, self._order, self._salts
        while expiries and expiries[0][0] <= now:
            _, count = expiries.popleft()
            for _ in range(count):
                salts.discard(order.popleft())

    def add(self, salt: Buffer, *, now: int) -> None:
        """Record ``salt`` as received at ``now`` (Unix seconds).

        Raises :class:`ReplayedSalt` if it is already stored, :class:`SaltStoreFull` if
        ``max_size`` live salts are stored; in both cases nothing changes.
        """
        salt = bytes_arg(salt, "SaltStore.add: salt")
        with self._lock:
            self._add(salt, now)

    def _add(self, salt: bytes, now: int) -> None:
        self._expire(now)
        salts = self._salts
        if salt in salts:
            raise ReplayedSalt(
                f"salt {salt[:8].hex()}... was already received in the last "
                f"{self.lifetime} s"
            )
        if len(salts) >= self.max_size:
            raise SaltStoreFull(
                f"salt store holds its maximum of {self.max_size} salts younger than "
                f"{self.lifetime} s; new session refused"
            )
        salts.add(salt)
        self._order.append(salt)
        expiry = now + self.lifetime
        expiries = self._expiries
        if expiries and expiries[-1][0] >= expiry:  # same second, or the clock stepped back
            expiries[-1][1] += 1
        else:
            expiries.append([expiry, 1])
