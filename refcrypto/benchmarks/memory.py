"""Memory: bytes per live ``Cryptor``, and the soak test; each measurement in a child process.

Both read the resident set size (RSS; ``/proc/self/statm`` on Linux) of a fresh interpreter,
so nothing an earlier measurement allocated or freed is counted:

* **live**: ``pairs`` client/server pairs, each after a short session (a request and a reply),
  kept alive; the figure is (RSS after - RSS before) / (2 x pairs), list overhead included.
* **soak**: ``pairs`` pairs, each made, used for a short session and dropped, with the cyclic
  collector disabled (``gc.disable()``, as servers that tune it away run). The growth is
  counted from after a warm-up (1% of the pairs, at least 1000, which fills allocator pools
  and the key caches) to the end; ``cycles`` is what ``gc.collect()`` finds afterwards.
  refcrypto's objects are in no reference cycle, so each is freed at its last ``del`` and the
  growth stays flat; Python shadowsocks' ``mbedtls:`` and ``table`` classes store bound
  methods of themselves (their ``mbedtls.py``, ``table.py``), so without the collector they pile up
  (a soak stops once RSS has grown by :data:`SOAK_GROWTH_LIMIT`; ``pairs_done`` says when).

Run as ``python -m refcrypto.benchmarks.memory '{"task": "soak", "peer": "refcrypto",
"method": "aes-256-gcm", "pairs": 1000000}'``; it prints one JSON object.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_SOAK_METHODS", "SOAK_GROWTH_LIMIT", "rss", "run_memory", "run_soak"]

#: One method per family (OpenSSL GCM, libsodium AEAD, OpenSSL stream modes, libsodium
#: streams, RC4-MD5), plus the two Python shadowsocks classes that still hold themselves.
DEFAULT_SOAK_METHODS = (
    "aes-256-gcm",
    "chacha20-ietf-poly1305",
    "aes-256-cfb",
    "aes-256-ctr",
    "chacha20-ietf",
    "salsa20",
    "rc4-md5",
    "table",
    "mbedtls:aes-256-gcm",
)

#: A soak stops early once RSS has grown this much: the leak is shown, the machine spared.
SOAK_GROWTH_LIMIT = 1 << 30
_SOAK_STEP = 10_000

_REQUEST = b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"
_REPLY = b"HTTP/1.1 204 No Content\r\n\r\n"


def rss() -> int:
    """Resident set size of this process, in bytes (peak RSS where there is no /proc)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as handle:
            resident = int(handle.read().split()[1])
        return resident * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


def _maker(peer_name: str, method_name: str) -> Callable[[], Any] | str:
    from ..methods import method
    from .peers import RefcryptoPeer, ShadowsocksPeer

    peer = RefcryptoPeer() if peer_name == "refcrypto" else ShadowsocksPeer()
    row = method(method_name)
    reason = peer.unavailable() or peer.unsupported(row)
    make = peer.creator(row) if reason is None else None
    return make if make is not None else (reason or "no per-connection object")


def _session(make: Callable[[], Any]) -> tuple[Any, Any]:
    client, server = make(), make()
    server.decrypt(client.encrypt(_REQUEST))
    client.decrypt(server.encrypt(_REPLY))
    return client, server


def _live(make: Callable[[], Any], pairs: int) -> dict[str, Any]:
    for _ in range(100):  # imports, caches, first allocations
        _session(make)
    gc.collect()
    before = rss()
    kept = [_session(make) for _ in range(pairs)]
    after = rss()
    del kept
    return {"bytes_per_cryptor": (after - before) / (2 * pairs), "rss_before": before,
            "rss_after": after}


def _soak(make: Callable[[], Any], pairs: int) -> dict[str, Any]:
    gc.collect()
    gc.disable()
    warm = max(1000, pairs // 100)
    for _ in range(warm):
        _session(make)
    before = rss()
    start = time.perf_counter()
    done = 0
    while done < pairs:
        for _ in range(min(_SOAK_STEP, pairs - done)):
            _session(make)
        done += min(_SOAK_STEP, pairs - done)
        if rss() - before > SOAK_GROWTH_LIMIT:
            break  # leaking without bound: the figure is made, spare the machine
    seconds = time.perf_counter() - start
    after = rss()
    gc.enable()
    cycles = gc.collect()
    return {"rss_growth": after - before, "rss_before": before, "rss_after": after,
            "seconds": seconds, "warm_up_pairs": warm, "pairs_done": done, "cycles": cycles}


def child(task: dict[str, Any]) -> dict[str, Any]:
    """Run one task in this process (the child side)."""
    result: dict[str, Any] = dict(task)
    make = _maker(task["peer"], task["method"])
    if isinstance(make, str):
        result["skipped"] = make
        return result
    if task["task"] == "live":
        result.update(_live(make, task["pairs"]))
    else:
        result.update(_soak(make, task["pairs"]))
    return result


def _spawn(task: dict[str, Any]) -> dict[str, Any]:
    """Run one task in a fresh interpreter that imports this same refcrypto."""
    root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-m", "refcrypto.benchmarks.memory", json.dumps(task)],
        capture_output=True, text=True, env=env, check=False,
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode or not lines:
        return {**task, "error": (done.stderr or done.stdout).strip()[-800:]}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def run_memory(peers: Sequence[str], methods: Sequence[str], pairs: int,
               progress: Callable[[str], None]) -> list[dict[str, Any]]:
    """Bytes per live ``Cryptor`` for every peer and method."""
    results = []
    for name in methods:
        for peer in peers:
            results.append(_spawn({"task": "live", "peer": peer, "method": name, "pairs": pairs}))
        progress(f"memory {name}")
    return results


def run_soak(peers: Sequence[str], methods: Sequence[str], pairs: int,
             progress: Callable[[str], None]) -> list[dict[str, Any]]:
    """The soak test for every peer and method family."""
    results = []
    for name in methods or DEFAULT_SOAK_METHODS:
        for peer in peers:
            results.append(_spawn({"task": "soak", "peer": peer, "method": name, "pairs": pairs}))
        progress(f"soak {name}")
    return results


if __name__ == "__main__":
    print(json.dumps(child(json.loads(sys.argv[1]))))
