"""Each row of the outcome mapping, by the real activities against the sandbox over HTTP."""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from pydantic import SecretStr
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities import vendor_http
from activities.contracts import (
    Company,
    EnrichmentRequest,
    EnrichmentStatus,
    OnboardingEmail,
    SalesAlert,
    TechnographicsRequest,
)
from activities.enrichment import ClearbitEnrichment
from activities.onboarding_email import ResendEmail
from activities.peopledatalabs import PeopleDataLabsEnrichment
from activities.postmark import PostmarkEmail
from activities.sales_alert import SlackSalesAlert
from activities.settings import VendorSettings
from activities.slack_webhook import SlackWebhookSalesAlert
from activities.technographics import BuiltWithTechnographics
from activities.vendors import VENDOR_NAMES
from activities.vendors import VENDORS as TABLE
from activities.wappalyzer import WappalyzerTechnographics
from sandbox.server import SandboxServer
from tests.helpers import outgoing
from worker.main import http_client


@pytest.fixture
def env() -> ActivityEnvironment:
    environment = ActivityEnvironment()
    environment.info = dataclasses.replace(
        environment.info, workflow_id="onboarding-u-42", workflow_run_id="run-1"
    )
    return environment


@pytest_asyncio.fixture
async def http(vendor_settings: VendorSettings) -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(vendor_settings) as client:
        yield client


ALERT = SalesAlert(
    user_id="u-42",
    first_name="Ada",
    email="ada@globex.example",
    company=Company(name="Globex", domain="globex.example", employees=4500),
)
EMAIL = OnboardingEmail(
    number=2, total=3, to="sam@shopbright.example", first_name="Sam", technology="Shopify"
)


def calls(settings: VendorSettings, http: httpx.AsyncClient) -> dict[str, Any]:
    """One call per vendor role, so each row below runs against every vendor."""
    return {
        "clearbit": (
            ClearbitEnrichment(http, settings).enrich,
            EnrichmentRequest(email="ada@globex.example"),
        ),
        "builtwith": (
            BuiltWithTechnographics(http, settings).look_up,
            TechnographicsRequest(domain="shopbright.example"),
        ),
        "slack": (SlackSalesAlert(http, settings).post, ALERT),
        "resend": (ResendEmail(http, settings).send, outgoing(EMAIL)),
        "peopledatalabs": (
            PeopleDataLabsEnrichment(http, settings).enrich,
            EnrichmentRequest(email="ada@globex.example"),
        ),
        "wappalyzer": (
            WappalyzerTechnographics(http, settings).look_up,
            TechnographicsRequest(domain="shopbright.example"),
        ),
        "slack-webhook": (SlackWebhookSalesAlert(http, settings).post, ALERT),
        "postmark": (PostmarkEmail(http, settings).send, outgoing(EMAIL)),
    }


async def failure(env: ActivityEnvironment, fn: Any, arg: Any) -> ApplicationError:
    with pytest.raises(ApplicationError) as raised:
        await env.run(fn, arg)
    return raised.value


VENDORS = list(VENDOR_NAMES)


@pytest.mark.parametrize("vendor", VENDORS)
@pytest.mark.parametrize("status", [500, 502, 503])
async def test_5xx_retries_with_backoff(
    env: ActivityEnvironment,
    sandbox: SandboxServer,
    vendor_settings: VendorSettings,
    http: httpx.AsyncClient,
    vendor: str,
    status: int,
) -> None:
    sandbox.state.script(vendor, [{"status": status, "json": {"error": "boom"}}])
    fn, arg = calls(vendor_settings, http)[vendor]
    error = await failure(env, fn, arg)
    assert error.type == vendor_http.UNAVAILABLE
    assert not error.non_retryable
    assert error.next_retry_delay is None  # the retry policy's exponential backoff applies


@pytest.mark.parametrize("vendor", VENDORS)
async def test_429_retries_after_the_vendors_delay(
    env: ActivityEnvironment,
    sandbox: SandboxServer,
    vendor_settings: VendorSettings,
    http: httpx.AsyncClient,
    vendor: str,
) -> None:
    sandbox.state.script(vendor, [{"status": 429, "json": {}, "headers": {"Retry-After": "17"}}])
    fn, arg = calls(vendor_settings, http)[vendor]
    error = await failure(env, fn, arg)
    assert error.type == vendor_http.RATE_LIMITED
    assert error.next_retry_delay == timedelta(seconds=17)


async def test_429_with_only_a_reset_time(
    env: ActivityEnvironment,
    sandbox: SandboxServer,
    vendor_settings: VendorSettings,
    http: httpx.AsyncClient,
) -> None:
    import time

    reset = int(time.time()) + 42
    sandbox.state.script(
        "clearbit", [{"status": 429, "json": {}, "headers": {"X-RateLimit-Reset": str(reset)}}]
    )
    fn, arg = calls(vendor_settings, http)["clearbit"]
    error = await failure(env, fn, arg)
    assert error.next_retry_delay is not None
    assert 38 <= error.next_retry_delay.total_seconds() <= 43


@pytest.mark.parametrize("vendor", VENDORS)
async def test_timeouts_and_refused_connections_retry(
    env: ActivityEnvironment, sandbox: SandboxServer, vendor_settings: VendorSettings, vendor: str
) -> None:
    settings = vendor_settings.model_copy(update={"http_timeout_seconds": 0.3})
    sandbox.state.script(vendor, [{"status": 200, "json": {}, "delay_seconds": 1.0}])
    async with http_client(settings) as slow_http:
        fn, arg = calls(settings, slow_http)[vendor]
        error = await failure(env, fn, arg)
    assert error.type == vendor_http.UNAVAILABLE
    assert "timed out" in str(error)

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    dead = f"http://127.0.0.1:{closed_port}"
    nowhere = vendor_settings.model_copy(
        update={
            "clearbit_base_url": dead,
            "builtwith_base_url": dead,
            "slack_base_url": dead,
            "resend_base_url": dead,
            "peopledatalabs_base_url": dead,
            "wappalyzer_base_url": dead,
            "postmark_base_url": dead,
            "slack_webhook_url": SecretStr(f"{dead}/services/T0/B0/secret"),
        }
    )
    async with http_client(nowhere) as http:
        fn, arg = calls(nowhere, http)[vendor]
        error = await failure(env, fn, arg)
    assert error.type == vendor_http.UNAVAILABLE
    assert "connection failed" in str(error)


async def test_clearbit_domain_answers_are_outcomes(
    env: ActivityEnvironment,
    sandbox: SandboxServer,
    vendor_settings: VendorSettings,
    http: httpx.AsyncClient,
) -> None:
    enrich = ClearbitEnrichment(http, vendor_settings).enrich
    found = await env.run(enrich, EnrichmentRequest(email="ada@globex.example"))
    assert found.status == EnrichmentStatus.FOUND
    assert found.company is not None and found.company.employees == 4500
    queued = await env.run(enrich, EnrichmentRequest(email="lee@slowpoke.example"))
    assert queued.status == EnrichmentStatus.QUEUED
    missing = await env.run(enrich, EnrichmentRequest(email="joe@unheard-of.example"))
    assert missing.status == EnrichmentStatus.NOT_FOUND
    invalid = await env.run(enrich, EnrichmentRequest(email="info@globex.example"))
    assert invalid.status == EnrichmentStatus.INVALID_EMAIL


@pytest.mark.parametrize("vendor", VENDORS)
async def test_refused_credentials_wait_for_an_operator(
    env: ActivityEnvironment, sandbox: SandboxServer, vendor_settings: VendorSettings, vendor: str
) -> None:
    wrong = TABLE[vendor].key_env.lower()
    value = "wrong-key"
    if vendor == "slack-webhook":  # the URL is the secret: a webhook with another secret
        url = vendor_settings.slack_webhook_url.get_secret_value()
        value = f"{url.rpartition('/')[0]}/wrong-key"
    settings = vendor_settings.model_copy(update={wrong: SecretStr(value)})
    async with http_client(settings) as http:
        fn, arg = calls(settings, http)[vendor]
        error = await failure(env, fn, arg)
    assert error.type == vendor_http.NEEDS_OPERATOR
    assert not error.non_retryable
    assert wrong.upper() in str(error)
    assert "wrong-key" not in str(error)


async def test_exhausted_quota_waits_for_an_operator(
    env: ActivityEnvironment,
    sandbox: SandboxServer,
    vendor_settings: VendorSettings,
    http: httpx.AsyncClient,
) -> None:
    sandbox.state.script(
        "clearbit",
        [
            {
                "status": 402,
                "json": {"error": {"type": "over_quota", "message": "over your monthly quota"}},
            }
        ],
    )
    fn, arg = calls(vendor_settings, http)["clearbit"]
    error = await failure(env, fn, arg)
    assert error.type == vendor_http.NEEDS_OPERATOR
    assert "quota" in str(error)


@pytest.mark.parametrize("channel_error", ["channel_not_found", "not_in_channel", "invalid_auth"])
async def test_slack_configuration_errors_wait_for_an_operator(
    env: ActivityEnvironment,
    sandbox: SandboxServer,
    vendor_settings: VendorSettings,
    http: httpx.AsyncClient,
    channel_error: str,
) -> None:
    sandbox.state.script("slack", [{"status": 200, "json": {"ok": False, "error": channel_error}}])
    error = await failure(env, SlackSalesAlert(http, vendor_settings).post, ALERT)
    assert error.type == vendor_http.NEEDS_OPERATOR
    assert channel_error in str(error)


async def test_unknown_channel_from_the_sandbox(
    env: ActivityEnvironment, sandbox: SandboxServer, vendor_settings: VendorSettings
) -> None:
    settings = vendor_settings.model_copy(update={"slack_sales_channel": "#nowhere"})
    async with http_client(settings) as http:
        error = await failure(env, SlackSalesAlert(http, settings).post, ALERT)
    assert error.type == vendor_http.NEEDS_OPERATOR
    assert "channel_not_found" in str(error)


@pytest.mark.parametrize(
    ("slack_error", "kind"),
    [
        ("ratelimited", vendor_http.RATE_LIMITED),
        ("internal_error", vendor_http.UNAVAILABLE),
        ("msg_too_long", vendor_http.REJECTED),
        ("invalid_blocks", vendor_http.REJECTED),
    ],
)
async def test_slack_ok_false_answers(
    env: ActivityEnvironment,
    sandbox: SandboxServer,
    vendor_settings: VendorSettings,
    http: httpx.AsyncClient,
    slack_error: str,
    kind: str,
) -> None:
    sandbox.state.script(
        "slack",
        [
            {
                "status": 200,
                "json": {"ok": False, "error": slack_error},
                "headers": {"Retry-After": "3"},
            }
        ],
    )
    error = await failure(env, SlackSalesAlert(http, vendor_settings).post, ALERT)
    assert error.type == kind
    assert error.non_retryable is (kind == vendor_http.REJECTED)
    if kind == vendor_http.RATE_LIMITED:
        assert error.next_retry_delay == timedelta(seconds=3)


async def test_resend_422_fails_the_journey(
    env: ActivityEnvironment,
    sandbox: SandboxServer,
    vendor_settings: VendorSettings,
    http: httpx.AsyncClient,
) -> None:
    sandbox.state.script(
        "resend",
        [
            {
                "status": 422,
                "json": {
                    "statusCode": 422,
                    "name": "validation_error",
                    "message": "Invalid `to` field.",
                },
            }
        ],
    )
    error = await failure(env, ResendEmail(http, vendor_settings).send, outgoing(EMAIL))
    assert error.type == vendor_http.REJECTED
    assert error.non_retryable
    assert "Invalid `to` field" in str(error)


async def test_failure_messages_never_quote_an_email(
    env: ActivityEnvironment,
    sandbox: SandboxServer,
    vendor_settings: VendorSettings,
    http: httpx.AsyncClient,
) -> None:
    sandbox.state.script(
        "resend",
        [
            {
                "status": 422,
                "json": {
                    "statusCode": 422,
                    "name": "validation_error",
                    "message": "Invalid `to` field: sam+x@shopbright.example",
                },
            }
        ],
    )
    error = await failure(env, ResendEmail(http, vendor_settings).send, outgoing(EMAIL))
    assert "shopbright.example" not in str(error)
    assert "Invalid `to` field: <email>" in str(error)


async def test_a_repeated_send_reuses_its_idempotency_key(
    env: ActivityEnvironment,
    sandbox: SandboxServer,
    vendor_settings: VendorSettings,
    http: httpx.AsyncClient,
) -> None:
    send = ResendEmail(http, vendor_settings).send
    first = await env.run(send, outgoing(EMAIL))
    again = await env.run(send, outgoing(EMAIL))
    assert again.message_id == first.message_id
    keys = {c["idempotency_key"] for c in sandbox.state.calls("resend")}
    assert keys == {"onboarding-u-42/email-2"}
    summary = sandbox.state.summary()
    assert summary["emails_accepted"] == 1
    assert summary["duplicates_caught"] == 1


async def test_sales_alert_links_to_the_run(
    env: ActivityEnvironment,
    sandbox: SandboxServer,
    vendor_settings: VendorSettings,
    http: httpx.AsyncClient,
) -> None:
    posted = await env.run(SlackSalesAlert(http, vendor_settings).post, ALERT)
    assert posted.ts
    text = str(sandbox.state.calls("slack")[0])
    assert "/namespaces/default/workflows/onboarding-u-42/run-1/history" in text


def test_retry_after_parsing() -> None:
    assert vendor_http.retry_after({"retry-after": "5"}) == timedelta(seconds=5)
    assert vendor_http.retry_after(
        {"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, now=1445412470
    ) == timedelta(seconds=10)
    assert vendor_http.retry_after({"x-ratelimit-reset": "30"}) == timedelta(seconds=30)
    assert vendor_http.retry_after({"retry-after": "0"}) == timedelta(seconds=1)
    assert vendor_http.retry_after({}) is None
