"""Segment's Webhooks destination: its ``X-Signature``, and a signup ``track`` event as a Signup.

Segment sends Segment-spec messages (``track``, ``identify``, ``page``, ...); only a ``track``
whose ``event`` is the configured signup event starts a journey.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.alias_generators import to_camel

from workflows.models import Signup

SEGMENT_SOURCE = "segment"

# Where each Signup field may sit in properties or context.traits, first match wins; Segment's
# spec uses snake_case, but many sources send camelCase.
_TRAIT_KEYS: dict[str, tuple[tuple[str, ...], ...]] = {
    "email": (("email",),),
    "first_name": (("first_name",), ("firstName",)),
    "last_name": (("last_name",), ("lastName",)),
    "company_domain": (
        ("company_domain",),
        ("companyDomain",),
        ("company", "domain"),
        ("website",),
    ),
}
_MISSING_EMAIL = "Field required: put the user's email in properties.email or context.traits.email"

Loc = tuple[str | int, ...]
FieldError = dict[str, Any]


class SegmentEvent(BaseModel):
    """The fields of a Segment message the webhook reads; every other field is accepted and ignored."""

    model_config = ConfigDict(extra="allow", alias_generator=to_camel, populate_by_name=True)

    type: str = Field(description="track, identify, page, screen, group, alias or delete.")
    event: str | None = Field(default=None, description="The track event's name.")
    user_id: str | int | None = Field(default=None, description="The product's own user id.")
    message_id: str | None = None
    timestamp: str | None = Field(default=None, description="When the event happened (ISO 8601).")
    properties: dict[str, Any] | None = None
    context: dict[str, Any] | None = Field(
        default=None,
        description="Segment's context; ``context.traits`` may carry the user's traits.",
    )

    @field_validator("user_id", mode="before")
    @classmethod
    def _user_id_is_no_boolean(cls, value: object) -> object:
        # Lax parsing would read `true` as the id 1: every such user would share one journey.
        if isinstance(value, bool):
            raise ValueError("must be a string or an integer, not true or false")
        return value


class InvalidSignupEvent(Exception):
    """A signup event that cannot become a Signup; ``errors`` locate the fields in the message."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__(f"{len(errors)} invalid field(s)")
        self.errors = errors


def signature_matches(body: bytes, signature: str | None, shared_secret: str) -> bool:
    """Whether ``X-Signature`` is the hex HMAC-SHA1 of the raw body with the shared secret."""
    if not signature:
        return False
    expected = hmac.new(shared_secret.encode(), body, hashlib.sha1).hexdigest()
    # Bytes, because compare_digest refuses non-ASCII str and a header can carry anything.
    return hmac.compare_digest(expected.encode(), signature.strip().lower().encode())


def ignore_reason(event: SegmentEvent, signup_event: str) -> str | None:
    """Why this message starts no journey, or None when it is a signup."""
    if event.type != "track":
        return f"only track events start journeys, not {event.type} messages"
    if event.event != signup_event:
        return f"the track event is not '{signup_event}'"
    return None


def _lookup(container: object, path: tuple[str, ...]) -> object:
    for key in path:
        if not isinstance(container, dict):
            return None
        container = container.get(key)
    return container


def _find(event: SegmentEvent, field: str) -> tuple[object, Loc] | None:
    places: tuple[tuple[Loc, object], ...] = (
        (("properties",), event.properties),
        (("context", "traits"), _lookup(event.context, ("traits",))),
    )
    for prefix, container in places:
        for path in _TRAIT_KEYS[field]:
            value = _lookup(container, path)
            if value is not None and value != "":
                return value, (*prefix, *path)
    return None


def signup_from_track(event: SegmentEvent) -> Signup:
    """The Signup a signup ``track`` event describes; raises InvalidSignupEvent."""
    user_id = event.user_id
    # Some Segment sources send numeric ids; the journey's identity is the id's text.
    fields: dict[str, object] = {
        "user_id": str(user_id) if isinstance(user_id, int) else user_id,
        "signed_up_at": event.timestamp,
        "source": SEGMENT_SOURCE,
    }
    where: dict[str, Loc] = {
        "user_id": ("userId",),
        "signed_up_at": ("timestamp",),
        "email": ("properties", "email"),
    }
    for field in _TRAIT_KEYS:
        found = _find(event, field)
        if found is not None:
            fields[field], where[field] = found
    try:
        return Signup.model_validate(fields)
    except ValidationError as exc:
        errors: list[FieldError] = []
        for error in exc.errors(include_url=False):
            field = str(error["loc"][0]) if error["loc"] else ""
            missing_email = field == "email" and error["type"] == "missing"
            errors.append(
                {
                    "loc": list(where.get(field, error["loc"])),
                    "msg": _MISSING_EMAIL if missing_email else error["msg"],
                    "type": error["type"],
                    "input": error.get("input"),
                }
            )
        raise InvalidSignupEvent(errors) from None
