"""The ``refcrypto`` command (also ``python -m refcrypto``).

* ``refcrypto methods [--json]`` -- the method table;
* ``refcrypto check [--backend NAME ...] [--method NAME ...] [--json FILE] [--junit FILE]``
  -- the conformance engine (:mod:`refcrypto.conformance.engine`): a method x backend matrix;
* ``refcrypto encrypt`` / ``refcrypto decrypt`` (``-m``, ``--key-file``/``REFCRYPTO_KEY``/
  ``-k``, ``--iv``, ``--udp``, files or stdin/stdout) -- make and read wire bytes, for
  teaching and for making vectors;
* ``refcrypto explain`` (:mod:`refcrypto.explain`) -- wire bytes dissected field by field
  (exit 1 when a field fails);
* ``refcrypto probe --server HOST:PORT -m METHOD`` (:mod:`refcrypto.probe`) -- a running
  server's wire conformance and its reactions to replays, garbage and wrong keys (exit 1
  when a probe fails, 2 when the server cannot be reached).

Exit status: 0 success; 1 a checked pair failed; 3 no pair failed but one is ``partial`` (a
check could not run); 2 bad input or usage (one line on standard error: an unknown method or
backend, a backend asked for with ``-b`` that cannot run, bad hex, a wrong IV size, an
unreadable file, a wrong password or truncated data on decrypt); 130 interrupted. Writing
into a closed pipe (``refcrypto methods | head``) ends quietly with 141, as a Unix tool killed
by SIGPIPE does.
"""

from __future__ import annotations

import argparse
import json
import os
import string
import sys
from collections.abc import Sequence
from typing import NoReturn

from . import __version__
from .errors import RefcryptoError
from .keyinput import KeyInputError, add_key_arguments, key_from_args, key_reads_stdin
from .methods import Method, method, methods
from .wire.cryptor import Password

__all__ = ["EXIT_FAIL", "EXIT_PARTIAL", "EXIT_USAGE", "InputError", "build_parser", "main"]

#: Exit status when a checked pair failed.
EXIT_FAIL = 1
#: Exit status for bad input or usage, and for a backend asked for that cannot run.
EXIT_USAGE = 2
#: Exit status when no pair failed but some pair is partial (a check could not run).
EXIT_PARTIAL = 3
#: Exit status after writing into a closed pipe (128 + SIGPIPE, what a shell reports).
EXIT_BROKEN_PIPE = 141
#: Exit status after Ctrl-C (128 + SIGINT).
EXIT_INTERRUPTED = 130

#: How long the default run takes, for ``check --help`` (measured, see the README).
_CHECK_TIME = (
    "The default run (refcrypto and the four native backends, 340 pairs with the long wire "
    "vectors, the 15 Shadowsocks 2022 pairs included) takes about 5 minutes on a 2-core "
    "machine (5 min 6 s measured without the 2022 pairs, which add about 11 s), all eight "
    "backends about 15 minutes; --quick skips the long wire vectors, and -b/-m narrow the "
    "matrix."
)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on standard error (exit 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(line.rstrip() for line in lines)


def _cmd_methods(args: argparse.Namespace) -> int:
    # The classic table (53 names and the extensions), then the Shadowsocks 2022 rows.
    rows = methods(extensions=True) + methods(edition2022=True)
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
            "SIP022" if m.is_2022 else "extension" if m.extension else "shadowsocks",
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
    edition2022 = sum(1 for m in rows if m.is_2022)
    print(f"\n{len(rows) - extensions - edition2022} Python shadowsocks methods, "
          f"{extensions} extensions, {edition2022} Shadowsocks 2022 methods (key: a base64 PSK)")
    return 0


def _positive_int(text: str) -> int:
    """argparse type: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _cmd_check(args: argparse.Namespace) -> int:
    from .conformance.engine import (
        BACKENDS,
        NATIVE_BACKENDS,
        BackendUnavailable,
        require_backends,
        run,
        wire_backend,
    )
    from .conformance.report import Progress, matrix, write_json, write_junit

    selected: list[Method] = (  # by default the Shadowsocks 2022 rows too: servers deploy them
        [method(name) for name in args.method] if args.method
        else [*methods(extensions=True), *methods(edition2022=True)]
    )
    for option, path in (("--json", args.json), ("--junit", args.junit)):
        if path is not None:  # find out now, not after a run of minutes
            _check_writable(option, path)
    if args.backend:
        from .conformance.execbackend import ExecSpecError
        from .conformance.plugins import PluginError, load_backend

        try:  # built-in names, else plug-ins: module:attr, file.py:attr, exec:CMD, entry points
            names = list(dict.fromkeys(
                b if b in BACKENDS else load_backend(b).name for b in args.backend))
        except (PluginError, ExecSpecError) as exc:
            print(f"refcrypto: {' '.join(str(exc).split())}", file=sys.stderr)
            return EXIT_USAGE
        try:  # asked for by name: it must be able to run
            require_backends(names)
        except BackendUnavailable as exc:
            print(f"refcrypto: {exc}", file=sys.stderr)
            return EXIT_USAGE
    else:  # refcrypto and every native backend present on this machine
        names = ["refcrypto"] + [b for b in NATIVE_BACKENDS if wire_backend(b).available() is None]
    for name in names:
        print(f"{name:13} {wire_backend(name).describe()}")
    print(flush=True)
    progress = Progress(len(names) * len(selected), verbose=args.verbose,
                        per_backend=len(selected))
    results = run(names, selected, budget=args.budget, seed=args.seed, long=not args.quick,
                  progress=progress.update)
    progress.close()
    print(matrix(results, names, [m.name for m in selected], colour=sys.stdout.isatty()))
    try:
        if args.json:
            write_json(args.json, results, seed=args.seed,
                       backends={n: wire_backend(n).describe() for n in names})
        if args.junit:
            write_junit(args.junit, results)
    except OSError as exc:
        raise InputError(f"cannot write the report {exc.filename}: {exc.strerror or exc}"
                         ) from None
    if any(r.status == "fail" for r in results):
        return EXIT_FAIL
    if any(r.status == "partial" for r in results):
        return EXIT_PARTIAL
    return 0


class InputError(ValueError):
    """Bad input to a command: an unreadable or unwritable file, bad hex, a wrong IV size."""


def _check_writable(option: str, path: str) -> None:
    """:class:`InputError` unless ``path`` could be created or overwritten."""
    folder = os.path.dirname(path) or "."
    if os.path.isdir(path):
        raise InputError(f"{option} {path}: is a directory")
    if not os.path.isdir(folder):
        raise InputError(f"{option} {path}: no such directory {folder}")
    if not os.access(folder, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise InputError(f"{option} {path}: not writable")


def _parse_hex(data: bytes, what: str) -> bytes:
    """Hex text (ASCII whitespace anywhere is ignored) to bytes; :class:`InputError` naming
    ``what`` and the problem otherwise."""
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError as exc:
        raise InputError(f"{what}: not hex text (byte 0x{data[exc.start]:02x} at offset "
                         f"{exc.start})") from None
    digits = "".join(text.split())
    if "0x" in digits.lower():
        raise InputError(f"{what}: has a 0x prefix; give bare hex digits (00ff..., not 0x00ff)")
    for index, char in enumerate(digits):
        if char not in string.hexdigits:
            raise InputError(f"{what}: {char!r} is not a hex digit (digit {index + 1})")
    if len(digits) % 2:
        raise InputError(f"{what}: odd number of hex digits ({len(digits)}); each byte is two")
    return bytes.fromhex(digits)


def _read_input(path: str | None, as_hex: bool) -> bytes:
    if path in (None, "-"):
        data = sys.stdin.buffer.read()
        where = "--hex-in (standard input)"
    else:
        assert path is not None
        where = f"--hex-in ({path})"
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            raise InputError(f"cannot read input file {path}: {exc.strerror or exc}") from None
    return _parse_hex(data, where) if as_hex else data


def _write_output(path: str | None, data: bytes, as_hex: bool) -> None:
    out = (data.hex() + "\n").encode("ascii") if as_hex else data
    if path in (None, "-"):
        sys.stdout.buffer.write(out)
        sys.stdout.buffer.flush()
        return
    assert path is not None
    try:
        with open(path, "wb") as handle:
            handle.write(out)
    except OSError as exc:
        raise InputError(f"cannot write output file {path}: {exc.strerror or exc}") from None


def _key(args: argparse.Namespace) -> Password:
    if key_reads_stdin(args) and args.input in (None, "-"):
        raise InputError("--key-file - and the input both read standard input; give the input "
                         "with -i FILE")
    return key_from_args(args)


def _iv(args: argparse.Namespace, m: Method) -> bytes | None:
    if args.iv is None:
        return None
    iv = _parse_hex(args.iv.encode("utf-8", "replace"), "--iv")
    if len(iv) != m.iv_size:
        what = "salt" if m.is_aead else "IV"
        if not m.iv_size:
            raise InputError(f"--iv: {m.name} takes no IV, got {len(iv)} bytes")
        raise InputError(f"--iv: {m.name} takes a {m.iv_size}-byte {what} ({2 * m.iv_size} hex "
                         f"digits), got {len(iv)} bytes")
    return iv


def _cmd_encrypt(args: argparse.Namespace) -> int:
    from .wire import encrypt_all, master_key, new_encoder

    m = method(args.method)
    iv = _iv(args, m)
    password = _key(args)
    data = _read_input(args.input, args.hex_in)
    if args.udp:
        wire = encrypt_all(password, m, data, iv=iv)
    else:
        encoder = new_encoder(m, master_key(password, m), iv)
        wire = encoder.update(data)
    _write_output(args.output, wire, args.hex_out)
    return 0


def _cmd_decrypt(args: argparse.Namespace) -> int:
    from .wire import decrypt_all, master_key, new_decoder

    m = method(args.method)
    password = _key(args)
    wire = _read_input(args.input, args.hex_in)
    if args.udp:
        data = decrypt_all(password, m, wire)
    else:
        decoder = new_decoder(m, master_key(password, m))
        data = decoder.update(wire)
        decoder.finish()
    _write_output(args.output, data, args.hex_out)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="refcrypto", description="Reference implementation of the Shadowsocks cipher methods."
    )
    parser.add_argument("--version", action="version", version=f"refcrypto {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p_methods = sub.add_parser("methods", help="print the method table")
    p_methods.add_argument("--json", action="store_true", help="print the table as JSON")
    p_methods.set_defaults(func=_cmd_methods)
    p_check = sub.add_parser(
        "check", help="check backends against published vectors, wire vectors and refcrypto",
        description="Check backends against published vectors, wire vectors and refcrypto; "
        "every backend x method pair ends pass, FAIL, partial (no failure, but a check could "
        f"not run: not a pass) or unsupported. {_CHECK_TIME}",
        epilog="exit status: 0 every pair pass or unsupported; 1 a pair failed; 3 no failure "
        "but a pair is partial; 2 bad usage, or a backend named with -b cannot run here. "
        "Progress goes to standard error: a bar on a terminal, else a line every 10 pairs and "
        "one per finished backend.",
    )
    p_check.add_argument("--backend", "-b", action="append", metavar="NAME",
                         help="backend to check (repeatable): refcrypto, openssl, sodium, "
                         "mbedtls, cryptography, shadowsocks, pproxy, pproxy-py; or a plug-in: "
                         "module:attribute, path/to/file.py:attribute, the name of an "
                         "installed one (entry points refcrypto.backends), or 'exec:COMMAND "
                         "ARGS' for a harness in any language (docs/backends.md); one named here "
                         "that cannot run is an error (exit 2); default: refcrypto and every "
                         "native backend present")
    p_check.add_argument("--method", "-m", action="append", metavar="NAME",
                         help="check only this method (repeatable)")
    p_check.add_argument("--json", metavar="FILE", help="write the results as JSON")
    p_check.add_argument("--junit", metavar="FILE", help="write the results as JUnit XML")
    p_check.add_argument("--seed", type=int, default=0, help="seed of the generated cases")
    p_check.add_argument("--budget", type=_positive_int, default=20, metavar="N",
                         help="generated cases per differential check (default 20)")
    p_check.add_argument("--quick", action="store_true",
                         help="skip the long wire vectors (70,000-seal AEAD streams, 1 MiB)")
    p_check.add_argument("--verbose", "-v", action="store_true", help="one line per pair")
    p_check.set_defaults(func=_cmd_check)
    for name, func, what in (("encrypt", _cmd_encrypt, "plaintext to wire bytes"),
                             ("decrypt", _cmd_decrypt, "wire bytes to plaintext")):
        p = sub.add_parser(name, help=f"{what} (TCP stream, or one UDP packet with --udp)")
        p.add_argument("-m", "--method", required=True)
        add_key_arguments(p)
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
    from .explain import add_parser as add_explain_parser

    add_explain_parser(sub)
    from .probe.command import add_parser as add_probe_parser

    add_probe_parser(sub)
    return parser


def _quiet_stdout() -> None:
    """After a broken pipe: point standard output at /dev/null, so the interpreter's final
    flush of what is still buffered does not fail again (and print to stderr)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no real file descriptor (tests)
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit status (see the module docstring)."""
    try:
        args = build_parser().parse_args(argv)
        code: int = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's last flush
    except (RefcryptoError, KeyInputError, InputError) as exc:
        message = " ".join(str(exc).split())  # one line, whatever the message holds
        print(f"refcrypto: {message}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        _quiet_stdout()
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        print("refcrypto: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return code
