"""Person and company enrichment with People Data Labs' Person Enrichment API (``/v5/person/enrich``).

It serves the enrichment role the way Clearbit's provider does, so a journey cannot tell them
apart:

- a role address (``info@``) ends ``invalid_email`` without a call: Clearbit refuses those (422),
  while PDL would look one up and bill a match;
- the company part of a match is cached per email domain (kind ``PEOPLEDATALABS_COMPANY``), and a
  colleague's signup is answered from it with no person part. PDL describes the person's current
  employer, which need not be the email domain's company (an old address, a personal domain),
  so a match is cached only when its company website is the email's domain;
- a person found without a company answers ``found`` with no company: the journey ends there.

PDL's documented ``x-ratelimit-reset`` is a UTC time (``"2022-02-23T20:19:55Z"``, docs'
Usage Limits page since the July 2022 release); its older docs show epoch seconds with a
``Retry-After``. Both are read.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from activities import vendor_http
from activities.contracts import Company, Enrichment, EnrichmentRequest, EnrichmentStatus
from activities.enrichment_cache import (
    PEOPLEDATALABS_COMPANY,
    EnrichmentCache,
    email_domain,
    is_role_address,
)
from activities.settings import VendorSettings
from activities.vendors import title_of
from activities.warehouse import Warehouse

NAME = "peopledatalabs"
VENDOR = title_of(NAME)
COMPANY_PREFIX = "job_company_"


def bare_domain(website: object) -> str | None:
    """``https://www.Acme.com/about`` → ``acme.com``; None for anything that is not a site."""
    if not isinstance(website, str) or not website.strip():
        return None
    host = website.strip().lower().split("://", 1)[-1]
    host = host.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    host = host.rsplit("@", 1)[-1].split(":", 1)[0].strip(".")
    host = host.removeprefix("www.")
    return host if "." in host else None


def company_from_data(data: Mapping[str, Any]) -> Company | None:
    """The company fields the journey decides with, from PDL's person record (or the cached
    company part of one); None when the record names no company."""
    employees = data.get("job_company_employee_count")
    company = Company(
        name=data.get("job_company_name") or None,
        domain=bare_domain(data.get("job_company_website")),
        # bool is an int in Python; a count is not.
        employees=employees
        if isinstance(employees, int) and not isinstance(employees, bool)
        else None,
        employees_range=data.get("job_company_size") or None,
        industry=data.get("job_company_industry") or None,
    )
    return company if company.model_dump(exclude_none=True) else None


def company_part(data: Mapping[str, Any]) -> dict[str, Any]:
    """The record's company fields only: what a colleague may be told, nothing personal."""
    return {k: v for k, v in data.items() if k.startswith(COMPANY_PREFIX)}


def retry_after(headers: Mapping[str, str], *, now: float | None = None) -> timedelta | None:
    """The delay PDL asks for: ``Retry-After`` if sent, else ``x-ratelimit-reset`` as a UTC time
    or, as the shared mapping reads it, epoch seconds or seconds from now."""
    reset = (headers.get("x-ratelimit-reset") or "").strip()
    if reset and not headers.get("retry-after") and not reset.replace(".", "", 1).isdigit():
        try:
            moment = datetime.fromisoformat(reset)
        except ValueError:
            moment = None
        if moment is not None:
            moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
            headers = {"x-ratelimit-reset": f"{moment.timestamp():.0f}"}
    return vendor_http.retry_after(headers, now=now)


class PeopleDataLabsEnrichment:
    """The enrichment role with People Data Labs' Person Enrichment API."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        settings: VendorSettings,
        warehouse: Warehouse | None = None,
    ) -> None:
        self._client = client
        self._url = settings.peopledatalabs_base_url.rstrip("/") + "/v5/person/enrich"
        self._key = settings.peopledatalabs_api_key
        self._cache = EnrichmentCache(warehouse, settings.enrichment_cache_ttl)

    async def enrich(self, request: EnrichmentRequest) -> Enrichment:
        if is_role_address(request.email):
            return Enrichment(status=EnrichmentStatus.INVALID_EMAIL)
        domain = email_domain(request.email)
        cached = await self._cache.answer(PEOPLEDATALABS_COMPANY, domain, NAME)
        if cached is not None:
            payload = {"data": cached}
            return Enrichment(
                status=EnrichmentStatus.FOUND, company=company_from_data(cached), payload=payload
            )
        response = await vendor_http.send(
            self._client,
            VENDOR,
            "GET",
            self._url,
            params={"email": request.email},
            headers={"X-Api-Key": self._key.get_secret_value()},
        )
        # A miss and a malformed address (the only thing we send) are outcomes of the journey.
        if response.status_code == 404:
            return Enrichment(status=EnrichmentStatus.NOT_FOUND)
        if response.status_code == 400:
            return Enrichment(status=EnrichmentStatus.INVALID_EMAIL)
        if response.status_code == 402:
            raise vendor_http.needs_operator(
                VENDOR,
                f"out of credits ({vendor_http.error_detail(response)})",
                "Raise the plan, or wait for the account's credits to be restored.",
            )
        if response.status_code == 429:
            raise vendor_http.rate_limited(VENDOR, retry_after(response.headers))
        vendor_http.raise_for_outcome(VENDOR, response, credential="PEOPLEDATALABS_API_KEY")
        payload = vendor_http.json_object(VENDOR, response)
        data = payload.get("data")
        if not isinstance(data, dict):
            raise vendor_http.unavailable(VENDOR, "answered a match without a person record")
        company = company_from_data(data)
        if company is not None and company.domain == domain:
            await self._cache.put(PEOPLEDATALABS_COMPANY, [domain], company_part(data))
        return Enrichment(status=EnrichmentStatus.FOUND, company=company, payload=payload)
