"""One probe run: targets up, conformance probes one after another, behaviour probes side by
side, then UDP; a :class:`~refcrypto.probe.results.ProbeReport` at the end."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from .behaviour import judge, observe_tcp, observe_udp
from .conformance import TCP_PROBES, UDP_PROBES, udp_unique_salts, unique_salts
from .context import ProbeError, ProbeOptions, Run
from .dialect import Dialect, family_of
from .net import close, connect, start_targets
from .results import ProbeReport, ProbeResult

__all__ = ["ALL_PROBES", "plan", "probe", "probe_async"]

#: Every probe name, in report order (the ones a method or run does not have are left out).
ALL_PROBES = (
    *(name for name, _, _ in TCP_PROBES),
    "tcp-unique-salts",
    "random-bytes", "wrong-key",
    "bit-flip-salt", "bit-flip-length", "bit-flip-tag", "bit-flip-payload",
    "cut-in-first-chunk", "cut-in-first-chunk-fin",
    "replay-at-once", "replay-after-delay",
    "timestamp-old", "timestamp-future", "replayed-salt", "no-payload-no-padding",
    "padding-past-header",
    *(name for name, _, _ in UDP_PROBES),
    "udp-unique-salts", "udp-replay", "udp-wrong-key", "udp-timestamp-old",
)

_ONLY_2022 = {"timestamp-old", "timestamp-future", "replayed-salt", "no-payload-no-padding",
              "padding-past-header", "udp-timestamp-old"}
_UDP = {"udp-sizes", "udp-unique-salts", "udp-replay", "udp-wrong-key", "udp-timestamp-old"}

Progress = Callable[[ProbeResult], None]


def plan(options: ProbeOptions, *, own_targets: bool = True) -> tuple[list[str], dict[str, str]]:
    """The probes a run of ``options`` makes, in report order, and the others with the
    reason they are not run."""
    family = family_of(options.method)
    method = options.method
    has = {"salt": method.iv_size > 0, "length": family != "stream",
           "tag": family != "stream", "payload": True}
    names: list[str] = []
    skipped: dict[str, str] = {}
    for name in ALL_PROBES:
        reason: str | None = None
        if options.probes is not None and name not in options.probes:
            continue
        if name in _UDP and not options.udp:
            reason = "UDP probes run with --udp"
        elif name in _ONLY_2022 and family != "2022":
            reason = "a Shadowsocks 2022 rule"
        elif name.startswith("bit-flip-") and not has[name.removeprefix("bit-flip-")]:
            reason = f"{method.name} has no such field"
        elif name == "tcp-iv-split" and family == "2022":
            reason = "SIP022 3.1.3: a 2022 client sends the salt and headers in one write"
        elif name == "tcp-iv-split" and method.iv_size < 2:
            reason = f"{method.name} has no IV to split"
        elif name in ("tcp-half-close-target", "no-payload-no-padding",
                      "padding-past-header") and not own_targets:
            reason = "needs the probe's own targets (not with --target)"
        if reason is None:
            names.append(name)
        else:
            skipped[name] = reason
    return names, skipped


def _check_names(options: ProbeOptions) -> None:
    if options.probes is None:
        return
    unknown = sorted(set(options.probes) - set(ALL_PROBES))
    if unknown:
        raise ProbeError(f"unknown probe {', '.join(unknown)} (probes: {', '.join(ALL_PROBES)})")


async def probe_async(options: ProbeOptions, progress: Progress | None = None,
                      *, on_plan: Callable[[int], None] | None = None) -> ProbeReport:
    """Probe the server of ``options``; :class:`ProbeError` if it cannot be reached.

    ``on_plan`` is told how many probes will run, ``progress`` gets each result as it is
    known (behaviour results all come once the behaviour probes are done: their verdicts
    compare them with each other).
    """
    _check_names(options)
    started = time.monotonic()
    dialect = Dialect(options.method, options.key)
    host, port = options.server
    try:
        _, writer = await connect(options.server, min(options.io_timeout, 10.0))
    except (OSError, asyncio.TimeoutError) as exc:
        raise ProbeError(f"cannot connect to the server at {host}:{port}: "
                         f"{getattr(exc, 'strerror', None) or exc!r}") from None
    await close(writer)
    results: list[ProbeResult] = []
    async with start_targets(external=options.target) as targets:
        names, not_run = plan(options, own_targets=targets.own)
        if on_plan is not None:
            on_plan(len(names))
        wanted = set(names).__contains__
        run = Run(options, dialect, targets)

        def emit(result: ProbeResult) -> None:
            results.append(result)
            if progress is not None:
                progress(result)

        for name, probe_fn, _ in TCP_PROBES:
            if wanted(name):
                emit(await probe_fn(run))
        # The behaviour probes mostly wait: UDP runs beside them.
        observations, udp_results = await asyncio.gather(
            observe_tcp(run, wanted), _udp_phase(run, wanted))
        for result in judge(run, observations):
            emit(result)
        if wanted("tcp-unique-salts"):
            emit(unique_salts(run))
        for result in udp_results:
            emit(result)
    order = {name: i for i, name in enumerate(ALL_PROBES)}
    results.sort(key=lambda r: order.get(r.probe, len(order)))
    return ProbeReport(f"{host}:{port}", options.method.name, options.as_dict(), results,
                       not_run, time.monotonic() - started)


async def _udp_phase(run: Run, wanted: Callable[[str], bool]) -> list[ProbeResult]:
    """UDP conformance, then UDP behaviour (nothing without --udp)."""
    if not run.options.udp:
        return []
    out = [await probe_fn(run) for name, probe_fn, _ in UDP_PROBES if wanted(name)]
    out += judge(run, await observe_udp(run, wanted))
    if wanted("udp-unique-salts"):
        out.append(udp_unique_salts(run))
    return out


def probe(options: ProbeOptions, progress: Progress | None = None,
          *, on_plan: Callable[[int], None] | None = None) -> ProbeReport:
    """:func:`probe_async` in a new event loop."""
    return asyncio.run(probe_async(options, progress, on_plan=on_plan))
