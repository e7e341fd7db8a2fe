"""Fake BuiltWith Domain API: ``GET /builtwith/v22/api.json?KEY=...&LOOKUP=...``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.common import Reply, handle_call, injected_throttle
from sandbox.fixtures import builtwith_result, fixture_for_domain
from sandbox.state import FaultRoll, SandboxState, Throttle

VENDOR = "builtwith"
MAX_LOOKUPS = 16


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


def auth_failure(request: Request, state: SandboxState) -> Reply | None:
    # The real API answers 200 with an error entry; 401 makes a wrong key obvious to an operator.
    if request.query_params.get("KEY") != state.builtwith_key:
        return builtwith_error(401, "API key invalid")
    return None


def rate_limited(throttle: Throttle) -> Reply:
    reply = builtwith_error(429, "Too many requests")
    reply.headers["Retry-After"] = str(throttle.retry_after_seconds)
    return reply


def fault_reply(roll: FaultRoll) -> Reply | None:
    if roll.kind == "error":
        return builtwith_error(503, "Service temporarily unavailable")
    if roll.kind == "rate_limit":
        return rate_limited(injected_throttle(VENDOR, roll))
    return None


def technographics(state: SandboxState, domains: list[str], *, with_meta: bool) -> Reply:
    if not domains:
        return builtwith_error(400, "LOOKUP is required: one domain or up to 16, comma-separated")
    if len(domains) > MAX_LOOKUPS:
        return builtwith_error(400, f"Too many lookups: at most {MAX_LOOKUPS} domains per call")
    available, used, remaining = state.charge_builtwith(len(domains))
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


def routes(state: SandboxState) -> list[Route]:
    async def domain_api(request: Request) -> Response:
        domains = lookup_domains(request.query_params.get("LOOKUP", ""))
        with_meta = request.query_params.get("NOMETA", "").lower() != "yes"
        return await handle_call(
            state,
            request,
            VENDOR,
            lookup=",".join(domains) or None,
            auth_failure=lambda: auth_failure(request, state),
            rate_limited=rate_limited,
            fault_reply=fault_reply,
            answer=lambda: technographics(state, domains, with_meta=with_meta),
        )

    return [Route("/builtwith/v22/api.json", domain_api, methods=["GET"])]
