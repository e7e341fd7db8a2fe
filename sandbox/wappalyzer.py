"""Fake Wappalyzer Lookup API v2: ``GET /wappalyzer/v2/lookup/?urls=https://...[,...]``.

Answers one item per URL: the site's technologies, ``{"crawl": true}`` while a site is still
being crawled (a fixture with ``"wappalyzer": {"crawl": true}`` is, for its first few asks, as
Clearbit queues its lookup), or ``{"errors": [...]}`` for a URL it cannot look up. Each site
answered costs a credit; with none left, as with a wrong key, it answers 403 (Wappalyzer has no 402).
"""

from __future__ import annotations

from collections import Counter
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.credits import Credits, credits_route
from sandbox.fake import FakeVendor, Reply
from sandbox.fixtures import Fixture, fixture_for_domain
from sandbox.limits import Throttle
from sandbox.shared import SharedState

MAX_URLS = 10
CREDITS = 100_000
PENDING_TIMES = 2
# A fixed confirmation time keeps every response byte-for-byte reproducible between runs.
CONFIRMED_AT = 1_748_736_000  # 2025-06-01


def wappalyzer_error(status: int, message: str) -> Reply:
    return Reply(status, {"message": message}, error=message)


def site_domain(url: str) -> str | None:
    """The domain of ``https://www.acme.com/...``; None when it is no http(s) URL."""
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in {"http", "https"} or not parts.hostname:
        return None
    domain = parts.hostname.lower().removeprefix("www.")
    return domain if "." in domain else None


def wappalyzer_technologies(fixture: Fixture | None, domain: str) -> list[dict[str, Any]]:
    """The fixture's stack as Wappalyzer lists it; a domain that is not the fixture's company
    site (or no fixture) runs nothing it recognises, as BuiltWith finds nothing there."""
    if fixture is None or fixture.technographics_domain != domain:
        return []
    technologies = []
    for tech in fixture.technologies:
        fields = tech.fields(FakeWappalyzer.name)
        technologies.append(
            {
                "slug": fields["slug"],
                "name": tech.name,
                "versions": list(fields.get("versions", [])),
                "categories": [dict(category) for category in fields["categories"]],
                "confirmedAt": CONFIRMED_AT,
            }
        )
    return technologies


class FakeWappalyzer(FakeVendor):
    name = "wappalyzer"

    def __init__(self, shared: SharedState) -> None:
        super().__init__(shared)
        self.credits = Credits(shared.lock, CREDITS)
        self.pending_times = PENDING_TIMES
        """How many asks for a site still being crawled answer ``crawl: true`` before it is done."""
        self._pending_asks: Counter[str] = Counter()

    def still_crawling(self, domain: str) -> bool:
        """Count one ask for a site being crawled; True while it should still be pending."""
        with self.shared.lock:
            self._pending_asks[domain] += 1
            return self._pending_asks[domain] <= self.pending_times

    def reset(self) -> None:
        self._pending_asks.clear()
        self.credits.reset()

    def auth_failure(self, request: Request) -> Reply | None:
        if request.headers.get("x-api-key") != self.key:
            return wappalyzer_error(403, "Forbidden")
        return None

    def rate_limited(self, throttle: Throttle) -> Reply:
        reply = wappalyzer_error(429, "Too Many Requests")
        # Whether Wappalyzer sends Retry-After is unconfirmed; the client honours it if present.
        reply.headers["Retry-After"] = str(throttle.retry_after_seconds)
        return reply

    def unavailable(self) -> Reply:
        return wappalyzer_error(503, "Service Unavailable")

    def item(self, url: str) -> dict[str, Any]:
        """One URL's answer: done, pending or in error."""
        domain = site_domain(url)
        if domain is None:
            return {"url": url, "errors": [f"Invalid URL: {url}"]}
        fixture = fixture_for_domain(domain)
        if (
            fixture is not None
            and fixture.fields(self.name).get("crawl")
            and fixture.technographics_domain == domain
            and self.still_crawling(domain)
        ):
            return {"url": url, "crawl": True}
        return {"url": url, "technologies": wappalyzer_technologies(fixture, domain)}

    def lookup(self, urls: list[str]) -> Reply:
        if not urls:
            return wappalyzer_error(400, "urls is required: one URL or up to 10, comma-separated")
        if len(urls) > MAX_URLS:
            return wappalyzer_error(400, f"Too many URLs: at most {MAX_URLS} per request")
        if self.credits.exhausted:
            return wappalyzer_error(403, "Insufficient credits")
        items = [self.item(url) for url in urls]
        # A site answered from the index costs a credit; a crawl or an error costs none.
        spent = sum(1 for item in items if "technologies" in item)
        remaining = self.credits.spend(spent)
        return Reply(
            200,
            items,
            headers={
                "wappalyzer-credits-spent": str(spent),
                "wappalyzer-credits-remaining": str(remaining),
            },
        )

    def routes(self) -> list[Route]:
        async def lookup(request: Request) -> Response:
            raw = request.query_params.get("urls", "")
            urls = [url.strip() for url in raw.split(",") if url.strip()]
            return await self.handle(
                request, lookup=",".join(urls) or None, answer=lambda: self.lookup(urls)
            )

        # The documented path ends in a slash; a client that drops it is answered all the same.
        return [
            Route(self.path("/v2/lookup/"), lookup, methods=["GET"]),
            Route(self.path("/v2/lookup"), lookup, methods=["GET"]),
        ]

    def control_routes(self) -> list[Route]:
        return [credits_route(self.name, self.credits)]


FAKE = FakeWappalyzer
