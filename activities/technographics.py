"""Technographic enrichment: which technologies a company's site runs, from BuiltWith.

Answers are cached per domain (see ``activities.enrichment_cache``); a free-mail domain is never
looked up (it is the provider's stack, not the user's company's), and answers an empty stack.
"""

from __future__ import annotations

from typing import Any

import httpx

from activities import vendor_http
from activities.contracts import Technographics, TechnographicsRequest
from activities.enrichment_cache import BUILTWITH_STACK, EnrichmentCache, is_free_mail
from activities.settings import VendorSettings
from activities.warehouse import Warehouse

VENDOR = "BuiltWith"


def technologies_in(payload: dict[str, Any]) -> list[str]:
    """Every technology name across all results and paths, in the order BuiltWith lists them."""
    names: list[str] = []
    for result in payload.get("Results") or []:
        for path in (result.get("Result") or {}).get("Paths") or []:
            for technology in path.get("Technologies") or []:
                name = technology.get("Name")
                if isinstance(name, str) and name not in names:
                    names.append(name)
    return names


class BuiltWithTechnographics:
    """``look_up_technographics`` against BuiltWith's Domain API (v22)."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        settings: VendorSettings,
        warehouse: Warehouse | None = None,
    ) -> None:
        self._client = client
        self._url = settings.builtwith_base_url.rstrip("/") + "/v22/api.json"
        self._key = settings.builtwith_api_key
        self._cache = EnrichmentCache(warehouse, settings.enrichment_cache_ttl)

    async def look_up(self, request: TechnographicsRequest) -> Technographics:
        domain = request.domain.strip().lower()
        if is_free_mail(domain):
            return Technographics(technologies=[], payload={"Results": [], "free_mail": domain})
        cached = await self._cache.answer(BUILTWITH_STACK, domain, "builtwith")
        if cached is not None:
            return Technographics(technologies=technologies_in(cached), payload=cached)
        response = await vendor_http.send(
            self._client,
            VENDOR,
            "GET",
            self._url,
            params={
                "KEY": self._key.get_secret_value(),
                "LOOKUP": request.domain,
                "NOPII": "yes",
                "LIVEONLY": "yes",
            },
        )
        vendor_http.raise_for_outcome(VENDOR, response, credential="BUILTWITH_API_KEY")
        payload = vendor_http.json_object(VENDOR, response)
        errors = payload.get("Errors") or []
        if errors and not payload.get("Results"):
            # BuiltWith reports key and credit problems in the body of a 200.
            detail = "; ".join(str(e.get("Message", e)) for e in errors if isinstance(e, dict))
            lowered = detail.lower()
            if "key" in lowered or "credit" in lowered:
                raise vendor_http.needs_operator(
                    VENDOR, f"lookup refused ({detail})", "Check BUILTWITH_API_KEY and its credits."
                )
            raise vendor_http.rejected(VENDOR, detail or "no results")
        await self._cache.put(BUILTWITH_STACK, [domain], payload)
        return Technographics(technologies=technologies_in(payload), payload=payload)
