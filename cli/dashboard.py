"""``onboarding dashboard``: the journey map, the funnel and the experiments in a browser."""

from __future__ import annotations

from typing import Annotated

import typer
from pydantic import ValidationError

from common.command_line import describe_settings_error, fail


def dashboard_command(
    host: Annotated[
        str,
        typer.Option(help="Interface to listen on; beyond loopback it needs authentication."),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8090,
) -> None:
    """Serve the dashboard: where journeys are now, how they ended, the funnel, the experiments."""
    from common.codec_server import CodecServerSettings
    from dashboard.app import DashboardConfigError, serve
    from dashboard.settings import DashboardSettings
    from starter.settings import JourneySettings

    try:
        settings = DashboardSettings()
        access = CodecServerSettings()
        journeys = JourneySettings()
    except ValidationError as exc:
        classes = (DashboardSettings, CodecServerSettings, JourneySettings)
        raise fail(describe_settings_error(exc, *classes), 2) from None
    try:
        serve(host=host, port=port, settings=settings, access=access, journeys=journeys)
    except DashboardConfigError as exc:
        raise fail(str(exc), 2) from None
