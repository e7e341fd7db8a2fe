"""The journey's business rules: which segment a company is in, which integration its stack
matches, and when each onboarding email is due. Pure functions of the journey's input."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from activities.contracts import Company
from workflows.models import JourneyConfig, Segment
from workflows.send_window import valid_time_zone

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
    """Enterprise above ``threshold`` employees, SMB at or below it, unknown without a size."""
    employees = employees_lower_bound(company)
    if employees is None:
        return Segment.UNKNOWN
    return Segment.ENTERPRISE if employees > threshold else Segment.SMB


def size_text(company: Company) -> str:
    """The company's size as the vendor gave it, for the journey's path."""
    if company.employees is not None:
        return f"{company.employees} employees"
    if company.employees_range:
        return f"{company.employees_range} employees"
    return "size unknown"


def integrated_technology(stack: list[str], integrated: list[str]) -> str | None:
    """The first technology we integrate with (in configuration order) that the stack contains."""
    present = {name.casefold() for name in stack}
    return next((tech for tech in integrated if tech.casefold() in present), None)


def send_window_zone(enriched: str | None, config: JourneyConfig) -> str:
    """The reader's time zone where enrichment gave a real one, else the configured default."""
    return valid_time_zone(enriched) or config.send_window_timezone


def local_time(moment: datetime, zone: str) -> str:
    """``2026-12-07 09:00 Europe/Berlin (08:00 UTC)``: for the path and the timer's summary."""
    local = moment.astimezone(ZoneInfo(zone))
    utc = moment.astimezone(ZoneInfo("UTC"))
    if zone == "UTC":
        return f"{utc:%Y-%m-%d %H:%M} UTC"
    return f"{local:%Y-%m-%d %H:%M} {zone} ({utc:%H:%M} UTC)"


def email_due_at(
    schedule: list[timedelta],
    number: int,
    sequence_started_at: datetime,
    previous_sent_at: datetime | None,
) -> datetime:
    """When email ``number`` (1-based) may go out.

    No earlier than its offset from the start of the sequence, and no sooner after the previous
    email than the two offsets differ: after an outage emails come late, never crowded.
    """
    offset = schedule[number - 1]
    due = sequence_started_at + offset
    if number > 1 and previous_sent_at is not None:
        due = max(due, previous_sent_at + (offset - schedule[number - 2]))
    return due


@dataclass
class EmailClock:
    """When each email of a journey's sequence is due, as pauses and reschedules move it."""

    schedule: list[timedelta]
    started_at: datetime | None = None
    previous_sent_at: datetime | None = None
    emails_sent: int = 0
    pauses: list[tuple[datetime, datetime | None]] = field(default_factory=list)
    rescheduled: dict[int, tuple[datetime, datetime]] = field(default_factory=dict)

    def due_at(self, number: int, now: datetime) -> datetime:
        """When email ``number`` is due now: its schedule, shifted by every pause since."""
        assert self.started_at is not None
        if number in self.rescheduled:
            send_at, moved_at = self.rescheduled[number]
            return send_at + self._paused_since(moved_at, now)
        previous = self.previous_sent_at if number == self.emails_sent + 1 else None
        due = email_due_at(self.schedule, number, self.started_at, previous)
        return due + self._paused_since(previous or self.started_at, now)

    def gap_before(self, number: int) -> timedelta:
        """The schedule's time between email ``number`` and the one before."""
        return self.schedule[number - 1] - (
            self.schedule[number - 2] if number > 1 else timedelta(0)
        )

    def sent(self, number: int, now: datetime) -> None:
        self.emails_sent, self.previous_sent_at = number, now

    def pause(self, now: datetime) -> None:
        self.pauses.append((now, None))

    def resume(self, now: datetime) -> None:
        started, _ = self.pauses[-1]
        self.pauses[-1] = (started, now)

    def reschedule(self, number: int, send_at: datetime, now: datetime) -> None:
        self.rescheduled[number] = (send_at, now)

    def _paused_since(self, since: datetime, now: datetime) -> timedelta:
        """How long the journey has been paused since ``since``; an open pause counts until now."""
        total = timedelta(0)
        for started, ended in self.pauses:
            start, end = max(started, since), ended or now
            if end > start:
                total += end - start
        return total
