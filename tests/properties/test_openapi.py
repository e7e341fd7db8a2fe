"""The webhook against its own OpenAPI document, with schemathesis: whatever it generates from
the schema, valid or not, gets a documented status and a body that matches the documented schema,
never a 5xx; data the schema calls valid is accepted, and valid signups really start journeys.
Unsubscribe links and provider events reach the suppression list (a warehouse in a temporary
folder) and the journeys' signals, with genuine tokens and known email references mixed in."""

from __future__ import annotations

import base64
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import email_validator
import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis.checks import CheckFunction
from schemathesis.specs.openapi.checks import negative_data_rejection
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.suppression import SuppressionList
from activities.warehouse import Warehouse
from common.unsubscribe import UnsubscribeTokens, parse_signing_keys
from starter.webhook import WebhookSettings, create_app
from tests.properties.strategies import examples, naming_an_email
from workflows.models import JourneyConfig

# The dev server's address, known once its fixture runs; the app connects on its first start.
_dev_server: dict[str, str] = {}


async def _connect() -> Client:
    # Made in the event loop schemathesis serves the app from, like a real server's would be.
    return await Client.connect(_dev_server["target"], data_converter=pydantic_data_converter)


# The suppression list's warehouse, removed with the module's last test.
_WAREHOUSE_DIR = Path(tempfile.mkdtemp(prefix="openapi-warehouse-"))
_WAREHOUSE_URL = f"sqlite:///{_WAREHOUSE_DIR / 'warehouse.db'}"
_SIGNING_KEYS = f"k1:{base64.b64encode(os.urandom(32)).decode()}"
# A journey whose email the warehouse knows, and one it does not; neither runs in Temporal, so
# their signals meet "not found": the suppression list is what stops emails.
_EMAILED, _UNKNOWN = (f"onboarding-openapi-{uuid.uuid4().hex[:8]}" for _ in range(2))
_REFERENCE = uuid.uuid4().hex
_warehouse = Warehouse(_WAREHOUSE_URL)
SuppressionList(_warehouse, os.urandom(32)).record_email(
    _REFERENCE, _EMAILED, 1, "ana@globex.example", "resend"
)
_TOKENS = UnsubscribeTokens(parse_signing_keys(_SIGNING_KEYS))

# No request secrets (insecure dev), so generated bodies reach validation; unsubscribe links are
# signed, so tokens are checked. Journeys go to a task queue that no worker polls, where they wait:
# starting them is what is tested here.
app = create_app(
    WebhookSettings(
        webhook_insecure_dev=True,
        unsubscribe_signing_keys=_SIGNING_KEYS,
        warehouse_url=_WAREHOUSE_URL,
        _env_file=None,
    ),
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


@schema.hook
def flatmap_path_parameters(
    context: schemathesis.HookContext, parameters: dict[str, Any] | None
) -> st.SearchStrategy[dict[str, Any] | None]:
    # Generated tokens are never genuine: mix in the links of both journeys.
    if not isinstance(parameters, dict) or "token" not in parameters:
        return st.just(parameters)
    genuine = [{**parameters, "token": _TOKENS.token(j)} for j in (_EMAILED, _UNKNOWN)]
    return st.sampled_from([parameters, *genuine])


@schema.hook
def flatmap_body(context: schemathesis.HookContext, body: object) -> st.SearchStrategy[object]:
    if context.operation is None:
        return st.just(body)
    return naming_an_email(context.operation.path, body, _REFERENCE)


@pytest.fixture(scope="module", autouse=True)
def _temporary_warehouse() -> Iterator[None]:
    yield
    _warehouse.close()
    shutil.rmtree(_WAREHOUSE_DIR, ignore_errors=True)


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
    # A signup is read leniently on purpose (trimmed, Unix times, URLs as domains), and so is a
    # one-click unsubscribe (RFC 8058: any body, or none), so a body outside the documented
    # schema may be accepted; Segment messages and provider events are read as documented.
    lenient_paths = {"/signups", "/unsubscribe/{token}"}
    lenient: list[CheckFunction] = (
        [negative_data_rejection] if case.operation.path in lenient_paths else []
    )
    response = case.call_and_validate(excluded_checks=lenient)
    if case.operation.path == "/signups" and response.status_code == 202:
        # The journey exists: delivering the same signup again answers it, and starts nothing.
        again = case.call()
        assert again.status_code == 202, again.text
        assert again.json() == {**response.json(), "created": False}
