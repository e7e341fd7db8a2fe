"""Start, inspect and steer journeys: what the CLI (and, later, the webhook) call."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.common import (
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from starter.experiment import Experiment
from workflows import search_attributes as sa
from workflows.journey import OnboardingJourney
from workflows.models import (
    TASK_QUEUE,
    JourneyConfig,
    JourneyInput,
    JourneyState,
    RescheduleRequest,
    Signup,
    journey_id,
)


class JourneyNotFound(Exception):
    """No journey exists for that user."""


class JourneyFinished(Exception):
    """The journey already ended, so it takes no more controls."""


class ControlRejected(Exception):
    """The journey refused a control (e.g. a reschedule to a time in the past)."""


@dataclass(frozen=True)
class JourneyRow:
    """One journey as the visibility store lists it: no personal data, only what is searchable."""

    workflow_id: str
    status: str
    stage: str | None
    segment: str | None
    employees: int | None
    emails_sent: int | None
    outcome: str | None
    started_at: datetime | None


@dataclass(frozen=True)
class StartedJourney:
    workflow_id: str
    run_id: str
    created: bool
    running: bool


def journey_summary(signup: Signup) -> str:
    """The run's one-line summary in the Web UI: who (by id, never by email) and which company.

    The segment is only known after enrichment, so the run's current details carry it."""
    company = signup.company_domain or "company to be enriched"
    return f"Onboarding journey of user {signup.user_id} · {company}"


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
    config = with_variant(config, signup.user_id)

    async def start(attributes: TypedSearchAttributes | None) -> StartedJourney:
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
            static_summary=journey_summary(signup),
            search_attributes=attributes,
        )
        return StartedJourney(workflow_id, handle.result_run_id or "", created=True, running=True)

    try:
        try:
            return await start(sa.at_start(config.experiment, config.variant))
        except RPCError as exc:
            if not _unregistered_attribute(exc):
                raise
            # A namespace without the journey's attributes still takes the signup; the journey
            # waits at its first upsert, and the worker says how to register them.
            return await start(None)
    except WorkflowAlreadyStartedError:
        description = await client.get_workflow_handle(workflow_id).describe()
        return StartedJourney(
            workflow_id,
            description.run_id,
            created=False,
            running=description.status == WorkflowExecutionStatus.RUNNING,
        )


def with_variant(config: JourneyConfig, user_id: str) -> JourneyConfig:
    """The configuration with the user's variant of the email experiment, if one runs: a hash of
    the user id and the experiment, so a restart or a rerun gives the same variant."""
    if not config.email_experiment or config.variant:
        return config
    experiment = Experiment.parse(config.email_experiment)
    return config.model_copy(
        update={"experiment": experiment.name, "variant": experiment.assign(user_id)}
    )


def _unregistered_attribute(exc: RPCError) -> bool:
    return exc.status == RPCStatusCode.INVALID_ARGUMENT and "search attribute" in exc.message


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


async def _running_handle(
    client: Client, user_id: str, control: str
) -> WorkflowHandle[OnboardingJourney, JourneyState]:
    """The user's journey, if it is still running; says so in one line otherwise."""
    handle = _handle(client, user_id)
    try:
        description = await handle.describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise JourneyNotFound(f"no journey for user {user_id}") from None
        raise
    if description.status != WorkflowExecutionStatus.RUNNING:
        status = description.status.name.lower() if description.status else "closed"
        raise JourneyFinished(
            f"the journey of user {user_id} has already ended ({status}); nothing to {control}"
        )
    return handle


async def steer(client: Client, user_id: str, signal: str) -> str:
    """Send ``unsubscribe``, ``convert``, ``pause`` or ``resume`` to a running journey."""
    handle = await _running_handle(client, user_id, signal)
    try:
        await handle.signal(signal)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise JourneyFinished(f"the journey of user {user_id} has already ended") from None
        raise
    return handle.id


async def reschedule(client: Client, user_id: str, send_at: datetime) -> datetime:
    """Move the journey's next email to ``send_at``; returns the new due time."""
    handle = await _running_handle(client, user_id, "reschedule")
    try:
        return await handle.execute_update(
            OnboardingJourney.reschedule, RescheduleRequest(send_at=send_at)
        )
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        raise ControlRejected(getattr(cause, "message", None) or str(cause)) from None
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise JourneyFinished(f"the journey of user {user_id} has already ended") from None
        raise


def journeys_query(stage: str | None = None, outcome: str | None = None) -> str:
    """The visibility query behind ``onboarding journeys`` (and the Web UI's search box)."""
    clauses = ["WorkflowType = 'OnboardingJourney'"]
    for key, value in ((sa.JOURNEY_STAGE, stage), (sa.JOURNEY_OUTCOME, outcome)):
        if value is not None:
            if not value.replace("_", "").isalnum():
                raise ValueError(f"'{value}' is not a stage or outcome name")
            clauses.append(f"{key.name} = '{value}'")
    return " AND ".join(clauses)


async def list_journeys(
    client: Client, *, stage: str | None = None, outcome: str | None = None, limit: int = 100
) -> list[JourneyRow]:
    rows: list[JourneyRow] = []
    async for execution in client.list_workflows(journeys_query(stage, outcome), limit=limit):
        attributes = execution.typed_search_attributes
        rows.append(
            JourneyRow(
                workflow_id=execution.id,
                status=execution.status.name.lower() if execution.status else "unknown",
                stage=attributes.get(sa.JOURNEY_STAGE),
                segment=attributes.get(sa.JOURNEY_SEGMENT),
                employees=attributes.get(sa.COMPANY_EMPLOYEES),
                emails_sent=attributes.get(sa.EMAILS_SENT),
                outcome=attributes.get(sa.JOURNEY_OUTCOME),
                started_at=execution.start_time,
            )
        )
    return rows
