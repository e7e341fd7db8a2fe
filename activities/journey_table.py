"""The warehouse's ``journeys`` table: one row per journey, upserted as it moves.

It is the shared record of every journey (started, segment, providers, integration, experiment,
emails, outcome) that the funnel and the experiments are counted from, and what stays of a journey
after the namespace's retention deletes its history. Keyed by workflow ID; no address, no name.

A write carries the journey's progress (its steps so far) and its start time: a row only ever
moves forward, so a retried or late write of an earlier snapshot never undoes a later one, and a
new run of the same journey replaces the row of the run before.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite

from activities.contracts import JourneyProgress

ROLE_COLUMNS = {
    "enrichment": "enrichment_provider",
    "technographics": "technographics_provider",
    "sales_alert": "sales_alert_provider",
    "email": "email_provider",
}


def journeys_table(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        "journeys",
        metadata,
        sa.Column("journey_id", sa.String(255), primary_key=True),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("progress", sa.Integer, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("signed_up_at", sa.DateTime(timezone=True), nullable=True),
        # ISO week of the signup (else of the start), "2026-W49": the funnel's cohort.
        sa.Column("cohort_week", sa.String(8), nullable=False, index=True),
        sa.Column("enriched", sa.Boolean, nullable=False),
        sa.Column("segment", sa.String(16), nullable=True),
        sa.Column("company_employees", sa.Integer, nullable=True),
        *(sa.Column(column, sa.String(64), nullable=True) for column in ROLE_COLUMNS.values()),
        sa.Column("sales_alerted", sa.Boolean, nullable=False),
        sa.Column("matched_technology", sa.String(64), nullable=True),
        sa.Column("experiment", sa.String(64), nullable=True, index=True),
        sa.Column("variant", sa.String(64), nullable=True),
        sa.Column("emails_sent", sa.Integer, nullable=False),
        sa.Column("first_email_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(32), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def cohort_week(moment: datetime) -> str:
    """``2026-W49``: the ISO week of ``moment`` in UTC."""
    year, week, _ = moment.astimezone(UTC).isocalendar()
    return f"{year}-W{week:02d}"


def _utc(moment: datetime | None) -> datetime | None:
    return moment.astimezone(UTC) if moment is not None else None


def journey_row(journey_id: str, run_id: str, journey: JourneyProgress) -> dict[str, Any]:
    row: dict[str, Any] = {
        "journey_id": journey_id,
        "run_id": run_id,
        "progress": journey.progress,
        "started_at": _utc(journey.started_at),
        "signed_up_at": _utc(journey.signed_up_at),
        "cohort_week": cohort_week(journey.signed_up_at or journey.started_at),
        "enriched": journey.enriched,
        "segment": journey.segment,
        "company_employees": journey.company_employees,
        "sales_alerted": journey.sales_alerted,
        "matched_technology": journey.matched_technology,
        "experiment": journey.experiment,
        "variant": journey.variant,
        "emails_sent": journey.emails_sent,
        "first_email_at": _utc(journey.first_email_at),
        "outcome": journey.outcome,
        "ended_at": _utc(journey.ended_at),
        "updated_at": datetime.now(UTC),
    }
    row.update({column: journey.providers.get(role) for role, column in ROLE_COLUMNS.items()})
    return row


def upsert_journey(connection: sa.Connection, table: sa.Table, row: dict[str, Any]) -> None:
    """Insert the row, or move the existing one forward to it (never back)."""
    updates = {k: v for k, v in row.items() if k != "journey_id"}
    dialect = connection.dialect.name
    if dialect in ("postgresql", "sqlite"):
        insert = (postgresql if dialect == "postgresql" else sqlite).insert(table).values(row)
        newer = (insert.excluded.started_at > table.c.started_at) | (
            (insert.excluded.started_at == table.c.started_at)
            & (insert.excluded.progress >= table.c.progress)
        )
        connection.execute(
            insert.on_conflict_do_update(index_elements=["journey_id"], set_=updates, where=newer)
        )
        return
    if dialect in ("mysql", "mariadb"):
        # No conditional upsert: an earlier snapshot written late wins until the next write.
        connection.execute(mysql.insert(table).values(row).on_duplicate_key_update(**updates))
        return
    key = table.c.journey_id == row["journey_id"]
    current = connection.execute(sa.select(table.c.started_at, table.c.progress).where(key)).first()
    if current is None:
        connection.execute(table.insert().values(row))
    elif (row["started_at"], row["progress"]) >= (current.started_at, current.progress):
        connection.execute(table.update().where(key).values(updates))
