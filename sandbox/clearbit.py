"""Fake Clearbit Enrichment: ``GET /clearbit/v2/combined/find?email=...``."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.common import Reply, basic_username, bearer_token, handle_call, injected_throttle
from sandbox.fixtures import (
    clearbit_company,
    clearbit_person,
    fixture_for_email,
    is_role_address,
    is_valid_email,
)
from sandbox.state import FaultRoll, SandboxState, Throttle

VENDOR = "clearbit"


def clearbit_error(status: int, error_type: str, message: str) -> Reply:
    return Reply(status, {"error": {"type": error_type, "message": message}}, error=error_type)


def auth_failure(request: Request, state: SandboxState) -> Reply | None:
    key = bearer_token(request) or basic_username(request)
    if key is None:
        return clearbit_error(
            401,
            "auth_required",
            "No API key given: send it as a Bearer token or as the HTTP Basic user name.",
        )
    if key != state.clearbit_key:
        return clearbit_error(401, "invalid_api_key", "The API key is not valid.")
    return None


def rate_limited(throttle: Throttle) -> Reply:
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


def fault_reply(roll: FaultRoll) -> Reply | None:
    if roll.kind == "error":
        return clearbit_error(503, "service_unavailable", "Enrichment is temporarily unavailable.")
    if roll.kind == "rate_limit":
        return rate_limited(injected_throttle(VENDOR, roll))
    return None


def enrichment(state: SandboxState, email: str) -> Reply:
    """The combined person and company record for an email, as the fixture table has it."""
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
        return clearbit_error(404, "unknown_record", "No person or company found for this email.")
    if fixture.queued and state.clearbit_still_queued(email):
        # Clearbit's "looking it up, ask again later": an empty 202, not a failure.
        return Reply(202)
    return Reply(
        200,
        {"person": clearbit_person(email.strip(), fixture), "company": clearbit_company(fixture)},
    )


def routes(state: SandboxState) -> list[Route]:
    async def combined_find(request: Request) -> Response:
        email = request.query_params.get("email", "")
        return await handle_call(
            state,
            request,
            VENDOR,
            lookup=email or None,
            auth_failure=lambda: auth_failure(request, state),
            rate_limited=rate_limited,
            fault_reply=fault_reply,
            answer=lambda: enrichment(state, email),
        )

    return [Route("/clearbit/v2/combined/find", combined_find, methods=["GET"])]
