"""Where the vendors and the warehouse are, and the credentials to reach them."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import timedelta
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field, SecretStr
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from activities.vendors import DOCUMENTED_RATE_LIMITS, PLACEHOLDER_PRICES
from activities.vendors import VENDOR_NAMES as VENDORS
from common.durations import parse_duration


def _per_vendor(example: str) -> Callable[[object], object]:
    """A parser of ``"clearbit=0.10,builtwith=0.02"`` (or a mapping), naming known vendors only."""

    def parse(value: object) -> object:
        entries: dict[str, object] = {}
        if isinstance(value, str):
            for entry in value.split(","):
                if not entry.strip():
                    continue
                vendor, sep, number = entry.partition("=")
                if not sep or not vendor.strip():
                    raise ValueError(f"'{entry.strip()}' is not like {example}")
                entries[vendor.strip().lower()] = number.strip()
        elif isinstance(value, dict):
            entries = {str(k).lower(): v for k, v in value.items()}
        else:
            return value
        unknown = sorted(set(entries) - set(VENDORS))
        if unknown:
            raise ValueError(f"unknown vendor {unknown[0]!r}; choose from {', '.join(VENDORS)}")
        return entries

    return parse


# A queue held to r tasks a second may run up to this far ahead of its schedule after a quiet
# spell: the server hands out a short burst at once, then one task every 1/r s.
SERVER_BURST_SECONDS = 1.0
# Below the fastest safe rate, for the time between the server's dispatch and the vendor's count.
QUEUE_RATE_MARGIN = 0.9


def queue_rate(vendor_limit: float) -> float:
    """The rate to hold a vendor's queue to so that no dispatch pattern the server allows, its
    burst included, trips a vendor that takes ``vendor_limit`` requests a second and a burst of
    as many (at least one).

    The vendor takes ``k + 1`` requests within ``(k + 1 - burst) / limit`` seconds at the least;
    the server may hand out ``k + 1`` tasks within ``k / rate - SERVER_BURST_SECONDS``. The
    tightest ``k`` is the vendor's whole burst (``k = floor(burst)``), which gives the rate.
    """
    burst = max(vendor_limit, 1.0)
    k = math.floor(burst)
    fastest = k * vendor_limit / (SERVER_BURST_SECONDS * vendor_limit + k + 1 - burst)
    return QUEUE_RATE_MARGIN * fastest


DEFAULT_QUEUE_RATES = {
    vendor: queue_rate(limit) for vendor, limit in DOCUMENTED_RATE_LIMITS.items()
}

CacheTtl = Annotated[timedelta, BeforeValidator(parse_duration)]
# A vendor left out keeps its placeholder price, as one left out of the limits keeps its limit.
VendorPrices = Annotated[
    dict[str, float],
    NoDecode,
    BeforeValidator(_per_vendor("clearbit=0.10")),
    AfterValidator(lambda prices: {**PLACEHOLDER_PRICES, **prices}),
]
VendorRates = Annotated[
    dict[str, Annotated[float, Field(gt=0)]],
    NoDecode,
    BeforeValidator(_per_vendor("clearbit=10")),
]


class VendorSettings(BaseSettings):
    """Vendor endpoints and keys from the environment, defaulting to the real vendors."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    clearbit_base_url: str = "https://person.clearbit.com"
    clearbit_api_key: SecretStr = SecretStr("")
    builtwith_base_url: str = "https://api.builtwith.com"
    builtwith_api_key: SecretStr = SecretStr("")
    slack_base_url: str = "https://slack.com/api"
    slack_bot_token: SecretStr = SecretStr("")
    slack_sales_channel: str = "#sales"
    resend_base_url: str = "https://api.resend.com"
    resend_api_key: SecretStr = SecretStr("")
    email_from: str = "Onboarding <onboarding@example.com>"
    warehouse_url: str = "sqlite:///onboarding-warehouse.db"
    temporal_ui_url: str = Field(
        default="http://localhost:8233", description="Web UI base, for links in sales alerts."
    )
    http_timeout_seconds: float = Field(default=20.0, gt=0)
    enrichment_cache_ttl: CacheTtl = Field(
        default=timedelta(days=30),
        ge=timedelta(0),
        description="How long a cached company answer is reused; 0s turns the cache off.",
    )
    vendor_prices: VendorPrices = Field(
        default_factory=lambda: dict(PLACEHOLDER_PRICES),
        description="Dollars per billed call, by vendor.",
    )
    vendor_rate_limits: VendorRates = Field(
        default_factory=lambda: dict(DOCUMENTED_RATE_LIMITS),
        description=(
            "Each vendor's limit in requests per second (your plan's, where it is not the "
            "documented one); the server holds each vendor's queue, across all workers, to a "
            "rate that cannot exceed it (queue_rate)."
        ),
    )
    vendor_dispatch_hold_seconds: float = Field(
        default=0.25,
        ge=0,
        le=5,
        description=(
            "Each activity on a vendor queue starts no earlier than this long (at most the "
            "queue's interval, 1 / its rate) after the server dispatched it, so a worker's "
            "delays do not bunch calls up at the vendor; 0 starts at once."
        ),
    )
    http_max_connections: int = Field(
        default=100, ge=1, description="Connections the worker's vendor client opens at most."
    )
    http_max_keepalive_connections: int = Field(
        default=20, ge=0, description="Idle connections kept open for reuse."
    )

    def rate_limit(self, vendor: str) -> float:
        """Tasks per second for ``vendor``'s queue: safe under its configured (else documented)
        limit."""
        return queue_rate(self.vendor_rate_limits.get(vendor, DOCUMENTED_RATE_LIMITS[vendor]))
