"""``refcrypto probe``: the command-line front of :mod:`refcrypto.probe`."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from ..keyinput import add_key_arguments, key_from_args
from ..methods import method as lookup_method
from ..tools import parse_host_port
from .context import FULL, QUICK, ProbeError, ProbeOptions
from .report import Progress, print_table, write_json, write_junit
from .runner import ALL_PROBES, probe

__all__ = ["add_parser", "run_command"]

#: Exit status when a probe failed.
EXIT_FAIL = 1
#: Exit status for bad usage, an unreachable server, an unwritable report.
EXIT_USAGE = 2


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add the ``probe`` subcommand to ``sub`` (an ``add_subparsers()`` result)."""
    p: argparse.ArgumentParser = sub.add_parser(
        "probe", help="probe a running Shadowsocks server: wire conformance and its reactions "
        "to replays, garbage and bad keys",
        description="Probe a running Shadowsocks server, in any language, over the network. "
        "Conformance: round trips with 1-byte writes, a split IV or salt, payloads at every "
        "chunk boundary, bulk data, half-closes, many connections at once (and UDP with "
        "--udp), the server's bytes decoded by refcrypto's strict decoders. Behaviour: random "
        "bytes of 1 to 300 bytes, a recorded connection replayed at once and after a delay, "
        "that recording with one bit flipped per field, a stream cut inside its first chunk, "
        "a wrong key, and for 2022 timestamps outside the window, a replayed salt and headers "
        "SIP022 forbids; for each, the server's reaction (data, FIN, RST or silence), the "
        "time to it, and whether it depends on the number of bytes sent. Verdicts: pass, "
        "fail (a 2022 MUST broken, a wire-format error, altered or wrong-key data served) or "
        "finding (classic methods: a replay served, a reaction that shows how many bytes the "
        "server read). The server connects to the probe's own echo targets on 127.0.0.1 "
        "(or --target). A full run of one method takes 1 to 2 minutes on loopback (the "
        "silent servers take longest); --quick about 5 s.",
        epilog="exit status: 0 no probe failed (findings included); 1 a probe failed; 2 bad "
        "usage, a bad key, or a server that cannot be reached. Only probe servers you run.",
    )
    p.add_argument("--server", required=True, metavar="HOST:PORT",
                   help="the Shadowsocks server to probe")
    p.add_argument("-m", "--method", required=True, help="its cipher method")
    add_key_arguments(p)
    p.add_argument("--udp", action="store_true", help="probe UDP too (same port)")
    p.add_argument("--target", metavar="HOST:PORT",
                   help="an echo server (TCP and UDP) for the probed server to reach, instead "
                   "of the probe's own on 127.0.0.1 (then the half-close-by-target and the 2022 "
                   "crafted-header probes do not run)")
    p.add_argument("--quick", action="store_true",
                   help=f"fewer lengths and sizes, {QUICK['bulk']:,} bytes in bulk instead of "
                   f"{FULL['bulk']:,}, {QUICK['connections']} connections at once instead of "
                   f"{FULL['connections']}, {QUICK['silence']:g} s of silence instead of "
                   f"{FULL['silence']:g}, a {QUICK['replay_delay']:g} s replay delay")
    p.add_argument("--silence", type=float, metavar="SECONDS",
                   help="how long a silent server is waited for (default: "
                   f"{FULL['silence']:g}, --quick {QUICK['silence']:g})")
    p.add_argument("--replay-delay", type=float, metavar="SECONDS",
                   help=f"delay of the later replay (default {FULL['replay_delay']:g}: past "
                   f"SIP022's 30 s window; --quick {QUICK['replay_delay']:g})")
    p.add_argument("--probe", action="append", metavar="NAME", choices=ALL_PROBES,
                   help="run only this probe (repeatable): " + ", ".join(ALL_PROBES))
    p.add_argument("--seed", type=int, default=0, help="seed of the random bytes sent")
    p.add_argument("--json", metavar="FILE", help="write one record per probe as JSON")
    p.add_argument("--junit", metavar="FILE", help="write the results as JUnit XML")
    p.add_argument("--verbose", "-v", action="store_true",
                   help="one progress line per probe; whole details in the table")
    p.set_defaults(func=run_command)
    return p


def _writable(option: str, path: str) -> str | None:
    folder = os.path.dirname(path) or "."
    if os.path.isdir(path):
        return f"{option} {path}: is a directory"
    if not os.path.isdir(folder):
        return f"{option} {path}: no such directory {folder}"
    if not os.access(folder, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        return f"{option} {path}: not writable"
    return None


def _fail(message: str) -> int:
    print(f"refcrypto: {' '.join(message.split())}", file=sys.stderr)
    return EXIT_USAGE


def run_command(args: argparse.Namespace) -> int:
    """Run ``refcrypto probe``; returns the exit status."""
    for option, path in (("--json", args.json), ("--junit", args.junit)):
        if path is not None and (problem := _writable(option, path)):
            return _fail(problem)
    try:
        server = parse_host_port(args.server)
        target = parse_host_port(args.target) if args.target else None
    except ValueError as exc:
        return _fail(str(exc))
    row = lookup_method(args.method)  # UnknownMethod: the command's own one-line error
    key = key_from_args(args)
    try:
        options = ProbeOptions(server, row, key, udp=args.udp, target=target, quick=args.quick,
                               seed=args.seed, silence=args.silence,
                               replay_delay=args.replay_delay,
                               probes=frozenset(args.probe) if args.probe else None)
        progress = Progress(verbose=args.verbose)
        try:
            report = probe(options, progress.update, on_plan=progress.start)
        finally:
            progress.close()
    except ProbeError as exc:
        return _fail(str(exc))
    except ValueError as exc:  # a key the method cannot take (RefcryptoError is one too)
        return _fail(str(exc))
    if args.verbose:
        from .report import table

        print(table(report, colour=sys.stdout.isatty(), full=True))
    else:
        print_table(report)
    try:
        if args.json:
            write_json(args.json, report)
        if args.junit:
            write_junit(args.junit, report)
    except OSError as exc:
        return _fail(f"cannot write the report {exc.filename}: {exc.strerror or exc}")
    return EXIT_FAIL if report.failed else 0
