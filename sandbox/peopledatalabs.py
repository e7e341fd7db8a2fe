"""Fake People Data Labs: ``GET /peopledatalabs/v5/person/enrich?email=...`` and
``GET /peopledatalabs/v5/company/enrich?website=...``.

PDL has no queue: a person Clearbit is still looking up (slowpoke's) is found at once. A match
costs a credit, a miss none; once the credits are gone every lookup answers 402 until they are
restored (``PUT /_sandbox/peopledatalabs/credits``, or ``fake.credits.set_remaining(0)``).
Names, titles and places come in lower case, as PDL sends them.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.credits import Credits, credits_route
from sandbox.fake import FakeVendor, Reply
from sandbox.fixtures import (
    Fixture,
    fixture_for_domain,
    fixture_for_email,
    is_role_address,
    is_valid_email,
)
from sandbox.limits import Throttle
from sandbox.shared import SharedState

# Plenty for a load test: a test that wants them gone says so.
CREDITS = 100_000
LIKELIHOOD = 8
# PDL's company size ranges, by their lowest head count.
SIZES = (
    (1, "1-10"),
    (11, "11-50"),
    (51, "51-200"),
    (201, "201-500"),
    (501, "501-1000"),
    (1001, "1001-5000"),
    (5001, "5001-10000"),
    (10001, "10001+"),
)
COUNTRIES = {
    "AU": "australia",
    "BR": "brazil",
    "CA": "canada",
    "DE": "germany",
    "GB": "united kingdom",
    "GH": "ghana",
    "JP": "japan",
    "NG": "nigeria",
    "NL": "netherlands",
    "PT": "portugal",
    "SE": "sweden",
    "US": "united states",
}
_RANGE_LOWER_BOUND = re.compile(r"^\s*(\d+)\s*([kK])?")


def pdl_error(status: int, error_type: str, message: str) -> Reply:
    return Reply(
        status,
        {"status": status, "error": {"type": error_type, "message": message}},
        error=error_type,
    )


def size_range(employees: int) -> str:
    """The PDL size range ``employees`` falls in (``60`` → ``"51-200"``)."""
    return next(label for lowest, label in reversed(SIZES) if employees >= lowest)


def company_size(fixture: Fixture) -> tuple[str | None, int | None]:
    """PDL's size range and head count for the fixture's company: its own under
    ``peopledatalabs`` in fixtures.json, else derived from Clearbit's (the synthetic companies),
    so both vendors put it in the same segment."""
    fields = fixture.fields(FakePeopleDataLabs.name)
    if "job_company_size" in fields:
        return fields["job_company_size"], fields.get("job_company_employee_count")
    company = fixture.company
    if company is None:
        return None, None
    if company.employees is not None:
        return size_range(company.employees), company.employees
    match = _RANGE_LOWER_BOUND.match(company.employees_range or "")
    if match is None:
        return None, None
    # Known only by a range: the PDL range holding its lowest count keeps that count's side of 100.
    return size_range(int(match.group(1)) * (1000 if match.group(2) else 1)), None


def _lower(value: str | None) -> str | None:
    return value.lower() if value else None


def _place(fixture: Fixture) -> tuple[str | None, str | None]:
    """``location_name`` and ``location_country``: the company's city, as Clearbit has it."""
    company = fixture.company
    if company is None:
        return None, None
    country = COUNTRIES.get(company.country_code, company.country_code.lower())
    return f"{company.city.lower()}, {country}", country


def pdl_person(email: str, fixture: Fixture) -> dict[str, Any]:
    """The Person record's fields the journey reads; no ``job_company_*`` without a company."""
    person, company = fixture.person, fixture.company
    location_name, location_country = _place(fixture)
    data: dict[str, Any] = {
        "id": str(uuid.uuid5(uuid.NAMESPACE_DNS, f"pdl.person.{email.lower()}")),
        "full_name": person.full_name.lower(),
        "first_name": person.given_name.lower(),
        "last_name": person.family_name.lower(),
        "job_title": _lower(person.title),
        "location_name": location_name,
        "location_country": location_country,
    }
    if company is not None:
        size, employees = company_size(fixture)
        data.update(
            {
                "job_company_name": company.name.lower(),
                "job_company_website": company.domain,
                "job_company_size": size,
                "job_company_industry": _lower(company.industry),
                "job_company_founded": company.founded_year,
                "job_company_location_country": location_country,
            }
        )
        if employees is not None:
            data["job_company_employee_count"] = employees
    return data


def pdl_company(fixture: Fixture) -> dict[str, Any]:
    """A Company record, which PDL sends flat, beside ``status`` and ``likelihood``."""
    company = fixture.company
    assert company is not None
    size, employees = company_size(fixture)
    location_name, location_country = _place(fixture)
    return {
        "status": 200,
        "id": str(uuid.uuid5(uuid.NAMESPACE_DNS, f"pdl.company.{company.domain}")),
        "name": company.name.lower(),
        "display_name": company.name,
        "website": company.domain,
        "size": size,
        "employee_count": employees,
        "industry": _lower(company.industry),
        "founded": company.founded_year,
        "location": {"name": location_name, "country": location_country},
        "likelihood": LIKELIHOOD,
    }


class FakePeopleDataLabs(FakeVendor):
    name = "peopledatalabs"

    def __init__(self, shared: SharedState) -> None:
        super().__init__(shared)
        self.credits = Credits(shared.lock, CREDITS)

    def reset(self) -> None:
        self.credits.reset()

    def auth_failure(self, request: Request) -> Reply | None:
        key = request.headers.get("x-api-key") or request.query_params.get("api_key")
        if not key:
            return pdl_error(
                401, "authentication_error", "No API key: send it as X-Api-Key or api_key."
            )
        if key != self.key:
            return pdl_error(401, "authentication_error", "Invalid API key.")
        return None

    def rate_limited(self, throttle: Throttle) -> Reply:
        """PDL's 429: a fixed window per minute, its reset as a UTC time; no Retry-After."""
        reply = pdl_error(
            429,
            "rate_limit_error",
            "An error occurred due to requests hitting the API too quickly.",
        )
        reset = datetime.now(UTC) + timedelta(seconds=throttle.retry_after_seconds)
        per_minute = max(round(throttle.limit_per_second * 60), 1)
        reply.headers.update(
            {
                # PDL writes these as Python dicts, quotes and all.
                "x-ratelimit-limit": f"{{'minute': {per_minute}}}",
                "x-ratelimit-remaining": "{'minute': 0}",
                "x-ratelimit-reset": reset.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        )
        return reply

    def unavailable(self) -> Reply:
        return pdl_error(503, "api_error", "The API is temporarily unavailable.")

    def out_of_credits(self) -> Reply | None:
        if not self.credits.exhausted:
            return None
        return pdl_error(
            402, "payment_required", "You have hit your account maximum (all matches used)."
        )

    def billed(self, body: dict[str, Any], credit_type: str) -> Reply:
        """A match, charged one credit, with PDL's credit headers."""
        remaining = self.credits.spend(1)
        return Reply(
            200,
            body,
            headers={
                "x-call-credits-spent": "1",
                "x-call-credits-type": credit_type,
                "x-totallimit-remaining": str(remaining),
            },
        )

    def person(self, email: str, min_likelihood: str | None) -> Reply:
        if not email:
            return pdl_error(400, "invalid_request_error", "An email parameter is required.")
        if not is_valid_email(email):
            return pdl_error(400, "invalid_request_error", "The email is not a valid address.")
        if min_likelihood is not None and not (
            min_likelihood.isdigit() and 0 <= int(min_likelihood) <= 10
        ):
            return pdl_error(400, "invalid_request_error", "min_likelihood is 0 to 10.")
        if (refused := self.out_of_credits()) is not None:
            return refused
        # A role mailbox is no person: the product never asks, and PDL would know nobody.
        fixture = None if is_role_address(email) else fixture_for_email(email)
        if fixture is None or int(min_likelihood or 0) > LIKELIHOOD:
            return pdl_error(404, "not_found", "No records were found matching your request.")
        body = {
            "status": 200,
            "likelihood": LIKELIHOOD,
            "data": pdl_person(email.strip(), fixture),
        }
        return self.billed(body, "enrich")

    def company(self, website: str) -> Reply:
        domain = website.strip().lower().removeprefix("https://").removeprefix("http://")
        domain = domain.split("/")[0].removeprefix("www.")
        if not domain:
            return pdl_error(400, "invalid_request_error", "A website parameter is required.")
        if (refused := self.out_of_credits()) is not None:
            return refused
        fixture = fixture_for_domain(domain)
        company = fixture.company if fixture is not None else None
        if fixture is None or company is None or company.domain != domain:
            return pdl_error(404, "not_found", "No records were found matching your request.")
        return self.billed(pdl_company(fixture), "enrich_company")

    def routes(self) -> list[Route]:
        async def person_enrich(request: Request) -> Response:
            email = request.query_params.get("email", "")
            min_likelihood = request.query_params.get("min_likelihood")
            return await self.handle(
                request, lookup=email or None, answer=lambda: self.person(email, min_likelihood)
            )

        async def company_enrich(request: Request) -> Response:
            website = request.query_params.get("website", "")
            return await self.handle(
                request, lookup=website or None, answer=lambda: self.company(website)
            )

        return [
            Route(self.path("/v5/person/enrich"), person_enrich, methods=["GET"]),
            Route(self.path("/v5/company/enrich"), company_enrich, methods=["GET"]),
        ]

    def control_routes(self) -> list[Route]:
        return [credits_route(self.name, self.credits)]


FAKE = FakePeopleDataLabs
