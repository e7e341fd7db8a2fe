"""What a journey publishes about itself while it runs: its search attributes (the Web UI's and
``onboarding journeys``' filters), its current details (the run page's summary), its metrics, and
its row in the warehouse's ``journeys`` table (which the journey's own writes carry).

Search-attribute changes are collected and sent as one upsert (one history event, one
visibility write, one billed action) just before the journey next waits: a timer, a condition,
or the retries of a vendor call. A value the journey was started with is never sent again.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.contracts import JourneyProgress
    from workflows import search_attributes as sa
    from workflows.models import JourneyConfig, JourneyState, Outcome, Signup, Stage

_UNSET = object()


class JourneyStatus:
    def __init__(self, state: JourneyState) -> None:
        self.state = state
        self._pending: dict[str, Any] = {}  # attribute name -> its latest change, not yet sent
        self._from_start: dict[str, Any] = {}  # attribute name -> the value the start set
        self._row = JourneyProgress(progress=0, started_at=datetime.fromtimestamp(0, UTC))

    def started(self, signup: Signup, config: JourneyConfig) -> None:
        """Remember what the start set, so the first upsert does not repeat it."""
        self._from_start = {
            pair.key.name: pair.value for pair in workflow.info().typed_search_attributes
        }
        self._row = JourneyProgress(
            progress=0,
            started_at=workflow.info().start_time,
            signed_up_at=signup.signed_up_at,
            experiment=config.experiment if config.variant else None,
            variant=config.variant,
        )

    def row(self) -> JourneyProgress:
        """The journey's row in the warehouse as of now."""
        state = self.state
        return self._row.model_copy(
            update={
                "progress": len(state.path),
                "enriched": state.enriched,
                "segment": state.segment,
                "company_employees": state.company_employees,
                "providers": dict(state.providers),
                "sales_alerted": state.sales_alerted,
                "matched_technology": state.matched_technology,
                "emails_sent": state.emails_sent,
                "first_email_at": state.emails[0].sent_at if state.emails else None,
                "outcome": state.outcome,
                "ended_at": workflow.now() if state.outcome else None,
            }
        )

    def set_stage(self, stage: Stage) -> None:
        self.state.stage = stage
        self.publish_stage()

    def publish_stage(self) -> None:
        """The stage label changes with the stage, a pause and the next email's number."""
        self.upsert(sa.JOURNEY_STAGE.value_set(self.state.stage_label))

    def upsert(self, *updates: Any) -> None:
        self._pending.update((update.key.name, update) for update in updates)
        self._publish_details()

    def flush(self) -> None:
        """Send the changes collected since the last flush, as one upsert."""
        updates = [
            update
            for name, update in self._pending.items()
            if self._from_start.pop(name, _UNSET) != update.value
        ]
        self._pending.clear()
        if updates:
            workflow.upsert_search_attributes(updates)

    def show_now(self, step: str) -> None:
        """A pause or a resume, published at once: the journey may be waiting for days."""
        self.step(step)
        self.publish_stage()
        self.flush()

    def ended(self, outcome: Outcome) -> None:
        self.state.outcome = outcome
        self.state.paused = False
        self.state.next_email_number = None
        self.state.next_email_due_at = None
        self.state.send_window_opens_at = None
        self.set_stage(Stage.DONE)
        self.upsert(sa.JOURNEY_OUTCOME.value_set(outcome))
        self.flush()
        self.step(f"ended {outcome}")
        count("onboarding_journeys_finished", "Journeys finished.", outcome=str(outcome))

    def step(self, description: str) -> None:
        """One more step on the journey's path."""
        self.state.path.append(description)
        self._publish_details()

    def _publish_details(self) -> None:
        """The run page's current details in the Web UI: where the journey is, and its path."""
        state = self.state
        lines = [f"**Stage:** {state.stage_label}"]
        if state.segment:
            size = f" · {state.company_employees} employees" if state.company_employees else ""
            lines.append(f"**Segment:** {state.segment}{size} · {state.company_domain or '-'}")
        if state.matched_technology:
            lines.append(f"**Integration:** {state.matched_technology}")
        if state.emails_sent or state.next_email_due_at:
            due = state.next_email_due_at
            when = (
                f" · email {state.next_email_number} due {due:%Y-%m-%d %H:%M:%S} UTC" if due else ""
            )
            lines.append(f"**Emails sent:** {state.emails_sent}{when}")
        if state.stage is Stage.WAITING_SEND_WINDOW and state.send_window_opens_at:
            opens = state.send_window_opens_at
            lines.append(f"**Send window opens:** {opens:%Y-%m-%d %H:%M:%S} UTC")
        if state.outcome:
            lines.append(f"**Outcome:** {state.outcome}")
        lines += ["", "**Path so far**", *(f"1. {step}" for step in state.path)]
        workflow.set_current_details("\n".join(lines))


def count(metric: str, description: str, **labels: str) -> None:
    """Add one to a journey metric on the worker's endpoint; the SDK's workflow meter records
    nothing while a run is replayed, so a replay never counts twice."""
    workflow.metric_meter().create_counter(metric, description).add(1, labels or None)
