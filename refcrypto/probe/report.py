"""Presenting a probe run: a table on a terminal (``rich`` when installed: colour; plain
text otherwise), progress on standard error, JSON (one record per probe) and JUnit XML.

JUnit: one test case per probe, class name ``conformance`` or ``behaviour``; a ``fail`` is
a ``<failure>``; a ``finding`` passes (it is not a violation of a rule) and carries the
finding in ``<system-out>`` and a ``verdict`` property.
"""

from __future__ import annotations

import json
import sys
from typing import TextIO
from xml.etree import ElementTree

from .results import VERDICTS, ProbeReport, ProbeResult

__all__ = ["Progress", "summary", "table", "write_json", "write_junit"]

_COLOUR = {"pass": "\x1b[32m", "fail": "\x1b[1;31m", "finding": "\x1b[1;33m"}
_RICH_STYLE = {"pass": "green", "fail": "bold red", "finding": "bold yellow"}
_RESET = "\x1b[0m"
#: Longest detail shown in the table (JSON and JUnit have it whole).
_DETAIL_WIDTH = 110


def summary(report: ProbeReport) -> str:
    """``N probes: N pass, N fail, N finding (S s)``."""
    n = report.counts()
    return (f"{report.method} at {report.server}: {len(report.results)} probes, "
            + ", ".join(f"{n[v]} {v}" for v in VERDICTS)
            + f" ({report.seconds:.1f} s)")


def _short(text: str, width: int = _DETAIL_WIDTH) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def table(report: ProbeReport, *, colour: bool = False, full: bool = False) -> str:
    """The results as plain text columns (``colour``: ANSI colours on the verdicts)."""
    header = ["probe", "family", "reaction", "seconds", "verdict", "detail"]
    rows = [[r.probe, r.family, r.reaction, f"{r.seconds:.3f}", r.verdict,
             r.detail if full else _short(r.detail)] for r in report.results]
    widths = [max(len(x) for x in column) for column in zip(header, *rows, strict=True)]
    widths[-1] = 0  # the detail is last: no padding
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * max(w, len(h)) for h, w in zip(header, widths, strict=True)))
    for row in rows:
        cells = [c.ljust(w) for c, w in zip(row, widths, strict=True)]
        if colour:
            cells[4] = f"{_COLOUR[row[4]]}{cells[4]}{_RESET}"
        lines.append("  ".join(cells).rstrip())
    if report.not_run:
        lines += ["", "Not run:"]
        lines += [f"  {name}: {why}" for name, why in report.not_run.items()]
    lines += ["", summary(report)]
    return "\n".join(lines)


def print_table(report: ProbeReport, out: TextIO | None = None) -> None:
    """The table on ``out`` (standard output): with ``rich`` on a terminal, else plain."""
    stream = out if out is not None else sys.stdout
    if stream.isatty():
        try:
            from rich.console import Console
            from rich.table import Table
        except ImportError:
            pass
        else:
            console = Console(file=stream)
            grid = Table(title=f"refcrypto probe: {report.method} at {report.server}")
            for column in ("probe", "family", "reaction", "seconds", "verdict", "detail"):
                grid.add_column(column, overflow="fold" if column == "detail" else "ellipsis",
                                justify="right" if column == "seconds" else "left")
            for r in report.results:
                style = _RICH_STYLE[r.verdict]
                grid.add_row(r.probe, r.family, r.reaction, f"{r.seconds:.3f}",
                             f"[{style}]{r.verdict}[/]", r.detail)
            console.print(grid)
            for name, why in report.not_run.items():
                console.print(f"[dim]not run: {name}: {why}[/]")
            console.print(summary(report), highlight=False)
            return
    print(table(report, colour=stream.isatty()), file=stream)


def write_json(path: str, report: ProbeReport) -> None:
    """The run as JSON: settings, counts, what was not run, one record per probe."""
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(report.as_dict(), handle, indent=2)
        handle.write("\n")


def write_junit(path: str, report: ProbeReport) -> None:
    """One test suite for the run, one test case per probe (module documentation)."""
    root = ElementTree.Element("testsuites", name="refcrypto probe")
    counts = report.counts()
    suite = ElementTree.SubElement(
        root, "testsuite", name=f"{report.method} at {report.server}",
        tests=str(len(report.results)), failures=str(counts["fail"]), errors="0",
        skipped=str(len(report.not_run)), time=f"{report.seconds:.3f}")
    for r in report.results:
        case = ElementTree.SubElement(suite, "testcase", classname=r.family, name=r.probe,
                                      time=f"{r.seconds:.3f}")
        properties = ElementTree.SubElement(case, "properties")
        ElementTree.SubElement(properties, "property", name="verdict", value=r.verdict)
        ElementTree.SubElement(properties, "property", name="reaction", value=r.reaction)
        if r.verdict == "fail":
            ElementTree.SubElement(case, "failure", message=r.detail[:200]).text = r.detail
        elif r.verdict == "finding":
            ElementTree.SubElement(case, "system-out").text = f"finding: {r.detail}"
    for name, why in report.not_run.items():
        case = ElementTree.SubElement(suite, "testcase", classname="not-run", name=name,
                                      time="0")
        ElementTree.SubElement(case, "skipped", message=why)
    ElementTree.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


class Progress:
    """Progress on standard error: a ``rich`` bar on a terminal (a counter without
    ``rich``); with ``verbose``, one line per probe anywhere; otherwise nothing."""

    __slots__ = ("__weakref__", "_bar", "_done", "_task", "_total", "_tty", "_verbose")

    def __init__(self, *, verbose: bool = False) -> None:
        self._verbose = verbose
        self._tty = sys.stderr.isatty()
        self._bar: object | None = None
        self._task: object | None = None
        self._done = 0
        self._total = 0

    def start(self, total: int) -> None:
        self._total = total
        if self._tty and not self._verbose:
            try:
                from rich.console import Console
                from rich.progress import Progress as RichProgress
            except ImportError:
                return
            bar = RichProgress(console=Console(stderr=True), transient=True)
            bar.start()
            self._task = bar.add_task("probing", total=total)
            self._bar = bar

    def update(self, result: ProbeResult) -> None:
        self._done += 1
        if self._bar is not None:
            self._bar.update(self._task, advance=1,  # type: ignore[attr-defined]
                             description=result.probe)
        elif self._verbose:
            print(f"[{self._done}/{self._total}] {result.probe:24} {result.verdict:8} "
                  f"{result.reaction:18} {result.seconds:7.3f}s", file=sys.stderr, flush=True)
        elif self._tty:
            print(f"\r{self._done}/{self._total} probes", end="", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()  # type: ignore[attr-defined]
        elif self._tty and not self._verbose:
            print(file=sys.stderr)
