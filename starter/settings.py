"""Configuration a starter reads once and captures into each journey it starts."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from starter.experiment import parse_experiment
from workflows.models import Duration, EmailSchedule, JourneyConfig, Technologies, Window
from workflows.send_window import SendWindow


class JourneySettings(BaseSettings):
    """Journey rules from the environment (``ENTERPRISE_EMPLOYEE_THRESHOLD``, ...)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    enterprise_employee_threshold: int = Field(default=100, ge=0)
    integrated_technologies: Annotated[Technologies, NoDecode] = Field(
        default_factory=lambda: ["Shopify", "WooCommerce", "Stripe", "HubSpot"]
    )
    email_schedule: Annotated[EmailSchedule, NoDecode] = Field(
        default_factory=lambda: [timedelta(0), timedelta(days=2), timedelta(days=5)]
    )
    enrichment_poll_interval: Duration = timedelta(minutes=1)
    vendor_call_timeout: Duration = timedelta(seconds=30)
    send_window: Annotated[Window, NoDecode] = Field(
        default_factory=lambda: SendWindow.parse("09:00-18:00"),
        description="When emails may go out in the reader's time zone, e.g. mon-fri 09:00-18:00.",
    )
    send_window_timezone: str = Field(
        default="UTC", description="The send window's time zone when enrichment gives none."
    )
    email_experiment: str | None = Field(
        default=None,
        description="An email experiment and its weighted variants, e.g. "
        "'subject-2026-12: control=50, short-subject=50'.",
    )

    @field_validator("email_experiment")
    @classmethod
    def _valid_experiment(cls, value: str | None) -> str | None:
        experiment = parse_experiment(value)
        return str(experiment) if experiment is not None else None

    def journey_config(self) -> JourneyConfig:
        return JourneyConfig(
            enterprise_employee_threshold=self.enterprise_employee_threshold,
            integrated_technologies=self.integrated_technologies,
            email_schedule=self.email_schedule,
            enrichment_poll_interval=self.enrichment_poll_interval,
            vendor_call_timeout=self.vendor_call_timeout,
            send_window=self.send_window,
            send_window_timezone=self.send_window_timezone,
            email_experiment=self.email_experiment,
        )
