"""Importing a file of signups against the dev server: counts, invalid lines, resuming, bounded
concurrency, losing Temporal part-way, and the ``onboarding import`` command's exit codes."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from temporalio.client import (
    Client,
    Interceptor,
    OutboundInterceptor,
    StartWorkflowInput,
    WorkflowHandle,
)
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RetryConfig
from temporalio.testing import WorkflowEnvironment

from sandbox.server import SandboxServer
from starter.bulk_import import (
    ImportFileError,
    ImportInterrupted,
    ImportSummary,
    InvalidLine,
    import_signups,
    open_signups,
)
from tests.conftest import RunningWorker
from tests.helpers import command_env, onboarding
from workflows.journey import OnboardingJourney
from workflows.models import JourneyConfig, Outcome

CONFIG = JourneyConfig(email_schedule=[timedelta(0), timedelta(seconds=1), timedelta(seconds=2)])
# Clearbit's sandbox knows nobody at this domain, so these journeys end quickly: not_enriched.
UNKNOWN = "unheard-of.example"


def prefix() -> str:
    return f"imp-{uuid.uuid4().hex[:8]}"


def ndjson(path: Path, lines: list[Any]) -> Path:
    path.write_text(
        "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n"
    )
    return path


async def journeys_of(client: Client, user_prefix: str, expected: int) -> list[str]:
    """The journeys of users with this prefix, once visibility (eventually consistent) shows
    ``expected`` of them, or after 10 s."""
    query = f"WorkflowId STARTS_WITH 'onboarding-{user_prefix}'"
    for _ in range(100):
        found = [w.id async for w in client.list_workflows(query)]
        if len(found) >= expected:
            break
        await asyncio.sleep(0.1)
    return found


async def test_ndjson_counts_invalid_lines_and_resumes(
    dev_worker: RunningWorker, tmp_path: Path
) -> None:
    p = prefix()
    path = ndjson(
        tmp_path / "signups.ndjson",
        [
            {"user_id": f"{p}-ana", "email": f"ana@{UNKNOWN}", "source": "backfill"},
            "",
            {"user_id": f"{p}-bad", "email": "ana.maria@@acme.io"},
            {"email": f"nobody@{UNKNOWN}"},
            {"user_id": "joe@acme.io", "email": "joe@acme.io"},
            "[1, 2]",
            '{"user_id": ',
            {"user_id": f"{p}-bo", "email": f"bo@{UNKNOWN}", "unknown_field": 1},
            {"user_id": f"{p}-ana", "email": f"ana.again@{UNKNOWN}"},
            {"user_id": f"{p}-cy", "email": f"cy@{UNKNOWN}", "company_domain": "cy@acme.io"},
        ],
    )
    client = dev_worker.client

    summary = await import_signups(client, path, CONFIG, task_queue=dev_worker.task_queue)

    assert (summary.started, summary.existing, summary.total) == (2, 1, 9)
    assert [line.line for line in summary.invalid] == [3, 4, 5, 6, 7, 10]
    assert summary.invalid[0].reason.startswith("email: value is not a valid email address")
    assert summary.invalid[1:] == [
        InvalidLine(4, "user_id: Field required"),
        InvalidLine(5, "user_id: Value error, must be the product's user id, not an email address"),
        InvalidLine(6, "not a JSON object"),
        InvalidLine(7, "not valid JSON: Expecting value (column 12)"),
        InvalidLine(10, "company_domain: Value error, '<email address>' is not a domain name"),
    ]
    reasons = " ".join(line.reason for line in summary.invalid)
    assert "@acme.io" not in reasons and "ana.maria" not in reasons

    handle: WorkflowHandle[Any, Any] = client.get_workflow_handle_for(
        OnboardingJourney.run, f"onboarding-{p}-ana"
    )
    result = await asyncio.wait_for(handle.result(), timeout=30)
    assert result.outcome == Outcome.NOT_ENRICHED

    again = await import_signups(client, path, CONFIG, task_queue=dev_worker.task_queue)
    assert (again.started, again.existing) == (0, 3)
    assert again.invalid == summary.invalid
    assert sorted(await journeys_of(client, p, 2)) == [f"onboarding-{p}-{u}" for u in ("ana", "bo")]


async def test_csv_lines_are_file_lines(dev_worker: RunningWorker, tmp_path: Path) -> None:
    p = prefix()
    path = tmp_path / "signups.csv"
    path.write_text(
        "User_ID,email,first_name,company_domain,plan\n"  # line 1: the header
        f"{p}-dee,dee@{UNKNOWN},Dee,,pro\n"
        "\n"
        f'{p}-eve,eve@{UNKNOWN},"Eve\nMarie",{UNKNOWN},free\n'  # lines 4-5: one row
        f",fay@{UNKNOWN},Fay,,\n"
        f"{p}-gus,not-an-email,Gus,,\n"
        f"gus@{UNKNOWN},gus@{UNKNOWN},,,\n"
        f"{p}-dee,dee@{UNKNOWN},,,\n"
        f"{p}-hal,hal@{UNKNOWN}\n"  # short row: the missing cells are absent
    )

    summary = await import_signups(
        dev_worker.client, path, CONFIG, task_queue=dev_worker.task_queue
    )

    assert (summary.started, summary.existing) == (3, 1)
    assert [line.line for line in summary.invalid] == [6, 7, 8]
    assert summary.invalid[0] == InvalidLine(6, "user_id: Field required")
    assert summary.invalid[1].reason.startswith("email: value is not a valid email address")
    assert summary.invalid[2].reason.startswith("user_id: Value error, must be the product's")
    assert not any(UNKNOWN in line.reason for line in summary.invalid)
    assert len(await journeys_of(dev_worker.client, p, 3)) == 3

    again = await import_signups(dev_worker.client, path, CONFIG, task_queue=dev_worker.task_queue)
    assert (again.started, again.existing, len(again.invalid)) == (0, 4, 3)


class InFlight(Interceptor):
    """Counts the journey starts in flight at once."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        return _CountStarts(next, self)


class _CountStarts(OutboundInterceptor):
    def __init__(self, next: OutboundInterceptor, probe: InFlight) -> None:
        super().__init__(next)
        self.probe = probe

    async def start_workflow(self, input: StartWorkflowInput) -> WorkflowHandle[Any, Any]:
        self.probe.now += 1
        self.probe.most = max(self.probe.most, self.probe.now)
        try:
            return await super().start_workflow(input)
        finally:
            self.probe.now -= 1


async def test_concurrency_is_bounded(dev_server: WorkflowEnvironment) -> None:
    p = prefix()
    probe = InFlight()
    client = Client(
        dev_server.client.service_client,
        namespace=dev_server.client.namespace,
        data_converter=pydantic_data_converter,
        interceptors=[probe],
    )
    rows = [{"user_id": f"{p}-{n}", "email": f"u{n}@{UNKNOWN}"} for n in range(200)]
    seen: list[int] = []

    # No worker serves this queue: the journeys only need to exist.
    summary = await import_signups(
        client,
        rows,
        CONFIG,
        concurrency=4,
        task_queue=f"unserved-{p}",
        progress=lambda s: seen.append(s.total),
    )

    assert (summary.started, summary.existing, summary.invalid) == (200, 0, [])
    assert 1 < probe.most <= 4
    assert sorted(seen) == list(range(1, 201))
    assert len(await journeys_of(dev_server.client, p, 200)) == 200


class Proxy:
    """A TCP forwarder to the dev server that the test can cut, as a network outage would."""

    def __init__(self, target: str) -> None:
        self.host, port = target.rsplit(":", 1)
        self.port = int(port)
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._connect, "127.0.0.1", 0)
        return f"127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def _connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(self.host, self.port)
        self.writers += [writer, up_writer]
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.transport.abort()

    def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.transport.abort()


@pytest_asyncio.fixture
async def proxy(dev_server: WorkflowEnvironment) -> AsyncIterator[Proxy]:
    proxy = Proxy(dev_server.client.service_client.config.target_host)
    yield proxy
    proxy.cut()


async def test_losing_temporal_stops_and_a_rerun_resumes(
    dev_server: WorkflowEnvironment, proxy: Proxy
) -> None:
    p = prefix()
    address = await proxy.start()
    client = await Client.connect(
        address,
        data_converter=pydantic_data_converter,
        retry_config=RetryConfig(max_elapsed_time_millis=1000, max_retries=3),
    )
    rows = [{"user_id": f"{p}-{n}", "email": f"u{n}@{UNKNOWN}"} for n in range(40)]

    def cut_after_five(summary: ImportSummary) -> None:
        if summary.started == 5:
            proxy.cut()

    with pytest.raises(ImportInterrupted) as stopped:
        await import_signups(
            client,
            rows,
            CONFIG,
            concurrency=2,
            task_queue=f"unserved-{p}",
            progress=cut_after_five,
        )
    first = stopped.value.summary
    assert 5 <= first.started < 40
    message = str(stopped.value)
    assert f"lost the connection to Temporal at {address}" in message
    assert f"after starting {first.started} journeys" in message
    assert "\n" not in message

    again = await import_signups(
        dev_server.client, rows, CONFIG, concurrency=8, task_queue=f"unserved-{p}"
    )
    # A start in flight at the cut may have reached the server: the re-run finds it existing.
    assert again.started + again.existing == 40
    assert again.existing >= first.started
    assert len(await journeys_of(dev_server.client, p, 40)) == 40


async def test_a_client_that_cannot_connect_stops_the_import_at_once() -> None:
    client = await Client.connect(
        "127.0.0.1:1",
        lazy=True,
        data_converter=pydantic_data_converter,
        retry_config=RetryConfig(max_elapsed_time_millis=200, max_retries=1),
    )
    rows = [{"user_id": f"never-{n}", "email": f"u{n}@{UNKNOWN}"} for n in range(10)]

    with pytest.raises(
        ImportInterrupted, match=r"lost the connection to Temporal at 127\.0\.0\.1:1 "
    ):
        await import_signups(client, rows, CONFIG, concurrency=2)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("signups.txt", "", "cannot tell the format"),
        ("missing.ndjson", None, "cannot read"),
        ("array.json", '[\n  {"user_id": "u1"}\n]\n', "holds a JSON array"),
        ("no-id.csv", "id,email\nu1,a@b.io\n", "missing: user_id"),
    ],
)
def test_unreadable_files_are_refused_before_anything_starts(
    tmp_path: Path, name: str, content: str | None, message: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(ImportFileError, match=message):
        open_signups(path)


# The command, as a separate process. The CLI starts on the default task queue, which no worker
# serves here: these journeys only need to exist.


@pytest.fixture(scope="module")
def env(
    dev_server: WorkflowEnvironment,
    module_sandbox: SandboxServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, str]:
    warehouse = tmp_path_factory.mktemp("import") / "warehouse.db"
    return command_env(
        dev_server.client.service_client.config.target_host,
        module_sandbox,
        f"sqlite:///{warehouse}",
    )


def test_command_imports_and_a_second_run_starts_nothing(
    env: dict[str, str], tmp_path: Path
) -> None:
    p = prefix()
    path = ndjson(
        tmp_path / "week.jsonl",
        [{"user_id": f"{p}-{n}", "email": f"u{n}@{UNKNOWN}"} for n in range(3)],
    )

    first = onboarding("import", str(path), env=env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "started 3, already running or done 0, invalid 0"
    assert "Traceback" not in first.stderr

    second = onboarding("import", str(path), "--concurrency", "2", env=env)
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == "started 0, already running or done 3, invalid 0"


def test_command_lists_invalid_lines_and_exits_1(env: dict[str, str], tmp_path: Path) -> None:
    p = prefix()
    lines: list[Any] = [{"user_id": f"{p}-ok", "email": f"ok@{UNKNOWN}"}]
    lines += [{"user_id": f"{p}-{n}", "email": f"person{n}@@{UNKNOWN}"} for n in range(52)]
    lines.append("{not json")
    path = ndjson(tmp_path / "week.ndjson", lines)

    result = onboarding("import", str(path), env=env)

    assert result.returncode == 1, result.stderr
    out = result.stdout.strip().splitlines()
    assert out[0] == "started 1, already running or done 0, invalid 53"
    assert out[1].startswith("line 2: email: value is not a valid email address")
    assert len(out) == 1 + 50 + 1
    assert out[-1] == "and 3 more invalid lines"
    assert "person" not in result.stdout and "person" not in result.stderr


def test_command_reads_csv_from_stdin(env: dict[str, str]) -> None:
    p = prefix()
    csv_text = f"user_id,email,source\n{p}-1,one@{UNKNOWN},csv\n{p}-2,two@{UNKNOWN},\n"

    result = onboarding("import", "-", "--format", "csv", stdin=csv_text, env=env)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "started 2, already running or done 0, invalid 0"


@pytest.mark.parametrize(
    ("args", "content", "message"),
    [
        (["missing.csv"], None, "error: cannot read"),
        (["signups.xlsx"], "", "error: cannot tell the format"),
        (["-"], None, "error: reading signups from stdin needs --format"),
        (["no-email.csv"], "user_id\nu1\n", "error: the CSV header"),
    ],
)
def test_command_refuses_unreadable_files_with_exit_2(
    env: dict[str, str], tmp_path: Path, args: list[str], content: str | None, message: str
) -> None:
    if content is not None:
        (tmp_path / args[0]).write_text(content)
    paths = [arg if arg == "-" else str(tmp_path / arg) for arg in args]

    result = onboarding("import", *paths, stdin="", env=env)

    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip().startswith(message)
    assert len(result.stderr.strip().splitlines()) == 1


def test_command_unreachable_temporal_is_one_line(env: dict[str, str], tmp_path: Path) -> None:
    path = ndjson(tmp_path / "one.ndjson", [{"user_id": "u1", "email": f"u1@{UNKNOWN}"}])

    result = onboarding("import", str(path), env={**env, "TEMPORAL_ADDRESS": "127.0.0.1:1"})

    assert result.returncode == 1
    assert result.stderr.strip().startswith("error: cannot reach Temporal at 127.0.0.1:1")
    assert len(result.stderr.strip().splitlines()) == 1


def console_spans(stdout: str) -> list[dict[str, Any]]:
    """The spans the console exporter printed, one JSON object each, among the summary lines."""
    decoder = json.JSONDecoder()
    spans, position = [], 0
    while (start := stdout.find("{", position)) != -1:
        try:
            span, position = decoder.raw_decode(stdout, start)
        except json.JSONDecodeError:
            position = start + 1
            continue
        if isinstance(span, dict) and "context" in span:
            spans.append(span)
    return spans


def test_each_imported_journey_is_a_trace_of_its_own(env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "traced.ndjson"
    path.write_text(
        "\n".join(
            json.dumps({"user_id": f"traced-{uuid.uuid4().hex[:8]}", "email": f"t{n}@example.com"})
            for n in range(3)
        )
    )
    result = onboarding("import", str(path), env={**env, "OTEL_TRACES_EXPORTER": "console"})
    assert result.returncode == 0, result.stderr
    spans = console_spans(result.stdout)
    roots = [s for s in spans if s["name"] == "onboarding import"]
    starts = [s for s in spans if s["name"].startswith("StartWorkflow")]
    assert len(roots) == len(starts) == 3
    assert len({s["context"]["trace_id"] for s in roots}) == 3
    root_ids = {s["context"]["span_id"] for s in roots}
    assert {s["parent_id"] for s in starts} == root_ids
