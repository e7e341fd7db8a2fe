"""Where the vendors and the warehouse are, and the credentials to reach them."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import BeforeValidator, Field, SecretStr
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

_TTL = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_TTL_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_ttl(value: object) -> object:
    """Accept ``"30d"``, ``"12h"``, ``"0s"`` as well as anything pydantic reads as a timedelta."""
    if isinstance(value, str) and (match := _TTL.match(value)):
        return timedelta(seconds=int(match.group(1)) * _TTL_UNIT_SECONDS[match.group(2)])
    return value


def parse_prices(value: object) -> object:
    """Accept ``"clearbit=0.10,builtwith=0.02"`` as well as a mapping."""
    if not isinstance(value, str):
        return value
    prices: dict[str, str] = {}
    for entry in value.split(","):
        if not entry.strip():
            continue
        vendor, sep, price = entry.partition("=")
        if not sep or not vendor.strip():
            raise ValueError(f"'{entry.strip()}' is not a price like clearbit=0.10")
        prices[vendor.strip().lower()] = price.strip()
    return prices


CacheTtl = Annotated[timedelta, BeforeValidator(parse_ttl)]
VendorPrices = Annotated[dict[str, float], NoDecode, BeforeValidator(parse_prices)]


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
        # Placeholders, in dollars per billed call: set them from your own contracts.
        default_factory=lambda: {
            "clearbit": 0.10,
            "builtwith": 0.02,
            "slack": 0.0,
            "resend": 0.001,
        },
        description="Dollars per billed call, by vendor.",
    )
