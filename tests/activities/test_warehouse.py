"""The warehouse on SQLite and on the PostgreSQL at 127.0.0.1:5432: saves are upserts keyed by
journey and step."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from activities.contracts import WarehouseRecord
from activities.warehouse import Warehouse

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def postgres_reachable() -> str | None:
    try:
        with sa.create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3}).connect():
            return None
    except Exception as exc:
        return f"no PostgreSQL at 127.0.0.1:5432 (database 'test'): {type(exc).__name__}"


@pytest.fixture(params=["sqlite", "postgresql"])
def warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> Warehouse:
    if request.param == "postgresql":
        reason = postgres_reachable()
        if reason:
            pytest.skip(reason)
        return Warehouse(POSTGRES_URL)
    return Warehouse(f"sqlite:///{tmp_path / 'warehouse.db'}")


def test_saving_twice_keeps_one_row_per_journey_and_step(warehouse: Warehouse) -> None:
    journey = f"onboarding-{uuid.uuid4().hex[:8]}"
    first = WarehouseRecord(step="enrichment", vendor="clearbit", payload={"v": 1})
    warehouse.save(journey, "run-1", first)
    warehouse.save(journey, "run-1", first)
    warehouse.save(journey, "run-1", first.model_copy(update={"payload": {"v": 2, "ü": "✓"}}))
    warehouse.save(
        journey,
        "run-1",
        WarehouseRecord(step="technographics", vendor="builtwith", payload={"t": []}),
    )
    rows = warehouse.rows(journey)
    assert [(r["step"], r["payload"]) for r in rows] == [
        ("enrichment", {"v": 2, "ü": "✓"}),
        ("technographics", {"t": []}),
    ]


def test_a_step_saved_by_another_provider_stays_one_row(warehouse: Warehouse) -> None:
    """Steps are roles: a provider swap changes the row's provider, never adds a second row."""
    journey = f"onboarding-{uuid.uuid4().hex[:8]}"
    warehouse.save(journey, "r", WarehouseRecord(step="enrichment", vendor="clearbit", payload={}))
    warehouse.save(
        journey,
        "r",
        WarehouseRecord(step="enrichment", vendor="peopledatalabs", payload={"status": 200}),
    )
    rows = warehouse.rows(journey)
    assert [(r["step"], r["vendor"], r["payload"]) for r in rows] == [
        ("enrichment", "peopledatalabs", {"status": 200})
    ]


def test_journeys_do_not_share_rows(warehouse: Warehouse) -> None:
    a, b = (f"onboarding-{uuid.uuid4().hex[:8]}" for _ in range(2))
    record = WarehouseRecord(step="enrichment", vendor="clearbit", payload={})
    warehouse.save(a, "r", record)
    warehouse.save(b, "r", record)
    assert len(warehouse.rows(a)) == len(warehouse.rows(b)) == 1


def test_a_warehouse_that_is_down_is_a_retryable_failure(tmp_path: Path) -> None:
    import dataclasses

    from temporalio.exceptions import ApplicationError
    from temporalio.testing import ActivityEnvironment

    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, workflow_id="onboarding-x", workflow_run_id="r")
    down = Warehouse("postgresql+psycopg://nobody:secret-pw@127.0.0.1:1/none")
    record = WarehouseRecord(step="s", vendor="v", payload={})
    with pytest.raises(ApplicationError) as raised:
        env.run(down.save_activity, record)
    assert not raised.value.non_retryable
    assert "Warehouse unavailable" in str(raised.value)
    assert "secret-pw" not in str(raised.value)


def test_a_journeys_row_only_moves_forward(warehouse: Warehouse) -> None:
    """A retried or late write of an earlier snapshot never undoes a later one; a new run of the
    same journey replaces the row of the run before."""
    from datetime import UTC, datetime, timedelta

    from activities.contracts import JourneyProgress

    journey = f"onboarding-{uuid.uuid4().hex[:8]}"
    started = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
    early = JourneyProgress(progress=3, started_at=started, enriched=True, segment="smb")
    later = early.model_copy(update={"progress": 7, "emails_sent": 1, "first_email_at": started})
    warehouse.record_journey(journey, "run-1", early)
    warehouse.record_journey(journey, "run-1", later)
    warehouse.record_journey(journey, "run-1", early)  # a late retry of the earlier write
    [row] = warehouse.journeys(journey)
    assert (row["progress"], row["emails_sent"], row["segment"]) == (7, 1, "smb")
    assert row["cohort_week"] == "2026-W50"

    rerun = JourneyProgress(progress=1, started_at=started + timedelta(days=1))
    warehouse.record_journey(journey, "run-2", rerun)
    [row] = warehouse.journeys(journey)
    assert (row["run_id"], row["progress"], row["emails_sent"]) == ("run-2", 1, 0)


def test_a_payload_save_writes_the_journeys_row_with_it(warehouse: Warehouse) -> None:
    from datetime import UTC, datetime

    from activities.contracts import JourneyProgress

    journey = f"onboarding-{uuid.uuid4().hex[:8]}"
    row = JourneyProgress(
        progress=2,
        started_at=datetime(2026, 12, 1, tzinfo=UTC),
        signed_up_at=datetime(2026, 11, 29, 23, 0, tzinfo=UTC),
        providers={"enrichment": "peopledatalabs"},
    )
    warehouse.save(journey, "r", WarehouseRecord(step="e", vendor="v", payload={}, journey=row))
    [saved] = warehouse.journeys(journey)
    assert saved["enrichment_provider"] == "peopledatalabs"
    assert saved["cohort_week"] == "2026-W48"  # the signup's week, not the start's
