"""``refcrypto check``: known answers and wire round trips for every method.

For each method: every known answer of :mod:`refcrypto.knownanswers`, then a TCP session
cut at pseudo-random points on both sides, a UDP packet, and (AEAD) a tampered stream that
must fail with ``InvalidTag``. The inputs come from a seeded generator, so a failure is
reproducible with the same ``--seed``.
"""

from __future__ import annotations

import itertools
import random
import zlib
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from .errors import InvalidTag, RefcryptoError
from .knownanswers import known_answers, verify
from .methods import Method
from .wire import Cryptor, decrypt_all, encrypt_all

__all__ = ["CheckResult", "check_method", "check_methods"]


@dataclass(frozen=True)
class CheckResult:
    """The verdict for one method: ``status`` is ``pass`` or ``fail``."""

    method: str
    status: str
    published: int
    derived: int
    round_trips: int
    detail: str

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _pieces(rng: random.Random, data: bytes) -> list[bytes]:
    cuts = sorted(rng.randrange(len(data) + 1) for _ in range(rng.randrange(6)))
    edges = [0, *cuts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


def _round_trips(m: Method, rng: random.Random, sessions: int) -> None:
    for _ in range(sessions):
        password = rng.randbytes(rng.randrange(1, 24))
        data = rng.randbytes(rng.choice((0, 1, 15, 16, 17, 300, 5000, 20000)))
        sender, receiver = Cryptor(password, m), Cryptor(password, m)
        wire = b"".join(sender.encrypt(p) for p in _pieces(rng, data))
        if b"".join(receiver.decrypt(p) for p in _pieces(rng, wire)) != data:
            raise AssertionError(f"TCP round trip of {len(data)} bytes gave other bytes")
        if decrypt_all(password, m, encrypt_all(password, m, data[:1500])) != data[:1500]:
            raise AssertionError("UDP round trip gave other bytes")
    if m.is_aead:
        tampered = bytearray(Cryptor("pw", m).encrypt(b"tamper me"))
        tampered[rng.randrange(len(tampered))] ^= 1 << rng.randrange(8)
        try:
            Cryptor("pw", m).decrypt(bytes(tampered))
        except InvalidTag:
            pass
        else:
            raise AssertionError("a flipped bit was not detected")


def check_method(m: Method, *, seed: int = 0, sessions: int = 4) -> CheckResult:
    """Run every check for one method and return its verdict (never raises for a failure)."""
    answers = known_answers(m)
    published = sum(1 for a in answers if not a.derived)
    derived = len(answers) - published
    failures = []
    for answer in answers:
        try:
            ok = verify(answer)
        except RefcryptoError as exc:
            ok, reason = False, f"{type(exc).__name__}: {exc}"
        else:
            reason = "output differs"
        if not ok:
            failures.append(f"known answer {answer.source}: {reason}")
    try:
        _round_trips(m, random.Random((seed << 32) ^ zlib.crc32(m.name.encode())), sessions)
    except (AssertionError, RefcryptoError) as exc:
        failures.append(f"round trip (seed {seed}): {exc}")
    if failures:
        return CheckResult(m.name, "fail", published, derived, sessions, failures[0])
    if not answers:
        detail = "round trips only: no known answer exists"
    elif not published:
        detail = f"{derived} derived known answers (none published), round trips"
    else:
        detail = f"{published} published" + (f" + {derived} derived" if derived else "")
        detail += " known answers, round trips"
    return CheckResult(m.name, "pass", published, derived, sessions, detail)


def check_methods(methods: Iterable[Method], *, seed: int = 0) -> list[CheckResult]:
    return [check_method(m, seed=seed) for m in methods]
