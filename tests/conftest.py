"""Shared test configuration: Hypothesis profiles and helpers used by several test files."""

from __future__ import annotations

import os

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
