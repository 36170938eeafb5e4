"""refcrypto against what it replaces, as a user installs it: the published table, JSON, chart.

Run from the repository root (the outer process needs only this checkout, and matplotlib for
the chart)::

    python bench/against_peers.py                 # the published run (about 27 minutes)
    python bench/against_peers.py --quick         # a smoke run of the same thing
    python bench/against_peers.py -m aes-256-gcm  # any option of `refcrypto bench`
    python bench/against_peers.py --here --quick  # in this environment (development only)

It is ``refcrypto bench --isolated`` with the published settings (7 interleaved rounds of
0.2 s; memory per live Cryptor from 20,000 pairs, in the first configuration): a fresh
virtual environment with this checkout installed on its own (``pip install <checkout>``,
not editable) and the peers installed with ``--no-deps``, run from outside the source tree,
in three configurations of refcrypto one after the other: fast/cffi (as installed),
public/cffi (``REFCRYPTO_FAST=0``) and public/ctypes (``pip uninstall -y cffi``). The
published run, and only it, writes ``bench/results/against_peers.{txt,json,png}``; any other
run writes the same files to ``--out DIR`` (default: ``refcrypto-bench`` in the system's
temporary directory) and says where. What is measured, how, and how to read the ratios:
``bench/README.md``.
"""

from __future__ import annotations

import contextlib
import io
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # orchestrate from the checkout

from refcrypto.cli import main

RESULTS = Path(__file__).resolve().parent / "results"
PUBLISHED = ["--rounds", "7", "--time", "0.2", "--memory", "20000"]
NAME = "against_peers"


def _take(argv: list[str], option: str, with_value: bool) -> tuple[bool, str | None]:
    """Remove ``option`` (and its value) from ``argv``: whether it was there, and the value."""
    if option not in argv:
        return False, None
    at = argv.index(option)
    value = None
    if with_value and at + 1 < len(argv) and not argv[at + 1].startswith("-"):
        value = argv.pop(at + 1)
    argv.pop(at)
    return True, value


def run(argv: list[str]) -> int:
    rest = list(argv)
    here, _ = _take(rest, "--here", False)
    _, out = _take(rest, "--out", True)
    _, venv = _take(rest, "--isolated", True)
    published = not here and out is None and not rest
    target = RESULTS if published else Path(out or Path(tempfile.gettempdir()) / "refcrypto-bench")
    target.mkdir(parents=True, exist_ok=True)
    args = ["bench", *PUBLISHED, *rest]
    if not here:
        args += ["--isolated", *([venv] if venv else [])]
    if "--json" not in rest:
        args += ["--json", str(target / f"{NAME}.json")]
    if "--chart" not in rest:
        args += ["--chart", str(target / f"{NAME}.png")]
    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        code = main(args)
    sys.stdout.write(text.getvalue())
    (target / f"{NAME}.txt").write_text(text.getvalue(), encoding="utf-8")
    if not published:
        print(f"(not the published run: results in {target}, bench/results left alone)",
              file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
