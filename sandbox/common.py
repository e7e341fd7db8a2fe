"""What every fake vendor does the same way: read credentials, serve scripts, enforce rate
limits, wait out latency."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from activities.vendors import DOCUMENTED_RATE_LIMITS
from sandbox.state import (
    FaultRoll,
    SandboxState,
    ScriptedResponse,
    Throttle,
)


@dataclass
class Reply:
    """A vendor's answer before it becomes a response, with the error code the call log keeps."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    error: str | None = None

    def response(self) -> Response:
        response: Response
        if self.body is None:
            response = Response(status_code=self.status)
        else:
            response = JSONResponse(self.body, status_code=self.status)
        response.headers.update(self.headers)
        return response


def bearer_token(request: Request) -> str | None:
    """The token of ``Authorization: Bearer <token>``, None when there is none."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def basic_username(request: Request) -> str | None:
    """The user name of HTTP Basic auth, which is where Clearbit also accepts its key."""
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded.partition(":")[0] or None


async def read_json(request: Request) -> Any:
    """The parsed JSON body, or None when it is missing or not JSON."""
    body = await request.body()
    try:
        return json.loads(body) if body else None
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


async def pause(seconds: float) -> None:
    if seconds > 0:
        await asyncio.sleep(seconds)


async def serve_script(
    state: SandboxState,
    request: Request,
    vendor: str,
    scripted: ScriptedResponse,
    *,
    lookup: str | None,
    idempotency_key: str | None = None,
    request_body: Any = None,
) -> Response:
    """Answer with a canned response, recorded before its delay like any other call."""
    state.record(
        vendor,
        request.method,
        request.url.path,
        scripted.status,
        lookup=lookup,
        idempotency_key=idempotency_key,
        fault="scripted",
        request_body=request_body,
    )
    response: Response
    if scripted.json is not None:
        response = JSONResponse(scripted.json, status_code=scripted.status)
    else:
        response = Response(scripted.text or "", status_code=scripted.status)
    response.headers.update(scripted.headers)
    await pause(scripted.delay_seconds)
    return response


def injected_throttle(vendor: str, roll: FaultRoll) -> Throttle:
    """The 429 an injected ``rate_limit`` fault answers: the vendor's documented limit."""
    return Throttle(roll.retry_after_seconds, DOCUMENTED_RATE_LIMITS[vendor])


async def handle_call(
    state: SandboxState,
    request: Request,
    vendor: str,
    *,
    lookup: str | None,
    request_body: Any = None,
    auth_failure: Callable[[], Reply | None],
    rate_limited: Callable[[Throttle], Reply],
    fault_reply: Callable[[FaultRoll], Reply | None],
    answer: Callable[[], Reply],
    limited: bool = True,
) -> Response:
    """One vendor call: script, else auth, else the enforced rate limit (when the endpoint
    counts against it: ``limited``), else injected fault, else the vendor's answer.

    The call is recorded before any injected delay, so what a vendor did stays done even when
    the client gives up waiting.
    """
    if (scripted := state.take_script(vendor)) is not None:
        return await serve_script(
            state, request, vendor, scripted, lookup=lookup, request_body=request_body
        )
    roll = state.roll_faults(vendor)
    reply = auth_failure()
    fault: str | None = roll.delay_label
    throttled = False
    if reply is None and limited and (throttle := state.throttle(vendor)) is not None:
        reply, throttled = rate_limited(throttle), True
    if reply is None:
        reply = fault_reply(roll) if roll.kind is not None else None
        fault = roll.label if reply is not None else roll.delay_label
    if reply is None:
        reply = answer()
    state.record(
        vendor,
        request.method,
        request.url.path,
        reply.status,
        lookup=lookup,
        fault=fault,
        error=reply.error,
        request_body=request_body,
        throttled=throttled,
    )
    await pause(roll.delay_seconds)
    return reply.response()
