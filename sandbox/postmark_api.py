"""What Postmark's ``POST /email`` takes and how it refuses: addresses, metadata limits, and
errors as ``{"ErrorCode": n, "Message": ...}`` (a non-zero code beside the HTTP status)."""

from __future__ import annotations

import re
from typing import Any

from sandbox.fake import Reply
from sandbox.fixtures import is_valid_email

MAX_RECIPIENTS = 50
MAX_METADATA_FIELDS = 10
MAX_METADATA_NAME = 20
MAX_METADATA_VALUE = 80
STREAMS = frozenset({"outbound"})
_NAMED_ADDRESS = re.compile(r"^[^<>]*<([^<>]+)>$")


def postmark_error(status: int, code: int, message: str, error: str) -> Reply:
    return Reply(status, {"ErrorCode": code, "Message": message}, error=error)


def invalid(message: str) -> Reply:
    return postmark_error(422, 300, message, "invalid_request")


def addresses(value: str) -> list[str]:
    """The email addresses of ``"a@x.com, Name <b@y.com>"``."""
    found = []
    for part in value.split(","):
        part = part.strip()
        match = _NAMED_ADDRESS.match(part)
        if part:
            found.append((match.group(1) if match else part).strip())
    return found


def _metadata_field(name: Any, value: Any) -> bool:
    return (
        isinstance(name, str)
        and 1 <= len(name) <= MAX_METADATA_NAME
        and isinstance(value, str | int | float)
        and not isinstance(value, bool)
        and len(str(value)) <= MAX_METADATA_VALUE
    )


def message_problem(payload: Any) -> Reply | None:
    """What Postmark refuses in a send request; None when it can be sent."""
    if not isinstance(payload, dict):
        return postmark_error(422, 402, "Received invalid JSON input.", "invalid_json")
    sender = payload.get("From")
    if not isinstance(sender, str) or len(addresses(sender)) != 1:
        return invalid("Invalid 'From' address.")
    if not is_valid_email(addresses(sender)[0]):
        return invalid("Invalid 'From' address.")
    to = payload.get("To")
    if not isinstance(to, str) or not addresses(to):
        return invalid("Zero recipients specified.")
    if len(addresses(to)) > MAX_RECIPIENTS:
        return invalid(f"Too many recipients: at most {MAX_RECIPIENTS}.")
    if not all(is_valid_email(address) for address in addresses(to)):
        return invalid("Error parsing 'To': Illegal email address.")
    html, text = payload.get("HtmlBody"), payload.get("TextBody")
    if not (isinstance(html, str) and html) and not (isinstance(text, str) and text):
        return invalid("Provide either email TextBody or HtmlBody or both.")
    metadata = payload.get("Metadata") or {}
    if not (
        isinstance(metadata, dict)
        and len(metadata) <= MAX_METADATA_FIELDS
        and all(_metadata_field(name, value) for name, value in metadata.items())
    ):
        return invalid(
            f"Metadata takes up to {MAX_METADATA_FIELDS} fields, names of up to "
            f"{MAX_METADATA_NAME} characters, values of up to {MAX_METADATA_VALUE}."
        )
    headers = payload.get("Headers")
    if headers is not None and not (
        isinstance(headers, list)
        and all(isinstance(h, dict) and {"Name", "Value"} <= set(h) for h in headers)
    ):
        return invalid("Headers must be a list of {Name, Value} objects.")
    stream = payload.get("MessageStream") or "outbound"
    if stream not in STREAMS:
        return postmark_error(
            422, 1235, "The message stream for the provided 'ID' was not found.", "unknown_stream"
        )
    return None
