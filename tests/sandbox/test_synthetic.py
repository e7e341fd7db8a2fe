"""Synthetic companies for load tests: many distinct, deterministic companies the sandbox knows."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from activities.enrichment import company_from_payload
from activities.technographics import technologies_in
from sandbox import FIXTURES, SandboxServer, SandboxState, expected_outcome
from sandbox.builtwith import builtwith_result
from sandbox.clearbit import clearbit_company, clearbit_person
from sandbox.fixtures import (
    INTEGRATED_TECHNOLOGIES,
    fixture_for_domain,
    synthetic_domain,
    synthetic_fixture,
)
from workflows.models import JourneyConfig, Segment
from workflows.rules import integrated_technology, segment_of

CLEARBIT_AUTH = {"Authorization": "Bearer sk_sandbox"}


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with (
        SandboxServer(port=0, state=SandboxState()) as running,
        httpx.Client(base_url=running.url, timeout=5.0) as client,
    ):
        yield client


def find(http: httpx.Client, email: str) -> httpx.Response:
    return http.get("/clearbit/v2/combined/find", params={"email": email}, headers=CLEARBIT_AUTH)


def builtwith(http: httpx.Client, lookup: str) -> httpx.Response:
    return http.get(
        "/builtwith/v22/api.json", params={"KEY": "sandbox-builtwith", "LOOKUP": lookup}
    )


def journey_outcome(n: int) -> str:
    """The outcome the journey's own decisions reach from what the sandbox answers."""
    fixture = synthetic_fixture(n)
    config = JourneyConfig()
    company = company_from_payload({"company": clearbit_company(fixture)})
    assert company is not None
    if segment_of(company, config.enterprise_employee_threshold) is Segment.ENTERPRISE:
        return "sales_alerted"
    domain = synthetic_domain(n)
    stack = technologies_in({"Results": [builtwith_result(domain, fixture_for_domain(domain))]})
    matched = integrated_technology(stack, config.integrated_technologies)
    return "emails_completed" if matched else "no_integration"


def test_synthetic_domains() -> None:
    assert synthetic_domain(1) == "company-0001.example"
    assert synthetic_domain(9999) == "company-9999.example"
    for bad in (0, 10_000, -1):
        with pytest.raises(ValueError, match="1 to 9999"):
            synthetic_domain(bad)
    assert fixture_for_domain("company-0042.example") is synthetic_fixture(42)
    assert fixture_for_domain(" Company-0042.EXAMPLE ") is synthetic_fixture(42)
    for unknown in ("company-0000.example", "company-42.example", "company-10000.example"):
        assert fixture_for_domain(unknown) is None
    assert fixture_for_domain("gmail.com") is None


def test_hand_written_fixtures_come_first() -> None:
    assert fixture_for_domain("globex.example") is FIXTURES["globex.example"]
    assert fixture_for_domain("nomad-shop.example") is FIXTURES["nomad-domain.example"]
    assert expected_outcome("kofi@nomad-shop.example") == "not_enriched"  # a shop, no mailbox


def test_the_mix_over_the_first_thousand_is_on_target() -> None:
    outcomes = Counter(synthetic_fixture(n).expected_outcome for n in range(1, 1001))
    enterprise = outcomes["sales_alerted"] / 1000
    integrated = outcomes["emails_completed"] / (1000 - outcomes["sales_alerted"])
    assert abs(enterprise - 0.15) < 0.03
    assert abs(integrated - 0.60) < 0.03
    assert outcomes["no_integration"] > 0


def test_expected_outcomes_are_what_the_journey_decides() -> None:
    assert [t.name for t in INTEGRATED_TECHNOLOGIES] == JourneyConfig().integrated_technologies
    for n in range(1, 1001):
        assert journey_outcome(n) == synthetic_fixture(n).expected_outcome, n
        assert expected_outcome(f"sam.rivera@{synthetic_domain(n)}") == (
            synthetic_fixture(n).expected_outcome
        )


def test_synthetic_companies_are_derived_from_their_number_alone() -> None:
    before = synthetic_fixture(77)
    synthetic_fixture.cache_clear()
    after = synthetic_fixture(77)
    assert after == before and after is not before
    assert synthetic_fixture(77) is after  # cached
    assert synthetic_fixture(78) != after


@pytest.mark.parametrize("n", [1, 5, 42, 200, 9999])
def test_clearbit_and_builtwith_answer_like_for_hand_written_fixtures(
    http: httpx.Client, n: int
) -> None:
    domain = synthetic_domain(n)
    fixture = synthetic_fixture(n)
    email = f"user.{n}@{domain}"
    first, second = find(http, email), find(http, email)
    assert first.status_code == 200
    assert (
        first.json()
        == second.json()
        == {
            "person": clearbit_person(email, fixture),
            "company": clearbit_company(fixture),
        }
    )
    company = first.json()["company"]
    assert company["domain"] == domain
    assert company["metrics"]["employeesRange"]
    assert first.json()["person"]["employment"]["domain"] == domain
    stack, again = builtwith(http, domain), builtwith(http, domain)
    assert stack.status_code == 200
    (result,) = stack.json()["Results"]
    assert result == again.json()["Results"][0] == builtwith_result(domain, fixture)
    assert technologies_in(stack.json()) == [t.name for t in fixture.technologies]


def test_fixtures_route_describes_the_synthetic_companies(http: httpx.Client) -> None:
    rows = http.get("/_sandbox/fixtures").json()["fixtures"]
    assert any(row["email_domain"].startswith("company-0001.example") for row in rows)
