"""Where the vendors and the warehouse are, and the credentials to reach them."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


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
