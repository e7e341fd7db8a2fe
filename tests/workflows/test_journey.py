"""Every branch and outcome of the journey on the time-skipping server, with the real activities
talking to the vendor sandbox over HTTP."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta

import pytest
from temporalio.client import WorkflowFailureError, WorkflowHandle, WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from sandbox.fixtures import expected_outcome
from sandbox.server import SandboxServer
from tests.conftest import RunningWorker
from workflows import search_attributes as sa
from workflows.journey import OnboardingJourney
from workflows.models import JourneyConfig, JourneyInput, JourneyState, Outcome, Signup, Stage

DAY = timedelta(days=1)
TOLERANCE = timedelta(seconds=10)

BRANCHES = [
    ("ada@globex.example", None, Outcome.SALES_ALERTED),
    ("ines@initech.example", None, Outcome.SALES_ALERTED),
    ("sam@shopbright.example", None, Outcome.EMAILS_COMPLETED),
    ("gavin@hooli-labs.example", None, Outcome.EMAILS_COMPLETED),
    ("pat@plainpaper.example", None, Outcome.NO_INTEGRATION),
    ("kim@mailbox.example", None, Outcome.NO_COMPANY),
    ("lee@slowpoke.example", None, Outcome.EMAILS_COMPLETED),
    ("max@nomad-domain.example", "nomad-shop.example", Outcome.EMAILS_COMPLETED),
    ("joe@unheard-of.example", None, Outcome.NOT_ENRICHED),
    ("info@globex.example", None, Outcome.INVALID_EMAIL),
]


def signup(email: str, company_domain: str | None = None) -> Signup:
    return Signup(
        user_id=f"u-{uuid.uuid4().hex[:10]}",
        email=email,
        first_name="Robin",
        company_domain=company_domain,
    )


async def start(
    worker: RunningWorker, new_signup: Signup, config: JourneyConfig | None = None
) -> WorkflowHandle[OnboardingJourney, JourneyState]:
    return await worker.client.start_workflow(
        OnboardingJourney.run,
        JourneyInput(signup=new_signup, config=config or JourneyConfig()),
        id=f"onboarding-{new_signup.user_id}",
        task_queue=worker.task_queue,
    )


async def wait_for(
    handle: WorkflowHandle[OnboardingJourney, JourneyState], stage: Stage, emails_sent: int = 0
) -> JourneyState:
    """Poll the ``state`` query (which does not skip time) until the journey is at ``stage``."""
    for _ in range(200):
        state = await handle.query(OnboardingJourney.state)
        if state.stage == stage and state.emails_sent == emails_sent:
            return state
        await asyncio.sleep(0.05)
    raise AssertionError(f"journey never reached {stage} with {emails_sent} emails: {state}")


@pytest.mark.parametrize(("email", "company_domain", "outcome"), BRANCHES)
async def test_every_branch_ends_with_its_outcome(
    skipping_worker: RunningWorker,
    sandbox: SandboxServer,
    email: str,
    company_domain: str | None,
    outcome: Outcome,
) -> None:
    assert expected_outcome(email) == outcome.value, "the sandbox's table and this test disagree"
    handle = await start(skipping_worker, signup(email, company_domain))
    state = await handle.result()

    assert state.outcome == outcome
    assert state.stage == Stage.DONE
    summary = sandbox.state.summary()
    calls = sandbox.state.calls()
    vendors = [c["vendor"] for c in calls]
    assert summary["sales_alerts"] == (1 if outcome == Outcome.SALES_ALERTED else 0)
    assert summary["emails_accepted"] == (3 if outcome == Outcome.EMAILS_COMPLETED else 0)
    assert state.emails_sent == summary["emails_accepted"]
    assert ("builtwith" in vendors) == (
        outcome in (Outcome.EMAILS_COMPLETED, Outcome.NO_INTEGRATION)
    )
    if outcome == Outcome.SALES_ALERTED:
        assert state.segment == "enterprise"
        assert state.sales_alerted
    if outcome == Outcome.EMAILS_COMPLETED:
        assert state.matched_technology is not None


async def test_saved_payloads_are_one_row_per_step(skipping_worker: RunningWorker) -> None:
    from activities.warehouse import Warehouse

    handle = await start(skipping_worker, signup("sam@shopbright.example"))
    await handle.result()
    rows = Warehouse(skipping_worker.settings.warehouse_url).rows(handle.id)
    assert [(r["step"], r["vendor"]) for r in rows] == [
        ("enrichment", "clearbit"),
        ("technographics", "builtwith"),
    ]
    assert rows[0]["payload"]["company"]["domain"] == "shopbright.example"


async def test_saves_run_inside_the_workflow_task(skipping_worker: RunningWorker) -> None:
    """A healthy warehouse costs no activity task: each save (the two payloads, and the
    journey's row at its end) is a local activity's marker."""
    handle = await start(skipping_worker, signup("sam@shopbright.example"))
    await handle.result()
    history = await handle.fetch_history()
    scheduled = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]
    markers = [
        e.marker_recorded_event_attributes.marker_name
        for e in history.events
        if e.HasField("marker_recorded_event_attributes")
    ]
    assert "save_to_warehouse" not in scheduled and "record_journey" not in scheduled
    assert scheduled.count("send_onboarding_email") == 3
    assert markers.count("core_local_activity") == 3


async def test_the_journeys_row_follows_the_journey(skipping_worker: RunningWorker) -> None:
    """One row per journey, no address in it, with what the funnel counts."""
    from activities.warehouse import Warehouse

    handle = await start(skipping_worker, signup("sam@shopbright.example"))
    state = await handle.result()
    [row] = Warehouse(skipping_worker.settings.warehouse_url).journeys(handle.id)
    assert row["outcome"] == "emails_completed" == state.outcome
    assert row["emails_sent"] == 3 and row["progress"] == len(state.path)
    assert row["enriched"] and row["segment"] == "smb" and not row["sales_alerted"]
    assert row["matched_technology"] == "Shopify"
    assert row["enrichment_provider"] == "clearbit" and row["email_provider"] == "resend"
    assert row["first_email_at"] is not None and row["ended_at"] is not None
    assert row["cohort_week"].startswith(str(row["started_at"].isocalendar()[0]))
    assert "sam" not in repr(row) and "@" not in repr(row)


async def test_an_unenriched_journey_still_has_its_row(skipping_worker: RunningWorker) -> None:
    """No save ever ran: the end alone writes the row."""
    from activities.warehouse import Warehouse

    handle = await start(skipping_worker, signup("joe@unheard-of.example"))
    state = await handle.result()
    [row] = Warehouse(skipping_worker.settings.warehouse_url).journeys(handle.id)
    assert row["outcome"] == state.outcome and not row["enriched"]


async def test_no_company_still_saves_the_payload(skipping_worker: RunningWorker) -> None:
    from activities.warehouse import Warehouse

    handle = await start(skipping_worker, signup("kim@mailbox.example"))
    assert (await handle.result()).outcome == Outcome.NO_COMPANY
    rows = Warehouse(skipping_worker.settings.warehouse_url).rows(handle.id)
    assert [r["step"] for r in rows] == ["enrichment"]
    assert rows[0]["payload"]["company"] is None


async def test_emails_go_out_exactly_on_schedule(
    skipping_worker: RunningWorker, sandbox: SandboxServer
) -> None:
    handle = await start(skipping_worker, signup("sam@shopbright.example"))
    started = (await handle.describe()).start_time
    state = await handle.result()

    sent = [email.sent_at for email in state.emails]
    assert [e.number for e in state.emails] == [1, 2, 3]
    assert abs(sent[0] - started) < TOLERANCE
    assert abs(sent[1] - sent[0] - 2 * DAY) < TOLERANCE
    assert abs(sent[2] - sent[0] - 5 * DAY) < TOLERANCE
    keys = [c["idempotency_key"] for c in sandbox.state.calls("resend")]
    assert keys == [f"{handle.id}/email-{n}" for n in (1, 2, 3)]


async def test_after_an_outage_emails_come_late_never_crowded(
    skipping_worker: RunningWorker, sandbox: SandboxServer
) -> None:
    handle = await start(skipping_worker, signup("sam@shopbright.example"))
    await wait_for(handle, Stage.WAITING_EMAIL, emails_sent=1)
    # Resend throttles email 2 for an hour: it goes out late, and email 3 keeps its gap.
    outage = timedelta(hours=1)
    sandbox.state.script(
        "resend",
        [
            {
                "status": 429,
                "json": {"statusCode": 429, "name": "rate_limit_exceeded"},
                "headers": {"retry-after": str(int(outage.total_seconds()))},
            }
        ],
    )
    state = await handle.result()

    first, second, third = (email.sent_at for email in state.emails)
    assert second - first >= 2 * DAY + outage - TOLERANCE
    assert third - second >= 3 * DAY - TOLERANCE
    assert abs(third - second - 3 * DAY) < TOLERANCE
    assert state.outcome == Outcome.EMAILS_COMPLETED


async def test_queued_lookup_is_asked_again_until_found(
    skipping_worker: RunningWorker, sandbox: SandboxServer
) -> None:
    handle = await start(skipping_worker, signup("lee@slowpoke.example"))
    state = await handle.result()

    statuses = [c["status"] for c in sandbox.state.calls("clearbit")]
    assert statuses == [202, 202, 200]
    assert state.enrichment_polls == 2
    assert state.outcome == Outcome.EMAILS_COMPLETED


@pytest.mark.parametrize("signal", ["unsubscribe", "convert"])
@pytest.mark.parametrize(
    ("email", "slow_vendor", "stage", "emails_before", "alerted"),
    [
        ("sam@shopbright.example", "clearbit", Stage.ENRICHING, 0, False),
        ("sam@shopbright.example", "builtwith", Stage.CHECKING_STACK, 0, False),
        ("sam@shopbright.example", "resend", Stage.SENDING_EMAIL, 0, False),
        ("sam@shopbright.example", None, Stage.WAITING_EMAIL, 1, False),
        ("sam@shopbright.example", None, Stage.WAITING_EMAIL, 2, False),
        ("ada@globex.example", "slack", Stage.ALERTING_SALES, 0, True),
    ],
)
async def test_signals_stop_the_journey_at_every_stage(
    time_skipping: WorkflowEnvironment,
    skipping_worker: RunningWorker,
    sandbox: SandboxServer,
    signal: str,
    email: str,
    slow_vendor: str | None,
    stage: Stage,
    emails_before: int,
    alerted: bool,
) -> None:
    if slow_vendor:
        sandbox.state.set_faults(latency_seconds=1.5, vendors=[slow_vendor])
    handle = await start(skipping_worker, signup(email))
    if emails_before == 2:
        # Queries do not skip time: skip past email 2's timer by hand.
        await wait_for(handle, Stage.WAITING_EMAIL, emails_sent=1)
        await time_skipping.sleep(2 * DAY + timedelta(minutes=1))
    await wait_for(handle, stage, emails_sent=emails_before)
    await handle.signal(signal)
    state = await handle.result()

    assert state.outcome == (Outcome.UNSUBSCRIBED if signal == "unsubscribe" else Outcome.CONVERTED)
    # The call in flight when the signal came completes; nothing further goes out.
    emails_after = emails_before + (1 if stage == Stage.SENDING_EMAIL else 0)
    assert state.emails_sent == emails_after
    assert sandbox.state.summary()["emails_accepted"] == emails_after
    assert state.sales_alerted is alerted
    if stage == Stage.ENRICHING:
        assert not sandbox.state.calls("builtwith")


async def test_a_rejected_request_fails_the_journey_with_the_reason(
    skipping_worker: RunningWorker, sandbox: SandboxServer
) -> None:
    sandbox.state.script("slack", [{"status": 200, "json": {"ok": False, "error": "msg_too_long"}}])
    handle = await start(skipping_worker, signup("ada@globex.example"))
    with pytest.raises(WorkflowFailureError) as failure:
        await handle.result()
    assert "msg_too_long" in str(failure.value.cause.cause)


def upserted_stages(history: WorkflowHistory) -> list[str]:
    """Every ``JourneyStage`` value the journey upserted, in order."""
    stages = []
    for event in history.events:
        if event.HasField("upsert_workflow_search_attributes_event_attributes"):
            fields = event.upsert_workflow_search_attributes_event_attributes.search_attributes
            if sa.JOURNEY_STAGE.name in fields.indexed_fields:
                stages.append(json.loads(fields.indexed_fields[sa.JOURNEY_STAGE.name].data))
    return stages


def timer_summaries(history: WorkflowHistory) -> list[str]:
    return [
        json.loads(event.user_metadata.summary.data)
        for event in history.events
        if event.HasField("timer_started_event_attributes")
    ]


async def test_a_call_whose_first_try_fails_shows_its_stage_and_goes_out_once(
    skipping_worker: RunningWorker, sandbox: SandboxServer
) -> None:
    sandbox.state.script("builtwith", [{"status": 503, "json": {"Errors": ["unavailable"]}}])
    sandbox.state.script(
        "resend", [{"status": 500, "json": {"statusCode": 500, "name": "internal_server_error"}}]
    )
    handle = await start(skipping_worker, signup("sam@shopbright.example"))
    state = await handle.result()

    assert state.outcome == Outcome.EMAILS_COMPLETED
    assert [c["status"] for c in sandbox.state.calls("builtwith")] == [503, 200]
    assert sandbox.state.summary()["emails_accepted"] == 3
    history = await handle.fetch_history()
    # Published once each first try failed, and nowhere else but where the journey waits.
    assert upserted_stages(history) == [
        "checking_stack",
        "sending_email_1",
        "waiting_email_2",
        "waiting_email_3",
        "done",
    ]
    retries = [s for s in timer_summaries(history) if s.startswith("retry ")]
    assert retries == [
        "retry stack lookup of shopbright.example in 1s",
        "retry onboarding email 1 of 3 in 1s",
    ]


async def test_a_request_the_vendor_rejects_at_its_first_try_is_not_retried(
    skipping_worker: RunningWorker, sandbox: SandboxServer
) -> None:
    sandbox.state.script(
        "resend",
        [
            {
                "status": 422,
                "json": {"statusCode": 422, "name": "validation_error", "message": "Invalid."},
            }
        ],
    )
    handle = await start(skipping_worker, signup("sam@shopbright.example"))
    with pytest.raises(WorkflowFailureError) as failure:
        await handle.result()
    assert "Invalid." in str(failure.value.cause.cause)
    assert [c["status"] for c in sandbox.state.calls("resend")] == [422]
    assert not [s for s in timer_summaries(await handle.fetch_history()) if s.startswith("retry")]


async def test_the_journeys_own_config_decides(skipping_worker: RunningWorker) -> None:
    # Globex has 4,500 employees and runs Salesforce: with a higher threshold it is not an
    # enterprise, and with Salesforce integrated it gets the emails.
    config = JourneyConfig(
        enterprise_employee_threshold=10_000,
        integrated_technologies=["salesforce"],
        email_schedule=[timedelta(0), timedelta(hours=1)],
    )
    handle = await start(skipping_worker, signup("ada@globex.example"), config)
    state = await handle.result()
    assert state.segment == "smb"
    assert state.matched_technology == "salesforce"
    assert state.outcome == Outcome.EMAILS_COMPLETED
    assert state.emails_sent == 2


async def test_the_row_counts_an_email_while_the_journey_waits_for_the_next(
    skipping_worker: RunningWorker,
) -> None:
    """The send marks the row: between emails no other write runs, so only it can say 1."""
    from activities.warehouse import Warehouse

    config = JourneyConfig(email_experiment="e: control=1, short-subject=1")
    config = config.model_copy(update={"experiment": "e", "variant": "short-subject"})
    handle = await start(skipping_worker, signup("sam@shopbright.example"), config)
    await wait_for(handle, Stage.WAITING_EMAIL, emails_sent=1)
    [row] = Warehouse(skipping_worker.settings.warehouse_url).journeys(handle.id)
    assert row["emails_sent"] == 1 and row["outcome"] is None
    assert row["first_email_at"] is not None
    assert (row["experiment"], row["variant"]) == ("e", "short-subject")
    await handle.terminate()
