"""A worker on the dev server whose spans are collected in memory, from a provider of its own."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest_asyncio
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.settings import VendorSettings
from common.telemetry import client_interceptors
from worker.main import run_worker


@dataclass
class TracedWorker:
    """A worker and a client, both tracing into ``exporter`` through ``provider``."""

    client: Client
    task_queue: str
    provider: TracerProvider
    exporter: InMemorySpanExporter
    stop_event: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    async def stop(self) -> None:
        self.stop_event.set()
        if self.task is not None:
            await self.task

    async def spans(self) -> list[ReadableSpan]:
        """Every span, once the worker has finished (so every activity span has ended)."""
        await self.stop()
        return list(self.exporter.get_finished_spans())


def traced_client(client: Client, provider: TracerProvider) -> Client:
    """The same connection, with the tracing interceptors the project's ``connect()`` adds."""
    config = client.config()
    config["interceptors"] = [*config["interceptors"], *client_interceptors(provider)]
    return Client(**config)


@pytest_asyncio.fixture
async def traced_worker(
    dev_server: WorkflowEnvironment, vendor_settings: VendorSettings
) -> AsyncIterator[TracedWorker]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    traced = TracedWorker(
        client=traced_client(dev_server.client, provider),
        task_queue=f"onboarding-traced-{uuid.uuid4().hex[:8]}",
        provider=provider,
        exporter=exporter,
    )
    traced.task = asyncio.create_task(
        run_worker(
            traced.client,
            vendor_settings,
            traced.stop_event,
            task_queue=traced.task_queue,
            tracer_provider=provider,
        )
    )
    try:
        yield traced
    finally:
        await traced.stop()
        provider.shutdown()
