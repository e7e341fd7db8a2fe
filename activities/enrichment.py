"""Person and company enrichment with Clearbit's combined find.

The company part of an answer is cached per email domain (``activities.enrichment_cache``): a
colleague's signup is answered from it without asking Clearbit, with no person part."""

from __future__ import annotations

from typing import Any

import httpx

from activities import vendor_http
from activities.contracts import (
    Company,
    Enrichment,
    EnrichmentRequest,
    EnrichmentStatus,
)
from activities.enrichment_cache import (
    CLEARBIT_COMPANY,
    EnrichmentCache,
    email_domain,
    is_role_address,
)
from activities.settings import VendorSettings
from activities.warehouse import Warehouse

VENDOR = "Clearbit"


def time_zone_of(payload: dict[str, Any]) -> str | None:
    """The person's ``timeZone``, else the company's (IANA names, e.g. ``Europe/Berlin``)."""
    for part in ("person", "company"):
        found = payload.get(part)
        zone = found.get("timeZone") if isinstance(found, dict) else None
        if isinstance(zone, str) and zone.strip():
            return zone.strip()
    return None


def company_from_payload(payload: dict[str, Any]) -> Company | None:
    """The company fields the journey decides with, or None when Clearbit found no company."""
    company = payload.get("company")
    if not isinstance(company, dict):
        return None
    metrics = company.get("metrics") or {}
    category = company.get("category") or {}
    employees = metrics.get("employees")
    return Company(
        name=company.get("name"),
        domain=company.get("domain"),
        employees=employees if isinstance(employees, int) else None,
        employees_range=metrics.get("employeesRange"),
        industry=category.get("industry"),
    )


class ClearbitEnrichment:
    """``enrich_signup`` against Clearbit's ``/v2/combined/find``."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        settings: VendorSettings,
        warehouse: Warehouse | None = None,
    ) -> None:
        self._client = client
        self._url = settings.clearbit_base_url.rstrip("/") + "/v2/combined/find"
        self._key = settings.clearbit_api_key
        self._cache = EnrichmentCache(warehouse, settings.enrichment_cache_ttl)

    async def enrich(self, request: EnrichmentRequest) -> Enrichment:
        domain = email_domain(request.email)
        company = await self._cache.answer(CLEARBIT_COMPANY, domain, "clearbit")
        if company is not None:
            if is_role_address(request.email):
                return Enrichment(status=EnrichmentStatus.INVALID_EMAIL)
            payload = {"person": None, "company": company}
            return Enrichment(
                status=EnrichmentStatus.FOUND,
                company=company_from_payload(payload),
                payload=payload,
                time_zone=time_zone_of(payload),
            )
        response = await vendor_http.send(
            self._client,
            VENDOR,
            "GET",
            self._url,
            params={"email": request.email},
            headers={"Authorization": f"Bearer {self._key.get_secret_value()}"},
        )
        # Clearbit's domain answers are outcomes of the journey, not failures of the call.
        if response.status_code == 202:
            return Enrichment(status=EnrichmentStatus.QUEUED)
        if response.status_code == 404:
            return Enrichment(status=EnrichmentStatus.NOT_FOUND)
        if response.status_code == 422:
            return Enrichment(status=EnrichmentStatus.INVALID_EMAIL)
        vendor_http.raise_for_outcome(VENDOR, response, credential="CLEARBIT_API_KEY")
        payload = vendor_http.json_object(VENDOR, response)
        found = payload.get("company")
        if isinstance(found, dict):
            await self._cache.put(CLEARBIT_COMPANY, [domain], found)
        return Enrichment(
            status=EnrichmentStatus.FOUND,
            company=company_from_payload(payload),
            payload=payload,
            time_zone=time_zone_of(payload),
        )
