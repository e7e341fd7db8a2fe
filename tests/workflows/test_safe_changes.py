"""How to change the journey safely while journeys wait for days: guard the change with
``workflow.patched``. An unguarded change fails the golden replay; the guarded one replays, and a
journey started by the old code finishes correctly under the new one."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio.testing import WorkflowEnvironment

from activities.warehouse import Warehouse
from tests.conftest import RunningWorker
from tests.workflows.changed_journeys import GuardedChange, UnguardedChange
from tests.workflows.test_journey import signup, start, wait_for
from tests.workflows.test_replay import GOLDEN, load, replayer
from worker.main import run_worker
from workflows.models import JourneyConfig, Outcome, Stage


async def replay_failures(workflow_class: type) -> dict[str, str]:
    failures = {}
    for path in GOLDEN:
        result = await replayer(workflow_class).replay_workflow(
            load(path), raise_on_replay_failure=False
        )
        if result.replay_failure is not None:
            failures[path.stem] = str(result.replay_failure)
    return failures


async def test_an_unguarded_change_fails_the_golden_replay() -> None:
    failures = await replay_failures(UnguardedChange)
    assert sorted(failures) == sorted(path.stem for path in GOLDEN)
    assert all("Nondeterminism" in failure for failure in failures.values())


async def test_a_patched_change_replays_every_golden_history() -> None:
    assert await replay_failures(GuardedChange) == {}


async def test_a_journey_started_by_the_old_code_finishes_under_the_new(
    dev_server: WorkflowEnvironment, dev_worker: RunningWorker
) -> None:
    schedule = JourneyConfig(
        email_schedule=[timedelta(0), timedelta(seconds=4), timedelta(seconds=8)]
    )
    handle = await start(dev_worker, signup("sam@shopbright.example"), schedule)
    await wait_for(handle, Stage.WAITING_EMAIL, emails_sent=1)

    # Redeploy: the old worker stops, a worker with the new code takes the same task queue.
    await dev_worker.stop()
    settings = dev_worker.settings
    stop = asyncio.Event()
    new_worker = asyncio.create_task(
        run_worker(
            dev_server.client,
            settings,
            stop,
            task_queue=dev_worker.task_queue,
            journey=GuardedChange,
        )
    )
    try:
        state = await handle.result()
    finally:
        stop.set()
        await new_worker

    assert state.outcome == Outcome.EMAILS_COMPLETED
    assert state.emails_sent == 3
    rows = Warehouse(settings.warehouse_url).rows(handle.id)
    # The journey, which had not reached the end when the code changed, takes the new step.
    assert "journey_summary" in [row["step"] for row in rows]
