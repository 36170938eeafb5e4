"""Shadowsocks 2022 against the 2017 AEAD edition: TCP encode + decode, same AEAD, same run.

``2022-blake3-aes-256-gcm`` seals chunks of up to 0xFFFF bytes where ``aes-256-gcm`` (SIP004)
seals at most 0x3FFF, so a large write takes a quarter of the seals; a small write costs the
same two seals in both. Session set-up differs too (BLAKE3 in pure Python against HKDF-SHA1),
but it is outside these loops: one long session per method, many writes.

    python bench/ss2022_vs_2017.py              # rounds of 0.3 s, best of 7, interleaved
    python bench/ss2022_vs_2017.py --quick

Prints MB/s of plaintext (one write encoded and decoded per call) and the ratio 2022 / 2017.
Like every script here, it compares two things measured in one process, rounds interleaved;
it asserts nothing.
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # a source checkout

import refcrypto
from refcrypto.primitives import _fast

SIZES = (100, 1024, 16384, 65535)


def classic(size: int) -> Callable[[], None]:
    data = os.urandom(size)
    sender = refcrypto.Cryptor("pw", "aes-256-gcm")
    receiver = refcrypto.Cryptor("pw", "aes-256-gcm")
    receiver.decrypt(sender.encrypt(b"x"))

    def once() -> None:
        receiver.decrypt(sender.encrypt(data))

    return once


def edition2022(size: int) -> Callable[[], None]:
    data = os.urandom(size)
    method = "2022-blake3-aes-256-gcm"
    psk = base64.b64encode(os.urandom(32)).decode()
    client = refcrypto.Cryptor2022(psk, method, role="client", target=("example.com", 80))
    server = refcrypto.Cryptor2022(psk, method, role="server", salts=refcrypto.SaltStore())
    server.decrypt(client.encrypt(b"x"))

    def once() -> None:
        server.decrypt(client.encrypt(data))

    return once


def rate(call: Callable[[], None], seconds: float) -> float:
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        call()
        count += 1
    return count / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 rounds of 0.05 s")
    args = parser.parse_args()
    rounds, seconds = (2, 0.05) if args.quick else (7, 0.3)
    path = "fast paths" if _fast.ENABLED else "public API"
    print(f"refcrypto {refcrypto.__version__} ({path}), CPython {sys.version.split()[0]}; "
          f"best of {rounds} interleaved rounds of {seconds} s; MB/s of plaintext, encode + decode")
    print(f"{'write':>8}  {'aes-256-gcm':>12}  {'2022-blake3-aes-256-gcm':>24}  ratio")
    for size in SIZES:
        calls = {"2017": classic(size), "2022": edition2022(size)}
        best = dict.fromkeys(calls, 0.0)
        for r in range(rounds):
            for name in (("2017", "2022") if r % 2 else ("2022", "2017")):
                best[name] = max(best[name], rate(calls[name], seconds) * size / 1e6)
        print(f"{size:>8}  {best['2017']:>12.2f}  {best['2022']:>24.2f}  "
              f"{best['2022'] / best['2017']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
