"""One way to reach Temporal for every command: Temporal's standard environment configuration.

``TEMPORAL_ADDRESS``, ``TEMPORAL_NAMESPACE``, ``TEMPORAL_API_KEY``, TLS settings and profiles
(``TEMPORAL_PROFILE``, ``TEMPORAL_CONFIG_FILE``) all work, so the same command talks to the dev
server, a self-hosted cluster or Temporal Cloud.
"""

from __future__ import annotations

from typing import Any

from temporalio.client import Client
from temporalio.envconfig import ClientConfig
from temporalio.runtime import Runtime

from common.encryption import data_converter
from common.telemetry import client_interceptors

DEFAULT_ADDRESS = "localhost:7233"


class TemporalUnreachable(Exception):
    """Temporal could not be reached at the configured address."""


def connect_config() -> dict[str, Any]:
    """Client keyword arguments from the environment, with the dev server as the default."""
    config: dict[str, Any] = dict(ClientConfig.load_client_connect_config())
    config.setdefault("target_host", DEFAULT_ADDRESS)
    config.setdefault("namespace", "default")
    return config


async def connect(*, runtime: Runtime | None = None) -> Client:
    """A client that traces what it starts (and, on a worker, what it runs); ``runtime`` is the
    process's metrics runtime on a worker that serves ``/metrics``."""
    config = connect_config()
    try:
        return await Client.connect(
            **config,
            data_converter=data_converter(),  # encrypts every payload when keys are set
            interceptors=client_interceptors(),
            runtime=runtime,
        )
    except RuntimeError as exc:
        raise TemporalUnreachable(
            f"cannot reach Temporal at {config['target_host']}: is the server running? "
            "Set TEMPORAL_ADDRESS (or a profile) to point elsewhere."
        ) from exc
