"""Onboarding emails, sent through Resend: the one-click unsubscribe headers in ``headers``, the
email's reference in its ``tags`` (Resend's events carry them back)."""

from __future__ import annotations

import httpx

from activities import vendor_http
from activities.contracts import EmailSent
from activities.journey_run import current_journey
from activities.mailroom import OutgoingEmail, idempotency_key
from activities.settings import VendorSettings
from activities.suppression import REFERENCE_FIELD

VENDOR = "Resend"


class ResendEmail:
    """``send_onboarding_email`` with Resend's ``POST /emails``."""

    def __init__(self, client: httpx.AsyncClient, settings: VendorSettings) -> None:
        self._client = client
        self._url = settings.resend_base_url.rstrip("/") + "/emails"
        self._key = settings.resend_api_key
        self._sender = settings.email_from

    async def send(self, outgoing: OutgoingEmail) -> EmailSent:
        workflow_id, _ = current_journey()
        email, content = outgoing.request, outgoing.content
        response = await vendor_http.send(
            self._client,
            VENDOR,
            "POST",
            self._url,
            json={
                "from": self._sender,
                "to": [email.to],
                "subject": content.subject,
                "html": content.html,
                "text": content.text,
                "headers": outgoing.headers,
                "tags": [
                    {"name": "journey", "value": "onboarding"},
                    {"name": "step", "value": f"email-{email.number}"},
                    {"name": REFERENCE_FIELD, "value": outgoing.reference},
                ],
            },
            headers={
                "Authorization": f"Bearer {self._key.get_secret_value()}",
                "Idempotency-Key": idempotency_key(workflow_id, email.number),
            },
        )
        if response.status_code == 409:
            name = vendor_http.error_detail(response)
            if "concurrent" in name:
                # The first attempt is still being processed; its answer will be replayed.
                raise vendor_http.unavailable(VENDOR, name)
            raise vendor_http.rejected(VENDOR, name)
        vendor_http.raise_for_outcome(VENDOR, response, credential="RESEND_API_KEY")
        try:
            message_id = str(response.json()["id"])
        except (ValueError, KeyError, TypeError):
            raise vendor_http.unavailable(VENDOR, "answered without a message id") from None
        return EmailSent(message_id=message_id)
