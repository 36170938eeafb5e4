"""Readers for the published test-vector formats kept in ``vectors/``.

The files stay in their original formats (the provenance rule: a reader can diff them
against their source). Most of them are one family of line formats:

* NIST CAVP ``.rsp`` and pyca's text files: ``[ENCRYPT]`` sections, ``KEY = hex`` lines,
  records separated by blank lines;
* OpenSSL ``evpciph_*.txt``: ``Cipher = AES-128-CFB`` records separated by blank lines;
* Botan ``.vec``: ``[DES/CFB]`` sections, ``Key = hex`` lines;
* Crypto++ ``TestVectors/*.txt``: ``Key: hex`` lines, each record ended by a ``Test:`` line.

:func:`load_records` reads the first three, :func:`load_cryptopp` the fourth. Field names
are lower-cased; a record also carries ``section`` (the last ``[...]`` header, lower-cased,
or ``""``) and ``line`` (where the record starts, for readable test ids).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["Record", "load_cryptopp", "load_records", "vector_path", "vectors_dir"]

#: One vector: lower-cased field name -> raw text value.
Record = dict[str, str]

_ENV = "REFCRYPTO_VECTORS"


def vectors_dir() -> Path:
    """Where the vector files are: ``$REFCRYPTO_VECTORS``, the copy installed inside the
    package (``refcrypto/_vectors``), or ``vectors/`` of a source checkout."""
    env = os.environ.get(_ENV)
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent
    for candidate in (here / "_vectors", here.parent / "vectors"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        "refcrypto: vector files not found; set REFCRYPTO_VECTORS to the vectors/ folder"
    )


def vector_path(relative: str) -> Path:
    """Path of one vector file, given relative to the vectors folder."""
    return vectors_dir() / relative


def load_records(
    relative: str, separators: tuple[str, ...] = ("=",), *, start: str | None = None
) -> list[Record]:
    """Parse a ``name = value`` vector file into records (see the module docstring).

    Records end at blank lines, unless ``start`` names the field that opens each record
    (``"count"`` for files such as pyca's RFC 5869 one, whose records contain blank lines).
    """
    records: list[Record] = []
    section = ""
    current: Record = {}
    path = vector_path(relative)
    with path.open(encoding="utf-8") as handle:
        for number, raw in enumerate(handle, start=1):
            line = raw.strip()
            if not line:
                if start is not None:
                    continue
                if _has_fields(current):
                    records.append(current)
                current = {}
                continue
            if line.startswith("#"):
                continue
            if line.startswith("[") and line.endswith("]") and "=" not in line:
                if _has_fields(current):
                    records.append(current)
                current = {}
                section = line[1:-1].strip().lower()
                continue
            for sep in separators:
                if sep in line:
                    name, _, value = line.partition(sep)
                    break
            else:
                raise ValueError(f"{path.name}:{number}: unparsable line {line!r}")
            field = name.strip().lower()
            if field == start and _has_fields(current):
                records.append(current)
                current = {}
            if not current:
                current = {"section": section, "line": str(number)}
            current[field] = value.strip()
    if _has_fields(current):
        records.append(current)
    return records


def load_cryptopp(relative: str) -> list[Record]:
    """Parse a Crypto++ ``TestVectors`` file: ``Name: value`` lines, a ``Test:`` line ends
    each record, and fields not repeated carry over from the previous record (Crypto++'s
    own rule). Hex values with spaces are joined."""
    records: list[Record] = []
    state: Record = {}
    path = vector_path(relative)
    with path.open(encoding="utf-8") as handle:
        for number, raw in enumerate(handle, start=1):
            line = raw.strip()
            if not line or line.startswith("#") or ":" not in line:
                continue
            name, _, value = line.partition(":")
            key = name.strip().lower()
            if key == "test":
                record = dict(state)
                record["test"] = value.strip()
                record["line"] = str(number)
                records.append(record)
                continue
            state[key] = value.strip()
    return records


def _has_fields(record: Record) -> bool:
    return any(k not in ("section", "line") for k in record)
