"""Fake Slack Web API: ``POST /slack/api/chat.postMessage``.

Slack answers HTTP 200 for logical failures (``{"ok": false, "error": ...}``); only throttling
and outages change the status code.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.common import Reply, bearer_token, handle_call, read_json
from sandbox.state import FaultRoll, SandboxState

VENDOR = "slack"
MAX_TEXT_CHARS = 40_000
MAX_BLOCKS = 50
BOT_ID = "B0SANDBOX"
BOT_USER = "U0SANDBOX"
TEAM = "T0SANDBOX"


def slack_error(error: str, status: int = 200) -> Reply:
    return Reply(status, {"ok": False, "error": error}, error=error)


def auth_failure(request: Request, state: SandboxState) -> Reply | None:
    token = bearer_token(request)
    if token is None:
        return slack_error("not_authed")
    if token != state.slack_token:
        return slack_error("invalid_auth")
    return None


def fault_reply(roll: FaultRoll) -> Reply | None:
    if roll.kind == "error":
        return slack_error("service_unavailable", 503)
    if roll.kind == "rate_limit":
        reply = slack_error("ratelimited", 429)
        reply.headers["Retry-After"] = str(roll.retry_after_seconds)
        return reply
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
    ts = state.post_slack_message(channel_id, text, blocks)
    message: dict[str, Any] = {
        "type": "message",
        "subtype": "bot_message",
        "text": text or "",
        "bot_id": BOT_ID,
        "user": BOT_USER,
        "team": TEAM,
        "ts": ts,
    }
    if blocks:
        message["blocks"] = blocks
    return Reply(200, {"ok": True, "channel": channel_id, "ts": ts, "message": message})


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
            fault_reply=fault_reply,
            answer=lambda: post_message(state, payload),
        )

    return [Route("/slack/api/chat.postMessage", chat_post_message, methods=["POST"])]
