"""The webhook's email routes: one-click unsubscribes, and the bounces and complaints that Resend and
Postmark report. Each one suppresses the address, then stops the journey with a signal.

The suppression is written first and durably: the send activity checks the list before every
send, so an address on it gets nothing more even while Temporal is unreachable. Provider events
name the email by its reference (``email_ref``); the email's row gives the journey and the hashed
address, so no address is needed here, nor ever logged or answered.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import logging
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal, ParamSpec, TypeVar

from fastapi import APIRouter, Header, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy.exc import SQLAlchemyError

from activities.suppression import (
    MAX_KEY_CHARS,
    REFERENCE_FIELD,
    EmailRecord,
    Reason,
    SuppressionList,
)
from common.unsubscribe import UnsubscribeTokens

log = logging.getLogger("onboarding.webhook.email")

P = ParamSpec("P")
T = TypeVar("T")

# Mail clients send `List-Unsubscribe=One-Click` (RFC 8058), the page a little more; never more.
UNSUBSCRIBE_MAX_BODY_BYTES = 4096
# Within the senders' own deadlines (Resend waits 15 s); past it the sender retries.
WAREHOUSE_DEADLINE_SECONDS = 8.0
# The event kind of a bounce that may yet deliver: counted, nothing suppressed.
TRANSIENT_BOUNCE = "transient_bounce"
# The journey's signal for each reason.
SIGNALS = {
    Reason.UNSUBSCRIBED: "unsubscribe",
    Reason.BOUNCED: "bounced",
    Reason.COMPLAINED: "complained",
}
_RESEND_PERMANENT = {"permanent"}
_POSTMARK_PERMANENT = {"HardBounce", "BadEmailAddress", "ManuallyDeactivated"}

# Send a signal to a journey; False when Temporal did not answer (an ended journey is True).
JourneySignal = Callable[[str, str], Awaitable[bool]]
ReadBody = Callable[[Request, int], Awaitable[bytes]]
# Raise HTTPException(401) unless the delivery is Resend's: body, svix-id, -timestamp, -signature.
ResendCheck = Callable[[bytes, str | None, str | None, str | None], None]
# Raise HTTPException(401) unless the Authorization header holds Postmark's credentials.
PostmarkCheck = Callable[[str | None], None]


class WarehouseUnavailable(Exception):
    """The warehouse did not answer in time or refused; the sender should retry."""


class ResendTag(BaseModel):
    model_config = ConfigDict(strict=True)

    name: str
    value: str


class ResendBounce(BaseModel):
    model_config = ConfigDict(strict=True)

    type: str | None = Field(default=None, description="Permanent, Transient or Undetermined.")


class ResendEmailData(BaseModel):
    model_config = ConfigDict(strict=True)

    tags: dict[str, str] | list[ResendTag] | None = Field(
        default=None, description=f"The email's tags; `{REFERENCE_FIELD}` names the email."
    )
    bounce: ResendBounce | None = None


class ResendEvent(BaseModel):
    """The fields of a Resend webhook event the webhook reads; others are ignored."""

    model_config = ConfigDict(strict=True)

    type: str = Field(description="email.bounced and email.complained are acted on.")
    data: ResendEmailData

    def reference(self) -> str | None:
        tags = self.data.tags
        if isinstance(tags, dict):
            return tags.get(REFERENCE_FIELD)
        return next((tag.value for tag in tags or [] if tag.name == REFERENCE_FIELD), None)

    def kind(self) -> Reason | str | None:
        """What the event means for the address, or None when it means nothing here."""
        if self.type == "email.complained":
            return Reason.COMPLAINED
        if self.type != "email.bounced":
            return None
        bounce_type = (self.data.bounce.type if self.data.bounce else None) or ""
        return Reason.BOUNCED if bounce_type.lower() in _RESEND_PERMANENT else TRANSIENT_BOUNCE


class PostmarkEvent(BaseModel):
    """The fields of a Postmark bounce or spam-complaint webhook the webhook reads."""

    model_config = ConfigDict(strict=True)

    record_type: str = Field(alias="RecordType", description="Bounce and SpamComplaint are read.")
    id: int | None = Field(default=None, alias="ID")
    type: str | None = Field(default=None, alias="Type", description="HardBounce, SoftBounce, ...")
    inactive: bool | None = Field(default=None, alias="Inactive")
    metadata: dict[str, str] | None = Field(
        default=None, alias="Metadata", description=f"`{REFERENCE_FIELD}` names the email."
    )

    @field_validator("id", mode="before")
    @classmethod
    def _whole_number(cls, value: object) -> object:
        # JSON Schema's integers include 30.0; strict parsing refuses every other float.
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value

    def reference(self) -> str | None:
        return (self.metadata or {}).get(REFERENCE_FIELD)

    def kind(self) -> Reason | str | None:
        if self.record_type == "SpamComplaint" or self.type == "SpamComplaint":
            return Reason.COMPLAINED
        if self.record_type != "Bounce":
            return None
        permanent = self.type in _POSTMARK_PERMANENT or self.inactive is True
        return Reason.BOUNCED if permanent else TRANSIENT_BOUNCE


class EventOutcome(BaseModel):
    """What a provider's event did: ``suppressed`` the address and stopped the journey,
    ``counted`` a bounce that may yet deliver, or nothing (``duplicate``, ``ignored``)."""

    result: Literal["suppressed", "counted", "duplicate", "ignored"]
    detail: str


def _inline(schema: Any, definitions: dict[str, Any]) -> Any:
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inline(definitions[ref.removeprefix("#/$defs/")], definitions)
        return {k: _inline(v, definitions) for k, v in schema.items() if k != "$defs"}
    if isinstance(schema, list):
        return [_inline(item, definitions) for item in schema]
    return schema


def json_body(model: type[BaseModel], description: str) -> dict[str, Any]:
    """Document the body in OpenAPI while the route reads the raw bytes it must verify."""
    schema = model.model_json_schema(by_alias=True)
    # Nested models inline: the operation has no `$defs` of its own to point into.
    schema = _inline(schema, schema.get("$defs", {}))
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {"application/json": {"schema": schema}},
        }
    }


def _parse(model: type[BaseModel], body: bytes) -> Any:
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        # Field locations and messages only: a delivery's values (addresses) are never echoed.
        errors = [
            {"loc": ["body", *error["loc"]], "msg": error["msg"], "type": error["type"]}
            for error in exc.errors(include_url=False, include_input=False)
        ]
        raise RequestValidationError(errors) from None


def accept_unverified_resend(
    body: bytes, msg_id: str | None, timestamp: str | None, signature: str | None
) -> None:
    """Insecure dev mode without RESEND_WEBHOOK_SECRET: every delivery is taken as Resend's."""


def accept_unverified_postmark(authorization: str | None) -> None:
    """Insecure dev mode without Postmark's credentials: every delivery is taken as Postmark's."""


def postmark_basic_auth(user: str, password: str) -> PostmarkCheck:
    """The check of Postmark's HTTP basic credentials, compared in constant time."""
    expected_user, expected_password = user.encode(), password.encode()
    refused = HTTPException(
        401,
        "Postmark's webhook credentials are missing or wrong.",
        headers={"WWW-Authenticate": 'Basic realm="postmark"'},
    )

    def check(authorization: str | None) -> None:
        scheme, _, encoded = (authorization or "").partition(" ")
        if scheme.lower() != "basic":
            raise refused
        try:
            given = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise refused from None
        given_user, _, given_password = given.partition(b":")
        # Both compared, always: how far a guess got takes no longer to learn.
        user_ok = hmac.compare_digest(given_user, expected_user)
        password_ok = hmac.compare_digest(given_password, expected_password)
        if not (user_ok and password_ok):
            raise refused

    return check


def _event_key(given: str | None, body: bytes) -> str:
    """A delivery's id as the events table can hold it; unsigned ones without an id by body."""
    if given is None:
        return "sha256:" + hashlib.sha256(body).hexdigest()
    if len(given) > MAX_KEY_CHARS or "\x00" in given:
        return "sha256:" + hashlib.sha256(given.encode(errors="replace")).hexdigest()
    return given


def _from_page(body: bytes) -> bool:
    try:
        fields = urllib.parse.parse_qs(body.decode(errors="replace"), max_num_fields=8)
    except ValueError:
        return False
    return fields.get("via") == ["page"]


_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    # The token is in the URL: it must not leak to another site, nor be indexed.
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
}
_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;"
    "line-height:1.5}button{font:inherit;padding:.5rem 1.25rem;cursor:pointer}"
)


def _page(
    title: str, content: str, status: int = 200, retry_after: int | None = None
) -> HTMLResponse:
    html = (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{title}</title>\n<style>{_STYLE}</style>\n</head>\n"
        f"<body>\n<main>\n<h1>{title}</h1>\n{content}\n</main>\n</body>\n</html>\n"
    )
    headers = dict(_PAGE_HEADERS)
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return HTMLResponse(html, status_code=status, headers=headers)


# No script and nothing automatic: link scanners fetch this page, only a person presses the button.
_CONFIRM = """<p>Press the button to stop the onboarding emails we send to this address.</p>
<form method="post">
<input type="hidden" name="List-Unsubscribe" value="One-Click">
<button type="submit" name="via" value="page">Unsubscribe</button>
</form>"""
_DONE = "<p>You will get no more onboarding emails from us at this address.</p>"
_NOT_VALID = (
    "<p>Use the unsubscribe link of a more recent email from us, or reply to one and ask us "
    "to stop.</p>"
)
_UNAVAILABLE = "<p>We could not record your request just now. Please try again in a minute.</p>"

_HTML = {"text/html": {"schema": {"type": "string"}}}
_NOT_VALID_RESPONSE: dict[str, Any] = {
    "description": "The link is not valid (or unsubscribing is not configured); nothing changed.",
    "content": _HTML,
}


def email_event_routes(
    suppressions: SuppressionList,
    tokens: UnsubscribeTokens | None,
    signal: JourneySignal,
    *,
    read_body: ReadBody,
    max_body_bytes: int,
    check_resend: ResendCheck | None,
    check_postmark: PostmarkCheck | None,
    retry_after_seconds: int,
    problems: dict[int | str, dict[str, Any]],
) -> APIRouter:
    """The routes; ``tokens`` None: unsubscribe links answer 404; a check None: that provider's
    route answers 404 (not configured). ``problems`` documents the 401, 404, 413, 422 and 503
    answers as the rest of the webhook does."""
    router = APIRouter()
    retry_later = {"Retry-After": str(retry_after_seconds)}

    async def stored(call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        try:
            async with asyncio.timeout(WAREHOUSE_DEADLINE_SECONDS):
                return await asyncio.to_thread(call, *args, **kwargs)
        except (SQLAlchemyError, TimeoutError) as exc:
            # The driver's message can echo the URL: keep only the error's class.
            log.warning("the warehouse is unavailable (%s)", type(exc).__name__)
            raise WarehouseUnavailable from None

    def not_configured(variable: str) -> HTTPException:
        return HTTPException(404, f"This endpoint is not configured: set {variable}.")

    async def act(
        source: str, event_id: str, kind: Reason | str, reference: str | None
    ) -> EventOutcome:
        if reference is None:
            return EventOutcome(result="ignored", detail=f"The event carries no {REFERENCE_FIELD}.")
        try:
            record = await stored(suppressions.email, reference)
            if record is None:
                return EventOutcome(result="ignored", detail="Not an onboarding email.")
            if await stored(suppressions.seen, source, event_id):
                return EventOutcome(result="duplicate", detail="This event was handled before.")
            return await suppress_and_stop(source, event_id, kind, record)
        except WarehouseUnavailable:
            raise HTTPException(
                503, "The warehouse is unavailable; retry later", retry_later
            ) from None

    async def suppress_and_stop(
        source: str, event_id: str, kind: Reason | str, record: EmailRecord
    ) -> EventOutcome:
        journey = record.journey_id
        # Acted on first, recorded last: a failure in between is retried, and acts again.
        if isinstance(kind, Reason):
            await stored(suppressions.suppress_hash, record.address_hash, kind, journey, source)
            if not await signal(journey, SIGNALS[kind]):
                raise HTTPException(503, "Temporal is unreachable; retry later", retry_later)
        await stored(suppressions.first_event, source, event_id, str(kind), journey)
        log.info(
            "%s event %r: %s, email %d of journey %s",
            source,
            event_id,
            kind,
            record.number,
            journey,
        )
        if isinstance(kind, Reason):
            return EventOutcome(
                result="suppressed", detail=f"{kind.value}: journey {journey} stops."
            )
        return EventOutcome(result="counted", detail=f"{kind}: counted, nothing suppressed.")

    event_responses: dict[int | str, dict[str, Any]] = {
        200: {"model": EventOutcome, "description": "Handled, or acknowledged and ignored."},
        **problems,
        503: {
            **problems[503],
            "description": "Temporal or the warehouse is unreachable; retry after `Retry-After`.",
        },
    }

    @router.get(
        "/unsubscribe/{token:path}",
        response_class=HTMLResponse,
        responses={200: {"description": "The confirmation page."}, 404: _NOT_VALID_RESPONSE},
        summary="The unsubscribe link's page: a button that unsubscribes; changes nothing itself",
    )
    async def unsubscribe_page(token: str) -> HTMLResponse:
        if tokens is None or tokens.journey_of(token) is None:
            return _page("This unsubscribe link is not valid.", _NOT_VALID, 404)
        return _page("Unsubscribe from onboarding emails", _CONFIRM)

    @router.post(
        "/unsubscribe/{token:path}",
        response_class=HTMLResponse,
        responses={
            200: {"description": "Unsubscribed (again, if it was before)."},
            404: _NOT_VALID_RESPONSE,
            # Refused before the page is made: JSON, like every other route's 413.
            413: {
                "description": problems[413]["description"],
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}
                },
            },
            503: {
                "description": "The opt-out could not be recorded; retry after `Retry-After`.",
                "content": _HTML,
                "headers": problems[503]["headers"],
            },
        },
        summary="One-click unsubscribe (RFC 8058), from mail clients and the link's page",
        openapi_extra={
            "requestBody": {
                "required": False,
                "description": "`List-Unsubscribe=One-Click`; any body, or none, is taken.",
                "content": {
                    "application/x-www-form-urlencoded": {
                        "schema": {
                            "type": "object",
                            "properties": {"List-Unsubscribe": {"type": "string"}},
                        }
                    }
                },
            }
        },
    )
    async def unsubscribe(request: Request, token: str) -> HTMLResponse:
        journey = tokens.journey_of(token) if tokens is not None else None
        if journey is None:
            return _page("This unsubscribe link is not valid.", _NOT_VALID, 404)
        source = (
            "page"
            if _from_page(await read_body(request, UNSUBSCRIBE_MAX_BODY_BYTES))
            else "one-click"
        )
        unavailable = _page("Please try again", _UNAVAILABLE, 503, retry_after_seconds)
        try:
            address_hash = await stored(suppressions.journey_address_hash, journey)
            if address_hash is not None:
                await stored(
                    suppressions.suppress_hash, address_hash, Reason.UNSUBSCRIBED, journey, source
                )
        except WarehouseUnavailable:
            return unavailable
        if not await signal(journey, SIGNALS[Reason.UNSUBSCRIBED]):
            if address_hash is None:
                return unavailable
            log.warning(
                "journey %s unsubscribed (%s) while Temporal is unreachable: it stays running, "
                "but the suppression list stops its emails",
                journey,
                source,
            )
        elif address_hash is None:
            log.warning(
                "journey %s unsubscribed (%s) before any email was recorded", journey, source
            )
        else:
            log.info("journey %s unsubscribed (%s)", journey, source)
        return _page("You are unsubscribed", _DONE)

    @router.post(
        "/email-events/resend",
        response_model=EventOutcome,
        responses=event_responses,
        summary="Resend's bounce and complaint events, signed the Svix way",
        openapi_extra=json_body(ResendEvent, "A Resend webhook event, signed per Svix."),
    )
    async def resend_event(
        request: Request,
        svix_id: Annotated[str | None, Header(description="Unique per event.")] = None,
        svix_timestamp: Annotated[str | None, Header(description="Unix seconds.")] = None,
        svix_signature: Annotated[str | None, Header(description="v1,<base64>")] = None,
    ) -> EventOutcome:
        if check_resend is None:
            raise not_configured("RESEND_WEBHOOK_SECRET")
        body = await read_body(request, max_body_bytes)
        check_resend(body, svix_id, svix_timestamp, svix_signature)
        event: ResendEvent = _parse(ResendEvent, body)
        kind = event.kind()
        if kind is None:
            return EventOutcome(result="ignored", detail=f"{event.type} events are not acted on.")
        return await act("resend", _event_key(svix_id, body), kind, event.reference())

    @router.post(
        "/email-events/postmark",
        response_model=EventOutcome,
        responses={
            **event_responses,
            401: {
                **problems[401],
                "description": "The basic credentials are missing or wrong.",
                "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
            },
        },
        summary="Postmark's bounce and spam-complaint webhooks, with HTTP basic credentials",
        openapi_extra=json_body(PostmarkEvent, "A Postmark bounce or spam-complaint webhook."),
    )
    async def postmark_event(
        request: Request,
        authorization: Annotated[
            str | None, Header(description="Basic credentials set in Postmark's webhook URL.")
        ] = None,
    ) -> EventOutcome:
        if check_postmark is None:
            raise not_configured("POSTMARK_WEBHOOK_USER and POSTMARK_WEBHOOK_PASSWORD")
        check_postmark(authorization)
        body = await read_body(request, max_body_bytes)
        event: PostmarkEvent = _parse(PostmarkEvent, body)
        kind = event.kind()
        if kind is None:
            return EventOutcome(result="ignored", detail=f"{event.record_type} is not acted on.")
        if event.id is None:
            return EventOutcome(result="ignored", detail="The event has no ID.")
        event_id = _event_key(f"{event.record_type}:{event.id}", body)
        return await act("postmark", event_id, kind, event.reference())

    return router
