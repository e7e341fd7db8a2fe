"""Fake Resend: ``POST /resend/emails``, with Resend's idempotency keys.

An email counts as sent the moment it is accepted and recorded, before any injected delay, so a
client that dies while waiting leaves a sent email behind, and its retry with the same key is
answered from the idempotency store instead of sending twice.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.fake import FakeVendor, Reply, bearer_token, pause, read_json
from sandbox.fixtures import is_valid_email
from sandbox.limits import Throttle
from sandbox.shared import SharedState, now_iso

MAX_RECIPIENTS = 50
MAX_IDEMPOTENCY_KEY_CHARS = 256
IDEMPOTENCY_WINDOW_SECONDS = 24 * 3600


def resend_error(status: int, name: str, message: str) -> dict[str, Any]:
    return {"statusCode": status, "message": message, "name": name}


_IN_FLIGHT = resend_error(
    409,
    "concurrent_idempotent_requests",
    "Same idempotency key used while original request is still in progress.",
)
_OTHER_PAYLOAD = resend_error(
    409,
    "invalid_idempotent_request",
    "Same idempotency key used with a different request payload.",
)
_NAMED_ADDRESS = re.compile(r"^[^<>]*<([^<>]+)>$")
_TAG_PART = re.compile(r"^[A-Za-z0-9_\-]{1,256}$")


@dataclass(frozen=True)
class AcceptedEmail:
    """An email Resend accepted for sending (so, in the sandbox, sent)."""

    id: str
    idempotency_key: str | None
    sender: str
    to: tuple[str, ...]
    subject: str
    tags: tuple[tuple[str, str], ...]
    accepted_at: str
    headers: tuple[tuple[str, str], ...] = ()
    text: str = ""
    html: str = ""

    def header(self, name: str) -> str | None:
        """The value of the header ``name`` (any case), as the email carried it."""
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


@dataclass
class _IdempotentSend:
    fingerprint: str
    response: dict[str, Any]
    stored_at: float
    in_flight: bool


@dataclass(frozen=True)
class SendDecision:
    """How Resend answers one send, after the idempotency store was consulted."""

    status: int
    body: dict[str, Any]
    duplicate: bool = False
    accepted: bool = False


def resend_reply(status: int, name: str, message: str) -> Reply:
    return Reply(status, resend_error(status, name, message), error=name)


def recipients(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    return ()


def _lookup(payload: Any) -> str | None:
    """The recipients, which the call record keeps as the call's lookup."""
    to = payload.get("to") if isinstance(payload, dict) else None
    return ",".join(recipients(to)) or None


def fingerprint(payload: Any) -> str:
    """The request body in canonical form: key order and whitespace do not make it different."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def accepted_email(
    email_id: str, idempotency_key: str | None, payload: Mapping[str, Any]
) -> AcceptedEmail:
    tags = payload.get("tags") or []
    return AcceptedEmail(
        id=email_id,
        idempotency_key=idempotency_key,
        sender=str(payload.get("from")),
        to=recipients(payload.get("to")),
        subject=str(payload.get("subject")),
        tags=tuple(
            (str(tag.get("name")), str(tag.get("value"))) for tag in tags if isinstance(tag, dict)
        ),
        accepted_at=now_iso(),
        headers=tuple((str(k), str(v)) for k, v in (payload.get("headers") or {}).items()),
        text=str(payload.get("text") or ""),
        html=str(payload.get("html") or ""),
    )


def _address(value: Any) -> bool:
    """``email@example.com`` or ``Name <email@example.com>``."""
    if not isinstance(value, str):
        return False
    match = _NAMED_ADDRESS.match(value.strip())
    return is_valid_email(match.group(1) if match else value)


def _all_addresses(value: Any) -> bool:
    return all(_address(a) for a in (value if isinstance(value, list) else [value]))


def _valid_tag(tag: Any) -> bool:
    return (
        isinstance(tag, dict)
        and isinstance(tag.get("name"), str)
        and isinstance(tag.get("value"), str)
        and bool(_TAG_PART.match(tag["name"]))
        and bool(_TAG_PART.match(tag["value"]))
    )


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
    if len(recipients(to)) > MAX_RECIPIENTS:
        return f"Too many recipients: `to` takes at most {MAX_RECIPIENTS} addresses."
    if not _all_addresses(to):
        return "Invalid `to` field. Each address needs to follow the `email@example.com` format."
    for optional in ("cc", "bcc", "reply_to"):
        value = payload.get(optional)
        if value is not None and not _all_addresses(value):
            return f"Invalid `{optional}` field."
    subject = payload.get("subject")
    if not isinstance(subject, str) or not subject.strip():
        return "Missing `subject` field."
    html, text = payload.get("html"), payload.get("text")
    if not (isinstance(html, str) and html) and not (isinstance(text, str) and text):
        return "Missing `html` or `text` field."
    headers = payload.get("headers")
    if headers is not None and not (
        isinstance(headers, dict)
        and all(isinstance(k, str) and k and isinstance(v, str) for k, v in headers.items())
    ):
        return "Invalid `headers` field: give an object of header names to string values."
    tags = payload.get("tags")
    if tags is not None and not (isinstance(tags, list) and all(_valid_tag(t) for t in tags)):
        return (
            "Invalid `tags` field. Each tag needs a `name` and a `value` of only ASCII letters, "
            "numbers, underscores or dashes."
        )
    return None


class FakeResend(FakeVendor):
    name = "resend"

    def __init__(self, shared: SharedState) -> None:
        super().__init__(shared)
        self._idempotency: dict[str, _IdempotentSend] = {}
        self._emails: list[AcceptedEmail] = []

    def sent_emails(self) -> list[AcceptedEmail]:
        with self.shared.lock:
            return list(self._emails)

    def reset(self) -> None:
        self._idempotency.clear()
        self._emails.clear()

    def achieved(self) -> dict[str, int]:
        return {"emails_accepted": len(self._emails)}

    def _decide(self, payload: Mapping[str, Any], key: str | None) -> SendDecision:
        """Consult the idempotency store and accept the email if it is new; under the lock."""
        body_fingerprint = fingerprint(payload)
        stored = self._idempotency.get(key) if key else None
        if stored is not None and time.monotonic() - stored.stored_at > (
            IDEMPOTENCY_WINDOW_SECONDS
        ):
            del self._idempotency[key or ""]
            stored = None
        if stored is not None and stored.in_flight:
            return SendDecision(409, dict(_IN_FLIGHT))
        if stored is not None and stored.fingerprint != body_fingerprint:
            return SendDecision(409, dict(_OTHER_PAYLOAD))
        if stored is not None:
            return SendDecision(200, dict(stored.response), duplicate=True)
        email_id = str(uuid.uuid4())
        decision = SendDecision(200, {"id": email_id}, accepted=True)
        self._emails.append(accepted_email(email_id, key, payload))
        if key:
            self._idempotency[key] = _IdempotentSend(
                body_fingerprint, dict(decision.body), time.monotonic(), in_flight=True
            )
        return decision

    def accept_email(
        self, request: Request, payload: Mapping[str, Any], key: str | None, fault: str | None
    ) -> SendDecision:
        """Consult the idempotency store, accept the email if new, and record the call.

        All in one step under the lock, so the email counts as accepted the moment the call is
        recorded: a client killed while waiting for the answer still leaves it sent.
        """
        with self.shared.lock:
            decision = self._decide(payload, key)
            self.shared.record(
                self.name,
                request.method,
                request.url.path,
                decision.status,
                lookup=_lookup(payload),
                idempotency_key=key,
                duplicate=decision.duplicate,
                fault=fault,
                error=None if decision.status == 200 else str(decision.body.get("name")),
                request_body=payload,
            )
        return decision

    def finish_email(self, idempotency_key: str | None) -> None:
        """The first request for this key has answered: later ones replay instead of 409."""
        if not idempotency_key:
            return
        with self.shared.lock:
            stored = self._idempotency.get(idempotency_key)
            if stored is not None:
                stored.in_flight = False

    def auth_failure(self, request: Request) -> Reply | None:
        key = bearer_token(request)
        if key is None:
            return resend_reply(
                401, "missing_api_key", "Missing API key in the authorization header."
            )
        if key != self.key:
            return resend_reply(401, "validation_error", "API key is invalid")
        return None

    def rate_limited(self, throttle: Throttle) -> Reply:
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

    def unavailable(self) -> Reply:
        return resend_reply(503, "application_error", "The service is temporarily unavailable.")

    def refusal(self, request: Request, key: str | None) -> tuple[Reply | None, bool]:
        """Auth, then the rate limit, then the idempotency key; with whether it was throttled.

        Over the limit, nothing is sent and the idempotency store is not consulted.
        """
        if (reply := self.auth_failure(request)) is not None:
            return reply, False
        if (throttle := self.shared.throttle(self.name)) is not None:
            return self.rate_limited(throttle), True
        if key is not None and not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY_CHARS:
            return resend_reply(
                400,
                "invalid_idempotency_key",
                f"The key must be between 1-{MAX_IDEMPOTENCY_KEY_CHARS} chars.",
            ), False
        return None, False

    def routes(self) -> list[Route]:
        async def send_email(request: Request) -> Response:
            key = request.headers.get("idempotency-key")
            payload = await read_json(request)
            lookup = _lookup(payload)
            if (scripted := self.shared.take_script(self.name)) is not None:
                return await self.serve_script(
                    request, scripted, lookup=lookup, idempotency_key=key, request_body=payload
                )
            roll = self.shared.roll_faults(self.name)
            reply, throttled = self.refusal(request, key)
            fault: str | None = roll.delay_label
            if reply is None and roll.kind is not None:
                reply, fault = self.fault_reply(roll), roll.label
            if reply is None and (problem := validation_problem(payload)) is not None:
                reply = resend_reply(422, "validation_error", problem)
            if reply is not None:
                self.shared.record(
                    self.name,
                    request.method,
                    request.url.path,
                    reply.status,
                    lookup=lookup,
                    idempotency_key=key,
                    fault=fault,
                    error=reply.error,
                    request_body=payload,
                    throttled=throttled,
                )
                await pause(roll.delay_seconds)
                return reply.response()

            assert isinstance(payload, dict)  # validation_problem returned None
            decision = self.accept_email(request, payload, key, fault)
            try:
                await pause(roll.delay_seconds)
            finally:
                # Even if the wait is cancelled, the first request is over: retries replay it now.
                if decision.accepted:
                    self.finish_email(key)
            return JSONResponse(decision.body, status_code=decision.status)

        return [Route(self.path("/emails"), send_email, methods=["POST"])]

    def control_routes(self) -> list[Route]:
        async def emails(request: Request) -> JSONResponse:
            return JSONResponse({"emails": [asdict(email) for email in self.sent_emails()]})

        return [Route("/_sandbox/emails", emails, methods=["GET"])]


FAKE = FakeResend
