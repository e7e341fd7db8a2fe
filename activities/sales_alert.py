"""Sales alerts: a message to the sales channel in Slack when an enterprise signs up."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
from temporalio import activity

from activities import vendor_http
from activities.contracts import POST_SALES_ALERT, SalesAlert, SalesAlertPosted
from activities.journey_run import current_journey
from activities.settings import VendorSettings

VENDOR = "Slack"

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
    "missing_scope": "the bot token lacks the chat:write scope. Add it to the Slack app.",
    "no_permission": "the bot may not post there. Check the Slack app's permissions.",
    "restricted_action": "the workspace forbids the bot from posting there.",
    "team_access_not_granted": "the token has no access to this workspace.",
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


class SlackSalesAlert:
    """``post_sales_alert`` with Slack's ``chat.postMessage``."""

    def __init__(self, client: httpx.AsyncClient, settings: VendorSettings) -> None:
        self._client = client
        self._url = settings.slack_base_url.rstrip("/") + "/chat.postMessage"
        self._token = settings.slack_bot_token
        self._channel = settings.slack_sales_channel
        self._ui_url = settings.temporal_ui_url

    @activity.defn(name=POST_SALES_ALERT)
    async def post(self, alert: SalesAlert) -> SalesAlertPosted:
        workflow_id, run_id = current_journey()
        link = run_link(self._ui_url, activity.info().namespace, workflow_id, run_id)
        response = await vendor_http.send(
            self._client,
            VENDOR,
            "POST",
            self._url,
            json=alert_message(alert, self._channel, link),
            headers={
                "Authorization": f"Bearer {self._token.get_secret_value()}",
                "Content-Type": "application/json; charset=utf-8",
            },
        )
        vendor_http.raise_for_outcome(VENDOR, response, credential="SLACK_BOT_TOKEN")
        try:
            body = response.json()
        except ValueError:
            raise vendor_http.unavailable(VENDOR, "answered with a body that is not JSON") from None
        if body.get("ok") is True:
            return SalesAlertPosted(
                channel=str(body.get("channel", "")), ts=str(body.get("ts", ""))
            )
        error = str(body.get("error", "unknown_error"))
        if error in _OPERATOR_ERRORS:
            problem, _, fix = _OPERATOR_ERRORS[error].partition(". ")
            raise vendor_http.needs_operator(VENDOR, f"{error}: {problem}", fix)
        if error in _RATE_LIMIT_ERRORS:
            raise vendor_http.rate_limited(VENDOR, vendor_http.retry_after(response.headers))
        if error in _MALFORMED_ERRORS:
            raise vendor_http.rejected(VENDOR, error)
        # Anything else (internal_error, service_unavailable, ...) is treated as passing.
        raise vendor_http.unavailable(VENDOR, error)
