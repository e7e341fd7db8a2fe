"""One OpenTelemetry trace per journey, on the dev server with the sandbox over real HTTP: the
request that starts it is the root; the workflow start, the run, every activity and every vendor
HTTP call (with vendor, status and attempt) hang below it; nothing personal or secret is in it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from datetime import timedelta
from urllib.parse import quote

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.propagate import inject
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import ConsoleSpanExporter
from opentelemetry.trace import SpanKind
from temporalio.client import Client

from activities.settings import VendorSettings
from common.telemetry import (
    ATTEMPT_ATTRIBUTE,
    STATUS_ATTRIBUTE,
    VENDOR_ATTRIBUTE,
    TelemetryConfigError,
    span_exporters,
    start_span,
    tracer_provider,
)
from sandbox.server import SandboxServer
from starter.journeys import start_journey
from starter.webhook import WebhookSettings, create_app
from tests.observability.conftest import TracedWorker
from workflows.journey import OnboardingJourney
from workflows.models import JourneyConfig, Outcome, Signup, journey_id

CONFIG = JourneyConfig(email_schedule="0s,1s,2s", enrichment_poll_interval=timedelta(seconds=1))
WORKFLOW = "OnboardingJourney"
ACTIVITY_OF = {
    "clearbit": "enrich_signup",
    "builtwith": "look_up_technographics",
    "slack": "post_sales_alert",
    "resend": "send_onboarding_email",
}


class Trace:
    """Finished spans as a tree."""

    def __init__(self, spans: Iterable[ReadableSpan]) -> None:
        self.spans = sorted(spans, key=lambda span: span.start_time or 0)
        self._by_id = {span.context.span_id: span for span in self.spans}

    def parent(self, span: ReadableSpan) -> ReadableSpan | None:
        return self._by_id.get(span.parent.span_id) if span.parent else None

    def path(self, span: ReadableSpan) -> list[str]:
        """Span names from the root down to ``span``."""
        names = [span.name]
        parent = self.parent(span)
        while parent is not None:
            names.insert(0, parent.name)
            parent = self.parent(parent)
        return names

    def named(self, name: str) -> list[ReadableSpan]:
        return [span for span in self.spans if span.name == name]

    def http(self, vendor: str) -> list[ReadableSpan]:
        """The vendor's HTTP spans, oldest first."""
        return [
            span
            for span in self.spans
            if span.kind is SpanKind.CLIENT
            and (span.attributes or {}).get(VENDOR_ATTRIBUTE) == vendor
        ]

    def assert_one_tree(self, root: str) -> ReadableSpan:
        """One trace id, one root named ``root``, and every other span's parent in the trace."""
        assert {span.context.trace_id for span in self.spans} == {self.spans[0].context.trace_id}, (
            "the journey's spans are spread over several traces"
        )
        roots = [span for span in self.spans if span.parent is None]
        assert [span.name for span in roots] == [root]
        orphans = [span.name for span in self.spans if span.parent and not self.parent(span)]
        assert orphans == [], f"spans whose parent is not in the trace: {orphans}"
        return roots[0]

    def assert_journey_below(self, root: str, vendors: dict[str, int]) -> None:
        """Start, run, activities and ``vendors``' HTTP calls (how many each) under ``root``."""
        start = f"StartWorkflow:{WORKFLOW}"
        assert [self.path(span) for span in self.named(f"RunWorkflow:{WORKFLOW}")] == [
            [root, start, f"RunWorkflow:{WORKFLOW}"]
        ]
        assert self.named(f"CompleteWorkflow:{WORKFLOW}"), "the run's completion is traced"
        for vendor, count in vendors.items():
            activity = ACTIVITY_OF[vendor]
            calls = self.http(vendor)
            assert len(calls) == count, f"{vendor}: {[self.path(c) for c in calls]}"
            for call in calls:
                assert self.path(call) == [
                    root,
                    start,
                    f"StartActivity:{activity}",
                    f"RunActivity:{activity}",
                    call.name,
                ]
                assert call.name in {f"GET {vendor}", f"POST {vendor}"}

    def assert_nothing_personal(self, *secrets: str) -> None:
        """No attribute carries the signup's email or a vendor key (Clearbit's and BuiltWith's
        URLs hold them in the query string)."""
        forms = {form for secret in secrets for form in (secret, quote(secret, safe=""))}
        for span in self.spans:
            for key, value in (span.attributes or {}).items():
                for form in forms:
                    assert form not in str(value), f"{span.name} {key} carries {form!r}"


def calls(spans: list[ReadableSpan]) -> list[tuple[object, object]]:
    """(attempt, status) of each HTTP span."""
    return [
        (
            (span.attributes or {}).get(ATTEMPT_ATTRIBUTE),
            (span.attributes or {}).get(STATUS_ATTRIBUTE),
        )
        for span in spans
    ]


def new_signup(email_domain: str) -> Signup:
    user = f"u-{uuid.uuid4().hex[:10]}"
    return Signup(user_id=user, email=f"{user}@{email_domain}", first_name="Robin")


async def run_journey(worker: TracedWorker, signup: Signup, root: str) -> Outcome | None:
    """Start the journey inside a span standing in for the request that starts it."""
    with start_span(root, worker.provider):
        started = await start_journey(worker.client, signup, CONFIG, task_queue=worker.task_queue)
    handle = worker.client.get_workflow_handle_for(OnboardingJourney.run, started.workflow_id)
    return (await handle.result()).outcome


async def test_an_enterprise_journey_is_one_trace_from_the_signup_to_the_slack_alert(
    traced_worker: TracedWorker, sandbox: SandboxServer, vendor_settings: VendorSettings
) -> None:
    signup = new_signup("globex.example")

    outcome = await run_journey(traced_worker, signup, "signup request")

    assert outcome == Outcome.SALES_ALERTED
    journey = Trace(await traced_worker.spans())
    root = journey.assert_one_tree("signup request")
    start = journey.named(f"StartWorkflow:{WORKFLOW}")[0]
    assert journey.parent(start) is root
    assert (start.attributes or {}).get("temporalWorkflowID") == journey_id(signup.user_id)
    journey.assert_journey_below("signup request", {"clearbit": 1, "slack": 1})
    assert journey.http("builtwith") == [] and journey.http("resend") == []
    assert calls(journey.http("clearbit")) == [(1, 200)]
    assert calls(journey.http("slack")) == [(1, 200)]
    assert [span.name for span in journey.http("slack")] == ["POST slack"]
    journey.assert_nothing_personal(
        signup.email, vendor_settings.clearbit_api_key.get_secret_value()
    )


async def test_an_email_journey_traces_each_retry_and_each_email(
    traced_worker: TracedWorker, sandbox: SandboxServer, vendor_settings: VendorSettings
) -> None:
    sandbox.state.script("clearbit", [{"status": 503, "json": {}}])
    signup = new_signup("shopbright.example")

    outcome = await run_journey(traced_worker, signup, "signup request")

    assert outcome == Outcome.EMAILS_COMPLETED
    journey = Trace(await traced_worker.spans())
    journey.assert_one_tree("signup request")
    journey.assert_journey_below(
        "signup request", {"clearbit": 2, "builtwith": 1, "resend": 3, "slack": 0}
    )
    # The 503 at the first try, and the retry the journey schedules after it: an activity
    # each, each with its own HTTP span.
    assert calls(journey.http("clearbit")) == [(1, 503), (1, 200)]
    assert len(journey.named("RunActivity:enrich_signup")) == 2
    assert len(journey.named("StartActivity:enrich_signup")) == 2
    assert calls(journey.http("builtwith")) == [(1, 200)]
    assert calls(journey.http("resend")) == [(1, 200)] * 3
    assert len(journey.named("RunActivity:save_to_warehouse")) == 2
    journey.assert_nothing_personal(
        signup.email, vendor_settings.builtwith_api_key.get_secret_value()
    )


async def test_the_webhooks_request_span_is_the_root_of_the_journeys_trace(
    traced_worker: TracedWorker, sandbox: SandboxServer
) -> None:
    async def temporal() -> Client:
        return traced_worker.client

    app = create_app(
        WebhookSettings(
            signup_webhook_secret=None,
            segment_shared_secret=None,
            webhook_insecure_dev=True,
            _env_file=None,
        ),
        client_factory=temporal,
        journey_config=CONFIG,
        task_queue=traced_worker.task_queue,
        tracer_provider=traced_worker.provider,
    )
    signup = new_signup("globex.example")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://webhook") as http:
        response = await http.post("/signups", content=signup.model_dump_json())
    assert response.status_code == 202, response.text
    handle = traced_worker.client.get_workflow_handle_for(
        OnboardingJourney.run, response.json()["workflow_id"]
    )
    assert (await handle.result()).outcome == Outcome.SALES_ALERTED

    journey = Trace(await traced_worker.spans())
    root = journey.assert_one_tree("POST /signups")
    assert root.kind is SpanKind.SERVER
    assert root.attributes is not None
    assert root.attributes[STATUS_ATTRIBUTE] == 202
    assert root.attributes["http.route"] == "/signups"
    journey.assert_journey_below("POST /signups", {"clearbit": 1, "slack": 1})


async def test_the_webhook_continues_a_trace_its_sender_passes(
    traced_worker: TracedWorker,
) -> None:
    """A sender's ``traceparent`` makes the request span its child (Segment's ignored event:
    nothing is started)."""

    async def unused() -> Client:
        raise AssertionError("an ignored event must not reach Temporal")

    app = create_app(
        WebhookSettings(
            signup_webhook_secret=None,
            segment_shared_secret=None,
            webhook_insecure_dev=True,
            _env_file=None,
        ),
        client_factory=unused,
        journey_config=CONFIG,
        tracer_provider=traced_worker.provider,
    )
    sender = traced_worker.provider.get_tracer("sender")
    event = {"type": "identify", "messageId": "m-1", "userId": "u-1"}
    with sender.start_as_current_span("sender") as sending:
        carrier: dict[str, str] = {}
        inject(carrier)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://webhook") as http:
            response = await http.post("/segment", content=json.dumps(event), headers=carrier)
    assert response.status_code == 200, response.text

    request = Trace(await traced_worker.spans())
    assert request.path(request.named("POST /segment")[0]) == ["sender", "POST /segment"]
    assert request.named("POST /segment")[0].context.trace_id == (
        sending.get_span_context().trace_id
    )


def test_exporters_follow_the_standard_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in (
        "OTEL_TRACES_EXPORTER",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_SERVICE_NAME",
    ):
        monkeypatch.delenv(variable, raising=False)
    assert span_exporters() == []  # nothing exported unless asked
    assert [type(e) for e in span_exporters(console=True)] == [ConsoleSpanExporter]
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    assert [type(e) for e in span_exporters()] == [ConsoleSpanExporter]
    monkeypatch.delenv("OTEL_TRACES_EXPORTER")

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    assert [type(e) for e in span_exporters()] == [OTLPSpanExporter]
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    assert span_exporters() == []

    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "zipkin")
    with pytest.raises(TelemetryConfigError, match="zipkin is not supported"):
        span_exporters()
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    with pytest.raises(TelemetryConfigError, match="http/protobuf"):
        span_exporters()


def test_the_service_name_defaults_per_command_and_yields_to_otel_service_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    monkeypatch.delenv("OTEL_TRACES_EXPORTER", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    provider = tracer_provider("onboarding-worker")
    assert provider.resource.attributes["service.name"] == "onboarding-worker"
    monkeypatch.setenv("OTEL_SERVICE_NAME", "onboarding-eu")
    assert tracer_provider("onboarding-worker").resource.attributes["service.name"] == (
        "onboarding-eu"
    )


def test_spans_carry_context_even_when_nothing_exports() -> None:
    """Without an exporter spans are still recorded, so the context reaches the worker."""
    provider = tracer_provider("onboarding-cli")
    with start_span("onboarding start", provider) as span:
        assert span.get_span_context().is_valid
        assert trace.get_current_span() is span
