"""On the dev server with the real activities: a journey run by an encrypting worker leaves no
email and no name anywhere in its history (not even in a vendor's failure message), the codec
server decrypts the same history for whoever holds the token, and a key rotated mid-journey
breaks nothing."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import httpx
from google.protobuf import json_format
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.client import Client, WorkflowHandle, WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from activities.settings import VendorSettings
from common.codec_server import Authenticator, CodecServerSettings, CodecServerThread, create_app
from common.encryption import (
    ENCODING,
    KEY_ID_METADATA,
    EncryptionCodec,
    UnknownKeyError,
    data_converter,
    generate_key,
    parse_keys,
)
from sandbox.server import SandboxServer
from starter.journeys import start_journey
from tests.conftest import RunningWorker, _worker, binary
from tests.helpers import wait_for_emails
from workflows.journey import OnboardingJourney
from workflows.models import JourneyConfig, JourneyInput, JourneyState, Outcome, Signup

FIRST, LAST = "Marisol", "Vantongeren"
CLEARBIT_PERSON = "Mei Chen"  # what the sandbox's Clearbit knows about anyone at shopbright
CONFIG = JourneyConfig(email_schedule="0s,2s,4s", enrichment_poll_interval=timedelta(seconds=1))
Handle = WorkflowHandle[OnboardingJourney, JourneyState]


def a_signup() -> Signup:
    user = uuid.uuid4().hex[:8]
    return Signup(
        user_id=f"u-{user}",
        email=f"marisol.{user}@shopbright.example",
        first_name=FIRST,
        last_name=LAST,
    )


def personal_data(signup: Signup) -> list[str]:
    return [signup.email, signup.email.split("@")[0], FIRST, LAST, CLEARBIT_PERSON]


async def encrypting_client(dev_server: WorkflowEnvironment, keys: str) -> Client:
    return await Client.connect(
        dev_server.client.service_client.config.target_host,
        namespace=dev_server.client.namespace,
        data_converter=data_converter(keys),
    )


def plain_client(dev_server: WorkflowEnvironment) -> Client:
    """Sees what Temporal stores, as anyone with access to the server or its database would."""
    return Client(dev_server.client.service_client, namespace=dev_server.client.namespace)


@asynccontextmanager
async def encrypting_worker(
    dev_server: WorkflowEnvironment,
    settings: VendorSettings,
    keys: str,
    task_queue: str | None = None,
) -> AsyncIterator[RunningWorker]:
    workers = _worker(await encrypting_client(dev_server, keys), settings, task_queue=task_queue)
    try:
        yield await anext(workers)
    finally:
        await workers.aclose()


async def start(worker: RunningWorker, signup: Signup) -> Handle:
    started = await start_journey(worker.client, signup, CONFIG, task_queue=worker.task_queue)
    return worker.client.get_workflow_handle_for(OnboardingJourney.run, started.workflow_id)


def payloads_in(message: Message, path: str = "") -> Iterator[tuple[str, Payload]]:
    """Every Payload anywhere in a history event, with the field path that holds it."""
    if isinstance(message, Payload):
        yield path, message
        return
    for field, value in message.ListFields():
        if field.type != field.TYPE_MESSAGE:
            continue
        name = f"{path}.{field.name}"
        if isinstance(value, Message):
            values = [value]
        elif field.message_type.GetOptions().map_entry:
            values = list(value.values())
        else:
            values = list(value)
        for item in values:
            if isinstance(item, Message):
                yield from payloads_in(item, name)


def stored_bytes(history: WorkflowHistory) -> bytes:
    """The history as Temporal stores it (protobuf) and as the Web UI or CLI shows it (JSON)."""
    return b"".join(e.SerializeToString() for e in history.events) + history.to_json().encode()


def payload_data(history_json: str) -> bytes:
    """Every payload's data in a ``temporal workflow show --output json``, base64-decoded."""
    found: list[bytes] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("data"), str) and "metadata" in node:
                found.append(base64.b64decode(node["data"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(history_json))
    return b"".join(found)


async def test_no_personal_data_in_the_history_and_the_codec_server_reveals_it(
    dev_server: WorkflowEnvironment, sandbox: SandboxServer, vendor_settings: VendorSettings
) -> None:
    keys = generate_key("k1")
    signup = a_signup()
    # Resend fails once, and its error message names the person: it must not reach Temporal.
    failure_text = f"mailbox {signup.email} of {FIRST} {LAST} is over quota"
    sandbox.state.script(
        "resend", [{"status": 503, "json": {"name": "unavailable", "message": failure_text}}]
    )
    async with encrypting_worker(dev_server, vendor_settings, keys) as worker:
        handle = await start(worker, signup)
        state = await asyncio.wait_for(handle.result(), timeout=45)
    assert state.outcome == Outcome.EMAILS_COMPLETED
    assert sandbox.state.summary()["emails_accepted"] == 3

    history = await plain_client(dev_server).get_workflow_handle(handle.id).fetch_history()
    stored = stored_bytes(history)
    for needle in personal_data(signup):
        assert needle.encode() not in stored, f"{needle!r} is in the history in plain text"
    # The failed first try is in the history, its message moved into encrypted attributes.
    failed = [
        e.activity_task_failed_event_attributes.failure
        for e in history.events
        if e.HasField("activity_task_failed_event_attributes")
    ]
    assert failed, "the scripted Resend failure never happened"
    assert failed[0].message == "Encoded failure"
    assert failed[0].encoded_attributes.metadata["encoding"] == ENCODING
    # Every payload the project wrote is encrypted (search attributes and headers are not its
    # data: they carry no personal data by design).
    # Nor are the SDK's patch markers: it writes them itself, holding a patch's name only.
    patches = [
        e.marker_recorded_event_attributes
        for e in history.events
        if e.marker_recorded_event_attributes.marker_name == "core_patch"
    ]
    for marker in patches:
        for _, payload in payloads_in(marker):
            assert set(json.loads(payload.data)) == {"id", "deprecated"}
    # A local activity's marker also holds the SDK's own bookkeeping (sequence, attempt, times),
    # beside the activity's result, which is the project's and encrypted.
    bookkeeping = {
        "seq", "attempt", "activity_id", "activity_type", "complete_time", "backoff",
        "original_schedule_time", "activation_index",
    }  # fmt: skip
    local = [
        e.marker_recorded_event_attributes
        for e in history.events
        if e.marker_recorded_event_attributes.marker_name == "core_local_activity"
    ]
    assert len(local) == 3  # the two warehouse saves, and the journey's row at its end
    sdk_written = [marker.details["data"].payloads[0] for marker in local]
    kinds = []
    for payload in sdk_written:
        data = json.loads(payload.data)
        assert set(data) <= bookkeeping
        kinds.append(data["activity_type"])
    assert kinds == ["save_to_warehouse", "save_to_warehouse", "record_journey"]
    found = [
        (path, payload)
        for event in history.events
        if event.marker_recorded_event_attributes.marker_name != "core_patch"
        for path, payload in payloads_in(event)
        if "search_attributes" not in path and ".header." not in path and payload not in sdk_written
    ]
    assert len(found) > 20
    for path, payload in found:
        assert payload.metadata["encoding"] == ENCODING, path
        assert payload.metadata[KEY_ID_METADATA] == b"k1", path

    # Whoever holds the codec server's token reads the same history in the clear.
    token = secrets.token_urlsafe(32)
    settings = CodecServerSettings(codec_server_token=token, _env_file=None)
    app = create_app(EncryptionCodec(parse_keys(keys)), Authenticator(settings), [])
    with CodecServerThread(app) as server:
        body = json_format.MessageToJson(Payloads(payloads=[p for _, p in found]))
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
            refused = await http.post("/decode", content=body)
            answer = await http.post(
                "/decode",
                content=body,
                headers={
                    "Authorization": f"Bearer {token}",
                    "Content-Type": "application/json",
                    "X-Namespace": dev_server.client.namespace,
                },
            )
    assert refused.status_code == 401
    assert answer.status_code == 200, answer.text
    decoded = json_format.Parse(answer.text, Payloads()).payloads
    assert len(decoded) == len(found)
    clear = b"".join(p.SerializeToString() for p in decoded)
    # The failure message arrives with the email already masked by the activity.
    masked_failure = failure_text.replace(signup.email, "<email>")
    for needle in (signup.email, FIRST, LAST, CLEARBIT_PERSON, masked_failure):
        assert needle.encode() in clear, needle


async def test_a_key_rotated_mid_journey_breaks_nothing(
    dev_server: WorkflowEnvironment, sandbox: SandboxServer, vendor_settings: VendorSettings
) -> None:
    old, new = generate_key("k1"), generate_key("k2")
    signup = a_signup()
    async with encrypting_worker(dev_server, vendor_settings, old) as before:
        handle = await start(before, signup)
        await wait_for_emails(handle, 1)
        task_queue = before.task_queue
    # Redeployed with a new key first; the old one stays, for what was encrypted with it.
    async with encrypting_worker(
        dev_server, vendor_settings, f"{new},{old}", task_queue=task_queue
    ) as after:
        rotated = after.client.get_workflow_handle_for(OnboardingJourney.run, handle.id)
        state = await asyncio.wait_for(rotated.result(), timeout=45)
    assert state.outcome == Outcome.EMAILS_COMPLETED
    assert state.emails_sent == 3

    history = await plain_client(dev_server).get_workflow_handle(handle.id).fetch_history()
    key_ids = {
        payload.metadata[KEY_ID_METADATA]
        for event in history.events
        for path, payload in payloads_in(event)
        if KEY_ID_METADATA in payload.metadata
    }
    assert key_ids == {b"k1", b"k2"}
    for needle in personal_data(signup):
        assert needle.encode() not in stored_bytes(history)

    # Dropping the old key too early is a clear error naming it, not garbage.
    started = history.events[0].workflow_execution_started_event_attributes
    try:
        await data_converter(new).decode(started.input.payloads, [JourneyInput])
    except UnknownKeyError as exc:
        assert exc.key_id == "k1"
    else:
        raise AssertionError("the journey's input, encrypted with k1, decoded without k1")


async def test_the_temporal_cli_reads_and_steers_through_the_codec_server(
    dev_server: WorkflowEnvironment, sandbox: SandboxServer, vendor_settings: VendorSettings
) -> None:
    keys = generate_key("k1")
    signup = a_signup()
    token = secrets.token_urlsafe(32)
    settings = CodecServerSettings(codec_server_token=token, _env_file=None)
    app = create_app(EncryptionCodec(parse_keys(keys)), Authenticator(settings), [])
    target = dev_server.client.service_client.config.target_host
    slow = JourneyConfig(email_schedule="0s,10m,20m", enrichment_poll_interval=timedelta(seconds=1))
    async with encrypting_worker(dev_server, vendor_settings, keys) as worker:
        started = await start_journey(worker.client, signup, slow, task_queue=worker.task_queue)
        handle = worker.client.get_workflow_handle_for(OnboardingJourney.run, started.workflow_id)
        await wait_for_emails(handle, 1)
        with CodecServerThread(app) as server:
            codec = ["--codec-endpoint", server.url, "--codec-auth", f"Bearer {token}"]

            def temporal(*args: str) -> subprocess.CompletedProcess[str]:
                return subprocess.run(
                    [binary("temporal"), *args, "--address", target],
                    capture_output=True,
                    text=True,
                    timeout=30,
                    check=False,
                )

            show = ["workflow", "show", "--workflow-id", handle.id, "--output", "json"]
            hidden = await asyncio.to_thread(temporal, *show)
            shown = await asyncio.to_thread(temporal, *show, *codec)
            refused = await asyncio.to_thread(
                temporal, *show, "--codec-endpoint", server.url, "--codec-auth", "Bearer wrong"
            )
            query = ["workflow", "query", "--workflow-id", handle.id, "--type", "state", *codec]
            state = await asyncio.to_thread(temporal, *query)
            # The CLI encrypts the update's input through /encode; the worker decrypts it.
            send_at = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
            update = await asyncio.to_thread(
                temporal,
                *("workflow", "update", "execute", "--workflow-id", handle.id),
                *("--name", "reschedule", "--input", json.dumps({"send_at": send_at}), *codec),
            )
        await handle.signal(OnboardingJourney.unsubscribe)
        await asyncio.wait_for(handle.result(), timeout=30)

    assert hidden.returncode == 0, hidden.stderr
    assert shown.returncode == 0, shown.stderr
    # JSON output keeps payloads in base64, decrypted once the codec server took part.
    assert signup.email.encode() in payload_data(shown.stdout)
    assert LAST.encode() in payload_data(shown.stdout)
    assert signup.email.encode() not in payload_data(hidden.stdout)
    assert signup.email.encode() not in payload_data(refused.stdout or "{}")
    assert state.returncode == 0, state.stderr
    assert '"emails_sent":1' in state.stdout.replace(" ", "")
    assert update.returncode == 0, update.stderr
    history = await plain_client(dev_server).get_workflow_handle(handle.id).fetch_history()
    [accepted] = [
        e.workflow_execution_update_accepted_event_attributes
        for e in history.events
        if e.HasField("workflow_execution_update_accepted_event_attributes")
    ]
    [update_input] = accepted.accepted_request.input.args.payloads
    assert update_input.metadata["encoding"] == ENCODING
