"""The starter CLI as a separate process against the dev server: starting, steering, bad input,
and exiting cleanly every time."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from common.codec_server import Authenticator, CodecServerThread, create_app
from common.encryption import EncryptionCodec, parse_keys
from sandbox.server import SandboxServer
from tests.helpers import command_env, onboarding, start_worker, wait_for_emails
from workflows.journey import OnboardingJourney
from workflows.models import Outcome


@pytest.fixture(scope="module")
def env(
    dev_server: WorkflowEnvironment,
    module_sandbox: SandboxServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, str]:
    warehouse = tmp_path_factory.mktemp("cli") / "warehouse.db"
    return command_env(
        dev_server.client.service_client.config.target_host,
        module_sandbox,
        f"sqlite:///{warehouse}",
        EMAIL_SCHEDULE="0s,1h,2h",
    )


@pytest_asyncio.fixture(scope="module")
async def worker(
    env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[None]:
    process = start_worker(env, tmp_path_factory.mktemp("logs") / "worker.log")
    yield
    process.terminate()
    process.wait(timeout=20)


def user() -> str:
    return f"cli-{uuid.uuid4().hex[:10]}"


async def exists(client: Client, workflow_id: str) -> bool:
    try:
        await client.get_workflow_handle(workflow_id).describe()
        return True
    except RPCError:
        return False


async def test_start_prints_the_workflow_id_and_never_starts_twice(
    env: dict[str, str], dev_server: WorkflowEnvironment, worker: None
) -> None:
    user_id = user()
    first = onboarding(
        "start",
        "--user-id",
        user_id,
        "--email",
        "sam@shopbright.example",
        "--first-name",
        "Sam",
        env=env,
    )
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == f"onboarding-{user_id}"
    assert "started" in first.stderr

    again = onboarding("start", "--user-id", user_id, "--email", "sam@shopbright.example", env=env)
    assert again.returncode == 0
    assert again.stdout.strip() == f"onboarding-{user_id}"
    assert "already running" in again.stderr
    handle = dev_server.client.get_workflow_handle(f"onboarding-{user_id}")
    runs = [w async for w in dev_server.client.list_workflows(f"WorkflowId = '{handle.id}'")]
    assert len(runs) == 1
    first_run = (await handle.describe()).run_id
    assert first_run in again.stderr


async def test_finished_journeys_need_rerun(
    env: dict[str, str], dev_server: WorkflowEnvironment, worker: None
) -> None:
    user_id = user()
    assert (
        onboarding(
            "start", "--user-id", user_id, "--email", "joe@unheard-of.example", env=env
        ).returncode
        == 0
    )
    handle = dev_server.client.get_workflow_handle_for(
        OnboardingJourney.run, f"onboarding-{user_id}"
    )
    assert (await handle.result()).outcome == Outcome.NOT_ENRICHED

    again = onboarding("start", "--user-id", user_id, "--email", "joe@unheard-of.example", env=env)
    assert again.returncode == 0
    assert "already finished" in again.stderr and "--rerun" in again.stderr
    rerun = onboarding(
        "start", "--user-id", user_id, "--email", "joe@unheard-of.example", "--rerun", env=env
    )
    assert rerun.returncode == 0
    assert "started" in rerun.stderr
    runs = [w async for w in dev_server.client.list_workflows(f"WorkflowId = '{handle.id}'")]
    assert len(runs) == 2


async def test_start_from_an_event_file_and_stdin(
    env: dict[str, str], tmp_path: Path, dev_server: WorkflowEnvironment, worker: None
) -> None:
    event = {"user_id": user(), "email": "pat@plainpaper.example", "source": "import"}
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event))
    from_file = onboarding("start", "--event", str(path), env=env)
    assert from_file.returncode == 0, from_file.stderr
    event["user_id"] = user()
    from_stdin = onboarding("start", "--event", "-", stdin=json.dumps(event), env=env)
    assert from_stdin.returncode == 0, from_stdin.stderr
    assert from_stdin.stdout.strip() == f"onboarding-{event['user_id']}"


@pytest.mark.parametrize(
    ("command", "variable", "value", "named"),
    [
        (["worker"], "WORKER_MAX_CACHED_WORKFLOWS", "-1", "WORKER_MAX_CACHED_WORKFLOWS:"),
        (["worker"], "VENDOR_RATE_LIMITS", "slack=0", "VENDOR_RATE_LIMITS (slack):"),
        (["worker"], "VENDOR_DISPATCH_HOLD_SECONDS", "9", "VENDOR_DISPATCH_HOLD_SECONDS:"),
        (["spend"], "ENRICHMENT_CACHE_TTL", "soon", "ENRICHMENT_CACHE_TTL:"),
        (
            ["start", "--user-id", "u1", "--email", "a@b.io"],
            "EMAIL_SCHEDULE",
            "x",
            "EMAIL_SCHEDULE:",
        ),
    ],
)
def test_a_bad_setting_is_one_line_naming_its_variable(
    env: dict[str, str], command: list[str], variable: str, value: str, named: str
) -> None:
    result = onboarding(*command, env={**env, variable: value})
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stderr.startswith(f"error: invalid settings: {named}"), result.stderr


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--user-id", "u1", "--email", "not-an-email"], "email"),
        (["--user-id", "ana@example.com", "--email", "ana@example.com"], "user_id"),
        (["--email", "ana@example.com"], "user_id"),
        (
            ["--user-id", "u1", "--email", "a@b.io", "--company-domain", "no such domain"],
            "company_domain",
        ),
    ],
)
async def test_invalid_input_is_one_line_and_starts_nothing(
    env: dict[str, str], dev_server: WorkflowEnvironment, args: list[str], field: str
) -> None:
    result = onboarding("start", *args, env=env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert field in lines[0]
    assert "Traceback" not in result.stderr
    if "--user-id" in args:
        user_id = args[args.index("--user-id") + 1]
        assert not await exists(dev_server.client, f"onboarding-{user_id}")


async def test_status_unsubscribe_and_convert(
    env: dict[str, str], dev_server: WorkflowEnvironment, worker: None
) -> None:
    unsubscriber, converter = user(), user()
    for user_id in (unsubscriber, converter):
        assert (
            onboarding(
                "start", "--user-id", user_id, "--email", "sam@shopbright.example", env=env
            ).returncode
            == 0
        )
    handle = dev_server.client.get_workflow_handle_for(
        OnboardingJourney.run, f"onboarding-{unsubscriber}"
    )
    await wait_for_emails(handle, 1)
    status = onboarding("status", unsubscriber, env=env)
    assert status.returncode == 0
    assert "waiting_email" in status.stdout and "email 2 due" in status.stdout

    assert onboarding("unsubscribe", unsubscriber, env=env).returncode == 0
    assert (await handle.result()).outcome == Outcome.UNSUBSCRIBED
    assert onboarding("convert", converter, env=env).returncode == 0
    converted = dev_server.client.get_workflow_handle_for(
        OnboardingJourney.run, f"onboarding-{converter}"
    )
    assert (await converted.result()).outcome == Outcome.CONVERTED

    finished = onboarding("unsubscribe", unsubscriber, env=env)
    assert finished.returncode == 1
    assert "already ended" in finished.stderr
    assert len(finished.stderr.strip().splitlines()) == 1
    unknown = onboarding("convert", "nobody-here", env=env)
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == "error: no journey for user nobody-here"


def test_unreachable_temporal_is_one_line(env: dict[str, str]) -> None:
    result = onboarding("status", "anyone", env={**env, "TEMPORAL_ADDRESS": "127.0.0.1:1"})
    assert result.returncode == 1
    assert result.stderr.strip().startswith("error: cannot reach Temporal at 127.0.0.1:1")
    assert len(result.stderr.strip().splitlines()) == 1


async def test_every_command_exits_cleanly_every_time(env: dict[str, str], worker: None) -> None:
    user_id = user()
    assert (
        onboarding(
            "start", "--user-id", user_id, "--email", "pat@plainpaper.example", env=env
        ).returncode
        == 0
    )
    # Short-lived SDK processes are known to abort at interpreter shutdown now and then.
    runs = 25
    codes = []
    for _ in range(runs):
        codes.append(onboarding("status", user_id, env=env).returncode)
    assert codes == [0] * runs
    for _ in range(10):
        again = onboarding(
            "start", "--user-id", user_id, "--email", "pat@plainpaper.example", env=env
        )
        assert again.returncode == 0, again.stderr


async def test_live_controls_from_the_cli(
    env: dict[str, str], dev_server: WorkflowEnvironment, worker: None
) -> None:
    user_id = user()
    assert (
        onboarding(
            "start", "--user-id", user_id, "--email", "sam@shopbright.example", env=env
        ).returncode
        == 0
    )
    handle = dev_server.client.get_workflow_handle_for(
        OnboardingJourney.run, f"onboarding-{user_id}"
    )
    await wait_for_emails(handle, 1)

    paused = onboarding("pause", user_id, env=env)
    assert paused.returncode == 0 and "paused" in paused.stdout
    assert "stage:    paused" in onboarding("status", user_id, env=env).stdout
    assert onboarding("resume", user_id, env=env).returncode == 0

    moved = onboarding("reschedule", user_id, "--in", "10m", env=env)
    assert moved.returncode == 0, moved.stderr
    assert moved.stdout.startswith("next email now due ")
    past = onboarding("reschedule", user_id, "--at", "2020-01-01T00:00:00Z", env=env)
    assert past.returncode == 1
    assert past.stderr.strip() == "error: reschedule rejected: the new time is in the past"
    both = onboarding("reschedule", user_id, "--in", "1m", "--at", "2030-01-01", env=env)
    assert both.returncode == 2

    for _ in range(50):
        listed = onboarding("journeys", "--stage", "waiting_email_2", env=env)
        if f"onboarding-{user_id}" in listed.stdout:
            break
        await asyncio.sleep(0.2)
    assert f"onboarding-{user_id}" in listed.stdout
    assert "sam@" not in listed.stdout

    assert onboarding("unsubscribe", user_id, env=env).returncode == 0
    await handle.result()
    for control in ("pause", "resume"):
        finished = onboarding(control, user_id, env=env)
        assert finished.returncode == 1
        assert "already ended" in finished.stderr
    late = onboarding("reschedule", user_id, "--in", "1h", env=env)
    assert late.returncode == 1 and "already ended" in late.stderr
    bad_stage = onboarding("journeys", "--stage", "x' OR 1=1", env=env)
    assert bad_stage.returncode == 2


async def test_the_plain_temporal_cli_steers_journeys(
    env: dict[str, str], dev_server: WorkflowEnvironment, worker: None
) -> None:
    temporal = str(Path(sys.executable).parent / "temporal")
    address = ["--address", env["TEMPORAL_ADDRESS"]]
    user_id = user()
    workflow_id = f"onboarding-{user_id}"
    assert (
        onboarding(
            "start", "--user-id", user_id, "--email", "sam@shopbright.example", env=env
        ).returncode
        == 0
    )
    handle = dev_server.client.get_workflow_handle_for(OnboardingJourney.run, workflow_id)
    await wait_for_emails(handle, 1)

    keys = parse_keys(env["ONBOARDING_ENCRYPTION_KEYS"])
    codec = CodecServerThread(
        create_app(EncryptionCodec(keys), Authenticator.unauthenticated(), [])
    )

    def temporal_cli(*args: str) -> subprocess.CompletedProcess[str]:
        # Payloads are encrypted: the plain CLI reads and writes them through the codec server.
        codec_flags = ["--codec-endpoint", codec.url, "--codec-auth", "Bearer local"]
        return subprocess.run(
            [temporal, *args, *address, *codec_flags],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    with codec:
        await steer_with_the_temporal_cli(temporal_cli, workflow_id)
    state = await handle.result()
    assert state.outcome == Outcome.UNSUBSCRIBED
    assert "email 2 rescheduled" in state.path


async def steer_with_the_temporal_cli(
    temporal_cli: Callable[..., subprocess.CompletedProcess[str]], workflow_id: str
) -> None:
    from datetime import UTC, datetime, timedelta

    query = await asyncio.to_thread(
        temporal_cli, "workflow", "query", "--workflow-id", workflow_id, "--type", "state"
    )
    assert query.returncode == 0, query.stderr
    assert '"emails_sent":1' in query.stdout.replace(" ", "")
    send_at = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    update = await asyncio.to_thread(
        temporal_cli,
        "workflow",
        "update",
        "execute",
        "--workflow-id",
        workflow_id,
        "--name",
        "reschedule",
        "--input",
        json.dumps({"send_at": send_at}),
    )
    assert update.returncode == 0, update.stderr
    signal = await asyncio.to_thread(
        temporal_cli, "workflow", "signal", "--workflow-id", workflow_id, "--name", "unsubscribe"
    )
    assert signal.returncode == 0, signal.stderr


async def test_register_search_attributes_fills_a_bare_namespace(
    dev_server: WorkflowEnvironment, env: dict[str, str]
) -> None:
    """What Docker Compose runs once before the worker: every attribute, then nothing to do."""
    from google.protobuf.duration_pb2 import Duration
    from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest

    from worker.main import missing_search_attributes
    from workflows import search_attributes as sa

    namespace = f"bare-{uuid.uuid4().hex[:8]}"
    await dev_server.client.workflow_service.register_namespace(
        RegisterNamespaceRequest(
            namespace=namespace, workflow_execution_retention_period=Duration(seconds=86400)
        )
    )
    client = Client(dev_server.client.service_client, namespace=namespace)
    for _ in range(100):  # a new namespace takes the server a moment to serve
        if await missing_search_attributes(client) is not None:
            break
        await asyncio.sleep(0.2)
    bare = {**env, "TEMPORAL_NAMESPACE": namespace}
    first = onboarding("register-search-attributes", env=bare)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "registered: " + ", ".join(sorted(k.name for k in sa.ALL))
    assert await missing_search_attributes(client) == []
    again = onboarding("register-search-attributes", env=bare)
    assert (again.returncode, again.stdout.strip()) == (0, "every search attribute is there")
