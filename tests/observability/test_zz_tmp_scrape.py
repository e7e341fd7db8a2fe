"""Throwaway: print the worker's real /metrics after journeys (not part of the repo)."""
from __future__ import annotations
import asyncio, uuid
import httpx
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from activities.settings import VendorSettings
from common.telemetry import metrics_runtime
from sandbox.server import SandboxServer
from starter.journeys import start_journey
from worker.main import run_worker
from workflows.journey import OnboardingJourney
from tests.observability.test_metrics import CONFIG, free_port, new_signup

async def test_print(dev_server: WorkflowEnvironment, sandbox: SandboxServer, vendor_settings: VendorSettings) -> None:
    port = free_port()
    client = await Client.connect(dev_server.client.service_client.config.target_host,
        data_converter=pydantic_data_converter, runtime=metrics_runtime(port, "127.0.0.1"))
    tq = f"onboarding-metrics-{uuid.uuid4().hex[:8]}"
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(client, vendor_settings, stop, task_queue=tq))
    sandbox.state.script("clearbit", [{"status": 503, "json": {}}])
    try:
        hs = []
        for d in ("globex.example", "shopbright.example", "unheard-of.example"):
            s = await start_journey(client, new_signup(d), CONFIG, task_queue=tq)
            hs.append(client.get_workflow_handle_for(OnboardingJourney.run, s.workflow_id))
        for h in hs:
            await h.result()
        async with httpx.AsyncClient() as http:
            r = await http.get(f"http://127.0.0.1:{port}/metrics")
    finally:
        stop.set(); await worker
    open("/tmp/dash/metrics.txt", "w").write(r.text)
