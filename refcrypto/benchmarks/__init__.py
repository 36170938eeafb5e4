"""The engine of ``refcrypto bench``: refcrypto against what it replaces, in one process.

Five implementations run the same workloads on the same data, interleaved round by round
(:mod:`.peers`):

* ``refcrypto`` -- :class:`refcrypto.Cryptor`, :func:`refcrypto.encrypt_all` and
  :func:`refcrypto.decrypt_all`;
* ``shadowsocks`` -- the Python shadowsocks package (``shadowsocks-alexforks``) on its native
  libraries (OpenSSL, libsodium through ctypes), driven as its ``tcprelay.py`` and
  ``udprelay.py`` drive it;
* ``pproxy`` -- ``pproxy.cipher`` (on pycryptodome), driven as pproxy's server drives it;
* ``pycryptodome-seals`` -- "pycryptodome, same seals": a Shadowsocks AEAD stream written on
  pycryptodome's public API, one new cipher object per seal (two per chunk);
* ``pycryptodome`` -- the bare primitive, one object and one call per write: the floor of a
  design built on pycryptodome.

Measures (:mod:`.engine`): TCP encode and decode throughput per write size, UDP packets per
second, ``Cryptor`` creations per second; and in child processes (:mod:`.memory`) the memory
per live ``Cryptor`` and a soak test (many short sessions with the cyclic collector off).
Output (:mod:`.report`): a text table with ratios beside the figures, JSON, and a PNG chart;
every report says which path ran (:mod:`.environment`: refcrypto's fast paths on or off,
pycryptodome on cffi or ctypes, the Python, ``pip freeze``).

What a user installs (:mod:`.isolated`, ``refcrypto bench --isolated``): a fresh virtual
environment with refcrypto installed on its own and the peers without their dependencies,
the benchmark run there from outside the source tree, once per configuration (fast/cffi,
public/cffi with ``REFCRYPTO_FAST=0``, public/ctypes without cffi).

The peers and matplotlib are benchmark-only dependencies (the ``bench`` extra), imported
only when a benchmark runs; a missing one is reported, not fatal. ``bench/`` holds the
scripts that produce the published figures.
"""

from __future__ import annotations

from .engine import Config, Report, run

__all__ = ["Config", "Report", "run"]
