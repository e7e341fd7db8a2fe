"""Emails people can stop, end to end on the dev server: a worker sending through the sandbox's
Resend or Postmark, and ``onboarding webhook`` as its own process at the emails' PUBLIC_BASE_URL.

The unsubscribe link is taken from what the provider received; the bounce and complaint events
are signed (Resend) or authenticated (Postmark) as the providers do, and name the email by the
reference the provider was given."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from standardwebhooks.webhooks import Webhook
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.settings import VendorSettings
from devstack.processes import free_port, spawn
from sandbox.server import SandboxServer
from tests.conftest import RunningWorker, _worker
from tests.helpers import ONBOARDING, command_env, wait_for_emails
from workflows.journey import OnboardingJourney
from workflows.models import JourneyConfig, JourneyInput, JourneyState, Outcome, Signup

RESEND_SECRET = "whsec_" + base64.b64encode(os.urandom(32)).decode()
POSTMARK_USER, POSTMARK_PASSWORD = "postmark", secrets.token_urlsafe(16)
# Long enough between emails for a test to act after email 1 and before email 2.
CONFIG = JourneyConfig(email_schedule=[timedelta(0), timedelta(seconds=20), timedelta(seconds=40)])
ONE_CLICK = {"List-Unsubscribe": "One-Click"}

Handle = WorkflowHandle[OnboardingJourney, JourneyState]


@dataclass
class Site:
    url: str
    http: httpx.AsyncClient
    worker: RunningWorker
    sandbox: SandboxServer

    async def journey(self, email: str) -> Handle:
        signup = Signup(user_id=f"mail-{uuid.uuid4().hex[:10]}", email=email, first_name="Mei")
        return await self.worker.client.start_workflow(
            OnboardingJourney.run,
            JourneyInput(signup=signup, config=CONFIG),
            id=f"onboarding-{signup.user_id}",
            task_queue=self.worker.task_queue,
        )

    def received(self, handle: Handle, number: int) -> Any:
        """The email as the provider received it (Resend's or Postmark's record)."""
        key = f"{handle.id}/email-{number}"
        found = [e for e in self.sandbox.state.sent_emails() if e.idempotency_key == key] + [
            m
            for m in self.sandbox.state.postmark_messages()
            if m.metadata.get("journey_email") == key
        ]
        assert len(found) == 1, f"{key} was accepted {len(found)} times"
        return found[0]

    def keys(self, handle: Handle) -> list[str]:
        return [k for k in self.sandbox.state.email_keys() if k.startswith(f"{handle.id}/")]


@pytest_asyncio.fixture(params=["resend", "postmark"])
async def site(
    request: pytest.FixtureRequest,
    dev_server: WorkflowEnvironment,
    sandbox: SandboxServer,
    vendor_settings: VendorSettings,
    tmp_path: Path,
) -> AsyncIterator[Site]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = command_env(
        dev_server.client.service_client.config.target_host,
        sandbox,
        vendor_settings.warehouse_url,
        RESEND_WEBHOOK_SECRET=RESEND_SECRET,
        POSTMARK_WEBHOOK_USER=POSTMARK_USER,
        POSTMARK_WEBHOOK_PASSWORD=POSTMARK_PASSWORD,
    )
    webhook = spawn(
        [ONBOARDING, "webhook", "--port", str(port), "--insecure-dev"],
        env=env,
        log=tmp_path / "webhook.log",
    )
    settings = vendor_settings.model_copy(
        update={"public_base_url": url, "email_provider": request.param}
    )
    try:
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if (await http.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, (tmp_path / "webhook.log").read_text()
                await asyncio.sleep(0.2)
            async for running in _worker(dev_server.client, settings):
                yield Site(url, http, running, sandbox)
    finally:
        webhook.terminate()
        webhook.wait(timeout=30)


async def ended(handle: Handle, within: float = 15) -> JourneyState:
    return await asyncio.wait_for(handle.result(), within)


async def signals(handle: Handle) -> list[str]:
    return [
        event.workflow_execution_signaled_event_attributes.signal_name
        async for event in handle.fetch_history_events()
        if event.HasField("workflow_execution_signaled_event_attributes")
    ]


async def test_one_click_unsubscribe_stops_the_journey_before_its_next_email(site: Site) -> None:
    address = f"mei.chen+{uuid.uuid4().hex[:6]}@shopbright.example"
    handle = await site.journey(address)
    await wait_for_emails(handle, 1)

    email = site.received(handle, 1)
    assert email.header("List-Unsubscribe-Post") == "List-Unsubscribe=One-Click"
    link = email.header("List-Unsubscribe")
    assert link.startswith(f"<{site.url}/unsubscribe/") and link.endswith(">")
    link = link[1:-1]
    assert "@" not in link and "shopbright" not in link  # no address in the token
    assert link in email.text and f'href="{link}"' in email.html  # visible in both bodies
    assert "1 Example Street" in email.text and "1 Example Street" in email.html

    # A link scanner's GET changes nothing.
    page = await site.http.get(link)
    assert page.status_code == 200 and "<form" in page.text and "<script" not in page.text
    # A tampered token is refused, the same way whatever is wrong with it.
    token = link.rsplit("/", 1)[1]
    tampered = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    refused = await site.http.post(f"/unsubscribe/{tampered}", data=ONE_CLICK)
    garbage = await site.http.post("/unsubscribe/not-a-token", data=ONE_CLICK)
    assert refused.status_code == garbage.status_code == 404
    assert refused.text == garbage.text
    await asyncio.sleep(1)
    state = await handle.query(OnboardingJourney.state)
    assert state.outcome is None and state.emails_sent == 1
    assert await signals(handle) == []

    # The mail client's one-click POST: 200, no redirect, no cookie, no login.
    clicked = await site.http.post(link, data=ONE_CLICK, follow_redirects=False)
    assert clicked.status_code == 200, clicked.text
    assert "set-cookie" not in clicked.headers and "location" not in clicked.headers
    state = await ended(handle)
    assert state.outcome is Outcome.UNSUBSCRIBED
    assert state.emails_sent == 1
    again = await site.http.post(link, data=ONE_CLICK)
    assert again.status_code == 200  # harmless to repeat
    await asyncio.sleep(CONFIG.email_schedule[1].total_seconds() / 2)
    assert site.keys(handle) == [f"{handle.id}/email-1"], "email 2 went out after the opt-out"

    # The same address signing up again gets nothing, and the path says why.
    later = await ended(await site.journey(address.upper()))
    assert later.outcome is Outcome.UNSUBSCRIBED
    assert later.emails_sent == 0
    assert "email 1 not sent: the address is unsubscribed" in later.path


def resend_event(kind: str, reference: str) -> dict[str, Any]:
    data: dict[str, Any] = {
        "email_id": str(uuid.uuid4()),
        "to": ["<the reader>"],
        "tags": {"journey": "onboarding", "email_ref": reference},
    }
    if kind == "email.bounced":
        data["bounce"] = {"type": "Permanent", "subType": "General", "message": "No such user"}
    return {"type": kind, "created_at": "2026-12-04T10:00:00.000Z", "data": data}


def signed(body: bytes, event_id: str, secret: str = RESEND_SECRET) -> dict[str, str]:
    at = datetime.now(UTC).replace(microsecond=0)
    return {
        "svix-id": event_id,
        "svix-timestamp": str(int(at.timestamp())),
        "svix-signature": Webhook(secret).sign(event_id, at, body.decode()),
        "content-type": "application/json",
    }


def postmark_event(record_type: str, reference: str) -> dict[str, Any]:
    event: dict[str, Any] = {
        "RecordType": record_type,
        "ID": int(time.time() * 1000) % 2**31,
        "Type": "SpamComplaint" if record_type == "SpamComplaint" else "HardBounce",
        "TypeCode": 100001 if record_type == "SpamComplaint" else 1,
        "MessageID": str(uuid.uuid4()),
        "MessageStream": "outbound",
        "Metadata": {"email_ref": reference},
        "Email": "reader@example.invalid",
        "BouncedAt": "2026-12-04T10:00:00Z",
    }
    if record_type == "Bounce":
        event["Inactive"] = True
    return event


@pytest.mark.parametrize(
    ("resend_kind", "postmark_kind", "outcome"),
    [
        ("email.bounced", "Bounce", Outcome.BOUNCED),
        ("email.complained", "SpamComplaint", Outcome.COMPLAINED),
    ],
)
async def test_a_bounce_or_complaint_ends_the_journey_and_a_replay_changes_nothing(
    site: Site, resend_kind: str, postmark_kind: str, outcome: Outcome
) -> None:
    provider = site.worker.settings.email_provider
    address = f"mei.chen+{uuid.uuid4().hex[:6]}@shopbright.example"
    handle = await site.journey(address)
    await wait_for_emails(handle, 1)
    email = site.received(handle, 1)
    reference = (
        dict(email.tags)["email_ref"] if provider == "resend" else email.metadata["email_ref"]
    )

    if provider == "resend":
        path = "/email-events/resend"
        body = json.dumps(resend_event(resend_kind, reference)).encode()
        event_id = f"msg_{uuid.uuid4().hex}"
        forged = signed(body, event_id, "whsec_" + base64.b64encode(os.urandom(32)).decode())
        refused = await site.http.post(path, content=body, headers=forged)

        async def deliver() -> httpx.Response:
            # Each attempt is signed afresh, with the same event id: a replay.
            return await site.http.post(path, content=body, headers=signed(body, event_id))
    else:
        path = "/email-events/postmark"
        payload = postmark_event(postmark_kind, reference)
        refused = await site.http.post(path, json=payload, auth=(POSTMARK_USER, "wrong"))

        async def deliver() -> httpx.Response:
            return await site.http.post(path, json=payload, auth=(POSTMARK_USER, POSTMARK_PASSWORD))

    assert refused.status_code == 401
    await asyncio.sleep(1)
    assert (await handle.query(OnboardingJourney.state)).outcome is None

    first = await deliver()
    assert first.status_code == 200 and first.json()["result"] == "suppressed", first.text
    state = await ended(handle)
    assert state.outcome is outcome and state.emails_sent == 1
    replay = await deliver()
    assert replay.status_code == 200 and replay.json()["result"] == "duplicate", replay.text
    expected_signal = "bounced" if outcome is Outcome.BOUNCED else "complained"
    assert await signals(handle) == [expected_signal]
    assert site.keys(handle) == [f"{handle.id}/email-1"]

    # The address stays suppressed for any later journey.
    later = await ended(await site.journey(address))
    assert later.outcome is outcome and later.emails_sent == 0


async def test_an_event_for_an_email_the_product_never_sent_is_acknowledged(site: Site) -> None:
    body = json.dumps(resend_event("email.bounced", "f" * 40)).encode()
    response = await site.http.post(
        "/email-events/resend", content=body, headers=signed(body, f"msg_{uuid.uuid4().hex}")
    )
    assert response.status_code == 200 and response.json()["result"] == "ignored"
