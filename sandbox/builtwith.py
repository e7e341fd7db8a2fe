"""Fake BuiltWith Domain API: ``GET /builtwith/v22/api.json?KEY=...&LOOKUP=...``.

Each domain looked up spends one of the account's credits, which every answer reports.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.fake import FakeVendor, Reply
from sandbox.fixtures import Fixture, fixture_for_domain
from sandbox.limits import Throttle
from sandbox.shared import SharedState

MAX_LOOKUPS = 16
CREDITS = 2000
# Fixed detection times keep every response byte-for-byte reproducible between runs.
FIRST_DETECTED_MS = 1_561_939_200_000  # 2019-07-01
LAST_DETECTED_MS = 1_748_736_000_000  # 2025-06-01


def builtwith_error(status: int, message: str, lookup: str | None = None) -> Reply:
    return Reply(
        status,
        {"Results": [], "Errors": [{"Lookup": lookup, "Message": message, "Code": -1}]},
        error=message,
    )


def lookup_domains(raw: str) -> list[str]:
    """The domains of ``LOOKUP``, as BuiltWith reads them: no scheme, no www, lower case."""
    domains = []
    for part in raw.split(","):
        domain = part.strip().lower().removeprefix("https://").removeprefix("http://")
        domain = domain.split("/")[0].removeprefix("www.")
        if domain:
            domains.append(domain)
    return domains


class FakeBuiltWith(FakeVendor):
    name = "builtwith"

    def __init__(self, shared: SharedState) -> None:
        super().__init__(shared)
        self._credits_used = 0

    def charge(self, lookups: int) -> tuple[int, int, int]:
        """Spend one credit per domain looked up; returns (available, used, remaining)."""
        with self.shared.lock:
            self._credits_used += lookups
            used = self._credits_used
        return CREDITS, used, max(CREDITS - used, 0)

    def reset(self) -> None:
        self._credits_used = 0

    def auth_failure(self, request: Request) -> Reply | None:
        # The real API answers 200 with an error entry; 401 makes a wrong key obvious to an operator.
        if request.query_params.get("KEY") != self.key:
            return builtwith_error(401, "API key invalid")
        return None

    def rate_limited(self, throttle: Throttle) -> Reply:
        reply = builtwith_error(429, "Too many requests")
        reply.headers["Retry-After"] = str(throttle.retry_after_seconds)
        return reply

    def unavailable(self) -> Reply:
        return builtwith_error(503, "Service temporarily unavailable")

    def technographics(self, domains: list[str], *, with_meta: bool) -> Reply:
        if not domains:
            return builtwith_error(
                400, "LOOKUP is required: one domain or up to 16, comma-separated"
            )
        if len(domains) > MAX_LOOKUPS:
            return builtwith_error(400, f"Too many lookups: at most {MAX_LOOKUPS} domains per call")
        available, used, remaining = self.charge(len(domains))
        return Reply(
            200,
            {
                "Results": [
                    builtwith_result(d, fixture_for_domain(d), with_meta=with_meta) for d in domains
                ],
                "Errors": [],
            },
            headers={
                "X-API-CREDITS-AVAILABLE": str(available),
                "X-API-CREDITS-USED": str(used),
                "X-API-CREDITS-REMAINING": str(remaining),
            },
        )

    def routes(self) -> list[Route]:
        async def domain_api(request: Request) -> Response:
            domains = lookup_domains(request.query_params.get("LOOKUP", ""))
            with_meta = request.query_params.get("NOMETA", "").lower() != "yes"
            return await self.handle(
                request,
                lookup=",".join(domains) or None,
                answer=lambda: self.technographics(domains, with_meta=with_meta),
            )

        return [Route(self.path("/v22/api.json"), domain_api, methods=["GET"])]


FAKE = FakeBuiltWith


def builtwith_result(
    domain: str, fixture: Fixture | None, *, with_meta: bool = True
) -> dict[str, Any]:
    """One BuiltWith ``Results`` entry for ``domain``, from ``fixture_for_domain(domain)``; a
    domain that is not the fixture's company site (or no fixture) gets empty ``Paths``."""
    if fixture is not None and fixture.technographics_domain != domain:
        fixture = None
    paths: list[dict[str, Any]] = []
    if fixture is not None and fixture.technologies:
        paths.append(
            {
                "Domain": domain,
                "Url": "",
                "SubDomain": "",
                "FirstIndexed": FIRST_DETECTED_MS,
                "LastIndexed": LAST_DETECTED_MS,
                "Technologies": [
                    {
                        "Name": tech.name,
                        "Description": None,
                        "Link": None,
                        "Tag": tech.fields(FakeBuiltWith.name)["tag"],
                        "Categories": list(tech.fields(FakeBuiltWith.name)["categories"]),
                        "IsPremium": "no",
                        "FirstDetected": FIRST_DETECTED_MS,
                        "LastDetected": LAST_DETECTED_MS,
                    }
                    for tech in fixture.technologies
                ],
            }
        )
    company_name = fixture.company.name if fixture is not None and fixture.company else None
    meta = {"CompanyName": company_name, "Vertical": None, "Social": None, "Emails": None}
    return {
        "Lookup": domain,
        "Result": {"IsDB": "True" if paths else "False", "Spend": 0, "Paths": paths},
        "Meta": meta if with_meta else None,
        "Attributes": None,
        "FirstIndexed": FIRST_DETECTED_MS if paths else None,
        "LastIndexed": LAST_DETECTED_MS if paths else None,
    }
