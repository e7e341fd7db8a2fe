"""The journey's input, configuration and state: the contract between starters and workers.

Every model here is stored in workflow histories, so fields are only ever added with defaults.
"""

from __future__ import annotations

import itertools
import re
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    field_validator,
    model_validator,
)

from common.durations import is_offset, parse_duration, parse_offset
from workflows.send_window import ALWAYS_OPEN, SendWindow, parse_send_window, valid_time_zone

TASK_QUEUE = "onboarding"
WORKFLOW_ID_PREFIX = "onboarding-"

_USER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}$")
_DOMAIN = re.compile(
    r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9\-]{1,62}$"
)
# The canonical form, for the OpenAPI document: what _domain_is_a_domain stores.
_DOMAIN_DOC = re.compile(r"^(?:[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9\-]{1,62}$")


def journey_id(user_id: str) -> str:
    """The workflow ID of a user's journey: the business identity, never personal data."""
    return f"{WORKFLOW_ID_PREFIX}{user_id}"


def parse_schedule(value: object) -> object:
    """Accept ``"0s,2d,5d"`` as well as a list of offsets or timedeltas."""
    if isinstance(value, str):
        return [parse_offset(part) for part in value.split(",") if part.strip()]
    if isinstance(value, list):
        # Histories hold ISO 8601 durations ("P2D"); people write "2d".
        return [parse_offset(v) if isinstance(v, str) and is_offset(v) else v for v in value]
    return value


def parse_technologies(value: object) -> object:
    """Accept ``"Shopify,Stripe"`` as well as a list."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
EmailSchedule = Annotated[list[timedelta], BeforeValidator(parse_schedule)]
Technologies = Annotated[list[str], BeforeValidator(parse_technologies)]
Window = Annotated[SendWindow, BeforeValidator(parse_send_window)]


class Signup(BaseModel):
    """One signup event from the product: who signed up, and where from."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    user_id: str = Field(
        description="The product's own user id; the journey's identity.",
        # Documented only: the validator below says what is wrong in words a sender can act on.
        json_schema_extra={"pattern": _USER_ID.pattern, "maxLength": 128},
    )
    email: EmailStr
    first_name: str | None = Field(default=None, max_length=200)
    last_name: str | None = Field(default=None, max_length=200)
    company_domain: str | None = Field(
        default=None,
        description=(
            "Used when enrichment finds no company domain. A URL, a leading 'www.' and an "
            "internationalised name are accepted too, and stored as the bare ASCII domain."
        ),
        json_schema_extra={"pattern": _DOMAIN_DOC.pattern, "maxLength": 253},
    )
    signed_up_at: datetime | None = None
    source: str | None = Field(default=None, max_length=200)

    @field_validator("user_id")
    @classmethod
    def _user_id_is_an_id(cls, value: str) -> str:
        if "@" in value:
            raise ValueError("must be the product's user id, not an email address")
        if not _USER_ID.fullmatch(value):
            raise ValueError(
                "must be 1-128 characters of letters, digits, '.', '_', ':' or '-', "
                "starting with a letter or digit"
            )
        return value

    @field_validator("company_domain")
    @classmethod
    def _domain_is_a_domain(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        domain = value.lower().removeprefix("https://").removeprefix("http://").split("/")[0]
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise ValueError(f"'{value}' is not a domain name") from exc
        # Every leading "www." (after IDNA, which maps fullwidth letters to ASCII), so that a
        # stored domain validates to itself when the workflow reads its input.
        while domain.startswith("www."):
            domain = domain.removeprefix("www.")
        # fullmatch: `$` would also match before a trailing newline ("acme.io\n/").
        if not _DOMAIN.fullmatch(domain):
            raise ValueError(f"'{value}' is not a domain name")
        return domain


class JourneyConfig(BaseModel):
    """Everything a journey decides with, captured when it starts.

    Changing the worker's or starter's configuration never affects a journey already in flight.
    """

    enterprise_employee_threshold: int = Field(default=100, ge=0)
    integrated_technologies: Technologies = Field(
        default_factory=lambda: ["Shopify", "WooCommerce", "Stripe", "HubSpot"]
    )
    email_schedule: EmailSchedule = Field(
        default_factory=lambda: [timedelta(0), timedelta(days=2), timedelta(days=5)]
    )
    enrichment_poll_interval: Duration = Field(
        default=timedelta(minutes=1),
        description="How long to wait before asking again after a queued lookup.",
    )
    enrichment_max_polls: int = Field(
        default=30, ge=1, description="Queued lookups asked again at most this many times."
    )
    vendor_call_timeout: Duration = Field(
        default=timedelta(seconds=30), description="Start-to-close timeout of one vendor call."
    )
    send_window: Window = Field(
        default=ALWAYS_OPEN,
        description=(
            "When emails may go out, in the reader's time zone, e.g. 'mon-fri 09:00-18:00'; "
            "an email due outside it waits for its next opening."
        ),
    )
    send_window_timezone: str = Field(
        default="UTC",
        description="The IANA time zone of the send window when enrichment gives none.",
    )
    email_experiment: str | None = Field(
        default=None,
        description=(
            "The email experiment as configured (EMAIL_EXPERIMENT), e.g. "
            "'subject-2026-12: control=50, short-subject=50'; the starter assigns the variant."
        ),
    )
    experiment: str | None = Field(default=None, description="The email experiment's name.")
    variant: str | None = Field(
        default=None, description="This journey's variant of the experiment: its email templates."
    )

    @field_validator("send_window_timezone")
    @classmethod
    def _known_time_zone(cls, value: str) -> str:
        zone = valid_time_zone(value)
        if zone is None:
            raise ValueError(f"'{value}' is not an IANA time zone, e.g. Europe/Berlin")
        return zone

    @model_validator(mode="after")
    def _schedule_is_ordered(self) -> JourneyConfig:
        schedule = self.email_schedule
        if not schedule:
            raise ValueError("email_schedule needs at least one offset")
        if any(later < earlier for earlier, later in itertools.pairwise(schedule)):
            raise ValueError("email_schedule offsets must not decrease")
        if not self.integrated_technologies:
            raise ValueError("integrated_technologies needs at least one technology")
        return self


class JourneyInput(BaseModel):
    """The one argument of ``OnboardingJourney``."""

    signup: Signup
    config: JourneyConfig = Field(default_factory=JourneyConfig)


class Stage(StrEnum):
    ENRICHING = "enriching"
    WAITING_FOR_ENRICHMENT = "waiting_for_enrichment"
    SAVING_ENRICHMENT = "saving_enrichment"
    ALERTING_SALES = "alerting_sales"
    CHECKING_STACK = "checking_stack"
    WAITING_FOR_STACK = "waiting_for_stack"
    SAVING_STACK = "saving_stack"
    SENDING_EMAIL = "sending_email"
    WAITING_EMAIL = "waiting_email"
    WAITING_SEND_WINDOW = "waiting_send_window"
    DONE = "done"


PAUSED = "paused"
NUMBERED_STAGES = (Stage.SENDING_EMAIL, Stage.WAITING_EMAIL)


def stage_labels(emails: int) -> list[str]:
    """Every value the ``JourneyStage`` search attribute takes for a sequence of ``emails``, in
    the journey's order (``waiting_email_2``...), then ``paused``; ``done`` is an outcome's."""
    labels: list[str] = []
    for stage in Stage:
        if stage is Stage.DONE:
            continue
        if stage is Stage.SENDING_EMAIL:  # each email: its wait, then its send
            for number in range(1, emails + 1):
                labels += [f"{Stage.WAITING_EMAIL}_{number}", f"{Stage.SENDING_EMAIL}_{number}"]
        elif stage is not Stage.WAITING_EMAIL:
            labels.append(str(stage))
    return [*labels, PAUSED]


class Segment(StrEnum):
    ENTERPRISE = "enterprise"
    SMB = "smb"
    UNKNOWN = "unknown"


class Outcome(StrEnum):
    SALES_ALERTED = "sales_alerted"
    EMAILS_COMPLETED = "emails_completed"
    NO_INTEGRATION = "no_integration"
    NOT_ENRICHED = "not_enriched"
    NO_COMPANY = "no_company"
    INVALID_EMAIL = "invalid_email"
    UNSUBSCRIBED = "unsubscribed"
    CONVERTED = "converted"
    BOUNCED = "bounced"
    COMPLAINED = "complained"


class RescheduleRequest(BaseModel):
    """Move the next email to ``send_at`` (the argument of the ``reschedule`` update)."""

    send_at: AwareDatetime


class SentEmail(BaseModel):
    number: int
    sent_at: datetime
    message_id: str | None = None
    provider: str | None = None


class JourneyState(BaseModel):
    """What the ``state`` query answers, and the journey's result once it ends."""

    stage: Stage = Stage.ENRICHING
    segment: Segment | None = None
    company_domain: str | None = None
    company_employees: int | None = None
    matched_technology: str | None = None
    emails_sent: int = 0
    emails: list[SentEmail] = Field(default_factory=list)
    next_email_number: int | None = None
    next_email_due_at: datetime | None = None
    time_zone: str | None = Field(
        default=None, description="The time zone the send window is read in for this reader."
    )
    send_window_opens_at: datetime | None = Field(
        default=None, description="While an email waits for the send window: when it opens."
    )
    enriched: bool = False
    sales_alerted: bool = False
    paused: bool = False
    enrichment_polls: int = 0
    stack_polls: int = 0
    providers: dict[str, str] = Field(
        default_factory=dict,
        description="The provider that served each role: enrichment, technographics, sales_alert.",
    )
    outcome: Outcome | None = None
    path: list[str] = Field(default_factory=list, description="The steps taken so far.")

    @property
    def stage_label(self) -> str:
        """The stage as the ``JourneyStage`` search attribute spells it: ``waiting_email_2``."""
        if self.paused and self.stage is not Stage.DONE:
            return PAUSED
        if self.stage in NUMBERED_STAGES and self.next_email_number:
            return f"{self.stage}_{self.next_email_number}"
        return str(self.stage)
