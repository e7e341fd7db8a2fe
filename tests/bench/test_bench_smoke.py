"""The benchmark at tiny sizes, as a user runs it: every scenario reports positive numbers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCENARIOS = {
    "ingest": ["webhook_per_s", "bare_per_s", "webhook_to_bare"],
    "throughput": ["journeys_per_s", "activities_per_s", "ceiling_workflows_per_s"],
    "latency": ["p50_ms", "p99_ms"],
}


@pytest.mark.timeout(300)
def test_quick_benchmark_reports_every_scenario(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.run", "--quick", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    data = json.loads((tmp_path / "results.json").read_text())
    for scenario, measures in SCENARIOS.items():
        for measure in measures:
            assert data[scenario][measure]["median"] > 0, (scenario, measure)
    levels = data["in_flight"]["levels"]
    assert levels and all(row["worker_rss_mb"] > 0 for row in levels)
    drain = data["in_flight"]["drain"]
    assert drain["journeys"] == levels[-1]["journeys"] and drain["seconds"] > 0
    # The burst ran against the vendors' documented limits, every journey got through, and the
    # queues' rates kept every vendor from answering 429.
    burst = data["burst"]
    assert burst["seconds"] > 0 and burst["calls"]["clearbit"] > 0
    assert burst["throttled_429"] == 0, burst["throttled_at_s"]
    # The cache saves company lookups: never more calls with it than without.
    spend = data["spend"]
    off, on = spend["cache_off"]["calls_per_1000"], spend["cache_on"]["calls_per_1000"]
    assert on["clearbit"] < off["clearbit"] and on["builtwith"] <= off["builtwith"]
    assert (tmp_path / "results.md").read_text().startswith("# Benchmark")
    assert (tmp_path / "results.png").stat().st_size > 0
