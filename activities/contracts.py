"""Activity names and their input and output models: all a workflow needs to know of activities.

Each role (enrichment, technographics, sales alert, onboarding email, warehouse) is one activity
name; the module that implements it for a vendor can be swapped without touching the journey.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

ENRICH_SIGNUP = "enrich_signup"
LOOK_UP_TECHNOGRAPHICS = "look_up_technographics"
SAVE_TO_WAREHOUSE = "save_to_warehouse"
POST_SALES_ALERT = "post_sales_alert"
SEND_ONBOARDING_EMAIL = "send_onboarding_email"

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
    """The task queue of a vendor role's calls for journeys on ``journey_task_queue``
    (``onboarding`` → ``onboarding-enrichment``); the warehouse stays on the journey's queue."""
    role = VENDOR_ROLES.get(activity_name)
    return f"{journey_task_queue}-{role}" if role else journey_task_queue


class EnrichmentStatus(StrEnum):
    FOUND = "found"
    QUEUED = "queued"
    NOT_FOUND = "not_found"
    INVALID_EMAIL = "invalid_email"


class EnrichmentRequest(BaseModel):
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


class TechnographicsRequest(BaseModel):
    domain: str


class Technographics(BaseModel):
    technologies: list[str] = Field(default_factory=list)
    payload: dict[str, Any] = Field(default_factory=dict)


class WarehouseRecord(BaseModel):
    """One raw vendor payload; the warehouse keys it by journey and step, so saving is an upsert."""

    step: str
    vendor: str
    payload: dict[str, Any]


class SalesAlert(BaseModel):
    user_id: str
    first_name: str | None = None
    last_name: str | None = None
    email: str
    company: Company


class SalesAlertPosted(BaseModel):
    channel: str
    ts: str


class OnboardingEmail(BaseModel):
    number: int = Field(ge=1)
    total: int = Field(ge=1)
    to: str
    first_name: str | None = None
    technology: str


class EmailSent(BaseModel):
    message_id: str
