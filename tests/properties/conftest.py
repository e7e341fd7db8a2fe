"""Hypothesis profiles for the property tests: reproducible by default, exploring on request.

``repeatable`` (the default) derandomizes, so every run, locally and in CI, tries the same
examples, and a failure reproduces with the same command. ``HYPOTHESIS_PROFILE=explore`` draws
fresh examples each run and remembers failures under ``.pytest_cache/`` (ignored by git) to try
them first next time; ``.ci/schemathesis.sh`` runs it with many more examples.
"""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis.configuration import set_hypothesis_home_dir

_SHARED = settings(
    # Through HTTP and Temporal an example takes milliseconds, not microseconds.
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)

# Hypothesis's own files (caches, remembered failures) where git already looks away.
set_hypothesis_home_dir(Path(__file__).resolve().parents[2] / ".pytest_cache" / "hypothesis")

settings.register_profile("repeatable", _SHARED, derandomize=True, database=None)
settings.register_profile("explore", _SHARED)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))
