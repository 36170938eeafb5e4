"""``refcrypto bench``: the command-line front of :mod:`refcrypto.benchmarks`."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .engine import DEFAULT_METHODS, DEFAULT_SIZES, Config
from .isolated import CONFIGURATIONS

__all__ = ["add_parser", "run_command"]


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add the ``bench`` subcommand to ``sub`` (an ``add_subparsers()`` result)."""
    p: argparse.ArgumentParser = sub.add_parser(
        "bench",
        help="benchmark against the native-backed Python shadowsocks, pproxy and pycryptodome",
        description="Throughput, packets/s, creations/s (and optionally memory and a soak "
        "test) of refcrypto beside the Python shadowsocks package on native libraries, "
        "pproxy, pycryptodome's public API doing the same seals, and the bare pycryptodome "
        "primitive, measured in one process on the same data, interleaved; ratios are "
        "refcrypto / peer from the same run. Peers that are not installed are left out. "
        "With --isolated it measures what a user installs: a fresh virtual environment, "
        "refcrypto and the peers only, in each configuration (fast/cffi, public/cffi, "
        "public/ctypes).",
    )
    p.add_argument("--method", "-m", action="append", metavar="NAME",
                   help=f"method to run (repeatable; default: {', '.join(DEFAULT_METHODS)})")
    p.add_argument("--size", action="append", type=int, metavar="BYTES",
                   help="TCP write size (repeatable; default: "
                   f"{', '.join(map(str, DEFAULT_SIZES))})")
    p.add_argument("--peer", action="append", metavar="NAME",
                   help="peer to compare (repeatable): shadowsocks, pproxy, pycryptodome-seals "
                   "(pycryptodome's public API doing the same seals), pycryptodome (the floor: "
                   "one object, one call); default: all")
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    p.add_argument("--time", type=float, default=0.1, metavar="SECONDS",
                   help="length of one timed loop (default 0.1)")
    p.add_argument("--stat", choices=("best", "median"), default="best",
                   help="figure shown per peer (default best; the JSON has both)")
    p.add_argument("--quick", action="store_true",
                   help="2 rounds of 0.02 s: a smoke run, not figures to publish")
    p.add_argument("--no-tcp", action="store_true", help="skip TCP throughput")
    p.add_argument("--no-udp", action="store_true", help="skip UDP packets/s")
    p.add_argument("--no-create", action="store_true", help="skip creations/s")
    p.add_argument("--memory", type=int, default=0, metavar="PAIRS",
                   help="measure memory per live Cryptor with this many pairs (child process)")
    p.add_argument("--soak", type=int, default=0, metavar="PAIRS",
                   help="soak test: this many short sessions per method family, cyclic "
                   "collector off (child processes; the published figure uses 1000000)")
    p.add_argument("--soak-method", action="append", metavar="NAME",
                   help="soak this method (repeatable; default: one per family)")
    p.add_argument("--json", metavar="FILE", help="write the full report as JSON")
    p.add_argument("--chart", metavar="FILE", help="write a PNG chart (needs matplotlib)")
    iso = p.add_argument_group(
        "isolated", "measure what a user installs: --isolated makes a fresh virtual environment "
        "(refcrypto installed on its own, not editable; the peers with pip install --no-deps), "
        "and runs the benchmark there from outside the source tree, once per configuration")
    iso.add_argument("--isolated", nargs="?", const="", metavar="DIR",
                     help="run in a fresh virtual environment made in DIR (new or empty, or one "
                     "an earlier --isolated run made, which is emptied; default: a temporary "
                     "directory, removed afterwards)")
    iso.add_argument("--config", action="append", metavar="NAME",
                     choices=[c.name for c in CONFIGURATIONS],
                     help="with --isolated: configuration to run (repeatable): fast-cffi (as "
                     "installed), public-cffi (REFCRYPTO_FAST=0), public-ctypes (cffi "
                     "uninstalled); default: all three")
    iso.add_argument("--install", metavar="SPEC",
                     help="with --isolated: what pip installs as refcrypto (default: this "
                     "source checkout, or refcrypto==VERSION from the index when not run "
                     "from one)")
    p.set_defaults(func=run_command)
    return p


def _progress(line: str) -> None:
    print(f"  {line}", file=sys.stderr, flush=True)


def run_command(args: argparse.Namespace) -> int:
    from .engine import run
    from .report import chart, table, write_json

    if args.isolated is not None:
        from .isolated import IsolatedError, bench_command

        try:
            return bench_command(args, _progress)
        except (IsolatedError, ValueError) as exc:
            print(f"refcrypto: bench --isolated: {exc}", file=sys.stderr)
            return 2
    if args.config or args.install:
        print("refcrypto: --config and --install go with --isolated", file=sys.stderr)
        return 2
    config = Config(
        methods=tuple(args.method or DEFAULT_METHODS),
        sizes=tuple(args.size or DEFAULT_SIZES),
        peers=args.peer,
        rounds=2 if args.quick else args.rounds,
        seconds=0.02 if args.quick else args.time,
        tcp=not args.no_tcp,
        udp=not args.no_udp,
        create=not args.no_create,
        memory_pairs=args.memory,
        soak_pairs=args.soak,
        soak_methods=tuple(args.soak_method) if args.soak_method else None,
    )
    report = run(config, progress=_progress)
    print(table(report, args.stat))
    if args.json:
        write_json(report, args.json)
    if args.chart:
        try:
            chart(report, args.chart, args.stat)
        except ImportError as exc:
            print(f"refcrypto: no chart, matplotlib is missing: {exc}", file=sys.stderr)
            return 2
    return 0
