"""Activity names and their input and output models: all a workflow needs to know of activities.

Each role (enrichment, technographics, sales alert, onboarding email, warehouse) is one activity
name; which provider serves it is the worker's configuration, so a provider can be swapped without
touching the journey. Every answer names the provider that gave it; a request names one only when
it must go to that provider (a retry of a call the provider began, a later step of the enrichment
waterfall, a queued lookup asked again).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

ENRICH_SIGNUP = "enrich_signup"
LOOK_UP_TECHNOGRAPHICS = "look_up_technographics"
SAVE_TO_WAREHOUSE = "save_to_warehouse"
POST_SALES_ALERT = "post_sales_alert"
SEND_ONBOARDING_EMAIL = "send_onboarding_email"
RECORD_JOURNEY = "record_journey"

# Each vendor's calls go to a task queue of their own, next to the journey's, so the worker can
# hold them to the vendor's rate limit across every worker (the server enforces it per queue).
# Named by role, so another vendor can take a role without renaming queues.
VENDOR_ROLES = {
    ENRICH_SIGNUP: "enrichment",
    LOOK_UP_TECHNOGRAPHICS: "technographics",
    POST_SALES_ALERT: "sales-alert",
    SEND_ONBOARDING_EMAIL: "email",
}


# The server splits a queue's rate limit across the queue's partitions and rounds each share's
# burst up (to at least two tasks), so a partitioned queue can dispatch well over the limit in a
# second. Vendor queues get one partition and a burst of one task (on a cluster: dynamic config,
# see deploy/temporal-dynamicconfig.yaml); these are the dev server's flags for it.
ONE_PARTITION_DEV_SERVER_FLAGS = (
    "--dynamic-config-value", "matching.numTaskqueueReadPartitions=1",
    "--dynamic-config-value", "matching.numTaskqueueWritePartitions=1",
    "--dynamic-config-value", "matching.minTaskThrottlingBurstSize=1",
)  # fmt: skip


def vendor_task_queue(journey_task_queue: str, activity_name: str) -> str:
    """The task queue of a vendor role's new calls for journeys on ``journey_task_queue``
    (``onboarding`` → ``onboarding-enrichment``), served by the role's configured provider; the
    warehouse stays on the journey's queue."""
    role = VENDOR_ROLES.get(activity_name)
    return f"{journey_task_queue}-{role}" if role else journey_task_queue


def provider_task_queue(journey_task_queue: str, activity_name: str, provider: str) -> str:
    """The task queue of calls pinned to one provider (``onboarding-enrichment-clearbit``)."""
    return f"{vendor_task_queue(journey_task_queue, activity_name)}-{provider}"


def call_task_queue(journey_task_queue: str, activity_name: str, provider: str | None) -> str:
    """Where a call goes: its provider's queue when it names one, else its role's."""
    if provider and activity_name in VENDOR_ROLES:
        return provider_task_queue(journey_task_queue, activity_name, provider)
    return vendor_task_queue(journey_task_queue, activity_name)


class ProviderCall(BaseModel):
    """What every vendor request has: the provider it must go to, if any (else the role's)."""

    provider: str | None = None
    attempted: bool = Field(
        default=False,
        description=(
            "An earlier call of this same step may have reached the provider (its answer was "
            "lost): a provider without an idempotency key looks for that call's effect first."
        ),
    )


class EnrichmentStatus(StrEnum):
    FOUND = "found"
    QUEUED = "queued"
    NOT_FOUND = "not_found"
    INVALID_EMAIL = "invalid_email"


class EnrichmentRequest(ProviderCall):
    email: str


class Company(BaseModel):
    """The part of an enrichment payload the journey decides with."""

    name: str | None = None
    domain: str | None = None
    employees: int | None = None
    employees_range: str | None = None
    industry: str | None = None


class Enrichment(BaseModel):
    status: EnrichmentStatus
    company: Company | None = None
    payload: dict[str, Any] | None = Field(default=None, description="The vendor's raw answer.")
    provider: str = ""
    time_zone: str | None = Field(
        default=None, description="The person's IANA time zone, else the company's, if known."
    )
    next_provider: str | None = Field(
        default=None,
        description="After a miss: the waterfall's next provider to ask (none: the last).",
    )


class TechnographicsRequest(ProviderCall):
    domain: str


class TechnographicsStatus(StrEnum):
    FOUND = "found"
    QUEUED = "queued"


class Technographics(BaseModel):
    technologies: list[str] = Field(default_factory=list)
    payload: dict[str, Any] = Field(default_factory=dict)
    status: TechnographicsStatus = TechnographicsStatus.FOUND
    provider: str = ""


class JourneyProgress(BaseModel):
    """Where a journey stands, for its row in the warehouse's ``journeys`` table: what the funnel
    and the experiments are counted from once the namespace's retention has deleted the journey.
    Labels, counts and times only: never an address or a name."""

    progress: int = Field(
        ge=0, description="Steps taken so far: a row never goes back to an earlier snapshot."
    )
    started_at: datetime
    signed_up_at: datetime | None = None
    enriched: bool = False
    segment: str | None = None
    company_employees: int | None = None
    providers: dict[str, str] = Field(default_factory=dict)
    sales_alerted: bool = False
    matched_technology: str | None = None
    experiment: str | None = None
    variant: str | None = None
    emails_sent: int = 0
    first_email_at: datetime | None = None
    outcome: str | None = None
    ended_at: datetime | None = None


class WarehouseRecord(BaseModel):
    """One raw vendor payload; the warehouse keys it by journey and step, so saving is an upsert.
    The step is the role (``enrichment``, ``technographics``), never the provider, so a provider
    swap never makes a second kind of row for one step."""

    step: str
    vendor: str = Field(description="The provider that gave the payload.")
    payload: dict[str, Any]
    journey: JourneyProgress | None = Field(
        default=None, description="The journey's row, upserted in the same transaction."
    )


class SalesAlert(ProviderCall):
    user_id: str
    first_name: str | None = None
    last_name: str | None = None
    email: str
    company: Company


class SalesAlertPosted(BaseModel):
    channel: str = Field(default="", description="Empty for a webhook, which names no channel.")
    ts: str = ""
    provider: str = ""


class OnboardingEmail(ProviderCall):
    number: int = Field(ge=1)
    total: int = Field(ge=1)
    to: str
    first_name: str | None = None
    technology: str
    variant: str | None = Field(
        default=None, description="The email experiment's variant: its templates, where it has any."
    )
    journey: JourneyProgress | None = Field(
        default=None, description="The journey's row, marked with this email once it is sent."
    )


class EmailSent(BaseModel):
    message_id: str = ""
    provider: str = ""
    suppressed: str | None = Field(
        default=None,
        description=(
            "Why nothing was sent: the address is on the suppression list (unsubscribed, "
            "bounced, complained)."
        ),
    )
