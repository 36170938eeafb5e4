"""Memory of the Shadowsocks 2022 salt store (SIP022 3.1.4), measured with tracemalloc.

Fills a :class:`refcrypto.wire.ss2022.SaltStore` with 10^6 distinct salts (spread over 60
seconds of arrival, as a server at ~16 700 new sessions a second would see them) and reports
the memory the store holds, per salt and per 10^6 salts, for 16-byte (AES-128) and 32-byte
(AES-256, ChaCha20) salts. The salt bytes themselves are counted: the store keeps its own
copy of each.

    python bench/ss2022_salt_store.py            # 10^6 salts
    python bench/ss2022_salt_store.py --count 100000
"""

from __future__ import annotations

import argparse
import gc
import os
import tracemalloc

from refcrypto.wire.ss2022 import SaltStore


def measure(salt_size: int, count: int) -> int:
    """Bytes held by a store of ``count`` salts of ``salt_size`` bytes."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    store = SaltStore(max_size=count)
    random = os.urandom
    per_second = -(-count // 60)  # all within 60 s: none expires during the fill
    for i in range(count):
        store.add(random(salt_size), now=1_700_000_000 + i // per_second)
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert len(store) == count
    return held


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    args = parser.parse_args()
    for salt_size in (16, 32):
        held = measure(salt_size, args.count)
        per_salt = held / args.count
        print(f"{salt_size}-byte salts: {held / 2**20:.1f} MiB for {args.count} salts, "
              f"{per_salt:.1f} bytes a salt, {per_salt * 1e6 / 2**20:.1f} MiB per 10^6 salts")


if __name__ == "__main__":
    main()
