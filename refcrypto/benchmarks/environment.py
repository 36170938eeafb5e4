"""Where a benchmark's figures come from: the machine, and which code path ran.

refcrypto's speed depends on how it was installed: with cffi, pycryptodome calls its C code
through cffi and refcrypto's fast paths (:mod:`refcrypto.primitives._fast`) are on; without
cffi, pycryptodome falls back to ctypes and refcrypto uses the public API (so it does with
``REFCRYPTO_FAST=0``). So every report records, beside the machine: refcrypto's version and
whether it was imported from an installed copy or from a source tree, whether the fast paths
are on, pycryptodome's backend, the Python, and the environment's distributions
(``pip freeze --all``, with local paths left out, since results files are committed).
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

__all__ = [
    "configuration",
    "contents_line",
    "describe_here",
    "environment",
    "path_facts",
    "path_line",
    "pip_freeze",
    "scrub",
]

#: ``NAME @ file:///some/where`` (a direct reference to a local file or folder).
_LOCAL_URL = re.compile(r"^(?P<name>[A-Za-z0-9._-]+(?:\[[^\]]*\])?) @ file:\S*$")


def scrub(line: str) -> str | None:
    """One ``pip freeze`` line without the local paths it may hold (results files are
    committed): ``x @ file:///a/b`` becomes ``x @ file:<local>``, ``-e /a/b`` becomes
    ``-e <local>``; pip's comment lines are dropped (``None``)."""
    line = line.strip()
    if not line or line.startswith("#"):
        return None
    match = _LOCAL_URL.match(line)
    if match:
        return f"{match['name']} @ file:<local>"
    if line.startswith(("-e ", "--editable ")):
        target = line.split(None, 1)[1]
        if "://" not in target or target.startswith("file:"):
            return "-e <local>"
        return re.sub(r"file://\S*", "file:<local>", line)
    return line


def pip_freeze(python: str | None = None) -> list[str] | None:
    """``pip freeze --all`` of ``python``'s environment (this one by default), scrubbed;
    ``None`` if pip is not there."""
    try:
        done = subprocess.run(
            [python or sys.executable, "-m", "pip", "freeze", "--all",
             "--disable-pip-version-check"],
            capture_output=True, text=True, timeout=120, check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode:
        return None
    return [line for line in map(scrub, done.stdout.splitlines()) if line is not None]


def _origin(package: Path) -> str:
    """``installed`` when refcrypto came from an environment's site-packages, ``source
    tree`` when from a checkout (a pyproject.toml beside the package)."""
    if (package.parent / "pyproject.toml").is_file():
        return "source tree"
    return "installed"


def path_facts() -> dict[str, Any]:
    """Which code path runs in this process."""
    import Crypto
    from Crypto.Util import _raw_api

    from .. import __file__ as package_file
    from .. import __version__
    from ..primitives import _fast

    return {
        "refcrypto": __version__,
        "refcrypto_origin": _origin(Path(package_file).resolve().parent),
        "refcrypto_fast": _fast.ENABLED,
        "REFCRYPTO_FAST": os.environ.get("REFCRYPTO_FAST"),
        "pycryptodome": Crypto.__version__,
        "pycryptodome_backend": str(_raw_api.backend),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "virtual_environment": sys.prefix != sys.base_prefix,
    }


def configuration(facts: dict[str, Any]) -> str:
    """``fast/cffi``, ``public/cffi`` or ``public/ctypes``: refcrypto's path and
    pycryptodome's backend."""
    path = "fast" if facts.get("refcrypto_fast") else "public"
    return f"{path}/{facts.get('pycryptodome_backend', '?')}"


def path_line(facts: dict[str, Any]) -> str:
    """One line saying which path ran."""
    fast = ("fast paths ON (pycryptodome's C code called through cffi)"
            if facts.get("refcrypto_fast") else "fast paths OFF (pycryptodome's public API)")
    if facts.get("REFCRYPTO_FAST") is not None:
        fast += f", REFCRYPTO_FAST={facts['REFCRYPTO_FAST']}"
    return (f"[{configuration(facts)}] refcrypto {facts.get('refcrypto')} "
            f"({facts.get('refcrypto_origin')}), {fast}; pycryptodome "
            f"{facts.get('pycryptodome')} on {facts.get('pycryptodome_backend')}; "
            f"{facts.get('implementation')} {facts.get('python')}")


def contents_line(facts: dict[str, Any], limit: int = 16) -> str:
    """What the environment held, in one line (the full list when it is short)."""
    where = "virtual environment" if facts.get("virtual_environment") else "Python environment"
    frozen = facts.get("pip_freeze")
    if frozen is None:
        return f"{where}: contents unknown (no pip)"
    if len(frozen) <= limit:
        return f"{where} (pip freeze --all): {', '.join(frozen)}"
    return f"{where}: {len(frozen)} distributions (pip freeze --all in the JSON)"


def describe_here() -> tuple[dict[str, Any], list[str]]:
    """This process's path facts with ``pip_freeze``, and the two lines that say them (for
    the ``bench/`` scripts' output)."""
    facts = {**path_facts(), "pip_freeze": pip_freeze()}
    return facts, [f"Ran: {path_line(facts)}", f"In: {contents_line(facts)}"]


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor()


def environment() -> dict[str, Any]:
    """The machine, the path that runs, and the environment's contents."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    facts = path_facts()
    return {
        **facts,
        "configuration": configuration(facts),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": _cpu_name(),
        "cpus": os.cpu_count(),
        "load_average_at_start": load,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "pip_freeze": pip_freeze(),
    }
