"""The worker: builds the activities once with their settings and a shared HTTP client, and hosts
the journey on the ``onboarding`` task queue until told to stop.

Each vendor's calls run on a task queue of their own (``onboarding-enrichment``, ...) whose rate
the server holds, across every worker polling it, below the vendor's limit
(``VENDOR_RATE_LIMITS``): a burst of signups waits in the queue instead of tripping 429s."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

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
from temporalio.worker.workflow_sandbox import SandboxRestrictions

from activities.contracts import (
    ENRICH_SIGNUP,
    LOOK_UP_TECHNOGRAPHICS,
    POST_SALES_ALERT,
    SEND_ONBOARDING_EMAIL,
)
from activities.dispatch_hold import DispatchHold
from activities.enrichment import ClearbitEnrichment
from activities.onboarding_email import ResendEmail
from activities.sales_alert import SlackSalesAlert
from activities.settings import VendorSettings
from activities.spend import SpendLedger
from activities.technographics import BuiltWithTechnographics
from activities.vendors import BY_ACTIVITY
from activities.warehouse import Warehouse
from common.telemetry import instrument_http_client
from worker import operator_log
from worker.sandbox_runner import CompiledSandboxRunner
from worker.settings import WorkerSettings
from workflows import search_attributes
from workflows.journey import OnboardingJourney
from workflows.models import TASK_QUEUE

log = logging.getLogger("onboarding.worker")

WAREHOUSE_THREADS = 16

# pydantic imports the email validator lazily, while validating a signup inside the sandbox.
WORKFLOW_RUNNER = CompiledSandboxRunner(
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
        limits=httpx.Limits(
            max_connections=settings.http_max_connections,
            max_keepalive_connections=settings.http_max_keepalive_connections,
        ),
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
    tuning: WorkerSettings | None = None,
) -> None:
    """Run the worker until ``stop`` is set, then finish in-flight tasks and shut down.

    Vendor calls are traced with ``tracer_provider`` (default: the global one); workflows and
    activities with the client's tracing interceptor."""
    quiet_http_logs()
    operator_log.install()
    tuning = tuning or WorkerSettings()
    warehouse = Warehouse(settings.warehouse_url)
    async with instrument_http_client(http_client(settings), tracer_provider) as http:
        # Every vendor answer goes into the spend ledger, whichever activity asked.
        http.event_hooks["response"].append(SpendLedger(warehouse).record_response)
        # Each role's activity; its vendor's row in the table names its queue and limit.
        vendor_calls: dict[str, Callable[..., Any]] = {
            ENRICH_SIGNUP: ClearbitEnrichment(http, settings, warehouse).enrich,
            LOOK_UP_TECHNOGRAPHICS: BuiltWithTechnographics(http, settings, warehouse).look_up,
            POST_SALES_ALERT: SlackSalesAlert(http, settings).post,
            SEND_ONBOARDING_EMAIL: ResendEmail(http, settings).send,
        }
        # Each role's queue and the rate the server holds it to.
        queues = {
            name: (
                BY_ACTIVITY[name].task_queue(task_queue),
                settings.rate_limit(BY_ACTIVITY[name].name),
            )
            for name in vendor_calls
        }
        # Warehouse writes run on threads, as many as the engine's connection pool serves.
        with ThreadPoolExecutor(
            max_workers=WAREHOUSE_THREADS, thread_name_prefix="warehouse"
        ) as executor:
            journeys = Worker(
                client,
                task_queue=task_queue,
                workflows=[journey],
                activities=[warehouse.save_activity],
                activity_executor=executor,
                workflow_runner=WORKFLOW_RUNNER,
                max_cached_workflows=tuning.max_cached_workflows,
                max_concurrent_workflow_tasks=tuning.max_concurrent_workflow_tasks,
                max_concurrent_activities=WAREHOUSE_THREADS,
                graceful_shutdown_timeout=timedelta(seconds=10),
            )
            vendors = [
                Worker(
                    client,
                    task_queue=queues[name][0],
                    activities=[call],
                    max_task_queue_activities_per_second=queues[name][1],
                    # Calls keep (at least) the spacing the server dispatched them with.
                    interceptors=[
                        DispatchHold(settings.vendor_dispatch_hold_seconds, queues[name][1])
                    ],
                    max_concurrent_activities=tuning.max_concurrent_activities,
                    graceful_shutdown_timeout=timedelta(seconds=10),
                )
                for name, call in vendor_calls.items()
            ]
            async with contextlib.AsyncExitStack() as running:
                for worker in (journeys, *vendors):
                    await running.enter_async_context(worker)
                log.info(
                    "worker polling task queue %r and its vendor queues (%s)",
                    task_queue,
                    ", ".join(f"{queue} {rate:g}/s" for queue, rate in queues.values()),
                )
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
