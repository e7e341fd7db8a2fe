"""The worker: builds the activities once with their settings and a shared HTTP client, and hosts
the journey on the ``onboarding`` task queue until told to stop.

Each role's new calls run on a task queue of their own (``onboarding-enrichment``, ...), served by
the role's configured provider; calls pinned to one provider (a retry of a call it began, the
enrichment waterfall's next step) run on that provider's queue (``onboarding-enrichment-clearbit``).
The server holds each queue, across every worker polling it, below its provider's limit
(``VENDOR_RATE_LIMITS``): a burst of signups waits in the queue instead of tripping 429s. A worker
serves every provider it has a credential for, so calls begun before a swap still drain."""

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
from pydantic import SecretStr
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxRestrictions

from activities.contracts import vendor_task_queue
from activities.dispatch_hold import DispatchHold
from activities.email_content import EmailTemplates
from activities.enrichment import ClearbitEnrichment
from activities.mailroom import Mailroom
from activities.onboarding_email import ResendEmail
from activities.peopledatalabs import PeopleDataLabsEnrichment
from activities.postmark import PostmarkEmail
from activities.roles import Provider, RoleActivities
from activities.sales_alert import SlackSalesAlert
from activities.settings import VendorSettings
from activities.slack_webhook import SlackWebhookSalesAlert
from activities.spend import SpendLedger
from activities.suppression import SuppressionList, parse_hash_key
from activities.technographics import BuiltWithTechnographics
from activities.vendors import PROVIDERS, VENDORS
from activities.wappalyzer import WappalyzerTechnographics
from activities.warehouse import Warehouse
from common.telemetry import instrument_http_client
from common.unsubscribe import UnsubscribeTokens, parse_signing_keys
from worker import operator_log
from worker.sandbox_runner import CompiledSandboxRunner
from worker.settings import WorkerSettings
from workflows import search_attributes
from workflows.journey import OnboardingJourney
from workflows.models import TASK_QUEUE, JourneyConfig

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


def providers(
    http: httpx.AsyncClient, settings: VendorSettings, warehouse: Warehouse
) -> dict[str, Provider]:
    """Each provider this worker can call: the configured ones, and any other it has a
    credential for (to finish calls begun with it before a swap)."""
    build: dict[str, Callable[[], Provider]] = {
        "clearbit": lambda: ClearbitEnrichment(http, settings, warehouse).enrich,
        "peopledatalabs": lambda: PeopleDataLabsEnrichment(http, settings, warehouse).enrich,
        "builtwith": lambda: BuiltWithTechnographics(http, settings, warehouse).look_up,
        "wappalyzer": lambda: WappalyzerTechnographics(http, settings, warehouse).look_up,
        "slack": lambda: SlackSalesAlert(http, settings).post,
        "slack-webhook": lambda: SlackWebhookSalesAlert(http, settings).post,
        "resend": lambda: ResendEmail(http, settings).send,
        "postmark": lambda: PostmarkEmail(http, settings).send,
    }
    configured = {name for activity in PROVIDERS for name in settings.providers(activity)}
    return {
        name: make()
        for name, make in build.items()
        if name in configured or settings.has_credential(name)
    }


def _required(value: SecretStr, variable: str, command: str) -> str:
    if not value.get_secret_value().strip():
        raise ValueError(f"{variable} is not set: create it with `{command}`")
    return value.get_secret_value()


def mailroom(settings: VendorSettings, warehouse: Warehouse) -> Mailroom:
    """What every email goes through; raises ValueError (one line) on an email setting that
    cannot be used, and EmailTemplatesError on a missing or broken template."""
    if not settings.sender_postal_address.strip():
        raise ValueError(
            "SENDER_POSTAL_ADDRESS is not set: every email must show the sender's postal "
            "address (CAN-SPAM)"
        )
    keys = _required(
        settings.unsubscribe_signing_keys,
        "UNSUBSCRIBE_SIGNING_KEYS",
        "onboarding unsubscribe-keygen k1",
    )
    signing_keys = parse_signing_keys(keys)
    hash_key = parse_hash_key(
        _required(
            settings.suppression_hash_key, "SUPPRESSION_HASH_KEY", "onboarding suppression-keygen"
        )
    )
    templates = EmailTemplates(settings.email_templates_dir)
    templates.check(JourneyConfig().integrated_technologies)
    return Mailroom(
        templates,
        UnsubscribeTokens(signing_keys),
        SuppressionList(warehouse, hash_key),
        public_base_url=settings.public_base_url,
        postal_address=settings.sender_postal_address.strip(),
        warehouse=warehouse,
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
        callable_providers = providers(http, settings, warehouse)
        roles = RoleActivities(
            settings, callable_providers, mailroom(settings, warehouse)
        ).by_activity()
        # Each queue, the role's activity it carries and the rate the server holds it to: the
        # role's queue at its first configured provider's limit, each provider's at its own.
        queues: dict[str, tuple[Callable[..., Any], float]] = {
            vendor_task_queue(task_queue, name): (
                call,
                settings.rate_limit(settings.providers(name)[0]),
            )
            for name, call in roles.items()
        }
        pinned = {VENDORS[name].task_queue(task_queue) for name in callable_providers}
        for name in callable_providers:
            vendor = VENDORS[name]
            queues[vendor.task_queue(task_queue)] = (
                roles[vendor.activity],
                settings.rate_limit(name),
            )
        # Warehouse writes run on threads, as many as the engine's connection pool serves.
        with ThreadPoolExecutor(
            max_workers=WAREHOUSE_THREADS, thread_name_prefix="warehouse"
        ) as executor:
            journeys = Worker(
                client,
                task_queue=task_queue,
                workflows=[journey],
                activities=[warehouse.save_activity, warehouse.record_activity],
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
                    task_queue=queue,
                    activities=[call],
                    max_task_queue_activities_per_second=rate,
                    # Calls keep (at least) the spacing the server dispatched them with.
                    interceptors=[DispatchHold(settings.vendor_dispatch_hold_seconds, rate)],
                    max_concurrent_activities=tuning.max_concurrent_activities,
                    max_concurrent_activity_task_polls=1 if queue in pinned else None,
                    graceful_shutdown_timeout=timedelta(seconds=10),
                )
                for queue, (call, rate) in queues.items()
            ]
            async with contextlib.AsyncExitStack() as running:
                for worker in (journeys, *vendors):
                    await running.enter_async_context(worker)
                roles_line = ", ".join(
                    f"{queue} ({'→'.join(settings.providers(name))}) {queues[queue][1]:.3g}/s"
                    for queue, name in ((vendor_task_queue(task_queue, n), n) for n in roles)
                )
                log.info(
                    "worker polling task queue %r and the role queues %s", task_queue, roles_line
                )
                log.info(
                    "calls begun with a provider finish on its queue: %s",
                    ", ".join(
                        f"{name} {queues[VENDORS[name].task_queue(task_queue)][1]:.3g}/s"
                        for name in callable_providers
                    ),
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
