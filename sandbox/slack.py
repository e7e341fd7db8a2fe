"""Fake Slack Web API: ``chat.postMessage``, ``conversations.list`` and ``conversations.history``
under ``/slack/api``.

Slack answers HTTP 200 for logical failures (``{"ok": false, "error": ...}``); only throttling
and outages change the status code. Posted messages keep their ``metadata``, which
``conversations.history`` returns with ``include_all_metadata=true``, so a client can find out
whether it already posted something before posting it again.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.common import Reply, bearer_token, handle_call, injected_throttle, read_json
from sandbox.state import FaultRoll, SandboxState, SlackMessage, Throttle, slack_ts_micros

VENDOR = "slack"
MAX_TEXT_CHARS = 40_000
MAX_BLOCKS = 50
BOT_ID = "B0SANDBOX"
BOT_USER = "U0SANDBOX"
TEAM = "T0SANDBOX"
APP_ID = "A0SANDBOX"
CHANNEL_CREATED = 1_700_000_000
DEFAULT_LIMIT = 100
MAX_HISTORY_LIMIT = 999
MAX_LIST_LIMIT = 1000
CONVERSATION_TYPES = frozenset({"public_channel", "private_channel", "mpim", "im"})


def slack_error(error: str, status: int = 200) -> Reply:
    return Reply(status, {"ok": False, "error": error}, error=error)


def auth_failure(request: Request, state: SandboxState) -> Reply | None:
    token = bearer_token(request)
    if token is None:
        return slack_error("not_authed")
    if token != state.slack_token:
        return slack_error("invalid_auth")
    return None


def rate_limited(throttle: Throttle) -> Reply:
    reply = slack_error("ratelimited", 429)
    reply.headers["Retry-After"] = str(throttle.retry_after_seconds)
    return reply


def fault_reply(roll: FaultRoll) -> Reply | None:
    if roll.kind == "error":
        return slack_error("service_unavailable", 503)
    if roll.kind == "rate_limit":
        return rate_limited(injected_throttle(VENDOR, roll))
    return None


def _blocks(value: Any) -> list[Any] | None:
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


def _metadata(value: Any) -> dict[str, Any] | None:
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


def _message(message: SlackMessage, *, with_metadata: bool) -> dict[str, Any]:
    """A stored message as Slack's API returns it."""
    body: dict[str, Any] = {
        "type": "message",
        "subtype": "bot_message",
        "text": message.text or "",
        "bot_id": BOT_ID,
        "app_id": APP_ID,
        "user": BOT_USER,
        "team": TEAM,
        "ts": message.ts,
    }
    if message.blocks:
        body["blocks"] = list(message.blocks)
    if with_metadata and message.metadata is not None:
        body["metadata"] = message.metadata
    return body


def post_message(state: SandboxState, payload: Any) -> Reply:
    if not isinstance(payload, dict):
        return slack_error("invalid_json")
    channel = payload.get("channel")
    channel_id = state.slack_channel_id(channel) if isinstance(channel, str) else None
    if channel_id is None:
        return slack_error("channel_not_found")
    blocks = _blocks(payload.get("blocks"))
    if blocks is None or len(blocks) > MAX_BLOCKS:
        return slack_error("invalid_blocks")
    text = payload.get("text")
    if text is not None and not isinstance(text, str):
        return slack_error("invalid_arguments")
    if not text and not blocks:
        return slack_error("no_text")
    if text is not None and len(text) > MAX_TEXT_CHARS:
        return slack_error("msg_too_long")
    try:
        metadata = _metadata(payload.get("metadata"))
    except ValueError:
        return slack_error("invalid_metadata_format")
    ts = state.post_slack_message(channel_id, text, blocks, metadata)
    stored = SlackMessage(channel_id, ts, text, tuple(blocks), "", metadata)
    return Reply(
        200,
        {
            "ok": True,
            "channel": channel_id,
            "ts": ts,
            "message": _message(stored, with_metadata=True),
        },
    )


def _encode_cursor(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def _decode_cursor(cursor: str, prefix: str) -> str | None:
    """The position a cursor of ours points at; None when it is not one."""
    try:
        decoded = base64.b64decode(cursor, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    found, _, position = decoded.partition(":")
    return position if found == prefix and position else None


def _limit(value: Any, maximum: int) -> int | None:
    if value is None or value == "":
        return DEFAULT_LIMIT
    try:
        limit = int(value)
    except (TypeError, ValueError):
        return None
    return min(limit, maximum) if limit > 0 else DEFAULT_LIMIT


def _flag(value: Any) -> bool:
    return str(value).strip().lower() in {"1", "true", "yes"}


def list_conversations(state: SandboxState, arguments: Mapping[str, Any]) -> Reply:
    types = {t.strip() for t in str(arguments.get("types") or "public_channel").split(",")}
    if not types <= CONVERSATION_TYPES:
        return slack_error("invalid_types")
    limit = _limit(arguments.get("limit"), MAX_LIST_LIMIT)
    if limit is None:
        return slack_error("invalid_limit")
    # Every sandbox channel is public and the bot is a member of each.
    channels = state.slack_conversations() if "public_channel" in types else []
    start = 0
    if cursor := arguments.get("cursor"):
        after = _decode_cursor(str(cursor), "team")
        if after is None:
            return slack_error("invalid_cursor")
        start = next((i for i, (cid, _) in enumerate(channels) if cid >= after), len(channels))
    page = channels[start : start + limit]
    rest = channels[start + limit :]
    return Reply(
        200,
        {
            "ok": True,
            "channels": [
                {
                    "id": channel_id,
                    "name": name,
                    "name_normalized": name,
                    "is_channel": True,
                    "is_group": False,
                    "is_im": False,
                    "is_mpim": False,
                    "is_private": False,
                    "is_archived": False,
                    "is_general": False,
                    "is_member": True,
                    "created": CHANNEL_CREATED,
                    "context_team_id": TEAM,
                }
                for channel_id, name in page
            ],
            "response_metadata": {
                "next_cursor": _encode_cursor(f"team:{rest[0][0]}") if rest else ""
            },
        },
    )


def _ts_argument(value: Any) -> int | None:
    """An ``oldest``/``latest`` argument in microseconds, None when absent; raises ValueError."""
    if value is None or value == "":
        return None
    return slack_ts_micros(str(value))


def conversation_history(state: SandboxState, arguments: Mapping[str, Any]) -> Reply:
    channel = arguments.get("channel")
    known = {channel_id for channel_id, _ in state.slack_conversations()}
    # Unlike chat.postMessage, the history takes the channel's ID only, never its name.
    if not isinstance(channel, str) or channel not in known:
        return slack_error("channel_not_found")
    try:
        oldest = _ts_argument(arguments.get("oldest"))
    except ValueError:
        return slack_error("invalid_ts_oldest")
    try:
        latest = _ts_argument(arguments.get("latest"))
    except ValueError:
        return slack_error("invalid_ts_latest")
    limit = _limit(arguments.get("limit"), MAX_HISTORY_LIMIT)
    if limit is None:
        return slack_error("invalid_limit")
    inclusive = _flag(arguments.get("inclusive"))
    newest: int | None = None
    if cursor := arguments.get("cursor"):
        position = _decode_cursor(str(cursor), "next_ts")
        if position is None or not position.isdigit():
            return slack_error("invalid_cursor")
        # The cursor pins the newest message of the next page, whatever was posted since.
        newest = int(position)

    def wanted(message: SlackMessage) -> bool:
        micros = message.ts_micros
        if oldest is not None and (micros < oldest if inclusive else micros <= oldest):
            return False
        if latest is not None and (micros > latest if inclusive else micros >= latest):
            return False
        return newest is None or micros <= newest

    messages = [m for m in state.slack_history(channel) if wanted(m)]
    page, rest = messages[:limit], messages[limit:]
    with_metadata = _flag(arguments.get("include_all_metadata"))
    body: dict[str, Any] = {
        "ok": True,
        "messages": [_message(m, with_metadata=with_metadata) for m in page],
        "has_more": bool(rest),
        "pin_count": 0,
        "channel_actions_ts": None,
        "channel_actions_count": 0,
    }
    if rest:
        body["response_metadata"] = {"next_cursor": _encode_cursor(f"next_ts:{rest[0].ts_micros}")}
    return Reply(200, body)


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


def routes(state: SandboxState) -> list[Route]:
    async def chat_post_message(request: Request) -> Response:
        payload = await read_json(request)
        channel = payload.get("channel") if isinstance(payload, dict) else None
        return await handle_call(
            state,
            request,
            VENDOR,
            lookup=channel if isinstance(channel, str) else None,
            request_body=payload,
            auth_failure=lambda: auth_failure(request, state),
            rate_limited=rate_limited,
            fault_reply=fault_reply,
            answer=lambda: post_message(state, payload),
        )

    async def conversations_list(request: Request) -> Response:
        arguments = await read_arguments(request)
        return await handle_call(
            state,
            request,
            VENDOR,
            lookup=None,
            request_body=arguments,
            auth_failure=lambda: auth_failure(request, state),
            rate_limited=rate_limited,
            fault_reply=fault_reply,
            answer=lambda: list_conversations(state, arguments),
            # Slack limits its reads by looser tiers of their own; the limit is the posts'.
            limited=False,
        )

    async def conversations_history(request: Request) -> Response:
        arguments = await read_arguments(request)
        channel = arguments.get("channel")
        return await handle_call(
            state,
            request,
            VENDOR,
            lookup=channel if isinstance(channel, str) else None,
            request_body=arguments,
            auth_failure=lambda: auth_failure(request, state),
            rate_limited=rate_limited,
            fault_reply=fault_reply,
            answer=lambda: conversation_history(state, arguments),
            # Slack limits its reads by looser tiers of their own; the limit is the posts'.
            limited=False,
        )

    return [
        Route("/slack/api/chat.postMessage", chat_post_message, methods=["POST"]),
        Route("/slack/api/conversations.list", conversations_list, methods=["GET", "POST"]),
        Route("/slack/api/conversations.history", conversations_history, methods=["GET", "POST"]),
    ]
