"""The funnel: signups by week of signup (cohorts), and how far each cohort got.

For each ISO week (``2026-W49``, the journeys table's ``cohort_week``: the week of the signup,
else of the journey's start), how many journeys started, and of those how many were enriched,
went enterprise (a sales alert was posted), had an integrated stack (a matched technology), got
email 1, 2 and 3, and converted (ended by the ``convert`` signal); each also as a rate of those
started. Counted by the database (one ``GROUP BY cohort_week``), on SQLite and PostgreSQL alike.

Cohorts run oldest first, ending with the current week, as a chart reads them; a week without
signups is listed with zeros, so a gap shows as a gap rather than vanishing.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from activities.journey_table import cohort_week
from activities.warehouse import Warehouse, journeys
from workflows.models import Outcome

# A warehouse, its engine, or a connection already open (a page's request, a test's transaction).
Source = Warehouse | sa.Engine | sa.Connection

# The funnel's stages after "started", in the order a journey reaches them.
STAGES = (
    "enriched",
    "enterprise",
    "integrated",
    "email_1",
    "email_2",
    "email_3",
    "converted",
)


@dataclass(frozen=True)
class Cohort:
    """The journeys that signed up in one ISO week, and how many reached each stage."""

    week: str
    started: int
    enriched: int
    enterprise: int
    integrated: int
    email_1: int
    email_2: int
    email_3: int
    converted: int

    def count(self, stage: str) -> int:
        if stage not in STAGES:
            raise ValueError(f"unknown funnel stage {stage!r}; choose from {', '.join(STAGES)}")
        value: int = getattr(self, stage)
        return value

    def rate(self, stage: str) -> float | None:
        """The share of the cohort's journeys that reached ``stage``; None for an empty week."""
        return self.count(stage) / self.started if self.started else None

    @property
    def rates(self) -> dict[str, float | None]:
        return {stage: self.rate(stage) for stage in STAGES}

    def to_dict(self) -> dict[str, Any]:
        counts = {stage: self.count(stage) for stage in STAGES}
        return {"week": self.week, "started": self.started, **counts, "rates": self.rates}


def _aware(now: datetime) -> datetime:
    return now if now.tzinfo is not None else now.replace(tzinfo=UTC)


def cohort_weeks(now: datetime, weeks: int) -> list[str]:
    """The ``weeks`` ISO weeks ending with the one ``now`` falls in (UTC), oldest first."""
    if weeks < 1:
        raise ValueError(f"weeks must be 1 or more, not {weeks}")
    now = _aware(now)
    return [cohort_week(now - timedelta(weeks=back)) for back in reversed(range(weeks))]


@contextmanager
def reading(source: Source) -> Iterator[sa.Connection | None]:
    """A connection to read the journeys table through; None while the table does not exist yet
    (a warehouse no journey has written to), which reads as no journeys at all."""
    if isinstance(source, sa.Connection):
        yield source if sa.inspect(source).has_table(journeys.name) else None
        return
    engine = source.engine if isinstance(source, Warehouse) else source
    with engine.connect() as connection:
        yield connection if sa.inspect(connection).has_table(journeys.name) else None


def count_if(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
    """``SUM(CASE WHEN condition THEN 1 ELSE 0 END)``: rows matching, within a group."""
    return sa.func.sum(sa.case((condition, 1), else_=0))


def funnel(source: Source, weeks: int, now: datetime) -> list[Cohort]:
    """The last ``weeks`` signup weeks up to ``now``'s, oldest first, empty weeks included."""
    span = cohort_weeks(now, weeks)
    t = journeys
    query = (
        sa.select(
            t.c.cohort_week,
            sa.func.count().label("started"),
            count_if(t.c.enriched).label("enriched"),
            count_if(t.c.sales_alerted).label("enterprise"),
            count_if(t.c.matched_technology.is_not(None)).label("integrated"),
            count_if(t.c.emails_sent >= 1).label("email_1"),
            count_if(t.c.emails_sent >= 2).label("email_2"),
            count_if(t.c.emails_sent >= 3).label("email_3"),
            count_if(t.c.outcome == Outcome.CONVERTED.value).label("converted"),
        )
        # "2026-W49" strings sort as the weeks do, so the range is one indexed BETWEEN.
        .where(t.c.cohort_week.between(span[0], span[-1]))
        .group_by(t.c.cohort_week)
    )
    found: dict[str, Cohort] = {}
    with reading(source) as connection:
        if connection is not None:
            for row in connection.execute(query):
                counts = {stage: int(row._mapping[stage] or 0) for stage in STAGES}
                found[row.cohort_week] = Cohort(row.cohort_week, int(row.started), **counts)
    empty = dict.fromkeys(STAGES, 0)
    return [found.get(week) or Cohort(week, 0, **empty) for week in span]


def to_dict(cohorts: list[Cohort]) -> dict[str, Any]:
    """``{"cohorts": [{"week": "2026-W49", "started": n, "enriched": n, ..., "rates": {...}}]}``;
    a rate is null for a week without signups."""
    return {"cohorts": [cohort.to_dict() for cohort in cohorts]}


CSV_COLUMNS = ("week", "started", *STAGES, *(f"{stage}_rate" for stage in STAGES))


def to_csv(cohorts: list[Cohort]) -> str:
    """One line per cohort: the counts, then the rates as fractions to 4 places (empty for a
    week without signups)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for cohort in cohorts:
        rates = [cohort.rate(stage) for stage in STAGES]
        writer.writerow(
            [
                cohort.week,
                cohort.started,
                *(cohort.count(stage) for stage in STAGES),
                *("" if rate is None else f"{rate:.4f}" for rate in rates),
            ]
        )
    return out.getvalue()
