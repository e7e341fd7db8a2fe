"""A Slack incoming webhook's URL is its secret: the vendor call's span keeps only its host."""

from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.testing import ActivityEnvironment

from activities.contracts import Company, SalesAlert
from activities.settings import VendorSettings
from activities.slack_webhook import SlackWebhookSalesAlert
from common.telemetry import instrument_http_client
from sandbox.server import SandboxServer
from worker.main import http_client


async def test_a_webhooks_secret_path_stays_out_of_its_span(
    sandbox: SandboxServer, vendor_settings: VendorSettings
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    alert = SalesAlert(
        user_id="u-1", email="amara.okafor@globex.example", company=Company(name="Globex")
    )
    async with instrument_http_client(http_client(vendor_settings), provider) as http:
        await ActivityEnvironment().run(SlackWebhookSalesAlert(http, vendor_settings).post, alert)
    [span] = exporter.get_finished_spans()
    attributes = str(dict(span.attributes or {}))
    assert "slack-webhook" in attributes  # the vendor, named
    assert "sandbox-webhook-secret" not in attributes and "services/" not in attributes
    assert len(sandbox.state.webhook_messages()) == 1
