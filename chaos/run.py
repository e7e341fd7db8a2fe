"""The chaos run: journeys against real processes while workers are SIGKILLed and the Temporal
server restarts; then everything the vendors received is counted.

    .venv/bin/python -m chaos.run --journeys 300 --kills 5

``scenario`` says what happens, ``checks`` what is counted and ``report`` what is concluded.
Exit code 0 only when nothing was lost, nothing was delivered twice, every outcome was the
expected one, no journey is stuck and no email went out after the webhook took an unsubscribe,
bounce or complaint for its journey.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

from pydantic import ValidationError
from rich.console import Console

from activities.contracts import VENDOR_ROLES
from activities.settings import VendorSettings
from chaos.report import Report, build_report, show
from chaos.scenario import Options, Scenario
from common.command_line import describe_settings_error
from devstack.lifetime import quiet_when_gone
from devstack.processes import stop_all
from devstack.progress import progress_bar, stderr


async def execute(options: Options, run_dir: Path) -> Report:
    began = time.monotonic()
    progress = progress_bar(only_on_a_terminal=True)
    scenario = Scenario(options, run_dir, progress)
    with progress:
        narrator = asyncio.create_task(scenario.narrate())
        try:
            async with scenario.stack:
                main, trials = await scenario.play()
                report = build_report(scenario, main, trials, time.monotonic() - began)
        finally:
            narrator.cancel()
            await scenario.close()
            (run_dir / "events.log").write_text("\n".join(scenario.events) + "\n")
    return report


def parse_options(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m chaos.run",
        description="Journeys against real processes while workers are SIGKILLed and the "
        "Temporal server restarts; exits non-zero on any loss, duplicate, wrong outcome or "
        "stuck journey.",
    )
    parser.add_argument("--journeys", type=int, default=300, help="signups to start (300)")
    parser.add_argument("--kills", type=int, default=5, help="worker SIGKILLs mid-run (5)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: random)")
    parser.add_argument(
        "--deadline",
        type=float,
        default=None,
        help="seconds from the first signup until a journey still running counts as stuck "
        "(default: the signup window plus 240)",
    )
    parser.add_argument(
        "--alert-crash-trials",
        type=int,
        default=20,
        help="SIGKILLs right after Slack stored a sales alert, to count doubled alerts (20)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the report here")
    parser.add_argument("--concurrency", type=int, default=16, help="signups in flight (16)")
    parser.add_argument("--error-rate", type=float, default=0.2, help="vendor 5xx share (0.2)")
    parser.add_argument("--rate-limit-rate", type=float, default=0.05, help="429 share (0.05)")
    parser.add_argument(
        "--lost-answer-rate",
        type=float,
        default=0.05,
        help="calls the vendor carries out but whose answer is lost (0.05)",
    )
    parser.add_argument(
        "--postmark-search-delay",
        type=float,
        default=0.0,
        help="seconds before Postmark finds a message it accepted (0): its duplicate window",
    )
    parser.add_argument(
        "--slow-rate", type=float, default=0.05, help="answers slower than the timeout (0.05)"
    )
    parser.add_argument(
        "--server-signal",
        choices=["kill", "term"],
        default="kill",
        help="how the dev server is stopped mid-run (kill)",
    )
    parser.add_argument(
        "--unsubscribe-rate",
        type=float,
        default=0.1,
        help="share of the journeys that send emails which one-click unsubscribe after email 1 "
        "(0.1; above 0, at least one)",
    )
    parser.add_argument(
        "--bounce-rate",
        type=float,
        default=0.1,
        help="share whose email 1 bounces for good, the event delivered twice (0.1)",
    )
    parser.add_argument(
        "--complaint-rate",
        type=float,
        default=0.05,
        help="share whose reader marks email 1 as spam (0.05)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the run's directory")
    args = parser.parse_args(argv)
    if args.journeys < 1 or args.kills < 0 or args.alert_crash_trials < 0:
        parser.error("--journeys must be at least 1; --kills and --alert-crash-trials 0 or more")
    event_rates = (args.unsubscribe_rate, args.bounce_rate, args.complaint_rate)
    if any(not 0 <= rate <= 1 for rate in event_rates) or sum(event_rates) > 1:
        parser.error(
            "--unsubscribe-rate, --bounce-rate and --complaint-rate are shares from 0 to 1, "
            "together at most 1"
        )
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(10**6)
    window = Options.window_for(args.journeys)
    return Options(
        journeys=args.journeys,
        kills=args.kills,
        seed=seed,
        deadline=args.deadline if args.deadline is not None else window + 240,
        alert_crash_trials=args.alert_crash_trials,
        json_path=args.json,
        concurrency=max(1, args.concurrency),
        error_rate=args.error_rate,
        rate_limit_rate=args.rate_limit_rate,
        lost_answer_rate=args.lost_answer_rate,
        postmark_search_delay=args.postmark_search_delay,
        slow_rate=args.slow_rate,
        server_signal=args.server_signal,
        keep=args.keep,
        unsubscribe_rate=args.unsubscribe_rate,
        bounce_rate=args.bounce_rate,
        complaint_rate=args.complaint_rate,
    )


def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
    run_dir = Path(tempfile.mkdtemp(prefix="onboarding-chaos-"))
    try:
        chosen = VendorSettings(_env_file=None)
    except ValidationError as exc:
        stderr.print(f"[red]error: {describe_settings_error(exc, VendorSettings)}[/]")
        return 2
    providers = ", ".join(" → ".join(chosen.providers(name)) for name in VENDOR_ROLES)
    stderr.print(
        f"Chaos run: {options.journeys} journeys, {options.kills} worker kills, one server "
        f"restart, {options.alert_crash_trials} crash-after-post trials (seed {options.seed}); "
        f"providers {providers}; files in {run_dir}"
    )
    try:
        report = asyncio.run(execute(options, run_dir))
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM and SIGHUP taking its road
        stderr.print(f"Interrupted; files kept in {run_dir}")
        return 130
    except RuntimeError as exc:
        stderr.print(f"[red]error: {exc}[/]; files kept in {run_dir}")
        return 2
    finally:
        stop_all()  # whatever an interrupted teardown left running
    show(report, Console(file=quiet_when_gone(sys.stdout), highlight=False))
    if options.json_path is not None:
        options.json_path.parent.mkdir(parents=True, exist_ok=True)
        options.json_path.write_text(json.dumps(report.data, indent=2) + "\n")
    if not report.ok:
        stderr.print(f"Logs and databases kept in {run_dir}")
        return 1
    if not options.keep:
        shutil.rmtree(run_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
