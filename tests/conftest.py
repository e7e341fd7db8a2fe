"""Real servers for the tests: Temporal's time-skipping and dev servers from their PyPI packages,
started as the dev stack starts them, and the vendor sandbox over real HTTP."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.settings import VendorSettings
from common.encryption import KEYS_ENV
from devstack.processes import executable as binary
from devstack.stack import LOCAL_EMAIL_SETTINGS
from devstack.temporal import dev_server_flags
from sandbox import SandboxServer
from tests.security.support import TEST_ENCRYPTION_KEYS, reading_converter
from worker.main import register_search_attributes, run_worker

# Every `onboarding` process the tests start encrypts with the session's test key.
os.environ[KEYS_ENV] = TEST_ENCRYPTION_KEYS


@pytest_asyncio.fixture(scope="session")
async def time_skipping() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=binary("temporal-test-server"),
    )
    async with env:
        # The time-skipping server checks search attributes like a real cluster does.
        await register_search_attributes(env.client)
        yield env


@pytest_asyncio.fixture(scope="session")
async def dev_server() -> AsyncIterator[WorkflowEnvironment]:
    # Its client also reads what encrypting `onboarding` processes wrote (with the test key).
    env = await WorkflowEnvironment.start_local(
        data_converter=reading_converter(),
        dev_server_existing_path=binary("temporal"),
        dev_server_log_level="error",
        # The journey's search attributes and one partition per vendor queue, as everywhere.
        dev_server_extra_args=dev_server_flags(),
    )
    async with env:
        yield env


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[SandboxServer]:
    with SandboxServer(port=0) as server:
        yield server


@pytest.fixture
def sandbox(sandbox_server: SandboxServer) -> Iterator[SandboxServer]:
    """The sandbox, with no calls recorded, no faults and no scripts left by another test."""
    sandbox_server.state.reset()
    yield sandbox_server
    sandbox_server.state.reset()


@pytest.fixture
def vendor_settings(sandbox: SandboxServer, tmp_path: Path) -> VendorSettings:
    env = {key.lower(): value for key, value in sandbox.base_urls().items()}
    return VendorSettings(
        **env,
        warehouse_url=f"sqlite:///{tmp_path / 'warehouse.db'}",
        http_timeout_seconds=5,
        **{
            name.lower(): value
            for name, value in LOCAL_EMAIL_SETTINGS.items()
            if name.lower() in VendorSettings.model_fields
        },
        _env_file=None,
    )


@dataclass
class RunningWorker:
    client: Client
    task_queue: str
    settings: VendorSettings
    stop_event: asyncio.Event
    task: asyncio.Task[None]

    async def stop(self) -> None:
        """Shut the worker down, as a redeploy would."""
        self.stop_event.set()
        await self.task


async def _worker(
    client: Client, settings: VendorSettings, *, task_queue: str | None = None
) -> AsyncIterator[RunningWorker]:
    task_queue = task_queue or f"onboarding-test-{uuid.uuid4().hex[:8]}"
    stop = asyncio.Event()
    task = asyncio.create_task(run_worker(client, settings, stop, task_queue=task_queue))
    try:
        yield RunningWorker(client, task_queue, settings, stop, task)
    finally:
        stop.set()
        await task


@pytest_asyncio.fixture
async def skipping_worker(
    time_skipping: WorkflowEnvironment, vendor_settings: VendorSettings
) -> AsyncIterator[RunningWorker]:
    """A worker on its own task queue of the time-skipping server."""
    async for running in _worker(time_skipping.client, vendor_settings):
        yield running


@pytest_asyncio.fixture
async def dev_worker(
    dev_server: WorkflowEnvironment, vendor_settings: VendorSettings
) -> AsyncIterator[RunningWorker]:
    """A worker on its own task queue of the dev server."""
    async for running in _worker(dev_server.client, vendor_settings):
        yield running
