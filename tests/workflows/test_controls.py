"""Live controls on the time-skipping server: pause and resume shift the schedule, reschedule
moves the next email, and its validator rejects what it should."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from sandbox.server import SandboxServer
from tests.conftest import RunningWorker
from tests.workflows.test_journey import DAY, TOLERANCE, signup, start, wait_for
from workflows.journey import OnboardingJourney
from workflows.models import Outcome, RescheduleRequest, Stage


async def test_a_paused_journey_sends_nothing_and_its_schedule_shifts(
    time_skipping: WorkflowEnvironment, skipping_worker: RunningWorker, sandbox: SandboxServer
) -> None:
    handle = await start(skipping_worker, signup("sam@shopbright.example"))
    await wait_for(handle, Stage.WAITING_EMAIL, emails_sent=1)
    paused_at = await time_skipping.get_current_time()
    await handle.signal(OnboardingJourney.pause)
    await time_skipping.sleep(3 * DAY)  # well past email 2's due time

    state = await handle.query(OnboardingJourney.state)
    assert state.paused and state.stage_label == "paused"
    assert state.emails_sent == 1
    assert sandbox.state.summary()["emails_accepted"] == 1

    resumed_at = await time_skipping.get_current_time()
    await handle.signal(OnboardingJourney.resume)
    state = await handle.result()
    paused_for = resumed_at - paused_at
    first, second, third = (email.sent_at for email in state.emails)
    assert abs(second - first - (2 * DAY + paused_for)) < TOLERANCE
    assert abs(third - second - 3 * DAY) < TOLERANCE
    assert state.outcome == Outcome.EMAILS_COMPLETED
    assert "paused" in state.path and "resumed" in state.path


async def test_pause_holds_the_next_vendor_step(
    time_skipping: WorkflowEnvironment, skipping_worker: RunningWorker, sandbox: SandboxServer
) -> None:
    sandbox.state.set_faults(latency_seconds=1.0, vendors=["clearbit"])
    handle = await start(skipping_worker, signup("sam@shopbright.example"))
    await wait_for(handle, Stage.ENRICHING)
    await handle.signal(OnboardingJourney.pause)
    await time_skipping.sleep(timedelta(hours=1))
    await time_skipping.sleep(timedelta(seconds=2))
    assert not sandbox.state.calls("builtwith")
    await handle.signal(OnboardingJourney.resume)
    sandbox.state.set_faults()
    assert (await handle.result()).outcome == Outcome.EMAILS_COMPLETED
    assert len(sandbox.state.calls("builtwith")) == 1


async def test_unsubscribe_ends_a_paused_journey(skipping_worker: RunningWorker) -> None:
    handle = await start(skipping_worker, signup("sam@shopbright.example"))
    await wait_for(handle, Stage.WAITING_EMAIL, emails_sent=1)
    await handle.signal(OnboardingJourney.pause)
    await handle.signal(OnboardingJourney.unsubscribe)
    state = await handle.result()
    assert state.outcome == Outcome.UNSUBSCRIBED
    assert state.emails_sent == 1


async def test_reschedule_moves_the_next_email(
    time_skipping: WorkflowEnvironment, skipping_worker: RunningWorker
) -> None:
    handle = await start(skipping_worker, signup("sam@shopbright.example"))
    await wait_for(handle, Stage.WAITING_EMAIL, emails_sent=1)
    send_at = await time_skipping.get_current_time() + timedelta(hours=1)
    due = await handle.execute_update(
        OnboardingJourney.reschedule, RescheduleRequest(send_at=send_at)
    )
    assert due == send_at
    assert (await handle.query(OnboardingJourney.state)).next_email_due_at == send_at
    state = await handle.result()
    first, second, third = (email.sent_at for email in state.emails)
    assert abs(second - send_at) < TOLERANCE
    # Email 3 keeps its offset from the start of the sequence (5 days), no earlier.
    assert abs(third - first - 5 * DAY) < TOLERANCE


@pytest.mark.parametrize(
    ("shift", "reason"),
    [
        (-timedelta(hours=1), "in the past"),
        (6 * DAY, "after the sequence's end"),
    ],
)
async def test_reschedule_rejects_the_past_and_beyond_the_end(
    time_skipping: WorkflowEnvironment,
    skipping_worker: RunningWorker,
    shift: timedelta,
    reason: str,
) -> None:
    handle = await start(skipping_worker, signup("sam@shopbright.example"))
    await wait_for(handle, Stage.WAITING_EMAIL, emails_sent=1)
    send_at = await time_skipping.get_current_time() + shift
    with pytest.raises(WorkflowUpdateFailedError) as rejected:
        await handle.execute_update(
            OnboardingJourney.reschedule, RescheduleRequest(send_at=send_at)
        )
    assert reason in str(rejected.value.cause)
    state = await handle.query(OnboardingJourney.state)
    assert state.emails_sent == 1 and "email 2 rescheduled" not in state.path
    await handle.signal(OnboardingJourney.convert)
    assert (await handle.result()).outcome == Outcome.CONVERTED


async def test_reschedule_needs_an_email_waiting(
    time_skipping: WorkflowEnvironment, skipping_worker: RunningWorker, sandbox: SandboxServer
) -> None:
    sandbox.state.set_faults(latency_seconds=1.0, vendors=["builtwith"])
    handle = await start(skipping_worker, signup("sam@shopbright.example"))
    await wait_for(handle, Stage.CHECKING_STACK)
    send_at = await time_skipping.get_current_time() + timedelta(hours=1)
    with pytest.raises(WorkflowUpdateFailedError) as rejected:
        await handle.execute_update(
            OnboardingJourney.reschedule, RescheduleRequest(send_at=send_at)
        )
    assert "no email is waiting" in str(rejected.value.cause)
    await handle.signal(OnboardingJourney.unsubscribe)
    await handle.result()
