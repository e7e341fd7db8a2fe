"""Resend's and Postmark's bounce and complaint webhooks against the dev server: verified, the
address suppressed and the journey signalled once, however often the provider delivers."""

from __future__ import annotations

import base64
import json
import logging
import os
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from standardwebhooks.webhooks import Webhook
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.suppression import REFERENCE_FIELD, Reason, SuppressionList
from activities.warehouse import Warehouse
from starter.email_events import TRANSIENT_BOUNCE
from starter.webhook import WebhookSettings, check_secrets, create_app
from tests.starter.test_unsubscribe import (
    CONFIG,
    HASH_KEY,
    Journey,
    held_journey,
    returning,
    signals,
    webhook_settings,
)

RESEND_SECRET = "whsec_" + base64.b64encode(os.urandom(32)).decode()
POSTMARK = ("postmark-hooks", "a long postmark password")


def resend_event(
    reference: str | None,
    kind: str = "email.bounced",
    bounce: str | None = "Permanent",
    tags_as: str = "object",
) -> dict[str, Any]:
    """A Resend event as its docs show it, addressed to a person the webhook must never echo."""
    tags: Any = {"journey": "onboarding"}
    if reference is not None:
        tags[REFERENCE_FIELD] = reference
    if tags_as == "list":
        tags = [{"name": name, "value": value} for name, value in tags.items()]
    data: dict[str, Any] = {
        "email_id": str(uuid.uuid4()),
        "from": "Onboarding <onboarding@example.com>",
        "to": ["ana.lopez@globex.example"],
        "subject": "Welcome",
        "created_at": "2024-11-22T23:41:11.894719+00:00",
        "tags": tags,
    }
    if bounce is not None:
        data["bounce"] = {"message": "The recipient's mailbox does not exist.", "type": bounce}
    return {"type": kind, "created_at": "2024-11-22T23:41:12.126Z", "data": data}


def svix_signed(
    event: dict[str, Any], *, msg_id: str | None = None, at: datetime | None = None
) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(event).encode()
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    at = at or datetime.now(UTC)
    return body, {
        "content-type": "application/json",
        "svix-id": msg_id,
        "svix-timestamp": str(int(at.timestamp())),
        "svix-signature": Webhook(RESEND_SECRET).sign(msg_id, at, body.decode()),
    }


def postmark_event(
    reference: str | None, record_type: str = "Bounce", kind: str = "HardBounce", **extra: Any
) -> dict[str, Any]:
    """A Postmark webhook as its docs show it."""
    event: dict[str, Any] = {
        "RecordType": record_type,
        "MessageStream": "outbound",
        "ID": int.from_bytes(os.urandom(6)),
        "Type": kind,
        "TypeCode": 1,
        "MessageID": str(uuid.uuid4()),
        "Metadata": {REFERENCE_FIELD: reference} if reference else {},
        "Email": "ana.lopez@globex.example",
        "From": "onboarding@example.com",
        "BouncedAt": "2019-11-05T16:33:54.9070259Z",
        "Inactive": False,
        "Description": "The server was unable to deliver your message.",
        **extra,
    }
    return event


def basic(user: str, password: str) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@dataclass
class Hooks:
    http: httpx.AsyncClient
    temporal: Client
    suppressions: SuppressionList

    async def journey(self) -> Journey:
        return await held_journey(self.temporal, self.suppressions)

    async def resend(self, event: dict[str, Any], **signing: Any) -> httpx.Response:
        body, headers = svix_signed(event, **signing)
        return await self.http.post("/email-events/resend", content=body, headers=headers)

    async def postmark(
        self, event: dict[str, Any], credentials: tuple[str, str] = POSTMARK
    ) -> httpx.Response:
        return await self.http.post(
            "/email-events/postmark", json=event, headers=basic(*credentials)
        )


def app_settings(url: str, **overrides: Any) -> WebhookSettings:
    return webhook_settings(
        url,
        resend_webhook_secret=RESEND_SECRET,
        postmark_webhook_user=POSTMARK[0],
        postmark_webhook_password=POSTMARK[1],
        **overrides,
    )


@pytest_asyncio.fixture
async def hooks(dev_server: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[Hooks]:
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    app = create_app(
        app_settings(url), client_factory=returning(dev_server.client), journey_config=CONFIG
    )
    warehouse = Warehouse(url)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app), base_url="https://hooks.example"
    ) as http:
        yield Hooks(http, dev_server.client, SuppressionList(warehouse, HASH_KEY))
    warehouse.close()


# --- Resend ------------------------------------------------------------------------------------


async def test_a_permanent_bounce_suppresses_and_stops_the_journey_once(
    hooks: Hooks, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="onboarding")
    journey = await hooks.journey()
    body, headers = svix_signed(resend_event(journey.reference))
    first = await hooks.http.post("/email-events/resend", content=body, headers=headers)

    assert first.status_code == 200, first.text
    assert first.json()["result"] == "suppressed"
    assert hooks.suppressions.reason(journey.address) == Reason.BOUNCED
    assert await signals(hooks.temporal, journey.workflow_id) == ["bounced"]

    # Svix redelivers the same message (same svix-id), signed afresh.
    body_again, headers_again = svix_signed(
        resend_event(journey.reference), msg_id=headers["svix-id"]
    )
    again = await hooks.http.post("/email-events/resend", content=body_again, headers=headers_again)
    assert again.status_code == 200 and again.json()["result"] == "duplicate"
    assert await signals(hooks.temporal, journey.workflow_id) == ["bounced"]
    assert hooks.suppressions.event_counts() == {"bounced": 1}
    for private in ("ana.lopez@globex.example", journey.address, RESEND_SECRET):
        assert private not in caplog.text and private not in first.text


@pytest.mark.parametrize("tags_as", ["object", "list"])
async def test_a_complaint_suppresses_as_complained(hooks: Hooks, tags_as: str) -> None:
    journey = await hooks.journey()
    response = await hooks.resend(
        resend_event(journey.reference, "email.complained", bounce=None, tags_as=tags_as)
    )

    assert response.status_code == 200, response.text
    assert hooks.suppressions.reason(journey.address) == Reason.COMPLAINED
    assert await signals(hooks.temporal, journey.workflow_id) == ["complained"]


@pytest.mark.parametrize("bounce", ["Transient", "Undetermined", None])
async def test_a_bounce_that_may_yet_deliver_is_only_counted(
    hooks: Hooks, bounce: str | None
) -> None:
    journey = await hooks.journey()
    body, headers = svix_signed(resend_event(journey.reference, bounce=bounce, tags_as="list"))
    for _ in range(2):  # the redelivery is not counted twice
        response = await hooks.http.post("/email-events/resend", content=body, headers=headers)
        assert response.status_code == 200, response.text

    assert hooks.suppressions.reason(journey.address) is None
    assert await signals(hooks.temporal, journey.workflow_id) == []
    assert hooks.suppressions.event_counts() == {TRANSIENT_BOUNCE: 1}


@pytest.mark.parametrize(
    "event",
    [
        resend_event("not-one-of-ours"),
        resend_event(None),
        resend_event("REF", "email.delivered", bounce=None),
        resend_event("REF", "contact.created", bounce=None),
    ],
    ids=["unknown-reference", "no-reference", "delivered", "other-kind"],
)
async def test_other_events_are_acknowledged_and_change_nothing(
    hooks: Hooks, event: dict[str, Any]
) -> None:
    journey = await hooks.journey()
    event = json.loads(json.dumps(event).replace("REF", journey.reference))
    response = await hooks.resend(event)

    assert response.status_code == 200, response.text
    assert response.json()["result"] == "ignored"
    assert hooks.suppressions.reason(journey.address) is None
    assert await signals(hooks.temporal, journey.workflow_id) == []
    assert hooks.suppressions.event_counts() == {}


def _wrong_secret(body: bytes, headers: dict[str, str]) -> dict[str, str]:
    other = Webhook("whsec_" + base64.b64encode(os.urandom(32)).decode())
    at = datetime.now(UTC)
    return {**headers, "svix-signature": other.sign(headers["svix-id"], at, body.decode())}


def _stale(body: bytes, headers: dict[str, str]) -> dict[str, str]:
    return svix_signed(json.loads(body), at=datetime.now(UTC) - timedelta(minutes=6))[1]


def _without(name: str) -> Callable[[bytes, dict[str, str]], dict[str, str]]:
    return lambda body, headers: {k: v for k, v in headers.items() if k != name}


def _as_standard_webhooks(body: bytes, headers: dict[str, str]) -> dict[str, str]:
    # The same signature under Standard Webhooks' names: Resend's route reads Svix's.
    return {k.replace("svix-", "webhook-"): v for k, v in headers.items()}


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (_wrong_secret, "does not match"),
        (_stale, "5 minutes"),
        (_without("svix-signature"), "required"),
        (_without("svix-id"), "required"),
        (_as_standard_webhooks, "svix-id, svix-timestamp and svix-signature"),
        (lambda body, headers: {**headers, "svix-signature": "v1,garbage"}, "does not match"),
    ],
    ids=["wrong-secret", "stale", "no-signature", "no-id", "standard-names", "garbage"],
)
async def test_bad_signatures_are_401_and_change_nothing(
    hooks: Hooks, tamper: Callable[[bytes, dict[str, str]], dict[str, str]], reason: str
) -> None:
    journey = await hooks.journey()
    body, headers = svix_signed(resend_event(journey.reference))
    response = await hooks.http.post(
        "/email-events/resend", content=body, headers=tamper(body, headers)
    )

    assert response.status_code == 401, response.text
    assert reason in response.json()["detail"]
    assert hooks.suppressions.reason(journey.address) is None
    assert await signals(hooks.temporal, journey.workflow_id) == []


async def test_an_invalid_event_is_422_without_echoing_it(hooks: Hooks) -> None:
    journey = await hooks.journey()
    event = resend_event(journey.reference)
    event["data"]["tags"] = "ana.lopez@globex.example"
    response = await hooks.resend(event)

    assert response.status_code == 422
    assert "ana.lopez" not in response.text
    assert hooks.suppressions.reason(journey.address) is None


async def test_temporal_down_is_503_and_the_retry_acts(
    dev_server: WorkflowEnvironment, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    worker_view = SuppressionList(Warehouse(url), HASH_KEY)
    journey = await held_journey(dev_server.client, worker_view)
    temporal_up = False

    async def flaky() -> Client:
        if not temporal_up:
            raise RuntimeError("connection refused")
        return dev_server.client

    app = create_app(app_settings(url), client_factory=flaky, journey_config=CONFIG)
    body, headers = svix_signed(resend_event(journey.reference))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app), base_url="https://hooks.example"
    ) as http:
        down = await http.post("/email-events/resend", content=body, headers=headers)
        assert down.status_code == 503
        assert down.headers["retry-after"] == "5"
        # Suppressed already (the send activity checks it), but not recorded as handled.
        assert worker_view.reason(journey.address) == Reason.BOUNCED
        assert worker_view.event_counts() == {}

        temporal_up = True
        retried = await http.post("/email-events/resend", content=body, headers=headers)
    assert retried.status_code == 200, retried.text
    assert retried.json()["result"] == "suppressed"
    assert await signals(dev_server.client, journey.workflow_id) == ["bounced"]
    assert worker_view.event_counts() == {"bounced": 1}


# --- Postmark ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "reason", "signal"),
    [
        (dict(kind="HardBounce"), Reason.BOUNCED, "bounced"),
        (dict(kind="BadEmailAddress"), Reason.BOUNCED, "bounced"),
        (dict(kind="ManuallyDeactivated"), Reason.BOUNCED, "bounced"),
        (dict(kind="SoftBounce", Inactive=True), Reason.BOUNCED, "bounced"),
        (dict(record_type="SpamComplaint", kind="SpamComplaint"), Reason.COMPLAINED, "complained"),
    ],
    ids=["hard", "bad-address", "deactivated", "inactive", "spam-complaint"],
)
async def test_postmark_permanent_bounces_and_complaints_suppress(
    hooks: Hooks, event: dict[str, Any], reason: Reason, signal: str
) -> None:
    journey = await hooks.journey()
    delivery = postmark_event(journey.reference, **event)
    first = await hooks.postmark(delivery)
    again = await hooks.postmark(delivery)

    assert first.status_code == 200, first.text
    assert first.json()["result"] == "suppressed"
    assert again.json()["result"] == "duplicate"
    assert hooks.suppressions.reason(journey.address) == reason
    assert await signals(hooks.temporal, journey.workflow_id) == [signal]
    assert "ana.lopez" not in first.text


@pytest.mark.parametrize("kind", ["SoftBounce", "Transient", "DnsError", "AutoResponder"])
async def test_postmark_soft_bounces_are_only_counted(hooks: Hooks, kind: str) -> None:
    journey = await hooks.journey()
    response = await hooks.postmark(postmark_event(journey.reference, kind=kind))

    assert response.status_code == 200, response.text
    assert response.json()["result"] == "counted"
    assert hooks.suppressions.reason(journey.address) is None
    assert await signals(hooks.temporal, journey.workflow_id) == []
    assert hooks.suppressions.event_counts() == {TRANSIENT_BOUNCE: 1}


async def test_postmark_other_records_and_strangers_are_acknowledged(hooks: Hooks) -> None:
    journey = await hooks.journey()
    delivery = postmark_event(journey.reference, record_type="Delivery")
    for event in (delivery, postmark_event("unknown-ref"), postmark_event(None)):
        response = await hooks.postmark(event)
        assert response.status_code == 200 and response.json()["result"] == "ignored"
    assert hooks.suppressions.reason(journey.address) is None
    assert hooks.suppressions.event_counts() == {}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        basic(POSTMARK[0], "wrong password"),
        basic("someone-else", POSTMARK[1]),
        basic(POSTMARK[0], POSTMARK[1] + "x"),
        {"authorization": "Bearer " + POSTMARK[1]},
        {"authorization": "Basic not-base64!"},
        {"authorization": "Basic " + base64.b64encode(POSTMARK[0].encode()).decode()},
    ],
    ids=["none", "wrong-password", "wrong-user", "longer", "bearer", "garbage", "no-colon"],
)
async def test_postmark_without_its_credentials_is_401(
    hooks: Hooks, headers: dict[str, str]
) -> None:
    journey = await hooks.journey()
    response = await hooks.http.post(
        "/email-events/postmark", json=postmark_event(journey.reference), headers=headers
    )

    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Basic")
    assert POSTMARK[1] not in response.text
    assert hooks.suppressions.reason(journey.address) is None


# --- settings ------------------------------------------------------------------------------


async def test_unconfigured_provider_routes_are_404_outside_insecure_dev(
    dev_server: WorkflowEnvironment, tmp_path: Path
) -> None:
    app = create_app(
        webhook_settings(f"sqlite:///{tmp_path / 'w.db'}"),
        client_factory=returning(dev_server.client),
        journey_config=CONFIG,
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app), base_url="https://hooks.example"
    ) as http:
        resend = await http.post("/email-events/resend", json=resend_event("x"))
        postmark = await http.post("/email-events/postmark", json=postmark_event("x"))
    assert (resend.status_code, postmark.status_code) == (404, 404)
    assert "RESEND_WEBHOOK_SECRET" in resend.json()["detail"]
    assert "POSTMARK_WEBHOOK_USER" in postmark.json()["detail"]


async def test_insecure_dev_takes_unverified_events_and_says_so(
    dev_server: WorkflowEnvironment, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="onboarding")
    url = f"sqlite:///{tmp_path / 'w.db'}"
    worker_view = SuppressionList(Warehouse(url), HASH_KEY)
    bounced, complained = [await held_journey(dev_server.client, worker_view) for _ in range(2)]
    app = create_app(
        WebhookSettings(webhook_insecure_dev=True, warehouse_url=url, _env_file=None),
        client_factory=returning(dev_server.client),
        journey_config=CONFIG,
    )
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "RESEND_WEBHOOK_SECRET not set" in warning and "POSTMARK_WEBHOOK_USER" in warning
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app), base_url="https://hooks.example"
    ) as http:
        resend = await http.post("/email-events/resend", json=resend_event(bounced.reference))
        postmark = await http.post(
            "/email-events/postmark",
            json=postmark_event(complained.reference, "SpamComplaint", "SpamComplaint"),
        )
    assert resend.status_code == postmark.status_code == 200
    assert worker_view.reason(bounced.address) == Reason.BOUNCED
    assert worker_view.reason(complained.address) == Reason.COMPLAINED


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"resend_webhook_secret": "whsec_not*base64"}, "RESEND_WEBHOOK_SECRET"),
        ({"postmark_webhook_user": "hooks"}, "both POSTMARK_WEBHOOK_USER"),
        ({"postmark_webhook_password": "secret-pw"}, "both POSTMARK_WEBHOOK_USER"),
        (
            {"postmark_webhook_user": "a:b", "postmark_webhook_password": "secret-pw"},
            "cannot contain ':'",
        ),
    ],
    ids=["resend-not-base64", "user-only", "password-only", "colon"],
)
def test_email_secrets_that_are_set_must_be_usable(
    tmp_path: Path, overrides: dict[str, Any], needle: str
) -> None:
    [problem] = check_secrets(webhook_settings(f"sqlite:///{tmp_path / 'w.db'}", **overrides))
    assert needle in problem and "\n" not in problem
    assert "not*base64" not in problem and "secret-pw" not in problem


def test_blank_email_secrets_count_as_unset(tmp_path: Path) -> None:
    blank = {
        "resend_webhook_secret": "",
        "postmark_webhook_user": " ",
        "postmark_webhook_password": "",
    }
    assert check_secrets(webhook_settings(f"sqlite:///{tmp_path / 'w.db'}", **blank)) == []
    # Blank signing keys are missing keys: the webhook will not start without them.
    (problem,) = check_secrets(
        webhook_settings(f"sqlite:///{tmp_path / 'w.db'}", unsubscribe_signing_keys=" ")
    )
    assert "UNSUBSCRIBE_SIGNING_KEYS" in problem


def test_a_warehouse_url_that_cannot_be_opened_refuses_to_start() -> None:
    from starter.webhook import WebhookConfigError

    for url in ("not a url", "nosuchdb://user:hunter2@host/db"):
        with pytest.raises(WebhookConfigError) as refused:
            create_app(webhook_settings(url), journey_config=CONFIG)
        assert "WAREHOUSE_URL" in str(refused.value) and "hunter2" not in str(refused.value)
