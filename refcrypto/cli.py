"""The ``refcrypto`` command (also ``python -m refcrypto``).

* ``refcrypto methods [--json]`` -- the method table;
* ``refcrypto check [--method NAME ...] [--json FILE] [--seed N]`` -- known answers and round
  trips for every method; exits 1 when any method fails.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from . import __version__
from .check import check_method
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
    selected: list[Method] = (
        [method(name) for name in args.method] if args.method else list(methods(extensions=True))
    )
    results = []
    for m in selected:
        result = check_method(m, seed=args.seed)
        results.append(result)
        if args.verbose:
            print(f"{result.status:4}  {m.name}", file=sys.stderr)
    body = [[r.method, r.status.upper(), r.detail] for r in results]
    print(_table(body, ["method", "status", "detail"]))
    failed = [r for r in results if r.status != "pass"]
    print(f"\n{len(results) - len(failed)} passed, {len(failed)} failed")
    if args.json:
        payload = {"version": __version__, "seed": args.seed,
                   "results": [{"backend": "refcrypto", **r.as_dict()} for r in results]}
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, indent=2)
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="refcrypto", description="Reference implementation of the Shadowsocks cipher methods."
    )
    parser.add_argument("--version", action="version", version=f"refcrypto {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p_methods = sub.add_parser("methods", help="print the method table")
    p_methods.add_argument("--json", action="store_true", help="print the table as JSON")
    p_methods.set_defaults(func=_cmd_methods)
    p_check = sub.add_parser("check", help="run known answers and round trips for each method")
    p_check.add_argument("--method", "-m", action="append", metavar="NAME",
                         help="check only this method (repeatable)")
    p_check.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    p_check.add_argument("--seed", type=int, default=0, help="seed of the round-trip inputs")
    p_check.add_argument("--verbose", "-v", action="store_true", help="progress on stderr")
    p_check.set_defaults(func=_cmd_check)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except RefcryptoError as exc:
        print(f"refcrypto: {exc}", file=sys.stderr)
        return 2
    return code
