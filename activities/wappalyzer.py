"""Technographic enrichment with Wappalyzer's Lookup API v2: which technologies a company's site
runs.

A site Wappalyzer has not indexed yet answers ``crawl: true``: a crawl is queued, like Clearbit's
202, so the answer is ``queued`` and the journey asks again later; a pending crawl is never
cached. Completed answers are cached per domain (kind ``WAPPALYZER_STACK``). A free-mail domain
is never looked up (it is the mail provider's stack, not the user's company's), as with BuiltWith.

Wappalyzer answers 403 alike for a bad key, a forbidden resource and exhausted credits (it has no
402), so all three wait for an operator.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from activities import vendor_http
from activities.contracts import Technographics, TechnographicsRequest, TechnographicsStatus
from activities.enrichment_cache import WAPPALYZER_STACK, EnrichmentCache, is_free_mail
from activities.settings import VendorSettings
from activities.vendors import title_of
from activities.warehouse import Warehouse

NAME = "wappalyzer"
VENDOR = title_of(NAME)
_URL_LIKE = re.compile(r"\b[a-z][a-z0-9+.\-]*://\S+", re.IGNORECASE)


def technologies_in(payload: dict[str, Any]) -> list[str]:
    """Every technology name across the answer's items, in Wappalyzer's order, once each."""
    names: list[str] = []
    for item in payload.get("results") or []:
        if not isinstance(item, dict):
            continue
        for technology in item.get("technologies") or []:
            name = technology.get("name") if isinstance(technology, dict) else None
            if isinstance(name, str) and name not in names:
                names.append(name)
    return names


def errors_detail(errors: object) -> str:
    """A short, safe description of an item's ``errors``: no URLs, no email addresses."""
    entries = errors if isinstance(errors, list) else [errors]
    parts: list[str] = []
    for entry in entries:
        if isinstance(entry, dict):
            parts += [str(entry[k]) for k in ("type", "code", "message") if entry.get(k)]
        elif entry:
            parts.append(str(entry))
    text = vendor_http.without_emails(_URL_LIKE.sub("<url>", "; ".join(parts)))
    return text[:300] or "the lookup failed"


class WappalyzerTechnographics:
    """The technographics role with Wappalyzer's ``GET /v2/lookup/``."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        settings: VendorSettings,
        warehouse: Warehouse | None = None,
    ) -> None:
        self._client = client
        self._url = settings.wappalyzer_base_url.rstrip("/") + "/v2/lookup/"
        self._key = settings.wappalyzer_api_key
        self._cache = EnrichmentCache(warehouse, settings.enrichment_cache_ttl)

    async def look_up(self, request: TechnographicsRequest) -> Technographics:
        domain = request.domain.strip().lower()
        if is_free_mail(domain):
            return Technographics(technologies=[], payload={"results": [], "free_mail": domain})
        cached = await self._cache.answer(WAPPALYZER_STACK, domain, NAME)
        if cached is not None:
            return Technographics(technologies=technologies_in(cached), payload=cached)
        response = await vendor_http.send(
            self._client,
            VENDOR,
            "GET",
            self._url,
            params={"urls": f"https://{domain}"},
            headers={"x-api-key": self._key.get_secret_value()},
        )
        if response.status_code == 403:
            raise vendor_http.needs_operator(
                VENDOR,
                f"credentials refused or credits exhausted ({vendor_http.error_detail(response)})",
                "Check WAPPALYZER_API_KEY and the account's credits.",
            )
        vendor_http.raise_for_outcome(VENDOR, response, credential="WAPPALYZER_API_KEY")
        items = self._items(response)
        # The vendor's answer is a JSON array; kept whole under one key of an object.
        payload: dict[str, Any] = {"results": items}
        item = items[0]
        technologies = technologies_in(payload)
        if not technologies and item.get("errors"):
            raise vendor_http.rejected(VENDOR, errors_detail(item["errors"]))
        if not technologies and item.get("crawl") is True:
            return Technographics(payload=payload, status=TechnographicsStatus.QUEUED)
        await self._cache.put(WAPPALYZER_STACK, [domain], payload)
        return Technographics(technologies=technologies, payload=payload)

    @staticmethod
    def _items(response: httpx.Response) -> list[dict[str, Any]]:
        """The answer's items (one per URL asked); anything else is the vendor misbehaving."""
        try:
            body: Any = response.json()
        except ValueError:
            raise vendor_http.unavailable(VENDOR, "answered with a body that is not JSON") from None
        if not isinstance(body, list) or not body or not all(isinstance(i, dict) for i in body):
            raise vendor_http.unavailable(VENDOR, "answered without a lookup result")
        return body
