"""The signup webhook: signed signups in over HTTP, journeys out; ``onboarding webhook``.

``POST /signups`` takes the product's own signup JSON signed per Standard Webhooks; ``POST /segment``
takes Segment's Webhooks destination. A delivery is verified before it is read, validated before
anything starts, and a repeated delivery returns the journey that exists: the workflow ID is the
user's, so no sender retry can make a second journey. When Temporal is unreachable the answer is
503 with ``Retry-After``, so the sender retries and nothing is lost.

The routes that stop journeys (unsubscribe links, Resend's and Postmark's bounces and complaints)
live in ``starter.email_events``; each is on once its secret is set.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import logging.config
import re
import socket
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import timedelta
from importlib import metadata
from typing import Annotated, Any, Literal, TypeVar

import uvicorn
from fastapi import APIRouter, FastAPI, Header, HTTPException, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from opentelemetry.trace import TracerProvider
from pydantic import BaseModel, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from standardwebhooks.webhooks import Webhook
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from activities.suppression import SuppressionList
from activities.warehouse import Warehouse
from common.connection import connect
from common.serving import ListenError, listen
from common.serving import log_config as serving_log_config
from common.telemetry import (
    WEBHOOK_SERVICE,
    RequestSpans,
    TelemetryConfigError,
    configure_tracing,
)
from common.unsubscribe import SigningKeyError, UnsubscribeTokens, parse_signing_keys
from starter.email_events import (
    PostmarkCheck,
    ResendCheck,
    accept_unverified_postmark,
    accept_unverified_resend,
    email_event_routes,
    json_body,
    postmark_basic_auth,
)
from starter.journeys import StartedJourney, start_journey
from starter.segment import (
    InvalidSignupEvent,
    SegmentEvent,
    ignore_reason,
    signature_matches,
    signup_from_track,
)
from starter.settings import JourneySettings
from workflows.models import TASK_QUEUE, JourneyConfig, Signup

log = logging.getLogger("onboarding.webhook")

T = TypeVar("T")

TITLE = "Onboarding journeys webhook"
# Standard Webhooks' replay window, both ways, against clocks that drift.
TIMESTAMP_TOLERANCE_SECONDS = 5 * 60
# Connecting plus one start must fit inside Segment's 5 s response deadline.
TEMPORAL_DEADLINE_SECONDS = 4.0
HEALTH_CHECK_TIMEOUT = timedelta(seconds=2)
RETRY_AFTER_SECONDS = 5
GRACEFUL_SHUTDOWN_SECONDS = 5

_UNREACHABLE = {RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED}
# An address inside a message, quoted or not; "the @-sign" of email-validator's messages is not one.
_ADDRESS = re.compile(r"'?[^\s'\"]+@[^\s'\"]+'?")
_CREATE_SIGNUP_SECRET = (
    """python -c "import base64,os;print('whsec_'+base64.b64encode(os.urandom(32)).decode())\""""
)
_CREATE_SEGMENT_SECRET = 'python -c "import secrets;print(secrets.token_urlsafe(32))"'
_RESEND = "POST /email-events/resend"
_POSTMARK = "POST /email-events/postmark"


class WebhookSettings(BaseSettings):
    """The webhook's own settings from the environment (``SIGNUP_WEBHOOK_SECRET``, ...)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    signup_webhook_secret: SecretStr | None = Field(
        default=None, description="Standard Webhooks signing secret of POST /signups, whsec_..."
    )
    segment_shared_secret: SecretStr | None = Field(
        default=None, description="The shared secret of the Segment Webhooks destination."
    )
    segment_signup_event: str = Field(
        default="Signed Up", description="The Segment track event that starts a journey."
    )
    resend_webhook_secret: SecretStr | None = Field(
        default=None,
        description="Signing secret (whsec_...) of Resend's webhook to POST /email-events/resend.",
    )
    postmark_webhook_user: str | None = Field(
        default=None,
        description="Basic-auth user in the URL of Postmark's bounce and spam-complaint webhooks.",
    )
    postmark_webhook_password: SecretStr | None = Field(
        default=None, description="Basic-auth password of Postmark's webhooks."
    )
    unsubscribe_signing_keys: SecretStr | None = Field(
        default=None,
        description="The worker's UNSUBSCRIBE_SIGNING_KEYS: every key verifies unsubscribe links.",
    )
    warehouse_url: str = Field(
        default="sqlite:///onboarding-warehouse.db",
        description="The worker's warehouse, where the suppression list lives.",
    )
    webhook_max_body_bytes: int = Field(default=65536, gt=0)
    # Named for the webhook: a generic INSECURE_DEV in a shared environment is too easy to set.
    webhook_insecure_dev: bool = Field(
        default=False, description="Accept unsigned requests on endpoints without a secret."
    )


class WebhookConfigError(Exception):
    """The webhook cannot start; the message is one line saying what to fix."""


class JourneyAccepted(BaseModel):
    """The user's journey: started by this delivery (``created``), or the one that exists."""

    workflow_id: str
    run_id: str
    created: bool


class Ignored(BaseModel):
    """A Segment message acknowledged without starting anything."""

    ignored: Literal[True] = True
    reason: str


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    temporal: Literal["reachable", "unreachable"]


class Problem(BaseModel):
    detail: str


class FieldProblem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class FieldProblems(BaseModel):
    detail: list[FieldProblem]


class TemporalUnavailable(Exception):
    """Temporal did not answer in time; the sender should retry."""


def _given(secret: SecretStr | str | None) -> str | None:
    """A setting's value; blank counts as unset (compose passes unset variables as "")."""
    value = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
    return value if value is not None and value.strip() else None


def check_secrets(settings: WebhookSettings) -> list[str]:
    """What stops the webhook from starting, one sentence each; empty when it may start.

    A missing signup or Segment secret, or missing unsubscribe signing keys, is allowed only
    with ``webhook_insecure_dev``; a secret that is set must be usable. The provider event
    routes are on once their secrets are set: without them they answer 404 (in insecure dev
    mode they accept anything).
    """
    problems: list[str] = []
    missing = []
    if settings.signup_webhook_secret is None:
        missing.append(f"SIGNUP_WEBHOOK_SECRET (create one with: {_CREATE_SIGNUP_SECRET})")
    elif _standard_verifier(settings.signup_webhook_secret) is None:
        problems.append(
            "SIGNUP_WEBHOOK_SECRET is not a Standard Webhooks secret (whsec_ and base64): "
            f"create one with: {_CREATE_SIGNUP_SECRET}"
        )
    if settings.segment_shared_secret is None:
        missing.append(
            "SEGMENT_SHARED_SECRET (the Segment destination's shared secret; create one with: "
            f"{_CREATE_SEGMENT_SECRET})"
        )
    elif not settings.segment_shared_secret.get_secret_value():
        problems.append("SEGMENT_SHARED_SECRET is empty: set the Segment destination's secret.")
    if _given(settings.unsubscribe_signing_keys) is None:
        # Every email carries a link to this webhook: without the keys none would work.
        missing.append("UNSUBSCRIBE_SIGNING_KEYS (the workers' own value)")
    problems.extend(_email_route_problems(settings))
    if missing and not settings.webhook_insecure_dev:
        problems.insert(
            0,
            f"Set {' and '.join(missing)} so signatures can be verified, "
            "or pass --insecure-dev to accept unsigned requests locally.",
        )
    return problems


def _email_route_problems(settings: WebhookSettings) -> list[str]:
    problems = []
    keys = _given(settings.unsubscribe_signing_keys)
    if keys is not None:
        try:
            parse_signing_keys(keys)
        except SigningKeyError as exc:
            problems.append(f"{exc}.")
    resend = _given(settings.resend_webhook_secret)
    if resend is not None and _standard_verifier(SecretStr(resend)) is None:
        problems.append(
            "RESEND_WEBHOOK_SECRET is not a signing secret (whsec_ and base64): copy it from "
            "the webhook's page in Resend."
        )
    user, password = (
        _given(settings.postmark_webhook_user),
        _given(settings.postmark_webhook_password),
    )
    if (user is None) != (password is None):
        problems.append(
            "Set both POSTMARK_WEBHOOK_USER and POSTMARK_WEBHOOK_PASSWORD (the credentials in "
            "the URL of Postmark's webhooks), or neither."
        )
    elif user is not None and ":" in user:
        problems.append("POSTMARK_WEBHOOK_USER cannot contain ':': choose a user without one.")
    return problems


def _startup_notes(settings: WebhookSettings) -> tuple[list[str], list[str]]:
    """What the webhook accepts without verifying, or turns away, as (warnings, notes)."""
    warnings = []
    for variable, route in (
        ("SIGNUP_WEBHOOK_SECRET", "POST /signups"),
        ("SEGMENT_SHARED_SECRET", "POST /segment"),
    ):
        if getattr(settings, variable.lower()) is None:
            warnings.append(
                f"INSECURE DEV MODE: {variable} is not set, so {route} accepts requests WITHOUT "
                "verifying signatures: anyone who can reach this port can start journeys."
            )
    off = []
    postmark_unset = _given(settings.postmark_webhook_user) is None
    for unset, variable, route in (
        (_given(settings.resend_webhook_secret) is None, "RESEND_WEBHOOK_SECRET", _RESEND),
        (postmark_unset, "POSTMARK_WEBHOOK_USER and _PASSWORD", _POSTMARK),
    ):
        if not unset:
            continue
        if settings.webhook_insecure_dev:
            warnings.append(
                f"INSECURE DEV MODE: {variable} not set, so {route} accepts requests WITHOUT "
                "verifying them: anyone who can reach this port can stop journeys."
            )
        else:
            off.append(f"{variable} not set, so {route} answers 404.")
    if _given(settings.unsubscribe_signing_keys) is None:
        warnings.append(
            "UNSUBSCRIBE_SIGNING_KEYS is not set, so every unsubscribe link answers 404: set the "
            "worker's keys here too (create them with `onboarding unsubscribe-keygen`)."
        )
    return warnings, off


def _standard_verifier(secret: SecretStr) -> Webhook | None:
    value = secret.get_secret_value().strip().removeprefix("whsec_")
    try:
        # Strict decoding: the library's own silently drops characters that are not base64.
        key = base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
    return Webhook(key) if key else None


class _Temporal:
    """The app's one Temporal client: connected on first need, dropped when unreachable."""

    def __init__(self, factory: Callable[[], Awaitable[Client]]) -> None:
        self._factory = factory
        self._client: Client | None = None
        self._lock = asyncio.Lock()

    async def _connected(self) -> Client:
        async with self._lock:
            if self._client is None:
                try:
                    self._client = await self._factory()
                # Whatever a connection attempt raises, the answer is the same: retry later.
                except Exception as exc:
                    log.warning("Temporal is unreachable: %s", exc)
                    raise TemporalUnavailable(str(exc)) from exc
                log.info("connected to Temporal")
            return self._client

    def _drop(self, client: Client | None) -> None:
        if client is not None and self._client is client:
            self._client = None

    async def call(self, operation: Callable[[Client], Awaitable[T]]) -> T:
        """Run one operation; raises TemporalUnavailable when Temporal does not answer in time."""
        client: Client | None = None
        try:
            async with asyncio.timeout(TEMPORAL_DEADLINE_SECONDS):
                client = await self._connected()
                return await operation(client)
        except TimeoutError as exc:
            log.warning("Temporal did not answer within %ss", TEMPORAL_DEADLINE_SECONDS)
            self._drop(client)
            raise TemporalUnavailable("timed out") from exc
        except RPCError as exc:
            if exc.status not in _UNREACHABLE:
                raise
            log.warning("Temporal is unreachable: %s", exc.message)
            self._drop(client)
            raise TemporalUnavailable(exc.message) from exc


async def _read_body(request: Request, max_bytes: int) -> bytes:
    """The raw body, refused with 413 as soon as it is known to be larger than ``max_bytes``."""
    too_large = HTTPException(413, f"The request body is larger than {max_bytes} bytes.")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise too_large
    return bytes(body)


def _verify_standard_webhook(
    verifier: Webhook,
    body: bytes,
    msg_id: str | None,
    timestamp: str | None,
    signature: str | None,
    *,
    prefix: str = "webhook",
) -> None:
    """Standard Webhooks' check; ``prefix`` "svix" names the headers as Svix (Resend) does."""
    if not (msg_id and timestamp and signature):
        raise HTTPException(
            401, f"The {prefix}-id, {prefix}-timestamp and {prefix}-signature headers are required."
        )
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise HTTPException(401, f"The {prefix}-timestamp header is not a Unix time.") from None
    if abs(time.time() - sent_at) > TIMESTAMP_TOLERANCE_SECONDS:
        raise HTTPException(
            401,
            f"The {prefix}-timestamp is more than 5 minutes from now: sign each attempt afresh.",
        )
    headers = {"webhook-id": msg_id, "webhook-timestamp": timestamp, "webhook-signature": signature}
    try:
        verifier.verify(body, headers, json_parse=False)
    # Malformed headers or bodies raise ValueError, binascii.Error or UnicodeError: all mean 401.
    except Exception:
        raise HTTPException(401, f"The {prefix}-signature does not match this request.") from None


def _without_values(msg: str, given: object) -> str:
    """The message without the value it quotes, nor anything shaped like an email address."""
    if isinstance(given, str) and given.strip():
        # Validators see values already trimmed, so a message may quote either form.
        for value in {given, given.strip()}:
            msg = msg.replace(f"'{value}'", "the given value")
            if "@" in value:
                msg = msg.replace(value, "the given value")
    return _ADDRESS.sub("the given value", msg)


def _field_errors(errors: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """FastAPI-style field errors under ``body``, without the submitted values they quote."""
    cleaned = []
    for error in errors:
        msg = _without_values(str(error["msg"]).removeprefix("Value error, "), error.get("input"))
        loc = list(error["loc"])
        cleaned.append({"loc": ["body", *loc], "msg": msg, "type": error["type"]})
    return cleaned


def _parse_signup(body: bytes) -> Signup:
    try:
        return Signup.model_validate_json(body)
    except ValidationError as exc:
        raise RequestValidationError(_field_errors(exc.errors(include_url=False))) from None


def _parse_segment(body: bytes) -> SegmentEvent:
    try:
        return SegmentEvent.model_validate_json(body)
    except ValidationError as exc:
        raise RequestValidationError(_field_errors(exc.errors(include_url=False))) from None


_PROBLEMS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "The signature is missing, invalid or stale."},
    413: {"model": Problem, "description": "The body is larger than the configured limit."},
    422: {"model": FieldProblems, "description": "The body is not a valid signup."},
    503: {
        "model": Problem,
        "description": "Temporal is unreachable; retry after `Retry-After` seconds.",
        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
    },
}


def _version() -> str:
    try:
        return metadata.version("onboarding-journeys")
    except metadata.PackageNotFoundError:
        return "0"


def create_app(
    settings: WebhookSettings,
    *,
    client_factory: Callable[[], Awaitable[Client]] | None = None,
    journey_config: JourneyConfig | None = None,
    task_queue: str = TASK_QUEUE,
    tracer_provider: TracerProvider | None = None,
) -> FastAPI:
    """The webhook app; raises WebhookConfigError when a signature could not be verified.

    Each delivery gets a request span, the root of its journey's trace (``tracer_provider``,
    default the global one)."""
    problems = check_secrets(settings)
    if problems:
        raise WebhookConfigError(" ".join(problems))
    # The journey rules are captured once, like any starter's, and go into each journey's input.
    config = journey_config if journey_config is not None else JourneySettings().journey_config()
    temporal = _Temporal(client_factory or connect)
    max_bytes = settings.webhook_max_body_bytes
    signup_event = settings.segment_signup_event
    signup_secret, segment_secret = settings.signup_webhook_secret, settings.segment_shared_secret
    verifier = _standard_verifier(signup_secret) if signup_secret is not None else None
    email_routes = _email_routes(settings, temporal)
    # One line for all of them, however many: loud, and read at a glance.
    warnings, notes = _startup_notes(settings)
    if warnings:
        log.warning("%s", " ".join(warnings))
    if notes:
        log.info("%s", " ".join(notes))

    app = FastAPI(
        title=TITLE,
        version=_version(),
        description=(
            "Starts customer-onboarding journeys on Temporal from signed signup webhooks. "
            "A repeated delivery never starts a second journey; 503 means retry later."
        ),
    )
    app.add_middleware(RequestSpans, tracer_provider=tracer_provider)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's default would echo each submitted value (an email) back in `input`.
        errors = [
            {"loc": list(error["loc"]), "msg": str(error["msg"]), "type": str(error["type"])}
            for error in exc.errors()
        ]
        return JSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_problem(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 405:
            # Starlette's Allow names one route's methods; /unsubscribe/{token} has two routes.
            allowed = {
                method
                for route in app.router.routes
                if isinstance(route, APIRoute) and route.matches(request.scope)[0] != Match.NONE
                for method in route.methods or ()
            }
            exc.headers = {**(exc.headers or {}), "Allow": ", ".join(sorted(allowed))}
        return await http_exception_handler(request, exc)

    @app.exception_handler(TemporalUnavailable)
    async def _unavailable(request: Request, exc: TemporalUnavailable) -> JSONResponse:
        return JSONResponse(
            {"detail": "Temporal is unreachable; retry later"},
            status_code=503,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )

    async def start(signup: Signup) -> StartedJourney:
        return await temporal.call(
            lambda client: start_journey(client, signup, config, task_queue=task_queue)
        )

    @app.post(
        "/signups",
        status_code=202,
        response_model=JourneyAccepted,
        responses=_PROBLEMS,
        summary="Start a user's journey from a signup signed per Standard Webhooks",
        openapi_extra=json_body(Signup, "The product's signup, signed per Standard Webhooks."),
    )
    async def receive_signup(
        request: Request,
        webhook_id: Annotated[str | None, Header(description="Unique per event.")] = None,
        webhook_timestamp: Annotated[str | None, Header(description="Unix seconds.")] = None,
        webhook_signature: Annotated[str | None, Header(description="v1,<base64>")] = None,
    ) -> JourneyAccepted:
        body = await _read_body(request, max_bytes)
        if verifier is not None:
            _verify_standard_webhook(
                verifier, body, webhook_id, webhook_timestamp, webhook_signature
            )
        started = await start(_parse_signup(body))
        log.info(
            "signup delivery %r: journey %s %s",
            webhook_id,
            started.workflow_id,
            "started" if started.created else "already exists, not started again",
        )
        return JourneyAccepted(
            workflow_id=started.workflow_id, run_id=started.run_id, created=started.created
        )

    @app.post(
        "/segment",
        status_code=202,
        responses={
            200: {"model": Ignored, "description": "Not the signup event: acknowledged."},
            202: {"model": JourneyAccepted, "description": "The user's journey."},
            **_PROBLEMS,
        },
        summary="Start a user's journey from Segment's Webhooks destination",
        openapi_extra=json_body(
            SegmentEvent, f"A Segment message; a track '{signup_event}' starts a journey."
        ),
    )
    async def receive_segment(
        request: Request,
        x_signature: Annotated[
            str | None, Header(description="Hex HMAC-SHA1 of the body with the shared secret.")
        ] = None,
    ) -> JSONResponse:
        body = await _read_body(request, max_bytes)
        if segment_secret is not None:
            if not x_signature:
                raise HTTPException(401, "The X-Signature header is required.")
            if not signature_matches(body, x_signature, segment_secret.get_secret_value()):
                raise HTTPException(401, "The X-Signature header does not match this request.")
        event = _parse_segment(body)
        reason = ignore_reason(event, signup_event)
        if reason is not None:
            return JSONResponse(Ignored(reason=reason).model_dump(), status_code=200)
        try:
            signup = signup_from_track(event)
        except InvalidSignupEvent as exc:
            raise RequestValidationError(_field_errors(exc.errors)) from None
        started = await start(signup)
        log.info(
            "Segment message %r: journey %s %s",
            event.message_id,
            started.workflow_id,
            "started" if started.created else "already exists, not started again",
        )
        accepted = JourneyAccepted(
            workflow_id=started.workflow_id, run_id=started.run_id, created=started.created
        )
        return JSONResponse(accepted.model_dump(), status_code=202)

    app.include_router(email_routes)

    @app.get(
        "/healthz",
        response_model=Health,
        responses={503: {"model": Health, "description": "Temporal is unreachable."}},
        summary="Whether the webhook can start journeys now",
    )
    async def healthz() -> JSONResponse:
        try:
            serving = await temporal.call(
                lambda client: client.service_client.check_health(timeout=HEALTH_CHECK_TIMEOUT)
            )
        except TemporalUnavailable:
            serving = False
        if serving:
            return JSONResponse(Health(status="ok", temporal="reachable").model_dump())
        return JSONResponse(
            Health(status="degraded", temporal="unreachable").model_dump(), status_code=503
        )

    return app


async def _signal(client: Client, journey_id: str, name: str) -> None:
    try:
        await client.get_workflow_handle(journey_id).signal(name)
    except RPCError as exc:
        # An ended or unknown journey sends nothing more anyway.
        if exc.status == RPCStatusCode.NOT_FOUND or "already completed" in exc.message:
            return
        raise


def _svix_check(verifier: Webhook) -> ResendCheck:
    def check(
        body: bytes, msg_id: str | None, timestamp: str | None, signature: str | None
    ) -> None:
        _verify_standard_webhook(verifier, body, msg_id, timestamp, signature, prefix="svix")

    return check


def _email_routes(settings: WebhookSettings, temporal: _Temporal) -> APIRouter:
    """Unsubscribe links and provider events, as far as their secrets are set."""
    try:
        warehouse = Warehouse(settings.warehouse_url)
    except (ArgumentError, NoSuchModuleError, ImportError):
        raise WebhookConfigError(
            "WAREHOUSE_URL is not a database URL SQLAlchemy can open: use the worker's, e.g. "
            "sqlite:///onboarding-warehouse.db or postgresql+psycopg://user@host/db."
        ) from None
    insecure = settings.webhook_insecure_dev
    keys = _given(settings.unsubscribe_signing_keys)
    resend_secret = _given(settings.resend_webhook_secret)
    resend = _standard_verifier(SecretStr(resend_secret)) if resend_secret else None
    check_resend: ResendCheck | None = accept_unverified_resend if insecure else None
    if resend is not None:
        check_resend = _svix_check(resend)
    user, password = (
        _given(settings.postmark_webhook_user),
        _given(settings.postmark_webhook_password),
    )
    check_postmark: PostmarkCheck | None = accept_unverified_postmark if insecure else None
    if user is not None and password is not None:
        check_postmark = postmark_basic_auth(user, password)

    async def signal(journey_id: str, name: str) -> bool:
        try:
            await temporal.call(lambda client: _signal(client, journey_id, name))
        except TemporalUnavailable:
            return False
        return True

    return email_event_routes(
        # The webhook holds no hash key: events name emails, whose rows hold the hash.
        SuppressionList(warehouse, hash_key=None),
        UnsubscribeTokens(parse_signing_keys(keys)) if keys else None,
        signal,
        read_body=_read_body,
        max_body_bytes=settings.webhook_max_body_bytes,
        check_resend=check_resend,
        check_postmark=check_postmark,
        retry_after_seconds=RETRY_AFTER_SECONDS,
        problems={
            **_PROBLEMS,
            404: {"model": Problem, "description": "This endpoint is not configured."},
            422: {"model": FieldProblems, "description": "The body is not a valid event."},
        },
    )


def _bind(host: str, port: int) -> socket.socket:
    try:
        return listen(host, port)
    except ListenError as exc:
        raise WebhookConfigError(str(exc)) from exc


def _one_line(error: ValidationError, what: str) -> str:
    fields = "; ".join(
        f"{'.'.join(str(part) for part in item['loc']).upper() or 'input'}: {item['msg']}"
        for item in error.errors(include_url=False)
    )
    return f"invalid {what}: {fields}"


def serve(host: str = "127.0.0.1", port: int = 8000, insecure_dev: bool = False) -> None:
    """Run the webhook in the foreground until Ctrl+C; raises WebhookConfigError to refuse."""
    try:
        settings = WebhookSettings()
    except ValidationError as exc:
        raise WebhookConfigError(_one_line(exc, "webhook settings")) from None
    if insecure_dev:
        settings = settings.model_copy(update={"webhook_insecure_dev": True})
    problems = check_secrets(settings)
    if problems:
        raise WebhookConfigError(" ".join(problems))
    try:
        journey_config = JourneySettings().journey_config()
    except ValidationError as exc:
        raise WebhookConfigError(_one_line(exc, "journey settings")) from None
    try:
        tracing = configure_tracing(WEBHOOK_SERVICE)
    except TelemetryConfigError as exc:
        raise WebhookConfigError(str(exc)) from None
    sock = _bind(host, port)
    # Configured only once nothing can refuse: the insecure-dev warning must reach the console.
    log_config = serving_log_config("onboarding")
    logging.config.dictConfig(log_config)
    app = create_app(settings, journey_config=journey_config)
    # No access log: it adds nothing the app's own lines lack, and keeps request data out.
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            log_config=log_config,
            access_log=False,
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        )
    )
    shown = "127.0.0.1" if host in {"0.0.0.0", ""} else host
    log.info(
        "Signup webhook on http://%s:%d: POST /signups, POST /segment, GET and POST "
        "/unsubscribe/{token}, POST /email-events/resend, POST /email-events/postmark; "
        "docs at /docs.",
        shown,
        sock.getsockname()[1],
    )
    # uvicorn re-raises the Ctrl+C it already handled; the shutdown was clean.
    with contextlib.suppress(KeyboardInterrupt):
        server.run(sockets=[sock])
    tracing.force_flush()  # export the last spans: the process ends without atexit hooks
