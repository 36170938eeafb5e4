"""Generated cases for the differential checks, with or without Hypothesis.

A check describes its inputs with three small specifications (:class:`Binary`,
:class:`Integers`, :class:`Lists`) and a *problem* function that returns ``""`` for a good case
and a description of what went wrong otherwise. :func:`find_failure` then runs ``budget``
cases and returns the smallest failing case it found, or ``None``:

* with Hypothesis (``generator="hypothesis"``), the specifications become Hypothesis
  strategies and Hypothesis generates and shrinks;
* without it (``generator="random"``), a :class:`random.Random` seeded with the check's seed
  and name generates the cases (the first one made of the smallest sizes allowed, the
  others biased towards small and boundary sizes), and a greedy shrinker of its own makes a
  failing case smaller: shorter lists, shorter byte strings, zero bytes, smaller integers.

``generator="auto"`` (the default) takes Hypothesis when it can be imported. Both are
reproducible from the seed; they do not generate the same cases.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "GENERATORS",
    "Binary",
    "Failure",
    "Integers",
    "Lists",
    "Spec",
    "find_failure",
    "hypothesis_available",
    "resolve_generator",
]

#: The generator names :func:`find_failure` accepts.
GENERATORS = ("auto", "hypothesis", "random")

#: Upper end of an unbounded :class:`Integers` for the random generator.
_UNBOUNDED = 1 << 32
#: At most this many problem evaluations are spent on shrinking one failure.
_SHRINK_LIMIT = 300


@dataclass(frozen=True)
class Binary:
    """Byte strings of ``min_size`` to ``max_size`` bytes."""

    min_size: int = 0
    max_size: int = 64


@dataclass(frozen=True)
class Integers:
    """Integers from ``min_value`` to ``max_value`` (``None``: no upper bound)."""

    min_value: int = 0
    max_value: int | None = None


@dataclass(frozen=True)
class Lists:
    """Lists of ``min_size`` to ``max_size`` elements of ``element``."""

    element: Binary | Integers
    min_size: int = 0
    max_size: int = 8


Spec = Binary | Integers | Lists


@dataclass(frozen=True)
class Failure:
    """The smallest failing case found, what was wrong with it, and how many cases ran."""

    problem: str
    case: dict[str, object]
    cases: int


def hypothesis_available() -> bool:
    try:
        import hypothesis  # noqa: F401
    except ImportError:
        return False
    return True


def resolve_generator(generator: str) -> str:
    """``auto`` -> ``hypothesis`` or ``random``; other names are checked and returned."""
    if generator not in GENERATORS:
        raise ValueError(f"generator must be one of {', '.join(GENERATORS)}, not {generator!r}")
    if generator == "auto":
        return "hypothesis" if hypothesis_available() else "random"
    return generator


def _evaluate(problem: Callable[..., str], case: Mapping[str, object]) -> str:
    try:
        return problem(**case)
    except Exception as exc:  # a backend may raise anything; that is a failure of the case
        return f"{type(exc).__name__}: {exc}"


def find_failure(
    name: str,
    budget: int,
    seed: int,
    specs: Mapping[str, Spec],
    problem: Callable[..., str],
    *,
    generator: str = "auto",
) -> Failure | None:
    """Run ``problem(**case)`` over ``budget`` generated cases; the smallest failing case, or
    ``None`` when every case passed. ``name`` (the check's name) separates the random
    streams of the checks sharing a seed."""
    if budget < 1:
        raise ValueError(f"budget must be at least 1, got {budget}")
    if resolve_generator(generator) == "hypothesis":
        return _with_hypothesis(budget, seed, specs, problem)
    return _with_random(name, budget, seed, specs, problem)


# --- Hypothesis ------------------------------------------------------------------------------


def _strategy(spec: Spec) -> Any:
    from hypothesis import strategies as st

    if isinstance(spec, Binary):
        return st.binary(min_size=spec.min_size, max_size=spec.max_size)
    if isinstance(spec, Integers):
        return st.integers(min_value=spec.min_value, max_value=spec.max_value)
    return st.lists(_strategy(spec.element), min_size=spec.min_size, max_size=spec.max_size)


def _with_hypothesis(budget: int, seed: int, specs: Mapping[str, Spec],
                     problem: Callable[..., str]) -> Failure | None:
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hypothesis_seed

    failures: list[tuple[str, dict[str, object]]] = []

    def prop(**case: object) -> None:
        text = _evaluate(problem, case)
        if text:
            failures.append((text, case))
            raise AssertionError(text)

    test = hypothesis_seed(seed)(
        settings(max_examples=budget, deadline=None, database=None,
                 phases=[Phase.generate, Phase.shrink], suppress_health_check=list(HealthCheck),
                 print_blob=False)(given(**{k: _strategy(s) for k, s in specs.items()})(prop))
    )
    try:
        test()
    except Exception:
        if not failures:
            raise
        text, case = failures[-1]  # the last failure Hypothesis ran is the shrunk one
        return Failure(text, case, budget)
    return None


# --- seeded random generator and shrinker ----------------------------------------------------


def _size(rng: random.Random, low: int, high: int) -> int:
    roll = rng.random()
    if roll < 0.15:
        return low
    if roll < 0.25:
        return high
    if roll < 0.6:
        return rng.randint(low, min(high, low + 16))
    return rng.randint(low, high)


def _draw(spec: Spec, rng: random.Random) -> object:
    if isinstance(spec, Binary):
        return rng.randbytes(_size(rng, spec.min_size, spec.max_size))
    if isinstance(spec, Integers):
        high = spec.max_value if spec.max_value is not None else spec.min_value + _UNBOUNDED
        return _size(rng, spec.min_value, high)
    return [_draw(spec.element, rng) for _ in range(_size(rng, spec.min_size, spec.max_size))]


def _smallest(spec: Spec) -> object:
    if isinstance(spec, Binary):
        return bytes(spec.min_size)
    if isinstance(spec, Integers):
        return spec.min_value
    return [_smallest(spec.element) for _ in range(spec.min_size)]


def _simpler(spec: Spec, value: object) -> Iterator[object]:
    """Candidates strictly simpler than ``value``, the most aggressive first."""
    if isinstance(spec, Binary):
        assert isinstance(value, bytes)
        for size in sorted({spec.min_size, len(value) // 2, len(value) - 1}):
            if spec.min_size <= size < len(value):
                yield value[:size]
        if any(value):
            yield bytes(len(value))
    elif isinstance(spec, Integers):
        assert isinstance(value, int)
        for candidate in sorted({spec.min_value, value // 2, value - 1}):
            if spec.min_value <= candidate < value:
                yield candidate
    else:
        assert isinstance(value, list)
        if len(value) > spec.min_size:
            yield value[: spec.min_size]
            for index in range(len(value)):
                yield value[:index] + value[index + 1 :]
        for index, item in enumerate(value):
            for smaller in _simpler(spec.element, item):
                yield [*value[:index], smaller, *value[index + 1 :]]


def _shrink(specs: Mapping[str, Spec], case: dict[str, object], text: str,
            problem: Callable[..., str]) -> tuple[str, dict[str, object]]:
    budget = _SHRINK_LIMIT
    improved = True
    while improved and budget > 0:
        improved = False
        for key, spec in specs.items():
            for candidate in _simpler(spec, case[key]):
                if budget <= 0:
                    break
                budget -= 1
                trial = {**case, key: candidate}
                found = _evaluate(problem, trial)
                if found:
                    case, text, improved = trial, found, True
                    break
    return text, case


def _with_random(name: str, budget: int, seed: int, specs: Mapping[str, Spec],
                 problem: Callable[..., str]) -> Failure | None:
    rng = random.Random(f"refcrypto check/{seed}/{name}")
    for index in range(budget):
        if index == 0:
            case = {key: _smallest(spec) for key, spec in specs.items()}
        else:
            case = {key: _draw(spec, rng) for key, spec in specs.items()}
        text = _evaluate(problem, case)
        if text:
            text, case = _shrink(specs, case, text, problem)
            return Failure(text, case, index + 1)
    return None
