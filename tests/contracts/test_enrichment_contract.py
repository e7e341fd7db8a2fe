"""The enrichment contract, for every enrichment provider over real HTTP: each answer a vendor
can give maps to the same journey behaviour, whichever vendor gives it."""

from __future__ import annotations

import pytest

from activities.contracts import ENRICH_SIGNUP, EnrichmentRequest, EnrichmentStatus
from activities.settings import VendorSettings
from sandbox.peopledatalabs import FakePeopleDataLabs
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
from workflows.models import Segment
from workflows.rules import segment_of

PROVIDERS = names_of(ENRICH_SIGNUP)
# A signup each provider queues (None: the provider answers at once, never queued).
QUEUES = {"clearbit": "lena.fischer@slowpoke.example", "peopledatalabs": None}


def run_out_of_credits(sandbox: SandboxServer, provider: str) -> None:
    """The account's credits are used up, as the vendor says it."""
    if provider == "clearbit":
        error = {"error": {"type": "over_quota", "message": "over your monthly quota"}}
        sandbox.state.script("clearbit", [{"status": 402, "json": error}])
    elif provider == "peopledatalabs":
        sandbox.state.fake(FakePeopleDataLabs).credits.set_remaining(0)
    else:
        raise AssertionError(f"the suite does not know how {provider} runs out of credits")


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(
    ("email", "segment"),
    [
        ("amara.okafor@globex.example", Segment.ENTERPRISE),  # an exact head count
        ("diego.ramirez@initech.example", Segment.ENTERPRISE),  # a size range only
        ("mei.chen@shopbright.example", Segment.SMB),
        ("priya.raman@hooli-labs.example", Segment.UNKNOWN),  # no size at all
    ],
)
async def test_a_match_answers_the_company_and_its_segment(
    sandbox: SandboxServer,
    vendor_settings: VendorSettings,
    provider: str,
    email: str,
    segment: Segment,
) -> None:
    async with role_activities(choosing(vendor_settings, provider)) as roles:
        answer = await environment().run(roles.enrich, EnrichmentRequest(email=email))
    assert answer.status is EnrichmentStatus.FOUND
    assert answer.provider == provider
    assert answer.payload
    assert answer.company is not None
    assert answer.company.domain == email.rpartition("@")[2]
    assert segment_of(answer.company, 100) is segment


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_person_without_a_company_has_no_company(
    sandbox: SandboxServer, vendor_settings: VendorSettings, provider: str
) -> None:
    async with role_activities(choosing(vendor_settings, provider)) as roles:
        request = EnrichmentRequest(email="sam.taylor@mailbox.example")
        answer = await environment().run(roles.enrich, request)
    assert answer.status is EnrichmentStatus.FOUND
    assert answer.company is None


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_no_match_hands_the_signup_to_the_next_provider(
    sandbox: SandboxServer, vendor_settings: VendorSettings, provider: str
) -> None:
    request = EnrichmentRequest(email="jo.park@unheard-of.example")
    async with role_activities(choosing(vendor_settings, provider)) as roles:
        alone = await environment().run(roles.enrich, request)
    assert alone.status is EnrichmentStatus.NOT_FOUND
    assert alone.provider == provider
    assert alone.next_provider is None  # the last of the waterfall: the journey ends there
    others = [name for name in PROVIDERS if name != provider]
    waterfall = choosing(vendor_settings, provider).model_copy(
        update={"enrichment_providers": [provider, *others]}
    )
    async with role_activities(waterfall) as roles:
        first = await environment().run(roles.enrich, request)
    assert first.next_provider == others[0]


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("email", ["info@globex.example", "support+eu@shopbright.example"])
async def test_a_role_address_is_not_a_persons(
    sandbox: SandboxServer, vendor_settings: VendorSettings, provider: str, email: str
) -> None:
    async with role_activities(choosing(vendor_settings, provider)) as roles:
        answer = await environment().run(roles.enrich, EnrichmentRequest(email=email))
    assert answer.status is EnrichmentStatus.INVALID_EMAIL


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_queued_lookup_is_asked_again_of_the_same_provider(
    sandbox: SandboxServer, vendor_settings: VendorSettings, provider: str
) -> None:
    email = QUEUES[provider]
    if email is None:
        pytest.skip(f"{provider} answers at once: it has no queued lookups")
    async with role_activities(choosing(vendor_settings, provider)) as roles:
        first = await environment().run(roles.enrich, EnrichmentRequest(email=email))
        assert first.status is EnrichmentStatus.QUEUED
        assert first.provider == provider
        # The journey asks the provider that queued it again, by name, until it answers.
        again = EnrichmentRequest(email=email, provider=first.provider)
        answers = [await environment().run(roles.enrich, again) for _ in range(3)]
    assert answers[-1].status is EnrichmentStatus.FOUND


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_throttled_retries_after_the_vendors_reset(
    sandbox: SandboxServer, vendor_settings: VendorSettings, provider: str
) -> None:
    throttle(sandbox, provider)
    async with role_activities(choosing(vendor_settings, provider)) as roles:
        request = EnrichmentRequest(email="mei.chen@shopbright.example")
        assert_rate_limited(await failure(environment(), roles.enrich, request))


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_out_of_credits_waits_for_an_operator(
    sandbox: SandboxServer, vendor_settings: VendorSettings, provider: str
) -> None:
    run_out_of_credits(sandbox, provider)
    async with role_activities(choosing(vendor_settings, provider)) as roles:
        request = EnrichmentRequest(email="mei.chen@shopbright.example")
        assert_needs_operator(await failure(environment(), roles.enrich, request), provider)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_refused_key_waits_for_an_operator(
    sandbox: SandboxServer, vendor_settings: VendorSettings, provider: str
) -> None:
    settings = with_wrong_key(choosing(vendor_settings, provider), provider)
    async with role_activities(settings) as roles:
        request = EnrichmentRequest(email="mei.chen@shopbright.example")
        error = await failure(environment(), roles.enrich, request)
    assert_needs_operator(error, provider, f"{provider.upper()}_API_KEY")


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_an_outage_is_retried(
    sandbox: SandboxServer, vendor_settings: VendorSettings, provider: str
) -> None:
    sandbox.state.set_faults(error_rate=1.0, vendors=[provider])
    async with role_activities(choosing(vendor_settings, provider)) as roles:
        request = EnrichmentRequest(email="mei.chen@shopbright.example")
        assert_unavailable(await failure(environment(), roles.enrich, request), provider)
