"""The sales-alert contract, for every sales-alert provider over real HTTP."""

from __future__ import annotations

import pytest

from activities import vendor_http
from activities.contracts import POST_SALES_ALERT, Company, SalesAlert
from activities.settings import VendorSettings
from sandbox.server import SandboxServer
from sandbox.slack_webhook import FakeSlackWebhook
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

PROVIDERS = names_of(POST_SALES_ALERT)
ALERT = SalesAlert(
    user_id="u-42",
    first_name="Amara",
    email="amara.okafor@globex.example",
    company=Company(name="Globex", domain="globex.example", employees=4500),
)
CREDENTIAL = {"slack": "SLACK_BOT_TOKEN", "slack-webhook": "SLACK_WEBHOOK_URL"}
# The vendor's answer to a message it refuses as malformed.
MALFORMED = {
    "slack": {"status": 200, "json": {"ok": False, "error": "msg_too_long"}},
    "slack-webhook": {"status": 400, "text": "invalid_payload"},
}


def lose_the_channel(sandbox: SandboxServer, provider: str) -> None:
    """The channel is gone for the provider: the bot is not in it, the webhook was revoked."""
    if provider == "slack":
        sandbox.state.slack_channels = ()
    elif provider == "slack-webhook":
        sandbox.state.fake(FakeSlackWebhook).status = "revoked"
    else:
        raise AssertionError(f"the suite does not know how {provider} loses its channel")


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_an_alert_is_posted_once(
    sandbox: SandboxServer, vendor_settings: VendorSettings, provider: str
) -> None:
    async with role_activities(choosing(vendor_settings, provider)) as roles:
        posted = await environment().run(roles.post, ALERT)
    assert posted.provider == provider
    messages = sandbox.state.slack_messages()
    assert len(messages) == 1
    assert "Globex" in str(messages[0].blocks)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_malformed_message_fails_the_journey(
    sandbox: SandboxServer, vendor_settings: VendorSettings, provider: str
) -> None:
    sandbox.state.script(provider, [MALFORMED[provider]])
    async with role_activities(choosing(vendor_settings, provider)) as roles:
        error = await failure(environment(), roles.post, ALERT)
    assert error.type == vendor_http.REJECTED
    assert error.non_retryable


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_lost_channel_waits_for_an_operator(
    sandbox: SandboxServer, vendor_settings: VendorSettings, provider: str
) -> None:
    channels = sandbox.state.slack_channels  # a setting the sandbox's reset keeps
    lose_the_channel(sandbox, provider)
    try:
        async with role_activities(choosing(vendor_settings, provider)) as roles:
            assert_needs_operator(await failure(environment(), roles.post, ALERT), provider)
    finally:
        sandbox.state.slack_channels = channels
    assert sandbox.state.slack_messages() == []


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_throttled_retries_after_the_vendors_reset(
    sandbox: SandboxServer, vendor_settings: VendorSettings, provider: str
) -> None:
    throttle(sandbox, provider)
    async with role_activities(choosing(vendor_settings, provider)) as roles:
        assert_rate_limited(await failure(environment(), roles.post, ALERT))


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_refused_key_waits_for_an_operator(
    sandbox: SandboxServer, vendor_settings: VendorSettings, provider: str
) -> None:
    settings = with_wrong_key(choosing(vendor_settings, provider), provider)
    async with role_activities(settings) as roles:
        error = await failure(environment(), roles.post, ALERT)
    assert_needs_operator(error, provider, CREDENTIAL[provider])
    assert "wrong-key" not in str(error) and "sandbox-webhook-secret" not in str(error)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_an_outage_is_retried(
    sandbox: SandboxServer, vendor_settings: VendorSettings, provider: str
) -> None:
    sandbox.state.set_faults(error_rate=1.0, vendors=[provider])
    async with role_activities(choosing(vendor_settings, provider)) as roles:
        assert_unavailable(await failure(environment(), roles.post, ALERT), provider)
