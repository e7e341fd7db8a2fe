"""The experiment report from a seeded journeys table, on SQLite and PostgreSQL, equals the
counts, rates and intervals worked out by hand; a falling variant shows as falling; no winner is
declared below the minimum sample."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer import Typer
from typer.testing import CliRunner

from activities.contracts import JourneyProgress
from activities.warehouse import Warehouse
from analytics.experiments import experiment_names, experiment_report, to_csv
from cli.analytics import experiments_command
from tests.analytics import KINDS, warehouse_of

# A Wednesday in 2027-W03: six weeks back reach 2026-W51 (2026 has a W53).
NOW = datetime(2027, 1, 20, 12, 0, tzinfo=UTC)
WEEKS = ["2026-W51", "2026-W52", "2026-W53", "2027-W01", "2027-W02", "2027-W03"]
W40 = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
W51 = datetime(2026, 12, 15, 9, 0, tzinfo=UTC)
W52 = datetime(2026, 12, 22, 9, 0, tzinfo=UTC)
W53 = datetime(2026, 12, 29, 9, 0, tzinfo=UTC)
# A Friday: its emails of Jan 8 have had only 12 days of the 14-day window by NOW.
W01 = datetime(2027, 1, 8, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
WINDOW = timedelta(days=14)

# One journey: (signup, emails sent, outcome, when it ended after email 1). Email 1 goes an hour
# after the signup; a journey with 0 emails never got it.
Row = tuple[datetime, int, str | None, timedelta | None]


def converted(signup: datetime, after: timedelta, emails: int = 1) -> Row:
    return (signup, emails, "converted", after)


def ended(signup: datetime, outcome: str, emails: int) -> Row:
    return (signup, emails, outcome, DAY * 20)


SUBJECT = {
    "short-subject": [
        # W51: 3 of 4 converted in time, one exactly at the end of the window (it counts).
        converted(W51, 2 * DAY),
        converted(W51, 2 * DAY),
        converted(W51, WINDOW, emails=3),
        ended(W51, "emails_completed", 3),
        # W52: 2 of 4; a third converted one second too late.
        converted(W52, DAY),
        converted(W52, 3 * DAY, emails=2),
        converted(W52, WINDOW + timedelta(seconds=1), emails=3),
        ended(W52, "unsubscribed", 2),
        # W53: 1 of 4, and one that converted before email 1 (not exposed, not a conversion).
        converted(W53, 2 * DAY),
        ended(W53, "emails_completed", 3),
        ended(W53, "emails_completed", 3),
        ended(W53, "unsubscribed", 2),
        (W53, 0, "converted", None),
        # 2027-W01, still open: 1 of 2 so far.
        converted(W01, DAY),
        (W01, 1, None, None),
    ],
    "control": [
        # W40, before the six weeks: in the totals only. 1 of 2.
        converted(W40, 2 * DAY),
        ended(W40, "emails_completed", 3),
        # W51: 1 of 4.
        converted(W51, 3 * DAY, emails=2),
        ended(W51, "emails_completed", 3),
        ended(W51, "emails_completed", 3),
        ended(W51, "emails_completed", 3),
        # W52: 2 of 4.
        converted(W52, DAY),
        converted(W52, 5 * DAY, emails=2),
        ended(W52, "emails_completed", 3),
        ended(W52, "unsubscribed", 2),
        # W53: 1 of 4.
        converted(W53, 2 * DAY),
        ended(W53, "emails_completed", 3),
        ended(W53, "emails_completed", 3),
        ended(W53, "emails_completed", 3),
        # 2027-W01: 0 of 2 so far.
        (W01, 1, None, None),
        (W01, 1, None, None),
    ],
}

# An older experiment without a variant named control: "long" (first by name) is its control.
# long: 2 of 20 converted; short: 16 of 20.
OCTOBER = datetime(2026, 10, 5, 9, 0, tzinfo=UTC)
WELCOME = {
    "long": [converted(OCTOBER, DAY)] * 2 + [ended(OCTOBER, "emails_completed", 3)] * 18,
    "short": [converted(OCTOBER, DAY)] * 16 + [ended(OCTOBER, "emails_completed", 3)] * 4,
}


def progress(experiment: str | None, variant: str | None, row: Row) -> JourneyProgress:
    signup, emails, outcome, after = row
    first_email = signup + timedelta(hours=1) if emails else None
    if outcome is None:
        ended_at = None
    elif first_email is None or after is None:
        ended_at = signup + timedelta(minutes=30)
    else:
        ended_at = first_email + after
    return JourneyProgress(
        progress=5,
        started_at=signup,
        signed_up_at=signup,
        experiment=experiment,
        variant=variant,
        emails_sent=emails,
        first_email_at=first_email,
        outcome=outcome,
        ended_at=ended_at,
    )


def seed(warehouse: Warehouse) -> None:
    for experiment, variants in (("subject-2026-12", SUBJECT), ("welcome-2026-10", WELCOME)):
        for variant, rows in variants.items():
            for number, row in enumerate(rows):
                journey_id = f"onboarding-{experiment}-{variant}-{number}"
                warehouse.record_journey(journey_id, "run-1", progress(experiment, variant, row))
    # A journey outside any experiment is counted in none.
    warehouse.record_journey("onboarding-plain", "run-1", progress(None, None, converted(W52, DAY)))


@pytest.fixture(params=KINDS)
def warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Warehouse]:
    for opened in warehouse_of(request.param, tmp_path):
        seed(opened)
        yield opened


def approx(value: float) -> object:
    return pytest.approx(value, abs=5e-5)


def test_the_totals_equal_the_hand_count(warehouse: Warehouse) -> None:
    report = experiment_report(warehouse, now=NOW, weeks=6)
    # The most recent experiment, control first.
    assert report.experiment == "subject-2026-12"
    assert report.control == "control"
    assert [v.variant for v in report.variants] == ["control", "short-subject"]
    control, short = report.variants

    # control: 16 journeys, all got email 1; conversions 1 (W40) + 1 + 2 + 1 = 5.
    # emails: W40 1+3, W51 2+3+3+3, W52 1+2+3+2, W53 1+3+3+3, W01 1+1 = 4+11+8+10+2 = 35.
    assert (control.journeys, control.exposed, control.emails_sent, control.conversions) == (
        16,
        16,
        35,
        5,
    )
    # short-subject: 15 journeys, 14 got email 1; conversions 3 + 2 + 1 + 1 = 7 (the late one
    # and the one before email 1 do not count).
    # emails: W51 1+1+3+3, W52 1+2+3+2, W53 1+3+3+2+0, W01 1+1 = 8+8+9+2 = 27.
    assert (short.journeys, short.exposed, short.emails_sent, short.conversions) == (15, 14, 27, 7)

    # control 5/16 = 0.3125; Wilson: denom = 1 + 3.841459/16 = 1.240091,
    # centre = (0.3125 + 0.120046) / 1.240091 = 0.348801,
    # half = 1.959964·√(0.013428 + 0.003751) / 1.240091 = 0.207155 → (0.1416, 0.5560).
    assert control.rate == 0.3125
    assert control.interval == (approx(0.1416), approx(0.5560))
    # short 7/14 = 0.5; Wilson: denom = 1.274390, centre = 0.5,
    # half = 1.959964·√(0.017857 + 0.004900) / 1.274390 = 0.232008 → (0.2680, 0.7320).
    assert short.rate == 0.5
    assert short.interval == (approx(0.2680), approx(0.7320))
    # difference 0.5 - 0.3125 = 0.1875; Newcombe:
    # low  = 0.1875 - √((0.5 - 0.267992)² + (0.555956 - 0.3125)²)
    #      = 0.1875 - √(0.053828 + 0.059271) = 0.1875 - 0.336301 = -0.1488
    # high = 0.1875 + √((0.732008 - 0.5)² + (0.3125 - 0.141646)²)
    #      = 0.1875 + √(0.053828 + 0.029191) = 0.1875 + 0.288130 = 0.4756
    assert short.difference == 0.1875
    assert short.difference_interval == (approx(-0.1488), approx(0.4756))
    assert control.difference is None and control.difference_interval is None

    # 14 and 16 got email 1, below the default 100: nothing is declared.
    assert report.min_sample == 100
    assert (control.verdict, short.verdict, report.winner) == ("control", "not_enough_data", None)


def test_by_week_a_falling_variant_shows_as_falling(warehouse: Warehouse) -> None:
    report = experiment_report(warehouse, "subject-2026-12", now=NOW, weeks=6)
    control, short = report.variants
    assert [w.week for w in short.weeks] == WEEKS
    assert [(w.conversions, w.exposed) for w in short.weeks] == [
        (3, 4),
        (2, 4),
        (1, 4),
        (1, 2),
        (0, 0),
        (0, 0),
    ]
    assert [w.rate for w in short.weeks] == [0.75, 0.5, 0.25, 0.5, None, None]
    assert [(w.conversions, w.exposed) for w in control.weeks] == [
        (1, 4),
        (2, 4),
        (1, 4),
        (0, 2),
        (0, 0),
        (0, 0),
    ]
    # W01's last email 1 (Jan 8, 10:00) has its window until Jan 22; W03 has not ended.
    assert [w.settled for w in short.weeks] == [True, True, True, False, True, False]
    # Settled weeks with data: 0.75, 0.5, 0.25 → falling (W01's 0.5 is still open: ignored).
    assert short.trend == "falling"
    # 0.25, 0.5, 0.25 → mixed.
    assert control.trend == "mixed"

    w51 = short.weeks[0]
    # 3/4 vs 1/4: Wilson (0.300642, 0.954413) and (0.045587, 0.699358), d = 0.5,
    # low = 0.5 - √(0.449358² + 0.449358²) = -0.1355, high = 0.5 + √(0.204413² · 2) = 0.7891.
    assert w51.interval == (approx(0.3006), approx(0.9544))
    assert w51.difference == 0.5
    assert w51.difference_interval == (approx(-0.1355), approx(0.7891))
    # W01: 1/2 vs 0/2; Wilson 1/2 = (0.094531, 0.905469), 0/2 = (0, 0.657620); d = 0.5,
    # low  = 0.5 - √((0.5 - 0.094531)² + (0.657620 - 0)²) = 0.5 - √(0.164405 + 0.432464)
    #      = 0.5 - 0.772573 = -0.2726
    # high = 0.5 + √((0.905469 - 0.5)² + (0 - 0)²) = 0.9055
    w01 = short.weeks[3]
    assert w01.difference_interval == (approx(-0.2726), approx(0.9055))
    assert short.weeks[4].rate is None and short.weeks[4].interval is None
    assert short.weeks[4].difference is None


def test_an_earlier_window_counts_fewer_conversions(warehouse: Warehouse) -> None:
    # Within 2 days: short loses its 3-day and its 14-day conversion (5 of 14); control loses
    # its 3-day and 5-day ones (3 of 16).
    report = experiment_report(
        warehouse, "subject-2026-12", now=NOW, conversion_window=2 * DAY, weeks=6
    )
    assert [v.conversions for v in report.variants] == [3, 5]
    assert report.conversion_window_days == 2


def test_a_winner_needs_the_minimum_sample_and_an_interval_clear_of_zero(
    warehouse: Warehouse,
) -> None:
    # subject: 14 and 16 got email 1, and the difference's interval (-0.1488, 0.4756) holds 0.
    at_14 = experiment_report(warehouse, "subject-2026-12", now=NOW, min_sample=14)
    assert at_14.variant("short-subject").verdict == "inconclusive"
    assert at_14.winner is None
    at_15 = experiment_report(warehouse, "subject-2026-12", now=NOW, min_sample=15)
    assert at_15.variant("short-subject").verdict == "not_enough_data"

    # welcome: short 16/20 vs long 2/20, d = 0.7; Wilson 16/20 = (0.5840, 0.9193) and
    # 2/20 = (0.0279, 0.3010): low = 0.7 - √(0.216017² + 0.201034²) = 0.7 - 0.295090 = 0.4049,
    # high = 0.7 + √(0.119342² + 0.072134²) = 0.7 + 0.139448 = 0.8394: it excludes 0.
    welcome = experiment_report(warehouse, "welcome-2026-10", now=NOW, min_sample=20)
    assert welcome.control == "long"  # no variant named control: the first by name
    short = welcome.variant("short")
    assert short.difference == pytest.approx(0.7)
    assert short.difference_interval == (approx(0.4049), approx(0.8394))
    assert (short.verdict, welcome.winner) == ("better", "short")
    assert experiment_report(warehouse, "welcome-2026-10", now=NOW, min_sample=21).winner is None

    # Compared the other way round, long is worse and the control wins.
    flipped = experiment_report(
        warehouse, "welcome-2026-10", now=NOW, control="short", min_sample=20
    )
    assert [v.variant for v in flipped.variants] == ["short", "long"]
    assert (flipped.variant("long").verdict, flipped.winner) == ("worse", "short")


def test_experiments_are_listed_latest_first(warehouse: Warehouse) -> None:
    assert experiment_names(warehouse) == ["subject-2026-12", "welcome-2026-10"]


def test_an_unknown_experiment_or_none_at_all_reports_nothing(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    report = experiment_report(engine, now=NOW)
    assert (report.experiment, report.variants, report.winner) == (None, (), None)
    assert report.to_dict()["variants"] == []
    engine.dispose()


def test_json_and_csv_say_the_same(warehouse: Warehouse) -> None:
    report = experiment_report(warehouse, now=NOW, weeks=6)
    as_dict = json.loads(json.dumps(report.to_dict()))
    assert {k: as_dict[k] for k in ("experiment", "control", "min_sample", "winner")} == {
        "experiment": "subject-2026-12",
        "control": "control",
        "min_sample": 100,
        "winner": None,
    }
    assert as_dict["conversion_window_days"] == 14
    short = as_dict["variants"][1]
    assert short["variant"] == "short-subject"
    assert (short["journeys"], short["exposed"], short["emails_sent"], short["conversions"]) == (
        15,
        14,
        27,
        7,
    )
    assert short["interval"] == [approx(0.2680), approx(0.7320)]
    assert short["difference_interval"] == [approx(-0.1488), approx(0.4756)]
    assert short["verdict"] == "not_enough_data" and short["trend"] == "falling"
    assert [w["week"] for w in short["weeks"]] == WEEKS
    assert as_dict["variants"][0]["difference_interval"] is None

    rows = list(csv.DictReader(io.StringIO(to_csv(report))))
    totals = [r for r in rows if r["week"] == "all"]
    assert [(r["variant"], r["conversions"], r["rate"]) for r in totals] == [
        ("control", "5", "0.3125"),
        ("short-subject", "7", "0.5000"),
    ]
    assert (totals[1]["difference_low"], totals[1]["difference_high"]) == ("-0.1488", "0.4756")
    assert len(rows) == 2 + 2 * len(WEEKS)
    w01 = next(r for r in rows if r["variant"] == "short-subject" and r["week"] == "2027-W01")
    assert (w01["rate"], w01["settled"]) == ("0.5000", "no")


def commands() -> Typer:
    app = Typer()
    app.command("experiments")(experiments_command)
    app.command("other")(lambda: None)  # two commands, so "experiments" is a subcommand
    return app


def test_the_command_prints_the_report(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    warehouse = Warehouse(url)
    seed(warehouse)
    warehouse.close()
    runner = CliRunner()
    env = {"WAREHOUSE_URL": url}

    table = runner.invoke(commands(), ["experiments", "--min-sample", "14"], env=env)
    assert table.exit_code == 0, table.output
    assert "subject-2026-12" in table.output
    # short-subject's rate and interval in %, its difference against control in points.
    assert "[26.8, 73.2]" in table.output and "+18.8" in table.output
    assert "[-14.9, +47.6]" in table.output
    assert "at least 14 journeys" in table.output

    as_json = runner.invoke(
        commands(),
        ["experiments", "welcome-2026-10", "--format", "json", "--min-sample", "20"],
        env=env,
    )
    assert json.loads(as_json.output)["winner"] == "short"

    as_csv = runner.invoke(
        commands(), ["experiments", "--within", "2d", "--format", "csv"], env=env
    )
    assert as_csv.output.splitlines()[0].startswith("variant,week,journeys,exposed,")


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--within", "two weeks"],
            "error: --within: 'two weeks' is not an offset like 0s, 30m, 12h or 2d",
        ),
        (["--within", "0d"], "error: --within: the conversion window must be longer than 0s"),
        (
            ["--control", "shrot-subject"],
            "error: --control: experiment 'subject-2026-12' has no variant 'shrot-subject'; "
            "its variants: control, short-subject",
        ),
        (
            ["nope-2027"],
            "error: no journey of experiment 'nope-2027'; the warehouse has: subject-2026-12, "
            "welcome-2026-10",
        ),
    ],
)
def test_the_command_refuses_in_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    warehouse = Warehouse(url)
    seed(warehouse)
    warehouse.close()
    result = CliRunner().invoke(commands(), ["experiments", *args], env={"WAREHOUSE_URL": url})
    assert result.exit_code != 0
    assert result.stderr.strip().splitlines() == [message]


def test_the_command_says_so_when_there_is_no_experiment(tmp_path: Path) -> None:
    env = {"WAREHOUSE_URL": f"sqlite:///{tmp_path / 'warehouse.db'}"}
    result = CliRunner().invoke(commands(), ["experiments"], env=env)
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "error: no journey has an email experiment yet; set EMAIL_EXPERIMENT to start one"
    ]
