"""The onboarding journey of one signup, as one durable workflow.

Enrich the signup with Clearbit and save the payload. An enterprise (more employees than the
threshold) gets a sales alert in Slack. Anyone else: look the company's stack up in BuiltWith and
save it; if the stack has a technology we integrate with, send the onboarding emails on their
schedule. ``unsubscribe`` and ``convert`` stop the journey before its next outbound step;
``pause`` holds it there (the email schedule shifts by the paused time) until ``resume``;
the ``reschedule`` update moves the next email.
"""

from __future__ import annotations

import contextlib
import re
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import TimeoutError as TemporalTimeoutError

with workflow.unsafe.imports_passed_through():
    from activities.contracts import (
        ENRICH_SIGNUP,
        LOOK_UP_TECHNOGRAPHICS,
        POST_SALES_ALERT,
        SAVE_TO_WAREHOUSE,
        SEND_ONBOARDING_EMAIL,
        Company,
        EmailSent,
        Enrichment,
        EnrichmentRequest,
        EnrichmentStatus,
        OnboardingEmail,
        SalesAlert,
        SalesAlertPosted,
        Technographics,
        TechnographicsRequest,
        WarehouseRecord,
        vendor_task_queue,
    )
    from workflows import search_attributes as sa
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
        email_due_at,
        format_offset,
    )

# Vendor calls retry for as long as it takes: 5xx and timeouts back off exponentially, operator
# mistakes (bad keys, missing channel) wait at most two minutes between tries, so journeys resume
# on their own once the configuration is fixed. Only a request the vendor rejects is final.
VENDOR_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=2),
    maximum_attempts=0,
    non_retryable_error_types=["VendorRejectedRequest"],
)

# A save inside the workflow task gets a few quick tries before it becomes a regular activity.
LOCAL_SAVE_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=500),
    backoff_coefficient=2.0,
    maximum_attempts=3,
)

ResultT = TypeVar("ResultT")

# Journeys started since this change send all the search-attribute changes of one workflow task
# as one upsert (one history event, one visibility write, one billed action) instead of one each.
ONE_UPSERT_PER_TASK = "one-upsert-per-workflow-task"
# Journeys started since this change also save to the warehouse as local activities: the save
# runs inside the workflow task that asked for it (a marker in the history) instead of costing a
# task of its own, a round trip through the server and a visibility write. It implies the change
# above; a journey records only the newest of the two.
LOCAL_WAREHOUSE_SAVES = "local-warehouse-saves"
# Journeys started since this change also try each Clearbit, BuiltWith and Resend call once before
# they publish the stage of that call: a call that works at once (nearly all of them) costs no
# upsert, and one that fails shows its stage from its first failure on, while the server retries
# it. It implies both changes above.
STAGE_ON_RETRY = "stage-published-when-a-call-is-retried"

# A call's first try: one attempt, so a failure comes back to the journey to publish the stage.
FIRST_TRY = RetryPolicy(maximum_attempts=1)

_UNSET = object()

_RANGE_LOWER_BOUND = re.compile(r"^\s*(\d+)\s*([kK])?")


def employees_lower_bound(company: Company) -> int | None:
    """Head count, or the lower bound of Clearbit's ``employeesRange`` (``"251-1K"`` → 251)."""
    if company.employees is not None:
        return company.employees
    if company.employees_range:
        match = _RANGE_LOWER_BOUND.match(company.employees_range)
        if match:
            return int(match.group(1)) * (1000 if match.group(2) else 1)
    return None


def segment_of(company: Company, threshold: int) -> Segment:
    employees = employees_lower_bound(company)
    if employees is None:
        return Segment.UNKNOWN
    return Segment.ENTERPRISE if employees > threshold else Segment.SMB


def integrated_technology(stack: list[str], integrated: list[str]) -> str | None:
    """The first technology we integrate with (in configuration order) that the stack contains."""
    present = {name.casefold() for name in stack}
    return next((tech for tech in integrated if tech.casefold() in present), None)


def retry_delay(failed: ActivityError) -> timedelta | None:
    """How long to wait before retrying a call whose first try failed, as ``VENDOR_RETRY`` would
    (the vendor's ``Retry-After`` if it gave one); None when it must not be retried."""
    cause = failed.cause
    if isinstance(cause, ApplicationError):
        if cause.non_retryable or cause.type in (VENDOR_RETRY.non_retryable_error_types or ()):
            return None
        return cause.next_retry_delay or VENDOR_RETRY.initial_interval
    if isinstance(cause, TemporalTimeoutError):
        return VENDOR_RETRY.initial_interval
    return None  # cancelled or terminated: not a vendor's failure


@workflow.defn(name="OnboardingJourney")
class OnboardingJourney:
    def __init__(self) -> None:
        self._state = JourneyState()
        self._stop: Outcome | None = None
        self._pauses: list[tuple[datetime, datetime | None]] = []
        self._rescheduled: dict[int, tuple[datetime, datetime]] = {}
        self._wake = False
        self._schedule: list[timedelta] = []
        self._sequence_started_at: datetime | None = None
        self._previous_sent_at: datetime | None = None
        self._merge_upserts = False
        self._local_saves = False
        self._stage_on_retry = False
        self._pending: dict[str, Any] = {}  # attribute name -> its latest change, not yet sent
        self._from_start: dict[str, Any] = {}  # attribute name -> the value the start set

    @workflow.run
    async def run(self, journey: JourneyInput) -> JourneyState:
        self._stage_on_retry = workflow.patched(STAGE_ON_RETRY)
        self._local_saves = self._stage_on_retry or workflow.patched(LOCAL_WAREHOUSE_SAVES)
        self._merge_upserts = self._local_saves or workflow.patched(ONE_UPSERT_PER_TASK)
        self._from_start = {
            pair.key.name: pair.value for pair in workflow.info().typed_search_attributes
        }
        signup, config = journey.signup, journey.config
        self._count("onboarding_journeys_started", "Journeys started.")

        enrichment = await self._enrich(signup, config)
        if self._stop and enrichment.status is EnrichmentStatus.QUEUED:
            return self._end(self._stop)
        if enrichment.status is EnrichmentStatus.INVALID_EMAIL:
            return self._end(Outcome.INVALID_EMAIL, "Clearbit: not a person's email address")
        if enrichment.status is not EnrichmentStatus.FOUND or enrichment.payload is None:
            return self._end(Outcome.NOT_ENRICHED, "Clearbit: no person or company found")

        await self._save(
            config, Stage.SAVING_ENRICHMENT, "clearbit_enrichment", "clearbit", enrichment.payload
        )
        company = enrichment.company
        if company is None:
            return self._end(Outcome.NO_COMPANY, "Clearbit: person found, no company")

        segment = segment_of(company, config.enterprise_employee_threshold)
        self._state.segment = segment
        self._state.company_domain = company.domain or signup.company_domain
        self._state.company_employees = employees_lower_bound(company)
        self._upsert(
            sa.JOURNEY_SEGMENT.value_set(segment),
            *(
                [sa.COMPANY_EMPLOYEES.value_set(self._state.company_employees)]
                if self._state.company_employees is not None
                else []
            ),
        )
        self._step(f"{segment} company ({self._employees_text(company)})")

        if segment is Segment.ENTERPRISE:
            if not await self._may_proceed():
                return self._end(self._stop or Outcome.UNSUBSCRIBED)
            await self._alert_sales(signup, company, config)
            return self._end(self._stop or Outcome.SALES_ALERTED)

        domain = company.domain or signup.company_domain
        if domain is None:
            return self._end(Outcome.NO_INTEGRATION, "no company domain to look up")
        if not await self._may_proceed():
            return self._end(self._stop or Outcome.UNSUBSCRIBED)
        stack = await self._look_up_stack(domain, config)
        await self._save(
            config, Stage.SAVING_STACK, "builtwith_technographics", "builtwith", stack.payload
        )
        technology = integrated_technology(stack.technologies, config.integrated_technologies)
        if technology is None:
            return self._end(Outcome.NO_INTEGRATION, "no integrated technology in the stack")
        self._state.matched_technology = technology
        self._step(f"stack runs {technology}")
        if self._stop:
            return self._end(self._stop)

        await self._send_emails(signup, technology, config)
        return self._end(self._stop or Outcome.EMAILS_COMPLETED)

    @workflow.signal
    def unsubscribe(self) -> None:
        """No further email; the journey ends ``unsubscribed``."""
        self._stop = self._stop or Outcome.UNSUBSCRIBED

    @workflow.signal
    def convert(self) -> None:
        """The user finished onboarding: stop the sequence; the journey ends ``converted``."""
        self._stop = self._stop or Outcome.CONVERTED

    @workflow.signal
    def pause(self) -> None:
        """Hold the journey before its next outbound step; the email schedule shifts meanwhile."""
        if not self._state.paused and self._state.outcome is None:
            self._state.paused = True
            self._pauses.append((workflow.now(), None))
            self._step("paused")
            self._publish_stage()
            self._send_upserts()

    @workflow.signal
    def resume(self) -> None:
        """Carry on after ``pause``."""
        if self._state.paused:
            self._state.paused = False
            started, _ = self._pauses[-1]
            self._pauses[-1] = (started, workflow.now())
            self._step("resumed")
            self._publish_stage()
            self._send_upserts()

    @workflow.update
    def reschedule(self, request: RescheduleRequest) -> datetime:
        """Move the next email to ``request.send_at``; answers the new due time."""
        number = self._state.next_email_number
        assert number is not None  # the validator guarantees it
        self._rescheduled[number] = (request.send_at, workflow.now())
        self._state.next_email_due_at = request.send_at
        self._wake = True
        self._step(f"email {number} rescheduled")
        return request.send_at

    @reschedule.validator
    def _check_reschedule(self, request: RescheduleRequest) -> None:
        if self._state.outcome is not None:
            raise ValueError(f"the journey has already ended ({self._state.outcome})")
        number = self._state.next_email_number
        if number is None or self._state.stage is not Stage.WAITING_EMAIL:
            raise ValueError("no email is waiting to be sent")
        if request.send_at < workflow.now():
            raise ValueError("the new time is in the past")
        end = self._due_at(len(self._schedule))
        if request.send_at > end:
            raise ValueError(f"the new time is after the sequence's end ({end.isoformat()})")

    @workflow.query
    def state(self) -> JourneyState:
        return self._state

    # The steps, in the order the journey takes them.

    async def _enrich(self, signup: Signup, config: JourneyConfig) -> Enrichment:
        self._set_stage(Stage.ENRICHING)
        enrichment = await self._call(
            ENRICH_SIGNUP,
            EnrichmentRequest(email=signup.email),
            Enrichment,
            config,
            summary="Clearbit enrichment",
        )
        # A queued lookup is normal for Clearbit: ask again later, a bounded number of times.
        while enrichment.status is EnrichmentStatus.QUEUED:
            if self._state.enrichment_polls >= config.enrichment_max_polls or self._stop:
                break
            self._state.enrichment_polls += 1
            self._set_stage(Stage.WAITING_FOR_ENRICHMENT)
            self._step("Clearbit lookup queued")
            await self._wait_unless_stopped(
                config.enrichment_poll_interval,
                f"Clearbit lookup queued: ask again in {format_offset(config.enrichment_poll_interval)}",
            )
            if not await self._may_proceed():
                break
            self._set_stage(Stage.ENRICHING)
            enrichment = await self._call(
                ENRICH_SIGNUP,
                EnrichmentRequest(email=signup.email),
                Enrichment,
                config,
                summary=f"Clearbit enrichment, try {self._state.enrichment_polls + 1}",
            )
        if enrichment.status is EnrichmentStatus.FOUND:
            self._step("enriched by Clearbit")
        return enrichment

    async def _save(
        self,
        config: JourneyConfig,
        stage: Stage,
        step: str,
        vendor: str,
        payload: dict[str, Any],
    ) -> None:
        self._set_stage(stage)
        record = WarehouseRecord(step=step, vendor=vendor, payload=payload)
        if self._local_saves:
            # Saved within this workflow task; the stage change stays pending, for the next
            # step's upsert to overtake. A warehouse that keeps failing falls through to the
            # regular activity: it shows operators the reason on the pending activity and under
            # this stage, and retries until the warehouse is back.
            try:
                await workflow.execute_local_activity(
                    SAVE_TO_WAREHOUSE,
                    record,
                    start_to_close_timeout=config.vendor_call_timeout,
                    retry_policy=LOCAL_SAVE_RETRY,
                    summary=f"save {step}",
                )
                self._step(f"saved {step}")
                return
            except (ActivityError, ApplicationError, TemporalTimeoutError):
                # A local activity's failure arrives as its cause, not wrapped.
                self._step(f"warehouse failing: retrying the save of {step}")
        await self._call(
            SAVE_TO_WAREHOUSE,
            record,
            type(None),
            config,
            summary=f"save {step}",
            stage_on_retry=False,  # already failing: show the stage now
        )
        self._step(f"saved {step}")

    async def _alert_sales(self, signup: Signup, company: Company, config: JourneyConfig) -> None:
        self._set_stage(Stage.ALERTING_SALES)
        alert = SalesAlert(
            user_id=signup.user_id,
            first_name=signup.first_name,
            last_name=signup.last_name,
            email=signup.email,
            company=company,
        )
        # Slack has no idempotency key: the alert's retries must be the server's, whose attempt
        # numbers tell a retry to look for an alert already posted before posting again.
        await self._call(
            POST_SALES_ALERT,
            alert,
            SalesAlertPosted,
            config,
            summary="Slack sales alert",
            stage_on_retry=False,
        )
        self._state.sales_alerted = True
        self._count("onboarding_sales_alerts", "Sales alerts posted.")
        self._step("sales alerted in Slack")

    async def _look_up_stack(self, domain: str, config: JourneyConfig) -> Technographics:
        self._set_stage(Stage.CHECKING_STACK)
        stack = await self._call(
            LOOK_UP_TECHNOGRAPHICS,
            TechnographicsRequest(domain=domain),
            Technographics,
            config,
            summary=f"BuiltWith lookup of {domain}",
        )
        count = len(stack.technologies)
        self._step(f"BuiltWith found {count} technolog{'y' if count == 1 else 'ies'}")
        return stack

    async def _send_emails(self, signup: Signup, technology: str, config: JourneyConfig) -> None:
        self._schedule = config.email_schedule
        self._sequence_started_at = workflow.now()
        total = len(self._schedule)
        for number in range(1, total + 1):
            self._state.next_email_number = number
            if not await self._wait_for_email(number, total):
                return
            self._set_stage(Stage.SENDING_EMAIL)
            email = OnboardingEmail(
                number=number,
                total=total,
                to=signup.email,
                first_name=signup.first_name,
                technology=technology,
            )
            sent = await self._call(
                SEND_ONBOARDING_EMAIL,
                email,
                EmailSent,
                config,
                summary=f"onboarding email {number} of {total}",
            )
            self._previous_sent_at = workflow.now()
            self._state.emails.append(
                SentEmail(number=number, sent_at=self._previous_sent_at, message_id=sent.message_id)
            )
            self._state.emails_sent = number
            self._upsert(sa.EMAILS_SENT.value_set(number))
            self._step(f"email {number} of {total} sent")
            self._count("onboarding_emails_sent", "Onboarding emails sent.")
        self._state.next_email_number = None
        self._state.next_email_due_at = None

    async def _wait_for_email(self, number: int, total: int) -> bool:
        """Wait until email ``number`` is due, following pauses and reschedules; False if stopped."""
        gap = self._schedule[number - 1] - (
            self._schedule[number - 2] if number > 1 else timedelta(0)
        )
        while True:
            due = self._due_at(number)
            self._state.next_email_due_at = due
            if self._stop:
                return False
            if self._state.paused:
                await self._may_proceed()
                continue
            wait = due - workflow.now()
            if wait <= timedelta(0):
                return True
            self._set_stage(Stage.WAITING_EMAIL)
            self._wake = False
            self._send_upserts()
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: self._stop is not None or self._state.paused or self._wake,
                    timeout=wait,
                    timeout_summary=f"wait {format_offset(gap)} before email {number} of {total}",
                )

    def _due_at(self, number: int) -> datetime:
        """When email ``number`` is due now: its schedule, shifted by every pause since."""
        assert self._sequence_started_at is not None
        if number in self._rescheduled:
            send_at, moved_at = self._rescheduled[number]
            return send_at + self._paused_since(moved_at)
        previous = self._previous_sent_at if number == self._state.emails_sent + 1 else None
        due = email_due_at(self._schedule, number, self._sequence_started_at, previous)
        since = previous if previous is not None else self._sequence_started_at
        return due + self._paused_since(since)

    def _paused_since(self, moment: datetime) -> timedelta:
        now = workflow.now()
        total = timedelta(0)
        for started, ended in self._pauses:
            start, end = max(started, moment), ended or now
            if end > start:
                total += end - start
        return total

    # Plumbing.

    async def _call(
        self,
        activity: str,
        arg: Any,
        result_type: type[ResultT],
        config: JourneyConfig,
        *,
        summary: str,
        stage_on_retry: bool = True,
    ) -> ResultT:
        """The vendor call, retried until it works (or the vendor rejects the request).

        The stage and the other search-attribute changes pending are published before the call,
        or, for a call that is safe to schedule twice (``stage_on_retry``), only once its first
        try has failed: a call that works at once costs no upsert."""
        if stage_on_retry and self._stage_on_retry:
            try:
                return await self._execute(activity, arg, result_type, config, summary, FIRST_TRY)
            except ActivityError as failed:
                delay = retry_delay(failed)
                if delay is None:
                    raise
            self._send_upserts()
            await workflow.sleep(delay, summary=f"retry {summary} in {format_offset(delay)}")
        else:
            self._send_upserts()
        return await self._execute(activity, arg, result_type, config, summary, VENDOR_RETRY)

    @staticmethod
    async def _execute(
        activity: str,
        arg: Any,
        result_type: type[ResultT],
        config: JourneyConfig,
        summary: str,
        retry_policy: RetryPolicy,
    ) -> ResultT:
        result: ResultT = await workflow.execute_activity(
            activity,
            arg,
            result_type=result_type,
            task_queue=vendor_task_queue(workflow.info().task_queue, activity),
            start_to_close_timeout=config.vendor_call_timeout,
            retry_policy=retry_policy,
            summary=summary,
        )
        return result

    async def _may_proceed(self) -> bool:
        """Hold here while paused; False once the journey has been stopped."""
        if self._state.paused and not self._stop:
            self._send_upserts()
            await workflow.wait_condition(lambda: not self._state.paused or self._stop is not None)
        return self._stop is None

    async def _wait_unless_stopped(self, duration: timedelta, summary: str) -> None:
        self._send_upserts()
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: self._stop is not None, timeout=duration, timeout_summary=summary
            )

    def _set_stage(self, stage: Stage) -> None:
        self._state.stage = stage
        self._publish_stage()

    def _publish_stage(self) -> None:
        self._upsert(sa.JOURNEY_STAGE.value_set(self._state.stage_label))

    def _upsert(self, *updates: Any) -> None:
        if self._merge_upserts:
            self._pending.update((update.key.name, update) for update in updates)
        else:
            workflow.upsert_search_attributes(list(updates))
        self._publish_details()

    def _send_upserts(self) -> None:
        """The search-attribute changes made since the journey last published, as one upsert;
        called before every timer, condition and retried call, so the Web UI never shows a stale
        stage for longer than a call's first try. A value the journey was started with is not
        sent again."""
        updates = [
            update
            for name, update in self._pending.items()
            if self._from_start.pop(name, _UNSET) != update.value
        ]
        self._pending.clear()
        if updates:
            workflow.upsert_search_attributes(updates)

    def _step(self, description: str) -> None:
        self._state.path.append(description)
        self._publish_details()

    def _publish_details(self) -> None:
        """The run page's current details in the Web UI: where the journey is, and its path."""
        state = self._state
        lines = [f"**Stage:** {state.stage_label}"]
        if state.segment:
            size = f" · {state.company_employees} employees" if state.company_employees else ""
            lines.append(f"**Segment:** {state.segment}{size} · {state.company_domain or '-'}")
        if state.matched_technology:
            lines.append(f"**Integration:** {state.matched_technology}")
        if state.emails_sent or state.next_email_due_at:
            due = state.next_email_due_at
            lines.append(
                f"**Emails sent:** {state.emails_sent}"
                + (
                    f" · email {state.next_email_number} due {due:%Y-%m-%d %H:%M:%S} UTC"
                    if due
                    else ""
                )
            )
        if state.outcome:
            lines.append(f"**Outcome:** {state.outcome}")
        lines += ["", "**Path so far**", *(f"1. {step}" for step in state.path)]
        workflow.set_current_details("\n".join(lines))

    def _end(self, outcome: Outcome, reason: str | None = None) -> JourneyState:
        if reason:
            self._step(reason)
        self._state.outcome = outcome
        self._state.paused = False
        self._state.next_email_number = None
        self._state.next_email_due_at = None
        self._set_stage(Stage.DONE)
        self._upsert(sa.JOURNEY_OUTCOME.value_set(outcome))
        self._send_upserts()
        self._step(f"ended {outcome}")
        self._count("onboarding_journeys_finished", "Journeys finished.", outcome=str(outcome))
        return self._state

    @staticmethod
    def _count(metric: str, description: str, **labels: str) -> None:
        """Add one to a journey metric on the worker's endpoint; the SDK's workflow meter
        records nothing while a run is replayed, so a replay never counts twice."""
        workflow.metric_meter().create_counter(metric, description).add(1, labels or None)

    @staticmethod
    def _employees_text(company: Company) -> str:
        if company.employees is not None:
            return f"{company.employees} employees"
        if company.employees_range:
            return f"{company.employees_range} employees"
        return "size unknown"
