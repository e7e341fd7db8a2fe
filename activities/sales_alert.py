"""Sales alerts: a message to the sales channel in Slack when an enterprise signs up.

Slack has no idempotency key. When an attempt's ``chat.postMessage`` got through but its answer
was lost (the worker died, the connection dropped, the call timed out), a plain retry would post
the alert a second time. So every alert carries message metadata naming its journey
(``onboarding_sales_alert`` with the workflow ID: no personal data), and a retry first looks for
that alert in the channel's history since the alert was scheduled, answering with the one it
finds instead of posting again. What remains is a narrow window Slack gives no way to close: a
first attempt whose message Slack stores only after the retry has looked.

The Slack app's bot token needs these scopes:

- ``chat:write`` to post the alert;
- ``channels:history`` (``groups:history`` for a private channel) to look for an alert already
  posted, on retries only;
- ``channels:read`` and ``groups:read``, only when ``SLACK_SALES_CHANNEL`` is a name (``#sales``)
  rather than an ID (``C0123ABCD``): the history takes the channel's ID, which the worker learns
  from its first post or, after a restart, once from ``conversations.list``, and then keeps.

A lookup Slack throttles (it limits ``conversations.history`` tightly for apps outside its
Marketplace) is retried after Slack's ``Retry-After``; a retry never posts without having looked.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import vendor_http
from activities.contracts import SalesAlert, SalesAlertPosted
from activities.journey_run import current_journey
from activities.settings import VendorSettings

VENDOR = "Slack"
ALERT_EVENT_TYPE = "onboarding_sales_alert"
# Slack's clock is not Temporal's: look back a little further than the alert's first scheduling.
LOOKBACK_MARGIN = timedelta(minutes=2)
PAGE_SIZE = 200
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")

# Slack answers most failures with HTTP 200 and {"ok": false, "error": ...}.
_OPERATOR_ERRORS = {
    "channel_not_found": "the sales channel does not exist. Check SLACK_SALES_CHANNEL.",
    "not_in_channel": "the bot is not in the sales channel. Invite it to the channel.",
    "is_archived": "the sales channel is archived. Unarchive it or change SLACK_SALES_CHANNEL.",
    "invalid_auth": "the bot token is invalid. Check SLACK_BOT_TOKEN.",
    "not_authed": "no bot token was sent. Set SLACK_BOT_TOKEN.",
    "account_inactive": "the bot's account is inactive. Check SLACK_BOT_TOKEN.",
    "token_revoked": "the bot token was revoked. Set a new SLACK_BOT_TOKEN.",
    "token_expired": "the bot token expired. Set a new SLACK_BOT_TOKEN.",
    "no_permission": "the bot may not post there. Check the Slack app's permissions.",
    "restricted_action": "the workspace forbids the bot from posting there.",
    "team_access_not_granted": "the token has no access to this workspace.",
}
# The scope each method needs, for the operator's message when Slack answers missing_scope.
_SCOPES = {
    "chat.postMessage": "chat:write",
    "conversations.history": "channels:history (groups:history for a private channel)",
    "conversations.list": "channels:read and groups:read",
}
_RATE_LIMIT_ERRORS = {"ratelimited", "rate_limited", "message_limit_exceeded"}
_MALFORMED_ERRORS = {
    "msg_too_long",
    "no_text",
    "invalid_blocks",
    "invalid_blocks_format",
    "too_many_attachments",
    "invalid_arguments",
    "invalid_array_arg",
    "invalid_form_data",
    "invalid_json",
    "json_not_object",
    "metadata_too_large",
    "invalid_metadata_format",
    "invalid_ts_oldest",
    "invalid_ts_latest",
    "invalid_limit",
    "invalid_types",
}


def run_link(ui_url: str, namespace: str, workflow_id: str, run_id: str) -> str:
    """The journey's run page in the Temporal Web UI."""
    return (
        f"{ui_url.rstrip('/')}/namespaces/{quote(namespace, safe='')}"
        f"/workflows/{quote(workflow_id, safe='')}/{quote(run_id, safe='')}/history"
    )


def _escape(text: str) -> str:
    # Slack's mrkdwn treats &, < and > as control characters.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def alert_message(alert: SalesAlert, channel: str, link: str) -> dict[str, Any]:
    """The ``chat.postMessage`` body: fallback text plus blocks (who, company, size, industry)."""
    company = alert.company
    who = " ".join(p for p in (alert.first_name, alert.last_name) if p) or "A new user"
    company_name = company.name or company.domain or "an unnamed company"
    if company.employees is not None:
        size = f"{company.employees:,} employees"
    elif company.employees_range:
        size = f"{company.employees_range} employees"
    else:
        size = "size unknown"
    text = f"New enterprise signup: {who} from {company_name} ({size})"
    fields = [
        f"*Who*\n{_escape(who)} <mailto:{_escape(alert.email)}|{_escape(alert.email)}>",
        f"*Company*\n{_escape(company_name)}"
        + (f" ({_escape(company.domain)})" if company.domain else ""),
        f"*Size*\n{_escape(size)}",
        f"*Industry*\n{_escape(company.industry or 'unknown')}",
    ]
    return {
        "channel": channel,
        "text": text,
        "unfurl_links": False,
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "New enterprise signup"}},
            {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]},
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": f"User `{_escape(alert.user_id)}` · <{link}|Journey run>",
                    }
                ],
            },
        ],
    }


def alert_metadata(journey_id: str) -> dict[str, Any]:
    """The metadata that marks a message as this journey's alert: the workflow ID, nothing
    personal."""
    return {"event_type": ALERT_EVENT_TYPE, "event_payload": {"journey_id": journey_id}}


def is_alert_of(message: Mapping[str, Any], journey_id: str) -> bool:
    """Whether a message from ``conversations.history`` is the alert of this journey."""
    metadata = message.get("metadata")
    if not isinstance(metadata, Mapping) or metadata.get("event_type") != ALERT_EVENT_TYPE:
        return False
    payload = metadata.get("event_payload")
    return isinstance(payload, Mapping) and payload.get("journey_id") == journey_id


def slack_ts(moment: datetime) -> str:
    """A moment as Slack's ``oldest``/``latest`` arguments spell it: epoch seconds, 6 decimals."""
    return f"{max(moment.timestamp(), 0.0):.6f}"


def slack_failure(
    method: str, body: Mapping[str, Any], response: httpx.Response
) -> ApplicationError:
    """The activity failure for an ``ok: false`` answer, through the shared outcome mapping."""
    error = str(body.get("error", "unknown_error"))
    if error == "missing_scope":
        needed = body.get("needed") or _SCOPES.get(method, "the method's")
        return vendor_http.needs_operator(
            VENDOR,
            f"missing_scope: the bot token lacks the {needed} scope for {method}",
            "Add it to the Slack app and reinstall it.",
        )
    if error in _OPERATOR_ERRORS:
        problem, _, fix = _OPERATOR_ERRORS[error].partition(". ")
        return vendor_http.needs_operator(VENDOR, f"{error}: {problem}", fix)
    if error in _RATE_LIMIT_ERRORS:
        return vendor_http.rate_limited(VENDOR, vendor_http.retry_after(response.headers))
    if error in _MALFORMED_ERRORS:
        return vendor_http.rejected(VENDOR, f"{error} ({method})")
    # Anything else (internal_error, service_unavailable, ...) is treated as passing.
    return vendor_http.unavailable(VENDOR, error)


def _next_cursor(body: Mapping[str, Any]) -> str:
    metadata = body.get("response_metadata")
    cursor = metadata.get("next_cursor") if isinstance(metadata, Mapping) else None
    return cursor if isinstance(cursor, str) else ""


class SlackSalesAlert:
    """``post_sales_alert`` with Slack's ``chat.postMessage``, never twice for one journey as far
    as Slack allows: retries look for the alert with ``conversations.history`` first."""

    def __init__(self, client: httpx.AsyncClient, settings: VendorSettings) -> None:
        self._client = client
        self._api = settings.slack_base_url.rstrip("/")
        self._token = settings.slack_bot_token
        self._channel = settings.slack_sales_channel
        self._ui_url = settings.temporal_ui_url
        # The history takes the channel's ID: the setting's, else learnt once and kept.
        self._channel_id = self._channel if _CHANNEL_ID.match(self._channel) else None
        self._resolving = asyncio.Lock()

    async def post(self, alert: SalesAlert) -> SalesAlertPosted:
        info = activity.info()
        workflow_id, run_id = current_journey()
        if info.attempt > 1 or alert.attempted:
            # An earlier attempt may have posted and lost the answer: look before posting again.
            earlier = await self.find_posted(workflow_id, since=info.scheduled_time)
            if earlier is not None:
                activity.logger.info("Sales alert already posted by an earlier attempt; kept it")
                return earlier
        link = run_link(self._ui_url, info.namespace, workflow_id, run_id)
        message = alert_message(alert, self._channel, link)
        message["metadata"] = alert_metadata(workflow_id)
        body = await self._call("chat.postMessage", json=message)
        channel_id = str(body.get("channel", ""))
        if self._channel_id is None and channel_id:
            self._channel_id = channel_id
        return SalesAlertPosted(channel=channel_id, ts=str(body.get("ts", "")))

    async def find_posted(self, journey_id: str, *, since: datetime) -> SalesAlertPosted | None:
        """The journey's alert if the channel has one from ``since`` (less a margin) on."""
        channel_id = await self.channel_id()
        arguments = {
            "channel": channel_id,
            "oldest": slack_ts(since.astimezone(UTC) - LOOKBACK_MARGIN),
            "include_all_metadata": "true",
            "limit": str(PAGE_SIZE),
        }
        cursor = ""
        while True:
            body = await self._call(
                "conversations.history",
                params={**arguments, **({"cursor": cursor} if cursor else {})},
            )
            for message in body.get("messages") or []:
                if isinstance(message, Mapping) and is_alert_of(message, journey_id):
                    return SalesAlertPosted(channel=channel_id, ts=str(message.get("ts", "")))
            cursor = _next_cursor(body)
            if not cursor:
                return None

    async def channel_id(self) -> str:
        """The sales channel's ID, resolved from its name with ``conversations.list`` once."""
        if self._channel_id is not None:
            return self._channel_id
        async with self._resolving:
            if self._channel_id is not None:
                return self._channel_id
            name = self._channel.strip().lstrip("#").lower()
            cursor = ""
            while True:
                arguments = {
                    "types": "public_channel,private_channel",
                    "exclude_archived": "true",
                    "limit": str(PAGE_SIZE),
                    **({"cursor": cursor} if cursor else {}),
                }
                body = await self._call("conversations.list", params=arguments)
                for channel in body.get("channels") or []:
                    if isinstance(channel, Mapping) and channel.get("name") == name:
                        self._channel_id = str(channel.get("id", ""))
                        return self._channel_id
                cursor = _next_cursor(body)
                if not cursor:
                    raise vendor_http.needs_operator(
                        VENDOR,
                        f"channel_not_found: the bot sees no channel named #{name}",
                        "Check SLACK_SALES_CHANNEL, and invite the bot if the channel is private.",
                    )

    async def _call(
        self,
        method: str,
        *,
        json: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """One Web API call (POST with a JSON body, else GET): the answer when ``ok``, else the
        failure the shared mapping gives."""
        headers = {"Authorization": f"Bearer {self._token.get_secret_value()}"}
        if json is not None:
            headers["Content-Type"] = "application/json; charset=utf-8"
        response = await vendor_http.send(
            self._client,
            VENDOR,
            "POST" if json is not None else "GET",
            f"{self._api}/{method}",
            json=json,
            params=params,
            headers=headers,
        )
        vendor_http.raise_for_outcome(VENDOR, response, credential="SLACK_BOT_TOKEN")
        body = vendor_http.json_object(VENDOR, response)
        if body.get("ok") is True:
            return body
        raise slack_failure(method, body, response)
