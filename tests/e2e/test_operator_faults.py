"""Faults an operator causes (a wrong Clearbit key, a Slack channel the bot cannot post to, a
warehouse that is down): journeys wait, visible on the pending activity with the reason, and
complete by themselves once the fault is fixed. On the dev server, with the real activities."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from pydantic import SecretStr
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.settings import VendorSettings
from sandbox.server import SandboxServer
from tests.conftest import RunningWorker, _worker
from tests.workflows.test_journey import signup, start
from workflows.journey import OnboardingJourney
from workflows.models import JourneyState, Outcome


async def waiting_with(
    handle: WorkflowHandle[OnboardingJourney, JourneyState], reason: str, attempts: int = 2
) -> str:
    """Wait until the journey's pending activity has failed ``attempts`` times with ``reason``."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        description = await handle.describe()
        for pending in description.raw_description.pending_activities:
            message = pending.last_failure.message
            if pending.attempt > attempts and reason in message:
                assert description.status is not None and description.status.name == "RUNNING"
                return message
        await asyncio.sleep(0.2)
    raise AssertionError(f"no pending activity failing with {reason!r}")


async def test_a_wrong_clearbit_key_waits_for_the_fix(
    dev_server: WorkflowEnvironment, vendor_settings: VendorSettings
) -> None:
    wrong = vendor_settings.model_copy(update={"clearbit_api_key": SecretStr("sk_typo")})
    workers = _worker(dev_server.client, wrong)
    broken = await anext(workers)
    handle = await start(broken, signup("ada@globex.example"))
    message = await waiting_with(handle, "CLEARBIT_API_KEY")
    assert "sk_typo" not in message  # the key itself never reaches the Web UI
    await broken.stop()

    # The operator fixes the key and redeploys the worker on the same task queue.
    async for fixed in _worker(dev_server.client, vendor_settings, task_queue=broken.task_queue):
        state = await asyncio.wait_for(handle.result(), timeout=60)
        assert state.outcome == Outcome.SALES_ALERTED
        assert fixed.task_queue == broken.task_queue
    await workers.aclose()


async def test_a_slack_channel_the_bot_cannot_post_to_waits_for_the_invite(
    dev_worker: RunningWorker, sandbox: SandboxServer
) -> None:
    channels = sandbox.state.slack_channels
    sandbox.state.slack_channels = ()  # the bot is in no channel yet
    handle = await start(dev_worker, signup("ada@globex.example"))
    await waiting_with(handle, "channel_not_found")

    sandbox.state.slack_channels = channels  # the operator invites the bot
    state = await asyncio.wait_for(handle.result(), timeout=60)
    assert state.outcome == Outcome.SALES_ALERTED
    assert sandbox.state.summary()["sales_alerts"] == 1


async def test_a_warehouse_that_is_down_waits_until_it_is_back(
    dev_server: WorkflowEnvironment, vendor_settings: VendorSettings, tmp_path: Path
) -> None:
    missing_dir = tmp_path / "warehouse-volume"
    down = vendor_settings.model_copy(
        update={"warehouse_url": f"sqlite:///{missing_dir / 'warehouse.db'}"}
    )
    async for running in _worker(dev_server.client, down):
        handle = await start(running, signup("pat@plainpaper.example"))
        await waiting_with(handle, "Warehouse unavailable")
        # The quick tries inside the workflow task gave up: the journey says where it waits.
        query = f"WorkflowId = '{handle.id}' AND JourneyStage = 'saving_enrichment'"
        deadline = time.monotonic() + 20
        while not [w async for w in dev_server.client.list_workflows(query)]:
            assert time.monotonic() < deadline, "the stuck save's stage never became searchable"
            await asyncio.sleep(0.2)
        missing_dir.mkdir()  # the operator brings the warehouse's volume back
        state = await asyncio.wait_for(handle.result(), timeout=60)
        assert state.outcome == Outcome.NO_INTEGRATION
