"""Throughput of refcrypto's pure-Python cipher paths, next to pproxy's pure-Python ciphers.

Run from the repository root::

    python bench/pure_ciphers.py            # table
    python bench/pure_ciphers.py --json     # machine-readable
    python bench/pure_ciphers.py --here     # in this environment (development)

Like ``bench/against_peers.py`` it measures what a user installs: it runs itself again in a
fresh virtual environment (this checkout installed on its own, pproxy with ``--no-deps``,
outside the source tree; :mod:`refcrypto.benchmarks.isolated`), by default in the fast/cffi
configuration (``--config`` picks another: CFB-1 runs over pycryptodome's AES, whose backend
matters).

What is measured (KB = 1024 bytes, best of ``--repeat`` runs, stream set-up not timed):

* ``camellia-256-cfb``, ``seed-cfb``, ``idea-cfb``: refcrypto's generic full-block CFB
  (``refcrypto.primitives.modes.CFB``) over the pure-Python Camellia, SEED and IDEA, for
  whichever of those modules exist; 64 KiB in 4 KiB writes.
* ``aes-256-cfb1``: generic CFB-1 over the pycryptodome AES adapter; decryption 64 KiB in
  4 KiB writes, encryption 16 KiB in 4 KiB writes.
* The same methods from pproxy's ``pproxy.cipherpy`` (``Camellia_256_CFB_Cipher``,
  ``SEED_CFB_Cipher``, ``IDEA_CFB_Cipher``, ``AES_256_CFB1_Cipher``), built the way pproxy
  builds them (``cls(key, setup_key=False).setup_iv(iv)``, then ``.encrypt`` /
  ``.decrypt``), with the same workloads -- except pproxy's AES CFB-1, which runs at a few
  KB/s: it gets ``--pproxy-cfb1-kib`` KiB (default 4) so the run stays short. Throughput
  per byte does not depend on the total there (pproxy's cost is per bit).

The ratio column is refcrypto / pproxy. Targets (for the record): camellia/seed/idea CFB
encryption >= 500 KB/s and decryption >= 1000 KB/s, camellia-256-cfb >= 2x pproxy;
aes-256-cfb1 decryption >= 1000 KB/s, encryption >= 100 KB/s and >= 25x pproxy.
Timings are noisy on a loaded machine; best-of-N keeps the least disturbed run.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

if os.environ.get("REFCRYPTO_BENCH_IN_VENV") != "1":  # not in the fresh environment
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # orchestrate from here

from refcrypto.benchmarks.environment import describe_here
from refcrypto.benchmarks.isolated import add_script_arguments, relaunch
from refcrypto.primitives.modes import CFB

KIB = 1024

Update = Callable[[bytes], bytes]


@dataclass
class Row:
    method: str
    direction: str
    refcrypto_kbs: float | None
    pproxy_kbs: float | None
    target_kbs: float | None
    target_ratio: float | None

    @property
    def ratio(self) -> float | None:
        if self.refcrypto_kbs is None or not self.pproxy_kbs:
            return None
        return self.refcrypto_kbs / self.pproxy_kbs


def measure(make: Callable[[], Update], total: int, write: int, repeat: int) -> float:
    """Best-of-``repeat`` throughput in KB/s of ``total`` bytes fed in ``write``-byte calls
    to a fresh stream from ``make()`` (creating the stream is not timed)."""
    data = os.urandom(write)
    calls = total // write
    best = math.inf
    for _ in range(repeat):
        update = make()
        start = time.perf_counter()
        for _ in range(calls):
            update(data)
        best = min(best, time.perf_counter() - start)
    return calls * write / best / KIB


# method, refcrypto module, class, key size, segment bits (None = full block), pproxy class
METHODS: list[tuple[str, str, str, int, int | None, str]] = [
    ("camellia-256-cfb", "refcrypto.primitives.camellia", "Camellia", 32, None,
     "Camellia_256_CFB_Cipher"),
    ("seed-cfb", "refcrypto.primitives.seed", "SEED", 16, None, "SEED_CFB_Cipher"),
    ("idea-cfb", "refcrypto.primitives.idea", "IDEA", 16, None, "IDEA_CFB_Cipher"),
    ("aes-256-cfb1", "refcrypto.primitives.blocks", "AES", 32, 1, "AES_256_CFB1_Cipher"),
]  # fmt: skip


def workload(method: str, direction: str) -> tuple[int, int]:
    """(total bytes, bytes per write) for refcrypto."""
    if method.endswith("cfb1") and direction == "encrypt":
        return 16 * KIB, 4 * KIB
    return 64 * KIB, 4 * KIB


def load_cipher_class(module_name: str, class_name: str) -> Any:
    try:
        return getattr(importlib.import_module(module_name), class_name)
    except ImportError:
        return None


def refcrypto_maker(cls: Any, key: bytes, iv: bytes, bits: int | None, decrypt: bool) -> Update:
    cipher = cls(key)
    segment = bits or 8 * cipher.block_size
    return CFB(cipher, iv, segment_bits=segment, decrypt=decrypt).update


def pproxy_maker(cls: Any, key: bytes, iv: bytes, direction: str) -> Update:
    update: Update = getattr(cls(key, setup_key=False).setup_iv(iv), direction)
    return update


def run(repeat: int, pproxy_cfb1_kib: int, use_pproxy: bool) -> tuple[list[Row], list[str]]:
    notes: list[str] = []
    cipherpy: Any = None
    if use_pproxy:
        try:
            cipherpy = importlib.import_module("pproxy.cipherpy")
        except ImportError:
            notes.append("pproxy is not installed: pproxy columns skipped (pip install pproxy)")
    rows: list[Row] = []
    for method, module_name, class_name, key_size, bits, pproxy_name in METHODS:
        cls = load_cipher_class(module_name, class_name)
        if cls is None:
            notes.append(f"{method}: {module_name} not available, refcrypto column skipped")
        block = 16 if class_name != "IDEA" else 8
        key, iv = os.urandom(key_size), os.urandom(block)
        pcls = getattr(cipherpy, pproxy_name, None) if cipherpy is not None else None
        for direction in ("encrypt", "decrypt"):
            decrypt = direction == "decrypt"
            total, write = workload(method, direction)
            ours = None
            if cls is not None:
                ours = measure(
                    partial(refcrypto_maker, cls, key, iv, bits, decrypt),
                    total,
                    write,
                    repeat,
                )
            theirs = None
            if pcls is not None:
                p_total, p_repeat = total, repeat
                if bits == 1:
                    p_total, p_repeat = pproxy_cfb1_kib * KIB, min(repeat, 3)
                theirs = measure(
                    partial(pproxy_maker, pcls, key, iv, direction),
                    p_total,
                    min(write, p_total),
                    p_repeat,
                )
            if bits == 1:
                target = 1000.0 if decrypt else 100.0
                target_ratio = None if decrypt else 25.0
            else:
                target = 1000.0 if decrypt else 500.0
                target_ratio = 2.0 if method == "camellia-256-cfb" else None
            rows.append(Row(method, direction, ours, theirs, target, target_ratio))
    if cipherpy is not None:
        notes.append(
            f"pproxy aes-256-cfb1 measured on {pproxy_cfb1_kib} KiB, best of {min(repeat, 3)}"
        )
    return rows, notes


def verdict(row: Row) -> str:
    checks = []
    if row.refcrypto_kbs is not None and row.target_kbs is not None:
        checks.append(row.refcrypto_kbs >= row.target_kbs)
    if row.ratio is not None and row.target_ratio is not None:
        checks.append(row.ratio >= row.target_ratio)
    if not checks:
        return "-"
    return "ok" if all(checks) else "MISS"


def fmt(value: float | None, suffix: str = "") -> str:
    return "n/a" if value is None else f"{value:,.1f}{suffix}"


def print_table(rows: list[Row], notes: list[str], repeat: int, about: list[str]) -> None:
    print(f"pure-Python throughput, KB/s (1 KB = 1024 B), best of {repeat}")
    for text in about:
        print(text)
    header = ("method", "dir", "refcrypto", "pproxy", "ratio", "target", "")
    lines = [header]
    for row in rows:
        target = fmt(row.target_kbs)
        if row.target_ratio is not None:
            target += f", {row.target_ratio:g}x"
        lines.append(
            (
                row.method,
                row.direction[:3],
                fmt(row.refcrypto_kbs),
                fmt(row.pproxy_kbs),
                fmt(row.ratio, "x"),
                target,
                verdict(row),
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for line in lines:
        print("  ".join(cell.rjust(w) if i in (2, 3, 4) else cell.ljust(w)
                        for i, (cell, w) in enumerate(zip(line, widths, strict=True))))  # fmt: skip
    for note in notes:
        print(f"note: {note}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--repeat", type=int, default=5, help="runs per figure (best kept)")
    parser.add_argument(
        "--pproxy-cfb1-kib",
        type=int,
        default=4,
        help="KiB fed to pproxy's (slow) AES CFB-1 per run (default 4)",
    )
    parser.add_argument("--no-pproxy", action="store_true", help="skip the pproxy comparison")
    add_script_arguments(parser)
    args = parser.parse_args(argv)
    code = relaunch(args, __file__, sys.argv[1:] if argv is None else argv,
                    [] if args.no_pproxy else ["pproxy"])
    if code is not None:
        return code
    facts, about = describe_here()
    rows, notes = run(max(1, args.repeat), max(1, args.pproxy_cfb1_kib), not args.no_pproxy)
    if args.json:
        payload = {
            "unit": "KB/s (1024 bytes), best of N",
            "environment": facts,
            "repeat": args.repeat,
            "results": [
                {**asdict(row), "ratio": row.ratio, "verdict": verdict(row)} for row in rows
            ],
            "notes": notes,
        }
        print(json.dumps(payload, indent=2))
    else:
        print_table(rows, notes, args.repeat, about)
    return 0


if __name__ == "__main__":
    sys.exit(main())
