"""The benchmark's results as a Markdown table and a chart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from bench.sizing import table

# The ceiling's shape before it took the journey's, reported beside it.
OLD = "(old: {old_ceiling_activities:.0f} regular activities)"
# (scenario, measure, label, unit, format)
ROWS = [
    ("ingest", "webhook_per_s", "Ingest: signups accepted by the webhook", "/s", ".0f"),
    ("ingest", "webhook_p50_ms", "Ingest: webhook latency p50", "ms", ".1f"),
    ("ingest", "webhook_p99_ms", "Ingest: webhook latency p99", "ms", ".1f"),
    ("ingest", "bare_per_s", "Ingest: bare `start_workflow`", "/s", ".0f"),
    ("ingest", "bare_p50_ms", "Ingest: bare start latency p50", "ms", ".1f"),
    ("ingest", "bare_p99_ms", "Ingest: bare start latency p99", "ms", ".1f"),
    ("ingest", "webhook_to_bare", "Ingest: webhook / bare", "x", ".2f"),
    ("throughput", "journeys_per_s", "Throughput: journeys completed (1 worker)", "/s", ".1f"),
    ("throughput", "activities_per_s", "Throughput: activities completed", "/s", ".0f"),
    ("throughput", "ceiling_workflows_per_s", "Ceiling: no-op workflows", "/s", ".1f"),
    ("throughput", "ceiling_activities_per_s", "Ceiling: no-op activities", "/s", ".0f"),
    ("throughput", "journeys_to_ceiling", "Throughput / ceiling (target ≥ 0.8)", "x", ".2f"),
    ("throughput", "old_ceiling_workflows_per_s", f"Ceiling {OLD}: no-op workflows", "/s", ".1f"),
    ("throughput", "journeys_to_old_ceiling", f"Throughput / ceiling {OLD}", "x", ".2f"),
    ("throughput", "worker_cpu_ms_per_journey", "Per journey: worker CPU", "ms", ".0f"),
    (
        "throughput",
        "ceiling_worker_cpu_ms_per_workflow",
        "Per no-op workflow of the ceiling: worker CPU",
        "ms",
        ".0f",
    ),
    ("throughput", "actions", "Per journey: Temporal actions (billed events)", "", ".1f"),
    ("throughput", "history_events", "Per journey: history events", "", ".1f"),
    ("throughput", "workflow_tasks", "Per journey: workflow tasks", "", ".1f"),
    ("throughput", "history_bytes", "Per journey: history size", "bytes", ".0f"),
    ("latency", "p50_ms", "Signup 202 → sales alert posted, p50", "ms", ".0f"),
    ("latency", "p99_ms", "Signup 202 → sales alert posted, p99", "ms", ".0f"),
]


def markdown(data: dict[str, Any], chart: str) -> str:
    m, v, s = data["machine"], data["versions"], data["sizes"]
    lines = [
        "# Benchmark",
        "",
        f"{data['date']} · {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM · {m['os']}",
        f"Python {v['python']} · temporalio {v['temporalio']} · temporal CLI {v['temporal_cli']}",
    ]
    rows = [row for row in ROWS if row[1] in data.get(row[0], {})]
    if rows:
        lines += [
            "",
            f"Sizes: {s['signups']} signups at concurrency {s['concurrency']}; {s['journeys']} "
            f"journeys (schedule 0s,0s,0s, vendors at zero latency, 1 worker process); "
            f"{s['enterprise']} enterprise signups at 10/s; {s['runs']} run(s) each.",
            "",
            "| measure | median | min - max |",
            "|---|---:|---:|",
        ]
    for scenario, key, label, unit, fmt in rows:
        stat = data[scenario][key]
        medians = {k: v["median"] for k, v in data[scenario].items()}
        lines.append(
            f"| {label.format(**medians)} | {stat['median']:{fmt}} {unit} | "
            f"{stat['min']:{fmt}} - {stat['max']:{fmt}} |"
        )
    shape = data.get("throughput", {})
    if "shape_activities" in shape:
        n = {k: v["median"] for k, v in shape.items()}
        lines += [
            "",
            "The ceiling: no-op workflows issuing a benchmark journey's commands, counted from "
            f"its history, in its order (activities {n['shape_activities']:.0f} on "
            f"{n['shape_task_queues']:.0f} task queues, local activities "
            f"{n['shape_local_activities']:.0f}, upserts {n['shape_upserts']:.0f}, timers "
            f"{n['shape_timers']:.0f}), started with the journey's search attribute and served "
            "by one process with a worker per task queue, as a journey worker is.",
        ]
    lines += ["", f"Duration {data['duration_seconds']:.0f}s."]
    in_flight = data.get("in_flight") or {}
    if in_flight:
        lines += [
            "",
            "Journeys in flight: parked between email 1 and email 2 (schedule 0s,1h,2h), one run:",
            "",
            "| in flight | worker RSS | RSS growth | DB bytes / journey | parked/s | "
            f"journeys/s alongside ({s['probe']} fresh) | journey map page, cold / cached |",
            "|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for row in in_flight["levels"]:
            page = (
                f"{row['map_page_cold_ms']:.0f} / {row['map_page_warm_ms']:.0f} ms"
                if "map_page_cold_ms" in row
                else "-"
            )
            lines.append(
                f"| {row['journeys']:.0f} | {row['worker_rss_mb']:.0f} MiB | "
                f"{row['worker_rss_growth_mb']:.0f} MiB | {row['db_bytes_per_journey']:.0f} | "
                f"{row['parked_per_s']:.1f} | {row['journeys_per_s']:.1f} | {page} |"
            )
        d = in_flight["drain"]
        lines += [
            "",
            f"All {d['journeys']:.0f} parked journeys' email 2 moved to one moment "
            f"({d['reschedules_per_s']:.0f} `reschedule` updates/s), then sent with Resend "
            f"limited to {d['resend_limit_per_s']:g}/s: **{d['seconds']:.0f} s** "
            f"({d['sent_per_s']:.1f} sent/s), {d['throttled_429']:.0f} answered 429, "
            f"worker RSS at most {d['worker_peak_rss_mb']:.0f} MiB.",
        ]
    if "burst" in data:
        b = data["burst"]
        lines += [
            "",
            f"Burst: {b['signups']} signups of the company mix at once, the sandbox and "
            f"{b.get('workers', 1)} worker(s) at the vendors' documented limits: every journey "
            "through its first round of calls "
            f"in **{b['seconds']:.0f} s**, **{b['throttled_429']} answered 429**.",
            "",
            "| vendor | limit | queue rate | calls | busiest second | 429s |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        throttled = b.get("throttled_by_vendor", {})
        rates = b.get("queue_rates", {})
        for vendor, limit in b["limits"].items():
            rate = f"{rates[vendor]:.2f}/s" if vendor in rates else "-"
            lines.append(
                f"| {vendor} | {limit:g}/s | {rate} | {b['calls'][vendor]} "
                f"| {b['busiest_second'][vendor]} | {throttled.get(vendor, '-')} |"
            )
    if "spend" in data:
        sp = data["spend"]
        off, on = sp["cache_off"], sp["cache_on"]
        lines += [
            "",
            f"Spend per 1,000 signups ({sp['signups']} signups: Zipf over 200 companies, 30% "
            "free-mail), vendor calls (billed):",
            "",
            "| vendor | cache off | cache on |",
            "|---|---:|---:|",
        ]
        for vendor in off["calls_per_1000"]:
            lines.append(
                f"| {vendor} | {off['calls_per_1000'][vendor]:.0f} "
                f"({off['billed_per_1000'][vendor]:.0f}) | {on['calls_per_1000'][vendor]:.0f} "
                f"({on['billed_per_1000'][vendor]:.0f}) |"
            )
        lines.append(
            f"| estimated cost | ${off['cost_per_1000']:.2f} | ${on['cost_per_1000']:.2f} |"
        )
    sizing = table(data)
    if sizing:
        lines += ["", "Sizing, from the measured per-journey costs above (`bench/sizing.py`):", ""]
        lines += sizing
    if "throughput" in data or in_flight:
        lines += ["", f"![throughput and memory vs journeys in flight]({chart})"]
    lines.append("")
    return "\n".join(lines)


def chart(data: dict[str, Any], path: Path) -> None:
    """Throughput and worker memory against journeys in flight."""
    levels: list[float] = []
    throughput: list[float] = []
    if "throughput" in data:
        levels.append(0.0)
        throughput.append(float(data["throughput"]["journeys_per_s"]["median"]))
    rss: list[float] = []
    for row in (data.get("in_flight") or {}).get("levels", []):
        levels.append(row["journeys"])
        throughput.append(row["journeys_per_s"])
        rss.append(row["worker_rss_mb"])
    figure, left = plt.subplots(figsize=(7, 4))
    left.plot(levels, throughput, "o-", color="tab:blue", label="journeys/s")
    left.set_xlabel("journeys in flight (parked between emails)")
    left.set_ylabel("journeys completed per second", color="tab:blue")
    left.set_ylim(bottom=0)
    if rss:
        right = left.twinx()
        right.plot(
            levels[len(levels) - len(rss) :], rss, "s--", color="tab:red", label="worker RSS"
        )
        right.set_ylabel("worker RSS (MiB)", color="tab:red")
        right.set_ylim(0, max(rss) * 1.25)
    left.set_title("Journey throughput and worker memory vs journeys in flight")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
