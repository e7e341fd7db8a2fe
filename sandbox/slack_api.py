"""How Slack's Web API takes arguments and answers, whatever the method: arguments from the query,
a form or JSON; ``{"ok": false, "error": ...}`` with HTTP 200 for logical failures; opaque
cursors; message timestamps as ``"seconds.micros"``."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request

from sandbox.fake import Reply, read_json

DEFAULT_LIMIT = 100


def slack_error(error: str, status: int = 200) -> Reply:
    return Reply(status, {"ok": False, "error": error}, error=error)


def slack_ts_micros(ts: str) -> int:
    """Slack's ``"1700000000.000100"`` as microseconds; raises ValueError when it is not one."""
    seconds, _, fraction = ts.strip().partition(".")
    if not seconds.isdigit() or (fraction and not fraction.isdigit()) or len(fraction) > 6:
        raise ValueError(f"'{ts}' is not a Slack timestamp")
    return int(seconds) * 1_000_000 + int(fraction.ljust(6, "0") or 0)


async def read_arguments(request: Request) -> dict[str, Any]:
    """A Web API method's arguments: the query string, plus a form or JSON body."""
    arguments: dict[str, Any] = dict(request.query_params)
    if request.method != "POST":
        return arguments
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        body = await read_json(request)
        if isinstance(body, dict):
            arguments.update(body)
    else:
        raw = (await request.body()).decode("utf-8", errors="replace")
        arguments.update(parse_qsl(raw, keep_blank_values=True))
    return arguments


def encode_cursor(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def decode_cursor(cursor: str, prefix: str) -> str | None:
    """The position a cursor of ours points at; None when it is not one."""
    try:
        decoded = base64.b64decode(cursor, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    found, _, position = decoded.partition(":")
    return position if found == prefix and position else None


def limit_argument(value: Any, maximum: int) -> int | None:
    """A page size; None when it is not a number."""
    if value is None or value == "":
        return DEFAULT_LIMIT
    try:
        limit = int(value)
    except (TypeError, ValueError):
        return None
    return min(limit, maximum) if limit > 0 else DEFAULT_LIMIT


def flag_argument(value: Any) -> bool:
    return str(value).strip().lower() in {"1", "true", "yes"}


def ts_argument(value: Any) -> int | None:
    """An ``oldest``/``latest`` argument in microseconds, None when absent; raises ValueError."""
    if value is None or value == "":
        return None
    return slack_ts_micros(str(value))


def blocks_argument(value: Any) -> list[Any] | None:
    """Blocks as a list; Slack also takes them as a JSON string. None when malformed."""
    if value is None:
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return None
    if isinstance(value, list) and all(isinstance(block, dict) for block in value):
        return value
    return None


def metadata_argument(value: Any) -> dict[str, Any] | None:
    """Message metadata as Slack takes it: an object, or the same as a JSON string.

    Raises ValueError when it is not ``{"event_type": "...", "event_payload": {...}}``.
    """
    if value is None:
        return None
    if isinstance(value, str):
        value = json.loads(value)  # JSONDecodeError is a ValueError
    if (
        isinstance(value, dict)
        and isinstance(value.get("event_type"), str)
        and value["event_type"]
        and isinstance(value.get("event_payload"), dict)
    ):
        return {"event_type": value["event_type"], "event_payload": value["event_payload"]}
    raise ValueError("metadata needs an event_type and an event_payload object")
