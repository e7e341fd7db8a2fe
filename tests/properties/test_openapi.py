"""The webhook against its own OpenAPI document, with schemathesis: whatever it generates from
the schema, valid or not, gets a documented status and a body that matches the documented schema,
never a 5xx; data the schema calls valid is accepted, and valid signups really start journeys."""

from __future__ import annotations

import uuid
from typing import Any

import email_validator
import pytest
import schemathesis
from schemathesis.checks import CheckFunction
from schemathesis.specs.openapi.checks import negative_data_rejection
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from starter.webhook import WebhookSettings, create_app
from tests.properties.strategies import examples
from workflows.models import JourneyConfig

# The dev server's address, known once its fixture runs; the app connects on its first start.
_dev_server: dict[str, str] = {}


async def _connect() -> Client:
    # Made in the event loop schemathesis serves the app from, like a real server's would be.
    return await Client.connect(_dev_server["target"], data_converter=pydantic_data_converter)


# No secrets (insecure dev), so generated bodies reach validation; journeys go to a task queue
# that no worker polls, where they wait: starting them is what is tested here.
app = create_app(
    WebhookSettings(webhook_insecure_dev=True, _env_file=None),
    client_factory=_connect,
    journey_config=JourneyConfig(),
    task_queue=f"openapi-{uuid.uuid4().hex[:8]}",
)
# Loaded eagerly: schemathesis's lazy `from_fixture` does not run on pytest 9.2.
schema = schemathesis.openapi.from_asgi("/openapi.json", app)

# email-validator refuses special-use domains (ana@x.test) that `format: email` cannot exclude.
_SPECIAL_USE = tuple(f".{name}" for name in email_validator.SPECIAL_USE_DOMAIN_NAMES)


@schema.hook
def filter_body(context: schemathesis.HookContext, body: object) -> bool:
    email = body.get("email") if isinstance(body, dict) else None
    return not (isinstance(email, str) and email.lower().endswith(_SPECIAL_USE))


@pytest.fixture(scope="module")
def dev_server_target(dev_server: WorkflowEnvironment) -> str:
    target = dev_server.client.service_client.config.target_host
    _dev_server["target"] = target
    return target


@schema.parametrize()
@examples(200)
def test_the_webhook_conforms_to_its_openapi(
    case: schemathesis.Case[Any], dev_server_target: str
) -> None:
    # A signup is read leniently on purpose (trimmed, Unix times, URLs as domains), so a body
    # outside the documented schema may be accepted; Segment messages are read as documented.
    lenient: list[CheckFunction] = (
        [negative_data_rejection] if case.operation.path == "/signups" else []
    )
    response = case.call_and_validate(excluded_checks=lenient)
    if case.operation.path == "/signups" and response.status_code == 202:
        # The journey exists: delivering the same signup again answers it, and starts nothing.
        again = case.call()
        assert again.status_code == 202, again.text
        assert again.json() == {**response.json(), "created": False}
