"""Fake Slack Web API: ``chat.postMessage``, ``conversations.list`` and ``conversations.history``
under ``/slack/api``.

Slack answers HTTP 200 for logical failures (``{"ok": false, "error": ...}``); only throttling
and outages change the status code. Posted messages keep their ``metadata``, which
``conversations.history`` returns with ``include_all_metadata=true``, so a client can find out
whether it already posted something before posting it again.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.fake import FakeVendor, Reply, bearer_token, read_json
from sandbox.limits import Throttle
from sandbox.shared import SharedState, now_iso
from sandbox.slack_api import (
    blocks_argument,
    decode_cursor,
    encode_cursor,
    flag_argument,
    limit_argument,
    metadata_argument,
    read_arguments,
    slack_error,
    slack_ts_micros,
    ts_argument,
)

# The channels the bot is in, by name or ID.
CHANNELS = ("#sales", "C0SALES")
MAX_TEXT_CHARS = 40_000
MAX_BLOCKS = 50
BOT_ID = "B0SANDBOX"
BOT_USER = "U0SANDBOX"
TEAM = "T0SANDBOX"
APP_ID = "A0SANDBOX"
CHANNEL_CREATED = 1_700_000_000
MAX_HISTORY_LIMIT = 999
MAX_LIST_LIMIT = 1000
CONVERSATION_TYPES = frozenset({"public_channel", "private_channel", "mpim", "im"})


@dataclass(frozen=True)
class SlackMessage:
    """A message Slack accepted into a channel: one sales alert."""

    channel: str
    ts: str
    text: str | None
    blocks: tuple[Any, ...]
    posted_at: str
    metadata: dict[str, Any] | None = None
    vendor: str = "slack"
    """Who posted it: the bot (``slack``) or the incoming webhook (``slack-webhook``)."""

    @property
    def ts_micros(self) -> int:
        """The ``ts`` as a whole number of microseconds, for ordering and time windows."""
        return slack_ts_micros(self.ts)

    def to_api(self, *, with_metadata: bool) -> dict[str, Any]:
        """The message as Slack's API returns it."""
        body: dict[str, Any] = {
            "type": "message",
            "subtype": "bot_message",
            "text": self.text or "",
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "user": BOT_USER,
            "team": TEAM,
            "ts": self.ts,
        }
        if self.blocks:
            body["blocks"] = list(self.blocks)
        if with_metadata and self.metadata is not None:
            body["metadata"] = self.metadata
        return body


def _is_channel_id(channel: str) -> bool:
    return channel[:1] in {"C", "G", "D"} and channel.isupper()


class FakeSlack(FakeVendor):
    name = "slack"

    def __init__(self, shared: SharedState) -> None:
        super().__init__(shared)
        self.channels: tuple[str, ...] = CHANNELS
        """The channels the bot is in, by name or ID; change it to move the bot."""
        self._messages: list[SlackMessage] = []
        self._last_ts_micros = 0

    def channel_id(self, channel: str) -> str | None:
        """The channel ID a known channel name or ID resolves to, None for an unknown channel."""
        if channel not in self.channels:
            return None
        if _is_channel_id(channel):
            return channel
        name = "".join(ch for ch in channel.lstrip("#") if ch.isalnum())
        return f"C0{name.upper()}"

    def conversations(self) -> list[tuple[str, str]]:
        """Every channel the bot is in, as (ID, name) ordered by ID, the way
        ``conversations.list`` pages through them. A channel known only by its ID gets its ID,
        lower-cased, as its name."""
        names: dict[str, str] = {}
        for alias in self.channels:
            channel_id = self.channel_id(alias)
            if channel_id is None:
                continue
            if not _is_channel_id(alias):
                names[channel_id] = alias.lstrip("#")
            else:
                names.setdefault(channel_id, channel_id.lower())
        return sorted(names.items())

    def post(
        self,
        channel_id: str,
        text: str | None,
        blocks: Iterable[Any],
        metadata: dict[str, Any] | None = None,
    ) -> str:
        """Store an accepted message; returns its ``ts``, unique even within one microsecond."""
        with self.shared.lock:
            micros = max(time.time_ns() // 1000, self._last_ts_micros + 1)
            self._last_ts_micros = micros
            ts = f"{micros // 1_000_000}.{micros % 1_000_000:06d}"
            self._messages.append(
                SlackMessage(channel_id, ts, text, tuple(blocks), now_iso(), metadata)
            )
        return ts

    def messages(self) -> list[SlackMessage]:
        with self.shared.lock:
            return list(self._messages)

    def history(self, channel_id: str) -> list[SlackMessage]:
        """A channel's messages, newest first, as ``conversations.history`` pages through them."""
        messages = [m for m in self.messages() if m.channel == channel_id]
        return sorted(messages, key=lambda m: m.ts_micros, reverse=True)

    def reset(self) -> None:
        self._messages.clear()

    def achieved(self) -> dict[str, int]:
        return {"sales_alerts": len(self._messages)}

    # --- the Web API --------------------------------------------------------------------------

    def auth_failure(self, request: Request) -> Reply | None:
        token = bearer_token(request)
        if token is None:
            return slack_error("not_authed")
        if token != self.key:
            return slack_error("invalid_auth")
        return None

    def rate_limited(self, throttle: Throttle) -> Reply:
        reply = slack_error("ratelimited", 429)
        reply.headers["Retry-After"] = str(throttle.retry_after_seconds)
        return reply

    def unavailable(self) -> Reply:
        return slack_error("service_unavailable", 503)

    def post_message(self, payload: Any) -> Reply:
        if not isinstance(payload, dict):
            return slack_error("invalid_json")
        channel = payload.get("channel")
        channel_id = self.channel_id(channel) if isinstance(channel, str) else None
        if channel_id is None:
            return slack_error("channel_not_found")
        blocks = blocks_argument(payload.get("blocks"))
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
            metadata = metadata_argument(payload.get("metadata"))
        except ValueError:
            return slack_error("invalid_metadata_format")
        ts = self.post(channel_id, text, blocks, metadata)
        stored = SlackMessage(channel_id, ts, text, tuple(blocks), "", metadata)
        body = {"ok": True, "channel": channel_id, "ts": ts}
        return Reply(200, {**body, "message": stored.to_api(with_metadata=True)})

    def list_conversations(self, arguments: Mapping[str, Any]) -> Reply:
        types = {t.strip() for t in str(arguments.get("types") or "public_channel").split(",")}
        if not types <= CONVERSATION_TYPES:
            return slack_error("invalid_types")
        limit = limit_argument(arguments.get("limit"), MAX_LIST_LIMIT)
        if limit is None:
            return slack_error("invalid_limit")
        # Every sandbox channel is public and the bot is a member of each.
        channels = self.conversations() if "public_channel" in types else []
        start = 0
        if cursor := arguments.get("cursor"):
            after = decode_cursor(str(cursor), "team")
            if after is None:
                return slack_error("invalid_cursor")
            start = next((i for i, (cid, _) in enumerate(channels) if cid >= after), len(channels))
        page, rest = channels[start : start + limit], channels[start + limit :]
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
                    "next_cursor": encode_cursor(f"team:{rest[0][0]}") if rest else ""
                },
            },
        )

    def conversation_history(self, arguments: Mapping[str, Any]) -> Reply:
        channel = arguments.get("channel")
        known = {channel_id for channel_id, _ in self.conversations()}
        # Unlike chat.postMessage, the history takes the channel's ID only, never its name.
        if not isinstance(channel, str) or channel not in known:
            return slack_error("channel_not_found")
        try:
            oldest = ts_argument(arguments.get("oldest"))
        except ValueError:
            return slack_error("invalid_ts_oldest")
        try:
            latest = ts_argument(arguments.get("latest"))
        except ValueError:
            return slack_error("invalid_ts_latest")
        limit = limit_argument(arguments.get("limit"), MAX_HISTORY_LIMIT)
        if limit is None:
            return slack_error("invalid_limit")
        inclusive = flag_argument(arguments.get("inclusive"))
        newest: int | None = None
        if cursor := arguments.get("cursor"):
            position = decode_cursor(str(cursor), "next_ts")
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

        messages = [m for m in self.history(channel) if wanted(m)]
        page, rest = messages[:limit], messages[limit:]
        with_metadata = flag_argument(arguments.get("include_all_metadata"))
        body: dict[str, Any] = {
            "ok": True,
            "messages": [m.to_api(with_metadata=with_metadata) for m in page],
            "has_more": bool(rest),
            "pin_count": 0,
            "channel_actions_ts": None,
            "channel_actions_count": 0,
        }
        if rest:
            next_cursor = encode_cursor(f"next_ts:{rest[0].ts_micros}")
            body["response_metadata"] = {"next_cursor": next_cursor}
        return Reply(200, body)

    def routes(self) -> list[Route]:
        async def chat_post_message(request: Request) -> Response:
            payload = await read_json(request)
            channel = payload.get("channel") if isinstance(payload, dict) else None
            return await self.handle(
                request,
                lookup=channel if isinstance(channel, str) else None,
                request_body=payload,
                answer=lambda: self.post_message(payload),
            )

        # Slack limits its reads by looser tiers of their own; the limit is the posts'.
        async def conversations_list(request: Request) -> Response:
            arguments = await read_arguments(request)
            return await self.handle(
                request,
                lookup=None,
                request_body=arguments,
                answer=lambda: self.list_conversations(arguments),
                limited=False,
            )

        async def conversations_history(request: Request) -> Response:
            arguments = await read_arguments(request)
            channel = arguments.get("channel")
            return await self.handle(
                request,
                lookup=channel if isinstance(channel, str) else None,
                request_body=arguments,
                answer=lambda: self.conversation_history(arguments),
                limited=False,
            )

        reads = ["GET", "POST"]
        return [
            Route(self.path("/chat.postMessage"), chat_post_message, methods=["POST"]),
            Route(self.path("/conversations.list"), conversations_list, methods=reads),
            Route(self.path("/conversations.history"), conversations_history, methods=reads),
        ]

    def control_routes(self) -> list[Route]:
        async def messages(request: Request) -> JSONResponse:
            return JSONResponse({"messages": [asdict(m) for m in self.messages()]})

        return [Route("/_sandbox/slack/messages", messages, methods=["GET"])]


FAKE = FakeSlack
