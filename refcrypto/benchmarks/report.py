"""The benchmark report: a text table with ratios, JSON, a PNG chart, and the targets.

Every ratio is refcrypto's figure over the peer's, from the same run (``1.25x``: refcrypto
is 25% faster). Throughput is in MB/s of plaintext (10^6 bytes per second).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from .engine import Case, Report
from .environment import contents_line, path_line

__all__ = [
    "PEER_ORDER",
    "chart",
    "configurations_table",
    "header_lines",
    "soak_table",
    "table",
    "targets",
    "write_json",
]

PEER_ORDER = ("refcrypto", "shadowsocks", "pproxy", "pycryptodome-seals", "pycryptodome")
#: Column headings (the peer's ``--peer`` name where none is given), and shorter ones.
_COLUMN = {"pycryptodome-seals": "pycryptodome, same seals", "pycryptodome": "pycryptodome floor"}
_SHORT = {"pycryptodome-seals": "same seals", "pycryptodome": "floor"}
_KIND_TITLE = {
    "tcp-encode": "encode",
    "tcp-decode": "decode",
    "udp-encrypt": "encrypt",
    "udp-decrypt": "decrypt",
}
_AEAD = ("gcm", "poly1305")


def _figure(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 100:
        return f"{value:.0f}"
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def _size(size: int) -> str:
    return f"{size // 1024} KiB" if size >= 1024 and size % 1024 == 0 else f"{size} B"


def _grid(rows: list[list[str]], header: list[str], right: Iterable[int]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    numeric = set(right)

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in numeric else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def _cell(case: Case, peer: str, stat: str) -> str:
    measure = case.peers.get(peer)
    if measure is None or measure.skipped is not None:
        return "n/a"
    value = _figure(getattr(measure, stat))
    if peer == "refcrypto":
        return value
    ratio = case.ratio(peer, stat)
    return f"{value} ({ratio:.2f}x)" if ratio is not None else value


def header_lines(env: dict[str, Any]) -> list[str]:
    """Which path ran and what the environment held (every table starts with these)."""
    if "refcrypto_fast" not in env:  # a report from before these facts were recorded
        return []
    return [f"Ran: {path_line(env)}", f"In: {contents_line(env)}"]


def table(report: Report, stat: str = "best") -> str:
    """The whole report as text."""
    peers = [p for p in PEER_ORDER if p in report.peers]
    env = report.environment
    out = [
        f"refcrypto bench, {env['date']}: Python {env['python']}, pycryptodome "
        f"{env['pycryptodome']}, {env['processor']} ({env['cpus']} CPUs), load average at "
        f"start {_load(env)}",
        *header_lines(env),
    ]
    width = max(len(name) for name in peers)
    out += [f"  {name:{width}}  {report.peers[name]}" for name in peers]
    out.append(
        f"Figures: {stat} of {report.config.rounds} interleaved rounds of ~"
        f"{report.config.seconds:g} s (both in the JSON); (1.25x) = refcrypto / that peer, "
        f"same run."
    )
    sections = (
        ("TCP throughput, MB/s of plaintext", ("tcp-encode", "tcp-decode"), True),
        (f"UDP, packets/s ({report.config.udp_size}-byte payload, new IV/salt and key "
         "derivation per packet)", ("udp-encrypt", "udp-decrypt"), False),
        ("Creations/s: one Cryptor (pproxy: what it makes per connection)", ("create",), False),
    )
    for title, kinds, with_size in sections:
        cases = [c for c in report.cases if c.kind in kinds]
        if not cases:
            continue
        rows = []
        for case in cases:
            row = [case.method]
            if with_size:
                row.append(_size(case.size))
            if case.kind != "create":
                row.append(_KIND_TITLE[case.kind])
            rows.append(row + [_cell(case, p, stat) for p in peers])
        header = ["method"] + (["write"] if with_size else [])
        header += [] if kinds == ("create",) else ["direction"]
        first = len(header)
        columns = [_COLUMN.get(p, p) for p in peers]
        out += ["", title, _grid(rows, header + columns, range(first, first + len(peers)))]
    if report.memory:
        out += ["", "Memory per live Cryptor (RSS growth / Cryptors, after a short session)",
                _memory_table(report.memory)]
    if report.soak:
        out += ["", "Soak: short sessions with the cyclic collector disabled; RSS growth after "
                "warm-up", soak_table(report.soak)]
    checks = targets(report, stat)
    if checks:
        out += ["", "Targets"]
        out += [f"  {'met   ' if ok else 'MISSED'}  {text}" for ok, text in checks]
    out.append(f"\n(run took {report.seconds:.0f} s)")
    return "\n".join(out)


def configurations_table(runs: Sequence[tuple[str, Report]], stat: str = "best") -> str:
    """refcrypto in several configurations side by side (one run each): per case its figure
    in every configuration, with its ratio to the reference peer of that same run (the
    native-backed shadowsocks when it ran: its speed does not depend on pycryptodome's
    backend), then the peers' figures from the first run."""
    if not runs:
        return ""
    first = runs[0][1]
    reference = next((p for p in PEER_ORDER[1:]
                      if not first.peers.get(p, "unavailable").startswith("unavailable")), None)
    others = [p for p in PEER_ORDER[1:] if p in first.peers]
    lookups = [{(c.kind, c.method, c.size): c for c in report.cases} for _, report in runs]
    rows = []
    for case in first.cases:
        key = (case.kind, case.method, case.size)
        row = [case.method, _size(case.size) if case.kind.startswith("tcp") else "",
               _KIND_TITLE.get(case.kind, "create"), case.unit]
        for lookup in lookups:
            theirs = lookup.get(key)
            measure = theirs.peers.get("refcrypto") if theirs else None
            value = getattr(measure, stat) if measure and measure.skipped is None else None
            ratio = theirs.ratio(reference, stat) if theirs and reference else None
            row.append(_figure(value) + (f" ({ratio:.2f}x)" if ratio is not None else ""))
        for peer in others:
            measure = case.peers.get(peer)
            ok = measure is not None and measure.skipped is None
            row.append(_figure(getattr(measure, stat)) if ok else "n/a")
        rows.append(row)
    header = ["method", "write", "direction", "unit", *[name for name, _ in runs],
              *[_SHORT.get(p, p) for p in others]]
    note = (f"Columns {', '.join(name for name, _ in runs)}: refcrypto in that configuration, "
            f"(x) = refcrypto / {reference} from the same run; peers: from the {runs[0][0]} run."
            if reference else "no peer ran")
    return "\n".join([_grid(rows, header, range(4, len(header))), note])


def _load(env: dict[str, Any]) -> str:
    load = env.get("load_average_at_start")
    return "/".join(f"{x:.2f}" for x in load) if load else "?"


def _by_method(results: Sequence[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    grouped: dict[str, dict[str, dict[str, Any]]] = {}
    for result in results:
        grouped.setdefault(result["method"], {})[result["peer"]] = result
    return grouped


def _memory_table(results: Sequence[dict[str, Any]]) -> str:
    rows = []
    for name, peers in _by_method(results).items():
        cells = []
        for peer in ("refcrypto", "shadowsocks"):
            r = peers.get(peer, {})
            value = r.get("bytes_per_cryptor")
            cells.append(f"{value:,.0f} B" if value is not None else _why(r))
        rows.append([name, *cells])
    return _grid(rows, ["method", "refcrypto", "shadowsocks"], (1, 2))


def soak_table(results: Sequence[dict[str, Any]]) -> str:
    rows = []
    for name, peers in _by_method(results).items():
        row = [name]
        for peer in ("refcrypto", "shadowsocks"):
            r = peers.get(peer, {})
            if "rss_growth" not in r:
                row += [_why(r), ""]
                continue
            growth = f"{r['rss_growth'] / 2**20:,.2f} MiB"
            if r.get("pairs_done", r["pairs"]) < r["pairs"]:
                growth += f" after {r['pairs_done']:,} (stopped)"
            row += [f"{growth}, {r['cycles']:,} cycles", f"{r['seconds']:.0f} s"]
        rows.append([row[0], f"{_pairs(peers):,}", *row[1:]])
    header = ["method", "pairs", "refcrypto", "time", "shadowsocks", "time"]
    return _grid(rows, header, (1, 3, 5))


def _pairs(peers: dict[str, dict[str, Any]]) -> int:
    return max((int(r.get("pairs", 0)) for r in peers.values()), default=0)


def _why(result: dict[str, Any]) -> str:
    if "skipped" in result:
        return "n/a"
    return "error" if "error" in result else "-"


# --------------------------------------------------------------------------------------------
# Targets
# --------------------------------------------------------------------------------------------


def targets(report: Report, stat: str = "best") -> list[tuple[bool, str]]:
    """The goals of the benchmark (same-run ratios): refcrypto >= 1.0x the native-backed
    Python shadowsocks for every method at the smallest and largest write, TCP encode and
    decode, and UDP; >= 2x pproxy on the AEAD methods and >= 1.0x on the others."""
    checks: list[tuple[bool, str]] = []
    sizes = sorted({c.size for c in report.cases if c.kind.startswith("tcp")})
    edge = {sizes[0], sizes[-1]} if sizes else set()
    for case in report.cases:
        if case.kind == "create" or (case.kind.startswith("tcp") and case.size not in edge):
            continue
        where = f"{case.method} {case.kind}" + (
            f" {_size(case.size)}" if case.kind.startswith("tcp") else "")
        native = case.ratio("shadowsocks", stat)
        if native is not None:
            checks.append((native >= 1.0, f"{where}: {native:.2f}x shadowsocks (>= 1.0x)"))
        proxy = case.ratio("pproxy", stat)
        if proxy is not None:
            need = 2.0 if any(k in case.method for k in _AEAD) else 1.0
            checks.append((proxy >= need, f"{where}: {proxy:.2f}x pproxy (>= {need:.1f}x)"))
    return checks


# --------------------------------------------------------------------------------------------
# JSON and the chart
# --------------------------------------------------------------------------------------------


def write_json(report: Report, path: str | Path) -> None:
    Path(path).write_text(json.dumps(report.as_dict(), indent=2) + "\n", encoding="utf-8")


def chart(report: Report, path: str | Path, stat: str = "best") -> None:
    """A PNG: per method, refcrypto's ratio to Python shadowsocks (top) and to pproxy
    (bottom), for TCP at the smallest and largest write and for UDP."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = list(dict.fromkeys(c.method for c in report.cases if c.kind != "create"))
    sizes = sorted({c.size for c in report.cases if c.kind.startswith("tcp")})
    series: list[tuple[str, str, int | None]] = []
    edges: list[int] = [sizes[0], sizes[-1]] if len(sizes) > 1 else sizes
    for size in edges:
        series += [(f"TCP encode {_size(size)}", "tcp-encode", size),
                   (f"TCP decode {_size(size)}", "tcp-decode", size)]
    series += [("UDP encrypt", "udp-encrypt", None), ("UDP decrypt", "udp-decrypt", None)]
    lookup = {(c.kind, c.method, c.size if c.kind.startswith("tcp") else None): c
              for c in report.cases}
    candidates = (("shadowsocks", "Python shadowsocks on native libs"),
                  ("pproxy", "pproxy (pycryptodome)"),
                  ("pycryptodome-seals", "pycryptodome, same seals (AEAD methods)"),
                  ("pycryptodome", "the bare pycryptodome primitive"))
    present = [(p, label) for p, label in candidates
               if not report.peers.get(p, "unavailable").startswith("unavailable")]
    peers = [pair for pair in present if pair[0] != "pycryptodome"] or present
    if not peers:
        raise ValueError("no peer ran: nothing to chart")
    fig, axes = plt.subplots(len(peers), 1, figsize=(13, 4.2 * len(peers)), squeeze=False)
    width = 0.8 / max(1, len(series))
    for axis, (peer, label) in zip(axes[:, 0], peers, strict=True):
        for index, (name, kind, case_size) in enumerate(series):
            values = []
            for m in methods:
                case = lookup.get((kind, m, case_size))
                ratio = case.ratio(peer, stat) if case else None
                values.append(ratio if ratio is not None else 0.0)
            positions = [i + (index - (len(series) - 1) / 2) * width for i in range(len(methods))]
            axis.bar(positions, values, width, label=name)
        for i, m in enumerate(methods):
            if all(lookup.get((kind, m, case_size)) is None
                   or lookup[kind, m, case_size].ratio(peer, stat) is None
                   for _, kind, case_size in series):
                axis.text(i, 1.0, "n/a", ha="center", va="bottom", fontsize=8)
        axis.axhline(1.0, color="black", linewidth=0.8)
        if peer == "pproxy":
            axis.axhline(2.0, color="black", linewidth=0.8, linestyle="--")
        if peer in ("pproxy", "pycryptodome-seals"):
            axis.set_yscale("log")
        axis.set_xticks(range(len(methods)))
        axis.set_xticklabels(methods, rotation=20, ha="right")
        axis.set_ylabel(f"refcrypto / {peer}")
        axis.set_title(f"refcrypto relative to {label} (same run; > 1: refcrypto faster)")
        axis.grid(axis="y", alpha=0.3)
        axis.legend(ncol=3, fontsize=8)
    env = report.environment
    ran = f" [{env['configuration']}]" if "configuration" in env else ""
    fig.suptitle(f"refcrypto bench {env['date'][:10]}{ran}: {stat} of {report.config.rounds} "
                 f"interleaved rounds; Python {env['python']}, pycryptodome "
                 f"{env['pycryptodome']}, {env['cpus']} CPUs", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
