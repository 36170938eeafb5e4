"""The repository stands on its own: no pointer to documents it does not contain, no path of
the machine it was written on, and the licence texts of everything it ships.

* Every file git tracks or would add (``git ls-files -co --exclude-standard``; the whole tree
  minus hidden folders when there is no git checkout, as in an unpacked sdist) is searched for
  the names of two design documents that were never part of the repository and for absolute
  paths of a build machine. Citations go to public documents or to ``docs/``.
* Every ``docs/<name>.md, "<section>"`` pointer names an existing file and heading.
* ``LICENSE`` is the Apache License 2.0 (pyproject.toml's ``license``), and every
  ``vectors/<folder>`` whose README names a licence has the licence texts next to the files:
  each licence a README states for its files (a table's licence column, a ``Licence:`` line)
  must be found in a ``LICENSE*``/``NOTICE*`` file of that folder (or, for this project's own
  files, in the root ``LICENSE``), and each such file must be named in the README.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VECTORS = ROOT / "vectors"

#: Written in pieces so that this file does not match itself.
FORBIDDEN = [
    "shadowsocks-crypto" + ".md",  # the design brief's name
    "vectors-" + "guide",  # the vector survey's name, with or without ".md"
    "/" + "work" + "/",
    "/" + "root" + "/",
    "/" + "opt" + "/",
]


def repository_files() -> list[Path]:
    """Tracked and untracked-but-not-ignored files, or the tree without hidden folders."""
    git = shutil.which("git")
    if git is not None and (ROOT / ".git").exists():
        done = subprocess.run(
            [git, "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
            capture_output=True, check=True,
        )
        names = [n for n in done.stdout.decode("utf-8").split("\0") if n]
        assert names, "git ls-files listed nothing"
        return sorted(ROOT / n for n in names if (ROOT / n).is_file())
    return sorted(
        p for p in ROOT.rglob("*")
        if p.is_file() and not any(part.startswith(".") or part == "__pycache__"
                                   for part in p.relative_to(ROOT).parts)
    )


FILES = repository_files()


def test_the_file_list_covers_the_repository() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in FILES}
    for expected in ("LICENSE", "pyproject.toml", "refcrypto/methods.py",
                     "docs/methods-and-wire-formats.md", "docs/vector-notes.md",
                     "vectors/kdf/evp_bytes_to_key.txt", "tests/test_self_contained.py"):
        assert expected in names
    assert not any(n.startswith((".venv/", ".nox/", ".git/")) for n in names)


def test_no_external_documents_or_machine_paths() -> None:
    hits = []
    for path in FILES:
        data = path.read_bytes()
        for needle in FORBIDDEN:
            if needle.encode() not in data:
                continue
            for number, line in enumerate(data.splitlines(), 1):
                if needle.encode() in line:
                    text = line.decode("utf-8", "replace").strip()[:120]
                    hits.append(f"{path.relative_to(ROOT)}:{number}: {needle!r}: {text}")
    assert hits == []


DOC_POINTER = re.compile(r'docs/([\w.-]+\.md)(?:, "([^"]+)")?')


def test_doc_pointers_name_existing_files_and_headings() -> None:
    checked = 0
    for path in FILES:
        if path.suffix not in {".py", ".md", ".txt", ".toml"}:
            continue
        for match in DOC_POINTER.finditer(path.read_text("utf-8", "replace")):
            name, section = match.groups()
            section = " ".join(section.split()) if section else None  # may span two lines
            target = ROOT / "docs" / name
            where = f"{path.relative_to(ROOT)}: {match.group(0)}"
            assert target.is_file(), where
            if section:
                headings = [line.lstrip("#").strip() for line in
                            target.read_text("utf-8").splitlines() if line.startswith("#")]
                assert any(h == section or h.startswith(section) for h in headings), where
            checked += 1
    assert checked >= 10  # the citations exist, so this test has something to check


# --- licences ---------------------------------------------------------------------------------

APACHE_2 = ("apache license", "version 2.0, january 2004", "end of terms and conditions")


def squash(text: str) -> str:
    return " ".join(text.lower().split())


def test_root_licence_is_the_apache_text() -> None:
    text = squash((ROOT / "LICENSE").read_text("utf-8"))
    assert all(phrase in text for phrase in APACHE_2)
    assert len(text) > 9000  # the whole text, not a notice
    pyproject = (ROOT / "pyproject.toml").read_text("utf-8")
    assert re.search(r'^license\s*=\s*"Apache-2\.0"', pyproject, re.M)


Check = Callable[[str], bool]

#: Licences a README can state -> how its text is recognised (on lower-cased, squashed text).
LICENCES: dict[str, tuple[re.Pattern[str], Check]] = {
    "Apache-2.0": (re.compile(r"apache-2\.0", re.I),
                   lambda t: all(p in t for p in APACHE_2)),
    "BSD-3-Clause": (re.compile(r"bsd-3-clause", re.I),
                     lambda t: "redistributions in binary form" in t and "neither the name" in t),
    "BSD-2-Clause": (re.compile(r"bsd-2-clause", re.I),
                     lambda t: "redistributions in binary form" in t
                     and "neither the name" not in t),
    "ISC": (re.compile(r"\bISC\b"), lambda t: "isc license" in t),
    "CC0-1.0": (re.compile(r"\bCC0\b", re.I), lambda t: "cc0 1.0 universal" in t),
    "BSL-1.0": (re.compile(r"boost software license", re.I),
                lambda t: "boost software license - version 1.0" in t),
    "public domain": (re.compile(r"public domain", re.I), lambda t: "public domain" in t),
    "IETF": (re.compile(r"\bIETF\b|Internet Society"),
             lambda t: "ietf trust" in t or "internet society" in t),
}

LICENCE_WORD = re.compile(r"licen[cs]e", re.I)


def cells(row: str) -> list[str]:
    return [c.strip() for c in row.strip().strip("|").split("|")]


def licence_statements(readme: str) -> list[str]:
    """What a README says its files are licensed under: the cells of every table column
    headed "licence", and the text after each ``Licence:`` (with its continuation lines)."""
    lines = readme.splitlines()
    statements: list[str] = []
    i = 0
    while i < len(lines):
        if lines[i].lstrip().startswith("|"):
            table = []
            while i < len(lines) and lines[i].lstrip().startswith("|"):
                table.append(cells(lines[i]))
                i += 1
            columns = [k for k, head in enumerate(table[0]) if LICENCE_WORD.search(head)]
            statements += [row[k] for row in table[2:] for k in columns if k < len(row)]
            continue
        found = re.search(r"licen[cs]e:\**\s*(.*)", lines[i], re.I)
        if found:
            text = found.group(1)
            j = i + 1
            while j < len(lines) and lines[j].startswith("  ") and lines[j].strip():
                text += " " + lines[j].strip()
                j += 1
            statements.append(text)
        i += 1
    return [s for s in statements if s]


def licence_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and p.name.upper().startswith(("LICENSE", "NOTICE")))


FOLDERS = sorted(p for p in VECTORS.iterdir() if p.is_dir())


def test_statement_parser_reads_tables_and_lines() -> None:
    readme = ("| file | licence | n |\n|---|---|---|\n| `a` | Apache-2.0 | 1 |\n"
              "| `b` | ISC | 2 |\n\n* **Licence:** BSD-2-Clause (Botan\n  `license.txt`).\n"
              "* **Format:** x\n")
    assert licence_statements(readme) == ["Apache-2.0", "ISC",
                                          "BSD-2-Clause (Botan `license.txt`)."]


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_vector_folder_ships_its_licence_texts(folder: Path) -> None:
    readme = folder / "README.md"
    assert readme.is_file(), f"vectors/{folder.name} has no README.md (sources and licences)"
    statements = licence_statements(readme.read_text("utf-8"))
    assert statements, f"{folder.name}/README.md names no licence"
    files = licence_files(folder)
    texts = {p.name: squash(p.read_text("utf-8")) for p in files}
    own = squash((ROOT / "LICENSE").read_text("utf-8"))
    if not all("this project" in s for s in statements):
        assert files, f"{folder.name}: third-party files but no licence file"
    missing = []
    for statement in statements:
        candidates = dict(texts)
        if "this project" in statement:
            candidates["../../LICENSE"] = own
        for licence, (pattern, recognised) in LICENCES.items():
            if pattern.search(statement) and not any(map(recognised, candidates.values())):
                missing.append(f"{licence} (stated as {statement!r})")
    assert missing == [], f"{folder.name}: no licence text for " + "; ".join(missing)


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_vector_licence_files_are_named_in_the_readme(folder: Path) -> None:
    if not licence_files(folder):
        return
    readme = (folder / "README.md").read_text("utf-8")
    for path in licence_files(folder):
        assert f"`{path.name}`" in readme, f"{folder.name}/README.md does not name {path.name}"
