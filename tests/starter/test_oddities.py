"""Signups as they really arrive, through the webhook and the whole journey against the sandbox:
plus-addressing, internationalised domains, long and emoji names, bare signups, free-mail
addresses, a user id delivered twice with different emails, stray whitespace and capitals."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from standardwebhooks.webhooks import Webhook
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from common.unsubscribe import generate_signing_key
from sandbox.fixtures import FIXTURES
from sandbox.server import SandboxServer
from starter.webhook import WebhookSettings, create_app
from tests.conftest import RunningWorker
from workflows.journey import OnboardingJourney
from workflows.models import JourneyConfig, JourneyInput, JourneyState, Outcome, journey_id

SECRET = "whsec_" + base64.b64encode(os.urandom(32)).decode()
# Three emails within two seconds, so a whole journey ends within the test.
CONFIG = JourneyConfig(email_schedule="0s,1s,2s", enrichment_poll_interval=timedelta(seconds=1))
SHOPBRIGHT = Outcome(FIXTURES["shopbright.example"].expected_outcome)


class Signups:
    """POST /signups of the webhook app, in this test's event loop, journeys on the dev worker."""

    def __init__(self, http: httpx.AsyncClient, client: Client) -> None:
        self.http = http
        self.client = client

    async def deliver(self, signup: dict[str, Any]) -> httpx.Response:
        """One Standard Webhooks delivery of ``signup``, signed as the product signs it."""
        body = json.dumps(signup, ensure_ascii=False)
        msg_id = f"msg_{uuid.uuid4().hex}"
        now = datetime.now(UTC)
        headers = {
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": Webhook(SECRET).sign(msg_id, now, body),
        }
        return await self.http.post("/signups", content=body.encode(), headers=headers)

    async def start(
        self, signup: dict[str, Any]
    ) -> WorkflowHandle[OnboardingJourney, JourneyState]:
        response = await self.deliver(signup)
        assert response.status_code == 202, response.text
        assert response.json()["created"] is True
        return self.client.get_workflow_handle_for(
            OnboardingJourney.run, response.json()["workflow_id"]
        )

    async def outcome(self, handle: WorkflowHandle[OnboardingJourney, JourneyState]) -> Outcome:
        state = await asyncio.wait_for(handle.result(), timeout=60)
        assert state.outcome is not None
        return state.outcome

    async def journey_input(self, user_id: str) -> JourneyInput:
        """What the journey was started with, as its history holds it."""
        history = await self.client.get_workflow_handle(journey_id(user_id)).fetch_history()
        started = history.events[0].workflow_execution_started_event_attributes
        [value] = await pydantic_data_converter.decode(started.input.payloads, [JourneyInput])
        assert isinstance(value, JourneyInput)
        return value

    async def exists(self, user_id: str) -> bool:
        try:
            await self.client.get_workflow_handle(journey_id(user_id)).describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return False
            raise
        return True


@pytest_asyncio.fixture
async def hook(
    dev_server: WorkflowEnvironment, dev_worker: RunningWorker, sandbox: SandboxServer
) -> AsyncIterator[Signups]:
    async def temporal() -> Client:
        return dev_server.client

    app = create_app(
        WebhookSettings(
            signup_webhook_secret=SECRET,
            segment_shared_secret=secrets.token_urlsafe(),
            unsubscribe_signing_keys=generate_signing_key("u1"),
            _env_file=None,
        ),
        client_factory=temporal,
        journey_config=CONFIG,
        task_queue=dev_worker.task_queue,
    )
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://webhook") as http:
        yield Signups(http, dev_server.client)


def user() -> str:
    return f"odd-{uuid.uuid4().hex[:10]}"


def clearbit_lookups(sandbox: SandboxServer) -> list[str | None]:
    return [call.lookup for call in sandbox.state.recorded_calls("clearbit")]


def resend_bodies(sandbox: SandboxServer) -> list[dict[str, Any]]:
    return [call.request_body for call in sandbox.state.recorded_calls("resend")]


async def test_plus_addressing_is_kept_and_enriched_as_its_domain(
    hook: Signups, sandbox: SandboxServer
) -> None:
    user_id = user()
    handle = await hook.start({"user_id": user_id, "email": "sam+trial@shopbright.example"})

    assert await hook.outcome(handle) == SHOPBRIGHT == Outcome.EMAILS_COMPLETED
    # The '+' survives the query string (not read back as a space) and the recipient list.
    assert set(clearbit_lookups(sandbox)) == {"sam+trial@shopbright.example"}
    assert {tuple(email.to) for email in sandbox.state.sent_emails()} == {
        ("sam+trial@shopbright.example",)
    }


async def test_an_idn_domain_is_accepted_and_the_company_domain_stored_as_punycode(
    hook: Signups, sandbox: SandboxServer
) -> None:
    user_id = user()
    handle = await hook.start(
        {"user_id": user_id, "email": "ana@bücher.example", "company_domain": "bücher.example"}
    )

    assert await hook.outcome(handle) == Outcome.NOT_ENRICHED  # the sandbox knows no bücher
    signup = (await hook.journey_input(user_id)).signup
    # The domain, which BuiltWith looks up as a host name, is ASCII; the address stays as the
    # person wrote it (email-validator's normal form), which is what Clearbit was asked about.
    assert signup.company_domain == "xn--bcher-kva.example"
    assert signup.email == "ana@bücher.example"
    assert clearbit_lookups(sandbox) == ["ana@bücher.example"]


@pytest.mark.parametrize("field", ["first_name", "last_name"])
async def test_names_up_to_200_characters_are_accepted_and_201_refused(
    hook: Signups, field: str
) -> None:
    accepted, refused = user(), user()
    longest = "Ä" + "a" * 199
    handle = await hook.start(
        {"user_id": accepted, "email": "kim@unheard-of.example", field: longest}
    )
    response = await hook.deliver(
        {"user_id": refused, "email": "kim@unheard-of.example", field: longest + "a"}
    )

    assert response.status_code == 422, response.text
    [problem] = response.json()["detail"]
    assert problem["loc"] == ["body", field]
    assert "200 characters" in problem["msg"]
    assert not await hook.exists(refused)
    assert await hook.outcome(handle) == Outcome.NOT_ENRICHED
    assert getattr((await hook.journey_input(accepted)).signup, field) == longest


async def test_emoji_names_reach_the_onboarding_emails_intact(
    hook: Signups, sandbox: SandboxServer
) -> None:
    name = "Zoë 👩🏽‍💻"  # a skin tone and a zero-width joiner
    handle = await hook.start(
        {"user_id": user(), "email": "zoe@shopbright.example", "first_name": name}
    )

    assert await hook.outcome(handle) == Outcome.EMAILS_COMPLETED
    bodies = resend_bodies(sandbox)
    assert len(bodies) == 3
    first = bodies[0]
    assert first["subject"] == f"Welcome, {name}: connect Shopify in two minutes"
    assert first["text"].startswith(f"Welcome aboard, {name}!")
    assert f">Welcome aboard, {name}!</p>" in first["html"]
    assert all(name in body["subject"] for body in bodies)


async def test_a_signup_with_only_user_id_and_email_runs_the_whole_journey(
    hook: Signups, sandbox: SandboxServer
) -> None:
    user_id = user()
    handle = await hook.start({"user_id": user_id, "email": "sam@shopbright.example"})

    assert await hook.outcome(handle) == Outcome.EMAILS_COMPLETED
    signup = (await hook.journey_input(user_id)).signup
    assert signup.model_dump(exclude={"user_id", "email"}) == dict.fromkeys(
        ("first_name", "last_name", "company_domain", "signed_up_at", "source")
    )
    # No name: the emails greet "there" rather than "None".
    assert resend_bodies(sandbox)[0]["text"].startswith("Welcome aboard, there!")


@pytest.mark.parametrize(
    ("email", "expected"),
    [
        # Clearbit finds the person but no company: nothing more to look up, no emails.
        ("sam@mailbox.example", Outcome.NO_COMPANY),
        # The sandbox knows nobody at gmail.com (Clearbit proper would answer like mailbox).
        ("sam.taylor@gmail.com", Outcome.NOT_ENRICHED),
    ],
    ids=["free-mail-fixture", "gmail"],
)
async def test_free_mail_addresses_are_accepted_and_end_without_emails(
    hook: Signups, sandbox: SandboxServer, email: str, expected: Outcome
) -> None:
    handle = await hook.start({"user_id": user(), "email": email, "first_name": "Sam"})

    assert await hook.outcome(handle) == expected
    assert sandbox.state.sent_emails() == []
    assert sandbox.state.recorded_calls("builtwith") == []


async def test_a_user_id_delivered_again_with_another_email_keeps_the_first(
    hook: Signups,
) -> None:
    user_id = user()
    first = await hook.deliver({"user_id": user_id, "email": "ana@globex.example"})
    again = await hook.deliver({"user_id": user_id, "email": "ana.new@shopbright.example"})

    assert first.status_code == again.status_code == 202
    assert again.json() == {**first.json(), "created": False}
    handle = hook.client.get_workflow_handle_for(OnboardingJourney.run, journey_id(user_id))
    assert (await handle.describe()).run_id == first.json()["run_id"]
    assert (await hook.journey_input(user_id)).signup.email == "ana@globex.example"
    assert await hook.outcome(handle) == Outcome.SALES_ALERTED  # globex's, not shopbright's


async def test_surrounding_whitespace_is_trimmed_from_every_field(hook: Signups) -> None:
    user_id = user()
    response = await hook.deliver(
        {
            "user_id": f"  {user_id}\t",
            "email": " kim@unheard-of.example\n",
            "first_name": "  Kim ",
            "last_name": "\tPark  ",
            "company_domain": "  https://www.Unheard-Of.example/  ",
        }
    )

    assert response.status_code == 202, response.text
    assert response.json()["workflow_id"] == journey_id(user_id)
    signup = (await hook.journey_input(user_id)).signup
    assert (signup.user_id, signup.email, signup.first_name, signup.last_name) == (
        user_id,
        "kim@unheard-of.example",
        "Kim",
        "Park",
    )
    assert signup.company_domain == "unheard-of.example"


async def test_an_uppercase_email_domain_is_lowercased_and_the_local_part_kept(
    hook: Signups, sandbox: SandboxServer
) -> None:
    user_id = user()
    handle = await hook.start({"user_id": user_id, "email": "Sam.Lee@SHOPBRIGHT.Example"})

    # Only the domain is case-insensitive; a mailbox may tell "Sam.Lee" from "sam.lee".
    assert (await hook.journey_input(user_id)).signup.email == "Sam.Lee@shopbright.example"
    assert await hook.outcome(handle) == Outcome.EMAILS_COMPLETED
    assert clearbit_lookups(sandbox) == ["Sam.Lee@shopbright.example"]


@pytest.mark.parametrize("user_id", ["ana lopez", "team/ana", "ana\\lopez", "../ana", "ana\n1"])
async def test_user_ids_with_spaces_or_slashes_are_field_errors(
    hook: Signups, user_id: str
) -> None:
    response = await hook.deliver({"user_id": user_id, "email": "ana@globex.example"})

    assert response.status_code == 422, response.text
    [problem] = response.json()["detail"]
    assert problem["loc"] == ["body", "user_id"]
    assert "letters, digits" in problem["msg"]
    assert not await hook.exists(user_id)
