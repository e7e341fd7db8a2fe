"""Fake Slack incoming webhook: ``POST /slack-webhook/services/T0SANDBOX/B0SANDBOX/<secret>``.

The URL is the credential: a wrong secret finds no webhook (404 ``no_service``). Every answer is
plain text, ``ok`` or an error code with its status. The webhook posts to its own channel; set
its ``status`` (``PUT /_sandbox/slack-webhook``) to revoke it, archive the channel or have an admin
prohibit it. What it posts counts with the bot's alerts (``SandboxState.slack_messages()``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import asdict
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.fake import FakeVendor, Reply, read_json
from sandbox.limits import Throttle
from sandbox.shared import SharedState, now_iso
from sandbox.slack import MAX_BLOCKS, SlackMessage
from sandbox.slack_api import blocks_argument

# The channel the webhook was installed into: the bot's #sales.
CHANNEL = "C0SALES"
# What each status answers instead of posting; "revoked" is refused like a wrong secret.
REFUSALS: dict[str, tuple[int, str] | None] = {
    "active": None,
    "revoked": (404, "no_service"),
    "archived": (410, "channel_is_archived"),
    "prohibited": (403, "action_prohibited"),
}


def webhook_error(status: int, code: str) -> Reply:
    return Reply(status, text=code, error=code)


async def read_payload(request: Request) -> Any:
    """The message: a JSON body, or the ``payload`` field of a form, as Slack takes both."""
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        form = parse_qs((await request.body()).decode("utf-8", errors="replace"))
        try:
            return json.loads(form["payload"][0])
        except (KeyError, json.JSONDecodeError):
            return None
    return await read_json(request)


class FakeSlackWebhook(FakeVendor):
    name = "slack-webhook"

    def __init__(self, shared: SharedState) -> None:
        super().__init__(shared)
        self._status = "active"
        self._messages: list[SlackMessage] = []
        self._last_ts_micros = 0

    @property
    def status(self) -> str:
        """``active``, ``revoked``, ``archived`` or ``prohibited``; a reset makes it active."""
        with self.shared.lock:
            return self._status

    @status.setter
    def status(self, status: str) -> None:
        if status not in REFUSALS:
            raise ValueError(f"unknown webhook status '{status}'; choose from {list(REFUSALS)}")
        with self.shared.lock:
            self._status = status

    def environment(self, sandbox_url: str) -> dict[str, str]:
        # The whole URL is the secret: one setting holds both address and credential.
        return {self.vendor.key_env: f"{sandbox_url}{self.vendor.sandbox_path}/{self.key}"}

    def post(self, text: str | None, blocks: Iterable[Any]) -> SlackMessage:
        """Store a message in the webhook's channel, with a ``ts`` unique to the microsecond."""
        with self.shared.lock:
            micros = max(time.time_ns() // 1000, self._last_ts_micros + 1)
            self._last_ts_micros = micros
            ts = f"{micros // 1_000_000}.{micros % 1_000_000:06d}"
            message = SlackMessage(
                CHANNEL, ts, text, tuple(blocks), now_iso(), None, vendor=self.name
            )
            self._messages.append(message)
        return message

    def messages(self) -> list[SlackMessage]:
        with self.shared.lock:
            return list(self._messages)

    def reset(self) -> None:
        self._messages.clear()
        self._status = "active"

    def achieved(self) -> dict[str, int]:
        return {"sales_alerts": len(self._messages)}

    def auth_failure(self, request: Request) -> Reply | None:
        if request.path_params.get("secret") != self.key or self.status == "revoked":
            return webhook_error(404, "no_service")
        return None

    def rate_limited(self, throttle: Throttle) -> Reply:
        reply = webhook_error(429, "rate_limited")
        reply.headers["Retry-After"] = str(throttle.retry_after_seconds)
        return reply

    def unavailable(self) -> Reply:
        return webhook_error(503, "service_unavailable")

    def post_message(self, payload: Any) -> Reply:
        if (refusal := REFUSALS[self.status]) is not None:
            return webhook_error(*refusal)
        if not isinstance(payload, dict):
            return webhook_error(400, "invalid_payload")
        text = payload.get("text")
        if text is not None and not isinstance(text, str):
            return webhook_error(400, "invalid_payload")
        blocks = blocks_argument(payload.get("blocks"))
        if blocks is None or len(blocks) > MAX_BLOCKS:
            return webhook_error(400, "invalid_blocks")
        if not text and not blocks:
            return webhook_error(400, "no_text")
        self.post(text, blocks)
        return Reply(200, text="ok")

    def routes(self) -> list[Route]:
        async def incoming_webhook(request: Request) -> Response:
            payload = await read_payload(request)
            return await self.handle(
                request,
                lookup=None,
                request_body=payload,
                answer=lambda: self.post_message(payload),
            )

        return [Route(self.path("/{secret}"), incoming_webhook, methods=["POST"])]

    def control_routes(self) -> list[Route]:
        async def messages(request: Request) -> JSONResponse:
            return JSONResponse({"messages": [asdict(m) for m in self.messages()]})

        async def settings(request: Request) -> JSONResponse:
            if request.method == "PUT":
                body = await read_json(request)
                if not isinstance(body, dict) or set(body) != {"status"}:
                    return JSONResponse(
                        {"error": f'send {{"status": ...}}, one of {list(REFUSALS)}'},
                        status_code=400,
                    )
                try:
                    self.status = body["status"]
                except ValueError as exc:
                    return JSONResponse({"error": str(exc)}, status_code=400)
            return JSONResponse({"status": self.status})

        return [
            Route("/_sandbox/slack-webhook/messages", messages, methods=["GET"]),
            Route("/_sandbox/slack-webhook", settings, methods=["GET", "PUT"]),
        ]


FAKE = FakeSlackWebhook
