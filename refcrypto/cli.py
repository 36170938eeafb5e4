"""The ``refcrypto`` command (also ``python -m refcrypto``).

* ``refcrypto methods [--json]`` -- the method table;
* ``refcrypto check [--backend NAME ...] [--method NAME ...] [--json FILE] [--junit FILE]``
  -- the conformance engine (:mod:`refcrypto.conformance.engine`): a method x backend matrix;
  exits 1 when any pair fails;
* ``refcrypto encrypt`` / ``refcrypto decrypt`` (``-m``, ``-k``, ``--iv``, ``--udp``, files or
  stdin/stdout) -- make and read wire bytes, for teaching and for making vectors.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from . import __version__
from .errors import RefcryptoError
from .methods import Method, method, methods

__all__ = ["main"]


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(line.rstrip() for line in lines)


def _cmd_methods(args: argparse.Namespace) -> int:
    rows = methods(extensions=True)
    if args.json:
        json.dump([m.as_dict() for m in rows], sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    body = [
        [
            m.name,
            m.category.value,
            str(m.key_size),
            str(m.iv_size),
            str(m.nonce_size or "-"),
            str(m.tag_size or "-"),
            "extension" if m.extension else "shadowsocks",
            "yes" if m.legacy else "",
            m.primitive,
            ", ".join(m.aliases),
        ]
        for m in rows
    ]
    header = ["method", "kind", "key", "iv/salt", "nonce", "tag", "origin", "legacy", "primitive",
              "aliases"]
    print(_table(body, header))
    extensions = sum(1 for m in rows if m.extension)
    print(f"\n{len(rows) - extensions} Python shadowsocks methods, {extensions} extensions")
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from .conformance.engine import BACKENDS, NATIVE_BACKENDS, run, wire_backend
    from .conformance.report import Progress, matrix, write_json, write_junit

    selected: list[Method] = (
        [method(name) for name in args.method] if args.method else list(methods(extensions=True))
    )
    if args.backend:
        unknown = [b for b in args.backend if b not in BACKENDS]
        if unknown:
            print(f"refcrypto: unknown backend {', '.join(unknown)}; known: {', '.join(BACKENDS)}",
                  file=sys.stderr)
            return 2
        names = list(args.backend)
    else:  # refcrypto and every native backend present on this machine
        names = ["refcrypto"] + [b for b in NATIVE_BACKENDS if wire_backend(b).available() is None]
    for name in names:
        backend = wire_backend(name)
        reason = backend.available()
        print(f"{name:13} {backend.describe() if reason is None else 'unavailable: ' + reason}")
    print()
    progress = Progress(len(names) * len(selected), verbose=args.verbose)
    results = run(names, selected, budget=args.budget, seed=args.seed, long=not args.quick,
                  progress=progress.update)
    progress.close()
    print(matrix(results, names, [m.name for m in selected], colour=sys.stdout.isatty()))
    if args.json:
        write_json(args.json, results, seed=args.seed)
    if args.junit:
        write_junit(args.junit, results)
    return 1 if any(r.status == "fail" for r in results) else 0


def _read_input(path: str | None, as_hex: bool) -> bytes:
    data = sys.stdin.buffer.read() if path in (None, "-") else open(path, "rb").read()
    return bytes.fromhex(data.decode("ascii")) if as_hex else data


def _write_output(path: str | None, data: bytes, as_hex: bool) -> None:
    out = (data.hex() + "\n").encode("ascii") if as_hex else data
    if path in (None, "-"):
        sys.stdout.buffer.write(out)
        sys.stdout.buffer.flush()
    else:
        with open(path, "wb") as handle:
            handle.write(out)


def _cmd_encrypt(args: argparse.Namespace) -> int:
    from .wire import encrypt_all, master_key, new_encoder

    m = method(args.method)
    data = _read_input(args.input, args.hex_in)
    iv = bytes.fromhex(args.iv) if args.iv is not None else None
    if args.udp:
        wire = encrypt_all(args.password, m, data, iv=iv)
    else:
        encoder = new_encoder(m, master_key(args.password, m), iv)
        wire = encoder.update(data)
    _write_output(args.output, wire, args.hex_out)
    return 0


def _cmd_decrypt(args: argparse.Namespace) -> int:
    from .wire import decrypt_all, master_key, new_decoder

    m = method(args.method)
    wire = _read_input(args.input, args.hex_in)
    if args.udp:
        data = decrypt_all(args.password, m, wire)
    else:
        decoder = new_decoder(m, master_key(args.password, m))
        data = decoder.update(wire)
        decoder.finish()
    _write_output(args.output, data, args.hex_out)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="refcrypto", description="Reference implementation of the Shadowsocks cipher methods."
    )
    parser.add_argument("--version", action="version", version=f"refcrypto {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p_methods = sub.add_parser("methods", help="print the method table")
    p_methods.add_argument("--json", action="store_true", help="print the table as JSON")
    p_methods.set_defaults(func=_cmd_methods)
    p_check = sub.add_parser(
        "check", help="check backends against published vectors, wire vectors and refcrypto"
    )
    p_check.add_argument("--backend", "-b", action="append", metavar="NAME",
                         help="backend to check (repeatable): refcrypto, openssl, sodium, "
                         "mbedtls, cryptography, shadowsocks, pproxy, pproxy-py; default: "
                         "refcrypto and every native backend present")
    p_check.add_argument("--method", "-m", action="append", metavar="NAME",
                         help="check only this method (repeatable)")
    p_check.add_argument("--json", metavar="FILE", help="write the results as JSON")
    p_check.add_argument("--junit", metavar="FILE", help="write the results as JUnit XML")
    p_check.add_argument("--seed", type=int, default=0, help="seed of the generated cases")
    p_check.add_argument("--budget", type=int, default=20,
                         help="generated cases per differential check (default 20)")
    p_check.add_argument("--quick", action="store_true",
                         help="skip the long wire vectors (70,000-seal AEAD streams, 1 MiB)")
    p_check.add_argument("--verbose", "-v", action="store_true", help="one line per pair")
    p_check.set_defaults(func=_cmd_check)
    for name, func, what in (("encrypt", _cmd_encrypt, "plaintext to wire bytes"),
                             ("decrypt", _cmd_decrypt, "wire bytes to plaintext")):
        p = sub.add_parser(name, help=f"{what} (TCP stream, or one UDP packet with --udp)")
        p.add_argument("-m", "--method", required=True)
        p.add_argument("-k", "--password", required=True)
        if name == "encrypt":
            p.add_argument("--iv", metavar="HEX", help="fixed IV or salt (default: random)")
        p.add_argument("--udp", action="store_true", help="one UDP packet instead of a stream")
        p.add_argument("-i", "--input", metavar="FILE", help="input file (default: stdin)")
        p.add_argument("-o", "--output", metavar="FILE", help="output file (default: stdout)")
        p.add_argument("--hex-in", action="store_true", help="the input is hex text")
        p.add_argument("--hex-out", action="store_true", help="write hex text")
        p.set_defaults(func=func)
    from .benchmarks.command import add_parser as add_bench_parser

    add_bench_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except RefcryptoError as exc:
        print(f"refcrypto: {exc}", file=sys.stderr)
        return 2
    return code
