"""The ceiling's shape: counted from a journey's history, and replayed by the no-op workflow."""

from __future__ import annotations

import contextlib
import uuid
from collections import Counter
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from bench import noop
from bench.noop import Command, Step
from bench.scenarios import event_kind, history_costs, journey_shape
from workflows import search_attributes as sa

HISTORIES = Path(__file__).parents[1] / "golden" / "histories"


def golden(name: str) -> WorkflowHistory:
    return WorkflowHistory.from_json(name, (HISTORIES / f"{name}.json").read_text())


def test_an_email_journeys_shape_is_its_commands_in_order() -> None:
    shape = journey_shape(golden("branch-shopbright"))
    email = Step(Command.ACTIVITY, "send_onboarding_email", "-email")
    upsert = Step(Command.UPSERT)
    assert shape.steps == [
        Step(Command.ACTIVITY, "enrich_signup", "-enrichment"),
        Step(Command.LOCAL_ACTIVITY, "save_to_warehouse"),
        Step(Command.ACTIVITY, "look_up_technographics", "-technographics"),
        Step(Command.LOCAL_ACTIVITY, "save_to_warehouse"),
        email,
        upsert,
        Step(Command.TIMER, seconds=2 * 86_400),
        email,
        upsert,
        Step(Command.TIMER, seconds=3 * 86_400),
        email,
        upsert,
        Step(Command.LOCAL_ACTIVITY, "record_journey"),  # the journeys table's row, at the end
    ]
    assert (shape.count(Command.ACTIVITY), shape.count(Command.LOCAL_ACTIVITY)) == (5, 3)
    assert (shape.count(Command.UPSERT), shape.count(Command.TIMER)) == (3, 2)
    assert shape.queue_suffixes == {"-enrichment", "-technographics", "-email"}
    assert shape.activities == 8


def test_an_enterprise_journeys_shape_alerts_sales_on_its_own_queue() -> None:
    shape = journey_shape(golden("branch-globex"))
    assert shape.steps == [
        Step(Command.ACTIVITY, "enrich_signup", "-enrichment"),
        Step(Command.LOCAL_ACTIVITY, "save_to_warehouse"),
        Step(Command.UPSERT),  # the stage, before the alert's server retries
        Step(Command.ACTIVITY, "post_sales_alert", "-sales-alert"),
        Step(Command.UPSERT),
        Step(Command.LOCAL_ACTIVITY, "record_journey"),
    ]


def test_a_command_the_no_op_cannot_replay_stops_the_count() -> None:
    # A journey stopped while it waits for an email cancels that timer.
    with pytest.raises(ValueError, match="TimerCanceled"):
        journey_shape(golden("unsubscribed-after-email-1"))
    patched = golden("branch-shopbright")
    for event in patched.events:
        if event_kind(event) == "MarkerRecorded":
            event.marker_recorded_event_attributes.marker_name = "core_patch"
    with pytest.raises(ValueError, match="MarkerRecorded"):
        journey_shape(patched)


def test_the_old_ceiling_is_regular_activities_on_its_own_queue() -> None:
    shape = noop.regular_activities(7)
    assert shape.count(Command.ACTIVITY) == shape.activities == 7
    assert shape.queue_suffixes == {""}


def test_the_no_op_worker_serves_every_queue_a_journey_uses() -> None:
    journey = journey_shape(golden("branch-shopbright"))
    alert = journey_shape(golden("branch-globex"))
    queues = {noop.TASK_QUEUE + s for s in journey.queue_suffixes | alert.queue_suffixes}
    assert queues <= set(noop.served_queues())


async def test_the_no_op_workflow_replays_a_journeys_shape(
    time_skipping: WorkflowEnvironment,
) -> None:
    journey = golden("branch-shopbright")
    shape = journey_shape(journey)
    client = time_skipping.client
    task_queue = f"bench-noop-test-{uuid.uuid4().hex[:8]}"
    async with contextlib.AsyncExitStack() as running:
        for worker in noop.workers(client, task_queue):
            await running.enter_async_context(worker)
        handle = await client.start_workflow(
            noop.NoopJourney.run,
            shape,
            id=f"bench-noop-{uuid.uuid4().hex[:8]}",
            task_queue=task_queue,
            search_attributes=sa.at_start(),
        )
        assert await handle.result() == len(shape.steps)
    replayed = await handle.fetch_history()
    assert journey_shape(replayed) == shape
    # The same history but for payloads: as many events of each kind, as many workflow tasks.
    assert Counter(map(event_kind, replayed.events)) == Counter(map(event_kind, journey.events))
    costs, ceiling = history_costs([journey]), history_costs([replayed])
    for measure in ("history_events", "actions", "activity_executions", "workflow_tasks"):
        assert ceiling[measure] == costs[measure], measure
