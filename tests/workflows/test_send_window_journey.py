"""Send windows and the suppression list in the journey, on the time-skipping server with the real
activities and the vendor sandbox: an email due outside the window waits for its next opening in
the reader's time zone (across a DST change, and over a weekend), and a suppressed address gets
nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from temporalio.testing import WorkflowEnvironment

from activities.suppression import Reason, SuppressionList, parse_hash_key
from activities.warehouse import Warehouse
from sandbox.server import SandboxServer
from tests.conftest import RunningWorker
from tests.workflows.test_journey import signup, start
from workflows.journey import OnboardingJourney
from workflows.models import JourneyConfig, Outcome, Stage
from workflows.send_window import SendWindow

SHOPIFY_USER = "sam@shopbright.example"  # no time zone from enrichment: the configured one
LOS_ANGELES_USER = "gavin@hooli-labs.example"  # enrichment gives America/Los_Angeles
TOLERANCE = timedelta(seconds=30)


async def server_now(env: WorkflowEnvironment) -> datetime:
    """The time-skipping server's clock (earlier tests may have moved it ahead of ours)."""
    return (await env.get_current_time()).astimezone(UTC)


def night_zone(now: datetime) -> str:
    """A fixed-offset zone where ``now`` is between 01:00 and 05:00 local."""
    for hours in range(-12, 15):
        # Etc/GMT-5 is UTC+5: the sign is POSIX's, the reverse of ISO's.
        zone = f"Etc/GMT{'-' if hours > 0 else '+'}{abs(hours)}" if hours else "UTC"
        if 1 <= now.astimezone(ZoneInfo(zone)).hour < 5:
            return zone
    raise AssertionError("no zone has night now")


def next_spring_forward(now: datetime, zone: ZoneInfo) -> date:
    """The next day (at least two days from ``now``) on which ``zone``'s clocks jump forward."""
    day = now.date() + timedelta(days=2)
    while True:
        before = datetime.combine(day, time(0), zone).utcoffset()
        after = datetime.combine(day + timedelta(days=1), time(0), zone).utcoffset()
        if before is not None and after is not None and after > before:
            return day
        day += timedelta(days=1)


def schedule_until(now: datetime, moment: datetime) -> list[timedelta]:
    """An email schedule whose first email is due at ``moment``."""
    first = moment - now
    return [first, first + timedelta(days=1), first + timedelta(days=2)]


async def test_an_email_due_at_night_waits_until_nine_local(
    skipping_worker: RunningWorker, sandbox: SandboxServer, time_skipping: WorkflowEnvironment
) -> None:
    now = await server_now(time_skipping)
    zone = night_zone(now)
    config = JourneyConfig(
        send_window=SendWindow.parse("09:00-18:00"),
        send_window_timezone=zone,
        email_schedule=[timedelta(0), timedelta(days=2), timedelta(days=5)],
    )
    handle = await start(skipping_worker, signup(SHOPIFY_USER), config)
    state = await handle.result()

    assert state.outcome is Outcome.EMAILS_COMPLETED
    local = [email.sent_at.astimezone(ZoneInfo(zone)) for email in state.emails]
    nine = local[0].replace(hour=9, minute=0, second=0, microsecond=0)
    assert nine <= local[0] < nine + TOLERANCE, (local, state.path)
    assert local[0].date() == now.astimezone(ZoneInfo(zone)).date(), "\n".join(state.path)
    assert any("email 1 held: send window opens" in step for step in state.path)
    # Late, never crowded: the schedule's gaps hold from the held email on.
    assert local[1] - local[0] >= timedelta(days=2)
    assert all(9 <= sent.hour < 18 for sent in local)


async def test_a_dst_night_opens_at_the_first_instant_after_the_gap(
    skipping_worker: RunningWorker, sandbox: SandboxServer, time_skipping: WorkflowEnvironment
) -> None:
    """America/New_York springs forward at 02:00 on a March night: a window opening at 02:30
    that night opens at 03:00 EDT (07:00 UTC); the next night it opens at 02:30 EDT (06:30 UTC)."""
    now = await server_now(time_skipping)
    spring = next_spring_forward(now, ZoneInfo("America/New_York"))
    due = datetime.combine(spring, time(6, 0), UTC)  # 01:00 EST
    config = JourneyConfig(
        send_window=SendWindow.parse("02:30-05:00"),
        send_window_timezone="America/New_York",
        email_schedule=schedule_until(now, due),
    )
    handle = await start(skipping_worker, signup(SHOPIFY_USER), config)
    state = await handle.result()

    sent = [email.sent_at.astimezone(UTC) for email in state.emails]
    opening = datetime.combine(spring, time(7, 0), UTC)
    assert opening <= sent[0] < opening + TOLERANCE, "\n".join(state.path)
    # Email 2 is due a day after email 1 (03:00 EDT), inside the window: not held.
    assert sent[0] + timedelta(days=1) <= sent[1] < sent[0] + timedelta(days=1) + TOLERANCE


async def test_a_weekday_window_holds_a_saturday_email_until_monday(
    skipping_worker: RunningWorker, sandbox: SandboxServer, time_skipping: WorkflowEnvironment
) -> None:
    now = await server_now(time_skipping)
    saturday = (now + timedelta(days=(5 - now.weekday()) % 7 or 7)).replace(
        hour=10, minute=0, second=0, microsecond=0
    )
    config = JourneyConfig(
        send_window=SendWindow.parse("mon-fri 09:00-18:00"),
        email_schedule=schedule_until(now, saturday),
    )
    handle = await start(skipping_worker, signup(SHOPIFY_USER), config)
    state = await handle.result()

    first = state.emails[0].sent_at.astimezone(UTC)
    monday = (saturday + timedelta(days=2)).replace(hour=9)
    assert first.weekday() == 0 and monday <= first < monday + TOLERANCE, first
    assert all(email.sent_at.weekday() < 5 for email in state.emails)


async def test_the_readers_own_time_zone_wins_and_the_state_says_until_when(
    skipping_worker: RunningWorker, sandbox: SandboxServer, time_skipping: WorkflowEnvironment
) -> None:
    """The enrichment gives America/Los_Angeles: the window is read there, not in UTC."""
    now = await server_now(time_skipping)
    zone = ZoneInfo("America/Los_Angeles")
    local = now.astimezone(zone)
    # A one-hour window starting three hours from now, Los Angeles time; closed in both zones now.
    opens = (local + timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    window = SendWindow.parse(f"{opens:%H:%M}-{opens + timedelta(hours=1):%H:%M}")
    config = JourneyConfig(send_window=window, send_window_timezone="UTC")
    handle = await start(skipping_worker, signup(LOS_ANGELES_USER), config)

    state = await handle.query(OnboardingJourney.state)
    for _ in range(200):
        if state.stage is Stage.WAITING_SEND_WINDOW:
            break
        state = await handle.query(OnboardingJourney.state)
    assert state.stage is Stage.WAITING_SEND_WINDOW
    assert state.time_zone == "America/Los_Angeles"
    assert state.send_window_opens_at == opens.astimezone(UTC)
    assert state.stage_label == "waiting_send_window"

    final = await handle.result()
    assert final.emails[0].sent_at.astimezone(zone).hour == opens.hour


async def test_a_suppressed_address_gets_nothing_and_the_path_says_why(
    skipping_worker: RunningWorker, sandbox: SandboxServer, time_skipping: WorkflowEnvironment
) -> None:
    settings = skipping_worker.settings
    suppressions = SuppressionList(
        Warehouse(settings.warehouse_url),
        parse_hash_key(settings.suppression_hash_key.get_secret_value()),
    )
    address = f"sam.{uuid.uuid4().hex[:6]}@shopbright.example"
    suppressions.suppress(address.upper(), Reason.COMPLAINED, "test")

    state = await (await start(skipping_worker, signup(address))).result()

    assert state.outcome is Outcome.COMPLAINED
    assert state.emails_sent == 0
    assert "email 1 not sent: the address is complained" in state.path
    assert not [e for e in sandbox.state.sent_emails() if address in e.to]
