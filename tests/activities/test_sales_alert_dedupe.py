"""Slack has no idempotency key: a retried sales alert first looks for the alert an earlier attempt
posted (by its message metadata, with ``conversations.history``) and posts only when there is none.

The real activity against the sandbox over HTTP, plus the sandbox's Slack methods it relies on.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities import vendor_http
from activities.contracts import Company, SalesAlert, SalesAlertPosted
from activities.sales_alert import ALERT_EVENT_TYPE, SlackSalesAlert, alert_metadata
from activities.settings import VendorSettings
from sandbox import SandboxState, SlackMessage
from sandbox.server import SandboxServer
from worker.main import http_client

JOURNEY = "onboarding-u-42"
ALERT = SalesAlert(
    user_id="u-42",
    first_name="Ada",
    email="ada@globex.example",
    company=Company(name="Globex", domain="globex.example", employees=4500),
)
SLACK_AUTH = {"Authorization": "Bearer xoxb-sandbox"}


def attempt(
    number: int, journey: str = JOURNEY, scheduled: datetime | None = None
) -> ActivityEnvironment:
    """The activity's context on attempt ``number`` of an alert scheduled a moment ago."""
    env = ActivityEnvironment()
    env.info = dataclasses.replace(
        env.info,
        workflow_id=journey,
        workflow_run_id="run-1",
        attempt=number,
        scheduled_time=scheduled or datetime.now(UTC) - timedelta(seconds=5),
    )
    return env


def methods(server: SandboxServer) -> list[str]:
    """The Slack Web API methods called, in order."""
    return [call["path"].rsplit("/", 1)[1] for call in server.state.calls("slack")]


def alerts_of(server: SandboxServer, journey: str = JOURNEY) -> list[SlackMessage]:
    return [m for m in server.state.slack_messages() if m.metadata == alert_metadata(journey)]


@pytest_asyncio.fixture
async def http(vendor_settings: VendorSettings) -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(vendor_settings) as client:
        yield client


def worker(http: httpx.AsyncClient, settings: VendorSettings, **overrides: Any) -> SlackSalesAlert:
    """The activity as one worker process builds it; a new one has nothing cached."""
    return SlackSalesAlert(http, settings.model_copy(update=overrides))


# --- a retry after a post that got through ----------------------------------------------------


async def test_a_retry_after_a_successful_post_does_not_post_again(
    sandbox: SandboxServer, vendor_settings: VendorSettings, http: httpx.AsyncClient
) -> None:
    first = await attempt(1).run(worker(http, vendor_settings).post, ALERT)
    # The worker died before reporting; attempt 2 runs in a new worker process.
    again = await attempt(2).run(worker(http, vendor_settings).post, ALERT)

    assert again == first
    assert len(sandbox.state.slack_messages()) == 1
    assert methods(sandbox) == ["chat.postMessage", "conversations.list", "conversations.history"]
    history = sandbox.state.calls("slack")[-1]["request_body"]
    assert history["channel"] == "C0SALES"
    assert history["include_all_metadata"] == "true"
    assert float(history["oldest"]) < datetime.now(UTC).timestamp() - 5


async def test_the_same_worker_knows_the_channel_id_from_its_post(
    sandbox: SandboxServer, vendor_settings: VendorSettings, http: httpx.AsyncClient
) -> None:
    alerts = worker(http, vendor_settings)
    first = await attempt(1).run(alerts.post, ALERT)
    again = await attempt(2).run(alerts.post, ALERT)

    assert again == first
    assert methods(sandbox) == ["chat.postMessage", "conversations.history"]


async def test_a_retry_with_no_earlier_post_posts(
    sandbox: SandboxServer, vendor_settings: VendorSettings, http: httpx.AsyncClient
) -> None:
    posted = await attempt(2).run(worker(http, vendor_settings).post, ALERT)

    assert methods(sandbox) == ["conversations.list", "conversations.history", "chat.postMessage"]
    (message,) = sandbox.state.slack_messages()
    assert posted == SalesAlertPosted(channel="C0SALES", ts=message.ts)
    assert message.metadata == {
        "event_type": ALERT_EVENT_TYPE,
        "event_payload": {"journey_id": JOURNEY},
    }
    # The metadata names the journey only: no personal data.
    assert "ada" not in str(message.metadata).lower()


async def test_the_first_attempt_never_looks_up_the_history(
    sandbox: SandboxServer, vendor_settings: VendorSettings, http: httpx.AsyncClient
) -> None:
    alerts = worker(http, vendor_settings)
    await attempt(1).run(alerts.post, ALERT)
    await attempt(1).run(worker(http, vendor_settings).post, ALERT)

    assert methods(sandbox) == ["chat.postMessage", "chat.postMessage"]
    assert len(alerts_of(sandbox)) == 2


async def test_another_journeys_alert_is_not_this_ones(
    sandbox: SandboxServer, vendor_settings: VendorSettings, http: httpx.AsyncClient
) -> None:
    alerts = worker(http, vendor_settings)
    other = await attempt(1, journey="onboarding-u-7").run(alerts.post, ALERT)
    mine = await attempt(2).run(alerts.post, ALERT)

    assert mine.ts != other.ts
    assert len(alerts_of(sandbox)) == 1
    assert len(alerts_of(sandbox, "onboarding-u-7")) == 1


async def test_an_alert_from_before_the_step_was_scheduled_is_not_this_ones(
    sandbox: SandboxServer, vendor_settings: VendorSettings, http: httpx.AsyncClient
) -> None:
    # A journey started again with --rerun: the earlier run's alert is older than this attempt.
    alerts = worker(http, vendor_settings)
    earlier = await attempt(1).run(alerts.post, ALERT)
    later = datetime.now(UTC) + timedelta(hours=1)
    rerun = await attempt(2, scheduled=later).run(alerts.post, ALERT)

    assert rerun.ts != earlier.ts
    assert len(alerts_of(sandbox)) == 2
    oldest = float(sandbox.state.calls("slack")[1]["request_body"]["oldest"])
    assert oldest == pytest.approx((later - timedelta(minutes=2)).timestamp(), abs=0.001)


async def test_the_alert_is_found_pages_back_in_a_busy_channel(
    sandbox: SandboxServer, vendor_settings: VendorSettings, http: httpx.AsyncClient
) -> None:
    alerts = worker(http, vendor_settings)
    first = await attempt(1).run(alerts.post, ALERT)
    for n in range(450):
        sandbox.state.post_slack_message("C0SALES", f"chatter {n}", [])
    again = await attempt(2).run(alerts.post, ALERT)

    assert again == first
    histories = [c for c in sandbox.state.calls("slack") if c["path"].endswith(".history")]
    assert len(histories) == 3
    assert "cursor" not in histories[0]["request_body"]
    assert all(c["request_body"]["cursor"] for c in histories[1:])
    assert len(alerts_of(sandbox)) == 1


async def test_a_channel_id_setting_needs_no_channel_list(
    sandbox: SandboxServer, vendor_settings: VendorSettings, http: httpx.AsyncClient
) -> None:
    posted = await attempt(2).run(
        worker(http, vendor_settings, slack_sales_channel="C0SALES").post, ALERT
    )
    assert methods(sandbox) == ["conversations.history", "chat.postMessage"]
    assert posted.channel == "C0SALES"


@pytest.fixture
def crowded_workspace() -> Iterator[SandboxServer]:
    """A workspace with 450 channels before the sales channel, by ID order."""
    channels = [f"#team-{n:03d}" for n in range(450)] + ["#war-room"]
    with SandboxServer(port=0, state=SandboxState(slack_channels=channels)) as server:
        yield server


async def test_a_channel_name_is_resolved_across_pages_once_per_worker(
    crowded_workspace: SandboxServer, vendor_settings: VendorSettings
) -> None:
    settings = vendor_settings.model_copy(
        update={
            "slack_base_url": f"{crowded_workspace.url}/slack/api",
            "slack_sales_channel": "#war-room",
        }
    )
    async with http_client(settings) as http:
        alerts = SlackSalesAlert(http, settings)
        first = await attempt(2).run(alerts.post, ALERT)
        second = await attempt(2, journey="onboarding-u-43").run(alerts.post, ALERT)

    assert first.channel == second.channel == "C0WARROOM"
    assert methods(crowded_workspace) == [
        *["conversations.list"] * 3,
        "conversations.history",
        "chat.postMessage",
        "conversations.history",
        "chat.postMessage",
    ]
    lists = crowded_workspace.state.calls("slack")[:3]
    assert lists[0]["request_body"]["types"] == "public_channel,private_channel"
    assert [bool(c["request_body"].get("cursor")) for c in lists] == [False, True, True]


# --- what a failed lookup does: never post without having looked -----------------------------


@pytest.mark.parametrize(
    ("channel", "answer", "kind", "says"),
    [
        (
            "#sales",
            {"status": 200, "json": {"ok": False, "error": "missing_scope"}},
            vendor_http.NEEDS_OPERATOR,
            "channels:read",
        ),
        (
            "C0SALES",
            {
                "status": 200,
                "json": {"ok": False, "error": "missing_scope", "needed": "channels:history"},
            },
            vendor_http.NEEDS_OPERATOR,
            "channels:history",
        ),
        (
            "C0SALES",
            {"status": 200, "json": {"ok": False, "error": "not_in_channel"}},
            vendor_http.NEEDS_OPERATOR,
            "Invite it",
        ),
        (
            "C0SALES",
            {"status": 200, "json": {"ok": False, "error": "invalid_auth"}},
            vendor_http.NEEDS_OPERATOR,
            "SLACK_BOT_TOKEN",
        ),
        ("C0SALES", {"status": 503, "json": {"ok": False}}, vendor_http.UNAVAILABLE, "503"),
        (
            "#sales",
            {"status": 429, "json": {"ok": False}, "headers": {"Retry-After": "30"}},
            vendor_http.RATE_LIMITED,
            "30s",
        ),
        (
            "C0SALES",
            {"status": 200, "json": {"ok": False, "error": "invalid_ts_oldest"}},
            vendor_http.REJECTED,
            "conversations.history",
        ),
    ],
)
async def test_a_failed_lookup_fails_the_attempt_without_posting(
    sandbox: SandboxServer,
    vendor_settings: VendorSettings,
    http: httpx.AsyncClient,
    channel: str,
    answer: dict[str, Any],
    kind: str,
    says: str,
) -> None:
    sandbox.state.script("slack", [answer])
    alerts = worker(http, vendor_settings, slack_sales_channel=channel)
    with pytest.raises(ApplicationError) as raised:
        await attempt(2).run(alerts.post, ALERT)

    assert raised.value.type == kind
    assert says in str(raised.value)
    assert sandbox.state.slack_messages() == []
    assert "chat.postMessage" not in methods(sandbox)


async def test_a_channel_name_nobody_has_waits_for_an_operator(
    sandbox: SandboxServer, vendor_settings: VendorSettings, http: httpx.AsyncClient
) -> None:
    alerts = worker(http, vendor_settings, slack_sales_channel="#nowhere")
    with pytest.raises(ApplicationError) as raised:
        await attempt(2).run(alerts.post, ALERT)
    assert raised.value.type == vendor_http.NEEDS_OPERATOR
    assert "channel_not_found" in str(raised.value)
    assert "SLACK_SALES_CHANNEL" in str(raised.value)
    assert methods(sandbox) == ["conversations.list"]


# --- the sandbox's Slack methods, on the wire ------------------------------------------------


@pytest.fixture
def slack(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{sandbox.url}/slack/api", timeout=5.0) as client:
        yield client


def test_history_returns_metadata_only_when_asked(slack: httpx.Client) -> None:
    metadata = {"event_type": "onboarding_sales_alert", "event_payload": {"journey_id": "j-1"}}
    posted = slack.post(
        "/chat.postMessage",
        json={"channel": "#sales", "text": "hi", "metadata": metadata},
        headers=SLACK_AUTH,
    ).json()
    assert posted["ok"] is True
    assert posted["message"]["metadata"] == metadata

    plain = slack.get("/conversations.history", params={"channel": "C0SALES"}, headers=SLACK_AUTH)
    (message,) = plain.json()["messages"]
    assert message["ts"] == posted["ts"]
    assert "metadata" not in message
    full = slack.post(
        "/conversations.history",
        data={"channel": "C0SALES", "include_all_metadata": "true"},
        headers=SLACK_AUTH,
    ).json()
    assert full["messages"][0]["metadata"] == metadata
    assert full["has_more"] is False


def test_history_pages_newest_first_from_oldest_on(slack: httpx.Client) -> None:
    stamps = [
        slack.post(
            "/chat.postMessage", json={"channel": "C0SALES", "text": f"m{n}"}, headers=SLACK_AUTH
        ).json()["ts"]
        for n in range(5)
    ]
    seen: list[str] = []
    cursor = ""
    while True:
        params = {"channel": "C0SALES", "oldest": stamps[0], "limit": "2"}
        page = slack.get(
            "/conversations.history", params={**params, "cursor": cursor}, headers=SLACK_AUTH
        ).json()
        seen += [m["ts"] for m in page["messages"]]
        cursor = page.get("response_metadata", {}).get("next_cursor", "")
        if not page["has_more"]:
            break
    # ``oldest`` is exclusive unless ``inclusive``; newest first.
    assert seen == list(reversed(stamps[1:]))


@pytest.mark.parametrize(
    ("path", "params", "headers", "error"),
    [
        ("/conversations.history", {"channel": "C0SALES"}, {}, "not_authed"),
        (
            "/conversations.history",
            {"channel": "C0SALES"},
            {"Authorization": "Bearer xoxb-wrong"},
            "invalid_auth",
        ),
        ("/conversations.history", {"channel": "#sales"}, SLACK_AUTH, "channel_not_found"),
        ("/conversations.history", {"channel": "C0NOPE"}, SLACK_AUTH, "channel_not_found"),
        (
            "/conversations.history",
            {"channel": "C0SALES", "oldest": "yesterday"},
            SLACK_AUTH,
            "invalid_ts_oldest",
        ),
        (
            "/conversations.history",
            {"channel": "C0SALES", "cursor": "bm9wZQ=="},
            SLACK_AUTH,
            "invalid_cursor",
        ),
        ("/conversations.list", {}, {}, "not_authed"),
        ("/conversations.list", {"types": "nonsense"}, SLACK_AUTH, "invalid_types"),
    ],
)
def test_slack_lookups_fail_like_slack(
    slack: httpx.Client,
    path: str,
    params: dict[str, str],
    headers: dict[str, str],
    error: str,
) -> None:
    response = slack.get(path, params=params, headers=headers)
    assert response.status_code == 200
    assert response.json() == {"ok": False, "error": error}


def test_channel_list_names_each_channel_once(slack: httpx.Client, sandbox: SandboxServer) -> None:
    body = slack.get(
        "/conversations.list", params={"types": "public_channel"}, headers=SLACK_AUTH
    ).json()
    assert [(c["id"], c["name"]) for c in body["channels"]] == [("C0SALES", "sales")]
    assert body["response_metadata"]["next_cursor"] == ""
    calls = sandbox.state.calls("slack")
    assert calls[-1]["path"] == "/slack/api/conversations.list"


def test_faults_reach_the_lookups_too(slack: httpx.Client, sandbox: SandboxServer) -> None:
    sandbox.state.set_faults(error_rate=1.0, vendors=["slack"])
    history = slack.get("/conversations.history", params={"channel": "C0SALES"}, headers=SLACK_AUTH)
    listing = slack.get("/conversations.list", headers=SLACK_AUTH)
    assert history.status_code == listing.status_code == 503
    assert [c["fault"] for c in sandbox.state.calls("slack")] == ["error", "error"]
