"""Onboarding emails sent through Postmark (``POST /email``).

Postmark has no idempotency key. Every email carries metadata naming its journey and step
(``journey_email``: ``<workflow id>/email-<n>``, the key Resend deduplicates on; no personal
data), and a call that may repeat an earlier one (a retried attempt, or a request marked
``attempted``) first searches the sent messages for it and answers with the one it finds
instead of sending again.

What remains is a window Postmark gives no way to close: a send Postmark accepted but has not
yet made searchable when the retry searches is sent a second time (how soon an accepted message
becomes searchable is not documented). Retries start after the retry policy's backoff, and a
retry that finds nothing waits ``POSTMARK_SEARCH_GRACE_SECONDS`` and searches once more before it
sends: a search delay shorter than both together is closed; a longer one is the window.

Postmark limits metadata field names to 20 characters and values to 80 (it answers 422
otherwise). A journey's ID can make the key longer than 80 (user IDs take up to 128
characters); such a key is replaced by its SHA-256, the same on every attempt.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import vendor_http
from activities.contracts import EmailSent
from activities.journey_run import current_journey
from activities.mailroom import OutgoingEmail, idempotency_key
from activities.settings import VendorSettings
from activities.suppression import REFERENCE_FIELD
from activities.vendors import title_of

NAME = "postmark"
VENDOR = title_of(NAME)
METADATA_FIELD = "journey_email"
METADATA_VALUE_LIMIT = 80

# Postmark's ErrorCodes that an operator must fix: the request itself is fine.
_OPERATOR_ERRORS = {
    10: ("the server token was refused", "Check POSTMARK_SERVER_TOKEN."),
    400: (
        "no sender signature for the sender",
        "Check EMAIL_FROM and Postmark's sender signatures.",
    ),
    401: (
        "the sender signature is not confirmed",
        "Confirm EMAIL_FROM's sender signature in Postmark.",
    ),
    405: ("the account may not send (out of credits)", "Add credits to the Postmark account."),
    412: ("the account is pending approval", "Finish Postmark's account approval."),
    413: ("the account may not send", "Contact Postmark support."),
}
# ErrorCodes about this email itself: sending it again cannot help.
_REJECTED = {300: "invalid email request", 406: "inactive recipient (it bounced or complained)"}


def journey_email(workflow_id: str, number: int) -> str:
    """The metadata value marking email ``number`` of a journey: Resend's idempotency key, or its
    SHA-256 when that is too long for Postmark's metadata."""
    key = idempotency_key(workflow_id, number)
    if len(key) <= METADATA_VALUE_LIMIT:
        return key
    return "sha256-" + hashlib.sha256(key.encode()).hexdigest()


def postmark_failure(response: httpx.Response) -> ApplicationError | None:
    """The failure a Postmark ``ErrorCode`` calls for, or None to use the shared mapping."""
    if response.status_code == 429 or response.status_code >= 500:
        return None  # throttling and Postmark's own errors: retried like every vendor's
    try:
        body: Any = response.json()
    except ValueError:
        return None
    code = body.get("ErrorCode") if isinstance(body, dict) else None
    if not isinstance(code, int) or code == 0:
        return None
    message = body.get("Message")
    detail = f"ErrorCode {code}" + (f": {message}" if isinstance(message, str) and message else "")
    detail = vendor_http.without_emails(detail)[:300]
    if code in _OPERATOR_ERRORS:
        problem, fix = _OPERATOR_ERRORS[code]
        return vendor_http.needs_operator(VENDOR, f"{problem} ({detail})", fix)
    if code in _REJECTED:
        return vendor_http.rejected(VENDOR, f"{_REJECTED[code]} ({detail})")
    return vendor_http.rejected(VENDOR, detail)


class PostmarkEmail:
    """The onboarding email role with Postmark, searching before a possible resend."""

    def __init__(self, client: httpx.AsyncClient, settings: VendorSettings) -> None:
        self._client = client
        self._api = settings.postmark_base_url.rstrip("/")
        self._token = settings.postmark_server_token
        self._sender = settings.email_from
        self._stream = settings.postmark_message_stream
        self._grace = settings.postmark_search_grace_seconds

    async def send(self, outgoing: OutgoingEmail) -> EmailSent:
        email, content = outgoing.request, outgoing.content
        workflow_id, _ = current_journey()
        key = journey_email(workflow_id, email.number)
        if email.attempted or activity.info().attempt > 1:
            earlier = await self.find_sent(key)
            if earlier is None and (grace := self.grace()) > 0:
                # An email accepted moments ago may not be searchable yet: look once more.
                await asyncio.sleep(grace)
                earlier = await self.find_sent(key)
            if earlier is not None:
                activity.logger.info("Onboarding email already sent by an earlier call; kept it")
                return earlier
        body = await self._call(
            "POST",
            "/email",
            json={
                "From": self._sender,
                "To": email.to,
                "Subject": content.subject,
                "HtmlBody": content.html,
                "TextBody": content.text,
                "Tag": f"onboarding-email-{email.number}",
                "Metadata": {METADATA_FIELD: key, REFERENCE_FIELD: outgoing.reference},
                "Headers": [{"Name": k, "Value": v} for k, v in outgoing.headers.items()],
                "MessageStream": self._stream,
            },
        )
        message_id = body.get("MessageID")
        if not isinstance(message_id, str) or not message_id:
            raise vendor_http.unavailable(VENDOR, "answered without a message id")
        return EmailSent(message_id=message_id)

    def grace(self) -> float:
        """The wait before the second search: the setting, but at most a third of the call's
        own timeout, which must leave time for the search and the send."""
        timeout = activity.info().start_to_close_timeout
        if timeout:
            return max(0.0, min(self._grace, timeout.total_seconds() / 3))
        return self._grace

    async def find_sent(self, key: str) -> EmailSent | None:
        """The email marked ``key`` if Postmark has sent one (one metadata field per search)."""
        body = await self._call(
            "GET",
            "/messages/outbound",
            params={"count": "1", "offset": "0", f"metadata_{METADATA_FIELD}": key},
        )
        total = body.get("TotalCount")
        if not isinstance(total, int) or total <= 0:
            return None
        messages = body.get("Messages")
        first = messages[0] if isinstance(messages, list) and messages else None
        message_id = first.get("MessageID") if isinstance(first, dict) else None
        if not isinstance(message_id, str) or not message_id:
            raise vendor_http.unavailable(VENDOR, "found an email without a message id")
        return EmailSent(message_id=message_id)

    async def _call(
        self,
        method: str,
        path: str,
        *,
        json: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """One API call: its JSON object on success, else the failure its answer calls for."""
        response = await vendor_http.send(
            self._client,
            VENDOR,
            method,
            self._api + path,
            json=json,
            params=params,
            headers={
                "Accept": "application/json",
                "Content-Type": "application/json",
                "X-Postmark-Server-Token": self._token.get_secret_value(),
            },
        )
        if response.status_code >= 300 and (failure := postmark_failure(response)) is not None:
            raise failure
        vendor_http.raise_for_outcome(VENDOR, response, credential="POSTMARK_SERVER_TOKEN")
        return vendor_http.json_object(VENDOR, response)
