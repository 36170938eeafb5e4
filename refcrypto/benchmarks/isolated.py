"""Benchmarks in what a user installs: a fresh virtual environment, refcrypto installed on its
own, the peers without their dependencies, run from outside the source tree.

Why: refcrypto's speed depends on its environment (:mod:`.environment`). A development
environment holds the test dependencies, and ``cryptography`` brings cffi along, so figures
measured there can be figures no user gets. Here, in a directory of its own:

1. ``python -m venv DIR/venv`` (a fresh environment: pip and what ``venv`` puts there);
2. ``pip install <checkout>`` (not editable) when refcrypto runs from a source checkout, else
   ``pip install refcrypto==<this version>`` from the index (``--install`` names another);
   this brings what refcrypto declares and nothing else: pycryptodome, cffi, pycparser;
3. ``pip install --no-deps`` of the peers the run compares (:data:`PEER_PACKAGES`), so
   nothing of theirs (no cryptography, no cffi from elsewhere) slips in;
4. the benchmark again, as the environment's ``refcrypto`` command (or a ``bench/`` script
   with the environment's Python), with ``DIR`` as its working directory and no
   ``PYTHONPATH``, once per :class:`Configuration`: ``fast/cffi`` (what ``pip install
   refcrypto`` gives), ``public/cffi`` (``REFCRYPTO_FAST=0``), ``public/ctypes`` (after ``pip
   uninstall -y cffi``, pycryptodome falls back to ctypes and the fast paths cannot run).

Each run's report records the path that ran and ``pip freeze --all``; a run whose path is not
the configuration's (say, the fast paths off although cffi is there), or whose refcrypto was
not the installed one, is an error. Without ``DIR`` a temporary directory is used and removed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import __version__
from .engine import Report
from .environment import configuration as configuration_of
from .peers import chosen_peers

__all__ = [
    "CHILD_MARK",
    "CONFIGURATIONS",
    "PEER_PACKAGES",
    "Configuration",
    "FreshVenv",
    "IsolatedError",
    "add_script_arguments",
    "bench_command",
    "child_argv",
    "configurations",
    "find_checkout",
    "in_fresh_venv",
    "relaunch",
    "run_script",
    "work_directory",
]

#: What each peer needs installed (``--no-deps``); the others need only pycryptodome.
PEER_PACKAGES = {
    "shadowsocks": "shadowsocks-alexforks==3.0.11",
    "pproxy": "pproxy==2.7.9",
}

#: Set in the environment of every run inside the fresh environment: ``bench/`` scripts then
#: leave the checkout off ``sys.path`` (and do their work instead of starting a venv).
CHILD_MARK = "REFCRYPTO_BENCH_IN_VENV"

#: Variables that would let the fresh environment see the checkout or change what refcrypto
#: does: the runs must look like a user's (``REFCRYPTO_FAST`` is set per configuration).
HIDDEN = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "REFCRYPTO_FAST", "REFCRYPTO_VECTORS",
          "PYTHONSTARTUP", "PYTHONSAFEPATH", "PYTHONUSERBASE", "PIP_REQUIRE_VIRTUALENV",
          CHILD_MARK)

#: The file that marks a directory as one of these (so a rerun may empty it).
MARKER = "refcrypto-bench-venv.txt"

#: Seconds for one pip step (a cold cache on a slow index is the worst case).
PIP_TIMEOUT = 900

Progress = Callable[[str], None]


class IsolatedError(RuntimeError):
    """A step of the isolated run failed (its output is in the message)."""


@dataclass(frozen=True)
class Configuration:
    """One way refcrypto can run: its path (fast or public API) and pycryptodome's backend."""

    name: str  # the --config value
    label: str  # what the tables say: fast/cffi, public/cffi, public/ctypes
    fast_off: bool  # True: REFCRYPTO_FAST=0 in the run's environment
    cffi: bool  # False: cffi uninstalled, pycryptodome on ctypes

    @property
    def description(self) -> str:
        if not self.cffi:
            return "after pip uninstall -y cffi: pycryptodome on ctypes, so the public API"
        if self.fast_off:
            return "REFCRYPTO_FAST=0: the public API, pycryptodome on cffi"
        return "as installed: cffi there, the fast paths on"


#: The configurations, in the order they run (the cffi-less one last: it uninstalls cffi).
#: The fast paths need cffi, so fast/ctypes does not exist: on ctypes refcrypto takes the
#: public API by itself (no ``REFCRYPTO_FAST`` is set there: it is what a user without cffi
#: gets).
CONFIGURATIONS = (
    Configuration("fast-cffi", "fast/cffi", fast_off=False, cffi=True),
    Configuration("public-cffi", "public/cffi", fast_off=True, cffi=True),
    Configuration("public-ctypes", "public/ctypes", fast_off=False, cffi=False),
)


def configurations(names: Sequence[str] | None) -> list[Configuration]:
    """The configurations named (``fast-cffi`` or ``fast/cffi``), in :data:`CONFIGURATIONS`
    order; all of them for none."""
    if not names:
        return list(CONFIGURATIONS)
    wanted = {n.replace("/", "-") for n in names}
    unknown = wanted - {c.name for c in CONFIGURATIONS}
    if unknown:
        raise ValueError(f"unknown configuration {', '.join(sorted(unknown))}; known: "
                         f"{', '.join(c.name for c in CONFIGURATIONS)}")
    return [c for c in CONFIGURATIONS if c.name in wanted]


def find_checkout() -> Path | None:
    """The source checkout this refcrypto was imported from, if it was (a pyproject.toml
    naming the project beside the package), else ``None``."""
    root = Path(__file__).resolve().parents[2]
    project = root / "pyproject.toml"
    try:
        text = project.read_text(encoding="utf-8")
    except OSError:
        return None
    return root if 'name = "refcrypto"' in text else None


def _install_target(spec: str | None) -> tuple[str, str]:
    """What pip installs as refcrypto, and how the report says it (no local paths)."""
    if spec:
        local = os.path.exists(spec)
        return spec, "a local file or folder (--install)" if local else f"{spec} (--install)"
    root = find_checkout()
    if root is not None:
        return str(root), f"the source checkout, refcrypto {__version__} (pip install <checkout>)"
    return f"refcrypto=={__version__}", f"refcrypto=={__version__} from the index"


@contextmanager
def work_directory(directory: str | None) -> Iterator[Path]:
    """``directory`` (made if missing; emptied if it is one of ours), or a temporary one
    that is removed afterwards."""
    if directory is None:
        with tempfile.TemporaryDirectory(prefix="refcrypto-bench-") as temporary:
            yield Path(temporary).resolve()
        return
    path = Path(directory).resolve()
    if path.exists():
        if not path.is_dir():
            raise IsolatedError(f"{path} is not a directory")
        if any(path.iterdir()):
            if not (path / MARKER).is_file():
                raise IsolatedError(f"{path} is not empty and is not a refcrypto bench "
                                    "directory: give an empty or new one")
            for item in path.iterdir():
                if item.is_dir() and not item.is_symlink():
                    shutil.rmtree(item)
                else:
                    item.unlink()
    path.mkdir(parents=True, exist_ok=True)
    yield path


def _clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in HIDDEN}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PYTHONNOUSERSITE"] = "1"
    env.update(extra or {})
    return env


def _step(argv: Sequence[str], cwd: Path, timeout: float | None = PIP_TIMEOUT
          ) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(list(argv), cwd=cwd, env=_clean_env(), capture_output=True,
                          text=True, timeout=timeout, check=False)
    if done.returncode:
        raise IsolatedError(f"{' '.join(argv)} exited {done.returncode}\n"
                            f"{(done.stdout + done.stderr).strip()[-3000:]}")
    return done


class FreshVenv:
    """A virtual environment made for one isolated run (see the module docstring)."""

    __slots__ = ("_cffi", "bin", "home", "installed", "peers", "python")

    def __init__(self, home: Path, installed: str, peers: list[str]) -> None:
        self.home = home
        venv = home / "venv"
        self.bin = venv / ("Scripts" if os.name == "nt" else "bin")
        self.python = self.bin / ("python.exe" if os.name == "nt" else "python")
        self.installed = installed
        self.peers = peers
        self._cffi = "cffi"  # what to install should cffi be asked for again

    @classmethod
    def create(cls, home: Path, peers: Sequence[str], install: str | None,
               progress: Progress) -> FreshVenv:
        """Make ``home/venv`` and install refcrypto and ``peers``' packages into it."""
        target, described = _install_target(install)
        packages = [PEER_PACKAGES[p] for p in peers if p in PEER_PACKAGES]
        made = cls(home, described, packages)
        (home / MARKER).write_text(
            "A fresh virtual environment made by `refcrypto bench --isolated`; the next run "
            "given this directory empties it.\n", encoding="utf-8")
        progress(f"isolated: python -m venv {home.name}/venv")
        _step([sys.executable, "-m", "venv", str(home / "venv")], home)
        progress(f"isolated: pip install {described}")
        made.pip("install", target)
        if packages:
            progress(f"isolated: pip install --no-deps {' '.join(packages)}")
            made.pip("install", "--no-deps", *packages)
        return made

    def pip(self, *args: str) -> str:
        return _step([str(self.python), "-m", "pip", *args], self.home).stdout

    def cffi_version(self) -> str | None:
        """cffi's version in the environment, ``None`` if it is not installed."""
        done = subprocess.run(
            [str(self.python), "-c", "import importlib.metadata as m; print(m.version('cffi'))"],
            cwd=self.home, env=_clean_env(), capture_output=True, text=True, check=False)
        return done.stdout.strip() if done.returncode == 0 else None

    def prepare(self, configuration: Configuration, progress: Progress) -> None:
        """Install or uninstall cffi as ``configuration`` needs."""
        version = self.cffi_version()
        if configuration.cffi and version is None:
            progress(f"isolated: pip install {self._cffi} (again)")
            self.pip("install", self._cffi)
        elif not configuration.cffi and version is not None:
            self._cffi = f"cffi=={version}"
            progress("isolated: pip uninstall -y cffi")
            self.pip("uninstall", "-y", "cffi")

    def env(self, configuration: Configuration) -> dict[str, str]:
        extra = {CHILD_MARK: "1"}
        if configuration.fast_off:
            extra["REFCRYPTO_FAST"] = "0"
        return _clean_env(extra)

    def command(self, name: str) -> Path:
        return self.bin / (f"{name}.exe" if os.name == "nt" else name)


def child_argv(args: argparse.Namespace, first: bool) -> list[str]:
    """The ``refcrypto bench`` options of ``args`` for one run in the fresh environment
    (memory and soak, which do not depend on speed, in the first configuration only)."""
    argv = ["bench", "--rounds", str(args.rounds), "--time", repr(args.time),
            "--stat", args.stat]
    for name in args.method or ():
        argv += ["--method", name]
    for size in args.size or ():
        argv += ["--size", str(size)]
    for peer in args.peer or ():
        argv += ["--peer", peer]
    for flag in ("quick", "no_tcp", "no_udp", "no_create"):
        if getattr(args, flag):
            argv.append("--" + flag.replace("_", "-"))
    if first and args.memory:
        argv += ["--memory", str(args.memory)]
    if first and args.soak:
        argv += ["--soak", str(args.soak)]
        for name in args.soak_method or ():
            argv += ["--soak-method", name]
    return argv


def _check_ran(configuration: Configuration, environment: dict[str, Any]) -> None:
    """The run took the configuration's path, with the installed refcrypto."""
    ran = configuration_of(environment)
    if ran != configuration.label:
        keys = ("refcrypto_fast", "pycryptodome_backend", "REFCRYPTO_FAST")
        facts = json.dumps({k: environment.get(k) for k in keys})
        raise IsolatedError(f"configuration {configuration.label} ran as {ran}: {facts}")
    if environment.get("refcrypto_origin") != "installed":
        raise IsolatedError(f"configuration {configuration.label} imported refcrypto from "
                            f"a {environment.get('refcrypto_origin')}, not the fresh install")


def _run_configuration(venv: FreshVenv, configuration: Configuration, argv: list[str],
                       progress: Progress) -> dict[str, Any]:
    venv.prepare(configuration, progress)
    out = venv.home / f"{configuration.name}.json"
    out.unlink(missing_ok=True)
    progress(f"isolated: {configuration.label} ({configuration.description})")
    # stdout (the child's own table) is kept in a file; stderr (progress) passes through.
    log = venv.home / f"{configuration.name}.txt"
    with log.open("w", encoding="utf-8") as handle:
        done = subprocess.run([str(venv.command("refcrypto")), *argv, "--json", str(out)],
                              cwd=venv.home, env=venv.env(configuration), stdout=handle,
                              check=False)
    if done.returncode or not out.is_file():
        raise IsolatedError(f"refcrypto bench exited {done.returncode} in configuration "
                            f"{configuration.label}:\n"
                            f"{log.read_text(encoding='utf-8')[-3000:]}")
    data: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    _check_ran(configuration, data["environment"])
    return data


def bench_command(args: argparse.Namespace, progress: Progress) -> int:
    """``refcrypto bench --isolated``: every configuration in a fresh environment, then one
    text report (the configurations side by side, then each run's table), one JSON and the
    chart (of the first configuration, drawn here: matplotlib stays out of the environment)."""
    from .report import configurations_table, table

    started = time.perf_counter()
    chosen = configurations(args.config)
    peers = chosen_peers(args.peer)
    runs: list[tuple[Configuration, dict[str, Any]]] = []
    with work_directory(args.isolated or None) as home:
        venv = FreshVenv.create(home, peers, args.install, progress)
        for index, configuration in enumerate(chosen):
            argv = child_argv(args, first=index == 0)
            runs.append((configuration, _run_configuration(venv, configuration, argv, progress)))
        installed, packages = venv.installed, venv.peers
    reports = [(c.label, Report.from_dict(data)) for c, data in runs]
    seconds = time.perf_counter() - started
    intro = [
        f"refcrypto bench --isolated: a fresh virtual environment with refcrypto from "
        f"{installed}; peers with pip install --no-deps: {', '.join(packages) or 'none'}; "
        f"run from outside the source tree; {len(runs)} configuration(s), one run each",
    ]
    intro += [f"  {c.label:13}  {c.description}" for c, _ in runs]
    parts = ["\n".join(intro)]
    if len(reports) > 1:
        parts.append(f"refcrypto per configuration, {args.stat} of each run\n"
                     f"{configurations_table(reports, args.stat)}")
    for label, report in reports:
        parts.append(f"=== Configuration {label} ===\n{table(report, args.stat)}")
    parts.append(f"(isolated run took {seconds / 60:.1f} minutes)")
    print("\n\n".join(parts))
    if args.json:
        document = {
            "isolated": {
                "refcrypto_installed_from": installed,
                "peers_installed_without_dependencies": packages,
                "configurations": [c.label for c, _ in runs],
                "python": platform.python_version(),
                "seconds": seconds,
            },
            "configurations": [
                {"name": c.label, "description": c.description,
                 "REFCRYPTO_FAST": "0" if c.fast_off else None, "cffi_installed": c.cffi,
                 "report": data}
                for c, data in runs
            ],
        }
        Path(args.json).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    if args.chart:
        from .report import chart

        try:
            chart(reports[0][1], args.chart, args.stat)
        except ImportError as exc:
            print(f"refcrypto: no chart, matplotlib is missing: {exc}", file=sys.stderr)
            return 2
    return 0


def run_script(script: Path, argv: Sequence[str], directory: str | None,
               configuration: Configuration, peers: Sequence[str], install: str | None,
               progress: Progress) -> int:
    """Run a ``bench/`` script with a fresh environment's Python (its checkout left off
    ``sys.path``: the script sees :data:`CHILD_MARK`), in ``configuration``, with the
    packages of ``peers`` (names of :data:`PEER_PACKAGES`; none for an empty list); its
    output passes through. Returns its exit status."""
    with work_directory(directory) as home:
        venv = FreshVenv.create(home, peers, install, progress)
        venv.prepare(configuration, progress)
        progress(f"isolated: {script.name} in {configuration.label} "
                 f"({configuration.description})")
        sys.stdout.flush()
        done = subprocess.run([str(venv.python), str(script.resolve()), *argv], cwd=home,
                              env=venv.env(configuration), check=False)
        return done.returncode


# --------------------------------------------------------------------------------------------
# The bench/ scripts
# --------------------------------------------------------------------------------------------


def in_fresh_venv() -> bool:
    """Whether this process is a run inside a fresh environment made here."""
    return os.environ.get(CHILD_MARK) == "1"


def add_script_arguments(parser: argparse.ArgumentParser, default: str = "fast-cffi") -> None:
    """The options by which a ``bench/`` script chooses where it measures."""
    group = parser.add_argument_group(
        "where", "by default the script runs again in a fresh virtual environment: refcrypto "
        "installed on its own (not editable), the peers with --no-deps, outside the source tree")
    group.add_argument("--here", action="store_true",
                       help="measure in this Python environment instead (development; not "
                       "figures to publish)")
    group.add_argument("--venv", metavar="DIR",
                       help="make the fresh environment in DIR (default: a temporary directory)")
    group.add_argument("--config", choices=[c.name for c in CONFIGURATIONS], default=default,
                       help=f"configuration of refcrypto in it (default {default})")
    group.add_argument("--install", metavar="SPEC",
                       help="what pip installs as refcrypto (default: this source checkout)")


def relaunch(args: argparse.Namespace, script: str, argv: Sequence[str],
             peers: Sequence[str]) -> int | None:
    """``None`` when the script should measure in this process (it runs inside the fresh
    environment, or was given ``--here``); else run it there with the same ``argv`` and
    return its exit status."""
    if in_fresh_venv() or args.here:
        return None

    def progress(line: str) -> None:
        print(f"  {line}", file=sys.stderr, flush=True)

    try:
        return run_script(Path(script), argv, args.venv, configurations([args.config])[0],
                          peers, args.install, progress)
    except IsolatedError as exc:
        print(f"{Path(script).name}: {exc}", file=sys.stderr)
        return 2
