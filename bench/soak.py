"""The soak test: many short sessions per method family with the cyclic collector disabled.

Run from the repository root::

    python bench/soak.py                # 1,000,000 Cryptor pairs per family (about 40 minutes)
    python bench/soak.py --pairs 20000  # a quick look
    python bench/soak.py -m aes-256-gcm -m table
    python bench/soak.py --here --pairs 20000   # in this environment (development)

Like ``bench/against_peers.py`` it measures what a user installs: it runs itself again in a
fresh virtual environment (this checkout installed on its own, Python shadowsocks with
``--no-deps``, outside the source tree; :mod:`refcrypto.benchmarks.isolated`), by default in
the fast/cffi configuration (``--config`` picks another).

For refcrypto and for the Python shadowsocks package on native libraries, each family runs in
a fresh child process (:mod:`refcrypto.benchmarks.memory`): a client and a server ``Cryptor``
per pair, a request and a reply, then both dropped, with ``gc.disable()``. The figure is the
growth of the resident set after a warm-up, and the number of objects ``gc.collect()`` then
finds in reference cycles. refcrypto's objects are in no cycle, so its growth stays flat;
Python shadowsocks' ``mbedtls:`` and ``table`` classes store bound methods of themselves
(their ``mbedtls.py``/``table.py``), so without the collector they are never freed. A child stops
once its RSS has grown by 1 GiB. A full run with the published count writes
``bench/results/soak.{txt,json}``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

if os.environ.get("REFCRYPTO_BENCH_IN_VENV") != "1":  # not in the fresh environment
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # orchestrate from here

from refcrypto.benchmarks.environment import describe_here
from refcrypto.benchmarks.isolated import add_script_arguments, in_fresh_venv, relaunch
from refcrypto.benchmarks.memory import DEFAULT_SOAK_METHODS, run_soak
from refcrypto.benchmarks.report import soak_table

RESULTS = Path(__file__).resolve().parent / "results"
PUBLISHED_PAIRS = 1_000_000


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=PUBLISHED_PAIRS,
                        help="pairs per family (results are written for the published count)")
    parser.add_argument("--method", "-m", action="append", metavar="NAME",
                        help="method to soak (repeatable; default: one per family)")
    parser.add_argument("--peer", action="append", choices=("refcrypto", "shadowsocks"),
                        help="implementation (repeatable; default: both)")
    add_script_arguments(parser)
    args = parser.parse_args(argv)
    code = relaunch(args, __file__, argv, ["shadowsocks"])
    if code is not None:
        return code
    facts, lines = describe_here()
    started = time.perf_counter()
    results = run_soak(args.peer or ["refcrypto", "shadowsocks"],
                       args.method or list(DEFAULT_SOAK_METHODS), args.pairs,
                       lambda line: print(f"  {line}", file=sys.stderr, flush=True))
    elapsed = time.perf_counter() - started
    header = "\n".join(lines)
    text = (f"Soak: {args.pairs:,} Cryptor pairs per family, each a short session, cyclic "
            f"collector disabled; RSS growth after warm-up\n{header}\n{soak_table(results)}\n"
            f"(run took {elapsed / 60:.1f} minutes)\n")
    print(text, end="")
    RESULTS.mkdir(exist_ok=True)
    published = (not args.method and not args.peer and args.pairs == PUBLISHED_PAIRS
                 and in_fresh_venv() and args.config == "fast-cffi")
    if published:
        (RESULTS / "soak.txt").write_text(text, encoding="utf-8")
        (RESULTS / "soak.json").write_text(
            json.dumps({"pairs": args.pairs, "seconds": elapsed, "environment": facts,
                        "results": results}, indent=2) + "\n", encoding="utf-8")
    failed = [r for r in results if r.get("peer") == "refcrypto" and "error" in r]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
