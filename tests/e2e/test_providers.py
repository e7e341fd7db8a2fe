"""The journey on each vendor of each role: the alternative set reaches every branch, the
enrichment waterfall asks the next provider after a miss, and a fleet whose workers are
restarted with another email provider between two emails sends each email exactly once."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.settings import VendorSettings, provider_overrides
from activities.warehouse import Warehouse
from sandbox.fixtures import expected_outcome, sample_signups
from sandbox.server import SandboxServer
from tests.conftest import RunningWorker
from tests.helpers import command_env, start_worker, wait_for_emails
from worker.main import run_worker
from workflows.journey import OnboardingJourney
from workflows.models import TASK_QUEUE, JourneyConfig, JourneyInput, Signup

ALTERNATIVES = "peopledatalabs,wappalyzer,postmark,slack-webhook"
FAST = JourneyConfig(
    email_schedule=[timedelta(0), timedelta(seconds=3), timedelta(seconds=6)],
    enrichment_poll_interval=timedelta(seconds=1),
)


@asynccontextmanager
async def worker(
    client: Client, settings: VendorSettings, providers: str, task_queue: str | None = None
) -> AsyncIterator[RunningWorker]:
    """A worker with ``providers`` chosen, stopped (as a redeploy stops it) on leaving."""
    task_queue = task_queue or f"onboarding-test-{uuid.uuid4().hex[:8]}"
    chosen = settings.model_copy(update=provider_overrides(providers))
    stop = asyncio.Event()
    task = asyncio.create_task(run_worker(client, chosen, stop, task_queue=task_queue))
    try:
        yield RunningWorker(client, task_queue, chosen, stop, task)
    finally:
        stop.set()
        await task


async def journey(running: RunningWorker, fields: dict[str, object], config: JourneyConfig) -> str:
    signup = Signup.model_validate(
        {**fields, "user_id": f"{fields['user_id']}-{uuid.uuid4().hex[:6]}"}
    )
    handle = await running.client.start_workflow(
        OnboardingJourney.run,
        JourneyInput(signup=signup, config=config),
        id=f"onboarding-{signup.user_id}",
        task_queue=running.task_queue,
    )
    return handle.id


async def test_the_alternative_set_reaches_every_branch(
    dev_server: WorkflowEnvironment, sandbox: SandboxServer, vendor_settings: VendorSettings
) -> None:
    async with worker(dev_server.client, vendor_settings, ALTERNATIVES) as running:
        ids = [await journey(running, fields, FAST) for fields in sample_signups()]
        handles = [running.client.get_workflow_handle_for(OnboardingJourney.run, i) for i in ids]
        states = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), 90)
    warehouse = Warehouse(vendor_settings.warehouse_url)
    for fields, workflow_id, state in zip(sample_signups(), ids, states, strict=True):
        assert state.outcome == expected_outcome(str(fields["email"])), state.path
        path = " → ".join(state.path)
        assert "Clearbit" not in path and "BuiltWith" not in path and "Resend" not in path
        if state.outcome == "emails_completed":
            assert "enriched by People Data Labs" in path
            assert "Wappalyzer found" in path
            assert [email.provider for email in state.emails] == ["postmark"] * 3
            assert state.providers == {
                "enrichment": "peopledatalabs",
                "technographics": "wappalyzer",
                "email": "postmark",
            }
        if state.outcome == "sales_alerted":
            assert "sales alerted via Slack (incoming webhook)" in path
        rows = {r["step"]: r["vendor"] for r in warehouse.rows(workflow_id)}
        assert set(rows.values()) <= {"peopledatalabs", "wappalyzer"}, rows
    # Nothing reached the default set's vendors; the alternative set's did the work.
    for vendor in ("clearbit", "builtwith", "slack", "resend"):
        assert sandbox.state.calls(vendor) == [], vendor
    assert len(sandbox.state.postmark_messages()) == 3 * sum(
        expected_outcome(str(f["email"])) == "emails_completed" for f in sample_signups()
    )
    assert len(sandbox.state.webhook_messages()) == 2


async def test_the_waterfall_asks_the_next_provider_after_a_miss(
    time_skipping: WorkflowEnvironment, sandbox: SandboxServer, vendor_settings: VendorSettings
) -> None:
    async with worker(time_skipping.client, vendor_settings, "peopledatalabs,clearbit") as running:
        # Unknown to both: asked of each, in order, then ends not enriched.
        missing = await journey(
            running, {"user_id": "u-miss", "email": "jo.park@unheard-of.example"}, FAST
        )
        handle = running.client.get_workflow_handle_for(OnboardingJourney.run, missing)
        state = await handle.result()
    assert state.outcome == "not_enriched"
    assert state.path[:2] == [
        "People Data Labs: no match; asking Clearbit",
        "Clearbit: no person or company found",
    ]
    enrich_calls = [
        call for call in sandbox.state.calls() if call["vendor"] in ("peopledatalabs", "clearbit")
    ]
    assert [call["vendor"] for call in enrich_calls] == ["peopledatalabs", "clearbit"]


async def test_a_fleet_restarted_with_another_email_provider_sends_each_email_once(
    dev_server: WorkflowEnvironment, sandbox: SandboxServer, tmp_path: Path
) -> None:
    """Two worker processes; between email 1 and email 2 one of them is restarted with
    ``EMAIL_PROVIDER=postmark`` while the other keeps Resend."""
    env = command_env(
        dev_server.client.service_client.config.target_host,
        sandbox,
        f"sqlite:///{tmp_path / 'warehouse.db'}",
    )
    client = dev_server.client
    steady = start_worker({**env, "EMAIL_PROVIDER": "resend"}, tmp_path / "steady.log")
    restarted = start_worker({**env, "EMAIL_PROVIDER": "resend"}, tmp_path / "restarted.log")
    config = JourneyConfig(
        email_schedule=[timedelta(0), timedelta(seconds=8), timedelta(seconds=16)]
    )
    try:
        handles = []
        for n in range(6):
            signup = Signup(
                user_id=f"swap-{uuid.uuid4().hex[:8]}", email=f"mei.chen+{n}@shopbright.example"
            )
            handles.append(
                await client.start_workflow(
                    OnboardingJourney.run,
                    JourneyInput(signup=signup, config=config),
                    id=f"onboarding-{signup.user_id}",
                    task_queue=TASK_QUEUE,
                )
            )
        await asyncio.gather(*(wait_for_emails(h, 1, timeout=60) for h in handles))
        restarted.terminate()
        restarted.wait(timeout=30)
        restarted = start_worker({**env, "EMAIL_PROVIDER": "postmark"}, tmp_path / "again.log")
        states = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), 90)
    finally:
        for process in (steady, restarted):
            process.terminate()
            process.wait(timeout=30)
    keys = Counter(sandbox.state.email_keys())
    assert keys == {f"{h.id}/email-{n}": 1 for h in handles for n in (1, 2, 3)}
    for state in states:
        assert state.outcome == "emails_completed"
        assert state.emails[0].provider == "resend"
    # Each email went out through the provider its journey's state names.
    by_provider = Counter(email.provider for state in states for email in state.emails)
    assert by_provider["postmark"] == len(sandbox.state.postmark_messages())
    assert by_provider["resend"] == len(sandbox.state.sent_emails())


async def test_a_whole_fleet_swap_takes_the_new_provider_at_the_next_email(
    dev_server: WorkflowEnvironment, sandbox: SandboxServer, vendor_settings: VendorSettings
) -> None:
    task_queue = f"onboarding-test-{uuid.uuid4().hex[:8]}"
    client = dev_server.client
    async with worker(client, vendor_settings, "resend", task_queue) as before:
        workflow_id = await journey(
            before, {"user_id": "u-swap", "email": "mei.chen@shopbright.example"}, FAST
        )
        handle = client.get_workflow_handle_for(OnboardingJourney.run, workflow_id)
        await wait_for_emails(handle, 1)
    async with worker(client, vendor_settings, "postmark", task_queue):
        state = await asyncio.wait_for(handle.result(), timeout=60)
    assert [email.provider for email in state.emails] == ["resend", "postmark", "postmark"]
    assert state.path.count("email 2 of 3 sent via Postmark") == 1
    assert Counter(sandbox.state.email_keys()) == {f"{workflow_id}/email-{n}": 1 for n in (1, 2, 3)}
