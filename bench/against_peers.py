"""refcrypto against what it replaces: the published benchmark table, JSON and chart.

Run from the repository root (the peers are the ``bench`` extra:
``pip install -e '.[bench]'``)::

    python bench/against_peers.py                 # the published run (about 15 minutes)
    python bench/against_peers.py --quick         # a smoke run
    python bench/against_peers.py -m aes-256-gcm  # any option of `refcrypto bench`

It is ``refcrypto bench`` with the published settings (7 interleaved rounds of 0.2 s, memory
per live Cryptor from 20,000 pairs) that writes ``bench/results/against_peers.{txt,json,png}``.
The soak test, which takes longer, is ``bench/soak.py``. What is measured, how, and how to
read the ratios: ``bench/README.md``.
"""

from __future__ import annotations

import contextlib
import io
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # a source checkout

from refcrypto.cli import main

RESULTS = Path(__file__).resolve().parent / "results"
PUBLISHED = ["--rounds", "7", "--time", "0.2", "--memory", "20000"]


def run(argv: list[str]) -> int:
    RESULTS.mkdir(exist_ok=True)
    args = ["bench", *PUBLISHED, *argv]
    if "--json" not in argv:
        args += ["--json", str(RESULTS / "against_peers.json")]
    if "--chart" not in argv:
        args += ["--chart", str(RESULTS / "against_peers.png")]
    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        code = main(args)
    sys.stdout.write(text.getvalue())
    (RESULTS / "against_peers.txt").write_text(text.getvalue(), encoding="utf-8")
    return code


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
