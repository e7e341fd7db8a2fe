"""Sales alerts posted through a Slack incoming webhook: the same message the bot posts, in the
channel the webhook was made for.

An incoming webhook cannot be searched: there is no message metadata and no history to read.
So, unlike the bot (``activities.sales_alert``), a retry cannot look for an alert an earlier
attempt posted: a worker that crashes, or a call whose answer is lost, after Slack took the post
but before the activity completed, posts the alert twice. Choose the bot where that matters.

The webhook's whole URL is its secret: it is never put in a message, a log or the spend ledger.
Slack answers in plain text: ``ok``, or an error code with a matching status.
"""

from __future__ import annotations

import re

import httpx
from temporalio import activity

from activities import vendor_http
from activities.contracts import SalesAlert, SalesAlertPosted
from activities.journey_run import current_journey
from activities.sales_alert import alert_message, run_link
from activities.settings import VendorSettings
from activities.vendors import title_of

NAME = "slack-webhook"
VENDOR = title_of(NAME)
FIX = "Check SLACK_WEBHOOK_URL."
_CODE = re.compile(r"^[a-z0-9_]{1,64}$")

# Slack's codes that an operator must fix: the webhook or its channel, not the alert.
_OPERATOR_ERRORS = {
    "action_prohibited": "the workspace forbids posting through this webhook",
    "no_service": "the webhook was removed or disabled",
    "channel_not_found": "the webhook's channel no longer exists",
    "channel_is_archived": "the webhook's channel is archived",
    "no_team": "the webhook's workspace no longer exists",
    "team_disabled": "the webhook's workspace is disabled",
    "invalid_token": "the webhook is no longer valid",
}


def error_code(response: httpx.Response) -> str:
    """Slack's plain-text error code, or the status when the body is not one (never the body
    itself: it is not ours to trust)."""
    text = response.text.strip()
    return text if _CODE.match(text) else f"HTTP {response.status_code}"


class SlackWebhookSalesAlert:
    """The sales alert role with a Slack incoming webhook (``SLACK_WEBHOOK_URL``)."""

    def __init__(self, client: httpx.AsyncClient, settings: VendorSettings) -> None:
        self._client = client
        self._webhook = settings.slack_webhook_url
        self._ui_url = settings.temporal_ui_url

    async def post(self, alert: SalesAlert) -> SalesAlertPosted:
        info = activity.info()
        workflow_id, run_id = current_journey()
        link = run_link(self._ui_url, info.namespace, workflow_id, run_id)
        # The bot's message; the webhook's channel is fixed, so the channel is left out.
        message = alert_message(alert, "", link)
        response = await vendor_http.send(
            self._client,
            VENDOR,
            "POST",
            self._webhook_url(),
            secret_path=True,
            json={"text": message["text"], "blocks": message["blocks"]},
        )
        status = response.status_code
        if status == 200 and response.text.strip() == "ok":
            return SalesAlertPosted(channel="", ts="")
        code = error_code(response)
        if status == 429:
            raise vendor_http.rate_limited(VENDOR, vendor_http.retry_after(response.headers))
        if status >= 500 or status == 408:
            raise vendor_http.unavailable(VENDOR, code)
        if status < 300:
            raise vendor_http.unavailable(VENDOR, f"answered {code} instead of ok")
        if code in _OPERATOR_ERRORS:
            raise vendor_http.needs_operator(VENDOR, f"{code}: {_OPERATOR_ERRORS[code]}", FIX)
        if status in (401, 403, 404, 410):
            raise vendor_http.needs_operator(VENDOR, f"the webhook was refused ({code})", FIX)
        # invalid_payload, no_text, invalid_blocks...: the message itself; repeating cannot help.
        raise vendor_http.rejected(VENDOR, code)

    def _webhook_url(self) -> str:
        """The webhook's URL; one that is not a web address fails without quoting it."""
        try:
            url = httpx.URL(self._webhook.get_secret_value().strip())
        except (httpx.InvalidURL, ValueError, TypeError):
            url = None
        if url is None or url.scheme not in ("http", "https") or not url.host:
            raise vendor_http.needs_operator(VENDOR, "the webhook URL is not a web address", FIX)
        return str(url)
