"""The core suite on every supported Python: ``nox`` (all four), ``nox -s core-3.12`` (one).

``requires-python = ">=3.10"`` is a promise, kept by running everything refcrypto itself does
(the tests without the ``peers`` mark, see tests/conftest.py) on each CPython from 3.10 on.
The tests that need native libraries, peer programs or third-party packages run on the main
Python only, in scripts/test, which then runs ``nox -t others``: the core suite on every
version except the one nox itself runs on (scripts/test's full run covered that one), then
``summary``, which prints each run's counts and fails when a version ran a different number
of core tests, or skipped a different number, than the others: no test disappears silently.

Interpreters: ``python3.X`` from pyenv's versions when pyenv is there (``pyenv root``), else
from ``PATH``. A missing interpreter is an error, not a skip. Arguments after ``--`` go to
pytest (``nox -s core-3.13 -- -k wire -x``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nox

#: Every CPython that ``requires-python`` in pyproject.toml admits and CI runs.
VERSIONS = ("3.10", "3.11", "3.12", "3.13")

#: The version nox runs on: scripts/test runs the full suite there already.
MAIN = f"{sys.version_info.major}.{sys.version_info.minor}"

ROOT = Path(__file__).resolve().parent
#: Each run's counts (tests/conftest.py --counts-json); scripts/test puts its full run's here.
COUNTS = Path(os.environ.get("REFCRYPTO_COUNTS_DIR", ROOT / ".nox" / "counts"))

nox.options.default_venv_backend = "venv"
nox.options.error_on_missing_interpreters = True
nox.options.download_python = "never"
nox.options.sessions = [*(f"core-{v}" for v in VERSIONS), "summary"]

#: Counts files written by the core sessions of this nox run, for ``summary``.
_WRITTEN: list[Path] = []


def _pyenv_root() -> Path | None:
    root = os.environ.get("PYENV_ROOT")
    if root:
        return Path(root)
    pyenv = shutil.which("pyenv")
    if pyenv is None:
        return None
    done = subprocess.run([pyenv, "root"], capture_output=True, text=True, check=False)
    return Path(done.stdout.strip()) if done.returncode == 0 and done.stdout.strip() else None


def _patch_level(python: Path) -> int:
    """13 for .../versions/3.10.13/bin/python3.10 (-1 for 3.13.0rc1 and the like)."""
    patch = python.parts[-3].split(".")[2]
    return int(patch) if patch.isdigit() else -1


def interpreter(version: str) -> str:
    """The newest pyenv-installed ``pythonX.Y``, else ``pythonX.Y`` (nox finds it on PATH)."""
    root = _pyenv_root()
    if root is not None:
        found = sorted(
            (root / "versions").glob(f"{version}.*/bin/python{version}"), key=_patch_level
        )
        if found:
            return str(found[-1])
    return f"python{version}"


def _core(version: str) -> None:
    @nox.session(
        name=f"core-{version}",
        python=interpreter(version),
        tags=["core"] if version == MAIN else ["core", "others"],
    )
    def core(session: nox.Session) -> None:
        session.install(".[test]")
        counts = COUNTS / f"core-{version}.json"
        counts.unlink(missing_ok=True)
        _WRITTEN.append(counts)
        # Two workers (CI's cores); tests go one by one to whichever is free, except those of
        # an xdist_group (tests/test_wheel.py: one build and one install, on one worker).
        # Hypothesis: the "dev" profile (20 examples, not 60) unless HYPOTHESIS_PROFILE says
        # otherwise; the main Python's run already has the full count on the same code.
        session.run(
            "pytest", "-q", "-p", "no:cacheprovider", "-m", "not peers",
            "-n", os.environ.get("REFCRYPTO_NOX_WORKERS", "2"), "--dist", "loadgroup",
            "--counts-json", str(counts), *session.posargs,
            env={"HYPOTHESIS_PROFILE": os.environ.get("HYPOTHESIS_PROFILE", "dev")},
        )

    core.__doc__ = f"The core suite (no `peers` mark) on CPython {version}."


for _version in VERSIONS:
    _core(_version)


@nox.session(python=False, tags=["others"])
def summary(session: nox.Session) -> None:
    """Each run's counts side by side; fails when the core suites differ between versions."""
    runs: dict[str, dict[str, object]] = {}
    main = os.environ.get("REFCRYPTO_MAIN_COUNTS")
    if main and Path(main).is_file():
        runs["main"] = json.loads(Path(main).read_text())
    for path in _WRITTEN or sorted(COUNTS.glob("core-*.json")):
        if not path.is_file():
            session.error(f"{path.stem}: no counts (did its pytest run start?)")
        runs[path.stem] = json.loads(path.read_text())
    if not runs:
        session.error("no counts to compare: run the core sessions first")
    session.log(f"{'run':<10} {'python':<8} {'part':<5} {'passed':>7} {'failed':>6} "
                f"{'error':>5} {'skipped':>7} {'xfail':>5} {'seconds':>8}")
    total = {"passed": 0, "failed": 0, "error": 0, "skipped": 0}
    for name, run in runs.items():
        for part in ("core", "peers"):
            c = run[part]
            assert isinstance(c, dict)
            if part == "peers" and not sum(c.values()):
                continue
            for key in total:
                total[key] += int(c[key])
            session.log(f"{name:<10} {run['python']!s:<8} {part:<5} {c['passed']:>7} "
                        f"{c['failed']:>6} {c['error']:>5} {c['skipped']:>7} "
                        f"{c['xfailed']:>5} {run['seconds']!s:>8}")
    # Every run must have run the same core tests with the same outcomes.
    shapes = {name: run["core"] for name, run in runs.items()}
    if len({json.dumps(s, sort_keys=True) for s in shapes.values()}) > 1:
        lines = "\n".join(f"  {name}: {shape}" for name, shape in shapes.items())
        session.error(f"the core suite's counts differ between runs:\n{lines}")
    failed = total["failed"] + total["error"]
    # The plain closing line CI reads: every version's tests added up.
    print(f"total: {total['passed']} passed, {failed} failed, {total['skipped']} skipped",
          flush=True)
    if failed:
        session.error(f"{failed} tests failed or errored")
