"""Fake Resend: ``POST /resend/emails``, with Resend's idempotency keys.

An email counts as sent the moment it is accepted and recorded, before any injected delay, so a
client that dies while waiting leaves a sent email behind, and its retry with the same key is
answered from the idempotency store instead of sending twice.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.common import Reply, bearer_token, injected_throttle, pause, read_json, serve_script
from sandbox.fixtures import is_valid_email
from sandbox.state import FaultRoll, SandboxState, Throttle, recipients, resend_error

VENDOR = "resend"
MAX_RECIPIENTS = 50
MAX_IDEMPOTENCY_KEY_CHARS = 256

_NAMED_ADDRESS = re.compile(r"^[^<>]*<([^<>]+)>$")
_TAG_PART = re.compile(r"^[A-Za-z0-9_\-]{1,256}$")


def resend_reply(status: int, name: str, message: str) -> Reply:
    return Reply(status, resend_error(status, name, message), error=name)


def auth_failure(request: Request, state: SandboxState) -> Reply | None:
    key = bearer_token(request)
    if key is None:
        return resend_reply(401, "missing_api_key", "Missing API key in the authorization header.")
    if key != state.resend_key:
        return resend_reply(401, "validation_error", "API key is invalid")
    return None


def rate_limited(throttle: Throttle) -> Reply:
    limit = f"{throttle.limit_per_second:g}"
    reply = resend_reply(
        429,
        "rate_limit_exceeded",
        f"Too many requests. You can only make {limit} requests per second.",
    )
    reply.headers.update(
        {
            "retry-after": str(throttle.retry_after_seconds),
            "ratelimit-limit": limit,
            "ratelimit-remaining": "0",
            "ratelimit-reset": str(throttle.retry_after_seconds),
        }
    )
    return reply


def fault_reply(roll: FaultRoll) -> Reply | None:
    if roll.kind == "error":
        return resend_reply(503, "application_error", "The service is temporarily unavailable.")
    if roll.kind == "rate_limit":
        return rate_limited(injected_throttle(VENDOR, roll))
    return None


def _address(value: Any) -> bool:
    """``email@example.com`` or ``Name <email@example.com>``."""
    if not isinstance(value, str):
        return False
    match = _NAMED_ADDRESS.match(value.strip())
    return is_valid_email(match.group(1) if match else value)


def _valid_idempotency_key(key: str | None) -> bool:
    return key is None or 1 <= len(key) <= MAX_IDEMPOTENCY_KEY_CHARS


def validation_problem(payload: Any) -> str | None:
    """What is wrong with a send request, in Resend's words; None when it can be sent."""
    if not isinstance(payload, dict):
        return "The request body must be a JSON object."
    if not payload.get("from"):
        return "Missing `from` field."
    if not _address(payload["from"]):
        return (
            "Invalid `from` field. The email address needs to follow the "
            "`email@example.com` or `Name <email@example.com>` format."
        )
    to = payload.get("to")
    if not to:
        return "Missing `to` field."
    if not isinstance(to, str | list):
        return "Invalid `to` field: give one address or a list of addresses."
    addresses = recipients(to)
    if len(addresses) > MAX_RECIPIENTS:
        return f"Too many recipients: `to` takes at most {MAX_RECIPIENTS} addresses."
    if not all(_address(a) for a in (to if isinstance(to, list) else [to])):
        return "Invalid `to` field. Each address needs to follow the `email@example.com` format."
    for optional in ("cc", "bcc", "reply_to"):
        value = payload.get(optional)
        if value is not None and not all(
            _address(a) for a in (value if isinstance(value, list) else [value])
        ):
            return f"Invalid `{optional}` field."
    subject = payload.get("subject")
    if not isinstance(subject, str) or not subject.strip():
        return "Missing `subject` field."
    html, text = payload.get("html"), payload.get("text")
    if not (isinstance(html, str) and html) and not (isinstance(text, str) and text):
        return "Missing `html` or `text` field."
    tags = payload.get("tags")
    if tags is not None and not (
        isinstance(tags, list)
        and all(
            isinstance(tag, dict)
            and isinstance(tag.get("name"), str)
            and isinstance(tag.get("value"), str)
            and _TAG_PART.match(tag["name"])
            and _TAG_PART.match(tag["value"])
            for tag in tags
        )
    ):
        return (
            "Invalid `tags` field. Each tag needs a `name` and a `value` of only ASCII letters, "
            "numbers, underscores or dashes."
        )
    return None


def routes(state: SandboxState) -> list[Route]:
    async def send_email(request: Request) -> Response:
        idempotency_key = request.headers.get("idempotency-key")
        payload = await read_json(request)
        to = payload.get("to") if isinstance(payload, dict) else None
        lookup = ",".join(recipients(to)) or None
        if (scripted := state.take_script(VENDOR)) is not None:
            return await serve_script(
                state,
                request,
                VENDOR,
                scripted,
                lookup=lookup,
                idempotency_key=idempotency_key,
                request_body=payload,
            )
        roll = state.roll_faults(VENDOR)
        reply = auth_failure(request, state)
        fault: str | None = roll.delay_label
        throttled = False
        # Over the limit, nothing is sent and the idempotency store is not consulted.
        if reply is None and (throttle := state.throttle(VENDOR)) is not None:
            reply, throttled = rate_limited(throttle), True
        if reply is None and not _valid_idempotency_key(idempotency_key):
            reply = resend_reply(
                400,
                "invalid_idempotency_key",
                f"The key must be between 1-{MAX_IDEMPOTENCY_KEY_CHARS} chars.",
            )
        if reply is None and roll.kind is not None:
            reply = fault_reply(roll)
            fault = roll.label
        if reply is None and (problem := validation_problem(payload)) is not None:
            reply = resend_reply(422, "validation_error", problem)
        if reply is not None:
            state.record(
                VENDOR,
                request.method,
                request.url.path,
                reply.status,
                lookup=lookup,
                idempotency_key=idempotency_key,
                fault=fault,
                error=reply.error,
                request_body=payload,
                throttled=throttled,
            )
            await pause(roll.delay_seconds)
            return reply.response()

        assert isinstance(payload, dict)  # validation_problem returned None
        decision = state.accept_email(
            payload,
            idempotency_key,
            method=request.method,
            path=request.url.path,
            lookup=lookup,
            fault=fault,
        )
        try:
            await pause(roll.delay_seconds)
        finally:
            # Even if the wait is cancelled, the first request is over: retries replay it now.
            if decision.accepted:
                state.finish_email(idempotency_key)
        return JSONResponse(decision.body, status_code=decision.status)

    return [Route("/resend/emails", send_email, methods=["POST"])]
