"""The benchmark: how fast journeys come in, how fast they run against the engine's own ceiling,
how soon sales hears of an enterprise signup, and what journeys in flight cost.

    .venv/bin/python -m bench.run            # default sizes, 3 runs each
    .venv/bin/python -m bench.run --quick    # tiny sizes, 1 run (the smoke test)

Against real processes on this machine (see ``bench.lab``); writes ``results.json``,
``results.md`` and ``results.png`` to ``--out`` (``bench/results``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from rich.progress import Progress

from activities.vendors import DOCUMENTED_RATE_LIMITS
from bench import report, scenarios
from bench.lab import Lab
from devstack import processes
from devstack.progress import progress_bar, stderr


@dataclass(frozen=True)
class Sizes:
    runs: int
    signups: int
    concurrency: int
    journeys: int
    enterprise: int
    in_flight: tuple[int, ...]
    probe: int
    spend: int
    burst: int
    burst_workers: int
    drain_rate: float


DEFAULT = Sizes(
    runs=3, signups=500, concurrency=32, journeys=200, enterprise=50,
    in_flight=(1000, 5000, 10000), probe=50, spend=1000, burst=1000, burst_workers=2,
    drain_rate=DOCUMENTED_RATE_LIMITS["resend"],
)  # fmt: skip
QUICK = Sizes(
    runs=1, signups=12, concurrency=8, journeys=8, enterprise=4, in_flight=(10, 20), probe=4,
    spend=20, burst=20, burst_workers=2, drain_rate=10.0,
)  # fmt: skip


def machine() -> dict[str, Any]:
    model = platform.processor() or platform.machine()
    memory = 0
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = int(line.split()[1]) * 1024
    except OSError:
        pass

    return {
        "cpu": model,
        "cores": os.cpu_count() or 0,
        "ram_gib": round(memory / 2**30, 1),
        "os": platform.platform(terse=True),
    }


def versions() -> dict[str, str]:
    cli = subprocess.run(
        [processes.executable("temporal"), "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return {
        "python": platform.python_version(),
        "temporalio": version("temporalio"),
        "temporal_cli": cli.removeprefix("temporal version "),
    }


async def repeat(
    runs: int,
    progress: Progress,
    name: str,
    once: Callable[[str], Awaitable[dict[str, float]]],
) -> dict[str, Any]:
    """``once`` ``runs`` times (each with its own users); median and spread of every measure."""
    task = progress.add_task(name, total=runs)
    results: list[dict[str, float]] = []
    for _ in range(runs):
        results.append(await once(uuid.uuid4().hex[:6]))
        progress.advance(task)
        progress.console.log(
            f"{name}: " + ", ".join(f"{k} {v:.1f}" for k, v in results[-1].items())
        )
    progress.remove_task(task)
    return {key: scenarios.spread([r[key] for r in results]) for key in results[0]}


SCENARIOS = ("ingest", "throughput", "latency", "spend", "burst", "in_flight")


async def execute(sizes: Sizes, run_dir: Path, only: frozenset[str]) -> dict[str, Any]:
    progress = progress_bar()
    lab = Lab(run_dir)
    data: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "versions": versions(),
        "sizes": asdict(sizes),
    }
    began = time.monotonic()

    def checkpoint() -> None:
        # What has been measured so far survives an interrupted run (its folder is kept).
        data["duration_seconds"] = round(time.monotonic() - began, 1)
        (run_dir / "partial.json").write_text(json.dumps(data, indent=2) + "\n")

    with progress:
        try:
            progress.console.log(
                f"starting the dev server, sandbox, webhook and workers in {run_dir}"
            )
            await lab.up()
            c = sizes.concurrency
            repeated: list[tuple[str, str, Callable[[str], Awaitable[dict[str, float]]]]] = [
                (
                    "ingest",
                    "ingest",
                    lambda t: scenarios.ingest(lab, t, sizes.signups, c, progress),
                ),
                (
                    "throughput",
                    "throughput",
                    lambda t: scenarios.throughput(lab, t, sizes.journeys, c, progress),
                ),
                (
                    "latency",
                    "alert latency",
                    lambda t: scenarios.alert_latency(lab, t, sizes.enterprise, progress),
                ),
            ]
            for name, label, once in repeated:
                if name in only:
                    data[name] = await repeat(sizes.runs, progress, label, once)
                checkpoint()
            if "spend" in only:
                progress.console.log(
                    "spend: the company mix with the enrichment cache off, then on"
                )
                data["spend"] = await scenarios.spend(
                    lab, uuid.uuid4().hex[:6], sizes.spend, c, progress
                )
            checkpoint()
            if "burst" in only:
                progress.console.log("burst: the vendors' documented limits, in sandbox and worker")
                data["burst"] = await scenarios.burst(
                    lab, uuid.uuid4().hex[:6], sizes.burst, c, progress, sizes.burst_workers
                )
            checkpoint()
            if "in_flight" in only and sizes.in_flight:
                data["in_flight"] = await scenarios.in_flight(
                    lab,
                    uuid.uuid4().hex[:6],
                    sizes.in_flight,
                    sizes.probe,
                    c,
                    progress,
                    sizes.drain_rate,
                )
        finally:
            await lab.down()
    data["duration_seconds"] = round(time.monotonic() - began, 1)
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one run (< 60 s)")
    parser.add_argument("--runs", type=int, default=None, help="runs per scenario (3)")
    parser.add_argument("--signups", type=int, default=None, help="ingest: signups (500)")
    parser.add_argument("--concurrency", type=int, default=None, help="requests in flight (32)")
    parser.add_argument("--journeys", type=int, default=None, help="throughput: journeys (200)")
    parser.add_argument("--enterprise", type=int, default=None, help="latency: signups (50)")
    parser.add_argument(
        "--in-flight",
        default=None,
        help="parked journeys levels, comma-separated (1000,5000,10000); 'none' skips it",
    )
    parser.add_argument("--spend", type=int, default=None, help="spend: signups (1000)")
    parser.add_argument("--burst", type=int, default=None, help="burst: signups (1000)")
    parser.add_argument(
        "--burst-workers", type=int, default=None, help="burst: journey workers polling (2)"
    )
    parser.add_argument(
        "--drain-rate",
        type=float,
        default=None,
        help="Resend's limit (per second) while every parked email 2 is due at once (2)",
    )
    parser.add_argument(
        "--only",
        default=",".join(SCENARIOS),
        help=f"scenarios to run, comma-separated (all: {','.join(SCENARIOS)})",
    )
    parser.add_argument("--out", type=Path, default=Path("bench/results"), help="output folder")
    args = parser.parse_args(argv)
    only = frozenset(name.strip() for name in args.only.split(",") if name.strip())
    unknown = sorted(only - set(SCENARIOS))
    if unknown:
        parser.error(
            f"--only: unknown scenario {', '.join(unknown)} (known: {', '.join(SCENARIOS)})"
        )
    base = QUICK if args.quick else DEFAULT
    levels = base.in_flight
    if args.in_flight == "none":
        levels = ()
    elif args.in_flight:
        levels = tuple(int(v) for v in args.in_flight.split(","))
    sizes = Sizes(
        runs=args.runs or base.runs,
        signups=args.signups or base.signups,
        concurrency=args.concurrency or base.concurrency,
        journeys=args.journeys or base.journeys,
        enterprise=args.enterprise or base.enterprise,
        in_flight=levels,
        probe=base.probe,
        spend=args.spend or base.spend,
        burst=args.burst or base.burst,
        burst_workers=args.burst_workers or base.burst_workers,
        drain_rate=args.drain_rate or base.drain_rate,
    )
    run_dir = Path(tempfile.mkdtemp(prefix="onboarding-bench-"))
    try:
        data = asyncio.run(execute(sizes, run_dir, only))
    except KeyboardInterrupt:
        stderr.print(f"Interrupted; logs kept in {run_dir}")
        return 130
    except RuntimeError as exc:
        stderr.print(f"[red]error: {exc}[/]; logs kept in {run_dir}")
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(data, indent=2) + "\n")
    markdown = report.markdown(data, chart="results.png")
    (args.out / "results.md").write_text(markdown)
    report.chart(data, args.out / "results.png")
    shutil.rmtree(run_dir, ignore_errors=True)
    print(markdown)
    stderr.print(f"Wrote {args.out / 'results.json'}, results.md and results.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
