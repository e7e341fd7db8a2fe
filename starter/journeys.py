"""Start, inspect and steer journeys: what the CLI (and, later, the webhook) call."""

from __future__ import annotations

from dataclasses import dataclass

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from workflows.journey import OnboardingJourney
from workflows.models import (
    TASK_QUEUE,
    JourneyConfig,
    JourneyInput,
    JourneyState,
    Signup,
    journey_id,
)


class JourneyNotFound(Exception):
    """No journey exists for that user."""


class JourneyFinished(Exception):
    """The journey already ended, so it takes no more controls."""


@dataclass(frozen=True)
class StartedJourney:
    workflow_id: str
    run_id: str
    created: bool
    running: bool


async def start_journey(
    client: Client,
    signup: Signup,
    config: JourneyConfig,
    *,
    rerun: bool = False,
    task_queue: str = TASK_QUEUE,
) -> StartedJourney:
    """Start the user's journey, or return the one that exists: never a second one.

    ``rerun`` starts a new run after a finished one; a running journey is never replaced.
    """
    workflow_id = journey_id(signup.user_id)
    try:
        handle = await client.start_workflow(
            OnboardingJourney.run,
            JourneyInput(signup=signup, config=config),
            id=workflow_id,
            task_queue=task_queue,
            id_reuse_policy=(
                WorkflowIDReusePolicy.ALLOW_DUPLICATE
                if rerun
                else WorkflowIDReusePolicy.REJECT_DUPLICATE
            ),
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            static_summary=f"Onboarding journey of user {signup.user_id}",
        )
        return StartedJourney(workflow_id, handle.result_run_id or "", created=True, running=True)
    except WorkflowAlreadyStartedError:
        description = await client.get_workflow_handle(workflow_id).describe()
        return StartedJourney(
            workflow_id,
            description.run_id,
            created=False,
            running=description.status == WorkflowExecutionStatus.RUNNING,
        )


def _handle(client: Client, user_id: str) -> WorkflowHandle[OnboardingJourney, JourneyState]:
    return client.get_workflow_handle_for(OnboardingJourney.run, journey_id(user_id))


async def journey_state(client: Client, user_id: str) -> tuple[str, JourneyState]:
    """The journey's status name (RUNNING, COMPLETED, FAILED, ...) and its current state."""
    handle = _handle(client, user_id)
    try:
        description = await handle.describe()
        state = await handle.query(OnboardingJourney.state)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise JourneyNotFound(f"no journey for user {user_id}") from None
        raise
    status = description.status.name if description.status else "UNKNOWN"
    return status, state


async def steer(client: Client, user_id: str, signal: str) -> str:
    """Send ``unsubscribe`` or ``convert`` to a running journey; returns its workflow ID."""
    handle = _handle(client, user_id)
    try:
        description = await handle.describe()
        if description.status != WorkflowExecutionStatus.RUNNING:
            status = description.status.name.lower() if description.status else "closed"
            raise JourneyFinished(
                f"the journey of user {user_id} has already ended ({status}); nothing to {signal}"
            )
        await handle.signal(signal)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND and "completed" in exc.message:
            raise JourneyFinished(f"the journey of user {user_id} has already ended") from None
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise JourneyNotFound(f"no journey for user {user_id}") from None
        raise
    return handle.id
