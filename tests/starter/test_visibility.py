"""The Web UI as the run history: search attributes readable through ``list_workflows`` with a
stage filter at each stage, on the dev server; and the controls by user id."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from sandbox.server import SandboxServer
from starter.journeys import (
    ControlRejected,
    JourneyFinished,
    JourneyNotFound,
    list_journeys,
    reschedule,
    start_journey,
    steer,
)
from tests.conftest import RunningWorker
from tests.workflows.test_journey import signup, start, upserted_stages
from tests.workflows.test_replay import replayer
from workflows import search_attributes as sa
from workflows.journey import OnboardingJourney
from workflows.models import JourneyConfig, JourneyState, Outcome

SLOW_SCHEDULE = JourneyConfig(email_schedule=[timedelta(0), timedelta(hours=1), timedelta(hours=2)])


async def eventually(check: object, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not await check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.1)


async def listed_at(
    env: WorkflowEnvironment, handle: WorkflowHandle[OnboardingJourney, JourneyState], stage: str
) -> None:
    """Wait until the journey reports ``stage`` and the visibility store lists it there."""

    async def reported() -> bool:
        return (await handle.query(OnboardingJourney.state)).stage_label == stage

    async def listed() -> bool:
        query = f"WorkflowId = '{handle.id}' AND {sa.JOURNEY_STAGE.name} = '{stage}'"
        return [w.id async for w in env.client.list_workflows(query)] == [handle.id]

    await eventually(reported)
    await eventually(listed)


@pytest.mark.parametrize(
    ("email", "failing_vendor", "slow_vendor", "stage"),
    [
        # A call that works at once publishes nothing; one that fails shows its stage while the
        # server retries it.
        ("sam@shopbright.example", "clearbit", None, "enriching"),
        ("sam@shopbright.example", "builtwith", None, "checking_stack"),
        ("sam@shopbright.example", "resend", None, "sending_email_1"),
        # The sales alert's stage is published before its first try.
        ("ada@globex.example", None, "slack", "alerting_sales"),
        ("sam@shopbright.example", None, None, "waiting_email_2"),
    ],
)
async def test_each_stage_is_searchable(
    dev_server: WorkflowEnvironment,
    dev_worker: RunningWorker,
    sandbox: SandboxServer,
    email: str,
    failing_vendor: str | None,
    slow_vendor: str | None,
    stage: str,
) -> None:
    if failing_vendor:
        sandbox.state.set_faults(error_rate=1.0, vendors=[failing_vendor])
    if slow_vendor:
        sandbox.state.set_faults(latency_seconds=2.0, vendors=[slow_vendor])
    handle = await start(dev_worker, signup(email), SLOW_SCHEDULE)
    await listed_at(dev_server, handle, stage)
    sandbox.state.set_faults()
    await handle.signal(OnboardingJourney.unsubscribe)
    await handle.result()


async def test_a_journey_started_at_its_first_stage_does_not_upsert_it_again(
    dev_server: WorkflowEnvironment,
    dev_worker: RunningWorker,
    sandbox: SandboxServer,
) -> None:
    sandbox.state.set_faults(latency_seconds=2.0, vendors=["clearbit"])
    started = await start_journey(
        dev_worker.client,
        signup("sam@shopbright.example"),
        SLOW_SCHEDULE,
        task_queue=dev_worker.task_queue,
    )
    handle = dev_worker.client.get_workflow_handle_for(OnboardingJourney.run, started.workflow_id)
    # Searchable at its first stage from the moment it starts, while Clearbit is slow.
    await listed_at(dev_server, handle, "enriching")
    sandbox.state.set_faults(latency_seconds=0.0, vendors=["clearbit"])
    await listed_at(dev_server, handle, "waiting_email_2")
    await handle.signal(OnboardingJourney.unsubscribe)
    await handle.result()
    history = await handle.fetch_history()
    # Every call worked at its first try: the only stages published are where it waited.
    assert upserted_stages(history) == ["waiting_email_2", "done"]
    # A worker that picks the journey up again replays the same commands.
    replay = await replayer(data_converter=dev_worker.client.data_converter).replay_workflow(
        history, raise_on_replay_failure=False
    )
    assert replay.replay_failure is None


async def test_a_journey_started_without_attributes_upserts_its_stages(
    dev_server: WorkflowEnvironment, dev_worker: RunningWorker
) -> None:
    handle = await start(dev_worker, signup("ada@globex.example"))
    await handle.result()
    assert upserted_stages(await handle.fetch_history()) == ["alerting_sales", "done"]


async def test_a_namespace_without_the_attributes_still_takes_the_signup(
    dev_server: WorkflowEnvironment,
) -> None:
    """A namespace where nobody registered the journey's search attributes refuses a start that
    sets one; the starter then starts the journey without them rather than drop the signup."""
    namespace = f"bare-{uuid.uuid4().hex[:8]}"
    await dev_server.client.workflow_service.register_namespace(
        RegisterNamespaceRequest(
            namespace=namespace, workflow_execution_retention_period=Duration(seconds=86400)
        )
    )
    client = Client(
        dev_server.client.service_client,
        namespace=namespace,
        data_converter=dev_server.client.data_converter,
    )
    started = None
    for _ in range(100):  # a new namespace takes the server a moment to serve
        try:
            started = await start_journey(
                client,
                signup("sam@shopbright.example"),
                JourneyConfig(),
                task_queue="bare-namespace",
            )
            break
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            await asyncio.sleep(0.2)
    assert started is not None and started.created
    handle = client.get_workflow_handle(started.workflow_id)
    description = await handle.describe()
    assert description.status == WorkflowExecutionStatus.RUNNING
    assert description.typed_search_attributes.get(sa.JOURNEY_STAGE) is None
    await handle.terminate("test over")


async def test_attributes_follow_the_journey_to_its_end(
    dev_server: WorkflowEnvironment, dev_worker: RunningWorker
) -> None:
    handle = await start(dev_worker, signup("sam@shopbright.example"), SLOW_SCHEDULE)
    await listed_at(dev_server, handle, "waiting_email_2")
    attributes = (await handle.describe()).typed_search_attributes
    assert attributes.get(sa.JOURNEY_SEGMENT) == "smb"
    assert attributes.get(sa.COMPANY_EMPLOYEES) == 25
    assert attributes.get(sa.EMAILS_SENT) == 1
    assert attributes.get(sa.JOURNEY_OUTCOME) is None

    await handle.signal(OnboardingJourney.pause)
    await listed_at(dev_server, handle, "paused")
    await handle.signal(OnboardingJourney.convert)
    await handle.result()
    await listed_at(dev_server, handle, "done")
    attributes = (await handle.describe()).typed_search_attributes
    assert attributes.get(sa.JOURNEY_OUTCOME) == "converted"
    # No personal data in any search attribute.
    values = [str(pair.value) for pair in attributes]
    assert not any("@" in value or "Robin" in value for value in values)

    async def in_listing() -> bool:
        rows = await list_journeys(dev_server.client, stage="done", outcome="converted")
        return handle.id in [row.workflow_id for row in rows]

    await eventually(in_listing)


async def test_the_run_page_tells_the_story(
    dev_server: WorkflowEnvironment, dev_worker: RunningWorker
) -> None:
    new_signup = signup("ada@globex.example")
    started = await start_journey(
        dev_worker.client, new_signup, JourneyConfig(), task_queue=dev_worker.task_queue
    )
    handle = dev_worker.client.get_workflow_handle_for(OnboardingJourney.run, started.workflow_id)
    await handle.result()
    description = await handle.describe()
    assert await description.static_summary() == (
        f"Onboarding journey of user {new_signup.user_id} · company to be enriched"
    )
    # The Web UI reads current details through the SDK's built-in metadata query.
    metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    details = metadata.current_details
    assert "**Stage:** done" in details
    assert "**Segment:** enterprise · 4500 employees · globex.example" in details
    assert "sales alerted via Slack" in details
    history = await handle.fetch_history()
    summaries = set()
    for event in history.events:
        if event.HasField("user_metadata") and event.user_metadata.HasField("summary"):
            summaries.add(event.user_metadata.summary.data.decode())
    assert any(s.strip('"') == "enrichment" for s in summaries)
    assert any(s.strip('"') == "sales alert" for s in summaries)


async def test_controls_by_user_id(
    dev_server: WorkflowEnvironment, dev_worker: RunningWorker
) -> None:
    client = dev_server.client
    new_signup = signup("sam@shopbright.example")
    handle = await start(dev_worker, new_signup, SLOW_SCHEDULE)
    await listed_at(dev_server, handle, "waiting_email_2")
    user_id = new_signup.user_id

    assert await steer(client, user_id, "pause") == handle.id
    assert (await handle.query(OnboardingJourney.state)).paused
    await steer(client, user_id, "resume")
    assert not (await handle.query(OnboardingJourney.state)).paused

    in_ten_minutes = datetime.now(UTC) + timedelta(minutes=10)
    assert await reschedule(client, user_id, in_ten_minutes) == in_ten_minutes
    with pytest.raises(ControlRejected, match="in the past"):
        await reschedule(client, user_id, datetime.now(UTC) - timedelta(minutes=1))

    await steer(client, user_id, "convert")
    assert (await handle.result()).outcome == Outcome.CONVERTED
    for control in ("pause", "resume", "unsubscribe", "convert"):
        with pytest.raises(JourneyFinished, match="already ended"):
            await steer(client, user_id, control)
    with pytest.raises(JourneyFinished, match="already ended"):
        await reschedule(client, user_id, in_ten_minutes)
    with pytest.raises(JourneyNotFound, match="no journey for user nobody"):
        await steer(client, "nobody", "pause")


async def test_an_experiments_variant_is_captured_at_start_and_searchable(
    dev_server: WorkflowEnvironment, dev_worker: RunningWorker
) -> None:
    """The starter assigns the variant (a hash of the user id), the start carries it as
    ``JourneyVariant``, and the same user gets the same variant again."""
    from starter.experiment import Experiment

    spec = "subject-2026-12: control=50, short-subject=50"
    config = SLOW_SCHEDULE.model_copy(update={"email_experiment": spec})
    new = signup("sam@shopbright.example")
    started = await start_journey(dev_worker.client, new, config, task_queue=dev_worker.task_queue)
    expected = Experiment.parse(spec).assign(new.user_id)
    handle = dev_worker.client.get_workflow_handle_for(OnboardingJourney.run, started.workflow_id)
    description = await handle.describe()
    assert description.typed_search_attributes.get(sa.JOURNEY_VARIANT) == (
        f"subject-2026-12:{expected}"
    )
    query = f"JourneyVariant = 'subject-2026-12:{expected}' AND WorkflowId = '{handle.id}'"
    await eventually(lambda: _count(dev_server.client, query))
    await handle.terminate()


async def _count(client: Client, query: str) -> bool:
    return (await client.count_workflows(query)).count == 1
