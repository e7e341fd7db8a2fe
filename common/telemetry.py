"""Traces and metrics: one OpenTelemetry trace per journey, and Prometheus metrics on the worker.

Tracing follows a journey from the request that starts it (the webhook's request span, the CLI's
``start`` span) through the workflow start, the workflow run and each activity down to every
vendor HTTP call: Temporal's ``TracingInterceptor`` carries the context in workflow and activity
headers, and OpenTelemetry's httpx instrumentation makes one span per vendor request, tagged with
the vendor, the HTTP status and the activity attempt. Where spans go is chosen by the standard
``OTEL_*`` variables: OTLP over HTTP when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set, nowhere by
default (the context is still propagated, so a worker that exports continues the trace).

Metrics come from one Prometheus endpoint per worker process, served by the Temporal SDK's
runtime: the SDK's own ``temporal_*`` metrics and the journey's, which activities and the
workflow record through the SDK's metric meter (replay-safe in the workflow).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Collection, Mapping
from contextlib import AbstractContextManager
from typing import Any

import httpx
from opentelemetry import propagate, trace
from opentelemetry.instrumentation.httpx import (
    HTTPXClientInstrumentor,
    RequestInfo,
    ResponseInfo,
)
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio import activity
from temporalio.client import Interceptor
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)

log = logging.getLogger("onboarding.telemetry")

WORKER_SERVICE = "onboarding-worker"
WEBHOOK_SERVICE = "onboarding-webhook"
CLI_SERVICE = "onboarding-cli"
DEMO_SERVICE = "onboarding-demo"

TRACER_NAME = "onboarding"
# The httpx request extension ``activities.vendor_http.send`` names the vendor in.
VENDOR_EXTENSION = "onboarding.vendor"
# A request whose URL path is itself the secret (a Slack incoming webhook's): spans keep the host.
SECRET_PATH_EXTENSION = "onboarding.secret_path"
# Attributes of each vendor HTTP span.
VENDOR_ATTRIBUTE = "onboarding.vendor"
STATUS_ATTRIBUTE = "http.response.status_code"
ATTEMPT_ATTRIBUTE = "temporal.activity.attempt"
ACTIVITY_TYPE_ATTRIBUTE = "temporal.activity.type"
# Clearbit's URL carries the person's email, BuiltWith's the API key: spans keep neither.
_URL_ATTRIBUTES = ("http.url", "url.full")

# Vendor latency in milliseconds: the SDK's default buckets start at 50 ms.
VENDOR_LATENCY_BUCKETS_MS = (5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000)


class TelemetryConfigError(Exception):
    """Telemetry cannot be set up as configured; the message says what to fix."""


# Tracing.


def span_exporters(*, console: bool = False) -> list[SpanExporter]:
    """The exporters ``OTEL_TRACES_EXPORTER`` names (``otlp``, ``console``, ``none``), else OTLP
    when ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or its traces variant) is set, else none; ``console``
    adds one line per span on the console (``span_line``)."""
    chosen = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if chosen:
        names = [name.strip() for name in chosen.split(",") if name.strip()]
    elif os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
    ):
        names = ["otlp"]
    else:
        names = []
    exporters: list[SpanExporter] = []
    if console:
        exporters.append(ConsoleSpanExporter(formatter=span_line))
    for name in names:
        if name == "console":
            exporters.append(ConsoleSpanExporter())
        elif name == "otlp":
            exporters.append(_otlp_exporter())
        elif name != "none":
            raise TelemetryConfigError(
                f"OTEL_TRACES_EXPORTER={name} is not supported: use otlp, console or none."
            )
    return exporters


_LINE_ATTRIBUTES = {
    VENDOR_ATTRIBUTE: "vendor",
    STATUS_ATTRIBUTE: "status",
    ATTEMPT_ATTRIBUTE: "attempt",
    "temporalWorkflowID": "journey",
}


def span_line(span: ReadableSpan) -> str:
    """One span as one console line: its trace, name, duration and what matters of it."""
    trace_id = format(span.context.trace_id, "032x")[:8] if span.context else "-" * 8
    took = ((span.end_time or 0) - (span.start_time or 0)) / 1e6
    attributes = span.attributes or {}
    details = " ".join(
        f"{label}={attributes[key]!s}"
        for key, label in _LINE_ATTRIBUTES.items()
        if key in attributes
    )
    return f"trace {trace_id}  {span.name:<38} {took:8.1f} ms  {details}".rstrip() + "\n"


def _otlp_exporter() -> SpanExporter:
    protocol = (
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    )
    if protocol.strip() != "http/protobuf":
        raise TelemetryConfigError(
            f"OTLP protocol {protocol} is not installed: set OTEL_EXPORTER_OTLP_PROTOCOL="
            "http/protobuf (and the endpoint to the collector's HTTP port, usually 4318)."
        )
    # Imported here: protobuf is heavy, and most commands never export.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    # Endpoint, headers, timeout and compression come from the OTEL_EXPORTER_OTLP_* variables.
    return OTLPSpanExporter()


def tracer_provider(service_name: str, *, console: bool = False) -> TracerProvider:
    """A tracer provider exporting where the ``OTEL_*`` variables say, without making it the
    process's global one. ``OTEL_SERVICE_NAME`` overrides ``service_name``."""
    name = os.environ.get("OTEL_SERVICE_NAME") or service_name
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: name}))
    for exporter in span_exporters(console=console):
        # The console shows each span as it ends; a collector gets them in batches.
        console_exporter = isinstance(exporter, ConsoleSpanExporter)
        provider.add_span_processor(
            SimpleSpanProcessor(exporter) if console_exporter else BatchSpanProcessor(exporter)
        )
    return provider


_configured: TracerProvider | None = None


def configure_tracing(service_name: str, *, console: bool = False) -> TracerProvider:
    """Make a provider for this process (see ``tracer_provider``) the global one and return it.

    OpenTelemetry takes a global provider once per process, so a second call returns the first
    call's provider. Spans are always recorded, so their context propagates even when nothing
    is exported. Flush it (``force_flush()``) before a short-lived command exits.
    """
    global _configured
    if _configured is None:
        _configured = tracer_provider(service_name, console=console)
        trace.set_tracer_provider(_configured)
    return _configured


def _tracer(provider: trace.TracerProvider | None) -> trace.Tracer:
    # Without a provider: the global one, as configure_tracing sets it (now or later).
    return trace.get_tracer(TRACER_NAME, tracer_provider=provider)


def client_interceptors(provider: trace.TracerProvider | None = None) -> list[Interceptor]:
    """The interceptors every Temporal client gets: spans for starting workflows and, on a
    worker using the client, for running workflows and activities, with the trace context in
    their headers."""
    return [TracingInterceptor(_tracer(provider))]


def start_span(
    name: str, provider: trace.TracerProvider | None = None
) -> AbstractContextManager[trace.Span]:
    """A root span for one command that starts journeys, e.g. the CLI's ``start``."""
    return _tracer(provider).start_as_current_span(name)


def _without_query(url: str, *, secret_path: bool = False) -> str:
    parsed = httpx.URL(url).copy_with(query=None, fragment=None)
    return str(parsed.copy_with(path="/")) if secret_path else str(parsed)


async def _on_vendor_request(span: trace.Span, request: RequestInfo) -> None:
    if not span.is_recording():
        return
    extensions: Mapping[str, Any] = request.extensions or {}
    vendor = extensions.get(VENDOR_EXTENSION)
    if isinstance(vendor, str):
        span.set_attribute(VENDOR_ATTRIBUTE, vendor)
        span.update_name(f"{request.method.decode()} {vendor}")
    if activity.in_activity():
        info = activity.info()
        span.set_attribute(ATTEMPT_ATTRIBUTE, info.attempt)
        span.set_attribute(ACTIVITY_TYPE_ATTRIBUTE, info.activity_type)
    attributes: Mapping[str, Any] = getattr(span, "attributes", None) or {}
    secret_path = bool(extensions.get(SECRET_PATH_EXTENSION))
    for key in _URL_ATTRIBUTES:
        if isinstance(attributes.get(key), str):
            span.set_attribute(key, _without_query(attributes[key], secret_path=secret_path))


async def _on_vendor_response(
    span: trace.Span, request: RequestInfo, response: ResponseInfo
) -> None:
    if span.is_recording():
        span.set_attribute(STATUS_ATTRIBUTE, response.status_code)


def instrument_http_client(
    client: httpx.AsyncClient, provider: trace.TracerProvider | None = None
) -> httpx.AsyncClient:
    """One span per request of the worker's shared vendor client, carrying the trace context to
    the vendor (``traceparent``) and naming the vendor, status and activity attempt."""
    HTTPXClientInstrumentor.instrument_client(
        client,
        tracer_provider=provider,
        request_hook=_on_vendor_request,
        response_hook=_on_vendor_response,
    )
    return client


class RequestSpans:
    """ASGI middleware: one server span per request that may start a journey (``POST``), the
    root of the journey's trace unless the sender passes a ``traceparent`` of its own."""

    def __init__(
        self,
        app: ASGIApp,
        tracer_provider: trace.TracerProvider | None = None,
        methods: Collection[str] = ("POST",),
    ) -> None:
        self._app = app
        self._tracer = _tracer(tracer_provider)
        self._methods = set(methods)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in self._methods:
            await self._app(scope, receive, send)
            return
        method = scope["method"]
        carrier = {
            key.decode("latin-1"): value.decode("latin-1") for key, value in scope["headers"]
        }
        with self._tracer.start_as_current_span(
            method,
            context=propagate.extract(carrier),
            kind=trace.SpanKind.SERVER,
            attributes={"http.request.method": method, "url.path": scope["path"]},
        ) as span:

            async def send_status(message: Message) -> None:
                if message["type"] == "http.response.start":
                    span.set_attribute(STATUS_ATTRIBUTE, message["status"])
                    if message["status"] >= 500:
                        span.set_status(trace.StatusCode.ERROR)
                await send(message)

            try:
                await self._app(scope, receive, send_status)
            finally:
                # The route is known once the router has run: name the span after it.
                route = getattr(scope.get("route"), "path", None)
                if isinstance(route, str):
                    span.set_attribute("http.route", route)
                    span.update_name(f"{method} {route}")


# Metrics.


class MetricsSettings(BaseSettings):
    """Where a worker serves Prometheus metrics: ``METRICS_PORT`` (unset: no endpoint)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    metrics_host: str = "0.0.0.0"


_runtimes: dict[str, Runtime] = {}


def _core_logs() -> LoggingConfig:
    """The SDK core's warnings (a dropped connection, a retried call) through Python logging, so
    they share the worker log's format instead of a colored line of their own."""
    return LoggingConfig(
        filter=TelemetryFilter(core_level="WARN", other_level="WARN"),
        forwarding=LogForwardingConfig(
            logger=logging.getLogger("temporalio.core"), prepend_target_on_message=False
        ),
    )


def worker_runtime(metrics: MetricsSettings) -> Runtime:
    """The runtime of a worker process: its metrics on ``/metrics`` when a port is set, and
    the SDK core's warnings in its log."""
    if metrics.metrics_port:
        return metrics_runtime(metrics.metrics_port, metrics.metrics_host)
    return Runtime(telemetry=TelemetryConfig(logging=_core_logs()))


def metrics_runtime(port: int, host: str = "0.0.0.0") -> Runtime:
    """The process's Temporal runtime serving ``/metrics`` on ``host:port``: created once per
    address, since each runtime owns its threads and its listening socket. Give it to every
    client of the process (``connect(runtime=...)``) so their workers' metrics land there."""
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if address not in _runtimes:
        config = PrometheusConfig(
            bind_address=address,
            histogram_bucket_overrides={"onboarding_vendor_latency": VENDOR_LATENCY_BUCKETS_MS},
        )
        try:
            _runtimes[address] = Runtime(
                telemetry=TelemetryConfig(metrics=config, logging=_core_logs())
            )
        except ValueError as exc:
            reason = str(exc).removeprefix("Failed starting Prometheus exporter: ")
            raise TelemetryConfigError(
                f"cannot serve metrics on {address} ({reason}): stop what listens there or "
                "choose another METRICS_PORT."
            ) from None
        log.info("Prometheus metrics on http://%s/metrics", address)
    return _runtimes[address]


def quiet_runtime() -> Runtime:
    """An SDK runtime that logs errors only: for commands and harnesses whose own report says
    better than the SDK's per-retry warnings that Temporal is unreachable."""
    quiet = TelemetryFilter(core_level="ERROR", other_level="ERROR")
    return Runtime(telemetry=TelemetryConfig(logging=LoggingConfig(filter=quiet)))
