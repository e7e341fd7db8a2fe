"""What the dashboard's tests (and its screenshots) share: a warehouse of synthetic journeys
(labels and counts only, as the journeys table holds them), a count source answering from a table,
and, for the real thing, a dev server with its Web UI, journeys parked at several stages and ended
at several outcomes, the app on a real port, and headless Chromium."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import uvicorn
from temporalio.client import WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.testing import WorkflowEnvironment

from activities.contracts import JourneyProgress
from activities.warehouse import Warehouse
from common.serving import listen
from devstack.processes import executable, free_port, port_open
from devstack.temporal import dev_server_flags
from sandbox import SandboxServer
from starter.journeys import start_journey
from tests.conftest import RunningWorker
from tests.security.support import reading_converter
from workflows import search_attributes as sa
from workflows.journey import OnboardingJourney
from workflows.models import JourneyConfig, JourneyState, Outcome, Signup

EXPERIMENT = "subject-2026-12"


def seed_journeys(
    warehouse: Warehouse,
    *,
    now: datetime,
    weeks: int = 6,
    per_week: int = 30,
    variants: dict[str, float] | None = None,
    fading: str | None = None,
    seed: int = 7,
) -> int:
    """Journeys that signed up over the ``weeks`` weeks up to ``now``, ``per_week`` a week, split
    between ``variants`` (variant → conversion rate of those who got email 1); ``fading`` names a
    variant whose rate falls week by week. Returns how many were written."""
    variants = variants or {"control": 0.2, "short-subject": 0.3}
    rng = random.Random(seed)
    names = list(variants)
    written = 0
    for back in reversed(range(weeks)):
        monday = (now - timedelta(weeks=back)).replace(hour=9, minute=0, second=0, microsecond=0)
        monday -= timedelta(days=monday.weekday())
        for index in range(per_week):
            signed_up = monday + timedelta(hours=rng.uniform(0, 24 * 6.5))
            if signed_up >= now:
                continue
            variant = names[index % len(names)]
            rate = variants[variant]
            if variant == fading:
                rate *= 0.8 ** (weeks - back)
            journey = _journey(rng, signed_up, variant, rate, now)
            warehouse.record_journey(f"onboarding-seeded-{written:05d}", "run-1", journey)
            written += 1
    return written


def _journey(
    rng: random.Random, signed_up: datetime, variant: str, rate: float, now: datetime
) -> JourneyProgress:
    """One journey's row: enriched (9 in 10), enterprise (15%) or integrated (65% of the rest),
    then its emails every 2.5 days, converting at ``rate`` within 4 days of email 1."""
    started = signed_up + timedelta(seconds=5)
    row: dict[str, Any] = {
        "progress": 1,
        "started_at": started,
        "signed_up_at": signed_up,
        "experiment": EXPERIMENT,
        "variant": variant,
    }
    if rng.random() > 0.9:
        return JourneyProgress(**row, outcome="not_enriched", ended_at=started)
    row.update(enriched=True, progress=2)
    if rng.random() < 0.15:
        ended = started + timedelta(minutes=1)
        return JourneyProgress(**row, sales_alerted=True, outcome="sales_alerted", ended_at=ended)
    if rng.random() > 0.65:
        return JourneyProgress(**row, outcome="no_integration", ended_at=started)
    first_email = started + timedelta(minutes=2)
    row.update(matched_technology="Shopify", first_email_at=first_email, progress=3)
    converted = first_email + timedelta(days=rng.uniform(0.2, 4))
    if rng.random() < rate and converted <= now:
        row["emails_sent"] = 1 + int(converted - first_email > timedelta(days=2))
        return JourneyProgress(**row, outcome="converted", ended_at=converted)
    row["emails_sent"] = min(3, 1 + int((now - first_email) / timedelta(days=2.5)))
    if row["emails_sent"] == 3:
        ended = first_email + timedelta(days=5)
        return JourneyProgress(**row, outcome="emails_completed", ended_at=ended)
    return JourneyProgress(**row)


# --- real journeys, a real server, a real browser ------------------------------------------

CHROMIUM = Path("/usr/bin/chromium")
SLOW = JourneyConfig(email_schedule=[timedelta(0), timedelta(hours=1), timedelta(hours=2)])
FAST = JourneyConfig(email_schedule=[timedelta(0), timedelta(0), timedelta(0)])
PATIENT = SLOW.model_copy(update={"enrichment_poll_interval": timedelta(hours=1)})
NOBODY_POLLS = "dashboard-nobody-polls"

Handle = WorkflowHandle[OnboardingJourney, JourneyState]


@contextlib.asynccontextmanager
async def dev_server_with_ui() -> AsyncIterator[tuple[WorkflowEnvironment, str]]:
    """A dev server of its own, serving its Web UI: the shared one is headless, and other tests'
    journeys would be counted too."""
    ui_port = free_port()
    env = await WorkflowEnvironment.start_local(
        data_converter=reading_converter(),
        dev_server_existing_path=executable("temporal"),
        dev_server_log_level="error",
        dev_server_extra_args=dev_server_flags(),
        ui=True,
        ui_port=ui_port,
    )
    async with env:
        deadline = time.monotonic() + 30
        while not port_open(ui_port):
            assert time.monotonic() < deadline, "the Web UI did not start"
            await asyncio.sleep(0.2)
        yield env, f"http://127.0.0.1:{ui_port}"


@contextlib.asynccontextmanager
async def serving(app: object) -> AsyncIterator[str]:
    """The app on a real port, in this event loop (it shares the test's Temporal client)."""
    sock = listen("127.0.0.1", 0)
    server = uvicorn.Server(
        uvicorn.Config(app, log_config=None, access_log=False, lifespan="off")  # type: ignore[arg-type]
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        assert not task.done(), "the dashboard did not start"
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task


async def eventually(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"{what} never happened"
        await asyncio.sleep(0.2)


class Seeder:
    """Starts journeys with addresses and names the test can look for afterwards."""

    def __init__(self, worker: RunningWorker) -> None:
        self.worker = worker
        self.emails: list[str] = []
        self.names = ["Robin", "Quillfeather"]
        self.ids: list[str] = []

    async def journey(self, email: str, config: JourneyConfig) -> Handle:
        """A journey for ``email``; a ``{}`` in it becomes a part of the user's ID, so every
        journey has an address of its own (the sandbox answers by domain)."""
        user_id = f"dash-{uuid.uuid4().hex[:10]}"
        email = email.format(user_id[-4:])
        signup = Signup(
            user_id=user_id, email=email, first_name=self.names[0], last_name=self.names[1]
        )
        started = await start_journey(
            self.worker.client, signup, config, task_queue=self.worker.task_queue
        )
        self.emails.append(email)
        self.ids.append(started.workflow_id)
        return self.worker.client.get_workflow_handle_for(
            OnboardingJourney.run, started.workflow_id
        )

    async def orphan(self, stage: str | None) -> str:
        """An ``OnboardingJourney`` nobody runs, at a stage the code does not know (or none)."""
        attributes = (
            TypedSearchAttributes([SearchAttributePair(sa.JOURNEY_STAGE, stage)])
            if stage
            else TypedSearchAttributes.empty
        )
        workflow_id = f"onboarding-dash-orphan-{uuid.uuid4().hex[:8]}"
        await self.worker.client.start_workflow(
            "OnboardingJourney",
            "never read",
            id=workflow_id,
            task_queue=NOBODY_POLLS,
            search_attributes=attributes,
        )
        self.ids.append(workflow_id)
        return workflow_id


async def stage_of(handle: Handle) -> str:
    return (await handle.query(OnboardingJourney.state)).stage_label


async def at_stage(handle: Handle, stage: str) -> None:
    async def there() -> bool:
        return await stage_of(handle) == stage

    await eventually(there, f"{handle.id} at {stage}")


async def seed(seeder: Seeder, sandbox: SandboxServer) -> dict[str, list[str]]:
    """Journeys at several stages and outcomes; returns the workflow IDs by node key."""
    where: dict[str, list[str]] = {}

    def put(key: str, workflow_id: str) -> None:
        where.setdefault(key, []).append(workflow_id)

    ended = [
        ("ada.{}@globex.example", Outcome.SALES_ALERTED),
        ("pat.{}@plainpaper.example", Outcome.NO_INTEGRATION),
        ("kim.{}@mailbox.example", Outcome.NO_COMPANY),
        ("joe.{}@unheard-of.example", Outcome.NOT_ENRICHED),
        ("info@globex.example", Outcome.INVALID_EMAIL),  # a role address
        ("sam.{}@shopbright.example", Outcome.EMAILS_COMPLETED),
        ("mei.{}@shopbright.example", Outcome.EMAILS_COMPLETED),
    ]
    handles = [await seeder.journey(email, FAST) for email, _ in ended]
    for handle, (_, outcome) in zip(handles, ended, strict=True):
        assert (await handle.result()).outcome == outcome, handle.id
        put(f"outcome:{outcome}", handle.id)

    stops = (
        (OnboardingJourney.convert, "converted"),
        (OnboardingJourney.unsubscribe, "unsubscribed"),
    )
    for signal, outcome in stops:
        handle = await seeder.journey("mei.{}@shopbright.example", SLOW)
        await at_stage(handle, "waiting_email_2")
        await handle.signal(signal)
        assert (await handle.result()).outcome == outcome
        put(f"outcome:{outcome}", handle.id)

    # Ended without an outcome: stopped by an operator.
    terminated = await seeder.orphan("enriching")
    await seeder.worker.client.get_workflow_handle(terminated).terminate("stopped by hand")
    put("outcome:other", terminated)

    for _ in range(2):
        handle = await seeder.journey("lena.{}@shopbright.example", SLOW)
        await at_stage(handle, "waiting_email_2")
        put("stage:waiting_email_2", handle.id)
    paused = await seeder.journey("tom.{}@shopbright.example", SLOW)
    await at_stage(paused, "waiting_email_2")
    await paused.signal(OnboardingJourney.pause)
    await at_stage(paused, "paused")
    put("stage:paused", paused.id)

    # A lookup the vendor queued: the journey asks again in an hour.
    queued = await seeder.journey("lee.{}@slowpoke.example", PATIENT)
    await at_stage(queued, "waiting_for_enrichment")
    put("stage:waiting_for_enrichment", queued.id)

    # Vendors that keep failing hold a journey at the step that calls them (a company no journey
    # asked about yet: a cached answer would need no call).
    sandbox.state.set_faults(error_rate=1.0, vendors=["builtwith", "slack"])
    checking = await seeder.journey("priya.{}@hooli-labs.example", SLOW)
    alerting = await seeder.journey("amara.{}@globex.example", SLOW)
    await at_stage(checking, "checking_stack")
    await at_stage(alerting, "alerting_sales")
    put("stage:checking_stack", checking.id)
    put("stage:alerting_sales", alerting.id)

    put("stage:other", await seeder.orphan("retired_step"))
    put("stage:other", await seeder.orphan(None))
    return where


async def chromium(*args: str, profile: Path) -> str:
    process = await asyncio.create_subprocess_exec(
        str(CHROMIUM),
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
        f"--user-data-dir={profile}",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    stdout, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, f"chromium {args[-1]} ended with {process.returncode}"
    return stdout.decode()


class TableCounts:
    """A count source answering from a table of query → count, recording what was asked."""

    def __init__(self, answers: dict[str, int] | None = None) -> None:
        self.answers = answers or {}
        self.asked: list[str] = []

    async def count(self, query: str) -> int:
        self.asked.append(query)
        return self.answers.get(query, 0)


NOW = datetime(2026, 12, 9, 15, 0, tzinfo=UTC)
