"""Prometheus metrics on the worker: a worker whose client carries the process's metrics runtime
runs three journeys on the dev server, and ``/metrics`` counts what happened: vendor calls by
outcome, their latency, emails, sales alerts, journeys by outcome, next to the SDK's own."""

from __future__ import annotations

import asyncio
import re
import socket
import uuid
from collections.abc import Mapping
from datetime import timedelta

import httpx
import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities import vendor_http
from activities.contracts import (
    ENRICH_SIGNUP,
    LOOK_UP_TECHNOGRAPHICS,
    POST_SALES_ALERT,
    SEND_ONBOARDING_EMAIL,
    vendor_task_queue,
)
from activities.settings import VendorSettings
from activities.vendors import VENDORS
from common.telemetry import TelemetryConfigError, metrics_runtime
from sandbox.server import SandboxServer
from starter.journeys import start_journey
from worker.main import run_worker
from workflows.journey import OnboardingJourney
from workflows.models import JourneyConfig, Outcome, Signup

CONFIG = JourneyConfig(email_schedule="0s,1s,2s", enrichment_poll_interval=timedelta(seconds=1))
_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})? (?P<value>\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


class Scrape:
    """One scrape of ``/metrics`` in Prometheus' text format."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.samples: list[tuple[str, dict[str, str], float]] = []
        for line in text.splitlines():
            match = _SAMPLE.match(line)
            if match and not line.startswith("#"):
                labels = dict(_LABEL.findall(match["labels"] or ""))
                self.samples.append((match["name"], labels, float(match["value"])))

    def total(self, name: str, **labels: str) -> float:
        """The sum of ``name``'s samples whose labels include ``labels``."""
        return sum(
            value
            for sample, sample_labels, value in self.samples
            if sample == name and _includes(sample_labels, labels)
        )

    def names(self) -> set[str]:
        return {name for name, _, _ in self.samples}


def _includes(labels: Mapping[str, str], wanted: Mapping[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in wanted.items())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def new_signup(email_domain: str) -> Signup:
    user = f"u-{uuid.uuid4().hex[:10]}"
    return Signup(user_id=user, email=f"{user}@{email_domain}", first_name="Robin")


async def test_metrics_count_what_the_journeys_did(
    dev_server: WorkflowEnvironment, sandbox: SandboxServer, vendor_settings: VendorSettings
) -> None:
    port = free_port()
    # As `onboarding worker` does with METRICS_PORT: the worker's client carries the runtime.
    client = await Client.connect(
        dev_server.client.service_client.config.target_host,
        data_converter=pydantic_data_converter,
        runtime=metrics_runtime(port, "127.0.0.1"),
    )
    assert metrics_runtime(port, "127.0.0.1") is metrics_runtime(port, "127.0.0.1")
    task_queue = f"onboarding-metrics-{uuid.uuid4().hex[:8]}"
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(client, vendor_settings, stop, task_queue=task_queue))
    sandbox.state.script("clearbit", [{"status": 503, "json": {}}])
    try:
        handles = []
        for domain in ("globex.example", "shopbright.example", "unheard-of.example"):
            started = await start_journey(client, new_signup(domain), CONFIG, task_queue=task_queue)
            handles.append(
                client.get_workflow_handle_for(OnboardingJourney.run, started.workflow_id)
            )
        outcomes = [(await handle.result()).outcome for handle in handles]
        assert outcomes == [Outcome.SALES_ALERTED, Outcome.EMAILS_COMPLETED, Outcome.NOT_ENRICHED]

        async with httpx.AsyncClient() as http:
            response = await http.get(f"http://127.0.0.1:{port}/metrics")
    finally:
        stop.set()
        await worker
    assert response.status_code == 200
    scrape = Scrape(response.text)
    ours = {"task_queue": task_queue}
    # Vendor calls run on each role's own queue, next to the journeys'; a retry of a call a
    # provider began, on that provider's queue.
    clearbit = {"task_queue": vendor_task_queue(task_queue, ENRICH_SIGNUP)}
    clearbit_retries = {"task_queue": VENDORS["clearbit"].task_queue(task_queue)}
    builtwith = {"task_queue": vendor_task_queue(task_queue, LOOK_UP_TECHNOGRAPHICS)}
    slack = {"task_queue": vendor_task_queue(task_queue, POST_SALES_ALERT)}
    resend = {"task_queue": vendor_task_queue(task_queue, SEND_ONBOARDING_EMAIL)}

    calls = "onboarding_vendor_calls"
    assert scrape.total(calls, vendor="clearbit", outcome="ok", **clearbit) == 1
    assert scrape.total(calls, vendor="clearbit", outcome="unavailable", **clearbit) == 1
    assert scrape.total(calls, vendor="clearbit", outcome="ok", **clearbit_retries) == 1
    assert scrape.total(calls, vendor="clearbit", outcome="not_found", **clearbit) == 1
    assert scrape.total(calls, vendor="builtwith", outcome="ok", **builtwith) == 1
    assert scrape.total(calls, vendor="resend", outcome="ok", **resend) == 3
    assert scrape.total(calls, vendor="slack", outcome="ok", **slack) == 1
    assert scrape.total("onboarding_vendor_latency_count", vendor="clearbit", **clearbit) == 3
    assert scrape.total("onboarding_vendor_latency_count", vendor="resend", **resend) == 3
    assert scrape.total("onboarding_vendor_latency_sum", vendor="resend", **resend) > 0

    assert scrape.total("onboarding_journeys_started", **ours) == 3
    finished = "onboarding_journeys_finished"
    assert scrape.total(finished, outcome="sales_alerted", **ours) == 1
    assert scrape.total(finished, outcome="emails_completed", **ours) == 1
    assert scrape.total(finished, outcome="not_enriched", **ours) == 1
    assert scrape.total("onboarding_emails_sent", **ours) == 3
    assert scrape.total("onboarding_sales_alerts", **ours) == 1

    # The SDK's own metrics, on the same endpoint.
    assert scrape.total("temporal_workflow_completed", **ours) == 3
    assert any(name.startswith("temporal_activity_") for name in scrape.names())


def test_a_metrics_port_in_use_is_one_clear_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(TelemetryConfigError, match=f"127.0.0.1:{port}.*METRICS_PORT"):
            metrics_runtime(port, "127.0.0.1")


async def test_vendor_calls_outside_an_activity_are_sent_and_not_counted() -> None:
    """Scripts and tests call vendors without a worker: there is no meter, and that is fine."""
    transport = httpx.MockTransport(lambda request: httpx.Response(204))
    async with httpx.AsyncClient(transport=transport) as client:
        response = await vendor_http.send(client, "Clearbit", "GET", "https://vendor.test/x")
    assert response.status_code == 204


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, "ok"),
        (202, "ok"),
        (404, "not_found"),
        (408, "unavailable"),
        (503, "unavailable"),
        (429, "rate_limited"),
        (401, "needs_operator"),
        (402, "needs_operator"),
        (403, "needs_operator"),
        (400, "rejected"),
        (422, "rejected"),
    ],
)
def test_each_answer_is_counted_as_the_shared_mapping_treats_it(status: int, outcome: str) -> None:
    assert vendor_http.call_outcome(status) == outcome
