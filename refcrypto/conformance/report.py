"""Presenting engine results: the method x backend matrix, a progress line, JSON and JUnit."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from xml.etree import ElementTree

from .. import __version__
from .engine import PairResult

__all__ = ["Progress", "matrix", "write_json", "write_junit"]

_CELL = {"pass": "pass", "fail": "FAIL", "unsupported": "-"}
_COLOUR = {"pass": "\x1b[32m", "fail": "\x1b[1;31m", "unsupported": "\x1b[2m"}
_RESET = "\x1b[0m"


class Progress:
    """A progress bar on a terminal (``rich`` if installed), one line per pair with
    ``verbose``, or nothing."""

    __slots__ = ("__weakref__", "_bar", "_done", "_started", "_task", "_total", "_verbose")

    def __init__(self, total: int, *, verbose: bool = False) -> None:
        self._total, self._done, self._verbose = total, 0, verbose
        self._started = time.perf_counter()
        self._bar: object | None = None
        self._task: object | None = None
        if sys.stderr.isatty() and not verbose:
            try:
                from rich.progress import Progress as RichProgress
            except ImportError:
                pass
            else:
                bar = RichProgress(transient=True)
                bar.start()
                self._task = bar.add_task("checking", total=total)
                self._bar = bar

    def update(self, result: PairResult) -> None:
        self._done += 1
        if self._bar is not None:
            self._bar.update(  # type: ignore[attr-defined]
                self._task, advance=1, description=f"{result.backend} {result.method}"
            )
        elif self._verbose:
            print(f"[{self._done}/{self._total}] {result.backend:12} {result.method:28} "
                  f"{result.status:11} {result.seconds:6.2f}s", file=sys.stderr)
        elif sys.stderr.isatty():
            print(f"\r{self._done}/{self._total} pairs", end="", file=sys.stderr)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()  # type: ignore[attr-defined]
        elif sys.stderr.isatty() and not self._verbose:
            print(file=sys.stderr)


def matrix(results: Sequence[PairResult], backends: Sequence[str], methods: Sequence[str],
           *, colour: bool = False) -> str:
    """The matrix, then every failure and every distinct unsupported reason, then totals."""
    by_pair = {(r.method, r.backend): r for r in results}
    width = max(len(m) for m in methods)
    columns = [max(len(b), 4) for b in backends]
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
    reasons: dict[tuple[str, str], list[str]] = {}
    for r in results:
        if r.status == "unsupported":
            reasons.setdefault((r.backend, r.detail), []).append(r.method)
    if reasons:
        lines += ["", "Unsupported:"]
        for (backend, reason), names in reasons.items():
            lines.append(f"  {backend}: {reason} ({len(names)}: {', '.join(names)})")
    counts = {s: sum(1 for r in results if r.status == s) for s in ("pass", "fail", "unsupported")}
    lines += ["", f"{counts['pass']} pairs pass, {counts['fail']} fail, "
                  f"{counts['unsupported']} unsupported"]
    return "\n".join(lines)


def write_json(path: str, results: Sequence[PairResult], *, seed: int) -> None:
    payload = {"refcrypto": __version__, "seed": seed,
               "results": [r.as_dict() for r in results]}
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(payload, handle, indent=2)
        handle.write("\n")


def write_junit(path: str, results: Sequence[PairResult]) -> None:
    """One test suite per backend, one test case per method; unsupported pairs are skipped."""
    root = ElementTree.Element("testsuites", name="refcrypto check")
    for backend in dict.fromkeys(r.backend for r in results):
        mine = [r for r in results if r.backend == backend]
        suite = ElementTree.SubElement(
            root, "testsuite", name=backend, tests=str(len(mine)),
            failures=str(sum(r.status == "fail" for r in mine)),
            skipped=str(sum(r.status == "unsupported" for r in mine)),
            time=f"{sum(r.seconds for r in mine):.3f}",
        )
        for r in mine:
            case = ElementTree.SubElement(suite, "testcase", classname=backend, name=r.method,
                                          time=f"{r.seconds:.3f}")
            if r.status == "fail":
                ElementTree.SubElement(case, "failure", message=r.detail[:200]).text = r.detail
            elif r.status == "unsupported":
                ElementTree.SubElement(case, "skipped", message=r.detail)
    ElementTree.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
