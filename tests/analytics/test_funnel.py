"""The funnel counted from a seeded journeys table, on SQLite and PostgreSQL, equals the counts
worked out by hand; and its CSV, JSON and command forms say the same."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer import Typer
from typer.testing import CliRunner

from activities.contracts import JourneyProgress
from activities.warehouse import Warehouse
from analytics.funnel import STAGES, Cohort, cohort_weeks, funnel, to_csv, to_dict
from cli.analytics import funnel_command
from tests.analytics import KINDS, warehouse_of

# A Wednesday in 2026-W50: with 4 weeks, the funnel covers W47, W48, W49 and W50.
NOW = datetime(2026, 12, 9, 12, 0, tzinfo=UTC)
W46 = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)
W47 = datetime(2026, 11, 17, 9, 0, tzinfo=UTC)
W48 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
W50 = datetime(2026, 12, 8, 9, 0, tzinfo=UTC)


@pytest.fixture(params=KINDS)
def warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Warehouse]:
    yield from warehouse_of(request.param, tmp_path)


def journey(
    signed_up: datetime | None, *, started: datetime | None = None, **fields: object
) -> JourneyProgress:
    return JourneyProgress.model_validate(
        {"progress": 5, "started_at": started or signed_up, "signed_up_at": signed_up, **fields}
    )


EMAILED: dict[str, Any] = {"enriched": True, "matched_technology": "segment"}

SEEDED = {
    # 2026-W48, five journeys:
    "onboarding-w48-enterprise": journey(
        W48, enriched=True, sales_alerted=True, outcome="sales_alerted", ended_at=W48
    ),
    "onboarding-w48-completed": journey(
        W48, **EMAILED, emails_sent=3, first_email_at=W48, outcome="emails_completed"
    ),
    "onboarding-w48-converted": journey(
        W48, **EMAILED, emails_sent=1, first_email_at=W48, outcome="converted", ended_at=W50
    ),
    "onboarding-w48-not-enriched": journey(W48, outcome="not_enriched", ended_at=W48),
    # signed up in W48, imported (started) in W50: its cohort is the signup's week.
    "onboarding-w48-imported": journey(W48, started=W50, enriched=True),
    # 2026-W49: nobody.
    # 2026-W50, two journeys still under way or ended:
    "onboarding-w50-second-email": journey(W50, **EMAILED, emails_sent=2, first_email_at=W50),
    "onboarding-w50-no-integration": journey(W50, enriched=True, outcome="no_integration"),
    # 2026-W47: no signup time, so the cohort is the week the journey started.
    "onboarding-w47-invalid": journey(None, started=W47, outcome="invalid_email"),
    # 2026-W46: before the four weeks, counted nowhere.
    "onboarding-w46-converted": journey(
        W46, **EMAILED, emails_sent=1, first_email_at=W46, outcome="converted", ended_at=W47
    ),
}

# By hand, from the rows above:
#   W47: started 1; enriched 0 … converted 0.
#   W48: started 5; enriched 4 (all but not-enriched), enterprise 1, integrated 2 (completed,
#        converted), email_1 2, email_2 1, email_3 1 (completed), converted 1.
#        Rates: 4/5 = 0.8, 1/5 = 0.2, 2/5 = 0.4, 0.4, 0.2, 0.2, 0.2.
#   W49: started 0, every rate None.
#   W50: started 2; enriched 2, enterprise 0, integrated 1, email_1 1, email_2 1, email_3 0,
#        converted 0. Rates: 1.0, 0.0, 0.5, 0.5, 0.5, 0.0, 0.0.
EXPECTED = [
    Cohort("2026-W47", 1, 0, 0, 0, 0, 0, 0, 0),
    Cohort("2026-W48", 5, 4, 1, 2, 2, 1, 1, 1),
    Cohort("2026-W49", 0, 0, 0, 0, 0, 0, 0, 0),
    Cohort("2026-W50", 2, 2, 0, 1, 1, 1, 0, 0),
]


def seed(warehouse: Warehouse) -> None:
    for journey_id, progress in SEEDED.items():
        warehouse.record_journey(journey_id, "run-1", progress)


def test_the_funnel_equals_the_hand_count(warehouse: Warehouse) -> None:
    seed(warehouse)
    assert funnel(warehouse, 4, NOW) == EXPECTED
    w48 = funnel(warehouse, 4, NOW)[1]
    assert w48.rates == {
        "enriched": 0.8,
        "enterprise": 0.2,
        "integrated": 0.4,
        "email_1": 0.4,
        "email_2": 0.2,
        "email_3": 0.2,
        "converted": 0.2,
    }
    assert all(rate is None for rate in EXPECTED[2].rates.values())


def test_the_funnel_reads_through_an_engine_or_an_open_connection(warehouse: Warehouse) -> None:
    seed(warehouse)
    assert funnel(warehouse.engine, 4, NOW) == EXPECTED
    with warehouse.engine.connect() as connection:
        assert funnel(connection, 4, NOW) == EXPECTED


def test_a_longer_span_reaches_older_cohorts(warehouse: Warehouse) -> None:
    seed(warehouse)
    cohorts = funnel(warehouse, 5, NOW)
    assert [c.week for c in cohorts] == ["2026-W46", *(c.week for c in EXPECTED)]
    assert cohorts[0] == Cohort("2026-W46", 1, 1, 0, 1, 1, 0, 0, 1)


def test_a_warehouse_no_journey_wrote_to_has_empty_weeks(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    assert [c.started for c in funnel(engine, 3, NOW)] == [0, 0, 0]
    engine.dispose()


def test_the_weeks_cross_the_new_year() -> None:
    # 2026 has 53 ISO weeks; 2027-01-05 is in 2027-W01.
    now = datetime(2027, 1, 5, tzinfo=UTC)
    assert cohort_weeks(now, 3) == ["2026-W52", "2026-W53", "2027-W01"]
    assert cohort_weeks(now.replace(tzinfo=None), 1) == ["2027-W01"]  # naive means UTC
    with pytest.raises(ValueError, match="weeks must be 1 or more"):
        cohort_weeks(now, 0)


def test_json_and_csv_say_the_same() -> None:
    as_dict = to_dict(EXPECTED)
    assert json.loads(json.dumps(as_dict)) == as_dict
    assert as_dict["cohorts"][1] == {
        "week": "2026-W48",
        "started": 5,
        "enriched": 4,
        "enterprise": 1,
        "integrated": 2,
        "email_1": 2,
        "email_2": 1,
        "email_3": 1,
        "converted": 1,
        "rates": {
            "enriched": 0.8,
            "enterprise": 0.2,
            "integrated": 0.4,
            "email_1": 0.4,
            "email_2": 0.2,
            "email_3": 0.2,
            "converted": 0.2,
        },
    }
    assert as_dict["cohorts"][2]["rates"]["converted"] is None
    rows = list(csv.DictReader(io.StringIO(to_csv(EXPECTED))))
    assert [r["week"] for r in rows] == ["2026-W47", "2026-W48", "2026-W49", "2026-W50"]
    assert rows[1]["started"] == "5" and rows[1]["enriched_rate"] == "0.8000"
    assert rows[2]["converted_rate"] == ""
    for stage in STAGES:
        assert rows[3][stage] == str(EXPECTED[3].count(stage))


def commands() -> Typer:
    app = Typer()
    app.command("funnel")(funnel_command)
    app.command("other")(lambda: None)  # two commands, so "funnel" is a subcommand as in main
    return app


def test_the_command_prints_the_funnel(tmp_path: Path) -> None:
    # The command counts up to this week: seed the current and the previous week.
    now = datetime.now(UTC)
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    warehouse = Warehouse(url)
    warehouse.record_journey("onboarding-a", "r", journey(now, enriched=True, emails_sent=1))
    warehouse.record_journey("onboarding-b", "r", journey(now - timedelta(weeks=1)))
    warehouse.close()
    runner = CliRunner()
    env = {"WAREHOUSE_URL": url}

    table = runner.invoke(commands(), ["funnel", "--weeks", "2"], env=env)
    assert table.exit_code == 0, table.output
    assert "1 (100.0%)" in table.output  # this week: one started, one enriched

    as_json = runner.invoke(commands(), ["funnel", "--weeks", "2", "--format", "json"], env=env)
    cohorts = json.loads(as_json.output)["cohorts"]
    assert [(c["started"], c["enriched"], c["email_1"]) for c in cohorts] == [(1, 0, 0), (1, 1, 1)]

    as_csv = runner.invoke(commands(), ["funnel", "--weeks", "2", "--format", "csv"], env=env)
    assert as_csv.output.splitlines()[0].startswith("week,started,enriched,")
    assert len(as_csv.output.splitlines()) == 3


def test_the_command_says_in_one_line_when_the_warehouse_is_down() -> None:
    env = {"WAREHOUSE_URL": "postgresql+psycopg://nobody:secret-pw@127.0.0.1:1/none"}
    result = CliRunner().invoke(commands(), ["funnel"], env=env)
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "error: cannot read the journeys table (OperationalError); check WAREHOUSE_URL"
    ]
    assert "secret-pw" not in result.output


def test_the_command_refuses_no_weeks() -> None:
    result = CliRunner().invoke(commands(), ["funnel", "--weeks", "0"])
    assert result.exit_code == 2
