"""Where the time goes when refcrypto is slower than the native-backed Python shadowsocks.

Run from the repository root::

    python bench/floors.py            # in a fresh virtual environment, as a user installs
    python bench/floors.py --here     # in this environment (development)

Like ``bench/against_peers.py`` it measures what a user installs: by default it runs itself
again in a fresh virtual environment (this checkout installed on its own, Python shadowsocks
with ``--no-deps``, outside the source tree; :mod:`refcrypto.benchmarks.isolated`), in the
fast/cffi configuration, since it profiles the fast paths.

For each case ``bench/against_peers.py`` reports below 1.0x, this prints the cost of the
pieces, in microseconds per operation (best of several timeit repeats), next to the native
package's cost for the same operation:

* **16 KiB stream writes** -- the bare C function pycryptodome runs (called directly, output
  buffer allocated beforehand: no Python around it at all) against the native cipher's whole
  ``update``: when the first is slower than the second, no Python design on pycryptodome can
  reach 1.0x.
* **ChaCha20-Poly1305** -- at 16 KiB the same floor (ChaCha20 + Poly1305 C functions); at
  small writes, the number of C calls one seal takes through cffi (counted) times the cost
  of one call, against libsodium's one-call seal through ctypes.
* **UDP** -- the pieces of one packet: key derivation (HKDF-SHA1 on pycryptodome's SHA-1: six
  hash computations), cipher set-up, the cipher call, and the rest.
"""

from __future__ import annotations

import argparse
import os
import sys
import timeit
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

if os.environ.get("REFCRYPTO_BENCH_IN_VENV") != "1":  # not in the fresh environment
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # orchestrate from here

import refcrypto
from refcrypto.benchmarks.environment import describe_here
from refcrypto.benchmarks.isolated import add_script_arguments, relaunch
from refcrypto.benchmarks.peers import ShadowsocksPeer
from refcrypto.primitives import _fast

SIZE = 16384


def us(call: Callable[[], Any], number: int = 2000) -> float:
    """Best time of one call, in microseconds."""
    return min(timeit.repeat(call, number=number, repeat=7)) / number * 1e6


def line(label: str, value: float, note: str = "") -> None:
    print(f"  {label:58} {value:9.2f} us  {note}")


class Counting:
    """Stands in for a cffi library object and counts the C calls made through it."""

    def __init__(self, lib: Any, counter: list[int]) -> None:
        self._lib, self._counter = lib, counter

    def __getattr__(self, name: str) -> Any:
        function = getattr(self._lib, name)

        def call(*args: Any) -> Any:
            self._counter[0] += 1
            return function(*args)

        return call


def c_calls(run: Callable[[], Any]) -> int:
    """How many pycryptodome C functions ``run`` calls through the fast paths."""
    counter = [0]
    names = ("_chacha", "_poly", "_ecb", "_ghash", "_cfb", "_ofb", "_ctr", "_arc4", "_salsa")
    saved = {name: getattr(_fast, name) for name in names}
    saved_functions = {name: getattr(_fast, name) for name in ("_strxor", "_memmove")}
    try:
        for name in names:
            setattr(_fast, name, Counting(saved[name], counter))
        for name, function in saved_functions.items():
            setattr(_fast, name, _counted(function, counter))
        run()
    finally:
        for name, value in {**saved, **saved_functions}.items():
            setattr(_fast, name, value)
    return counter[0]


def _counted(function: Callable[..., Any], counter: list[int]) -> Callable[..., Any]:
    def call(*args: Any) -> Any:
        counter[0] += 1
        return function(*args)

    return call


def native_cipher(name: str, op: int = 1) -> Any:
    peer = ShadowsocksPeer()
    if peer.unavailable():
        raise SystemExit(f"the native-backed package is needed: {peer.unavailable()}")
    state = peer._loaded()
    key_len, iv_len, factory = state.modules.method_supported[name]
    return factory(name, os.urandom(key_len), os.urandom(iv_len), op, state.crypto_path)


def streams() -> None:
    print(f"\n16 KiB stream writes (us per {SIZE}-byte write)")
    data = os.urandom(SIZE)
    out = _fast._newp(_fast._U8, SIZE)
    for name in ("aes-256-cfb", "aes-256-ctr", "chacha20-ietf", "salsa20", "rc4-md5"):
        m = refcrypto.method(name)
        key, iv = os.urandom(m.key_size), os.urandom(m.iv_size)
        stream = m.new_stream(key, iv, False)
        assert isinstance(stream, _fast.RawStream)
        state, transform = stream._state, stream._transform
        bare = us(partial(transform, state, data, out, SIZE))
        encoder = refcrypto.new_encoder(m, refcrypto.master_key("pw", m))
        encoder.update(b"\0")
        ours = us(partial(encoder.update, data))
        theirs = us(partial(native_cipher(name).encrypt, data))
        print(f" {name}")
        line("pycryptodome C function alone (the floor)", bare, f"{SIZE / bare:,.0f} MB/s")
        line("refcrypto StreamEncoder.update", ours, f"{SIZE / ours:,.0f} MB/s")
        line("native package cipher.encrypt (OpenSSL/libsodium)", theirs,
             f"{SIZE / theirs:,.0f} MB/s; floor/native = {theirs / bare:.2f}x")


def chacha_poly() -> None:
    print("\nChaCha20-Poly1305 (us per seal)")
    key = os.urandom(32)
    engine = _fast.ChaChaPolyKey(key)
    native = native_cipher("chacha20-ietf-poly1305")
    for size in (2, 100, 16383):
        seal = partial(engine.seal, bytes(12), os.urandom(size))
        print(f" {size}-byte message")
        line("refcrypto seal (fast path)", us(seal), f"{c_calls(seal)} C calls through cffi")
        line("native package aead_encrypt (libsodium, one C call)",
             us(partial(native.aead_encrypt, os.urandom(size))))
    data = os.urandom(SIZE)
    out = _fast._newp(_fast._U8, SIZE)
    chacha = _fast.chacha20(key, bytes(12))
    ptr = _fast._newp(_fast._PTR, None)
    _fast._poly.poly1305_init(ptr, key, 16, key[16:], 16)
    mac = ptr[0]
    c = us(lambda: _fast._chacha.chacha20_encrypt(chacha._state, data, out, SIZE))
    p = us(lambda: _fast._poly.poly1305_update(mac, data, SIZE))
    _fast._poly.poly1305_destroy(mac)
    print(f" {SIZE} bytes: the floor")
    line("pycryptodome ChaCha20 C function alone", c, f"{SIZE / c:,.0f} MB/s")
    line("pycryptodome Poly1305 C function alone", p, f"{SIZE / p:,.0f} MB/s")
    line("sum: the floor of one 16 KiB seal", c + p)
    line("native package aead_encrypt, 16 KiB", us(lambda: native.aead_encrypt(data)))
    block = data[:16]
    line("one cffi call into pycryptodome (strxor of 16 bytes)",
         us(lambda: _fast._strxor(block, block, out, 16), 20000), "the cost of a call")


def udp() -> None:
    print("\nUDP, 512-byte packets (us per packet)")
    data = os.urandom(512)
    peer = ShadowsocksPeer()
    for name in ("chacha20-ietf-poly1305", "chacha20-ietf", "salsa20"):
        m = refcrypto.method(name)
        master = refcrypto.master_key("pw", m)
        iv = os.urandom(m.iv_size)
        print(f" {name}")
        line("refcrypto encrypt_all, whole", us(partial(refcrypto.encrypt_all, "pw", m, data),
                                                20000))
        line("  os.urandom for the IV/salt", us(partial(os.urandom, m.iv_size), 20000))
        if m.is_aead:
            line("  HKDF-SHA1 subkey (6 SHA-1 hashes on pycryptodome's C)",
                 us(partial(_fast.hkdf_sha1, master, iv, b"ss-subkey", 32), 20000),
                 f"{c_calls_hkdf(master, iv)} C calls")
            line("  seal", us(partial(m.new_aead(master).seal, bytes(12), data), 20000))
        else:
            line("  cipher set-up (C state)", us(partial(m.new_stream, master, iv, False), 20000))
            line("  cipher call", us(partial(m.new_stream(master, iv, False).update, data), 20000))
        line("native package gen_key_iv + encrypt_all_m", us(partial(peer.udp_encrypt(m), data),
                                                             20000))


def c_calls_hkdf(master: bytes, salt: bytes) -> int:
    counter = [0]
    saved = _fast._sha1
    functions = ("copy", "update", "digest", "init", "destroy")
    originals = {name: getattr(saved, name) for name in functions}
    try:
        for name, function in originals.items():
            setattr(saved, name, _counted(function, counter))
        _fast.hkdf_sha1(master, salt, b"ss-subkey", 32)
    finally:
        for name, function in originals.items():
            setattr(saved, name, function)
    return counter[0]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    add_script_arguments(parser)
    args = parser.parse_args(argv)
    code = relaunch(args, __file__, argv, ["shadowsocks"])
    if code is not None:
        return code
    for text in describe_here()[1]:
        print(text)
    if not _fast.ENABLED:
        print("the fast paths are disabled here; nothing to profile")
        return 1
    streams()
    chacha_poly()
    udp()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
