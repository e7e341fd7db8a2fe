"""What every onboarding email carries, whichever provider sends it, and the checks before it goes.

Right before every send (every attempt), the address is looked up in the suppression list: an
address that unsubscribed, bounced or complained gets nothing, from this journey or any later one.
Then the email is written from the templates, with a visible unsubscribe link and the sender's
postal address in both bodies, and the one-click unsubscribe headers (RFC 8058); its reference
(``email_ref``, a hash of the journey and the step) is recorded against the journey and the
address's keyed hash, so a bounce or a complaint that names it finds its journey.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.exc import SQLAlchemyError

from activities.contracts import OnboardingEmail
from activities.email_content import EmailContent, EmailTemplates
from activities.journey_run import current_journey
from activities.suppression import Reason, SuppressionList
from activities.warehouse import Warehouse
from common.unsubscribe import UnsubscribeTokens, unsubscribe_url

log = logging.getLogger("onboarding.mailroom")

ONE_CLICK = "List-Unsubscribe=One-Click"


def idempotency_key(workflow_id: str, number: int) -> str:
    """Derived from the journey and the step, so every retry of a send reuses it."""
    return f"{workflow_id}/email-{number}"


def email_reference(workflow_id: str, number: int) -> str:
    """The email's id for the vendors' events: the same on every attempt, no personal data, and
    only characters a Resend tag takes."""
    return hashlib.sha256(idempotency_key(workflow_id, number).encode()).hexdigest()[:40]


@dataclass(frozen=True)
class OutgoingEmail:
    """One onboarding email, written and ready for a provider to send."""

    request: OnboardingEmail
    content: EmailContent
    reference: str
    unsubscribe_url: str

    @property
    def headers(self) -> dict[str, str]:
        """The one-click unsubscribe headers (RFC 8058) that Gmail and Yahoo require."""
        return {"List-Unsubscribe": f"<{self.unsubscribe_url}>", "List-Unsubscribe-Post": ONE_CLICK}


class Mailroom:
    """Suppression check, writing and recording of every onboarding email."""

    def __init__(
        self,
        templates: EmailTemplates,
        tokens: UnsubscribeTokens,
        suppressions: SuppressionList,
        *,
        public_base_url: str,
        postal_address: str,
        warehouse: Warehouse | None = None,
    ) -> None:
        self._warehouse = warehouse
        self._templates = templates
        self._tokens = tokens
        self._suppressions = suppressions
        self._base_url = public_base_url
        self._postal_address = postal_address

    async def prepare(self, email: OnboardingEmail, provider: str) -> OutgoingEmail | Reason:
        """The email to send, or why the address must get nothing."""
        reason = await asyncio.to_thread(self._suppressions.reason, email.to)
        if reason is not None:
            return reason
        workflow_id, _ = current_journey()
        link = unsubscribe_url(self._base_url, self._tokens.token(workflow_id))
        content = self._templates.render(
            number=email.number,
            total=email.total,
            first_name=email.first_name,
            technology=email.technology,
            unsubscribe_url=link,
            postal_address=self._postal_address,
            variant=email.variant,
        )
        reference = email_reference(workflow_id, email.number)
        # Before the send: an event about this email can only arrive once it has gone out.
        await asyncio.to_thread(
            self._suppressions.record_email,
            reference,
            workflow_id,
            email.number,
            email.to,
            provider,
        )
        return OutgoingEmail(email, content, reference, link)

    async def sent(self, email: OnboardingEmail) -> None:
        """Mark the journey's row with the email just sent. The email is out: a warehouse failure
        here must not send it again, and the journey's next write carries the count anyway."""
        if self._warehouse is None or email.journey is None:
            return
        workflow_id, run_id = current_journey()
        row = email.journey.model_copy(
            update={
                "progress": email.journey.progress + 1,  # the step the journey adds for it
                "emails_sent": max(email.journey.emails_sent, email.number),
                "first_email_at": email.journey.first_email_at or datetime.now(UTC),
            }
        )
        try:
            await asyncio.to_thread(self._warehouse.record_journey, workflow_id, run_id, row)
        except SQLAlchemyError as exc:
            log.warning(
                "Journey row not updated after email %d (%s); the journey's next write will",
                email.number,
                type(exc).__name__,
            )
