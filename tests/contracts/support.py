"""What every role's contract suite shares: the role's activity as the worker builds it, with one
provider chosen, talking to the sandbox over real HTTP; and how to make each provider throttle,
run out of credits or refuse a key, in its own wire format."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest
from pydantic import SecretStr
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities import vendor_http
from activities.roles import RoleActivities
from activities.settings import VendorSettings, provider_overrides
from activities.vendors import PROVIDERS, VENDORS
from activities.warehouse import Warehouse
from sandbox.server import SandboxServer
from worker.main import http_client, mailroom, providers

RETRY_AFTER = 7


def names_of(activity_name: str) -> list[str]:
    """Every provider of the role: a provider added to the table joins its role's suite."""
    return [vendor.name for vendor in PROVIDERS[activity_name]]


def environment(workflow_id: str = "onboarding-u-42") -> ActivityEnvironment:
    """An activity's context as the journey gives it: its IDs, and the default call timeout."""
    env = ActivityEnvironment()
    env.info = dataclasses.replace(
        env.info,
        workflow_id=workflow_id,
        workflow_run_id="run-1",
        start_to_close_timeout=timedelta(seconds=30),
    )
    return env


def choosing(settings: VendorSettings, provider: str) -> VendorSettings:
    """The settings with ``provider`` chosen for its role, the cache off."""
    return settings.model_copy(
        update={**provider_overrides(provider), "enrichment_cache_ttl": timedelta(0)}
    )


@asynccontextmanager
async def role_activities(settings: VendorSettings) -> AsyncIterator[RoleActivities]:
    """The role activities as the worker builds them, over the worker's own HTTP client."""
    warehouse = Warehouse(settings.warehouse_url)
    try:
        async with http_client(settings) as http:
            yield RoleActivities(
                settings, providers(http, settings, warehouse), mailroom(settings, warehouse)
            )
    finally:
        warehouse.close()


async def failure(env: ActivityEnvironment, fn: Any, arg: Any) -> ApplicationError:
    with pytest.raises(ApplicationError) as raised:
        await env.run(fn, arg)
    return raised.value


def throttle(sandbox: SandboxServer, provider: str) -> None:
    """Every request to ``provider`` is throttled, in its own format with its reset header."""
    sandbox.state.set_faults(
        rate_limit_rate=1.0, retry_after_seconds=RETRY_AFTER, vendors=[provider]
    )


def with_wrong_key(settings: VendorSettings, provider: str) -> VendorSettings:
    """The settings with a credential ``provider`` refuses (a webhook: another secret)."""
    value = "wrong-key"
    if provider == "slack-webhook":
        url = settings.slack_webhook_url.get_secret_value()
        value = f"{url.rpartition('/')[0]}/wrong-key"
    return settings.model_copy(update={VENDORS[provider].key_env.lower(): SecretStr(value)})


def assert_rate_limited(error: ApplicationError) -> None:
    """Retried after the vendor's own delay, never as a failure of the journey."""
    assert error.type == vendor_http.RATE_LIMITED
    assert not error.non_retryable
    assert error.next_retry_delay is not None
    assert RETRY_AFTER - 2 <= error.next_retry_delay.total_seconds() <= RETRY_AFTER + 1


def assert_needs_operator(error: ApplicationError, provider: str, *words: str) -> None:
    """Retried on the capped backoff until an operator fixes it; the message says what to fix
    and names the provider (in the failure's details, for the journey to pin its retries)."""
    assert error.type == vendor_http.NEEDS_OPERATOR
    assert not error.non_retryable
    assert error.details and error.details[0] == provider
    for word in words:
        assert word in str(error)
    assert "wrong-key" not in str(error)


def assert_unavailable(error: ApplicationError, provider: str) -> None:
    assert error.type == vendor_http.UNAVAILABLE
    assert not error.non_retryable
    assert error.details and error.details[0] == provider
