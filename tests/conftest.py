"""Shared test configuration: Hypothesis profiles, the ``peers`` marker, and the run's counts."""

from __future__ import annotations

import json
import os
import platform
import time
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# "ci" is what .ci/run uses; "dev" is quicker for local edit-test loops; "thorough" for
# a long run before a release (`HYPOTHESIS_PROFILE=thorough pytest`).
settings.register_profile(
    "ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "dev", max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "thorough", max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

TESTS = Path(__file__).resolve().parent

#: Test files (or folders) under tests/ whose every test needs a native library, a peer
#: program or a third-party package: they carry the ``peers`` mark and run on the main Python
#: only (scripts/test); everything else is the core suite, run on every supported Python
#: (noxfile.py). A single test elsewhere can carry ``@pytest.mark.peers`` itself.
PEER_PATHS = frozenset({"interop", "test_native.py", "test_thirdparty.py", "test_bench_smoke.py"})

PEERS = "peers"

#: Outcomes as pytest's terminal summary names them, in its order.
OUTCOMES = ("passed", "failed", "error", "skipped", "xfailed", "xpassed")

_STARTED = pytest.StashKey[float]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--counts-json", metavar="PATH", default=None,
        help="write the outcome counts of this run, core and peers apart, the Python version "
        "and the duration as JSON (noxfile.py compares them across Python versions)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_STARTED] = time.monotonic()


@pytest.hookimpl(tryfirst=True)  # before -m deselects by mark
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        try:
            first = item.path.resolve().relative_to(TESTS).parts[0]
        except ValueError:
            continue
        if first in PEER_PATHS:
            item.add_marker(PEERS)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    target = config.getoption("--counts-json")
    if target is None or hasattr(config, "workerinput"):  # xdist workers: the controller writes
        return
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    stats: dict[str, list[object]] = getattr(reporter, "stats", {})
    counts: dict[str, Counter[str]] = {"core": Counter(), PEERS: Counter()}
    for outcome in OUTCOMES:
        seen: set[tuple[str, str]] = set()
        for report in stats.get(outcome, []):
            nodeid = str(getattr(report, "nodeid", ""))
            if (nodeid, outcome) in seen:
                continue
            seen.add((nodeid, outcome))
            keywords = getattr(report, "keywords", {})
            counts[PEERS if PEERS in keywords else "core"][outcome] += 1
    record = {
        "python": platform.python_version(),
        "exitstatus": int(exitstatus),
        "seconds": round(time.monotonic() - config.stash[_STARTED], 1),
        "deselected": len(stats.get("deselected", [])),
        **{part: {o: counts[part][o] for o in OUTCOMES} for part in counts},
    }
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1) + "\n")
