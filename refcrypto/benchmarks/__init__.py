"""The engine of ``refcrypto bench``: refcrypto against what it replaces, in one process.

Four implementations run the same workloads on the same data, interleaved round by round
(:mod:`.peers`):

* ``refcrypto`` -- :class:`refcrypto.Cryptor`, :func:`refcrypto.encrypt_all` and
  :func:`refcrypto.decrypt_all`;
* ``shadowsocks`` -- the Python shadowsocks package (``shadowsocks-alexforks``) on its native
  libraries (OpenSSL, libsodium through ctypes), driven as its ``tcprelay.py`` and
  ``udprelay.py`` drive it;
* ``pproxy`` -- ``pproxy.cipher`` (on pycryptodome), driven as pproxy's server drives it;
* ``pycryptodome`` -- the bare primitive, one object and one call per write: the floor of a
  design built on pycryptodome.

Measures (:mod:`.engine`): TCP encode and decode throughput per write size, UDP packets per
second, ``Cryptor`` creations per second; and in child processes (:mod:`.memory`) the memory
per live ``Cryptor`` and a soak test (many short sessions with the cyclic collector off).
Output (:mod:`.report`): a text table with ratios beside the figures, JSON, and a PNG chart.

The peers and matplotlib are benchmark-only dependencies (the ``bench`` extra), imported
only when a benchmark runs; a missing one is reported, not fatal. ``bench/`` holds the
scripts that produce the published figures.
"""

from __future__ import annotations

from .engine import Config, Report, run

__all__ = ["Config", "Report", "run"]
