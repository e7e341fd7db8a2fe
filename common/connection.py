"""One way to reach Temporal for every command: Temporal's standard environment configuration.

``TEMPORAL_ADDRESS``, ``TEMPORAL_NAMESPACE``, ``TEMPORAL_API_KEY``, TLS settings and profiles
(``TEMPORAL_PROFILE``, ``TEMPORAL_CONFIG_FILE``) all work, so the same command talks to the dev
server, a self-hosted cluster or Temporal Cloud.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine, Iterator
from typing import Any

from temporalio.client import Client
from temporalio.envconfig import ClientConfig
from temporalio.runtime import Runtime

from common.encryption import data_converter
from common.telemetry import client_interceptors

log = logging.getLogger("onboarding.connection")

DEFAULT_ADDRESS = "localhost:7233"
# A process waiting for Temporal tries again after 1 s, 2 s, 4 s, ... and then every 30 s.
FIRST_RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 30.0


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


def backoff(first: float = FIRST_RETRY_SECONDS, cap: float = MAX_RETRY_SECONDS) -> Iterator[float]:
    """Seconds to wait before each new attempt: doubling from ``first``, capped at ``cap``."""
    delay = first
    while True:
        yield delay
        delay = min(delay * 2, cap)


async def connect_when_reachable(
    stop: asyncio.Event, *, runtime: Runtime | None = None
) -> Client | None:
    """Connect, saying so and trying again on a capped exponential backoff while Temporal is
    unreachable; None when ``stop`` is set first."""
    address = connect_config()["target_host"]
    delays = backoff()
    waited = False
    while True:
        client = await _unless_stopped(connect(runtime=runtime), stop)
        if client is not None:
            if waited:
                log.info("connected to Temporal at %s", address)
            return client
        if stop.is_set():
            return None
        delay = next(delays)
        log.warning("cannot reach Temporal at %s; retrying in %gs", address, delay)
        waited = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=delay)
        if stop.is_set():
            return None


async def _unless_stopped(
    connecting: Coroutine[Any, Any, Client], stop: asyncio.Event
) -> Client | None:
    # An attempt can hang on an address that drops packets: a stop must not wait for it.
    attempt = asyncio.ensure_future(connecting)
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({attempt, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    if not attempt.done():
        attempt.cancel()
        return None
    try:
        return attempt.result()
    except TemporalUnreachable:
        return None
