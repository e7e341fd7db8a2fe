"""The journey's pure rules: schedule arithmetic, segments, matching, input validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from activities.contracts import Company
from common.durations import format_offset, parse_offset
from workflows.models import JourneyConfig, Signup
from workflows.rules import (
    EmailClock,
    email_due_at,
    employees_lower_bound,
    integrated_technology,
    segment_of,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SCHEDULE = [timedelta(0), timedelta(days=2), timedelta(days=5)]


def test_offsets_parse_and_print() -> None:
    assert parse_offset("0s") == timedelta(0)
    assert parse_offset("90m") == timedelta(minutes=90)
    assert parse_offset(" 2d ") == timedelta(days=2)
    assert format_offset(timedelta(days=2)) == "2d"
    assert format_offset(timedelta(seconds=90)) == "90s"
    with pytest.raises(ValueError, match="'2w' is not an offset"):
        parse_offset("2w")


def test_schedule_from_text_and_its_rules() -> None:
    assert JourneyConfig(email_schedule="0s,10s,25s").email_schedule == [  # type: ignore[arg-type]
        timedelta(0),
        timedelta(seconds=10),
        timedelta(seconds=25),
    ]
    with pytest.raises(ValidationError, match="must not decrease"):
        JourneyConfig(email_schedule="0s,2d,1d")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="at least one offset"):
        JourneyConfig(email_schedule="")  # type: ignore[arg-type]


def test_on_time_emails_follow_their_offsets() -> None:
    assert email_due_at(SCHEDULE, 1, T0, None) == T0
    assert email_due_at(SCHEDULE, 2, T0, T0) == T0 + timedelta(days=2)
    assert email_due_at(SCHEDULE, 3, T0, T0 + timedelta(days=2)) == T0 + timedelta(days=5)


def test_late_emails_keep_their_gaps() -> None:
    late_second = T0 + timedelta(days=4)  # an outage held email 2 back by two days
    assert email_due_at(SCHEDULE, 3, T0, late_second) == late_second + timedelta(days=3)
    # Never earlier than its own offset either.
    assert email_due_at(SCHEDULE, 3, T0, T0) == T0 + timedelta(days=5)


def test_a_pause_shifts_the_next_email_by_its_length() -> None:
    clock = EmailClock(schedule=SCHEDULE, started_at=T0)
    clock.sent(1, T0)
    assert clock.due_at(2, T0) == T0 + timedelta(days=2)
    clock.pause(T0 + timedelta(days=1))
    # While paused, the due time moves with the clock.
    assert clock.due_at(2, T0 + timedelta(days=1, hours=5)) == T0 + timedelta(days=2, hours=5)
    clock.resume(T0 + timedelta(days=1, hours=6))
    assert clock.due_at(2, T0 + timedelta(days=9)) == T0 + timedelta(days=2, hours=6)
    # A pause before the last email was sent does not move the next one again.
    clock.sent(2, T0 + timedelta(days=2, hours=6))
    assert clock.due_at(3, T0 + timedelta(days=3)) == T0 + timedelta(days=5, hours=6)


def test_a_rescheduled_email_is_due_when_moved_to_plus_later_pauses() -> None:
    clock = EmailClock(schedule=SCHEDULE, started_at=T0)
    clock.sent(1, T0)
    send_at = T0 + timedelta(hours=3)
    clock.reschedule(2, send_at, T0 + timedelta(hours=1))
    assert clock.due_at(2, T0 + timedelta(hours=1)) == send_at
    clock.pause(T0 + timedelta(hours=2))
    clock.resume(T0 + timedelta(hours=4))
    assert clock.due_at(2, T0 + timedelta(hours=4)) == send_at + timedelta(hours=2)
    assert clock.gap_before(2) == timedelta(days=2) and clock.gap_before(1) == timedelta(0)


@pytest.mark.parametrize(
    ("employees", "employees_range", "bound", "segment"),
    [
        (4500, "1K-5K", 4500, "enterprise"),
        (101, None, 101, "enterprise"),
        (100, None, 100, "smb"),
        (None, "251-1K", 251, "enterprise"),
        (None, "51-250", 51, "smb"),
        (None, "10K+", 10000, "enterprise"),
        (None, None, None, "unknown"),
    ],
)
def test_segments(
    employees: int | None, employees_range: str | None, bound: int | None, segment: str
) -> None:
    company = Company(employees=employees, employees_range=employees_range)
    assert employees_lower_bound(company) == bound
    assert segment_of(company, 100) == segment


def test_matching_is_case_insensitive_in_configuration_order() -> None:
    integrated = ["Shopify", "WooCommerce", "Stripe", "HubSpot"]
    assert integrated_technology(["React", "stripe", "SHOPIFY"], integrated) == "Shopify"
    assert integrated_technology(["WordPress"], integrated) is None


def test_signup_validation_names_the_field() -> None:
    signup = Signup(
        user_id="u_1", email="Ana+trial@Example.COM", company_domain="https://www.Acme.io/"
    )
    assert signup.company_domain == "acme.io"
    assert signup.email == "Ana+trial@example.com"
    with pytest.raises(ValidationError, match="user_id"):
        Signup(user_id="ana@example.com", email="ana@example.com")
    with pytest.raises(ValidationError, match="email"):
        Signup(user_id="u_1", email="not-an-email")
    with pytest.raises(ValidationError, match="company_domain"):
        Signup(user_id="u_1", email="a@b.io", company_domain="not a domain")
