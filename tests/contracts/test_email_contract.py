"""The onboarding-email contract, for every email provider over real HTTP: above all, a send
retried after its answer was lost is not sent twice, whether the provider has an idempotency key
(Resend) or is searched for the email's key first (Postmark)."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import Counter
from datetime import timedelta

import pytest

from activities import vendor_http
from activities.contracts import SEND_ONBOARDING_EMAIL, OnboardingEmail
from activities.settings import VendorSettings
from sandbox.postmark import FakePostmark
from sandbox.server import SandboxServer
from tests.contracts.support import (
    assert_needs_operator,
    assert_rate_limited,
    assert_unavailable,
    choosing,
    environment,
    failure,
    names_of,
    role_activities,
    throttle,
    with_wrong_key,
)

PROVIDERS = names_of(SEND_ONBOARDING_EMAIL)
EMAIL = OnboardingEmail(
    number=2, total=3, to="mei.chen@shopbright.example", first_name="Mei", technology="Shopify"
)
KEY = "onboarding-u-42/email-2"
CREDENTIAL = {"resend": "RESEND_API_KEY", "postmark": "POSTMARK_SERVER_TOKEN"}


def sent(sandbox: SandboxServer) -> Counter[str]:
    """Emails accepted, by their key, across every email provider."""
    return Counter(sandbox.state.email_keys())


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_an_email_goes_out_with_its_key(
    sandbox: SandboxServer, vendor_settings: VendorSettings, provider: str
) -> None:
    async with role_activities(choosing(vendor_settings, provider)) as roles:
        answer = await environment().run(roles.send, EMAIL)
    assert answer.provider == provider
    assert answer.message_id
    assert sent(sandbox) == {KEY: 1}


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_retry_after_a_lost_answer_sends_nothing_twice(
    sandbox: SandboxServer, vendor_settings: VendorSettings, provider: str
) -> None:
    settings = choosing(vendor_settings, provider)
    # The vendor takes the email, then the answer never arrives: the call times out.
    sandbox.state.set_faults(latency_seconds=1.0, vendors=[provider])
    async with role_activities(settings.model_copy(update={"http_timeout_seconds": 0.3})) as roles:
        assert_unavailable(await failure(environment(), roles.send, EMAIL), provider)
    assert sent(sandbox) == {KEY: 1}
    sandbox.state.clear_faults()
    await asyncio.sleep(1.0)  # the journey's retry comes a second later at the soonest
    # The journey's retry, as calls.py makes it: to that provider, marked as maybe done.
    retry = EMAIL.model_copy(update={"provider": provider, "attempted": True})
    async with role_activities(settings) as roles:
        answer = await environment().run(roles.send, retry)
    assert answer.message_id
    assert sent(sandbox) == {KEY: 1}


@pytest.mark.parametrize(("search_delay", "grace", "sends"), [(2.0, 3.0, 1), (30.0, 0.5, 2)])
async def test_postmarks_window_is_its_search_delay_past_the_grace(
    sandbox: SandboxServer,
    vendor_settings: VendorSettings,
    search_delay: float,
    grace: float,
    sends: int,
) -> None:
    """A retry that finds nothing waits ``POSTMARK_SEARCH_GRACE_SECONDS`` and looks again: a
    first send Postmark makes searchable within that is found; one it indexes later is the
    window that remains, and is sent again. The wait never takes more than a third of the
    call's timeout."""
    postmark = sandbox.state.fake(FakePostmark)
    postmark.search_delay_seconds = search_delay
    postmark.lose_answers(1)
    settings = choosing(vendor_settings, "postmark").model_copy(
        update={"postmark_search_grace_seconds": grace}
    )
    retry = EMAIL.model_copy(update={"provider": "postmark", "attempted": True})
    async with role_activities(settings) as roles:
        await failure(environment(), roles.send, EMAIL)
        await environment().run(roles.send, retry)
    assert sent(sandbox) == {KEY: sends}


async def test_postmarks_grace_fits_in_the_calls_timeout(
    sandbox: SandboxServer, vendor_settings: VendorSettings
) -> None:
    """A short call timeout (3 s) cuts the grace to a third of it, so a retry never times out
    waiting and never sends: it finds a message indexed within that third."""
    postmark = sandbox.state.fake(FakePostmark)
    postmark.search_delay_seconds = 0.5
    postmark.lose_answers(1)
    settings = choosing(vendor_settings, "postmark")  # the default grace, 5 s
    env = environment()
    env.info = dataclasses.replace(env.info, start_to_close_timeout=timedelta(seconds=3))
    retry = EMAIL.model_copy(update={"provider": "postmark", "attempted": True})
    async with role_activities(settings) as roles:
        await failure(env, roles.send, EMAIL)
        started = time.monotonic()
        await env.run(roles.send, retry)
    assert time.monotonic() - started < 1.5
    assert sent(sandbox) == {KEY: 1}


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_malformed_recipient_fails_the_journey(
    sandbox: SandboxServer, vendor_settings: VendorSettings, provider: str
) -> None:
    bad = EMAIL.model_copy(update={"to": "not-an-address"})
    async with role_activities(choosing(vendor_settings, provider)) as roles:
        error = await failure(environment(), roles.send, bad)
    assert error.type == vendor_http.REJECTED
    assert error.non_retryable
    assert sent(sandbox) == {}


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_throttled_retries_after_the_vendors_reset(
    sandbox: SandboxServer, vendor_settings: VendorSettings, provider: str
) -> None:
    throttle(sandbox, provider)
    async with role_activities(choosing(vendor_settings, provider)) as roles:
        assert_rate_limited(await failure(environment(), roles.send, EMAIL))
    assert sent(sandbox) == {}


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_refused_key_waits_for_an_operator(
    sandbox: SandboxServer, vendor_settings: VendorSettings, provider: str
) -> None:
    settings = with_wrong_key(choosing(vendor_settings, provider), provider)
    async with role_activities(settings) as roles:
        error = await failure(environment(), roles.send, EMAIL)
    assert_needs_operator(error, provider, CREDENTIAL[provider])


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_an_outage_is_retried(
    sandbox: SandboxServer, vendor_settings: VendorSettings, provider: str
) -> None:
    sandbox.state.set_faults(error_rate=1.0, vendors=[provider])
    async with role_activities(choosing(vendor_settings, provider)) as roles:
        assert_unavailable(await failure(environment(), roles.send, EMAIL), provider)
