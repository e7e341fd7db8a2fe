"""Properties of the signup contract: whatever a sender posts, the answer is a Signup or field
errors, never a crash; a Signup survives the trip into a workflow unchanged; and the webhook
answers 202 or 422 (200 for Segment messages it ignores), never 5xx, never quoting an address."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import string
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import pytest_asyncio
from hypothesis import assume, example, given
from hypothesis import strategies as st
from pydantic import ValidationError
from standardwebhooks.webhooks import Webhook
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from common.unsubscribe import generate_signing_key
from starter.segment import (
    InvalidSignupEvent,
    SegmentEvent,
    ignore_reason,
    signup_from_track,
)
from starter.webhook import WebhookSettings, create_app
from tests.properties.strategies import (
    addresses_everywhere,
    examples,
    json_values,
    segment_addresses_everywhere,
    segment_like,
    signup_like,
    valid_signup_fields,
)
from workflows.models import JourneyConfig, JourneyInput, Signup, journey_id

SIGNUP_SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
SEGMENT_SECRET = secrets.token_urlsafe(32)
SIGNUP_EVENT = "Signed Up"
MODEL_EXAMPLES = examples(200)
HTTP_EXAMPLES = examples(50)

_USER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}")
_DOMAIN = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{1,62}")
# Something a person would recognise as their address if a response quoted it.
_ADDRESS = re.compile(r"[^\s@'\"]+@[^\s@'\"]+")
_SEGMENT_PLACES = {"userId", "timestamp", "properties", "context"}


def assert_field_errors(value: object, error: ValidationError, fields: set[str]) -> None:
    """Every error names a field of an object, or the root when the value is no object."""
    for item in error.errors(include_url=False):
        assert isinstance(item["msg"], str) and item["msg"], item
        if isinstance(value, dict):
            assert item["loc"], item
            assert item["loc"][0] in fields, item
        else:
            assert item["loc"] == (), item


def assert_well_formed(signup: Signup) -> None:
    """What every consumer of a Signup may rely on, however odd the input was."""
    assert _USER_ID.fullmatch(signup.user_id)
    local, _, domain = signup.email.rpartition("@")
    assert local and domain == domain.lower() and signup.email == signup.email.strip()
    if signup.company_domain is not None:
        assert _DOMAIN.fullmatch(signup.company_domain), signup.company_domain
    for name in (signup.first_name, signup.last_name, signup.source):
        assert name is None or (len(name) <= 200 and name == name.strip(string.whitespace))


# --- the models ----------------------------------------------------------------------------


@MODEL_EXAMPLES
@given(json_values | signup_like())
# Once accepted as "acme.io\n": `$` matches before a trailing newline.
@example({"user_id": "u1", "email": "a@acme.io", "company_domain": "https://acme.io\n/"})
def test_any_value_is_a_signup_or_errors_naming_its_fields(value: Any) -> None:
    def from_json(value: Any) -> Signup:
        return Signup.model_validate_json(json.dumps(value))

    for parse in (Signup.model_validate, from_json):
        try:
            signup = parse(value)
        except ValidationError as exc:
            assert_field_errors(value, exc, set(Signup.model_fields))
        else:
            assert_well_formed(signup)


@MODEL_EXAMPLES
@given(valid_signup_fields)
# Once stored as "www.acme.io", which the workflow then read as "acme.io".
@example({"user_id": "u1", "email": "a@acme.io", "company_domain": "www.www.acme.io"})
def test_a_signup_reaches_the_workflow_unchanged(fields: dict[str, Any]) -> None:
    try:
        signup = Signup.model_validate(fields)
    except ValidationError:
        assume(False)
        raise
    # Validating what validation produced changes nothing: the workflow sees what was accepted.
    assert Signup.model_validate(signup.model_dump()) == signup
    assert Signup.model_validate_json(signup.model_dump_json()) == signup
    converter = pydantic_data_converter.payload_converter
    journey = JourneyInput(signup=signup, config=JourneyConfig())
    [decoded] = converter.from_payloads(converter.to_payloads([journey]), [JourneyInput])
    assert decoded == journey


def segment_outcome(body: bytes) -> Signup | InvalidSignupEvent | ValidationError | str:
    """What the Segment endpoint makes of a body: a Signup, the errors, or why it is ignored."""
    try:
        event = SegmentEvent.model_validate_json(body)
    except ValidationError as exc:
        return exc
    reason = ignore_reason(event, SIGNUP_EVENT)
    if reason is not None:
        return reason
    try:
        return signup_from_track(event)
    except InvalidSignupEvent as exc:
        return exc


@MODEL_EXAMPLES
@given(json_values | segment_like())
@example(
    {"type": "track", "event": SIGNUP_EVENT, "userId": True, "properties": {"email": "a@b.io"}}
)
def test_any_segment_message_is_ignored_a_signup_or_field_errors(value: Any) -> None:
    outcome = segment_outcome(json.dumps(value).encode())
    if isinstance(value, dict) and isinstance(value.get("userId"), bool):
        # Read leniently, `true` was the user id "1": every such user in one journey.
        assert isinstance(outcome, ValidationError)

    if isinstance(outcome, ValidationError):
        fields = {field.alias or name for name, field in SegmentEvent.model_fields.items()}
        assert_field_errors(value, outcome, fields)
    elif isinstance(outcome, str):
        assert outcome
    elif isinstance(outcome, Signup):
        assert_well_formed(outcome)
        assert outcome.source == "segment"
    else:
        assert outcome.errors
        for error in outcome.errors:
            assert error["loc"] and error["loc"][0] in _SEGMENT_PLACES, error
            assert isinstance(error["msg"], str) and error["msg"], error


# --- through the webhook -------------------------------------------------------------------


def signed_signup(body: bytes) -> dict[str, str]:
    msg_id, now = f"msg_{uuid.uuid4().hex}", datetime.now(UTC)
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(SIGNUP_SECRET).sign(msg_id, now, body.decode()),
    }


def signed_segment(body: bytes) -> dict[str, str]:
    digest = hmac.new(SEGMENT_SECRET.encode(), body, hashlib.sha1).hexdigest()
    return {"content-type": "application/json", "x-signature": digest}


def addresses_in(value: object) -> set[str]:
    """Every string anywhere in the body that looks like an email address."""
    if isinstance(value, str):
        return {value.strip()} if _ADDRESS.fullmatch(value.strip()) else set()
    if isinstance(value, dict):
        return set().union(*(addresses_in(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(addresses_in(v) for v in value))
    return set()


def assert_field_problems(response: httpx.Response, value: object) -> list[list[Any]]:
    """A 422 in the documented shape that quotes no address; answers the locations."""
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, list) and detail
    for problem in detail:
        assert set(problem) == {"loc", "msg", "type"}, problem
        assert problem["loc"][0] == "body" and problem["msg"], problem
    for address in addresses_in(value):
        assert address not in response.text, f"the 422 quotes {address!r}"
    return [problem["loc"] for problem in detail]


@pytest.fixture(scope="module")
def task_queue() -> str:
    # No worker polls it: a journey started here waits, which is all these properties need.
    return f"properties-{uuid.uuid4().hex[:8]}"


def webhook(factory: Callable[[], Awaitable[Client]], task_queue: str) -> httpx.AsyncClient:
    app = create_app(
        WebhookSettings(
            signup_webhook_secret=SIGNUP_SECRET,
            segment_shared_secret=SEGMENT_SECRET,
            unsubscribe_signing_keys=generate_signing_key("u1"),
            _env_file=None,
        ),
        client_factory=factory,
        journey_config=JourneyConfig(),
        task_queue=task_queue,
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://webhook")


@pytest_asyncio.fixture(scope="module")
async def live(
    dev_server: WorkflowEnvironment, task_queue: str
) -> AsyncIterator[httpx.AsyncClient]:
    """The webhook starting journeys on the dev server: for bodies that are signups."""

    async def factory() -> Client:
        return dev_server.client

    async with webhook(factory, task_queue) as http:
        yield http


class Offline:
    """The webhook with a Temporal that must never be needed: for bodies that are not signups."""

    def __init__(self, task_queue: str) -> None:
        self.connections = 0
        self.http = webhook(self._connect, task_queue)

    async def _connect(self) -> Client:
        self.connections += 1
        raise AssertionError("an invalid body reached Temporal")


@pytest_asyncio.fixture(scope="module")
async def offline(task_queue: str) -> AsyncIterator[Offline]:
    hook = Offline(task_queue)
    async with hook.http:
        yield hook
    assert hook.connections == 0


def body_of(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


@HTTP_EXAMPLES
@given(value=json_values | signup_like())
async def test_signups_answer_202_or_field_errors(
    live: httpx.AsyncClient, offline: Offline, value: Any
) -> None:
    body = body_of(value)
    try:
        signup = Signup.model_validate_json(body)
    except ValidationError as exc:
        response = await offline.http.post("/signups", content=body, headers=signed_signup(body))
        locs = assert_field_problems(response, value)
        assert locs == [["body", *error["loc"]] for error in exc.errors()]
        assert offline.connections == 0
        return
    response = await live.post("/signups", content=body, headers=signed_signup(body))
    assert response.status_code == 202, response.text
    assert response.json()["workflow_id"] == journey_id(signup.user_id)


@HTTP_EXAMPLES
@given(value=json_values | segment_like())
async def test_segment_answers_200_202_or_field_errors(
    live: httpx.AsyncClient, offline: Offline, value: Any
) -> None:
    body = body_of(value)
    outcome = segment_outcome(body)
    http = live.post if isinstance(outcome, Signup) else offline.http.post
    response = await http("/segment", content=body, headers=signed_segment(body))

    if isinstance(outcome, Signup):
        assert response.status_code == 202, response.text
        assert response.json()["workflow_id"] == journey_id(outcome.user_id)
    elif isinstance(outcome, str):
        assert response.status_code == 200, response.text
        assert response.json() == {"ignored": True, "reason": outcome}
    else:
        locs = assert_field_problems(response, value)
        if isinstance(outcome, InvalidSignupEvent):
            assert locs == [["body", *error["loc"]] for error in outcome.errors]
    assert offline.connections == 0


@HTTP_EXAMPLES
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
async def test_bodies_that_are_not_json_are_field_errors_at_the_body(
    offline: Offline, body: bytes
) -> None:
    try:
        json.loads(body)
    except ValueError:
        pass
    else:
        assume(False)
    for path, headers in (("/signups", signed_signup), ("/segment", signed_segment)):
        # Standard Webhooks signs text; a body that is not UTF-8 cannot be signed, only refused.
        try:
            signed = headers(body)
        except UnicodeDecodeError:
            continue
        response = await offline.http.post(path, content=body, headers=signed)
        assert assert_field_problems(response, None) == [["body"]]


@examples(200)  # through HTTP, but Temporal is never involved: as cheap as the model tests
@given(value=addresses_everywhere | segment_addresses_everywhere)
# Quoted trimmed by the validator, so once not recognised as the value given, and shown.
@example({"user_id": "u1", "email": "ana@acme.io", "company_domain": " ana@acme.io "})
async def test_field_errors_never_quote_an_address(offline: Offline, value: dict[str, Any]) -> None:
    body = body_of(value)
    if "type" in value:
        outcome = segment_outcome(body)
        assume(isinstance(outcome, InvalidSignupEvent | ValidationError))
        response = await offline.http.post("/segment", content=body, headers=signed_segment(body))
    else:
        try:
            Signup.model_validate_json(body)
        except ValidationError:
            pass
        else:
            assume(False)
        response = await offline.http.post("/signups", content=body, headers=signed_signup(body))
    assert_field_problems(response, value)
