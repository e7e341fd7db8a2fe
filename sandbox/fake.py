"""What a fake vendor is: its own memory and routes on top of the shared machinery, and the order
every call goes through (script, auth, rate limit, fault, answer).

Each vendor of ``activities/vendors.py`` is served by the sandbox module named after it, which
defines ``FAKE``, a ``FakeVendor`` subclass; ``SandboxState`` builds one of each.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from activities.vendors import VENDORS, Vendor
from sandbox.faults import FaultRoll, ScriptedResponse
from sandbox.limits import Throttle
from sandbox.shared import SharedState


@dataclass
class Reply:
    """A vendor's answer before it becomes a response, with the error code the call log keeps:
    a JSON ``body``, or a plain ``text`` for the vendors that answer in plain text."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    text: str | None = None

    def response(self) -> Response:
        response: Response
        if self.text is not None:
            response = PlainTextResponse(self.text, status_code=self.status)
        elif self.body is None:
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


class FakeVendor(ABC):
    """One fake vendor: what it remembers, how it refuses, and its routes."""

    name: ClassVar[str]
    """Its row in the vendor table."""

    def __init__(self, shared: SharedState) -> None:
        self.shared = shared
        self.key = self.vendor.sandbox_key
        """The credential it expects."""

    @property
    def vendor(self) -> Vendor:
        return VENDORS[self.name]

    def path(self, endpoint: str) -> str:
        """Where ``endpoint`` is served: below the vendor's prefix in the sandbox."""
        return f"{self.vendor.sandbox_path}{endpoint}"

    def environment(self, sandbox_url: str) -> dict[str, str]:
        """The settings a worker needs to use this fake in the sandbox at ``sandbox_url``: its
        address, then its credential."""
        vendor = self.vendor
        return {vendor.base_url_env: sandbox_url + vendor.sandbox_path, vendor.key_env: self.key}

    @abstractmethod
    def routes(self) -> list[Route]:
        """The vendor's API, in its wire format."""

    def control_routes(self) -> list[Route]:
        """Endpoints under ``/_sandbox`` that show what the vendor accepted."""
        return []

    @abstractmethod
    def auth_failure(self, request: Request) -> Reply | None:
        """The vendor's answer to a missing or wrong credential; None when it is right."""

    @abstractmethod
    def rate_limited(self, throttle: Throttle) -> Reply:
        """The vendor's 429."""

    @abstractmethod
    def unavailable(self) -> Reply:
        """The vendor's answer during an outage (an injected ``error`` fault)."""

    def fault_reply(self, roll: FaultRoll) -> Reply | None:
        if roll.kind == "error":
            return self.unavailable()
        if roll.kind == "rate_limit":
            # An injected 429 reports the vendor's documented limit.
            return self.rate_limited(Throttle(roll.retry_after_seconds, self.vendor.rate_limit))
        return None

    @abstractmethod
    def reset(self) -> None:
        """Forget what it accepted; runs under the shared lock."""

    def achieved(self) -> dict[str, int]:
        """What journeys achieved here, for the summary (``{"emails_accepted": 3}``)."""
        return {}

    async def serve_script(
        self,
        request: Request,
        scripted: ScriptedResponse,
        *,
        lookup: str | None,
        idempotency_key: str | None = None,
        request_body: Any = None,
    ) -> Response:
        """Answer with a canned response, recorded before its delay like any other call."""
        self.shared.record(
            self.name,
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

    async def handle(
        self,
        request: Request,
        *,
        lookup: str | None,
        answer: Callable[[], Reply],
        request_body: Any = None,
        limited: bool = True,
    ) -> Response:
        """One call: script, else auth, else the enforced rate limit (when the endpoint counts
        against it: ``limited``), else injected fault, else the vendor's ``answer``.

        The call is recorded before any injected delay, so what a vendor did stays done even when
        the client gives up waiting.
        """
        shared = self.shared
        if (scripted := shared.take_script(self.name)) is not None:
            return await self.serve_script(
                request, scripted, lookup=lookup, request_body=request_body
            )
        roll = shared.roll_faults(self.name)
        reply = self.auth_failure(request)
        fault: str | None = roll.delay_label
        throttled = False
        if reply is None and limited and (throttle := shared.throttle(self.name)) is not None:
            reply, throttled = self.rate_limited(throttle), True
        if reply is None:
            reply = self.fault_reply(roll)
            fault = roll.label if reply is not None else roll.delay_label
        lost = False
        if reply is None:
            reply = answer()
            # Done at the vendor, then the answer is lost on its way back (a read's lost answer
            # is no different from an error, so only calls that change something lose theirs).
            lost = roll.kind == "lost_answer" and reply.status < 300 and request.method != "GET"
            fault = roll.label if lost else fault
        shared.record(
            self.name,
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
        return self.unavailable().response() if lost else reply.response()
