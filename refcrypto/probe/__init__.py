"""``refcrypto probe``: hold a running Shadowsocks server, in any language, to the reference
over the network.

What matters most about a server is how it behaves on the wire: whether it speaks the format
exactly, and how it answers input that is not a valid client. Servers whose answers to such
input differ from those of an ordinary TCP endpoint are found and blocked by active probing
("How China Detects and Blocks Shadowsocks", Alice, Bob, Carol, Beznazwy, Houmansadr, IMC
2020); SIP022 section 3.1.3 makes some of the defences MUSTs for the 2022 edition.

::

    from refcrypto import method
    from refcrypto.probe import ProbeOptions, probe

    report = probe(ProbeOptions(("127.0.0.1", 8388), method("aes-256-gcm"), "password",
                                udp=True, quick=True))
    for result in report.results:
        print(result.probe, result.verdict, result.reaction, result.detail)

* :mod:`.conformance`: valid traffic at the edges of the format, decoded strictly;
* :mod:`.behaviour`: random bytes, replays, bit flips, cut streams, wrong keys, 2022's
  timestamps, salts and headers; the reactions and their verdicts;
* :mod:`.results`: :class:`ProbeResult`, :class:`ProbeReport` and the reaction analysis;
* :mod:`.report`: the table, JSON and JUnit XML; :mod:`.command`: ``refcrypto probe``.

The probed server is asked to connect only to the probe's own targets (echo, half-close,
sinks) on 127.0.0.1, or to the echo named by ``--target``. Every wait is bounded.
"""

from __future__ import annotations

from .context import ProbeError, ProbeOptions
from .results import VERDICTS, ProbeReport, ProbeResult
from .runner import ALL_PROBES, plan, probe, probe_async

__all__ = [
    "ALL_PROBES",
    "VERDICTS",
    "ProbeError",
    "ProbeOptions",
    "ProbeReport",
    "ProbeResult",
    "plan",
    "probe",
    "probe_async",
]
