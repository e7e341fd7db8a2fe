"""The operators' Grafana dashboard (deploy/grafana/dashboards/onboarding.json): every panel asks
the provisioned Prometheus, and every metric its PromQL names is one that a real worker's
``/metrics`` serves after running journeys, so a renamed metric cannot leave an empty panel."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from activities.settings import VendorSettings
from common.telemetry import metrics_runtime
from sandbox.server import SandboxServer
from starter.journeys import start_journey
from tests.observability.test_metrics import CONFIG, Scrape, free_port, new_signup
from worker.main import run_worker
from workflows.journey import OnboardingJourney
from workflows.models import Outcome

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "onboarding.json"
DATASOURCES = ROOT / "deploy" / "grafana" / "provisioning" / "datasources" / "prometheus.yml"

_QUOTED = re.compile(r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'")
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_LABEL_LIST = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
# A name not followed by "(" (a function's): a metric, or one of the keywords below.
_NAME = re.compile(r"(?<![\w:])[a-zA-Z_:][\w:]*(?![\w:])(?!\s*\()")
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan"}
_HISTOGRAM_SERIES = ("_bucket", "_sum", "_count")


def metric_names(expr: str) -> set[str]:
    """The metrics a PromQL expression reads."""
    for pattern in (_QUOTED, _MATCHERS, _RANGE, _LABEL_LIST):
        expr = pattern.sub(" ", expr)
    return {name for name in _NAME.findall(expr) if name.lower() not in _KEYWORDS}


def load_dashboard() -> dict[str, Any]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert isinstance(dashboard, dict)
    return dashboard


def graph_panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel but the rows, those inside a collapsed row included."""
    panels: list[dict[str, Any]] = []
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            panels += panel.get("panels") or []
        else:
            panels.append(panel)
    return panels


def dashboard_metrics(dashboard: dict[str, Any]) -> set[str]:
    return {
        name
        for panel in graph_panels(dashboard)
        for target in panel["targets"]
        for name in metric_names(target["expr"])
    }


def provisioned_prometheus_uid() -> str:
    sources = yaml.safe_load(DATASOURCES.read_text(encoding="utf-8"))["datasources"]
    uids = [source["uid"] for source in sources if source["type"] == "prometheus"]
    assert len(uids) == 1, f"{DATASOURCES.name} should provision one Prometheus"
    return str(uids[0])


def exported_families(text: str) -> dict[str, str]:
    """Each metric family on ``/metrics`` to its type, from the ``# TYPE`` lines."""
    return dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.MULTILINE))


def test_metric_names_reads_the_metrics_of_an_expression() -> None:
    expr = (
        "histogram_quantile(0.95, sum by (le, vendor) "
        '(rate(onboarding_vendor_latency_bucket{vendor!="slack"}[$__rate_interval]))) '
        "or on (vendor) sum without (task_queue) (temporal_request) * 60"
    )
    assert metric_names(expr) == {"onboarding_vendor_latency_bucket", "temporal_request"}


def test_the_dashboard_is_the_onboarding_one() -> None:
    dashboard = load_dashboard()
    assert dashboard["uid"] == "onboarding-journeys"
    assert isinstance(dashboard["schemaVersion"], int)
    panels = graph_panels(dashboard)
    assert panels, "the dashboard has no panels"
    rows = [panel for panel in dashboard["panels"] if panel["type"] == "row"]
    ids = [panel["id"] for panel in rows + panels]
    assert len(ids) == len(set(ids)), "two panels share an id"


def test_every_panel_asks_the_provisioned_prometheus() -> None:
    uid = provisioned_prometheus_uid()
    for panel in graph_panels(load_dashboard()):
        title = panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": uid}, title
        assert panel["targets"], f"{title} has no query"
        for target in panel["targets"]:
            assert target.get("datasource", panel["datasource"]) == panel["datasource"], title
            assert metric_names(target["expr"]), f"{title} reads no metric: {target['expr']}"
        assert panel.get("description", "").strip(), f"{title} has no description"
        assert panel["fieldConfig"]["defaults"].get("unit"), f"{title} has no unit"


async def test_every_metric_on_the_dashboard_is_one_the_worker_serves(
    dev_server: WorkflowEnvironment, sandbox: SandboxServer, vendor_settings: VendorSettings
) -> None:
    port = free_port()
    client = await Client.connect(
        dev_server.client.service_client.config.target_host,
        data_converter=pydantic_data_converter,
        runtime=metrics_runtime(port, "127.0.0.1"),
    )
    task_queue = f"onboarding-dashboard-{uuid.uuid4().hex[:8]}"
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(client, vendor_settings, stop, task_queue=task_queue))
    # A failed attempt, a sales alert, three emails and a failed request: what the panels show.
    sandbox.state.script("clearbit", [{"status": 503, "json": {}}])
    try:
        outcomes = []
        for domain in ("globex.example", "shopbright.example"):
            started = await start_journey(client, new_signup(domain), CONFIG, task_queue=task_queue)
            handle = client.get_workflow_handle_for(OnboardingJourney.run, started.workflow_id)
            outcomes.append((await handle.result()).outcome)
        assert outcomes == [Outcome.SALES_ALERTED, Outcome.EMAILS_COMPLETED]
        with pytest.raises(RPCError):
            await client.get_workflow_handle(f"no-such-journey-{task_queue}").describe()
        async with httpx.AsyncClient() as http:
            response = await http.get(f"http://127.0.0.1:{port}/metrics")
    finally:
        stop.set()
        await worker
    assert response.status_code == 200
    served = Scrape(response.text).names()
    used = dashboard_metrics(load_dashboard())
    assert used, "the dashboard reads no metrics"
    assert not used - served, f"the worker serves no {sorted(used - served)}"

    # And the other way round: every journey metric has a panel.
    for family, kind in exported_families(response.text).items():
        if family.startswith("onboarding_"):
            series = {family + suffix for suffix in _HISTOGRAM_SERIES}
            shown = used & series if kind == "histogram" else used & {family}
            assert shown, f"no panel shows {family}"
