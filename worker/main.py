"""The worker: builds the activities once with their settings and a shared HTTP client, and hosts
the journey on the ``onboarding`` task queue until told to stop."""

from __future__ import annotations

import asyncio
import logging
import signal
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
from opentelemetry.trace import TracerProvider
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.enrichment import ClearbitEnrichment
from activities.onboarding_email import ResendEmail
from activities.sales_alert import SlackSalesAlert
from activities.settings import VendorSettings
from activities.spend import SpendLedger
from activities.technographics import BuiltWithTechnographics
from activities.warehouse import Warehouse
from starter.telemetry import instrument_http_client
from workflows import search_attributes
from workflows.journey import OnboardingJourney
from workflows.models import TASK_QUEUE

log = logging.getLogger("onboarding.worker")

# pydantic imports the email validator lazily, while validating a signup inside the sandbox.
WORKFLOW_RUNNER = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules("email_validator", "idna")
)


def quiet_http_logs() -> None:
    # httpx logs every request URL at INFO; Clearbit's carries an email, BuiltWith's the key.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)


def http_client(settings: VendorSettings) -> httpx.AsyncClient:
    """The one HTTP client every vendor call of this worker shares."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(settings.http_timeout_seconds, connect=5.0),
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
        headers={"User-Agent": "onboarding-journeys/0.1"},
    )


async def run_worker(
    client: Client,
    settings: VendorSettings,
    stop: asyncio.Event,
    *,
    task_queue: str = TASK_QUEUE,
    journey: type = OnboardingJourney,
    tracer_provider: TracerProvider | None = None,
) -> None:
    """Run the worker until ``stop`` is set, then finish in-flight tasks and shut down.

    Vendor calls are traced with ``tracer_provider`` (default: the global one); workflows and
    activities with the client's tracing interceptor."""
    quiet_http_logs()
    warehouse = Warehouse(settings.warehouse_url)
    async with instrument_http_client(http_client(settings), tracer_provider) as http:
        # Every vendor answer goes into the spend ledger, whichever activity asked.
        http.event_hooks["response"].append(SpendLedger(warehouse).record_response)
        with ThreadPoolExecutor(max_workers=16, thread_name_prefix="warehouse") as executor:
            worker = Worker(
                client,
                task_queue=task_queue,
                workflows=[journey],
                activities=[
                    ClearbitEnrichment(http, settings).enrich,
                    BuiltWithTechnographics(http, settings, warehouse).look_up,
                    SlackSalesAlert(http, settings).post,
                    ResendEmail(http, settings).send,
                    warehouse.save_activity,
                ],
                activity_executor=executor,
                workflow_runner=WORKFLOW_RUNNER,
                graceful_shutdown_timeout=timedelta(seconds=10),
            )
            async with worker:
                log.info("worker polling task queue %r", task_queue)
                await stop.wait()
                log.info("stopping: finishing in-flight tasks")
    warehouse.close()


async def missing_search_attributes(client: Client) -> list[str] | None:
    """The journey's search attributes the namespace lacks (journeys cannot progress without
    them), or None when the server will not say."""
    try:
        response = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=client.namespace)
        )
    except RPCError as exc:
        log.warning("could not check the namespace's search attributes: %s", exc.message)
        return None
    known = set(response.custom_attributes)
    return [key.name for key in search_attributes.ALL if key.name not in known]


async def register_search_attributes(client: Client) -> None:
    """Register the journey's search attributes the namespace lacks (the dev server and tests;
    on a cluster an operator runs the ``temporal operator search-attribute create`` commands)."""
    missing = await missing_search_attributes(client)
    wanted = [key for key in search_attributes.ALL if missing is None or key.name in missing]
    if wanted:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=client.namespace,
                search_attributes={
                    key.name: IndexedValueType.ValueType(key.indexed_value_type.value)
                    for key in wanted
                },
            )
        )


def stop_on_signals(stop: asyncio.Event) -> None:
    """SIGINT and SIGTERM ask the worker to shut down gracefully."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
