"""The leak this project was born from: cipher objects that hold bound methods of themselves.

    python docs/demos/leak.py                 # 100,000 pairs per row (about a minute of CPU)
    python docs/demos/leak.py --pairs 2000    # a quick look (what tests/test_demos.py runs)

Python shadowsocks' cipher classes stored their own bound methods as attributes
(``self.encrypt = self.update``) and freed their native contexts in ``__del__``. A bound
method refers to its object, so each object was in a reference cycle: reference counting
never frees it, only the cyclic collector does (on Python 2, whose collector would not free
cycles with ``__del__``, never). A server that disables or tunes away the collector, or
allocates faster than it runs, grows without bound.

Every row runs in a fresh interpreter with ``gc.disable()``: a warm-up of 1000 pairs, then
``--pairs`` pairs of a client and a server object, each used for one request and one reply
and dropped. The figures are the growth of the resident set (RSS, /proc/self/statm) and the
number of objects ``gc.collect()`` frees afterwards: everything that only the collector could
free. Rows:

* a toy class with the same two lines (``self.encrypt = self.update`` and ``__del__``), and
  the same class without the self-reference;
* the published package ``shadowsocks-alexforks`` (the code of Python shadowsocks 3.0) on
  its native libraries, for ``table`` and ``mbedtls:aes-256-gcm`` (still cyclic) and
  ``aes-256-gcm`` (fixed upstream), loaded as refcrypto's benchmark loads it
  (``refcrypto.benchmarks.peers``: library paths passed explicitly, the README's finding 4);
* refcrypto's ``Cryptor`` for the same methods.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

REQUEST = b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"
REPLY = b"HTTP/1.1 204 No Content\r\n\r\n"
PASSWORD = "password"
WARM_UP = 1000
ROWS = (
    ("toy", "self.encrypt = self.update + __del__"),
    ("toy", "the same class, no self-reference"),
    ("shadowsocks", "table"),
    ("shadowsocks", "mbedtls:aes-256-gcm"),
    ("shadowsocks", "aes-256-gcm"),
    ("refcrypto", "table"),
    ("refcrypto", "mbedtls:aes-256-gcm"),
    ("refcrypto", "aes-256-gcm"),
)


class SelfBound:
    """The shape of the leaking classes: a native-sized buffer, its own bound method stored
    on itself (a cycle: object -> bound method -> object), and a finaliser."""

    def __init__(self) -> None:
        self.context = bytearray(1024)  # stands for the native cipher context
        self.encrypt = self.update  # the line that makes the cycle
        self.decrypt = self.update

    def update(self, data: bytes) -> bytes:
        return bytes(data)

    def __del__(self) -> None:
        self.context = bytearray()  # where the native context was freed


class Plain:
    """The same without the self-reference: freed by reference counting at the last ``del``."""

    def __init__(self) -> None:
        self.context = bytearray(1024)

    def encrypt(self, data: bytes) -> bytes:
        return bytes(data)

    decrypt = encrypt

    def __del__(self) -> None:
        self.context = bytearray()


def rss() -> int:
    with open("/proc/self/statm", encoding="ascii") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _maker(peer: str, what: str) -> Callable[[], Any] | str:
    if peer == "toy":
        return SelfBound if what.startswith("self.encrypt") else Plain
    import refcrypto

    if peer == "refcrypto":
        return lambda: refcrypto.Cryptor(PASSWORD, what)
    from refcrypto.benchmarks.peers import ShadowsocksPeer

    try:
        shadowsocks = ShadowsocksPeer()
        reason = shadowsocks.unavailable() or shadowsocks.unsupported(refcrypto.method(what))
    except Exception as exc:  # the package or its libraries are missing
        return f"unavailable: {exc}"
    if reason is not None:
        return reason
    make = shadowsocks.creator(refcrypto.method(what))
    return make if make is not None else "no per-connection object"


def child(peer: str, what: str, pairs: int) -> dict[str, Any]:
    """One row, in this process (a fresh interpreter)."""
    make = _maker(peer, what)
    if isinstance(make, str):
        return {"peer": peer, "what": what, "skipped": make}

    def session() -> None:
        client, server = make(), make()
        server.decrypt(client.encrypt(REQUEST))
        client.decrypt(server.encrypt(REPLY))

    gc.collect()
    gc.disable()
    for _ in range(WARM_UP):
        session()
    before = rss()
    for _ in range(pairs):
        session()
    growth = rss() - before
    gc.enable()
    return {"peer": peer, "what": what, "pairs": pairs, "rss_growth": growth,
            "collected": gc.collect()}


def run_row(peer: str, what: str, pairs: int) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps([peer, what, pairs])],
        capture_output=True, text=True, timeout=600, check=False,
        env=dict(os.environ, PYTHONPATH=str(ROOT)))
    lines = done.stdout.strip().splitlines()
    if done.returncode or not lines:
        return {"peer": peer, "what": what, "skipped": f"error: {done.stderr.strip()[-300:]}"}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=100_000, help="pairs per row")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    parser.add_argument("--only", metavar="PEERS",
                        help="comma-separated rows to run: toy, shadowsocks, refcrypto")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(*json.loads(args.child))))
        return 0
    only = set(args.only.split(",")) if args.only else {peer for peer, _ in ROWS}
    results = [run_row(peer, what, args.pairs) for peer, what in ROWS if peer in only]
    if args.json:
        print(json.dumps(results, indent=1))
        return 0
    print(f"{args.pairs:,} pairs per row (client + server, one request and one reply each), "
          "cyclic collector off")
    print(f"{'implementation':13} {'class or method':38} {'RSS growth':>11} "
          f"{'freed only by gc.collect()':>27}")
    for r in results:
        if "skipped" in r:
            print(f"{r['peer']:13} {r['what']:38} skipped: {r['skipped']}")
            continue
        mib = r["rss_growth"] / (1 << 20)
        print(f"{r['peer']:13} {r['what']:38} {mib:>7.1f} MiB {r['collected']:>19,} objects")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
