"""Where a command gets its key (the Shadowsocks password): one of three sources.

* ``--key-file PATH`` -- the file's bytes, with one trailing ``\\n`` removed and nothing else
  (no other whitespace, no ``\\r``); ``-`` reads standard input to its end;
* the environment variable ``REFCRYPTO_KEY``;
* ``-k KEY`` / ``--password KEY`` -- kept for compatibility. A command-line argument is
  visible to every user of the machine (``ps``, ``/proc/PID/cmdline``), so prefer the other two.

Exactly one source must be given: two at once (``-k`` with ``--key-file``, or either of them
while ``REFCRYPTO_KEY`` is set) is an error rather than a silent choice, so a command never
runs with a key other than the one its user meant. An empty key is an error too (an empty
file or an unset shell variable expanded into ``REFCRYPTO_KEY=`` is almost always a mistake).

Used by ``refcrypto encrypt``/``decrypt`` and by :mod:`refcrypto.tools.server` and
:mod:`refcrypto.tools.client`::

    add_key_arguments(parser)
    args = parser.parse_args()
    key = key_from_args(args)        # str (argument, environment) or bytes (file)
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from typing import BinaryIO

__all__ = ["ENV_VAR", "KeyInputError", "add_key_arguments", "key_from_args", "key_reads_stdin"]

#: The environment variable that may hold the key.
ENV_VAR = "REFCRYPTO_KEY"


class KeyInputError(ValueError):
    """No key, more than one key source, or a key source that cannot be read."""


def add_key_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--key-file`` and ``-k``/``--password`` to ``parser`` (neither is required by
    argparse: :func:`key_from_args` checks that exactly one source was given)."""
    group = parser.add_argument_group(
        "key (exactly one of these)",
        f"the Shadowsocks password, from --key-file, the environment variable {ENV_VAR}, "
        "or -k",
    )
    group.add_argument(
        "--key-file", metavar="PATH",
        help="read the key from PATH ('-': standard input); one trailing newline is removed",
    )
    group.add_argument(
        "-k", "--password", metavar="KEY",
        help="the key itself; visible to every user in ps, prefer --key-file or "
        f"{ENV_VAR} (kept for compatibility)",
    )


def key_reads_stdin(args: argparse.Namespace) -> bool:
    """Whether :func:`key_from_args` will read standard input (``--key-file -``)."""
    return getattr(args, "key_file", None) == "-"


def _text_or_bytes(value: str) -> str | bytes:
    """A str from argv or the environment; bytes that are not UTF-8 come back as bytes
    (Python decodes them to surrogate escapes, which cannot be encoded as UTF-8)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(value)
    return value


def _read_key_file(path: str, stdin: BinaryIO | None) -> bytes:
    if path == "-":
        source = stdin if stdin is not None else sys.stdin.buffer
        data = source.read()
        where = "standard input (--key-file -)"
    else:
        where = f"--key-file {path}"
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            raise KeyInputError(f"cannot read {where}: {exc.strerror or exc}") from None
    if data.endswith(b"\n"):
        data = data[:-1]
    if not data:
        raise KeyInputError(f"the key from {where} is empty")
    return data


def key_from_args(
    args: argparse.Namespace,
    *,
    environ: Mapping[str, str] | None = None,
    stdin: BinaryIO | None = None,
) -> str | bytes:
    """The key from ``args`` (made by :func:`add_key_arguments`) or the environment.

    ``environ`` and ``stdin`` default to :data:`os.environ` and ``sys.stdin.buffer``.
    Raises :class:`KeyInputError` when no source or more than one is given, when the key file
    cannot be read, or when the key is empty.
    """
    env = os.environ if environ is None else environ
    password: str | None = getattr(args, "password", None)
    key_file: str | None = getattr(args, "key_file", None)
    env_value = env.get(ENV_VAR)
    given = [
        name
        for name, value in (("-k", password), ("--key-file", key_file), (ENV_VAR, env_value))
        if value is not None
    ]
    if not given:
        raise KeyInputError(f"no key given: use --key-file PATH, the environment variable "
                            f"{ENV_VAR}, or -k KEY")
    if len(given) > 1:
        hint = f" (unset {ENV_VAR} or drop the option)" if ENV_VAR in given else ""
        both = f"{', '.join(given[:-1])} and {given[-1]}"
        raise KeyInputError(f"give the key only once, not {both} together{hint}")
    if key_file is not None:
        return _read_key_file(key_file, stdin)
    value = password if password is not None else env_value
    assert value is not None  # one source was given
    if not value:
        raise KeyInputError(f"the key from {given[0]} is empty")
    return _text_or_bytes(value)
