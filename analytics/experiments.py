"""The email experiment's report: per variant, how many journeys got email 1, how many of them
converted within the conversion window, the rate with its 95% interval, the difference against
control with its interval, the same by signup week, and a verdict that declares nothing below
the minimum sample (docs/experiments.md).

- exposed: journeys that got email 1 (``first_email_at`` set);
- a conversion: a journey ended by the ``convert`` signal no later than the window after its
  email 1; rate = conversions / exposed (Wilson interval), difference = rate - control's rate
  (Newcombe's hybrid score interval), both from analytics/stats.py;
- verdict: ``control``; ``not_enough_data`` while the variant or the control has fewer than
  ``min_sample`` exposed journeys; then ``better`` or ``worse`` when the difference's interval
  excludes 0, else ``inconclusive``;
- by week: the last ``weeks`` signup weeks, oldest first. A week stays open (``settled`` false)
  until it has ended and each of its exposed journeys has had the whole window: its conversions
  may still come in. ``trend`` reads the last three settled weeks with exposed journeys:
  ``falling`` or ``rising`` when the rate moved the same way twice, else ``mixed``; None with
  fewer than three such weeks.

The totals count every journey of the experiment, whatever its week. Counted by the database:
one ``GROUP BY variant, cohort_week``.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import sqlalchemy as sa

from activities.warehouse import journeys
from analytics.funnel import Source, cohort_weeks, count_if, reading
from analytics.stats import Interval, newcombe_interval, wilson_interval
from workflows.models import Outcome

DEFAULT_WINDOW = timedelta(days=14)
DEFAULT_MIN_SAMPLE = 100
VERDICTS = ("control", "not_enough_data", "better", "worse", "inconclusive")
TRENDS = ("falling", "rising", "mixed")
TREND_WEEKS = 3


@dataclass
class _Counts:
    journeys: int = 0
    exposed: int = 0
    emails_sent: int = 0
    conversions: int = 0
    last_exposure: datetime | None = None

    def add(self, other: _Counts) -> None:
        self.journeys += other.journeys
        self.exposed += other.exposed
        self.emails_sent += other.emails_sent
        self.conversions += other.conversions
        if other.last_exposure is not None and (
            self.last_exposure is None or other.last_exposure > self.last_exposure
        ):
            self.last_exposure = other.last_exposure


@dataclass(frozen=True)
class VariantWeek:
    """One variant's journeys of one signup week."""

    week: str
    journeys: int
    exposed: int
    emails_sent: int
    conversions: int
    rate: float | None
    interval: Interval | None
    difference: float | None
    difference_interval: Interval | None
    settled: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "week": self.week,
            "journeys": self.journeys,
            "exposed": self.exposed,
            "emails_sent": self.emails_sent,
            "conversions": self.conversions,
            "rate": self.rate,
            "interval": _pair(self.interval),
            "difference": self.difference,
            "difference_interval": _pair(self.difference_interval),
            "settled": self.settled,
        }


@dataclass(frozen=True)
class VariantResult:
    """One variant over the whole experiment, and by signup week."""

    variant: str
    journeys: int
    exposed: int
    emails_sent: int
    conversions: int
    rate: float | None
    interval: Interval | None
    difference: float | None
    difference_interval: Interval | None
    verdict: str
    trend: str | None
    weeks: tuple[VariantWeek, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {
            "variant": self.variant,
            "journeys": self.journeys,
            "exposed": self.exposed,
            "emails_sent": self.emails_sent,
            "conversions": self.conversions,
            "rate": self.rate,
            "interval": _pair(self.interval),
            "difference": self.difference,
            "difference_interval": _pair(self.difference_interval),
            "verdict": self.verdict,
            "trend": self.trend,
            "weeks": [week.to_dict() for week in self.weeks],
        }


@dataclass(frozen=True)
class ExperimentReport:
    """The report of one experiment; ``experiment`` is None when no journey has one."""

    experiment: str | None
    control: str | None
    min_sample: int
    conversion_window: timedelta
    variants: tuple[VariantResult, ...]
    winner: str | None

    def variant(self, name: str) -> VariantResult:
        for result in self.variants:
            if result.variant == name:
                return result
        raise KeyError(name)

    @property
    def conversion_window_days(self) -> float:
        days = self.conversion_window / timedelta(days=1)
        return int(days) if days.is_integer() else days

    def to_dict(self) -> dict[str, Any]:
        return {
            "experiment": self.experiment,
            "control": self.control,
            "min_sample": self.min_sample,
            "conversion_window_days": self.conversion_window_days,
            "winner": self.winner,
            "variants": [variant.to_dict() for variant in self.variants],
        }


def _pair(interval: Interval | None) -> list[float] | None:
    return None if interval is None else [interval.low, interval.high]


def _aware(moment: datetime) -> datetime:
    # SQLite hands timestamps back without their zone; they were written in UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _converted_in_time(dialect: str, window: timedelta) -> sa.ColumnElement[bool]:
    """The ``convert`` signal ended the journey no later than ``window`` after its email 1."""
    t = journeys
    if dialect == "sqlite":
        # Timestamps are text there: compare whole milliseconds of julianday arithmetic.
        elapsed = (sa.func.julianday(t.c.ended_at) - sa.func.julianday(t.c.first_email_at)) * (
            86_400_000
        )
        in_time = sa.func.round(elapsed) <= round(window.total_seconds() * 1000)
    elif dialect in ("mysql", "mariadb"):
        elapsed = sa.func.timestampdiff(sa.text("MICROSECOND"), t.c.first_email_at, t.c.ended_at)
        in_time = elapsed <= window // timedelta(microseconds=1)
    else:
        in_time = (t.c.ended_at - t.c.first_email_at) <= sa.literal(window, sa.Interval())
    return sa.and_(
        t.c.outcome == Outcome.CONVERTED.value,
        t.c.first_email_at.is_not(None),
        t.c.ended_at.is_not(None),
        in_time,
    )


def experiment_names(source: Source) -> list[str]:
    """The experiments in the journeys table, the one with the latest start first."""
    t = journeys
    query = (
        sa.select(t.c.experiment)
        .where(t.c.experiment.is_not(None))
        .group_by(t.c.experiment)
        .order_by(sa.func.max(t.c.started_at).desc(), t.c.experiment)
    )
    with reading(source) as connection:
        if connection is None:
            return []
        return [row.experiment for row in connection.execute(query)]


def _week_end(week: str) -> datetime:
    year, number = week.split("-W")
    monday = datetime.fromisocalendar(int(year), int(number), 1).replace(tzinfo=UTC)
    return monday + timedelta(weeks=1)


def _trend(weeks: tuple[VariantWeek, ...]) -> str | None:
    rates = [w.rate for w in weeks if w.settled and w.rate is not None][-TREND_WEEKS:]
    if len(rates) < TREND_WEEKS:
        return None
    steps = list(pairwise(rates))
    if all(later < earlier for earlier, later in steps):
        return "falling"
    if all(later > earlier for earlier, later in steps):
        return "rising"
    return "mixed"


def _verdict(counts: _Counts, control: _Counts, difference: Interval | None, n: int) -> str:
    if counts.exposed < n or control.exposed < n or difference is None:
        return "not_enough_data"
    if difference.low > 0:
        return "better"
    if difference.high < 0:
        return "worse"
    return "inconclusive"


def _rate(counts: _Counts) -> tuple[float | None, Interval | None]:
    if not counts.exposed:
        return None, None
    return counts.conversions / counts.exposed, wilson_interval(counts.conversions, counts.exposed)


def _difference(counts: _Counts, control: _Counts) -> tuple[float | None, Interval | None]:
    if not counts.exposed or not control.exposed:
        return None, None
    interval = newcombe_interval(
        counts.conversions, counts.exposed, control.conversions, control.exposed
    )
    return counts.conversions / counts.exposed - control.conversions / control.exposed, interval


def _counts(source: Source, experiment: str, window: timedelta) -> dict[tuple[str, str], _Counts]:
    """The experiment's journeys counted per variant and signup week, by the database."""
    t = journeys
    with reading(source) as connection:
        if connection is None:
            return {}
        converted = _converted_in_time(connection.dialect.name, window)
        query = (
            sa.select(
                t.c.variant,
                t.c.cohort_week,
                sa.func.count().label("journeys"),
                count_if(t.c.first_email_at.is_not(None)).label("exposed"),
                sa.func.sum(t.c.emails_sent).label("emails_sent"),
                count_if(converted).label("conversions"),
                sa.func.max(t.c.first_email_at).label("last_exposure"),
            )
            .where(t.c.experiment == experiment, t.c.variant.is_not(None))
            .group_by(t.c.variant, t.c.cohort_week)
        )
        return {
            (row.variant, row.cohort_week): _Counts(
                int(row.journeys),
                int(row.exposed or 0),
                int(row.emails_sent or 0),
                int(row.conversions or 0),
                None if row.last_exposure is None else _aware(row.last_exposure),
            )
            for row in connection.execute(query)
        }


def experiment_report(
    source: Source,
    experiment: str | None = None,
    *,
    now: datetime,
    control: str | None = None,
    conversion_window: timedelta = DEFAULT_WINDOW,
    min_sample: int = DEFAULT_MIN_SAMPLE,
    weeks: int = 8,
) -> ExperimentReport:
    """The report of ``experiment`` (default: the one with the latest start).

    ``control`` names the variant the others are compared with; by default the variant named
    ``control``, else the first by name (the table does not keep the experiment's definition:
    pass ``Experiment.control`` from starter/experiment.py when the definition is at hand).
    """
    if conversion_window <= timedelta(0):
        raise ValueError("the conversion window must be longer than 0")
    if min_sample < 0:
        raise ValueError(f"the minimum sample must be 0 or more, not {min_sample}")
    now = _aware(now)
    span = cohort_weeks(now, weeks)
    if experiment is None:
        names = experiment_names(source)
        if not names:
            return ExperimentReport(None, None, min_sample, conversion_window, (), None)
        experiment = names[0]

    counted = _counts(source, experiment, conversion_window)
    totals: dict[str, _Counts] = {}
    for (variant, _), counts in counted.items():
        totals.setdefault(variant, _Counts()).add(counts)
    weekly = {key: counts for key, counts in counted.items() if key[1] in span}

    if control is None and totals:
        named = [v for v in totals if v.lower() == "control"]
        control = named[0] if named else min(totals)
    if control is not None:
        totals.setdefault(control, _Counts())
    order = sorted(totals, key=lambda v: (v != control, v))

    # A week is open until it has ended and its last email 1 has had the whole window.
    settled: dict[str, bool] = {}
    for week in span:
        exposures = [
            c.last_exposure
            for (_, w), c in weekly.items()
            if w == week and c.last_exposure is not None
        ]
        last = max(exposures, default=None)
        settled[week] = _week_end(week) <= now and (last is None or last + conversion_window <= now)

    def week_of(variant: str, week: str) -> VariantWeek:
        counts = weekly.get((variant, week), _Counts())
        rate, interval = _rate(counts)
        if variant == control or control is None:
            difference, difference_interval = None, None
        else:
            difference, difference_interval = _difference(
                counts, weekly.get((control, week), _Counts())
            )
        return VariantWeek(
            week,
            counts.journeys,
            counts.exposed,
            counts.emails_sent,
            counts.conversions,
            rate,
            interval,
            difference,
            difference_interval,
            settled[week],
        )

    results = []
    for variant in order:
        counts = totals[variant]
        baseline = totals[control] if control is not None else _Counts()
        rate, interval = _rate(counts)
        if variant == control:
            difference, difference_interval, verdict = None, None, "control"
        else:
            difference, difference_interval = _difference(counts, baseline)
            verdict = _verdict(counts, baseline, difference_interval, min_sample)
        by_week = tuple(week_of(variant, week) for week in span)
        results.append(
            VariantResult(
                variant,
                counts.journeys,
                counts.exposed,
                counts.emails_sent,
                counts.conversions,
                rate,
                interval,
                difference,
                difference_interval,
                verdict,
                _trend(by_week),
                by_week,
            )
        )
    return ExperimentReport(
        experiment, control, min_sample, conversion_window, tuple(results), _winner(results)
    )


def _winner(results: list[VariantResult]) -> str | None:
    """The best variant that beats control; control when every other variant is worse."""
    challengers = [r for r in results if r.verdict != "control"]
    better = [r for r in challengers if r.verdict == "better"]
    if better:
        return max(better, key=lambda r: r.rate or 0.0).variant
    if challengers and all(r.verdict == "worse" for r in challengers):
        return next(r.variant for r in results if r.verdict == "control")
    return None


CSV_COLUMNS = (
    "variant",
    "week",
    "journeys",
    "exposed",
    "emails_sent",
    "conversions",
    "rate",
    "rate_low",
    "rate_high",
    "difference",
    "difference_low",
    "difference_high",
    "verdict",
    "trend",
    "settled",
)


def to_csv(report: ExperimentReport) -> str:
    """One line per variant over the whole experiment (week ``all``), then one per variant and
    week; fractions to 4 places, empty where there is nothing to compute."""

    def number(value: float | None) -> str:
        return "" if value is None else f"{value:.4f}"

    def bounds(interval: Interval | None) -> list[str]:
        return ["", ""] if interval is None else [number(interval.low), number(interval.high)]

    def line(variant: str, week: str, counts: VariantResult | VariantWeek) -> list[object]:
        return [
            variant,
            week,
            counts.journeys,
            counts.exposed,
            counts.emails_sent,
            counts.conversions,
            number(counts.rate),
            *bounds(counts.interval),
            number(counts.difference),
            *bounds(counts.difference_interval),
        ]

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for result in report.variants:
        writer.writerow([*line(result.variant, "all", result), result.verdict, result.trend, ""])
    for result in report.variants:
        for week in result.weeks:
            settled = "yes" if week.settled else "no"
            writer.writerow([*line(result.variant, week.week, week), "", "", settled])
    return out.getvalue()
