"""What a chaos run checks once the journeys have closed, counted where the effects landed.

Outcomes come from Temporal (each journey's result); emails and sales alerts from the vendor
sandbox (what Resend or Postmark accepted, what Slack stored); warehouse rows from the warehouse's own file.
Nothing is taken from the workers' word for it.

A journey that got an email event (an unsubscribe, a bounce, a complaint) is held to when its
emails were accepted against when the webhook answered 200 for the event: nothing may be accepted
after that answer, and it may end ``emails_completed`` only if its last email was accepted before.
"""

from __future__ import annotations

import re
import sqlite3
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory

from activities.contracts import POST_SALES_ALERT
from activities.sales_alert import ALERT_EVENT_TYPE
from sandbox import VENDORS, RecordedCall, SandboxState, SlackMessage
from workflows.models import journey_id

# The warehouse steps each outcome implies, saved once per journey.
WAREHOUSE_STEPS: dict[str, frozenset[str]] = {
    "sales_alerted": frozenset({"enrichment"}),
    "emails_completed": frozenset({"enrichment", "technographics"}),
    "no_integration": frozenset({"enrichment", "technographics"}),
    "no_company": frozenset({"enrichment"}),
    "not_enriched": frozenset(),
    "invalid_email": frozenset(),
}
# The event kinds the run sends, and the outcome each one stops a journey with.
EVENT_REASONS = {"unsubscribe": "unsubscribed", "bounce": "bounced", "complaint": "complained"}
_USER_IN_ALERT = re.compile(r"User `([^`]+)`")


@dataclass
class EmailEvent:
    """An email event the run sends for a journey once its email 1 was accepted, and how its
    delivery to the webhook went (wall-clock seconds, the clock the sandbox stamps emails with)."""

    kind: str  # unsubscribe, bounce or complaint
    delay: float  # seconds after email 1 was accepted
    provider: str | None = None  # the provider that accepted email 1, and so reports on it
    first_sent_at: float | None = None
    answered_at: float | None = None  # the first 200
    attempts: int = 0
    result: str | None = None
    replays: int = 0
    replay_results: list[str] = field(default_factory=list)
    failure: str | None = None

    @property
    def reason(self) -> str:
        """The outcome the event stops the journey with."""
        return EVENT_REASONS[self.kind]


@dataclass
class Journey:
    """One signup of the run, what its fixture implies, and how it ended."""

    user_id: str
    signup: dict[str, Any]
    expected: str
    accepted: bool = False
    status: str = "not started"
    outcome: str | None = None
    failure: str | None = None
    retries: Counter[str] = field(default_factory=Counter)
    alert_attempts: int = 0
    alert_last_attempt_at: datetime | None = None
    emails_sent: int = 0  # by the journey's own result
    email_event: EmailEvent | None = None

    @property
    def workflow_id(self) -> str:
        return journey_id(self.user_id)

    @property
    def email(self) -> str:
        return str(self.signup["email"])


def read_history(journey: Journey, history: WorkflowHistory) -> None:
    """Retries per activity (attempts beyond the first), and when the sales alert's last attempt
    started: Temporal records one started event per activity, carrying its final attempt."""
    scheduled: dict[int, str] = {}
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attributes = event.activity_task_scheduled_event_attributes
            scheduled[event.event_id] = attributes.activity_type.name
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            started = event.activity_task_started_event_attributes
            activity = scheduled.get(started.scheduled_event_id, "unknown")
            journey.retries[activity] += max(started.attempt - 1, 0)
            if activity == POST_SALES_ALERT:
                journey.alert_attempts = started.attempt
                journey.alert_last_attempt_at = event.event_time.ToDatetime(tzinfo=UTC)


def alert_journey(message: SlackMessage) -> str | None:
    """The journey a Slack message alerts about: from its metadata, else from its text."""
    metadata = message.metadata or {}
    payload = metadata.get("event_payload")
    if metadata.get("event_type") == ALERT_EVENT_TYPE and isinstance(payload, Mapping):
        found = payload.get("journey_id")
        if isinstance(found, str):
            return found
    match = _USER_IN_ALERT.search(str(message.blocks))
    return journey_id(match.group(1)) if match else None


def _posted_at(message: SlackMessage) -> datetime:
    return datetime.fromisoformat(message.posted_at.replace("Z", "+00:00"))


@dataclass
class Tally:
    """Effects counted at the vendors, against what the journeys should have produced."""

    lost: Counter[str] = field(default_factory=Counter)
    duplicated: Counter[str] = field(default_factory=Counter)
    unexpected: Counter[str] = field(default_factory=Counter)
    doubled_alerts: int = 0
    alerts_caught_by_lookup: int = 0
    emails_caught_by_key: int = 0
    emails_searched_first: int = 0
    examples: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        if len(self.examples) < 12:
            self.examples.append(text)


@dataclass(frozen=True)
class SentEmail:
    """An email a provider accepted: its journey key, recipients and subject, which provider,
    and when (the sandbox's stamp, to the millisecond)."""

    key: str
    to: tuple[str, ...]
    subject: str
    provider: str = ""
    accepted_at: str = ""

    @property
    def accepted_ms(self) -> int:
        """The acceptance in Unix milliseconds (the stamp is truncated to them)."""
        stamp = datetime.fromisoformat(self.accepted_at.replace("Z", "+00:00"))
        return round(stamp.timestamp() * 1000)


def sent_emails(state: SandboxState) -> list[SentEmail]:
    """Every email accepted, by either email provider."""
    return [
        SentEmail(
            email.idempotency_key or "",
            tuple(email.to),
            email.subject,
            "resend",
            email.accepted_at,
        )
        for email in state.sent_emails()
    ] + [
        SentEmail(
            message.metadata.get("journey_email", ""),
            message.recipients,
            message.subject,
            "postmark",
            message.submitted_at,
        )
        for message in state.postmark_messages()
    ]


def email_key(journey: Journey, number: int) -> str:
    """The email's key as both providers record it (``<workflow id>/email-<n>``)."""
    return f"{journey.workflow_id}/email-{number}"


def count_emails(
    journeys: Iterable[Journey],
    accepted: list[SentEmail],
    calls: list[RecordedCall],
    emails_per_journey: int,
    tally: Tally,
) -> None:
    """Each email of each journey accepted exactly once, by its key and by recipient; and how
    many retries Resend answered from its idempotency store, and how many Postmark retries
    searched for the first send before sending. A journey an email event stopped must have had
    accepted the emails it says it sent (``count_email_events`` checks the rest)."""
    by_key = Counter(email.key for email in accepted)
    by_recipient: dict[str, Counter[str]] = {}
    for email in accepted:
        for address in email.to:
            by_recipient.setdefault(address.lower(), Counter())[email.subject] += 1
    for journey in journeys:
        expected = emails_per_journey if journey.expected == "emails_completed" else 0
        keys = [email_key(journey, n) for n in range(1, expected + 1)]
        owed = keys if journey.email_event is None else keys[: journey.emails_sent]
        lost = [key for key in owed if by_key[key] == 0]
        doubled_by_key = sum(max(by_key[key] - 1, 0) for key in keys)
        subjects = by_recipient.get(journey.email.lower(), Counter())
        doubled_by_recipient = sum(max(n - 1, 0) for n in subjects.values())
        doubled = max(doubled_by_key, doubled_by_recipient)
        tally.lost["emails"] += len(lost)
        tally.duplicated["emails"] += doubled
        if lost:
            tally.note(f"{journey.workflow_id}: emails never accepted: {', '.join(lost)}")
        if doubled:
            tally.note(f"{journey.workflow_id}: {doubled} email(s) accepted twice")
        if expected == 0 and subjects:
            tally.unexpected["emails"] += sum(subjects.values())
            tally.note(f"{journey.workflow_id}: emails sent to a journey that should send none")
        tally.emails_caught_by_key += sum(
            1
            for call in calls
            if call.vendor == "resend" and call.duplicate and call.idempotency_key in keys
        )
    tally.emails_searched_first += sum(
        1 for call in calls if call.vendor == "postmark" and call.path.endswith("/outbound")
    )


def count_alerts(journeys: Iterable[Journey], messages: list[SlackMessage], tally: Tally) -> None:
    """At most one alert per journey, exactly one for an enterprise; and how many retries found
    their alert already posted instead of posting it again."""
    per_journey: dict[str, list[SlackMessage]] = {}
    for message in messages:
        owner = alert_journey(message)
        if owner is not None:
            per_journey.setdefault(owner, []).append(message)
    for journey in journeys:
        alerts = per_journey.get(journey.workflow_id, [])
        expected = 1 if journey.expected == "sales_alerted" else 0
        if expected and not alerts:
            tally.lost["alerts"] += 1
            tally.note(f"{journey.workflow_id}: no sales alert")
        if len(alerts) > 1:
            tally.duplicated["alerts"] += len(alerts) - 1
            tally.doubled_alerts += 1
            tally.note(f"{journey.workflow_id}: {len(alerts)} sales alerts")
        if not expected and alerts:
            tally.unexpected["alerts"] += len(alerts)
            tally.note(f"{journey.workflow_id}: a sales alert for a journey that needs none")
        last_attempt = journey.alert_last_attempt_at
        # A last attempt that began after the alert was stored found it rather than post again.
        if (
            alerts
            and journey.alert_attempts > 1
            and last_attempt is not None
            and _posted_at(alerts[0]) < last_attempt
        ):
            tally.alerts_caught_by_lookup += 1


def count_warehouse_rows(journeys: Iterable[Journey], database: Path, tally: Tally) -> None:
    """One row per journey and step, read straight from the warehouse's SQLite file."""
    rows: Counter[tuple[str, str]] = Counter()
    if database.exists():
        with sqlite3.connect(database) as connection:
            try:
                cursor = connection.execute(
                    "SELECT journey_id, step, COUNT(*) FROM journey_payloads "
                    "GROUP BY journey_id, step"
                )
            except sqlite3.OperationalError:
                cursor = None
            if cursor is not None:
                for journey, step, count in cursor:
                    rows[(str(journey), str(step))] = int(count)
    for journey in journeys:
        expected = WAREHOUSE_STEPS.get(journey.expected, frozenset())
        saved = {step: n for (owner, step), n in rows.items() if owner == journey.workflow_id}
        for step in expected - saved.keys():
            tally.lost["warehouse_rows"] += 1
            tally.note(f"{journey.workflow_id}: no warehouse row for {step}")
        for step, count in saved.items():
            if count > 1:
                tally.duplicated["warehouse_rows"] += count - 1
                tally.note(f"{journey.workflow_id}: {count} warehouse rows for {step}")
            if step not in expected:
                tally.unexpected["warehouse_rows"] += count
                tally.note(f"{journey.workflow_id}: unexpected warehouse row {step}")


@dataclass
class EventTally:
    """What the email events did, per kind, and every email of their journeys accepted after the
    webhook answered 200 for the event."""

    kinds: dict[str, Counter[str]] = field(default_factory=dict)
    wrong: list[Journey] = field(default_factory=list)
    emails_before: int = 0  # accepted before the 200: what the event could not stop
    late_by_race: int = 0  # after the 200, by a send that passed the check before the suppression
    sent_after_suppression: int = 0  # after the 200, with no such excuse
    replays_acted_on: int = 0
    examples: list[str] = field(default_factory=list)
    race_examples: list[str] = field(default_factory=list)

    def kind(self, name: str) -> Counter[str]:
        return self.kinds.setdefault(name, Counter())

    def note(self, text: str) -> None:
        if len(self.examples) < 12:
            self.examples.append(text)


@dataclass(frozen=True)
class CheckPassed:
    """From the warehouse: when a send last passed the suppression check (its email's row is
    stamped right after), and when the address was suppressed."""

    recorded_at: datetime | None
    suppressed_at: datetime | None


def _stamp(value: Any) -> datetime | None:
    if value is None:
        return None
    stamp = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=UTC)


def read_checks_passed(database: Path) -> dict[tuple[str, int], CheckPassed]:
    """Per journey and email number, from the suppression tables in the warehouse's file."""
    found: dict[tuple[str, int], CheckPassed] = {}
    if not database.exists():
        return found
    with sqlite3.connect(database) as connection:
        try:
            rows = connection.execute(
                "SELECT m.journey_id, m.number, m.recorded_at, s.suppressed_at "
                "FROM email_messages m LEFT JOIN suppressions s "
                "ON s.address_hash = m.address_hash"
            ).fetchall()
        except sqlite3.OperationalError:
            return found
    for journey, number, recorded_at, suppressed_at in rows:
        found[(str(journey), int(number))] = CheckPassed(_stamp(recorded_at), _stamp(suppressed_at))
    return found


def count_email_events(
    journeys: Iterable[Journey],
    accepted: list[SentEmail],
    database: Path,
    emails_per_journey: int,
) -> EventTally:
    """For each journey that got an email event: its emails against the moment the webhook
    answered 200 (an email stamped in that same millisecond counts as after it), and its outcome.

    An email accepted after the 200 is excused only when the warehouse shows that its send passed
    the suppression check before the address was suppressed (a race the check cannot close);
    any other is a send the suppression should have stopped. The journey may end
    ``emails_completed`` only when its last email was accepted before the 200, or by that race.
    """
    tally = EventTally()
    by_key: dict[str, list[SentEmail]] = {}
    for email in accepted:
        by_key.setdefault(email.key, []).append(email)
    passed = read_checks_passed(database)
    for journey in journeys:
        event = journey.email_event
        if event is None:
            continue
        counts = tally.kind(event.kind)
        counts["planned"] += 1
        if event.answered_at is None:
            counts["not_answered"] += 1
            tally.note(f"{journey.workflow_id}: {event.kind} not delivered: {event.failure}")
            # The suppression may or may not have been written before the webhook gave up.
            if journey.outcome not in (event.reason, journey.expected):
                tally.wrong.append(journey)
            continue
        counts["sent"] += 1
        counts["replays"] += event.replays
        counts["replays_duplicate"] += event.replay_results.count("duplicate")
        acted = [r for r in event.replay_results if r != "duplicate"]
        if acted:
            tally.replays_acted_on += len(acted)
            tally.note(f"{journey.workflow_id}: a replayed {event.kind} answered {acted[0]}")
        answered_ms = int(event.answered_at * 1000)
        last_in_time = False
        excuse_free = True
        numbers_accepted: set[int] = set()
        for number in range(1, emails_per_journey + 1):
            copies = by_key.get(email_key(journey, number), [])
            if copies:
                numbers_accepted.add(number)
            in_time = bool(copies)
            for email in copies:
                if email.accepted_ms < answered_ms:
                    tally.emails_before += 1
                    continue
                check = passed.get((journey.workflow_id, number), CheckPassed(None, None))
                when = (
                    "in the same millisecond as"
                    if email.accepted_ms == answered_ms
                    else f"{email.accepted_ms - answered_ms} ms after"
                )
                if (
                    check.recorded_at is not None
                    and check.suppressed_at is not None
                    and check.recorded_at < check.suppressed_at
                ):
                    tally.late_by_race += 1
                    tally.race_examples.append(
                        f"{journey.workflow_id}: email {number} accepted {when} the {event.kind}'s "
                        f"200, by a send that passed the suppression check "
                        f"{_gap(check.recorded_at, check.suppressed_at)} before the suppression"
                    )
                    continue
                in_time = excuse_free = False
                tally.sent_after_suppression += 1
                tally.note(
                    f"{journey.workflow_id}: email {number} accepted {when} the {event.kind}'s "
                    f"200 (its send recorded at {_iso(check.recorded_at)}, the address "
                    f"suppressed at {_iso(check.suppressed_at)})"
                )
            last_in_time = in_time
        allowed = {event.reason} | ({"emails_completed"} if last_in_time else set())
        if journey.status == "running":
            continue  # stuck: the report counts it as such
        if journey.outcome not in allowed:
            tally.wrong.append(journey)
            tally.note(
                f"{journey.workflow_id}: {event.kind} answered 200, yet the journey ended "
                f"{journey.outcome or journey.status}"
            )
            continue
        if not excuse_free:
            continue
        counts["honoured"] += 1
        if journey.outcome == event.reason:
            counts["stopped_journey"] += 1
            counts["emails_spared"] += emails_per_journey - len(numbers_accepted)
        else:
            counts["after_last_email"] += 1
    return tally


def _gap(earlier: datetime, later: datetime) -> str:
    return f"{(later - earlier).total_seconds() * 1000:.0f} ms"


def _iso(stamp: datetime | None) -> str:
    return stamp.isoformat(timespec="milliseconds") if stamp is not None else "unknown"


def vendor_traffic(calls: list[RecordedCall]) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
    """Calls per vendor the run used, and the injected failures among them (5xx, 429, answers
    lost after the vendor acted, too slow to wait for)."""
    per_vendor = Counter(call.vendor for call in calls)
    faults: dict[str, dict[str, int]] = {}
    kinds_kept = ("error", "rate_limit", "lost_answer", "slow")
    for vendor in VENDORS:
        if not per_vendor[vendor]:
            continue  # a provider this run did not use
        kinds = Counter(
            call.fault for call in calls if call.vendor == vendor and call.fault in kinds_kept
        )
        faults[vendor] = {kind: kinds[kind] for kind in kinds_kept}
    return {vendor: per_vendor[vendor] for vendor in VENDORS if per_vendor[vendor]}, faults
