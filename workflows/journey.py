"""The onboarding journey of one signup, as one durable workflow.

Enrich the signup (the configured providers in turn, until one has a match) and save the payload.
An enterprise (more employees than the threshold) gets a sales alert. Anyone else: look the
company's stack up and save it; if the stack has a technology we integrate with, send the
onboarding emails on their schedule, each inside the send window of the reader's time zone.
Which vendor serves each role is the worker's configuration: every answer names its provider,
and the journey's path and warehouse rows name it too.

``unsubscribe`` and ``convert`` (and ``bounced``, ``complained``: the email events) stop the
journey before its next outbound step; an address on the suppression list gets no email either,
whichever journey it is in. ``pause`` holds the journey there (the email schedule shifts by the
paused time) until ``resume``; the ``reschedule`` update moves the next email.

The rules it decides with are in ``rules.py``; how it calls activities in ``calls.py``; what it
publishes about itself (search attributes, current details, metrics) in ``status.py``.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.contracts import (
        ENRICH_SIGNUP,
        LOOK_UP_TECHNOGRAPHICS,
        POST_SALES_ALERT,
        RECORD_JOURNEY,
        SAVE_TO_WAREHOUSE,
        SEND_ONBOARDING_EMAIL,
        Company,
        EmailSent,
        Enrichment,
        EnrichmentRequest,
        EnrichmentStatus,
        JourneyProgress,
        OnboardingEmail,
        SalesAlert,
        SalesAlertPosted,
        Technographics,
        TechnographicsRequest,
        TechnographicsStatus,
        WarehouseRecord,
    )
    from activities.vendors import title_of
    from common.durations import format_offset
    from workflows import search_attributes as sa
    from workflows.calls import call_vendor, save_to_warehouse
    from workflows.models import (
        JourneyConfig,
        JourneyInput,
        JourneyState,
        Outcome,
        RescheduleRequest,
        Segment,
        SentEmail,
        Signup,
        Stage,
    )
    from workflows.rules import (
        EmailClock,
        employees_lower_bound,
        integrated_technology,
        local_time,
        segment_of,
        send_window_zone,
        size_text,
    )
    from workflows.status import JourneyStatus, count

ResultT = TypeVar("ResultT")


@workflow.defn(name="OnboardingJourney")
class OnboardingJourney:
    def __init__(self) -> None:
        self._state = JourneyState()
        self._status = JourneyStatus(self._state)
        self._config = JourneyConfig()
        self._stop: Outcome | None = None
        self._emails = EmailClock(schedule=[])
        self._wake = False

    @workflow.run
    async def run(self, journey: JourneyInput) -> JourneyState:
        signup, config = journey.signup, journey.config
        self._config = config
        self._emails = EmailClock(schedule=config.email_schedule)
        self._status.started(signup, config)
        count("onboarding_journeys_started", "Journeys started.")

        enrichment = await self._enrich(signup)
        if self._stop and enrichment.status is EnrichmentStatus.QUEUED:
            return await self._end(self._stop)
        by = title_of(enrichment.provider)
        if enrichment.status is EnrichmentStatus.INVALID_EMAIL:
            return await self._end(Outcome.INVALID_EMAIL, f"{by}: not a person's email address")
        if enrichment.status is not EnrichmentStatus.FOUND or enrichment.payload is None:
            return await self._end(Outcome.NOT_ENRICHED, f"{by}: no person or company found")
        await self._save(Stage.SAVING_ENRICHMENT, "enrichment", enrichment)
        self._state.time_zone = send_window_zone(enrichment.time_zone, config)
        company = enrichment.company
        if company is None:
            return await self._end(Outcome.NO_COMPANY, f"{by}: person found, no company")

        segment = self._segment(company, signup)
        if segment is Segment.ENTERPRISE:
            if not await self._may_proceed():
                return await self._end(self._stop or Outcome.UNSUBSCRIBED)
            await self._alert_sales(signup, company)
            return await self._end(self._stop or Outcome.SALES_ALERTED)

        domain = company.domain or signup.company_domain
        if domain is None:
            return await self._end(Outcome.NO_INTEGRATION, "no company domain to look up")
        if not await self._may_proceed():
            return await self._end(self._stop or Outcome.UNSUBSCRIBED)
        stack = await self._look_up_stack(domain)
        if stack.status is TechnographicsStatus.QUEUED:
            return await self._end(
                self._stop or Outcome.NO_INTEGRATION,
                f"{title_of(stack.provider)}: the stack lookup stayed queued",
            )
        await self._save(Stage.SAVING_STACK, "technographics", stack)
        technology = integrated_technology(stack.technologies, config.integrated_technologies)
        if technology is None:
            return await self._end(Outcome.NO_INTEGRATION, "no integrated technology in the stack")
        self._state.matched_technology = technology
        self._status.step(f"stack runs {technology}")
        if self._stop:
            return await self._end(self._stop)

        suppressed = await self._send_emails(signup, technology)
        if suppressed is not None:
            return await self._end(suppressed)
        return await self._end(self._stop or Outcome.EMAILS_COMPLETED)

    @workflow.signal
    def unsubscribe(self) -> None:
        """No further email; the journey ends ``unsubscribed``."""
        self._stop = self._stop or Outcome.UNSUBSCRIBED

    @workflow.signal
    def bounced(self) -> None:
        """An email bounced for good: no further email; the journey ends ``bounced``."""
        self._stop = self._stop or Outcome.BOUNCED

    @workflow.signal
    def complained(self) -> None:
        """The reader marked an email as spam: no further email; the journey ends ``complained``."""
        self._stop = self._stop or Outcome.COMPLAINED

    @workflow.signal
    def convert(self) -> None:
        """The user finished onboarding: stop the sequence; the journey ends ``converted``."""
        self._stop = self._stop or Outcome.CONVERTED

    @workflow.signal
    def pause(self) -> None:
        """Hold the journey before its next outbound step; the email schedule shifts meanwhile."""
        if not self._state.paused and self._state.outcome is None:
            self._state.paused = True
            self._emails.pause(workflow.now())
            self._status.show_now("paused")

    @workflow.signal
    def resume(self) -> None:
        """Carry on after ``pause``."""
        if self._state.paused:
            self._state.paused = False
            self._emails.resume(workflow.now())
            self._status.show_now("resumed")

    @workflow.update
    def reschedule(self, request: RescheduleRequest) -> datetime:
        """Move the next email to ``request.send_at``; answers the new due time."""
        number = self._state.next_email_number
        assert number is not None  # the validator guarantees it
        self._emails.reschedule(number, request.send_at, workflow.now())
        self._state.next_email_due_at = request.send_at
        self._wake = True
        self._status.step(f"email {number} rescheduled")
        return request.send_at

    @reschedule.validator
    def _check_reschedule(self, request: RescheduleRequest) -> None:
        if self._state.outcome is not None:
            raise ValueError(f"the journey has already ended ({self._state.outcome})")
        waiting = (Stage.WAITING_EMAIL, Stage.WAITING_SEND_WINDOW)
        if self._state.next_email_number is None or self._state.stage not in waiting:
            raise ValueError("no email is waiting to be sent")
        if request.send_at < workflow.now():
            raise ValueError("the new time is in the past")
        end = self._emails.due_at(len(self._config.email_schedule), workflow.now())
        if request.send_at > end:
            raise ValueError(f"the new time is after the sequence's end ({end.isoformat()})")

    @workflow.query
    def state(self) -> JourneyState:
        return self._state

    # The steps, in the order the journey takes them.

    async def _enrich(self, signup: Signup) -> Enrichment:
        """The configured providers in turn until one has a match (the worker names the next
        after a miss). A provider may queue a lookup: wait, and ask it again a bounded number
        of times."""
        config = self._config
        provider: str | None = None  # the role's configured provider, to begin with
        while True:
            self._status.set_stage(Stage.ENRICHING)
            polls = self._state.enrichment_polls
            enrichment = await self._call(
                ENRICH_SIGNUP,
                EnrichmentRequest(email=signup.email, provider=provider),
                Enrichment,
                f"enrichment by {title_of(provider)}" if provider else "enrichment",
            )
            by = title_of(enrichment.provider)
            self._state.providers["enrichment"] = enrichment.provider
            if enrichment.status is EnrichmentStatus.FOUND:
                self._state.enriched = True
                self._status.step(f"enriched by {by}")
            if enrichment.status is EnrichmentStatus.NOT_FOUND and enrichment.next_provider:
                provider = enrichment.next_provider
                self._status.step(f"{by}: no match; asking {title_of(provider)}")
                continue
            if enrichment.status is not EnrichmentStatus.QUEUED:
                return enrichment
            if polls >= config.enrichment_max_polls or self._stop:
                return enrichment
            self._state.enrichment_polls += 1
            provider = enrichment.provider  # the lookup it queued is its own: ask it again
            self._status.set_stage(Stage.WAITING_FOR_ENRICHMENT)
            self._status.step(f"{by} lookup queued")
            interval = config.enrichment_poll_interval
            await self._wait_for_stop(
                interval, f"{by} lookup queued: ask again in {format_offset(interval)}"
            )
            if not await self._may_proceed():
                return enrichment

    def _segment(self, company: Company, signup: Signup) -> Segment:
        segment = segment_of(company, self._config.enterprise_employee_threshold)
        employees = employees_lower_bound(company)
        self._state.segment = segment
        self._state.company_domain = company.domain or signup.company_domain
        self._state.company_employees = employees
        self._status.upsert(
            sa.JOURNEY_SEGMENT.value_set(segment),
            *([sa.COMPANY_EMPLOYEES.value_set(employees)] if employees is not None else []),
        )
        self._status.step(f"{segment} company ({size_text(company)})")
        return segment

    async def _save(self, stage: Stage, step: str, answer: Enrichment | Technographics) -> None:
        """Save a provider's raw answer under its role; the stage stays pending, for the next
        step to overtake."""
        self._status.set_stage(stage)
        record = WarehouseRecord(
            step=step,
            vendor=answer.provider,
            payload=answer.payload or {},
            journey=self._status.row(),
        )
        await self._record(SAVE_TO_WAREHOUSE, record, f"save {step}")
        self._status.step(f"saved {step} from {title_of(answer.provider)}")

    async def _alert_sales(self, signup: Signup, company: Company) -> None:
        self._status.set_stage(Stage.ALERTING_SALES)
        alert = SalesAlert(
            user_id=signup.user_id,
            first_name=signup.first_name,
            last_name=signup.last_name,
            email=signup.email,
            company=company,
        )
        # Slack has no idempotency key: the alert's retries must be the server's, whose attempt
        # numbers tell a retry to look for an alert already posted before posting again.
        posted = await self._call(
            POST_SALES_ALERT, alert, SalesAlertPosted, "sales alert", first_try=False
        )
        self._state.sales_alerted = True
        self._state.providers["sales_alert"] = posted.provider
        count("onboarding_sales_alerts", "Sales alerts posted.")
        self._status.step(f"sales alerted via {title_of(posted.provider)}")

    async def _look_up_stack(self, domain: str) -> Technographics:
        """A provider may queue the lookup (a crawl): wait, and ask it again a bounded number
        of times."""
        config = self._config
        provider: str | None = None
        while True:
            self._status.set_stage(Stage.CHECKING_STACK)
            stack = await self._call(
                LOOK_UP_TECHNOGRAPHICS,
                TechnographicsRequest(domain=domain, provider=provider),
                Technographics,
                f"stack lookup of {domain}",
            )
            by = title_of(stack.provider)
            self._state.providers["technographics"] = stack.provider
            if stack.status is TechnographicsStatus.FOUND:
                found = len(stack.technologies)
                self._status.step(f"{by} found {found} technolog{'y' if found == 1 else 'ies'}")
                return stack
            if self._state.stack_polls >= config.enrichment_max_polls or self._stop:
                return stack
            self._state.stack_polls += 1
            provider = stack.provider
            self._status.set_stage(Stage.WAITING_FOR_STACK)
            self._status.step(f"{by} lookup queued")
            interval = config.enrichment_poll_interval
            await self._wait_for_stop(
                interval, f"{by} lookup queued: ask again in {format_offset(interval)}"
            )
            if not await self._may_proceed():
                return stack

    async def _send_emails(self, signup: Signup, technology: str) -> Outcome | None:
        """Send the sequence; the outcome when the address turned out to be suppressed."""
        self._emails.started_at = workflow.now()
        total = len(self._config.email_schedule)
        for number in range(1, total + 1):
            self._state.next_email_number = number
            if not await self._wait_for_email(number, total):
                return None
            self._status.set_stage(Stage.SENDING_EMAIL)
            email = OnboardingEmail(
                number=number,
                total=total,
                to=signup.email,
                first_name=signup.first_name,
                technology=technology,
                variant=self._config.variant,
                journey=self._status.row(),
            )
            summary = f"onboarding email {number} of {total}"
            sent = await self._call(SEND_ONBOARDING_EMAIL, email, EmailSent, summary)
            if sent.suppressed:
                self._status.step(f"email {number} not sent: the address is {sent.suppressed}")
                return Outcome(sent.suppressed)
            self._emails.sent(number, workflow.now())
            self._state.emails.append(
                SentEmail(
                    number=number,
                    sent_at=workflow.now(),
                    message_id=sent.message_id,
                    provider=sent.provider,
                )
            )
            self._state.emails_sent = number
            self._state.providers["email"] = sent.provider
            self._status.upsert(sa.EMAILS_SENT.value_set(number))
            self._status.step(f"email {number} of {total} sent via {title_of(sent.provider)}")
            count("onboarding_emails_sent", "Onboarding emails sent.")
        self._state.next_email_number = None
        self._state.next_email_due_at = None
        return None

    async def _wait_for_email(self, number: int, total: int) -> bool:
        """Wait until email ``number`` is due and the send window is open, following pauses
        and reschedules; False if stopped."""
        gap = self._emails.gap_before(number)
        held_until: datetime | None = None
        while True:
            due = self._emails.due_at(number, workflow.now())
            self._state.next_email_due_at = due
            if self._stop:
                return False
            if self._state.paused:
                await self._may_proceed()
                continue
            wait = due - workflow.now()
            summary = f"wait {format_offset(gap)} before email {number} of {total}"
            if wait <= timedelta(0):
                opens = self._config.send_window.next_opening(workflow.now(), self._zone())
                self._state.send_window_opens_at = opens
                if opens is None:
                    return True
                wait = opens - workflow.now()
                summary = f"send window opens {local_time(opens, self._zone())}"
                self._status.set_stage(Stage.WAITING_SEND_WINDOW)
                if opens != held_until:
                    held_until = opens
                    self._status.step(f"email {number} held: {summary}")
            else:
                self._status.set_stage(Stage.WAITING_EMAIL)
            self._wake = False
            self._status.flush()
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: self._stop is not None or self._state.paused or self._wake,
                    timeout=wait,
                    timeout_summary=summary,
                )

    def _zone(self) -> str:
        return self._state.time_zone or self._config.send_window_timezone

    # Waiting, and what every step shares.

    async def _call(
        self,
        activity: str,
        arg: Any,
        result_type: type[ResultT],
        summary: str,
        *,
        first_try: bool = True,
    ) -> ResultT:
        return await call_vendor(
            activity,
            arg,
            result_type,
            start_to_close=self._config.vendor_call_timeout,
            summary=summary,
            publish=self._status.flush,
            first_try=first_try,
        )

    async def _may_proceed(self) -> bool:
        """Hold here while paused; False once the journey has been stopped."""
        if self._state.paused and not self._stop:
            self._status.flush()
            await workflow.wait_condition(lambda: not self._state.paused or self._stop is not None)
        return self._stop is None

    async def _wait_for_stop(self, duration: timedelta, summary: str) -> None:
        self._status.flush()
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: self._stop is not None, timeout=duration, timeout_summary=summary
            )

    async def _end(self, outcome: Outcome, reason: str | None = None) -> JourneyState:
        if reason:
            self._status.step(reason)
        self._status.ended(outcome)
        await self._record(RECORD_JOURNEY, self._status.row(), "record the journey's outcome")
        return self._state

    async def _record(
        self, activity: str, record: WarehouseRecord | JourneyProgress, summary: str
    ) -> None:
        await save_to_warehouse(
            activity,
            record,
            summary=summary,
            start_to_close=self._config.vendor_call_timeout,
            publish=self._status.flush,
            failing=lambda: self._status.step(f"warehouse failing: retrying to {summary}"),
        )
