"""Probe results, and the analysis behind the behaviour verdicts.

One :class:`ProbeResult` per probe: ``probe``, ``family`` (``conformance`` or
``behaviour``), ``reaction``, ``seconds``, ``verdict`` (``pass``, ``fail`` or ``finding``)
and ``detail``; series probes (the same kind of input at many lengths) also keep their
``samples``.

**Reaction classes.** Two reactions are the same for a prober when they are the same kind
(``data``, ``FIN``, ``RST``, ``silence``) and come at about the same time: at once (within
half the silence timeout, at most 1 s) or later. :func:`reaction_class` names the
class; :func:`segments` cuts a series into runs of one class by length, and a series with
more than one run shows how many bytes the server read before it decided (the measurement
of "How China Detects and Blocks Shadowsocks", IMC 2020; SIP022 3.1.3 forbids it for 2022).
"""

from __future__ import annotations

from collections.abc import Sequence

from .net import Reaction

__all__ = [
    "FAMILIES",
    "VERDICTS",
    "ProbeReport",
    "ProbeResult",
    "Sample",
    "describe_segments",
    "immediate_limit",
    "reaction_class",
    "segments",
]

#: The two kinds of probe.
FAMILIES = ("conformance", "behaviour")
#: Every verdict, in the order totals are given.
VERDICTS = ("pass", "fail", "finding")

#: One point of a series: (bytes sent, reaction).
Sample = tuple[int, Reaction]


class ProbeResult:
    """The outcome of one probe (one JSON record)."""

    __slots__ = ("__weakref__", "detail", "family", "probe", "reaction", "samples", "seconds",
                 "verdict")

    def __init__(self, probe: str, family: str, reaction: str, seconds: float, verdict: str,
                 detail: str, samples: Sequence[tuple[int, str, float]] = ()) -> None:
        if family not in FAMILIES:
            raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")
        if verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {verdict!r}")
        self.probe = probe
        self.family = family
        #: What the server did (for conformance probes: ``echo`` when all went well).
        self.reaction = reaction
        #: Seconds: to the reaction (behaviour), or the probe's duration (conformance).
        self.seconds = seconds
        self.verdict = verdict
        self.detail = detail
        #: Series probes: ``(bytes sent, reaction class, seconds)`` per connection.
        self.samples = list(samples)

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "probe": self.probe, "family": self.family, "reaction": self.reaction,
            "seconds": round(self.seconds, 4), "verdict": self.verdict, "detail": self.detail,
        }
        if self.samples:
            out["samples"] = [
                {"bytes": n, "reaction": r, "seconds": round(s, 4)} for n, r, s in self.samples
            ]
        return out

    def __repr__(self) -> str:
        return f"ProbeResult({self.probe!r}, {self.verdict!r}, {self.reaction!r})"


class ProbeReport:
    """Everything one run found: the results in probe order, what was not run and why."""

    __slots__ = ("__weakref__", "method", "not_run", "options", "results", "seconds", "server")

    def __init__(self, server: str, method: str, options: dict[str, object],
                 results: list[ProbeResult], not_run: dict[str, str], seconds: float) -> None:
        self.server = server
        self.method = method
        #: The settings of the run (quick, silence timeout, sizes, seed...).
        self.options = options
        self.results = results
        #: Probe -> why it did not run (for this method, or without the probe's own target).
        self.not_run = not_run
        self.seconds = seconds

    def counts(self) -> dict[str, int]:
        return {v: sum(1 for r in self.results if r.verdict == v) for v in VERDICTS}

    @property
    def failed(self) -> bool:
        return any(r.verdict == "fail" for r in self.results)

    def by_name(self) -> dict[str, ProbeResult]:
        return {r.probe: r for r in self.results}

    def as_dict(self) -> dict[str, object]:
        from .. import __version__

        return {
            "refcrypto": __version__, "server": self.server, "method": self.method,
            "options": self.options, "seconds": round(self.seconds, 3),
            "counts": self.counts(), "not_run": dict(self.not_run),
            "results": [r.as_dict() for r in self.results],
        }


def immediate_limit(silence: float) -> float:
    """Reactions sooner than this are "at once": half the silence timeout, at most
    1 s (servers that react at once do so in milliseconds; a server's own timeouts are
    seconds)."""
    return min(1.0, silence / 2)


def reaction_class(reaction: Reaction, silence: float) -> str:
    """``data``, ``silence``, ``refused``, or ``FIN``/``RST`` with ``at once`` or
    ``after a delay``."""
    if reaction.kind in ("data", "silence", "refused"):
        return reaction.kind
    when = "at once" if reaction.seconds < immediate_limit(silence) else "after a delay"
    return f"{reaction.kind} {when}"


def segments(samples: Sequence[tuple[int, str]]) -> list[tuple[int, int, str]]:
    """Runs of one reaction class over the lengths sent, shortest first:
    ``[(first length, last length, class), ...]``."""
    runs: list[tuple[int, int, str]] = []
    for length, cls in sorted(samples):
        if runs and runs[-1][2] == cls:
            runs[-1] = (runs[-1][0], length, cls)
        else:
            runs.append((length, length, cls))
    return runs


def describe_segments(runs: Sequence[tuple[int, int, str]]) -> str:
    """``1-49 B: silence; 50-300 B: FIN at once``."""
    parts = []
    for first, last, cls in runs:
        span = f"{first} B" if first == last else f"{first}-{last} B"
        parts.append(f"{span}: {cls}")
    return "; ".join(parts)
