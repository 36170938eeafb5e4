"""``refcrypto bench``: the command-line front of :mod:`refcrypto.benchmarks`."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .engine import DEFAULT_METHODS, DEFAULT_SIZES, Config

__all__ = ["add_parser", "run_command"]


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add the ``bench`` subcommand to ``sub`` (an ``add_subparsers()`` result)."""
    p: argparse.ArgumentParser = sub.add_parser(
        "bench",
        help="benchmark against the native-backed Python shadowsocks, pproxy and pycryptodome",
        description="Throughput, packets/s, creations/s (and optionally memory and a soak "
        "test) of refcrypto beside the Python shadowsocks package on native libraries, "
        "pproxy and the bare pycryptodome primitive, measured in one process on the same "
        "data, interleaved; ratios are refcrypto / peer from the same run. Peers that are "
        "not installed are left out (pip install 'refcrypto[bench]').",
    )
    p.add_argument("--method", "-m", action="append", metavar="NAME",
                   help=f"method to run (repeatable; default: {', '.join(DEFAULT_METHODS)})")
    p.add_argument("--size", action="append", type=int, metavar="BYTES",
                   help="TCP write size (repeatable; default: "
                   f"{', '.join(map(str, DEFAULT_SIZES))})")
    p.add_argument("--peer", action="append", metavar="NAME",
                   help="peer to compare (repeatable): shadowsocks, pproxy, pycryptodome; "
                   "default: all")
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
    p.set_defaults(func=run_command)
    return p


def run_command(args: argparse.Namespace) -> int:
    from .engine import run
    from .report import chart, table, write_json

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
    report = run(config, progress=lambda line: print(f"  {line}", file=sys.stderr, flush=True))
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
