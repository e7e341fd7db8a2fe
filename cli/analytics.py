"""``onboarding funnel`` and ``onboarding experiments``: the journeys table, counted by signup
week and by email variant (docs/experiments.md)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from activities.warehouse import Warehouse
from analytics import experiments, funnel
from analytics.stats import Interval
from cli.warehouse_report import read_warehouse
from common.command_line import fail
from common.durations import format_offset, parse_offset

T = TypeVar("T")


class OutputFormat(StrEnum):
    TABLE = "table"
    CSV = "csv"
    JSON = "json"


FormatOption = Annotated[
    OutputFormat, typer.Option("--format", help="table for reading, csv or json for other tools.")
]
WeeksOption = Annotated[
    int, typer.Option(min=1, max=520, help="Signup weeks to show, ending with this one.")
]


def _read(query: Callable[[Warehouse], T]) -> T:
    """Run ``query`` against WAREHOUSE_URL's warehouse, or exit with one line."""
    return read_warehouse(lambda warehouse, _: query(warehouse), "the journeys table")


def _console() -> Console:
    return Console(highlight=False, width=120)


def _percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.1%}"


def funnel_command(weeks: WeeksOption = 8, format: FormatOption = OutputFormat.TABLE) -> None:
    """Signups by week, and how many of each week's journeys were enriched, went enterprise,
    had an integrated stack, got emails 1, 2 and 3, and converted."""
    now = datetime.now(UTC)
    cohorts = _read(lambda warehouse: funnel.funnel(warehouse, weeks, now))
    if format == OutputFormat.CSV:
        typer.echo(funnel.to_csv(cohorts), nl=False)
        return
    if format == OutputFormat.JSON:
        typer.echo(json.dumps(funnel.to_dict(cohorts), indent=2))
        return
    table = Table(title=f"Onboarding funnel, last {weeks} signup week{'s' * (weeks != 1)}")
    table.add_column("week")
    table.add_column("started", justify="right")
    for stage in funnel.STAGES:
        table.add_column(stage.replace("_", " "), justify="right")
    for cohort in cohorts:
        cells = [
            f"{cohort.count(stage)} ({_percent(cohort.rate(stage))})" if cohort.started else "0"
            for stage in funnel.STAGES
        ]
        table.add_row(cohort.week, str(cohort.started), *cells)
    _console().print(table)
    typer.echo(
        "Each week is the journeys that signed up in it; percentages are of those started. "
        "enterprise: a sales alert was posted; integrated: the stack uses a technology we "
        "integrate with."
    )


def _interval(interval: Interval | None, signed: bool = False) -> str:
    if interval is None:
        return ""
    spec = "+.1f" if signed else ".1f"
    return f"\n[{interval.low * 100:{spec}}, {interval.high * 100:{spec}}]"


# How the table words each verdict (the JSON keeps the names in analytics/experiments.py).
VERDICT_WORDS = {
    "control": "control",
    "not_enough_data": "too few",
    "better": "better",
    "worse": "worse",
    "inconclusive": "unclear",
}


def _configured_control(name: str | None) -> str | None:
    """The control of ``EMAIL_EXPERIMENT`` (its first variant, or ``control``) when it is the
    experiment asked about."""
    from starter.experiment import parse_experiment
    from starter.settings import JourneySettings

    try:
        configured = parse_experiment(JourneySettings().email_experiment)
    except ValidationError:
        return None
    return configured.control if configured is not None and configured.name == name else None


def experiments_command(
    experiment: Annotated[
        str | None,
        typer.Argument(help="The experiment's name; default: the one started most recently."),
    ] = None,
    within: Annotated[
        str, typer.Option(help="A conversion counts within this long after email 1 (14d, 36h).")
    ] = "14d",
    min_sample: Annotated[
        int,
        typer.Option(
            min=1, help="Journeys that got email 1, per variant, before a winner is declared."
        ),
    ] = experiments.DEFAULT_MIN_SAMPLE,
    weeks: WeeksOption = 8,
    control: Annotated[
        str | None,
        typer.Option(help="The variant compared against; default: 'control', else the first."),
    ] = None,
    format: FormatOption = OutputFormat.TABLE,
) -> None:
    """Each email variant's journeys, emails and conversions, its conversion rate and the
    difference against control with 95% intervals, by signup week too."""
    try:
        window = parse_offset(within)
    except ValueError as exc:
        raise fail(f"--within: {exc}", 2) from None
    if not window:
        raise fail("--within: the conversion window must be longer than 0s", 2)
    now = datetime.now(UTC)

    def read(warehouse: Warehouse) -> tuple[experiments.ExperimentReport, list[str]]:
        name = experiment or next(iter(experiments.experiment_names(warehouse)), None)
        report = experiments.experiment_report(
            warehouse,
            name,
            now=now,
            control=control or _configured_control(name),
            conversion_window=window,
            min_sample=min_sample,
            weeks=weeks,
        )
        found = any(v.journeys for v in report.variants)
        known = [] if found else experiments.experiment_names(warehouse)
        return report, known

    report, known = _read(read)
    if report.experiment is None:
        raise fail("no journey has an email experiment yet; set EMAIL_EXPERIMENT to start one")
    if not any(v.journeys for v in report.variants):
        others = f"; the warehouse has: {', '.join(known)}" if known else ""
        raise fail(f"no journey of experiment {report.experiment!r}{others}")
    if control is not None and not report.variant(control).journeys:
        variants = ", ".join(v.variant for v in report.variants if v.journeys)
        raise fail(
            f"--control: experiment {report.experiment!r} has no variant {control!r}; "
            f"its variants: {variants}",
            2,
        )
    if format == OutputFormat.CSV:
        typer.echo(experiments.to_csv(report), nl=False)
        return
    if format == OutputFormat.JSON:
        typer.echo(json.dumps(report.to_dict(), indent=2))
        return
    _print_report(report)


def _print_report(report: experiments.ExperimentReport) -> None:
    window = format_offset(report.conversion_window)
    table = Table(
        title=f"Experiment {report.experiment}: conversions within {window} of email 1, "
        "95% intervals in brackets"
    )
    table.add_column("variant", overflow="fold", min_width=12)
    for column in ("journeys", "got email 1", "emails", "converted", "rate %", "vs control, pts"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    table.add_column("trend", no_wrap=True)
    for v in report.variants:
        if v.verdict == "control":
            difference = ""
        elif v.difference is None:
            difference = "-"
        else:
            difference = f"{v.difference * 100:+.1f}" + _interval(v.difference_interval, True)
        table.add_row(
            v.variant,
            str(v.journeys),
            str(v.exposed),
            str(v.emails_sent),
            str(v.conversions),
            ("-" if v.rate is None else f"{v.rate * 100:.1f}") + _interval(v.interval),
            difference,
            VERDICT_WORDS.get(v.verdict, v.verdict),
            v.trend or "",
        )
    console = _console()
    console.print(table)

    weekly = Table(title="By signup week")
    weekly.add_column("week", no_wrap=True)
    for v in report.variants:
        weekly.add_column(v.variant, justify="right", overflow="fold")
    for index, week in enumerate(report.variants[0].weeks):
        cells = []
        for v in report.variants:
            w = v.weeks[index]
            cells.append(f"{_percent(w.rate)} ({w.conversions}/{w.exposed})" if w.exposed else "-")
        weekly.add_row(week.week + ("" if week.settled else " open"), *cells)
    console.print(weekly)

    for line in (
        f"Control: {report.control}. No winner is declared until a variant and the control each "
        f"have at least {report.min_sample} journeys that got email 1 and the interval of their "
        "difference excludes 0.",
        "By signup week: rate % (converted/got email 1). An open week can still gain "
        "conversions; the trend reads the last three weeks that are not open.",
        "Winner: "
        + (
            "none declared."
            if report.winner is None
            else f"{report.winner} (every other variant did worse)."
            if report.winner == report.control
            else f"{report.winner} (better than {report.control})."
        ),
    ):
        typer.echo(line)
