"""Calls on a vendor's rate-limited queue leave the worker a fixed time after the server
dispatched them, so the worker's own delays do not bunch them up at the vendor."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import time
import uuid
from datetime import UTC, datetime

import pytest
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.contracts import ENRICH_SIGNUP, POST_SALES_ALERT
from activities.dispatch_hold import DispatchHold, hold_seconds
from activities.settings import VendorSettings
from sandbox.server import SandboxServer
from tests.conftest import _worker
from workflows.journey import OnboardingJourney
from workflows.models import JourneyConfig, JourneyInput, Outcome, Signup

HOLD = 0.6


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (100.0, 0.25),  # just dispatched: the whole hold
        (100.1, 0.15),  # the worker took 100 ms to get here: the rest
        (100.4, 0.0),  # later than the hold: at once
        (90.0, 0.25),  # a worker clock behind the server's: never more than the hold
    ],
)
def test_a_call_waits_out_what_is_left_of_the_hold(now: float, expected: float) -> None:
    assert hold_seconds(100.0, now, 0.25) == pytest.approx(expected)


async def started_at(hold: DispatchHold, calls: int) -> list[float]:
    """When each of ``calls`` activities, dispatched together just now, gets past the hold."""
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, started_time=datetime.now(UTC))

    async def one() -> float:
        await hold.wait()
        return time.monotonic()

    began = time.monotonic()
    return sorted(
        moment - began for moment in await asyncio.gather(*(env.run(one) for _ in range(calls)))
    )


async def test_calls_a_worker_fell_behind_on_leave_one_by_one() -> None:
    """Three activities the server dispatched together (its burst, or a stalled worker catching
    up) start at the queue's spacing; without a hold, the first starts at once."""
    spaced = await started_at(DispatchHold(0.0, 4.0), 3)
    assert spaced[0] < 0.05
    assert [b - a for a, b in itertools.pairwise(spaced)] == [
        pytest.approx(0.25, abs=0.05),
        pytest.approx(0.25, abs=0.05),
    ]


async def test_the_hold_is_never_longer_than_the_queues_interval() -> None:
    """A queue at 10/s is held a tenth of a second at most, whatever the hold; one at 1/s the
    whole hold."""
    fast = await started_at(DispatchHold(HOLD, 10.0), 1)
    slow = await started_at(DispatchHold(HOLD, 1.0), 1)
    assert 0.08 <= fast[0] < 0.2
    assert HOLD - 0.02 <= slow[0] < HOLD + 0.1


async def test_vendor_calls_leave_the_hold_after_their_dispatch(
    dev_server: WorkflowEnvironment, sandbox: SandboxServer, vendor_settings: VendorSettings
) -> None:
    # Queues slow enough (under 1/s) that the hold is the whole HOLD.
    settings = vendor_settings.model_copy(
        update={
            "vendor_dispatch_hold_seconds": HOLD,
            "vendor_rate_limits": {"clearbit": 1.0, "slack": 1.0},
        }
    )
    signup = Signup(
        user_id=f"u-{uuid.uuid4().hex[:10]}", email="ada@globex.example", first_name="Ada"
    )
    async for worker in _worker(dev_server.client, settings):
        handle = await worker.client.start_workflow(
            OnboardingJourney.run,
            JourneyInput(signup=signup, config=JourneyConfig()),
            id=f"onboarding-{signup.user_id}",
            task_queue=worker.task_queue,
        )
        assert (await handle.result()).outcome == Outcome.SALES_ALERTED
    events = (await handle.fetch_history()).events
    scheduled = {
        e.event_id: e.activity_task_scheduled_event_attributes.activity_type.name
        for e in events
        if e.HasField("activity_task_scheduled_event_attributes")
    }
    dispatched = {
        scheduled[e.activity_task_started_event_attributes.scheduled_event_id]: (
            e.event_time.ToMicroseconds() / 1e6
        )
        for e in events
        if e.HasField("activity_task_started_event_attributes")
    }
    arrived = {
        ENRICH_SIGNUP: [c.received_at for c in sandbox.state.recorded_calls("clearbit")],
        POST_SALES_ALERT: [
            c.received_at
            for c in sandbox.state.recorded_calls("slack")
            if c.path.endswith("chat.postMessage")
        ],
    }
    for activity_name, moments in arrived.items():
        assert len(moments) == 1, activity_name
        waited = datetime.fromisoformat(moments[0]).timestamp() - dispatched[activity_name]
        # The server stamps the start a moment before the worker gets the task: same clock.
        assert HOLD - 0.02 <= waited < HOLD + 2.0, (activity_name, waited)
