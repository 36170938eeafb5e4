"""The conformance engine: every backend x method pair ends as pass, fail, partial or
unsupported.

Checks, in order, for one pair (a failing check does not stop the others; the pair's verdict
is its first failure). Each check ends ``pass``, ``fail``, ``skipped`` (it could not run here,
e.g. the wire vector files are missing) or ``n/a`` (it does not apply to this pair: no IV to
split, no known answer with this interface's key size). A pair is ``pass`` only when no check
failed and none was skipped; no failure but a skipped check makes it ``partial``:

``vectors``        published (and derived) known answers of the method's primitive, through the
                   backend's own primitives (primitive backends only);
``wire-vectors``   the method-level vectors of ``vectors/wire/`` (TCP including the 70,000-seal
                   streams, and UDP): the backend must produce the same bytes from the same
                   password and IV, and decode them;
``encode``         generated cases: random password, IV/salt and writes; the backend's TCP stream
                   must equal refcrypto's byte for byte, and refcrypto must decode it;
``decode``         generated cases: the backend decodes refcrypto's stream cut at random points
                   (the first piece holds at least the whole IV/salt);
``iv-split``       the backend decodes a stream whose IV/salt arrives one byte at a time;
``udp``            generated cases: packets equal refcrypto's for the same IV, and decode both ways;
``tamper``         (AEAD) a stream with one flipped bit must make the backend's decoder raise
                   before it returns the tampered chunk's plaintext;
``negative``       the negative vectors of ``vectors/negative/`` (:mod:`.negative`): tampered
                   chunks, reserved, zero and oversized lengths, truncation, wrong passwords,
                   short UDP packets must be rejected without releasing their plaintext
                   (stream methods: the wrong input they must accept, to the given garbage).

The Shadowsocks 2022 methods have rows of their own (:mod:`.ss2022checks`: known answers,
``vectors/wire/ss2022.txt``, timestamp window, salt replay, header types, padding bounds,
request salt, UDP packet-ID replay, round trips), run through refcrypto's 2022 codecs on a
primitive backend's AEADs; wire-only backends report them unsupported.

Plug-ins (:mod:`.plugins`: ``module:attribute``, a file, ``exec:COMMAND``, entry points) are
looked up by name before the built-in backends and run like them; TCP streams go through
:mod:`.drive`, which uses a backend's batch operations when it has them.

The generated cases come from Hypothesis when it is importable and from a seeded
:class:`random.Random` otherwise (:mod:`.cases`); either way a failing check reports the
smallest failing case it found (shrunk) and the seed that reproduces it. For the
``refcrypto`` backend itself the differential checks compare with nothing; they are replaced
by the round trips of :mod:`refcrypto.check`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache

from ..errors import RefcryptoError
from ..knownanswers import KnownAnswer, known_answers, verify
from ..methods import Method
from ..wire.cryptor import Password, master_key, new_decoder, new_encoder
from ..wire.udp import encrypt_packet
from .backend import PrimitiveBackend, PrimitiveWire, RefcryptoPrimitives, WireBackend
from .cases import Binary, Integers, Lists, Spec, find_failure, resolve_generator
from .drive import HarnessFault, check_tcp_vector, decode, encode
from .wirevectors import check_udp, field_note, load_tcp, load_udp

__all__ = [
    "BACKENDS",
    "INSTALL_HINTS",
    "NATIVE_BACKENDS",
    "BackendUnavailable",
    "CheckOutcome",
    "PairResult",
    "check_pair",
    "differential_checks",
    "primitive_backend",
    "require_backends",
    "run",
    "verdict",
    "wire_backend",
]

#: Every backend name the engine knows, in report order.
BACKENDS = (
    "refcrypto", "openssl", "sodium", "mbedtls", "cryptography", "shadowsocks", "pproxy",
    "pproxy-py",
)
#: Backends checked when none are named: refcrypto and the native libraries.
NATIVE_BACKENDS = ("openssl", "sodium", "mbedtls", "cryptography")
#: How to get each backend that may be missing (Debian package names for the libraries).
INSTALL_HINTS = {
    "openssl": "apt-get install libssl3 (Debian), or set REFCRYPTO_LIBCRYPTO to libcrypto's path",
    "sodium": "apt-get install libsodium23 (Debian), or set REFCRYPTO_LIBSODIUM to its path",
    "mbedtls": "apt-get install libmbedcrypto7 (Debian; mbed TLS 2.x), or set "
               "REFCRYPTO_LIBMBEDCRYPTO to its path",
    "cryptography": "pip install cryptography",
    "shadowsocks": "pip install shadowsocks-alexforks",
    "pproxy": "pip install pproxy",
    "pproxy-py": "pip install pproxy",
}
#: Check statuses that let a pair pass (``skipped`` makes it partial, ``fail`` failed).
_RUN_STATUSES = ("pass", "n/a")
_RANDOM_NOTE = "seeded random generator: Hypothesis is not installed"


class BackendUnavailable(RuntimeError):
    """A backend asked for by name cannot run here; the message says why and how to get it."""

    def __init__(self, name: str, reason: str) -> None:
        self.name, self.reason = name, reason
        hint = INSTALL_HINTS.get(name, "")
        message = f"backend {name} is unavailable: {reason}"
        if hint and hint not in reason:
            message += f"; install: {hint}"
        super().__init__(message)


def require_backends(names: Iterable[str]) -> None:
    """Raise :class:`BackendUnavailable` for the first of ``names`` that cannot run (and
    ``KeyError`` for an unknown name)."""
    for name in names:
        reason = wire_backend(name).available()
        if reason is not None:
            raise BackendUnavailable(name, " ".join(reason.split()))


class UnavailableBackend:
    """Stands in for a backend whose module cannot be imported, with the reason."""

    __slots__ = ("__weakref__", "name", "reason")

    def __init__(self, name: str, reason: str) -> None:
        self.name, self.reason = name, reason

    def available(self) -> str | None:
        return self.reason

    def describe(self) -> str:
        return f"{self.name}: unavailable ({self.reason})"

    def unsupported(self, method: Method) -> str | None:
        return self.reason


def primitive_backend(name: str) -> PrimitiveBackend | None:
    """The primitive backend called ``name``, or None for wire-only backends (a plug-in
    loaded by :mod:`.plugins` is looked up first)."""
    from .plugins import registered

    plugin = registered(name)
    if plugin is not None:
        return plugin.primitives
    return _builtin_primitives(name)


@cache
def _builtin_primitives(name: str) -> PrimitiveBackend | None:
    if name == "refcrypto":
        return RefcryptoPrimitives()
    if name in NATIVE_BACKENDS:
        from ..native import backend as native_backend

        found: PrimitiveBackend = native_backend(name)
        return found
    return None


def wire_backend(name: str) -> WireBackend:
    """The backend called ``name`` as a wire backend (primitive ones wrapped in refcrypto's
    codecs): a plug-in loaded by :mod:`.plugins`, or a built-in one. Raises ``KeyError`` for
    an unknown name."""
    from .plugins import registered

    plugin = registered(name)
    if plugin is not None:
        return plugin.wire
    return _builtin_wire(name)


@cache
def _builtin_wire(name: str) -> WireBackend:
    if name not in BACKENDS:
        raise KeyError(f"unknown backend {name!r}; known: {', '.join(BACKENDS)}")
    primitives = _builtin_primitives(name)
    if primitives is not None:
        return PrimitiveWire(primitives)
    from . import thirdparty

    makers: dict[str, Callable[[], WireBackend]] = {
        "shadowsocks": thirdparty.shadowsocks_backend,
        "pproxy": thirdparty.pproxy_backend,
        "pproxy-py": thirdparty.pproxy_py_backend,
    }
    backend: WireBackend = makers[name]()
    return backend


@dataclass(frozen=True)
class CheckOutcome:
    name: str
    status: str  # pass, fail, skipped (could not run), n/a (does not apply)
    detail: str
    cases: int = 0


@dataclass(frozen=True)
class PairResult:
    backend: str
    method: str
    status: str  # pass, fail, partial (a check could not run), unsupported
    detail: str
    checks: tuple[CheckOutcome, ...] = field(default=())
    seconds: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "backend": self.backend,
            "method": self.method,
            "status": self.status,
            "detail": self.detail,
            "seconds": round(self.seconds, 3),
            "checks": [
                {"check": c.name, "status": c.status, "detail": c.detail, "cases": c.cases}
                for c in self.checks
            ],
        }


# --- individual checks -----------------------------------------------------------------------


def _fits(answer: KnownAnswer, m: Method) -> bool:
    """Whether a primitive-level vector can go through a method-level backend interface."""
    if answer.kind == "aead":
        return len(answer.key) == m.key_size and len(answer.iv) == m.nonce_size
    if answer.kind == "stream":
        return (not m.key_size or len(answer.key) == m.key_size) and len(answer.iv) == m.iv_size
    return answer.kind == "table"


def check_vectors(name: str, primitives: PrimitiveBackend, m: Method) -> CheckOutcome:
    answers = known_answers(m)
    if name == "refcrypto":
        runnable = answers
        run_one: Callable[[KnownAnswer], bool] = verify
    else:
        runnable = [a for a in answers if _fits(a, m)]

        def run_one(a: KnownAnswer) -> bool:
            return verify(a, primitives)

    if not answers:
        return CheckOutcome("vectors", "skipped", "no known answers for this method")
    if not runnable:
        return CheckOutcome("vectors", "n/a", f"none of the {len(answers)} known answers fits "
                            "this interface (key or IV size differs)")
    for answer in runnable:
        try:
            ok = run_one(answer)
        except Exception as exc:  # a backend may raise anything
            return CheckOutcome("vectors", "fail", f"{answer.source}: {type(exc).__name__}: {exc}",
                                len(runnable))
        if not ok:
            return CheckOutcome("vectors", "fail", f"{answer.source}: output differs",
                                len(runnable))
    skipped = len(answers) - len(runnable)
    note = f" ({skipped} not applicable: key or IV size differs)" if skipped else ""
    return CheckOutcome("vectors", "pass", f"{len(runnable)} known answers{note}", len(runnable))


def check_wire_vectors(backend: WireBackend, m: Method, *, long: bool = True) -> CheckOutcome:
    tcp = [v for v in _tcp_vectors() if v.method == m.name]
    if not long:
        tcp = [v for v in tcp if v.repeat == 1]
    udp = [v for v in _udp_vectors() if v.method == m.name]
    if not tcp and not udp:
        return CheckOutcome("wire-vectors", "skipped", "no wire vectors for this method "
                            "(vectors/wire/ missing or incomplete)")
    for v in tcp:
        try:
            problem = check_tcp_vector(backend, v)
        except Exception as exc:
            problem = f"{type(exc).__name__}: {exc}"
        if problem:
            return CheckOutcome("wire-vectors", "fail", f"TCP {v.label}: {problem}", len(tcp))
    for u in udp:
        try:
            problem = check_udp(backend, u)
        except Exception as exc:
            problem = f"{type(exc).__name__}: {exc}"
        if problem:
            return CheckOutcome("wire-vectors", "fail",
                                f"UDP {len(u.plaintext)}-byte packet: {problem}", len(udp))
    return CheckOutcome("wire-vectors", "pass", f"{len(tcp)} TCP + {len(udp)} UDP",
                        len(tcp) + len(udp))


def check_negative(backend: WireBackend, m: Method) -> CheckOutcome:
    """The negative vectors of ``vectors/negative/`` (:mod:`.negative`): tampered, truncated
    and malformed streams and packets the backend must reject without releasing their
    plaintext, and for stream methods the wrong input it must accept."""
    from .negative import check_method as negative_cases

    status, detail, cases = negative_cases(backend, m)
    return CheckOutcome("negative", status, detail, cases)


@lru_cache(maxsize=1)
def _tcp_vectors() -> tuple:  # type: ignore[type-arg]
    try:
        return tuple(load_tcp())
    except FileNotFoundError:
        return ()


@lru_cache(maxsize=1)
def _udp_vectors() -> tuple:  # type: ignore[type-arg]
    try:
        return tuple(load_udp())
    except FileNotFoundError:
        return ()


def _ref_wire(m: Method, password: Password, iv: bytes, writes: Sequence[bytes]) -> bytes:
    encoder = new_encoder(m, master_key(password, m), iv)
    return b"".join(encoder.update(w) for w in writes)


def _feed(transform: object, pieces: Iterable[bytes]) -> bytes:
    update = transform.update  # type: ignore[attr-defined]
    return b"".join(update(p) for p in pieces)


def _first_difference(a: bytes, b: bytes) -> int:
    for index, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return index
    return min(len(a), len(b))


def _cut(data: bytes, cuts: Sequence[int], first: int) -> list[bytes]:
    """``data`` split at ``cuts`` (mod len), the first piece at least ``first`` bytes."""
    edges = sorted({first} | {max(first, c % (len(data) + 1)) for c in cuts})
    edges = [e for e in edges if e <= len(data)]
    pieces, last = [], 0
    for edge in edges:
        pieces.append(data[last:edge])
        last = edge
    pieces.append(data[last:])
    return pieces


def _encode_problem(b: WireBackend, m: Method, pw: bytes, iv: bytes, writes: list[bytes]) -> str:
    expected = _ref_wire(m, pw, iv, writes)
    got = encode(b, m, pw, iv, writes)
    if got != expected:
        at = _first_difference(got, expected)
        return (f"TCP stream differs from refcrypto at byte {at} ({len(got)} vs "
                f"{len(expected)} B){field_note(m, pw, expected, got)}")
    decoded = _feed(new_decoder(m, master_key(pw, m)), [got])
    if decoded != b"".join(writes):
        return "refcrypto cannot decode the backend's stream"
    return ""


def _decode_problem(b: WireBackend, m: Method, pw: bytes, iv: bytes, writes: list[bytes],
                    cuts: list[int]) -> str:
    wire = _ref_wire(m, pw, iv, writes)
    pieces = _cut(wire, cuts, min(len(wire), m.iv_size + 1))
    got = decode(b, m, pw, pieces)
    if got != b"".join(writes):
        return (f"decoding refcrypto's stream in pieces {[len(p) for p in pieces]} gave "
                f"{len(got)} bytes, {'other' if len(got) == sum(map(len, writes)) else 'not the'}"
                f" {sum(map(len, writes))} plaintext bytes")
    return ""


def _udp_problem(b: WireBackend, m: Method, pw: bytes, iv: bytes, data: bytes) -> str:
    expected = encrypt_packet(m, master_key(pw, m), data, iv)
    got = b.udp_encrypt(m, pw, iv, data)
    if got != expected:
        return (f"UDP packet differs from refcrypto at byte {_first_difference(got, expected)}"
                f"{field_note(m, pw, expected, got, udp=True)}")
    if b.udp_decrypt(m, pw, expected) != data:
        return "the backend does not decrypt refcrypto's UDP packet"
    return ""


def _tamper_problem(b: WireBackend, m: Method, pw: bytes, iv: bytes, data: bytes,
                    where: int) -> str:
    wire = bytearray(_ref_wire(m, pw, iv, [data]))
    position = m.iv_size + where % (len(wire) - m.iv_size)  # tamper after the salt too
    wire[position] ^= 0x01
    try:
        got = decode(b, m, pw, [bytes(wire)])
    except HarnessFault:
        raise  # a crashed harness has not detected anything
    except Exception:
        return ""
    return f"flipped bit at byte {position} not detected: decoder returned {len(got)} bytes"


def _iv_split_problem(b: WireBackend, m: Method) -> str:
    data = bytes(range(100))
    wire = _ref_wire(m, b"iv split", bytes(range(m.iv_size)), [data])
    pieces = [wire[i : i + 1] for i in range(m.iv_size)] + [wire[m.iv_size :]]
    try:
        got = decode(b, m, b"iv split", pieces)
    except Exception as exc:
        return f"IV/salt fed one byte at a time: {type(exc).__name__}: {exc}"
    if got != data:
        return f"IV/salt fed one byte at a time: decoder gave {len(got)} wrong bytes"
    return ""


def _generated_check(name: str, budget: int, seed: int, specs: dict[str, Spec],
                     problem: Callable[..., str], generator: str) -> CheckOutcome:
    """Run ``problem(**case)`` over ``budget`` generated cases; report the shrunk failure."""
    engine = resolve_generator(generator)
    failure = find_failure(name, budget, seed, specs, problem, generator=engine)
    if failure is not None:
        return CheckOutcome(name, "fail", f"{failure.problem}; smallest case "
                            f"{_show(failure.case)}; seed {seed}", failure.cases)
    how = "" if engine == "hypothesis" else f" ({_RANDOM_NOTE})"
    return CheckOutcome(name, "pass", f"{budget} generated cases{how}", budget)


def _show(case: dict[str, object]) -> str:
    parts = []
    for key, value in case.items():
        if isinstance(value, bytes):
            parts.append(f"{key}={value.hex() if len(value) <= 32 else f'<{len(value)} bytes>'}")
        elif isinstance(value, list) and value and isinstance(value[0], bytes):
            parts.append(f"{key}=[{', '.join(f'<{len(v)} B>' for v in value)}]")
        else:
            parts.append(f"{key}={value!r}")
    return "(" + ", ".join(parts) + ")"


def differential_checks(b: WireBackend, m: Method, *, budget: int, seed: int,
                        generator: str = "auto") -> list[CheckOutcome]:
    """``encode``, ``decode``, ``iv-split``, ``udp`` and (AEAD) ``tamper``; the generated
    cases come from Hypothesis when it is importable, else from a seeded random generator
    (:mod:`.cases`), so every check runs in every install."""
    pw = Binary(min_size=1, max_size=24)
    iv = Binary(min_size=m.iv_size, max_size=m.iv_size)
    writes = Lists(Binary(min_size=1, max_size=2000), min_size=1, max_size=4)
    cuts = Lists(Integers(min_value=0, max_value=1 << 16), max_size=6)
    out = [
        _generated_check("encode", budget, seed, {"pw": pw, "iv": iv, "writes": writes},
                         lambda **c: _encode_problem(b, m, **c), generator),
        _generated_check("decode", budget, seed,
                         {"pw": pw, "iv": iv, "writes": writes, "cuts": cuts},
                         lambda **c: _decode_problem(b, m, **c), generator),
    ]
    if m.iv_size:
        try:
            problem = _iv_split_problem(b, m)
        except Exception as exc:  # a backend may raise anything while encoding too
            problem = f"{type(exc).__name__}: {exc}"
        out.append(CheckOutcome("iv-split", "fail" if problem else "pass",
                                problem or "IV/salt fed one byte at a time", 1))
    else:
        out.append(CheckOutcome("iv-split", "n/a", "the method has no IV"))
    out.append(_generated_check("udp", budget, seed,
                                {"pw": pw, "iv": iv, "data": Binary(max_size=1500)},
                                lambda **c: _udp_problem(b, m, **c), generator))
    if m.is_aead:
        out.append(_generated_check(
            "tamper", budget, seed,
            {"pw": pw, "iv": iv, "data": Binary(min_size=1, max_size=500),
             "where": Integers(min_value=0)},
            lambda **c: _tamper_problem(b, m, **c), generator))
    return out


# --- pairs ----------------------------------------------------------------------------------


def verdict(checks: Sequence[CheckOutcome]) -> tuple[str, str]:
    """The pair's status and detail from its checks: ``fail`` (first failure first),
    ``partial`` (nothing failed, something was skipped) or ``pass``."""
    failed = [c for c in checks if c.status == "fail"]
    skipped = [c for c in checks if c.status not in _RUN_STATUSES and c.status != "fail"]
    not_run = "; ".join(f"{c.name}: {c.detail}" for c in skipped)
    if failed:
        first = failed[0]
        detail = f"{first.name}: {first.detail}"
        if len(failed) > 1:
            detail += f" (also failing: {', '.join(c.name for c in failed[1:])})"
        if skipped:
            detail += f" (not run: {not_run})"
        return "fail", detail
    if skipped:
        return "partial", f"not run: {not_run}"
    return "pass", "; ".join(f"{c.name} {c.detail}" for c in checks if c.status == "pass")


def check_pair(name: str, m: Method, *, budget: int = 20, seed: int = 0, long: bool = True,
               backend: WireBackend | None = None,
               primitives: PrimitiveBackend | None = None,
               generator: str = "auto") -> PairResult:
    """Every check of one backend x method pair. ``backend``/``primitives`` override the
    registry (the engine's own tests pass deliberately broken backends this way);
    ``generator`` picks the case generator of the differential checks (:mod:`.cases`)."""
    started = time.perf_counter()
    wire = backend if backend is not None else wire_backend(name)
    prims = primitives if backend is not None else primitive_backend(name)
    if m.is_2022:  # Shadowsocks 2022: refcrypto's 2022 codecs on the backend's AEADs
        from .ss2022checks import checks_2022, unsupported_2022

        reason = wire.available() or unsupported_2022(wire, prims, m)
        if reason or prims is None:
            return PairResult(name, m.name, "unsupported", reason or "no 2022 operations")
        checks_2022_ = [CheckOutcome(*o) for o in checks_2022(name, prims, m, budget=budget,
                                                              seed=seed, long=long)]
        status, detail = verdict(checks_2022_)
        return PairResult(name, m.name, status, detail, tuple(checks_2022_),
                          time.perf_counter() - started)
    reason = wire.available() or wire.unsupported(m)
    if reason:
        return PairResult(name, m.name, "unsupported", reason)
    checks: list[CheckOutcome] = []
    if prims is not None:
        checks.append(check_vectors(name, prims, m))
    checks.append(check_wire_vectors(wire, m, long=long))
    if name == "refcrypto" and backend is None:
        from ..check import check_method

        result = check_method(m, seed=seed)
        checks.append(CheckOutcome("round-trips", result.status, result.detail, result.round_trips))
    else:
        checks += differential_checks(wire, m, budget=budget, seed=seed, generator=generator)
    checks.append(check_negative(wire, m))
    status, detail = verdict(checks)
    return PairResult(name, m.name, status, detail, tuple(checks), time.perf_counter() - started)


def run(backends: Sequence[str], methods: Sequence[Method], *, budget: int = 20, seed: int = 0,
        long: bool = True, progress: Callable[[PairResult], None] | None = None,
        generator: str = "auto") -> list[PairResult]:
    if budget < 1:
        raise ValueError(f"budget must be at least 1, got {budget}")
    results = []
    for name in backends:
        for m in methods:
            try:
                result = check_pair(name, m, budget=budget, seed=seed, long=long,
                                    generator=generator)
            except RefcryptoError as exc:  # pragma: no cover - guards the engine itself
                result = PairResult(name, m.name, "fail", f"engine error: {exc}")
            results.append(result)
            if progress is not None:
                progress(result)
    return results
