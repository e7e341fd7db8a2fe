"""Sizing beyond one machine, on paper: every figure is a measured per-journey cost from the
benchmark's results multiplied out, nothing else.

- Temporal actions, history bytes, activity executions and worker CPU per journey: the
  throughput scenario (email journeys, the longest path: an upper bound for the mix).
- Vendor calls and spend per signup: the spend scenario with the cache on (the company mix).
- Workers: CPU-seconds per journey over one core a worker process uses, kept at half load
  (``TARGET_LOAD``) so bursts and replays have room.
"""

from __future__ import annotations

import math
from typing import Any

from activities.settings import DEFAULT_QUEUE_RATES

DAILY_SIGNUPS = (10_000, 100_000, 1_000_000)
TARGET_LOAD = 0.5
SECONDS_PER_DAY = 86_400


def table(data: dict[str, Any]) -> list[str]:
    """The sizing table's Markdown lines, or none when a scenario it needs did not run."""
    if "throughput" not in data or "spend" not in data:
        return []
    measured = {k: data["throughput"][k]["median"] for k in data["throughput"]}
    spend = data["spend"]["cache_on"]
    calls = {v: n / 1000 for v, n in spend["calls_per_1000"].items()}
    cost = spend["cost_per_1000"] / 1000
    cpu_s = measured["worker_cpu_ms_per_journey"] / 1000
    lines = [
        "| signups a day | workers | Temporal actions a day | history a day | vendor calls a day "
        "| vendor spend a day | busiest vendor (average use of its queue's rate) |",
        "|---:|---:|---:|---:|---:|---:|---|",
    ]
    for signups in DAILY_SIGNUPS:
        workers = max(1, math.ceil(signups * cpu_s / SECONDS_PER_DAY / TARGET_LOAD))
        use = {v: signups * calls[v] / SECONDS_PER_DAY / DEFAULT_QUEUE_RATES[v] for v in calls}
        binding = max(use, key=lambda v: use[v])
        lines.append(
            f"| {signups:,} | {workers} | {signups * measured['actions']:,.0f} | "
            f"{signups * measured['history_bytes'] / 2**30:.2f} GiB | "
            f"{signups * sum(calls.values()):,.0f} | ${signups * cost:,.0f} | "
            f"{binding} ({use[binding]:.0%}) |"
        )
    lines += [
        "",
        f"From: {measured['actions']:.1f} actions, {measured['history_bytes']:.0f} history bytes, "
        f"{measured['activity_executions']:.1f} activity executions and "
        f"{measured['worker_cpu_ms_per_journey']:.0f} ms of worker CPU per journey; "
        + ", ".join(f"{v} {n:.2f}" for v, n in calls.items())
        + f" calls and ${cost:.4f} per signup. A vendor above 100% needs a higher limit from the "
        "vendor: the queues then hold journeys back rather than fail them.",
    ]
    return lines
