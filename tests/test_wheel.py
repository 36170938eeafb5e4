"""What a user installs: the sdist and the wheel built from this tree, the wheel installed
into a fresh virtual environment with nothing but what it declares (pycryptodome, cffi).

``python -m build`` makes the sdist, then the wheel *from the sdist*, as pip does from PyPI:
so a file the build needs but the sdist lacks fails here. In the fresh environment,
``refcrypto check --quick -b refcrypto`` must pass, the fast paths must be on, every vector
file must have come along, and the installed metadata must carry ``refcrypto.__version__``.
This runs on every supported Python (noxfile.py), with the interpreter that runs the tests.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import refcrypto

ROOT = Path(__file__).resolve().parents[1]

#: One module's tests share one build and one environment; under xdist they share a worker.
pytestmark = pytest.mark.xdist_group("wheel")

#: Seconds for one build or install step (a cold pip cache on a slow mirror is the worst case).
STEP_TIMEOUT = 900

#: Environment variables that would let the fresh environment see this checkout or change
#: what refcrypto does: the run must look like a user's.
HIDDEN = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "REFCRYPTO_VECTORS", "REFCRYPTO_FAST",
          "PYTHONSTARTUP", "PYTHONSAFEPATH")

#: Run inside the fresh environment: `refcrypto check` as the console script's function,
#: watching which files it opens, then the facts the tests assert on, as JSON on the last line.
PROBE = r"""
import contextlib, io, json, os, sys

opened = set()

def audit(event, args):
    if event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
        opened.add(os.path.realpath(os.fsdecode(args[0])))

sys.addaudithook(audit)

import importlib.metadata as md
import refcrypto
from refcrypto import cli, vectorfiles
from refcrypto.primitives import _fast
from Crypto.Util import _raw_api

out = io.StringIO()
with contextlib.redirect_stdout(out):
    code = cli.main(["check", "--quick", "-b", "refcrypto"])
vectors = os.path.realpath(vectorfiles.vectors_dir())
print(json.dumps({
    "code": code,
    "output": out.getvalue(),
    "refcrypto": os.path.realpath(refcrypto.__file__),
    "vectors_dir": vectors,
    "opened": sorted(os.path.relpath(p, vectors) for p in opened
                     if p.startswith(vectors + os.sep)),
    "fast": _fast.ENABLED,
    "raw_api": _raw_api.backend,
    "version": refcrypto.__version__,
    "metadata_version": md.version("refcrypto"),
    "distributions": {
        d.metadata["Name"]: d.requires or [] for d in md.distributions()
    },
}))
"""


@dataclass(frozen=True)
class Dists:
    sdist: Path
    wheel: Path


@dataclass(frozen=True)
class Installed:
    python: Path
    bin: Path
    before: frozenset[str]  # distributions in the environment before the wheel went in
    probe: dict[str, Any]


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in HIDDEN}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def run(args: list[str | Path], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a step; on failure, fail the test with its output (not just the exit status)."""
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=clean_env(), capture_output=True,
                          text=True, timeout=STEP_TIMEOUT, check=False)
    if done.returncode != 0:
        pytest.fail(f"{' '.join(map(str, args))} exited {done.returncode}\n"
                    f"--- stdout\n{done.stdout[-4000:]}\n--- stderr\n{done.stderr[-4000:]}",
                    pytrace=False)
    return done


def tree_files(folder: str) -> dict[str, bytes]:
    """Every file under ROOT/folder (no caches), by its path relative to ROOT, with contents."""
    base = ROOT / folder
    return {
        p.relative_to(ROOT).as_posix(): p.read_bytes()
        for p in sorted(base.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    }


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> Dists:
    out = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "build", "--outdir", out, ROOT], cwd=out)
    (sdist,) = out.glob("refcrypto-*.tar.gz")
    (wheel,) = out.glob("refcrypto-*.whl")
    return Dists(sdist, wheel)


@pytest.fixture(scope="module")
def wheel_files(dists: Dists) -> dict[str, bytes]:
    with zipfile.ZipFile(dists.wheel) as z:
        return {name: z.read(name) for name in z.namelist() if not name.endswith("/")}


@pytest.fixture(scope="module")
def installed(dists: Dists, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    home = tmp_path_factory.mktemp("user")
    venv = home / "venv"
    run([sys.executable, "-m", "venv", venv], cwd=home)
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bindir / ("python.exe" if os.name == "nt" else "python")
    listing: list[str | Path] = [python, "-c", "import importlib.metadata as m, json; "
               "print(json.dumps(sorted(d.metadata['Name'] for d in m.distributions())))"]
    before = frozenset(json.loads(run(listing, cwd=home).stdout))
    run([python, "-m", "pip", "install", "-q", dists.wheel], cwd=home)
    # cwd is outside the checkout, so nothing of it can be imported by accident.
    done = run([python, "-c", PROBE], cwd=home)
    return Installed(python, bindir, before, json.loads(done.stdout.splitlines()[-1]))


# ------------------------------------------------------------------------------------------
# The wheel and the sdist, as files
# ------------------------------------------------------------------------------------------


def test_wheel_holds_every_vector_file(wheel_files: dict[str, bytes]) -> None:
    """Everything under vectors/ is refcrypto/_vectors/ in the wheel, byte for byte, and
    nothing else is there (so no file the checks open can be missing, whichever they are)."""
    vectors = tree_files("vectors")
    assert len(vectors) >= 50  # the folder itself was found and read
    expected = {"refcrypto/_" + name: digest(data) for name, data in vectors.items()}
    shipped = {name: digest(data) for name, data in wheel_files.items()
               if name.startswith("refcrypto/_vectors/")}
    assert sorted(set(expected) - set(shipped)) == []  # missing from the wheel
    assert sorted(set(shipped) - set(expected)) == []  # in the wheel, not in vectors/
    assert [n for n in expected if expected[n] != shipped[n]] == []  # changed on the way


def test_wheel_holds_every_module(wheel_files: dict[str, bytes]) -> None:
    source = {n: digest(d) for n, d in tree_files("refcrypto").items()}
    assert "refcrypto/py.typed" in source and "refcrypto/cli.py" in source
    shipped = {n: digest(d) for n, d in wheel_files.items() if n in source}
    assert sorted(set(source) - set(shipped)) == []
    assert [n for n in source if source[n] != shipped[n]] == []


def test_wheel_declares_only_pycryptodome_and_cffi(dists: Dists,
                                                   wheel_files: dict[str, bytes]) -> None:
    (metadata,) = [d for n, d in wheel_files.items() if n.endswith(".dist-info/METADATA")]
    requires = [Requirement(line.split(":", 1)[1].strip())
                for line in metadata.decode().splitlines() if line.startswith("Requires-Dist:")]
    runtime = sorted(canonicalize_name(r.name) for r in requires
                     if r.marker is None or r.marker.evaluate({"extra": ""}))
    assert runtime == ["cffi", "pycryptodome"]


def test_sdist_holds_what_the_build_needs(dists: Dists) -> None:
    """The wheel above was built from this sdist; here its sources are checked one by one
    against the tree, so a file left out of [tool.hatch.build.targets.sdist] shows by name."""
    with tarfile.open(dists.sdist) as tar:
        names = {PurePosixPath(*PurePosixPath(m.name).parts[1:]).as_posix()
                 for m in tar.getmembers() if m.isfile()}
    needed = {"pyproject.toml", "README.md", *tree_files("refcrypto"), *tree_files("vectors")}
    assert sorted(needed - names) == []


# ------------------------------------------------------------------------------------------
# The wheel, installed
# ------------------------------------------------------------------------------------------


def test_fresh_environment_has_only_the_declared_dependencies(installed: Installed) -> None:
    """No test dependency (Hypothesis, pytest, cryptography, ...) is there: only refcrypto,
    what it requires, what they require, and what the environment had before."""
    requires: dict[str, list[str]] = installed.probe["distributions"]
    by_name = {str(canonicalize_name(n)): r for n, r in requires.items()}
    closure: set[str] = set()
    todo = ["refcrypto"]
    while todo:
        name = todo.pop()
        if name in closure:
            continue
        closure.add(name)
        for line in by_name.get(name, []):
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(canonicalize_name(req.name))
    assert {"refcrypto", "pycryptodome", "cffi"} <= closure
    before = {canonicalize_name(n) for n in installed.before}
    assert sorted(set(by_name) - closure - before) == []
    assert "hypothesis" not in by_name and "pytest" not in by_name


def test_installed_refcrypto_is_the_one_under_test(installed: Installed) -> None:
    site = installed.python.parent.parent
    refcrypto_file = Path(installed.probe["refcrypto"])
    vectors = Path(installed.probe["vectors_dir"])
    assert refcrypto_file.is_relative_to(site.resolve()), refcrypto_file
    assert vectors == refcrypto_file.parent / "_vectors"


def test_check_passes_in_the_fresh_environment(installed: Installed) -> None:
    probe = installed.probe
    assert probe["code"] == 0, probe["output"]
    assert " pass, 0 fail" in probe["output"], probe["output"]


def test_check_reads_vector_files_from_the_wheel(installed: Installed,
                                                  wheel_files: dict[str, bytes]) -> None:
    """The files `refcrypto check` opened were the installed ones, and they are many: the
    known answers and the wire vectors really ran from inside the wheel."""
    opened = installed.probe["opened"]
    assert len(opened) >= 20, opened
    assert any(name.startswith("wire/") for name in opened), opened
    shipped = {n.removeprefix("refcrypto/_vectors/") for n in wheel_files}
    assert sorted(set(opened) - shipped) == []


def test_console_script_check_exits_zero(installed: Installed) -> None:
    done = run([installed.bin / "refcrypto", "check", "--quick", "-b", "refcrypto",
                "-m", "aes-256-gcm", "-m", "camellia-128-cfb"], cwd=installed.bin)
    assert "2 pairs pass, 0 fail" in done.stdout, done.stdout


def test_fast_paths_are_on(installed: Installed) -> None:
    """cffi came in with the wheel, so pycryptodome runs on it and the fast paths start."""
    assert installed.probe["raw_api"] == "cffi"
    assert installed.probe["fast"] is True


def test_installed_version_is_the_one_in_the_package(installed: Installed, dists: Dists) -> None:
    version = refcrypto.__version__
    assert installed.probe["version"] == version
    assert installed.probe["metadata_version"] == version
    assert dists.wheel.name.startswith(f"refcrypto-{version}-")
    assert dists.sdist.name == f"refcrypto-{version}.tar.gz"


def test_version_option(installed: Installed) -> None:
    done = run([installed.bin / "refcrypto", "--version"], cwd=installed.bin)
    assert done.stdout.strip() == f"refcrypto {refcrypto.__version__}"
