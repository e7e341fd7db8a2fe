"""Fake Clearbit Enrichment: ``GET /clearbit/v2/combined/find?email=...``.

A fixture with ``"clearbit": {"queued": true}`` answers 202 (looking it up) a few times per email
before it answers 200, as Clearbit does for a person it has not indexed yet.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.fake import FakeVendor, Reply, basic_username, bearer_token
from sandbox.fixtures import Fixture, fixture_for_email, is_role_address, is_valid_email
from sandbox.limits import Throttle
from sandbox.shared import SharedState

# Fixed indexing time keeps every response byte-for-byte reproducible between runs.
INDEXED_AT = "2025-06-01T00:00:00.000Z"
QUEUED_TIMES = 2


def clearbit_error(status: int, error_type: str, message: str) -> Reply:
    return Reply(status, {"error": {"type": error_type, "message": message}}, error=error_type)


class FakeClearbit(FakeVendor):
    name = "clearbit"

    def __init__(self, shared: SharedState) -> None:
        super().__init__(shared)
        self.queued_times = QUEUED_TIMES
        """How many asks for a queued person answer 202 before the record is found."""
        self._queued_asks: Counter[str] = Counter()

    def still_queued(self, email: str) -> bool:
        """Count one ask for a queued lookup; True while it should still answer 202."""
        with self.shared.lock:
            key = email.strip().lower()
            self._queued_asks[key] += 1
            return self._queued_asks[key] <= self.queued_times

    def reset(self) -> None:
        self._queued_asks.clear()

    def auth_failure(self, request: Request) -> Reply | None:
        key = bearer_token(request) or basic_username(request)
        if key is None:
            return clearbit_error(
                401,
                "auth_required",
                "No API key given: send it as a Bearer token or as the HTTP Basic user name.",
            )
        if key != self.key:
            return clearbit_error(401, "invalid_api_key", "The API key is not valid.")
        return None

    def rate_limited(self, throttle: Throttle) -> Reply:
        """Clearbit's 429: its limit per minute, and when it resets in epoch seconds."""
        reply = clearbit_error(429, "rate_limit", "Rate limit exceeded; try again later.")
        reply.headers.update(
            {
                "Retry-After": str(throttle.retry_after_seconds),
                "X-RateLimit-Limit": str(max(round(throttle.limit_per_second * 60), 1)),
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": str(int(time.time()) + throttle.retry_after_seconds),
            }
        )
        return reply

    def unavailable(self) -> Reply:
        return clearbit_error(503, "service_unavailable", "Enrichment is temporarily unavailable.")

    def enrichment(self, email: str) -> Reply:
        """The combined person and company record for an email, as the fixtures have it."""
        if not email:
            return clearbit_error(422, "email_invalid", "An email query parameter is required.")
        if not is_valid_email(email):
            return clearbit_error(422, "email_invalid", "The email address is not valid.")
        if is_role_address(email):
            return clearbit_error(
                422, "email_invalid", "The email address belongs to a role, not to a person."
            )
        fixture = fixture_for_email(email)
        if fixture is None:
            return clearbit_error(
                404, "unknown_record", "No person or company found for this email."
            )
        if fixture.fields(self.name).get("queued") and self.still_queued(email):
            # Clearbit's "looking it up, ask again later": an empty 202, not a failure.
            return Reply(202)
        return Reply(
            200,
            {
                "person": clearbit_person(email.strip(), fixture),
                "company": clearbit_company(fixture),
            },
        )

    def routes(self) -> list[Route]:
        async def combined_find(request: Request) -> Response:
            email = request.query_params.get("email", "")
            return await self.handle(
                request, lookup=email or None, answer=lambda: self.enrichment(email)
            )

        return [Route(self.path("/v2/combined/find"), combined_find, methods=["GET"])]


FAKE = FakeClearbit


def _stable_id(*parts: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_DNS, ".".join(parts)))


def clearbit_person(email: str, fixture: Fixture) -> dict[str, Any]:
    """A Clearbit person record for ``email``, named after the fixture's sample person."""
    person, company = fixture.person, fixture.company
    return {
        "id": _stable_id("person", email.lower()),
        "name": {
            "fullName": person.full_name,
            "givenName": person.given_name,
            "familyName": person.family_name,
        },
        "email": email,
        "location": f"{company.city}, {company.country_code}" if company else None,
        "timeZone": person.time_zone,
        "utcOffset": None,
        "geo": {
            "city": company.city if company else None,
            "state": None,
            "stateCode": None,
            "country": None,
            "countryCode": company.country_code if company else None,
            "lat": None,
            "lng": None,
        },
        "bio": None,
        "site": None,
        "avatar": None,
        "employment": {
            "domain": company.domain if company else None,
            "name": company.name if company else None,
            "title": person.title,
            "role": None,
            "subRole": None,
            "seniority": None,
        },
        "facebook": {"handle": None},
        "github": {"handle": None, "id": None, "avatar": None, "company": None},
        "twitter": {"handle": None, "id": None, "followers": None},
        "linkedin": {"handle": None},
        "gravatar": {"handle": None, "urls": [], "avatar": None, "avatars": []},
        "fuzzy": False,
        "emailProvider": company is None,
        "indexedAt": INDEXED_AT,
        "phone": None,
        "activeAt": None,
        "inactiveAt": None,
    }


def clearbit_company(fixture: Fixture) -> dict[str, Any] | None:
    """A Clearbit company record, or None for a free-mail person."""
    company = fixture.company
    if company is None:
        return None
    technologies = [tech.fields(FakeClearbit.name) for tech in fixture.technologies]
    return {
        "id": _stable_id("company", fixture.email_domain),
        "name": company.name,
        "legalName": company.legal_name,
        "domain": company.domain,
        "domainAliases": [],
        "site": {"phoneNumbers": [], "emailAddresses": []},
        "category": {
            "sector": company.sector,
            "industryGroup": None,
            "industry": company.industry,
            "subIndustry": None,
            "sicCode": None,
            "naicsCode": None,
        },
        "tags": [],
        "description": company.description,
        "foundedYear": company.founded_year,
        "location": f"{company.city}, {company.country_code}",
        "timeZone": company.time_zone,
        "utcOffset": None,
        "geo": {
            "streetNumber": None,
            "streetName": None,
            "subPremise": None,
            "city": company.city,
            "postalCode": None,
            "state": None,
            "stateCode": None,
            "country": None,
            "countryCode": company.country_code,
            "lat": None,
            "lng": None,
        },
        "logo": None,
        "facebook": {"handle": None, "likes": None},
        "linkedin": {"handle": None},
        "twitter": {"handle": None, "id": None, "followers": None},
        "crunchbase": {"handle": None},
        "emailProvider": False,
        "type": "private",
        "ticker": None,
        "identifiers": {"usEIN": None},
        "phone": None,
        "metrics": {
            "alexaUsRank": None,
            "alexaGlobalRank": None,
            "trafficRank": None,
            "employees": company.employees,
            "employeesRange": company.employees_range,
            "marketCap": None,
            "raised": None,
            "annualRevenue": None,
            "estimatedAnnualRevenue": None,
            "fiscalYearEnd": None,
        },
        "indexedAt": INDEXED_AT,
        "tech": [tech["slug"] for tech in technologies],
        "techCategories": sorted({tech["category"] for tech in technologies}),
        "parent": {"domain": None},
        "ultimateParent": {"domain": None},
    }
