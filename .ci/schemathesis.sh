#!/usr/bin/env bash
# A longer hunt than `make test`: the property and schemathesis tests with fresh random examples,
# PROPERTY_EXAMPLES_SCALE (default 20) times as many. Failures are remembered in .pytest_cache/
# and tried first next run; each one prints the @reproduce_failure line that replays it.
set -euo pipefail
cd "$(dirname "$0")/.."

HYPOTHESIS_PROFILE=explore PROPERTY_EXAMPLES_SCALE="${PROPERTY_EXAMPLES_SCALE:-20}" \
  .venv/bin/pytest tests/properties --timeout=1800 "$@"
