"""Send windows: their text, and when they open in the reader's time zone, across DST."""

from __future__ import annotations

import importlib
import uuid
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, BeforeValidator, ValidationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from workflows.send_window import ALWAYS_OPEN, SendWindow, parse_send_window, valid_time_zone

MINUTE = timedelta(minutes=1)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def opening(window: str, moment: datetime, zone: str = "UTC") -> datetime | None:
    return SendWindow.parse(window).next_opening(moment, zone)


# The text


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("09:00-18:00", "09:00-18:00"),
        ("mon-fri 09:00-18:00", "mon-fri 09:00-18:00"),
        ("mon,wed,fri 08:30-12:00", "mon,wed,fri 08:30-12:00"),
        ("sat-sun 10:00-16:00", "sat-sun 10:00-16:00"),
        ("00:00-24:00", "00:00-24:00"),
        ("22:00-06:00", "22:00-06:00"),
        ("FRI-Mon 9:00-17:30", "fri-mon 09:00-17:30"),
        ("Monday,tue,sunday 22:00-00:00", "sun-tue 22:00-24:00"),
        ("mon-sun 08:00-20:00", "08:00-20:00"),
        ("tue,mon 08:00-20:00", "mon-tue 08:00-20:00"),
    ],
)
def test_text_round_trips_through_its_canonical_form(text: str, canonical: str) -> None:
    window = SendWindow.parse(text)
    assert str(window) == canonical
    assert SendWindow.parse(str(window)) == window
    assert SendWindow.model_validate_json(window.model_dump_json()) == window


def test_windows_read_as_their_parts() -> None:
    assert SendWindow.parse("fri-mon 22:00-06:00") == SendWindow(
        days=(0, 4, 5, 6), opens=time(22), closes=time(6)
    )
    # 24:00 is midnight at the end of the day: stored as 00:00, the same as writing 00:00.
    assert SendWindow.parse("00:00-24:00") == ALWAYS_OPEN
    assert SendWindow.parse("09:00-24:00") == SendWindow.parse("09:00-00:00")
    assert str(ALWAYS_OPEN) == "00:00-24:00"


class Preferences(BaseModel):
    send_window: Annotated[SendWindow, BeforeValidator(parse_send_window)] = ALWAYS_OPEN


def test_a_model_field_takes_text_or_a_stored_window() -> None:
    from_text = Preferences.model_validate({"send_window": "mon-fri 09:00-18:00"})
    assert from_text.send_window == SendWindow(days=(0, 1, 2, 3, 4), opens=time(9), closes=time(18))
    assert Preferences.model_validate_json(from_text.model_dump_json()) == from_text
    assert Preferences().send_window == ALWAYS_OPEN
    with pytest.raises(ValidationError, match="unknown weekday 'fry'"):
        Preferences.model_validate({"send_window": "mon-fry 09:00-18:00"})


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "it is empty"),
        ("   ", "it is empty"),
        ("mon-fry 09:00-18:00", "unknown weekday 'fry'"),
        ("mon - fri 09:00-18:00", "expected optional weekdays, one space, then the hours"),
        ("mon-fri", "'mon-fri' is not a time range like '09:00-18:00'"),
        ("9h-18h", "'9h-18h' is not a time range like '09:00-18:00'"),
        ("09:00-6pm", "'09:00-6pm' is not a time range like '09:00-18:00'"),
        ("25:00-26:00", "'25:00' is not a time of day from 00:00 to 24:00"),
        ("09:60-10:00", "'09:60' is not a time of day from 00:00 to 24:00"),
        ("09:00-24:30", "'24:30' is not a time of day from 00:00 to 24:00"),
        ("24:00-06:00", "a window cannot open at 24:00"),
        ("09:00-09:00", "it opens and closes at 09:00"),
        ("00:00-00:00", "it opens and closes at 00:00"),
        ("mon--fri 09:00-18:00", "'mon--fri' is not a weekday or a range like 'mon-fri'"),
        ("mon, 09:00-18:00", "'' is not a weekday or a range like 'mon-fri'"),
        ("mon-mon 09:00-18:00", "'mon-mon' starts and ends on the same weekday"),
    ],
)
def test_mistakes_are_named_with_an_example(text: str, problem: str) -> None:
    with pytest.raises(ValueError) as error:
        SendWindow.parse(text)
    assert str(error.value) == f"send window {text!r}: {problem}; write e.g. 'mon-fri 09:00-18:00'"


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"days": (), "opens": "09:00", "closes": "18:00"}, "days must be weekdays"),
        ({"days": (7,), "opens": "09:00", "closes": "18:00"}, "days must be weekdays"),
        ({"days": (0,), "opens": "09:00:30", "closes": "18:00"}, "whole minutes"),
        ({"days": (0,), "opens": "09:00", "closes": "09:00"}, "cannot open and close at 09:00"),
    ],
)
def test_stored_windows_are_checked_too(fields: dict[str, object], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        SendWindow.model_validate(fields)


# When it opens

WORKDAYS = "mon-fri 09:00-18:00"


@pytest.mark.parametrize(
    ("window", "moment", "zone", "expected"),
    [
        ("09:00-18:00", utc(2026, 1, 6, 3), "UTC", utc(2026, 1, 6, 9)),
        ("09:00-18:00", utc(2026, 1, 6, 18), "UTC", utc(2026, 1, 7, 9)),  # closing is exclusive
        ("09:00-18:00", utc(2026, 1, 6, 8, 59, 59), "UTC", utc(2026, 1, 6, 9)),
        ("09:00-18:00", utc(2026, 1, 6, 9), "UTC", None),
        ("09:00-18:00", utc(2026, 1, 6, 17, 59, 59), "UTC", None),
        (WORKDAYS, utc(2026, 1, 2, 19), "UTC", utc(2026, 1, 5, 9)),  # Friday evening → Monday
        (WORKDAYS, utc(2026, 1, 3, 12), "UTC", utc(2026, 1, 5, 9)),  # Saturday noon → Monday
        ("sat-sun 10:00-16:00", utc(2026, 1, 5, 12), "UTC", utc(2026, 1, 10, 10)),
        ("fri-mon 10:00-16:00", utc(2026, 1, 6, 12), "UTC", utc(2026, 1, 9, 10)),
        # Berlin is UTC+1 in winter, UTC+2 in summer.
        ("09:00-18:00", utc(2026, 1, 15, 7), "Europe/Berlin", utc(2026, 1, 15, 8)),
        ("09:00-18:00", utc(2026, 7, 15, 6), "Europe/Berlin", utc(2026, 7, 15, 7)),
        ("09:00-18:00", utc(2026, 7, 15, 16, 30), "Europe/Berlin", utc(2026, 7, 16, 7)),
        # New York is UTC-4 in summer: Friday 18:00 EDT → Monday 09:00 EDT.
        ("mon-fri 09:00-17:00", utc(2026, 7, 17, 22), "America/New_York", utc(2026, 7, 20, 13)),
        ("mon-fri 09:00-17:00", utc(2026, 7, 17, 20), "America/New_York", None),
        # Kathmandu is UTC+05:45.
        ("09:00-18:00", utc(2026, 5, 1), "Asia/Kathmandu", utc(2026, 5, 1, 3, 15)),
        ("09:00-18:00", utc(2026, 5, 1, 12, 15), "Asia/Kathmandu", utc(2026, 5, 2, 3, 15)),
        ("09:00-18:00", utc(2026, 5, 1, 12, 14), "Asia/Kathmandu", None),
    ],
)
def test_next_opening(window: str, moment: datetime, zone: str, expected: datetime | None) -> None:
    assert opening(window, moment, zone) == expected
    assert SendWindow.parse(window).is_open(moment, zone) is (expected is None)


def test_the_opening_is_in_utc_to_the_minute() -> None:
    tokyo = ZoneInfo("Asia/Tokyo")
    found = opening("09:00-18:00", datetime(2026, 1, 6, 3, 7, 42, 5, tzinfo=tokyo), "Asia/Tokyo")
    assert found == utc(2026, 1, 6, 0)  # 09:00 in Tokyo is midnight UTC
    assert found is not None and found.tzinfo is UTC


def test_overnight_windows_belong_to_the_day_they_open() -> None:
    friday_nights = SendWindow.parse("fri 22:00-06:00")
    assert friday_nights.is_open(utc(2026, 1, 9, 22), "UTC")  # Friday 22:00
    assert friday_nights.is_open(utc(2026, 1, 10, 5, 59), "UTC")  # Saturday morning
    assert not friday_nights.is_open(utc(2026, 1, 10, 6), "UTC")
    assert not friday_nights.is_open(utc(2026, 1, 9, 3), "UTC")  # Thursday's night is not allowed
    assert friday_nights.next_opening(utc(2026, 1, 9, 3), "UTC") == utc(2026, 1, 9, 22)
    assert friday_nights.next_opening(utc(2026, 1, 10, 6), "UTC") == utc(2026, 1, 16, 22)
    # In Berlin (UTC+1) Friday 22:00 is 21:00 UTC.
    assert friday_nights.next_opening(utc(2026, 1, 9), "Europe/Berlin") == utc(2026, 1, 9, 21)
    until_midnight = SendWindow.parse("sat 20:00-24:00")
    assert until_midnight.is_open(utc(2026, 1, 10, 23, 59, 59), "UTC")
    assert until_midnight.next_opening(utc(2026, 1, 11), "UTC") == utc(2026, 1, 17, 20)


def test_always_open_is_open_across_every_clock_change() -> None:
    for zone, transition in TRANSITIONS:
        for minutes in range(-90, 91, 15):
            moment = transition + timedelta(minutes=minutes)
            assert ALWAYS_OPEN.is_open(moment, zone), (zone, moment)
            assert ALWAYS_OPEN.next_opening(moment, zone) is None


def test_an_opening_in_the_spring_forward_gap_is_the_end_of_the_gap() -> None:
    # New York, 2026-03-08: the clocks jump from 02:00 EST to 03:00 EDT; 02:30 never happens.
    window = SendWindow.parse("02:30-05:00")
    assert window.next_opening(utc(2026, 3, 8, 5), "America/New_York") == utc(2026, 3, 8, 7)
    assert not window.is_open(utc(2026, 3, 8, 6, 59), "America/New_York")  # 01:59 EST
    assert window.is_open(utc(2026, 3, 8, 7), "America/New_York")  # 03:00 EDT
    assert not window.is_open(utc(2026, 3, 8, 9), "America/New_York")  # 05:00 EDT
    # The day before and after, 02:30 exists: EST on the 7th, EDT on the 9th.
    assert window.next_opening(utc(2026, 3, 7, 5), "America/New_York") == utc(2026, 3, 7, 7, 30)
    assert window.next_opening(utc(2026, 3, 8, 9), "America/New_York") == utc(2026, 3, 9, 6, 30)


def test_a_window_inside_the_gap_does_not_open_that_day() -> None:
    # Lord Howe Island, 2026-10-04: clocks jump 30 minutes, from 02:00 (+10:30) to 02:30 (+11).
    inside = SendWindow.parse("02:00-02:30")
    assert inside.next_opening(utc(2026, 10, 3, 12), "Australia/Lord_Howe") == utc(2026, 10, 4, 15)
    straddling = SendWindow.parse("02:15-04:00")
    assert straddling.next_opening(utc(2026, 10, 3, 12), "Australia/Lord_Howe") == utc(
        2026, 10, 3, 15, 30
    )


def test_an_ambiguous_opening_is_its_first_occurrence() -> None:
    # New York, 2026-11-01: the clocks fall back from 02:00 EDT to 01:00 EST; 01:30 happens twice.
    window = SendWindow.parse("01:30-03:00")
    assert window.next_opening(utc(2026, 11, 1, 3), "America/New_York") == utc(2026, 11, 1, 5, 30)
    # Once open it stays open through the repeated hour, until 03:00 EST.
    assert window.is_open(utc(2026, 11, 1, 6, 15), "America/New_York")  # 01:15 EST
    assert window.is_open(utc(2026, 11, 1, 7, 59), "America/New_York")  # 02:59 EST
    assert not window.is_open(utc(2026, 11, 1, 8), "America/New_York")
    assert window.next_opening(utc(2026, 11, 1, 8), "America/New_York") == utc(2026, 11, 2, 6, 30)


def test_a_naive_moment_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        ALWAYS_OPEN.is_open(datetime(2026, 1, 1, 9), "UTC")
    with pytest.raises(ValueError, match="timezone-aware"):
        ALWAYS_OPEN.next_opening(datetime(2026, 1, 1, 9), "UTC")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Europe/Berlin", "Europe/Berlin"),
        ("America/Argentina/Buenos_Aires", "America/Argentina/Buenos_Aires"),
        ("Etc/GMT+5", "Etc/GMT+5"),
        ("UTC", "UTC"),
        (None, None),
        ("", None),
        ("Mars/Olympus_Mons", None),
        ("Europe", None),  # a folder
        ("zone.tab", None),  # a file that is not a zone
        ("leapseconds", None),
        ("posixrules", None),
        ("right/UTC", None),  # counts leap seconds
        ("posix/Europe/Berlin", None),
        ("/etc/localtime", None),
        ("localtime", None),
        ("../zoneinfo/UTC", None),
        ("Europe/../UTC", None),
        ("Europe/Berlin\x00", None),
        (" Europe/Berlin", None),
    ],
)
def test_valid_time_zone(name: str | None, expected: str | None) -> None:
    assert valid_time_zone(name) == expected


# Every window, every moment

ZONES = [
    "UTC",
    "Europe/London",
    "America/New_York",
    "Australia/Sydney",
    "Asia/Kolkata",
    "Pacific/Chatham",
    "Australia/Lord_Howe",
]
# 2026's clock changes, to search near as well as at random.
TRANSITIONS = [
    ("Europe/London", utc(2026, 3, 29, 1)),
    ("Europe/London", utc(2026, 10, 25, 1)),
    ("America/New_York", utc(2026, 3, 8, 7)),
    ("America/New_York", utc(2026, 11, 1, 6)),
    ("Australia/Sydney", utc(2026, 4, 4, 16)),
    ("Australia/Sydney", utc(2026, 10, 3, 16)),
    ("Pacific/Chatham", utc(2026, 4, 4, 14)),
    ("Pacific/Chatham", utc(2026, 9, 26, 14)),
    ("Australia/Lord_Howe", utc(2026, 4, 4, 15)),
    ("Australia/Lord_Howe", utc(2026, 10, 3, 15, 30)),
]
STEP = timedelta(minutes=15)
quarter_hours = st.integers(0, 24 * 4).map(lambda n: n * 15)


@st.composite
def windows(draw: st.DrawFn) -> SendWindow:
    opens = draw(quarter_hours.filter(lambda minute: minute < 24 * 60))
    closes = draw(quarter_hours.filter(lambda minute: minute != opens))
    return SendWindow(
        days=tuple(draw(st.sets(st.integers(0, 6), min_size=1))),
        opens=time(*divmod(opens, 60)),
        closes=time(*divmod(closes % (24 * 60), 60)),
    )


random_moments = st.tuples(
    st.sampled_from(ZONES),
    st.datetimes(datetime(2020, 1, 1), datetime(2035, 12, 31), timezones=st.just(UTC)),
)
moments_near_clock_changes = st.tuples(
    st.sampled_from(TRANSITIONS), st.integers(-3 * 24 * 60, 3 * 24 * 60)
).map(lambda near: (near[0][0], near[0][1] + timedelta(minutes=near[1], seconds=7)))


def wall_clock_open(window: SendWindow, local: datetime) -> bool:
    """The window read off a wall clock: right wherever no clock change is near."""
    now, opens = local.hour * 60 + local.minute, window.opens.hour * 60 + window.opens.minute
    closes = window.closes.hour * 60 + window.closes.minute or 24 * 60
    if opens < closes:
        return local.weekday() in window.days and opens <= now < closes
    yesterday = (local.weekday() - 1) % 7
    return (local.weekday() in window.days and now >= opens) or (
        yesterday in window.days and now < closes
    )


@settings(max_examples=300, deadline=None)
@given(window=windows(), zone_and_moment=st.one_of(random_moments, moments_near_clock_changes))
def test_the_next_opening_is_the_first_open_instant_after_the_moment(
    window: SendWindow, zone_and_moment: tuple[str, datetime]
) -> None:
    zone, moment = zone_and_moment
    assert SendWindow.parse(str(window)) == window
    offsets = {
        (moment + timedelta(days=d)).astimezone(ZoneInfo(zone)).utcoffset() for d in (-2, 0, 2)
    }
    if len(offsets) == 1:  # no clock change near: the wall clock tells
        assert window.is_open(moment, zone) is wall_clock_open(
            window, moment.astimezone(ZoneInfo(zone))
        )

    found = window.next_opening(moment, zone)
    if found is None:
        assert window.is_open(moment, zone)
        return
    assert not window.is_open(moment, zone)
    assert found > moment
    assert found.tzinfo is UTC and found.second == found.microsecond == 0
    assert window.is_open(found, zone)
    assert found - MINUTE <= moment or not window.is_open(found - MINUTE, zone)
    between = moment + STEP
    while between < found:
        assert not window.is_open(between, zone), between
        between += STEP


# Inside the workflow sandbox

WORKFLOW_SOURCE = """
from datetime import datetime

from temporalio import workflow

{import_send_window}


@workflow.defn
class NextOpening:
    @workflow.run
    async def run(self, window: str, moment: str, time_zone: str) -> str:
        found = SendWindow.parse(window).next_opening(datetime.fromisoformat(moment), time_zone)
        return found.isoformat() if found else "open"
"""
IMPORT = "from workflows.send_window import SendWindow"


def workflow_importing(
    import_send_window: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Any:
    """A workflow module, written for the test: the sandbox re-imports it from its file."""
    name = f"send_window_workflow_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(
        WORKFLOW_SOURCE.format(import_send_window=import_send_window)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return importlib.import_module(name).NextOpening


async def test_its_module_level_code_passes_the_sandbox_restrictions(
    time_skipping: WorkflowEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Imported inside the sandbox, not passed through: the worker imports it under the
    # restrictions to validate the workflow, and refuses it if its import does what a workflow
    # must not, such as reading the clock.
    workflow_class = workflow_importing(IMPORT, tmp_path, monkeypatch)
    Worker(time_skipping.client, task_queue="send-window-validation", workflows=[workflow_class])


async def test_works_in_a_workflow_passed_through_as_the_journey_imports_it(
    time_skipping: WorkflowEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Passed through, not re-imported per run: the sandbox would wrap ZoneInfo in a proxy that
    # datetime refuses as a tzinfo.
    passed_through = f"with workflow.unsafe.imports_passed_through():\n    {IMPORT}"
    workflow_class = workflow_importing(passed_through, tmp_path, monkeypatch)
    task_queue = f"send-window-{uuid.uuid4().hex[:8]}"
    async with Worker(time_skipping.client, task_queue=task_queue, workflows=[workflow_class]):
        found = await time_skipping.client.execute_workflow(
            workflow_class.run,
            args=[WORKDAYS, "2026-07-17T22:00:00+00:00", "Europe/Berlin"],
            id=task_queue,
            task_queue=task_queue,
        )
    assert found == "2026-07-20T07:00:00+00:00"
