"""The activity of each vendor role: it calls the provider the request names, else the role's
configured one, and answers with the provider's name.

A role's new calls arrive on the role's queue (``onboarding-email``) and take the provider this
worker is configured with, so a journey in flight takes a newly configured provider at its next
call. A call that must stay with one provider (a retry of a call it began, a queued lookup asked
again, the enrichment waterfall's next step) names it and arrives on that provider's queue
(``onboarding-email-postmark``). Every failure names its provider in its details, so the
journey pins the retry to it.

The email role checks the suppression list and writes the email (``Mailroom``) before any
provider sees it: an address that must get nothing is answered ``suppressed``, sending nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import vendor_http
from activities.contracts import (
    ENRICH_SIGNUP,
    LOOK_UP_TECHNOGRAPHICS,
    POST_SALES_ALERT,
    SEND_ONBOARDING_EMAIL,
    EmailSent,
    Enrichment,
    EnrichmentRequest,
    EnrichmentStatus,
    OnboardingEmail,
    ProviderCall,
    SalesAlert,
    SalesAlertPosted,
    Technographics,
    TechnographicsRequest,
)
from activities.mailroom import Mailroom
from activities.settings import VendorSettings
from activities.suppression import Reason
from activities.vendors import VENDORS, failed_provider, title_of

Provider = Callable[[Any], Awaitable[Any]]
AnswerT = TypeVar("AnswerT", bound=BaseModel)


class RoleActivities:
    """One activity per role, over the providers this worker can call (``providers``: name →
    the provider's call)."""

    def __init__(
        self, settings: VendorSettings, providers: Mapping[str, Provider], mailroom: Mailroom
    ) -> None:
        self._settings = settings
        self._providers = dict(providers)
        self._mailroom = mailroom

    def _provider(self, activity_name: str, request: ProviderCall) -> str:
        return request.provider or self._settings.providers(activity_name)[0]

    async def _call(
        self,
        activity_name: str,
        request: ProviderCall,
        answer_type: type[AnswerT],
        argument: Any = None,
    ) -> AnswerT:
        """Call the request's provider with ``argument`` (default: the request itself)."""
        name = self._provider(activity_name, request)
        call = self._providers.get(name)
        if call is None:
            # A call begun with a provider this worker has no key for: another worker may.
            raise vendor_http.needs_operator(
                title_of(name),
                "this worker has no credential to finish a call begun with it",
                f"Set {VENDORS[name].key_env} on a worker until such calls drain.",
            )
        try:
            answer = await call(request if argument is None else argument)
        except ApplicationError as failure:
            if failed_provider(failure.details) == name:
                raise
            raise ApplicationError(
                failure.message,
                name,
                type=failure.type,
                non_retryable=failure.non_retryable,
                next_retry_delay=failure.next_retry_delay,
            ) from None
        if not isinstance(answer, answer_type):
            raise TypeError(f"{name} answered a {type(answer).__name__}")
        return answer.model_copy(update={"provider": name})

    @activity.defn(name=ENRICH_SIGNUP)
    async def enrich(self, request: EnrichmentRequest) -> Enrichment:
        answer = await self._call(ENRICH_SIGNUP, request, Enrichment)
        if answer.status is EnrichmentStatus.NOT_FOUND:
            # The waterfall: a miss hands the signup to the next configured provider.
            order = self._settings.providers(ENRICH_SIGNUP)
            if answer.provider in order:
                later = order[order.index(answer.provider) + 1 :]
                answer.next_provider = later[0] if later else None
        return answer

    @activity.defn(name=LOOK_UP_TECHNOGRAPHICS)
    async def look_up(self, request: TechnographicsRequest) -> Technographics:
        return await self._call(LOOK_UP_TECHNOGRAPHICS, request, Technographics)

    @activity.defn(name=POST_SALES_ALERT)
    async def post(self, alert: SalesAlert) -> SalesAlertPosted:
        return await self._call(POST_SALES_ALERT, alert, SalesAlertPosted)

    @activity.defn(name=SEND_ONBOARDING_EMAIL)
    async def send(self, email: OnboardingEmail) -> EmailSent:
        name = self._provider(SEND_ONBOARDING_EMAIL, email)
        outgoing = await self._mailroom.prepare(email, name)
        if isinstance(outgoing, Reason):
            activity.logger.info("Onboarding email not sent: the address is %s", outgoing)
            return EmailSent(provider=name, suppressed=str(outgoing))
        sent: EmailSent = await self._call(SEND_ONBOARDING_EMAIL, email, EmailSent, outgoing)
        await self._mailroom.sent(email)
        return sent

    def by_activity(self) -> dict[str, Callable[..., Any]]:
        """Each role's activity, by the activity name the journey calls."""
        return {
            ENRICH_SIGNUP: self.enrich,
            LOOK_UP_TECHNOGRAPHICS: self.look_up,
            POST_SALES_ALERT: self.post,
            SEND_ONBOARDING_EMAIL: self.send,
        }
