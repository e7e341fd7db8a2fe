"""Fake Postmark: ``POST /postmark/email`` and ``GET /postmark/messages/outbound``.

Postmark takes no idempotency key: a client that lost an answer learns whether its email went out
by searching the messages' metadata. So every accepted email is kept before any injected delay
(a client that gives up waiting leaves it sent, as with Resend), and becomes searchable only
``search_delay_seconds`` later: the real index's lag, in which a retry that searched first still
sends twice. ``lose_answers(n)`` keeps the next n emails but answers each with a 500, for a test
that wants a lost answer without waiting for a timeout.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.fake import FakeVendor, Reply, read_json
from sandbox.limits import Throttle
from sandbox.postmark_api import addresses, invalid, message_problem, postmark_error
from sandbox.shared import SharedState, now_iso

MAX_SEARCH_COUNT = 500
MAX_SEARCH_WINDOW = 10_000


@dataclass(frozen=True)
class PostmarkMessage:
    """An email Postmark accepted (so, in the sandbox, sent)."""

    message_id: str
    sender: str
    to: str
    recipients: tuple[str, ...]
    subject: str
    tag: str
    metadata: Mapping[str, str]
    message_stream: str
    submitted_at: str
    headers: tuple[tuple[str, str], ...] = ()
    text: str = ""
    html: str = ""

    def header(self, name: str) -> str | None:
        """The value of the header ``name`` (any case), as the email carried it."""
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def to_search(self) -> dict[str, Any]:
        """The message as the outbound search lists it."""
        return {
            "Tag": self.tag,
            "MessageID": self.message_id,
            "MessageStream": self.message_stream,
            "To": [{"Email": address, "Name": None} for address in self.recipients],
            "Cc": [],
            "Bcc": [],
            "Recipients": list(self.recipients),
            "ReceivedAt": self.submitted_at,
            "SubmittedAt": self.submitted_at,
            "From": self.sender,
            "Subject": self.subject,
            "Attachments": [],
            "Status": "Sent",
            "TrackOpens": False,
            "TrackLinks": "None",
            "Metadata": dict(self.metadata),
            "Sandboxed": False,
        }


def _whole(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None


class FakePostmark(FakeVendor):
    name = "postmark"

    def __init__(self, shared: SharedState) -> None:
        super().__init__(shared)
        self.search_delay_seconds = 0.0
        """How long an accepted email takes to become searchable; a setting, kept by reset."""
        self.inactive_recipients: set[str] = set()
        """Addresses Postmark stopped sending to (a hard bounce, a spam complaint): 406."""
        self._answers_to_lose = 0
        self._messages: list[tuple[PostmarkMessage, float]] = []

    def messages(self) -> list[PostmarkMessage]:
        with self.shared.lock:
            return [message for message, _ in self._messages]

    def lose_answers(self, count: int) -> None:
        """Keep the next ``count`` emails as sent, but answer each with a 500."""
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError("lose_answers takes a whole number of emails, zero or more")
        with self.shared.lock:
            self._answers_to_lose = count

    def reset(self) -> None:
        self._messages.clear()
        self._answers_to_lose = 0
        self.inactive_recipients.clear()

    def achieved(self) -> dict[str, int]:
        return {"emails_accepted": len(self._messages)}

    def auth_failure(self, request: Request) -> Reply | None:
        token = request.headers.get("x-postmark-server-token")
        if not token:
            return postmark_error(
                401, 10, "Request does not contain a valid Server token.", "bad_token"
            )
        if token != self.key:
            return postmark_error(
                401,
                10,
                "The Server Token you provided in the X-Postmark-Server-Token request header "
                "was invalid. Please verify that you are using a valid token.",
                "bad_token",
            )
        return None

    # Postmark documents no ErrorCode for throttling or its own failures: these carry the status.
    def rate_limited(self, throttle: Throttle) -> Reply:
        reply = postmark_error(429, 429, "Rate limit exceeded.", "rate_limited")
        # Whether Postmark sends Retry-After is unconfirmed; the client honours it if present.
        reply.headers["Retry-After"] = str(throttle.retry_after_seconds)
        return reply

    def unavailable(self) -> Reply:
        return postmark_error(503, 503, "The service is temporarily unavailable.", "unavailable")

    def send(self, payload: Any) -> Reply:
        """Accept the email and keep it, then answer; under the lock, so a lost answer is sent."""
        if (problem := message_problem(payload)) is not None:
            return problem
        recipients = tuple(addresses(payload["To"]))
        with self.shared.lock:
            suppressed = {address.lower() for address in self.inactive_recipients}
            inactive = sorted(a for a in recipients if a.lower() in suppressed)
            if inactive:
                return postmark_error(
                    422,
                    406,
                    "You tried to send to recipient(s) that have been marked as inactive. "
                    f"Found inactive addresses: {', '.join(inactive)}.",
                    "inactive_recipient",
                )
            message = PostmarkMessage(
                message_id=str(uuid.uuid4()),
                sender=payload["From"],
                to=payload["To"],
                recipients=recipients,
                subject=str(payload.get("Subject") or ""),
                tag=str(payload.get("Tag") or ""),
                metadata={k: str(v) for k, v in (payload.get("Metadata") or {}).items()},
                message_stream=payload.get("MessageStream") or "outbound",
                submitted_at=now_iso(),
                headers=tuple(
                    (str(h["Name"]), str(h["Value"])) for h in payload.get("Headers") or []
                ),
                text=str(payload.get("TextBody") or ""),
                html=str(payload.get("HtmlBody") or ""),
            )
            self._messages.append((message, self.shared.now()))
            if self._answers_to_lose > 0:
                self._answers_to_lose -= 1
                return postmark_error(500, 500, "Internal server error.", "lost_answer")
        body = {
            "To": message.to,
            "SubmittedAt": message.submitted_at,
            "MessageID": message.message_id,
            "ErrorCode": 0,
            "Message": "OK",
        }
        return Reply(200, body)

    def search(self, query: Mapping[str, str]) -> Reply:
        """``GET /messages/outbound``: newest first, only what the index has caught up with."""
        count, offset = _whole(query.get("count")), _whole(query.get("offset"))
        if count is None or not 1 <= count <= MAX_SEARCH_COUNT:
            return invalid(f"The 'count' parameter is required: 1 to {MAX_SEARCH_COUNT}.")
        if offset is None:
            return invalid("The 'offset' parameter is required: 0 or more.")
        if count + offset > MAX_SEARCH_WINDOW:
            return invalid(f"count and offset together may reach {MAX_SEARCH_WINDOW} at most.")
        metadata = {
            k.removeprefix("metadata_"): v for k, v in query.items() if k.startswith("metadata_")
        }

        def wanted(message: PostmarkMessage) -> bool:
            if (recipient := query.get("recipient")) and recipient.lower() not in {
                r.lower() for r in message.recipients
            }:
                return False
            if (tag := query.get("tag")) is not None and tag != message.tag:
                return False
            if (status := query.get("status")) and status.lower() != "sent":
                return False
            if (stream := query.get("messagestream")) and stream != message.message_stream:
                return False
            return all(message.metadata.get(k) == v for k, v in metadata.items())

        with self.shared.lock:
            indexed_by = self.shared.now() - self.search_delay_seconds
            found = [m for m, at in reversed(self._messages) if at <= indexed_by and wanted(m)]
        page = found[offset : offset + count]
        return Reply(200, {"TotalCount": len(found), "Messages": [m.to_search() for m in page]})

    def routes(self) -> list[Route]:
        async def send_email(request: Request) -> Response:
            payload = await read_json(request)
            to = payload.get("To") if isinstance(payload, dict) else None
            return await self.handle(
                request,
                lookup=to if isinstance(to, str) else None,
                request_body=payload,
                answer=lambda: self.send(payload),
            )

        # Postmark limits its sending; the search is not what a journey could exhaust.
        async def search(request: Request) -> Response:
            query = dict(request.query_params)
            return await self.handle(
                request,
                lookup=query.get("recipient"),
                answer=lambda: self.search(query),
                limited=False,
            )

        return [
            Route(self.path("/email"), send_email, methods=["POST"]),
            Route(self.path("/messages/outbound"), search, methods=["GET"]),
        ]

    def settings(self) -> dict[str, Any]:
        with self.shared.lock:
            return {
                "search_delay_seconds": self.search_delay_seconds,
                "lose_answers": self._answers_to_lose,
                "inactive_recipients": sorted(self.inactive_recipients),
            }

    def configure(self, body: Mapping[str, Any]) -> None:
        """Apply ``PUT /_sandbox/postmark``; raises ValueError naming what is wrong."""
        unknown = sorted(set(body) - set(self.settings()))
        if unknown:
            raise ValueError(f"unknown settings {unknown}; allowed are {sorted(self.settings())}")
        delay = body.get("search_delay_seconds", self.search_delay_seconds)
        if (
            isinstance(delay, bool)
            or not isinstance(delay, int | float)
            or not (math.isfinite(delay) and delay >= 0)
        ):
            raise ValueError("search_delay_seconds must be zero or more seconds")
        inactive = body.get("inactive_recipients", sorted(self.inactive_recipients))
        if not isinstance(inactive, list) or not all(isinstance(a, str) for a in inactive):
            raise ValueError("inactive_recipients must be a list of email addresses")
        if "lose_answers" in body:
            self.lose_answers(body["lose_answers"])
        with self.shared.lock:
            self.search_delay_seconds = float(delay)
            self.inactive_recipients = {a.strip().lower() for a in inactive}

    def control_routes(self) -> list[Route]:
        async def messages(request: Request) -> JSONResponse:
            return JSONResponse({"messages": [asdict(m) for m in self.messages()]})

        async def settings(request: Request) -> JSONResponse:
            if request.method == "PUT":
                body = await read_json(request)
                if not isinstance(body, dict):
                    return JSONResponse(
                        {
                            "error": 'send settings as a JSON object, e.g. {"search_delay_seconds": 2}'
                        },
                        status_code=400,
                    )
                try:
                    self.configure(body)
                except ValueError as exc:
                    return JSONResponse({"error": str(exc)}, status_code=400)
            return JSONResponse(self.settings())

        return [
            Route("/_sandbox/postmark/messages", messages, methods=["GET"]),
            Route("/_sandbox/postmark", settings, methods=["GET", "PUT"]),
        ]


FAKE = FakePostmark
