"""The signup webhook over a real socket against the dev server: signatures, validation, size,
idempotent deliveries, Segment's format, and 503-then-accepted while Temporal is down."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import uvicorn
from fastapi import FastAPI
from standardwebhooks.webhooks import Webhook
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from common.unsubscribe import generate_signing_key
from devstack.processes import free_port
from starter.segment import signature_matches
from starter.webhook import (
    WebhookConfigError,
    WebhookSettings,
    check_secrets,
    create_app,
    serve,
)
from tests.conftest import RunningWorker, binary
from workflows.journey import OnboardingJourney
from workflows.models import JourneyConfig, JourneyInput, Outcome, journey_id

SIGNUP_SECRET = "whsec_" + base64.b64encode(os.urandom(32)).decode()
SEGMENT_SECRET = secrets.token_urlsafe(32)
CONFIG = JourneyConfig(email_schedule="0s,30s,60s", enrichment_poll_interval=timedelta(seconds=1))


class WebhookServer:
    """The app on a real port in a background thread, as uvicorn serves it."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.url = ""
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> WebhookServer:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        server = uvicorn.Server(
            uvicorn.Config(self.app, log_config=None, access_log=False, lifespan="off")
        )
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "webhook did not start"
            time.sleep(0.005)
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self._server, self._thread = server, thread
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None and self._thread is not None
        self._server.should_exit = True
        self._thread.join(10)


def connector(target: str) -> Callable[[], Awaitable[Client]]:
    """A client factory for the app: its own client, made in the server thread's event loop."""

    async def factory() -> Client:
        return await Client.connect(target, data_converter=pydantic_data_converter)

    return factory


def settings(**overrides: Any) -> WebhookSettings:
    values: dict[str, Any] = {
        "signup_webhook_secret": SIGNUP_SECRET,
        "segment_shared_secret": SEGMENT_SECRET,
        "unsubscribe_signing_keys": generate_signing_key("u1"),
    }
    values.update(overrides)
    return WebhookSettings(**values, _env_file=None)


@dataclass
class Hook:
    http: httpx.AsyncClient
    temporal: Client


@pytest_asyncio.fixture
async def hook(dev_server: WorkflowEnvironment, dev_worker: RunningWorker) -> AsyncIterator[Hook]:
    """The webhook serving journeys that run on the dev worker's task queue."""
    app = create_app(
        settings(),
        client_factory=connector(dev_server.client.service_client.config.target_host),
        journey_config=CONFIG,
        task_queue=dev_worker.task_queue,
    )
    with WebhookServer(app) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=15) as http:
            yield Hook(http, dev_server.client)


def user() -> str:
    return f"wh-{uuid.uuid4().hex[:10]}"


def signup(user_id: str, email: str = "ana@globex.example", **extra: Any) -> dict[str, Any]:
    return {"user_id": user_id, "email": email, "first_name": "Ana", **extra}


def signed(
    body: dict[str, Any] | bytes,
    *,
    msg_id: str | None = None,
    at: datetime | None = None,
    secret: str = SIGNUP_SECRET,
) -> tuple[bytes, dict[str, str]]:
    """A Standard Webhooks delivery: the raw body and its three headers."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    at = at or datetime.now(UTC)
    return raw, {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, at, raw.decode()),
    }


def segment_signed(message: dict[str, Any] | bytes) -> tuple[bytes, dict[str, str]]:
    raw = message if isinstance(message, bytes) else json.dumps(message).encode()
    digest = hmac.new(SEGMENT_SECRET.encode(), raw, hashlib.sha1).hexdigest()
    return raw, {"content-type": "application/json", "x-signature": digest}


def signed_up(user_id: str | None, **properties: Any) -> dict[str, Any]:
    message: dict[str, Any] = {
        "version": 1,
        "type": "track",
        "event": "Signed Up",
        "messageId": f"ajs-{uuid.uuid4().hex}",
        "properties": {"type": "organic", **properties},
        "context": {"groupId": "acct_123"},
        "timestamp": "2024-05-01T10:00:00.000Z",
    }
    if user_id is not None:
        message["userId"] = user_id
    return message


async def exists(client: Client, user_id: str) -> bool:
    try:
        await client.get_workflow_handle(journey_id(user_id)).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def journey_input(client: Client, user_id: str) -> JourneyInput:
    history = await client.get_workflow_handle(journey_id(user_id)).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    [value] = await pydantic_data_converter.decode(started.input.payloads, [JourneyInput])
    assert isinstance(value, JourneyInput)
    return value


# --- POST /signups: Standard Webhooks ------------------------------------------------------


async def test_a_signed_signup_starts_a_journey_that_runs(
    hook: Hook, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="onboarding")
    user_id = user()
    body, headers = signed(signup(user_id, "ana.lopez@globex.example", last_name="Lopez"))
    response = await hook.http.post("/signups", content=body, headers=headers)

    assert response.status_code == 202, response.text
    answer = response.json()
    assert answer["workflow_id"] == journey_id(user_id)
    assert answer["created"] is True
    handle = hook.temporal.get_workflow_handle_for(OnboardingJourney.run, answer["workflow_id"])
    assert (await handle.describe()).run_id == answer["run_id"]
    assert (await handle.result()).outcome == Outcome.SALES_ALERTED
    assert (await journey_input(hook.temporal, user_id)).config == CONFIG
    # Logs name the journey, never the person.
    assert journey_id(user_id) in caplog.text
    for personal in ("ana.lopez@globex.example", "Lopez", SIGNUP_SECRET, SEGMENT_SECRET):
        assert personal not in caplog.text


async def test_a_replayed_delivery_answers_the_existing_journey(hook: Hook) -> None:
    user_id = user()
    body, headers = signed(signup(user_id))
    first = await hook.http.post("/signups", content=body, headers=headers)
    again = await hook.http.post("/signups", content=body, headers=headers)

    assert first.status_code == again.status_code == 202
    assert first.json()["created"] is True
    assert again.json() == {**first.json(), "created": False}
    runs = [w async for w in hook.temporal.list_workflows(f"WorkflowId = '{journey_id(user_id)}'")]
    assert len(runs) == 1


async def test_a_new_delivery_for_the_same_user_starts_nothing_new(hook: Hook) -> None:
    user_id = user()
    body, headers = signed(signup(user_id))
    first = await hook.http.post("/signups", content=body, headers=headers)
    body, headers = signed(signup(user_id, first_name="Anna"))  # a new webhook-id
    again = await hook.http.post("/signups", content=body, headers=headers)

    assert again.status_code == 202
    assert again.json()["created"] is False
    assert again.json()["workflow_id"] == first.json()["workflow_id"] == journey_id(user_id)
    assert again.json()["run_id"] == first.json()["run_id"]


def _wrong_secret(body: bytes, headers: dict[str, str]) -> dict[str, str]:
    other = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    return signed(body, msg_id=headers["webhook-id"], secret=other)[1]


def _other_body(body: bytes, headers: dict[str, str]) -> dict[str, str]:
    return signed(b'{"user_id": "someone-else", "email": "x@globex.example"}')[1]


def _without(*names: str) -> Callable[[bytes, dict[str, str]], dict[str, str]]:
    return lambda body, headers: {k: v for k, v in headers.items() if k not in names}


def _at(offset: timedelta) -> Callable[[bytes, dict[str, str]], dict[str, str]]:
    return lambda body, headers: signed(body, at=datetime.now(UTC) + offset)[1]


def _garbled(value: str) -> Callable[[bytes, dict[str, str]], dict[str, str]]:
    return lambda body, headers: {**headers, "webhook-signature": value}


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (_wrong_secret, "does not match"),
        (_other_body, "does not match"),
        (_without("webhook-signature", "webhook-id", "webhook-timestamp"), "required"),
        (_without("webhook-signature"), "required"),
        (_without("webhook-id"), "required"),
        (_at(timedelta(minutes=-6)), "5 minutes"),
        (_at(timedelta(minutes=6)), "5 minutes"),
        (_garbled("v1,not base64!"), "does not match"),
        (_garbled("garbage"), "does not match"),
        (_garbled("v1a,AAAA v2,BBBB"), "does not match"),
    ],
    ids=[
        "wrong-secret",
        "other-body",
        "unsigned",
        "no-signature",
        "no-id",
        "6-minutes-old",
        "6-minutes-ahead",
        "bad-base64",
        "no-version",
        "unknown-versions",
    ],
)
async def test_bad_signatures_are_401_and_start_nothing(
    hook: Hook, tamper: Callable[[bytes, dict[str, str]], dict[str, str]], reason: str
) -> None:
    user_id = user()
    body, headers = signed(signup(user_id))
    response = await hook.http.post("/signups", content=body, headers=tamper(body, headers))

    assert response.status_code == 401, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str) and reason in detail
    assert not await exists(hook.temporal, user_id)


@pytest.mark.parametrize(
    ("body", "loc", "needle"),
    [
        (b'{"user_id": "USER", "email": "not-an-email"}', ["body", "email"], "email"),
        (b'{"email": "ana@globex.example"}', ["body", "user_id"], "required"),
        (
            b'{"user_id": "ana@globex.example", "email": "ana@globex.example"}',
            ["body", "user_id"],
            "not an email",
        ),
        (b'{"user_id": "USER", "email": "ana@globex.example"', ["body"], "JSON"),
        (b"user_id=USER&email=ana@globex.example", ["body"], "JSON"),
        (b'["USER", "ana@globex.example"]', ["body"], "object"),
        (
            b'{"user_id": "USER", "email": "ana@globex.example", "company_domain": "no domain"}',
            ["body", "company_domain"],
            "is not a domain name",
        ),
    ],
    ids=[
        "bad-email",
        "no-user-id",
        "email-as-user-id",
        "truncated-json",
        "form-body",
        "array",
        "bad-domain",
    ],
)
async def test_invalid_signups_are_422_with_field_errors_and_start_nothing(
    hook: Hook, body: bytes, loc: list[str], needle: str
) -> None:
    user_id = user()
    body = body.replace(b"USER", user_id.encode())
    response = await hook.http.post("/signups", content=body, headers=signed(body)[1])

    assert response.status_code == 422, response.text
    errors = response.json()["detail"]
    assert [error["loc"] for error in errors] == [loc]
    assert needle.lower() in errors[0]["msg"].lower()
    assert all(set(error) == {"loc", "msg", "type"} for error in errors)
    assert "ana@globex.example" not in response.text and "not-an-email" not in response.text
    assert not await exists(hook.temporal, user_id)


async def test_oversize_bodies_are_413_and_start_nothing(hook: Hook) -> None:
    user_id = user()
    body, headers = signed(signup(user_id, padding="x" * 70_000))
    declared = await hook.http.post("/signups", content=body, headers=headers)

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 8192):
            yield body[start : start + 8192]

    # No Content-Length: the limit holds while the body streams in.
    streamed = await hook.http.post("/signups", content=chunks(), headers=headers)

    for response in (declared, streamed):
        assert response.status_code == 413, response.text
        assert "65536 bytes" in response.json()["detail"]
    assert "content-length" not in streamed.request.headers
    assert not await exists(hook.temporal, user_id)


# --- POST /segment: Segment's Webhooks destination -------------------------------------------


async def test_a_segment_signup_starts_a_journey_once(hook: Hook) -> None:
    user_id = user()
    body, headers = segment_signed(
        signed_up(user_id, email="peter@globex.example", first_name="Peter", last_name="Gibbons")
    )
    first = await hook.http.post("/segment", content=body, headers=headers)
    replayed = await hook.http.post("/segment", content=body, headers=headers)
    body, headers = segment_signed(signed_up(user_id, email="p@globex.example"))  # new messageId
    other_message = await hook.http.post("/segment", content=body, headers=headers)

    assert first.status_code == 202, first.text
    assert first.json()["workflow_id"] == journey_id(user_id)
    assert first.json()["created"] is True
    for again in (replayed, other_message):
        assert again.status_code == 202
        assert again.json() == {**first.json(), "created": False}
    signup_ = (await journey_input(hook.temporal, user_id)).signup
    assert (signup_.email, signup_.first_name, signup_.last_name) == (
        "peter@globex.example",
        "Peter",
        "Gibbons",
    )
    assert signup_.source == "segment"
    assert signup_.signed_up_at == datetime(2024, 5, 1, 10, tzinfo=UTC)


async def test_segment_traits_come_from_context_traits_in_either_case(hook: Hook) -> None:
    user_id = user()
    message = signed_up(user_id)
    message["context"]["traits"] = {
        "email": "sam@shopbright.example",
        "firstName": "Sam",
        "lastName": "Okafor",
        "company": {"name": "ShopBright", "domain": "https://www.ShopBright.example/about"},
    }
    body, headers = segment_signed(message)
    response = await hook.http.post("/segment", content=body, headers=headers)

    assert response.status_code == 202, response.text
    signup_ = (await journey_input(hook.temporal, user_id)).signup
    assert signup_.email == "sam@shopbright.example"
    assert (signup_.first_name, signup_.last_name) == ("Sam", "Okafor")
    assert signup_.company_domain == "shopbright.example"


@pytest.mark.parametrize(
    "message",
    [
        {"type": "track", "event": "Order Completed", "userId": "USER", "properties": {}},
        {"type": "identify", "userId": "USER", "traits": {"email": "ana@globex.example"}},
        {"type": "page", "userId": "USER", "properties": {"path": "/pricing"}},
    ],
    ids=["other-track-event", "identify", "page"],
)
async def test_segment_messages_other_than_the_signup_are_acknowledged_and_ignored(
    hook: Hook, message: dict[str, Any]
) -> None:
    user_id = user()
    body, headers = segment_signed(json.dumps(message).replace("USER", user_id).encode())
    response = await hook.http.post("/segment", content=body, headers=headers)

    assert response.status_code == 200, response.text
    assert response.json()["ignored"] is True
    assert response.json()["reason"]
    assert not await exists(hook.temporal, user_id)


@pytest.mark.parametrize(
    ("message", "loc"),
    [
        (signed_up(None, email="ana@globex.example"), ["body", "userId"]),
        (signed_up("USER", first_name="Ana"), ["body", "properties", "email"]),
        (signed_up("USER", email="no-at-sign"), ["body", "properties", "email"]),
        (signed_up("ana@globex.example", email="ana@globex.example"), ["body", "userId"]),
        (b"{not json", ["body"]),
    ],
    ids=["no-user-id", "no-email", "bad-email", "email-as-user-id", "not-json"],
)
async def test_invalid_segment_signups_are_422_and_start_nothing(
    hook: Hook, message: dict[str, Any] | bytes, loc: list[str]
) -> None:
    user_id = user()
    raw = message if isinstance(message, bytes) else json.dumps(message).encode()
    body, headers = segment_signed(raw.replace(b'"USER"', json.dumps(user_id).encode()))
    response = await hook.http.post("/segment", content=body, headers=headers)

    assert response.status_code == 422, response.text
    errors = response.json()["detail"]
    assert [error["loc"] for error in errors] == [loc]
    assert all(set(error) == {"loc", "msg", "type"} for error in errors)
    assert "ana@globex.example" not in response.text and "no-at-sign" not in response.text
    assert not await exists(hook.temporal, user_id)


@pytest.mark.parametrize(
    "signature",
    [None, "", "0" * 40, "not hex at all", "ünïcode"],
    ids=["missing", "empty", "wrong", "garbage", "non-ascii"],
)
async def test_bad_segment_signatures_are_401_and_start_nothing(
    hook: Hook, signature: str | None
) -> None:
    user_id = user()
    body, headers = segment_signed(signed_up(user_id, email="ana@globex.example"))
    del headers["x-signature"]
    if signature is not None:
        headers["x-signature"] = signature
    encoded = {k: v.encode() for k, v in headers.items()}
    response = await hook.http.post("/segment", content=body, headers=encoded)

    assert response.status_code == 401, response.text
    assert "X-Signature" in response.json()["detail"]
    assert not await exists(hook.temporal, user_id)


async def test_segment_oversize_bodies_are_413(hook: Hook) -> None:
    user_id = user()
    body, headers = segment_signed(signed_up(user_id, email="a@globex.example", pad="x" * 70_000))
    response = await hook.http.post("/segment", content=body, headers=headers)
    assert response.status_code == 413
    assert not await exists(hook.temporal, user_id)


def test_segment_signature_is_hex_hmac_sha1_of_the_raw_body() -> None:
    # The published HMAC-SHA1 test value (key "key"), so the check is not circular.
    body = b"The quick brown fox jumps over the lazy dog"
    digest = "de7c9b85b8b78aa6bc8a7a36f70a90701c9db4d9"
    assert signature_matches(body, digest, "key")
    assert signature_matches(body, digest.upper(), "key")
    assert not signature_matches(body + b".", digest, "key")
    assert not signature_matches(body, digest, "other key")
    assert not signature_matches(body, None, "key")


# --- Temporal down and back ------------------------------------------------------------


async def test_503_while_temporal_is_down_then_the_same_delivery_is_accepted() -> None:
    port = free_port()
    target = f"127.0.0.1:{port}"
    app = create_app(settings(), client_factory=connector(target), journey_config=CONFIG)
    user_id = user()
    body, headers = signed(signup(user_id))
    with WebhookServer(app) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=15) as http:
            down = await http.post("/signups", content=body, headers=headers)
            assert down.status_code == 503
            assert down.headers["retry-after"] == "5"
            assert down.json() == {"detail": "Temporal is unreachable; retry later"}
            health = await http.get("/healthz")
            assert (health.status_code, health.json()) == (
                503,
                {"status": "degraded", "temporal": "unreachable"},
            )

            env = await WorkflowEnvironment.start_local(
                port=port,
                dev_server_existing_path=binary("temporal"),
                data_converter=pydantic_data_converter,
                dev_server_log_level="error",
            )
            async with env:
                back = await http.post("/signups", content=body, headers=headers)
                assert back.status_code == 202, back.text
                assert back.json()["created"] is True
                assert await exists(env.client, user_id)
                health = await http.get("/healthz")
                assert (health.status_code, health.json()) == (
                    200,
                    {"status": "ok", "temporal": "reachable"},
                )

            # The cached client now talks to nothing: 503 again, within Segment's 5 s.
            started = time.monotonic()
            gone = await http.post("/signups", content=body, headers=headers)
            assert gone.status_code == 503
            assert gone.headers["retry-after"] == "5"
            assert time.monotonic() - started < 5
            assert (await http.get("/healthz")).status_code == 503


async def test_healthz_when_temporal_is_reachable(hook: Hook) -> None:
    response = await hook.http.get("/healthz")
    assert (response.status_code, response.json()) == (
        200,
        {"status": "ok", "temporal": "reachable"},
    )


# --- documentation -----------------------------------------------------------------------


async def test_docs_and_openapi_describe_both_request_bodies(hook: Hook) -> None:
    docs = await hook.http.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    spec = (await hook.http.get("/openapi.json")).json()
    assert spec["info"]["title"] == "Onboarding journeys webhook"
    signups = spec["paths"]["/signups"]["post"]
    schema = signups["requestBody"]["content"]["application/json"]["schema"]
    assert {"user_id", "email"} <= set(schema["required"])
    assert {"202", "401", "413", "422", "503"} <= set(signups["responses"])
    assert {p["name"] for p in signups["parameters"]} == {
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
    }
    segment = spec["paths"]["/segment"]["post"]
    schema = segment["requestBody"]["content"]["application/json"]["schema"]
    assert {"type", "event", "userId", "properties", "context"} <= set(schema["properties"])
    assert {"200", "202", "401", "413", "422", "503"} <= set(segment["responses"])
    assert "/healthz" in spec["paths"]


# --- secrets -------------------------------------------------------------------------------


def test_without_secrets_the_webhook_refuses_to_start_and_says_how_to_fix_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    problems = check_secrets(WebhookSettings(_env_file=None))
    assert len(problems) == 1
    assert "SIGNUP_WEBHOOK_SECRET" in problems[0] and "SEGMENT_SHARED_SECRET" in problems[0]
    assert "UNSUBSCRIBE_SIGNING_KEYS" in problems[0]  # every email links here
    assert "whsec_" in problems[0] and "--insecure-dev" in problems[0]
    only_segment = check_secrets(
        WebhookSettings(signup_webhook_secret=SIGNUP_SECRET, _env_file=None)
    )
    assert "SEGMENT_SHARED_SECRET" in only_segment[0]
    assert "SIGNUP_WEBHOOK_SECRET" not in only_segment[0]
    assert check_secrets(settings()) == []
    assert "UNSUBSCRIBE_SIGNING_KEYS" in check_secrets(settings(unsubscribe_signing_keys=None))[0]
    assert check_secrets(WebhookSettings(webhook_insecure_dev=True, _env_file=None)) == []
    bad = check_secrets(
        settings(signup_webhook_secret="whsec_not*base64", webhook_insecure_dev=True)
    )
    assert len(bad) == 1 and "SIGNUP_WEBHOOK_SECRET" in bad[0]
    assert SEGMENT_SECRET not in " ".join(bad)

    with pytest.raises(WebhookConfigError, match="SIGNUP_WEBHOOK_SECRET"):
        create_app(WebhookSettings(_env_file=None), journey_config=CONFIG)

    monkeypatch.chdir(tmp_path)  # no .env
    for name in ("SIGNUP_WEBHOOK_SECRET", "SEGMENT_SHARED_SECRET", "WEBHOOK_INSECURE_DEV"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(WebhookConfigError) as refused:
        serve("127.0.0.1", free_port(), insecure_dev=False)
    message = str(refused.value)
    assert "\n" not in message and "SIGNUP_WEBHOOK_SECRET" in message


async def test_insecure_dev_accepts_unsigned_requests_only_where_no_secret_is_set(
    dev_server: WorkflowEnvironment, dev_worker: RunningWorker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="onboarding")
    app = create_app(
        WebhookSettings(
            segment_shared_secret=SEGMENT_SECRET, webhook_insecure_dev=True, _env_file=None
        ),
        client_factory=connector(dev_server.client.service_client.config.target_host),
        journey_config=CONFIG,
        task_queue=dev_worker.task_queue,
    )
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "SIGNUP_WEBHOOK_SECRET" in warnings[0] and "WITHOUT verifying" in warnings[0]

    unsigned_signup, unsigned_segment = user(), user()
    with WebhookServer(app) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=15) as http:
            accepted = await http.post("/signups", json=signup(unsigned_signup))
            refused = await http.post(
                "/segment", json=signed_up(unsigned_segment, email="ana@globex.example")
            )
    assert accepted.status_code == 202, accepted.text
    assert refused.status_code == 401  # a secret that is set is always verified
    assert await exists(dev_server.client, unsigned_signup)
    assert not await exists(dev_server.client, unsigned_segment)


async def test_requests_do_not_wait_for_each_other_while_connecting(
    dev_server: WorkflowEnvironment, dev_worker: RunningWorker
) -> None:
    # Many first deliveries at once share one connection attempt and each get their journey.
    app = create_app(
        settings(),
        client_factory=connector(dev_server.client.service_client.config.target_host),
        journey_config=CONFIG,
        task_queue=dev_worker.task_queue,
    )
    users = [user() for _ in range(8)]
    with WebhookServer(app) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=15) as http:
            deliveries = [signed(signup(u)) for u in users]
            answers = await asyncio.gather(
                *(http.post("/signups", content=b, headers=h) for b, h in deliveries)
            )
    assert [a.status_code for a in answers] == [202] * len(users)
    assert all(a.json()["created"] for a in answers)


def test_serve_runs_until_interrupted_and_logs_no_personal_data(
    dev_server: WorkflowEnvironment, tmp_path: Path
) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "SIGNUP_"))}
    env.update(
        TEMPORAL_ADDRESS=dev_server.client.service_client.config.target_host,
        SEGMENT_SHARED_SECRET=SEGMENT_SECRET,
        PYTHONPATH=str(Path(__file__).resolve().parents[2]),
    )
    code = f"from starter.webhook import serve; serve('127.0.0.1', {port}, insecure_dev=True)"
    process = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=tmp_path,  # no .env
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            assert process.poll() is None, process.communicate()[0]
            try:
                health = httpx.get(f"{url}/healthz", timeout=5)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the webhook did not start"
                time.sleep(0.1)
        assert health.json() == {"status": "ok", "temporal": "reachable"}
        invalid = httpx.post(
            f"{url}/signups", json={"user_id": "x", "email": "kim@@globex.example"}
        )
        assert invalid.status_code == 422
        unsigned = httpx.post(f"{url}/segment", json=signed_up("x", email="kim@globex.example"))
        assert unsigned.status_code == 401
    finally:
        process.send_signal(signal.SIGINT)
        output = process.communicate(timeout=20)[0]
    assert process.returncode == 0, output
    assert f"Signup webhook on http://127.0.0.1:{port}" in output
    assert "POST /signups accepts requests WITHOUT verifying signatures" in output
    assert "POST /segment accepts" not in output
    for private in ("kim", SEGMENT_SECRET, "Traceback"):
        assert private not in output


def test_only_the_webhooks_own_variable_turns_off_signatures(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env
    monkeypatch.setenv("INSECURE_DEV", "true")
    assert not WebhookSettings().webhook_insecure_dev
    monkeypatch.setenv("WEBHOOK_INSECURE_DEV", "true")
    assert WebhookSettings().webhook_insecure_dev
