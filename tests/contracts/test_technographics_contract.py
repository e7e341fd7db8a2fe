"""The technographics contract, for every technographics provider over real HTTP."""

from __future__ import annotations

import pytest

from activities.contracts import LOOK_UP_TECHNOGRAPHICS, TechnographicsRequest, TechnographicsStatus
from activities.settings import VendorSettings
from sandbox.server import SandboxServer
from sandbox.wappalyzer import FakeWappalyzer
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
from workflows.rules import integrated_technology

PROVIDERS = names_of(LOOK_UP_TECHNOGRAPHICS)
INTEGRATED = ["Shopify", "WooCommerce", "Stripe", "HubSpot"]
# A domain each provider queues (None: the provider answers at once, never queued).
QUEUES = {"builtwith": None, "wappalyzer": "slowpoke.example"}


def run_out_of_credits(sandbox: SandboxServer, provider: str) -> None:
    if provider == "builtwith":  # BuiltWith says so in the body of a 200
        body = {"Results": [], "Errors": [{"Message": "No API credits remaining"}]}
        sandbox.state.script("builtwith", [{"status": 200, "json": body}])
    elif provider == "wappalyzer":
        sandbox.state.fake(FakeWappalyzer).credits.set_remaining(0)
    else:
        raise AssertionError(f"the suite does not know how {provider} runs out of credits")


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(
    ("domain", "integration"),
    [
        ("shopbright.example", "Shopify"),
        ("hooli-labs.example", "Stripe"),
        ("plainpaper.example", None),
        ("nobody-knows-this.example", None),  # a site the vendor has no record of
    ],
)
async def test_a_stack_answers_its_technologies(
    sandbox: SandboxServer,
    vendor_settings: VendorSettings,
    provider: str,
    domain: str,
    integration: str | None,
) -> None:
    async with role_activities(choosing(vendor_settings, provider)) as roles:
        stack = await environment().run(roles.look_up, TechnographicsRequest(domain=domain))
    assert stack.status is TechnographicsStatus.FOUND
    assert stack.provider == provider
    assert integrated_technology(stack.technologies, INTEGRATED) == integration


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_free_mail_domain_is_never_looked_up(
    sandbox: SandboxServer, vendor_settings: VendorSettings, provider: str
) -> None:
    async with role_activities(choosing(vendor_settings, provider)) as roles:
        stack = await environment().run(roles.look_up, TechnographicsRequest(domain="gmail.com"))
    assert stack.status is TechnographicsStatus.FOUND
    assert stack.technologies == []
    assert sandbox.state.calls(provider) == []


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_queued_lookup_is_asked_again_of_the_same_provider(
    sandbox: SandboxServer, vendor_settings: VendorSettings, provider: str
) -> None:
    domain = QUEUES[provider]
    if domain is None:
        pytest.skip(f"{provider} answers at once: it has no queued lookups")
    async with role_activities(choosing(vendor_settings, provider)) as roles:
        first = await environment().run(roles.look_up, TechnographicsRequest(domain=domain))
        assert first.status is TechnographicsStatus.QUEUED
        assert first.provider == provider
        again = TechnographicsRequest(domain=domain, provider=first.provider)
        answers = [await environment().run(roles.look_up, again) for _ in range(3)]
    assert answers[-1].status is TechnographicsStatus.FOUND
    assert integrated_technology(answers[-1].technologies, INTEGRATED) == "HubSpot"


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_throttled_retries_after_the_vendors_reset(
    sandbox: SandboxServer, vendor_settings: VendorSettings, provider: str
) -> None:
    throttle(sandbox, provider)
    async with role_activities(choosing(vendor_settings, provider)) as roles:
        request = TechnographicsRequest(domain="shopbright.example")
        assert_rate_limited(await failure(environment(), roles.look_up, request))


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_out_of_credits_waits_for_an_operator(
    sandbox: SandboxServer, vendor_settings: VendorSettings, provider: str
) -> None:
    run_out_of_credits(sandbox, provider)
    async with role_activities(choosing(vendor_settings, provider)) as roles:
        request = TechnographicsRequest(domain="shopbright.example")
        error = await failure(environment(), roles.look_up, request)
    assert_needs_operator(error, provider, f"{provider.upper()}_API_KEY")


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_refused_key_waits_for_an_operator(
    sandbox: SandboxServer, vendor_settings: VendorSettings, provider: str
) -> None:
    settings = with_wrong_key(choosing(vendor_settings, provider), provider)
    async with role_activities(settings) as roles:
        request = TechnographicsRequest(domain="shopbright.example")
        error = await failure(environment(), roles.look_up, request)
    assert_needs_operator(error, provider, f"{provider.upper()}_API_KEY")


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_an_outage_is_retried(
    sandbox: SandboxServer, vendor_settings: VendorSettings, provider: str
) -> None:
    sandbox.state.set_faults(error_rate=1.0, vendors=[provider])
    async with role_activities(choosing(vendor_settings, provider)) as roles:
        request = TechnographicsRequest(domain="shopbright.example")
        assert_unavailable(await failure(environment(), roles.look_up, request), provider)
