"""What the dashboard reads from the environment: where the Web UI is (for the map's links) and
where the warehouse is (for the funnel and the experiments). Who may see it is the codec
server's authentication (``CODEC_SERVER_TOKEN``, ``CODEC_JWKS_URL``...), shared on purpose."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from activities.settings import VendorSettings


class DashboardSettings(BaseSettings):
    """The dashboard's settings: the same ``TEMPORAL_UI_URL`` and ``WAREHOUSE_URL`` the worker
    reads, with the same defaults."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    temporal_ui_url: str = Field(
        default=VendorSettings.model_fields["temporal_ui_url"].default,
        description="The Temporal Web UI's address: every node of the map links to its list.",
    )
    warehouse_url: str = Field(
        default=VendorSettings.model_fields["warehouse_url"].default,
        description="The warehouse whose journeys table the funnel and experiments count.",
    )
