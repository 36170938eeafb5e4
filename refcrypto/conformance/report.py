"""Presenting engine results: the method x backend matrix, progress, JSON and JUnit.

A pair is ``pass``, ``FAIL``, ``partial`` (nothing failed but a check could not run: never a
pass) or ``-`` (unsupported) in the matrix; JSON carries the same ``status`` strings; JUnit
reports a failed pair as ``<failure>``, a partial one as ``<error type="partial">`` and an
unsupported one as ``<skipped>``.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Mapping, Sequence
from xml.etree import ElementTree

from .. import __version__
from .engine import PairResult

__all__ = ["STATUSES", "Progress", "counts", "matrix", "summary", "write_json", "write_junit"]

#: Every pair status, in the order totals are given.
STATUSES = ("pass", "fail", "partial", "unsupported")
_CELL = {"pass": "pass", "fail": "FAIL", "partial": "partial", "unsupported": "-"}
_COLOUR = {"pass": "\x1b[32m", "fail": "\x1b[1;31m", "partial": "\x1b[1;33m",
           "unsupported": "\x1b[2m"}
_RESET = "\x1b[0m"


def counts(results: Sequence[PairResult]) -> dict[str, int]:
    """How many pairs ended in each status (every status present, zero or not)."""
    return {s: sum(1 for r in results if r.status == s) for s in STATUSES}


def summary(results: Sequence[PairResult]) -> str:
    """``N pairs pass, N fail, N partial, N unsupported``."""
    n = counts(results)
    return (f"{n['pass']} pairs pass, {n['fail']} fail, {n['partial']} partial, "
            f"{n['unsupported']} unsupported")


class Progress:
    """Progress on standard error.

    On a terminal: a progress bar (``rich`` if installed) or a pair counter. Anywhere else
    (CI logs, a file): a line every ``every`` pairs of a backend, so a long backend shows it
    is alive. With ``verbose``: one line per pair. In every mode but the terminal's, one line
    per finished backend with its totals (``per_backend`` is the number of pairs of each
    backend; the engine runs one backend's pairs after another).
    """

    __slots__ = ("__weakref__", "_backend", "_backend_done", "_backend_results",
                 "_backend_started", "_backends_done", "_bar", "_done", "_every",
                 "_per_backend", "_started", "_task", "_total", "_tty", "_verbose")

    def __init__(self, total: int, *, verbose: bool = False, per_backend: int = 0,
                 every: int = 10) -> None:
        self._total, self._done, self._verbose = total, 0, verbose
        self._per_backend, self._every = per_backend, every
        self._backend, self._backend_done, self._backends_done = "", 0, 0
        self._backend_results: list[PairResult] = []
        self._started = self._backend_started = time.perf_counter()
        self._tty = sys.stderr.isatty()
        self._bar: object | None = None
        self._task: object | None = None
        if self._tty and not verbose:
            try:
                from rich.console import Console
                from rich.progress import Progress as RichProgress
            except ImportError:
                pass
            else:
                bar = RichProgress(console=Console(stderr=True), transient=True)
                bar.start()
                self._task = bar.add_task("checking", total=total)
                self._bar = bar

    def update(self, result: PairResult) -> None:
        self._done += 1
        if result.backend != self._backend:
            self._backend, self._backend_done = result.backend, 0
            self._backend_results = []
            if not self._per_backend:  # else the clock restarted when the last one finished
                self._backend_started = time.perf_counter()
        self._backend_done += 1
        self._backend_results.append(result)
        if self._bar is not None:
            self._bar.update(  # type: ignore[attr-defined]
                self._task, advance=1, description=f"{result.backend} {result.method}"
            )
        elif self._verbose:
            print(f"[{self._done}/{self._total}] {result.backend:12} {result.method:28} "
                  f"{result.status:11} {result.seconds:6.2f}s", file=sys.stderr, flush=True)
        elif self._tty:
            print(f"\r{self._done}/{self._total} pairs", end="", file=sys.stderr, flush=True)
        elif (self._every and self._backend_done % self._every == 0
              and self._backend_done != self._per_backend):
            elapsed = time.perf_counter() - self._backend_started
            of = f"/{self._per_backend}" if self._per_backend else ""
            print(f"refcrypto check: {result.backend}: {self._backend_done}{of} pairs "
                  f"({elapsed:.0f} s)", file=sys.stderr, flush=True)
        if self._backend_done == self._per_backend and not (self._tty and not self._verbose):
            self._backends_done += 1
            elapsed = time.perf_counter() - self._backend_started
            backends = self._total // self._per_backend if self._per_backend else 0
            print(f"refcrypto check: {result.backend} done "
                  f"[{self._backends_done}/{backends}]: {summary(self._backend_results)} "
                  f"in {elapsed:.1f} s", file=sys.stderr, flush=True)
            self._backend_started = time.perf_counter()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()  # type: ignore[attr-defined]
        elif self._tty and not self._verbose:
            print(file=sys.stderr)


def matrix(results: Sequence[PairResult], backends: Sequence[str], methods: Sequence[str],
           *, colour: bool = False) -> str:
    """The matrix, then every failure and every distinct unsupported reason, then totals."""
    by_pair = {(r.method, r.backend): r for r in results}
    width = max(len(m) for m in methods)
    cell_width = max((len(_CELL[r.status]) for r in results), default=4)
    columns = [max(len(b), cell_width) for b in backends]
    header = (b.ljust(w) for b, w in zip(backends, columns, strict=True))
    lines = ["  ".join([" " * width, *header])]
    for m in methods:
        cells = []
        for b, w in zip(backends, columns, strict=True):
            result = by_pair.get((m, b))
            text = _CELL[result.status] if result else "?"
            cell = text.ljust(w)
            if colour and result:
                cell = f"{_COLOUR[result.status]}{cell}{_RESET}"
            cells.append(cell)
        lines.append("  ".join([m.ljust(width), *cells]).rstrip())
    failures = [r for r in results if r.status == "fail"]
    if failures:
        lines += ["", "Failures:"]
        lines += [f"  {r.backend} / {r.method}: {r.detail}" for r in failures]
    partial = [r for r in results if r.status == "partial"]
    if partial:
        lines += ["", "Partial (no failure, but not every check ran; not a pass):"]
        lines += [f"  {r.backend} / {r.method}: {r.detail}" for r in partial]
    reasons: dict[tuple[str, str], list[str]] = {}
    for r in results:
        if r.status == "unsupported":
            reasons.setdefault((r.backend, r.detail), []).append(r.method)
    if reasons:
        lines += ["", "Unsupported:"]
        for (backend, reason), names in reasons.items():
            lines.append(f"  {backend}: {reason} ({len(names)}: {', '.join(names)})")
    lines += ["", summary(results)]
    return "\n".join(lines)


def write_json(path: str, results: Sequence[PairResult], *, seed: int,
               backends: Mapping[str, str] | None = None) -> None:
    """The results as JSON; ``backends`` (name -> description: library, version, plug-in
    origin) is written as ``backends`` when given."""
    payload: dict[str, object] = {"refcrypto": __version__, "seed": seed,
                                  "counts": counts(results)}
    if backends is not None:
        payload["backends"] = dict(backends)
    payload["results"] = [r.as_dict() for r in results]
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(payload, handle, indent=2)
        handle.write("\n")


def write_junit(path: str, results: Sequence[PairResult]) -> None:
    """One test suite per backend, one test case per method: a failed pair is a
    ``<failure>``, a partial one an ``<error type="partial">`` (it did not pass), an
    unsupported one ``<skipped>``."""
    root = ElementTree.Element("testsuites", name="refcrypto check")
    for backend in dict.fromkeys(r.backend for r in results):
        mine = [r for r in results if r.backend == backend]
        suite = ElementTree.SubElement(
            root, "testsuite", name=backend, tests=str(len(mine)),
            failures=str(sum(r.status == "fail" for r in mine)),
            errors=str(sum(r.status == "partial" for r in mine)),
            skipped=str(sum(r.status == "unsupported" for r in mine)),
            time=f"{sum(r.seconds for r in mine):.3f}",
        )
        for r in mine:
            case = ElementTree.SubElement(suite, "testcase", classname=backend, name=r.method,
                                          time=f"{r.seconds:.3f}")
            if r.status == "fail":
                ElementTree.SubElement(case, "failure", message=r.detail[:200]).text = r.detail
            elif r.status == "partial":
                ElementTree.SubElement(case, "error", type="partial",
                                       message=r.detail[:200]).text = r.detail
            elif r.status == "unsupported":
                ElementTree.SubElement(case, "skipped", message=r.detail)
    ElementTree.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
