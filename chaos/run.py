"""The chaos run: journeys against real processes while workers are SIGKILLed and the Temporal
server restarts; then everything the vendors received is counted.

    .venv/bin/python -m chaos.run --journeys 300 --kills 5

On this machine, as separate processes: the Temporal dev server (database on disk in a temporary
directory, search attributes registered), the signup webhook and two workers; the vendor sandbox
runs in this process with faults injected (5xx, 429 with Retry-After, answers slower than the
activity timeout). Signups arrive as signed Standard Webhooks deliveries spread over every branch
of the sandbox's fixtures. Meanwhile a worker is SIGKILLed at random moments and replaced at once,
and the dev server is killed once and started again on the same port and database file; the
workers and the webhook must reconnect by themselves.

Once the journeys have closed: each one's outcome against its fixture's, each email accepted by
Resend exactly once, at most one Slack alert per journey, one warehouse row per journey and step,
none stuck. A last phase SIGKILLs the worker right after Slack stored a sales alert, before its
answer arrives, and counts doubled alerts. Exit code 0 only when nothing was lost, nothing was
delivered twice, every outcome was the expected one and no journey is stuck.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import random
import secrets
import shutil
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from standardwebhooks.webhooks import Webhook
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError

from activities.contracts import POST_SALES_ALERT
from chaos import checks, processes
from chaos.checks import Journey, Tally
from chaos.processes import Child, Workers
from common.encryption import KEYS_ENV, data_converter, generate_key
from common.telemetry import quiet_runtime
from sandbox.fixtures import expected_outcome, sample_signups
from sandbox.server import SandboxServer
from sandbox.state import SandboxState
from workflows import search_attributes
from workflows.models import TASK_QUEUE, JourneyState

T = TypeVar("T")

# The journey's settings for the run (captured by the webhook into every journey it starts).
EMAIL_SCHEDULE = "0s,3s,6s"
EMAILS_PER_JOURNEY = 3
ENRICHMENT_POLL_INTERVAL = "1s"
VENDOR_CALL_TIMEOUT_SECONDS = 3
# The workers give up on a vendor before the activity times out; a "slow" answer outlasts both.
HTTP_TIMEOUT_SECONDS = 2
SLOW_SECONDS = 4.0
# Crash-after-post trials: Slack holds every answer this long (lookups included, so a retry's
# conversations.list + conversations.history still fit in one activity timeout).
ALERT_LATENCY_SECONDS = 1.2
# Longer than the webhook's 4 s Temporal deadline, so deliveries meet its 503 and come again.
SERVER_DOWNTIME_SECONDS = 5.0
RECONNECT_TIMEOUT_SECONDS = 90.0
READY_TIMEOUT_SECONDS = 60.0

stderr = Console(stderr=True, highlight=False, log_path=False)


@dataclass(frozen=True)
class Options:
    journeys: int
    kills: int
    seed: int
    deadline: float
    alert_crash_trials: int
    json_path: Path | None
    concurrency: int
    error_rate: float
    rate_limit_rate: float
    slow_rate: float
    server_signal: str
    keep: bool

    @property
    def start_window(self) -> float:
        """Signups are spread over this many seconds, so crashes meet journeys at every step."""
        return max(8.0, self.journeys / 5)


@dataclass
class Reconnect:
    """How the server restart went for the processes that talk to it."""

    workers_seconds: float | None = None
    webhook_seconds: float | None = None
    webhook_same_process: bool = True
    workers_exited: int = 0


@dataclass
class Phase:
    """One batch of journeys followed until closed."""

    journeys: list[Journey]
    task: TaskID | None = None


def signups(tag: str, count: int) -> list[Journey]:
    """``count`` signups, round-robin over every sample (each branch, an unknown company and a
    role address), with their own user id and email address so each is its own journey."""
    samples = sample_signups()
    journeys = []
    for n in range(count):
        sample = dict(samples[n % len(samples)])
        local, _, domain = str(sample["email"]).partition("@")
        sample["user_id"] = f"chaos-{tag}-{n:04d}"
        sample["email"] = f"{local}+{tag}{n}@{domain}"
        journeys.append(Journey(sample["user_id"], sample, expected_outcome(sample["email"])))
    return journeys


def enterprise_signups(tag: str, count: int) -> list[Journey]:
    sample = next(s for s in sample_signups() if expected_outcome(s["email"]) == "sales_alerted")
    local, _, domain = str(sample["email"]).partition("@")
    return [
        Journey(
            f"chaos-{tag}-alert-{n:02d}",
            {**sample, "user_id": f"chaos-{tag}-alert-{n:02d}", "email": f"{local}+a{n}@{domain}"},
            "sales_alerted",
        )
        for n in range(count)
    ]


def plan_chaos(rng: random.Random, window: float, kills: int) -> tuple[float, list[float]]:
    """When the server restarts and when workers die, in seconds from the first signup; kills
    keep clear of the restart so each disturbance is its own."""
    restart_at = rng.uniform(0.35, 0.6) * window
    clear_of = (restart_at - 2.5, restart_at + 8.0)
    moments: list[float] = []
    while len(moments) < kills:
        moment = rng.uniform(1.0, window + 8.0)
        if not clear_of[0] <= moment <= clear_of[1]:
            moments.append(moment)
    return restart_at, sorted(moments)


class ChaosRun:
    def __init__(self, options: Options, run_dir: Path, progress: Progress) -> None:
        self.options = options
        self.run_dir = run_dir
        self.progress = progress
        self.rng = random.Random(options.seed)
        self.tag = uuid.UUID(int=self.rng.getrandbits(128)).hex[:6]
        self.temporal_port = processes.free_port()
        self.webhook_port = processes.free_port()
        self.warehouse = run_dir / "warehouse.db"
        self.sandbox = SandboxServer(port=0, state=SandboxState(seed=options.seed))
        self.secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
        # Journeys' payloads are encrypted; this run's own key, shared with what it starts.
        self.encryption_keys = generate_key("chaos")
        # The SDK's own retry warnings while the server is down would bury the report.
        self.runtime = quiet_runtime()
        self.server: Child | None = None
        self.webhook: Child | None = None
        self.workers: Workers | None = None
        self.client: Client | None = None
        self.http = httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=3.0))
        self.server_down = False
        self.server_restarts = 0
        self.main_kills = 0
        self.reconnect = Reconnect()
        self.webhook_503s = 0
        self.webhook_connection_errors = 0
        self.events: list[str] = []
        self.stop_supervising = asyncio.Event()
        self.supervisor: asyncio.Task[None] | None = None
        self._checks: list[asyncio.Task[None]] = []

    # --- bringing the processes up --------------------------------------------------------------

    def event(self, text: str) -> None:
        line = f"{time.strftime('%H:%M:%S')} {text}"
        self.events.append(line)
        self.progress.console.log(text)

    def env(self) -> dict[str, str]:
        """Everything the webhook and the workers read, and nothing from a local ``.env``."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_")}
        env.update(self.sandbox.base_urls())
        env.update(
            TEMPORAL_ADDRESS=f"127.0.0.1:{self.temporal_port}",
            TEMPORAL_NAMESPACE="default",
            WAREHOUSE_URL=f"sqlite:///{self.warehouse}",
            HTTP_TIMEOUT_SECONDS=str(HTTP_TIMEOUT_SECONDS),
            SLACK_SALES_CHANNEL="#sales",
            EMAIL_SCHEDULE=EMAIL_SCHEDULE,
            ENRICHMENT_POLL_INTERVAL=ENRICHMENT_POLL_INTERVAL,
            VENDOR_CALL_TIMEOUT=f"{VENDOR_CALL_TIMEOUT_SECONDS}s",
            SIGNUP_WEBHOOK_SECRET=self.secret,
            **{KEYS_ENV: self.encryption_keys},
            SEGMENT_SHARED_SECRET=secrets.token_urlsafe(32),
            # The run is about faults, not vendor limits: the queues' limits stay out of the way.
            VENDOR_RATE_LIMITS=processes.UNTHROTTLED_VENDORS,
            PYTHONUNBUFFERED="1",
        )
        return env

    async def up(self) -> None:
        self.sandbox.start()
        env = self.env()
        self.server = processes.dev_server(
            self.temporal_port, self.run_dir / "temporal.db", self.run_dir
        )
        self.server.start()
        self.client = await self.connect()
        await self.check_search_attributes()
        self.webhook = processes.webhook(self.webhook_port, env, self.run_dir)
        self.webhook.start()
        self.workers = Workers(
            [processes.worker(slot, env, self.run_dir) for slot in range(2)],
            server_up=lambda: not self.server_down,
            on_event=self.event,
        )
        self.workers.start()
        self.supervisor = asyncio.create_task(self.workers.supervise(self.stop_supervising))
        await self.until(self.webhook_healthy, READY_TIMEOUT_SECONDS, "the webhook to start")
        await self.until(self.workers_polling, READY_TIMEOUT_SECONDS, "both workers to poll")
        self.event(
            f"up: Temporal :{self.temporal_port} (db {self.run_dir / 'temporal.db'}), "
            f"sandbox {self.sandbox.url}, webhook :{self.webhook_port}, "
            f"workers pid {', '.join(str(c.pid) for c in self.workers.children)}"
        )

    async def connect(self) -> Client:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while True:
            try:
                return await Client.connect(
                    f"127.0.0.1:{self.temporal_port}",
                    data_converter=data_converter(self.encryption_keys),
                    runtime=self.runtime,
                )
            except Exception:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"the Temporal dev server did not start; see {self.run_dir / 'temporal.log'}"
                    ) from None
                await asyncio.sleep(0.3)

    async def check_search_attributes(self) -> None:
        assert self.client is not None
        response = await self.client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=self.client.namespace)
        )
        missing = [
            k.name for k in search_attributes.ALL if k.name not in response.custom_attributes
        ]
        if missing:
            raise RuntimeError(f"the dev server lacks the search attributes {missing}")

    def check_workers(self) -> None:
        """Stop the run when a worker cannot start at all: nothing after that would mean much."""
        if self.workers is not None and self.workers.failing:
            raise RuntimeError(f"{self.workers.failing} (see {self.run_dir})")

    async def until(self, check: Callable[[], Awaitable[bool]], within: float, what: str) -> float:
        """Wait until ``check()``; returns the seconds it took."""
        started = time.monotonic()
        while not await check():
            self.check_workers()
            if time.monotonic() - started > within:
                raise RuntimeError(f"gave up waiting for {what} after {within:.0f}s")
            await asyncio.sleep(0.25)
        return time.monotonic() - started

    async def webhook_healthy(self) -> bool:
        try:
            response = await self.http.get(f"http://127.0.0.1:{self.webhook_port}/healthz")
        except httpx.TransportError:
            return False
        return response.status_code == 200

    async def pollers(self, kind: TaskQueueType.ValueType) -> set[str]:
        assert self.client is not None
        try:
            response = await self.client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace=self.client.namespace,
                    task_queue=TaskQueue(name=TASK_QUEUE),
                    task_queue_type=kind,
                ),
                timeout=timedelta(seconds=3),
            )
        except Exception:
            return set()
        return {poller.identity for poller in response.pollers}

    async def workers_polling(self) -> bool:
        """Every running worker polls for both workflow and activity tasks."""
        assert self.workers is not None
        wanted = self.workers.identities()
        if len(wanted) < len(self.workers.children):
            return False
        workflow = await self.pollers(TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW)
        activity = await self.pollers(TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY)
        return wanted <= workflow and wanted <= activity

    # --- the disturbances ---------------------------------------------------------------------

    def kill_a_worker(self, reason: str) -> None:
        assert self.workers is not None
        self.workers.kill(self.rng.randrange(len(self.workers.children)), reason)
        self.main_kills += 1

    async def restart_server(self) -> None:
        """Kill the dev server, start it again on the same port and database, and check that the
        workers and the webhook find it again by themselves."""
        assert self.server is not None and self.workers is not None and self.webhook is not None
        self.server_down = True
        exits_before = len(self.workers.unexpected_exits)
        webhook_pid = self.webhook.pid
        if self.options.server_signal == "term":
            self.server.stop()
        else:
            self.server.kill()
        self.event(f"Temporal dev server stopped with SIG{self.options.server_signal.upper()}")
        await asyncio.sleep(SERVER_DOWNTIME_SECONDS)
        self.server.start()
        restarted = time.monotonic()
        self.client = await self.connect()
        self.server_down = False
        self.server_restarts += 1
        self.event(f"Temporal dev server started again on :{self.temporal_port}, same database")

        async def workers_back() -> None:
            try:
                await self.until(self.workers_polling, RECONNECT_TIMEOUT_SECONDS, "workers")
            except RuntimeError:
                self.event("[red]workers did not poll again after the server restart")
                return
            self.reconnect.workers_seconds = time.monotonic() - restarted
            assert self.workers is not None
            self.reconnect.workers_exited = len(self.workers.unexpected_exits) - exits_before
            how = (
                "by themselves"
                if not self.reconnect.workers_exited
                else f"after {self.reconnect.workers_exited} exit(s) and restarts"
            )
            self.event(f"both workers poll again {how}, {self.reconnect.workers_seconds:.1f}s")

        async def webhook_back() -> None:
            try:
                await self.until(self.webhook_healthy, RECONNECT_TIMEOUT_SECONDS, "the webhook")
            except RuntimeError:
                self.event("[red]the webhook did not reach Temporal again after the restart")
                return
            assert self.webhook is not None
            self.reconnect.webhook_seconds = time.monotonic() - restarted
            self.reconnect.webhook_same_process = self.webhook.pid == webhook_pid and (
                self.webhook.running()
            )
            self.event(f"webhook reaches Temporal again, {self.reconnect.webhook_seconds:.1f}s")

        self._checks += [
            asyncio.create_task(workers_back()),
            asyncio.create_task(webhook_back()),
        ]

    # --- signups in, journeys out -------------------------------------------------------------

    async def deliver(self, journey: Journey, give_up_after: float = 300.0) -> None:
        """One signed delivery, sent again (signed afresh) while the webhook answers 503."""
        body = json.dumps(journey.signup)
        message_id = f"msg_{journey.user_id}"
        signer = Webhook(self.secret)
        url = f"http://127.0.0.1:{self.webhook_port}/signups"
        deadline = time.monotonic() + give_up_after
        while time.monotonic() < deadline:
            headers = {
                "content-type": "application/json",
                "webhook-id": message_id,
                "webhook-timestamp": str(int(time.time())),
            }
            moment = datetime.fromtimestamp(int(headers["webhook-timestamp"]), UTC)
            headers["webhook-signature"] = signer.sign(message_id, moment, body)
            try:
                response = await self.http.post(url, content=body, headers=headers)
            except httpx.TransportError:
                self.webhook_connection_errors += 1
                await asyncio.sleep(0.5)
                continue
            if response.status_code in (200, 201, 202):
                journey.accepted = True
                return
            if response.status_code == 503:
                self.webhook_503s += 1
                retry_after = float(response.headers.get("retry-after", "1") or 1)
                # A patient sender would wait the full Retry-After; the run has a clock to beat.
                await asyncio.sleep(min(retry_after, 1.0))
                continue
            journey.failure = f"the webhook refused the signup: HTTP {response.status_code}"
            self.event(f"[red]{journey.workflow_id}: {journey.failure} {response.text[:200]}")
            return
        journey.failure = "the webhook did not accept the signup in time"

    async def start_all(self, phase: Phase, window: float, task: TaskID) -> None:
        gate = asyncio.Semaphore(self.options.concurrency)
        begin = time.monotonic()
        spacing = window / max(len(phase.journeys), 1)

        async def one(n: int, journey: Journey) -> None:
            await asyncio.sleep(max(0.0, begin + n * spacing - time.monotonic()))
            async with gate:
                await self.deliver(journey)
            self.progress.advance(task)

        await asyncio.gather(*(one(n, j) for n, j in enumerate(phase.journeys)))

    async def running_count(self) -> tuple[int, int] | None:
        """(journeys known, journeys still running) by the visibility store; None if unreachable."""
        assert self.client is not None
        try:
            known = await self.client.count_workflows(
                "WorkflowType = 'OnboardingJourney'", rpc_timeout=timedelta(seconds=5)
            )
            running = await self.client.count_workflows(
                "WorkflowType = 'OnboardingJourney' AND ExecutionStatus = 'Running'",
                rpc_timeout=timedelta(seconds=5),
            )
        except Exception:
            return None
        return known.count, running.count

    async def wait_closed(
        self, phase: Phase, total_known: int, deadline: float, delivered: asyncio.Event
    ) -> None:
        """Follow ``phase`` until every journey the webhook accepted has closed, or the deadline;
        ``total_known`` journeys of earlier phases are left out of the counts."""
        assert phase.task is not None
        while time.monotonic() < deadline:
            self.check_workers()
            counts = await self.running_count()
            if counts is not None:
                known, running = counts
                closed = max(0, known - total_known - running)
                self.progress.update(phase.task, completed=min(closed, len(phase.journeys)))
                accepted = sum(1 for j in phase.journeys if j.accepted)
                if (
                    delivered.is_set()
                    and known - total_known >= accepted
                    and running == 0
                    and await self.all_closed(phase.journeys)
                ):
                    return
            await asyncio.sleep(1.0)

    async def narrate(self) -> None:
        """Without a terminal to draw progress bars on (CI), a line every ten seconds instead."""
        while True:
            await asyncio.sleep(10)
            tasks = [t for t in self.progress.tasks if not t.finished]
            if tasks:
                self.progress.console.log(
                    " · ".join(f"{t.description} {t.completed:.0f}/{t.total:.0f}" for t in tasks)
                )

    async def all_closed(self, journeys: Iterable[Journey]) -> bool:
        assert self.client is not None
        for journey in journeys:
            if not journey.accepted:
                continue
            try:
                description = await self.client.get_workflow_handle(journey.workflow_id).describe()
            except Exception:
                return False
            if description.status == WorkflowExecutionStatus.RUNNING:
                return False
        return True

    async def main_phase(self) -> Phase:
        """Every journey through the webhook, while workers die and the server restarts."""
        options = self.options
        phase = Phase(signups(self.tag, options.journeys))
        window = options.start_window
        restart_at, kill_at = plan_chaos(self.rng, window, options.kills)
        starting = self.progress.add_task("signups delivered", total=len(phase.journeys))
        phase.task = self.progress.add_task("journeys closed", total=len(phase.journeys))
        self.event(
            f"{len(phase.journeys)} signups over {window:.0f}s; server restart at "
            f"{restart_at:.1f}s; worker kills at {', '.join(f'{t:.1f}s' for t in kill_at)}"
        )
        begin = time.monotonic()

        async def disturbances() -> None:
            moments = sorted([(t, "kill") for t in kill_at] + [(restart_at, "restart")])
            for moment, kind in moments:
                await asyncio.sleep(max(0.0, begin + moment - time.monotonic()))
                if kind == "kill":
                    self.kill_a_worker(f"at {moment:.1f}s")
                else:
                    await self.restart_server()

        delivered = asyncio.Event()

        async def deliver_and_disturb() -> None:
            await asyncio.gather(self.start_all(phase, window, starting), disturbances())
            delivered.set()

        await asyncio.gather(
            deliver_and_disturb(),
            self.wait_closed(phase, 0, begin + options.deadline, delivered),
        )
        return phase

    # --- crash right after Slack stored the alert ---------------------------------------------

    async def alert_crash_trials(self, count: int) -> Phase:
        """Slack answers late; the moment it has stored a journey's alert, SIGKILL the worker
        whose attempt posted it. The retry must find the alert instead of posting another."""
        assert self.client is not None and self.workers is not None
        phase = Phase(enterprise_signups(self.tag, count))
        phase.task = self.progress.add_task("crash-after-post trials", total=count)
        state = self.sandbox.state
        state.set_faults(latency_seconds=ALERT_LATENCY_SECONDS, vendors=["slack"])
        known = await self.running_count()
        total_known = known[0] if known is not None else 0
        try:
            delivered = asyncio.Event()
            follow = asyncio.create_task(
                self.wait_closed(phase, total_known, time.monotonic() + 300.0, delivered)
            )
            for journey in phase.journeys:
                seen = len(state.recorded_calls("slack"))
                await self.deliver(journey)
                if not journey.accepted:
                    continue
                posted = await self.alert_stored(journey, seen, within=60.0)
                if not posted:
                    self.event(f"[yellow]{journey.workflow_id}: no alert post seen; no crash")
                    continue
                identity = await self.alert_worker(journey)
                slot = self.workers.slot_of(identity) if identity else None
                if slot is None:
                    for n in range(len(self.workers.children)):
                        self.workers.kill(n, "(worker of the alert unknown: both)")
                else:
                    self.workers.kill(
                        slot, f"right after Slack stored {journey.workflow_id}'s alert"
                    )
            delivered.set()
            await follow
        finally:
            state.clear_faults()
        return phase

    async def alert_stored(self, journey: Journey, seen: int, within: float) -> bool:
        """Whether Slack stored the journey's alert (recorded before its answer is sent)."""
        state = self.sandbox.state
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            calls = state.recorded_calls("slack")
            for call in calls[seen:]:
                body = call.request_body
                if (
                    call.path.endswith("/chat.postMessage")
                    and call.status == 200
                    and isinstance(body, dict)
                    and journey.workflow_id in json.dumps(body.get("metadata"))
                ):
                    return True
            seen = len(calls)
            await asyncio.sleep(0.01)
        return False

    async def alert_worker(self, journey: Journey) -> str | None:
        """The identity of the worker running the journey's sales-alert attempt."""
        assert self.client is not None
        try:
            description = await self.client.get_workflow_handle(journey.workflow_id).describe()
        except Exception:
            return None
        for pending in description.raw_description.pending_activities:
            if pending.activity_type.name == POST_SALES_ALERT and pending.last_worker_identity:
                return str(pending.last_worker_identity)
        return None

    # --- results ------------------------------------------------------------------------------

    async def settle(self, journeys: list[Journey]) -> None:
        """Each journey's status, outcome and history, from Temporal."""
        assert self.client is not None
        client = self.client
        gate = asyncio.Semaphore(12)

        async def one(journey: Journey) -> None:
            if not journey.accepted:
                return
            handle = client.get_workflow_handle(journey.workflow_id, result_type=JourneyState)
            async with gate:
                description = await _retrying(handle.describe)
                status = description.status
                journey.status = status.name.lower() if status is not None else "unknown"
                if status == WorkflowExecutionStatus.COMPLETED:
                    state = await _retrying(handle.result)
                    journey.outcome = str(state.outcome)
                elif status == WorkflowExecutionStatus.FAILED:
                    try:
                        await handle.result()
                    except WorkflowFailureError as exc:
                        journey.failure = str(exc.cause.__cause__ or exc.cause)
                checks.read_history(journey, await _retrying(handle.fetch_history))

        await asyncio.gather(*(one(j) for j in journeys))

    async def down(self) -> None:
        self.stop_supervising.set()
        if self.supervisor is not None:
            with contextlib.suppress(Exception):
                await self.supervisor
        for task in self._checks:
            task.cancel()
        with contextlib.suppress(Exception):
            await self.http.aclose()
        if self.workers is not None:
            self.workers.stop()
        if self.webhook is not None:
            self.webhook.stop()
        if self.server is not None:
            self.server.stop(timeout=20)
        self.sandbox.stop()


async def _retrying(operation: Callable[[], Awaitable[T]], attempts: int = 20) -> T:
    for attempt in range(attempts):
        try:
            return await operation()
        except WorkflowFailureError:
            raise
        except Exception:
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(0.5)
    raise AssertionError("unreachable")


@dataclass
class Report:
    data: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def build_report(
    run: ChaosRun, main: Phase, trials: Phase | None, seconds: float, options: Options
) -> Report:
    state = run.sandbox.state
    workers = run.workers
    assert workers is not None
    journeys = main.journeys
    tally = Tally()
    calls = state.recorded_calls()
    checks.count_emails(
        journeys, state.sent_emails(), state.recorded_calls("resend"), EMAILS_PER_JOURNEY, tally
    )
    checks.count_alerts(journeys, state.slack_messages(), tally)
    checks.count_warehouse_rows(journeys, run.warehouse, tally)
    not_accepted = [j for j in journeys if not j.accepted]
    tally.lost["signups"] += len(not_accepted)
    stuck = [j for j in journeys if j.accepted and j.status == "running"]
    completed = [j for j in journeys if j.status == "completed"]
    wrong = [
        j for j in journeys if j.accepted and j.status != "running" and j.outcome != j.expected
    ]
    by_outcome = Counter(j.outcome or j.status for j in journeys if j.accepted)
    vendor_calls, faults = checks.vendor_traffic(calls)
    retries: Counter[str] = Counter()
    for journey in journeys:
        retries.update(journey.retries)

    trial_data: dict[str, Any] = {"trials": 0}
    if trials is not None:
        trial_tally = Tally()
        checks.count_alerts(trials.journeys, state.slack_messages(), trial_tally)
        crashed = sum(1 for j in trials.journeys if j.alert_attempts > 1)
        trial_wrong = [j for j in trials.journeys if j.outcome != j.expected]
        trial_data = {
            "trials": len(trials.journeys),
            "crashed_after_post": crashed,
            "doubled_alerts": trial_tally.doubled_alerts,
            "lost_alerts": trial_tally.lost["alerts"],
            "caught_by_lookup": trial_tally.alerts_caught_by_lookup,
            "wrong_outcome": len(trial_wrong),
            # Without the lookup every retry after a stored post posts again, unconditionally.
            "doubled_without_lookup": crashed,
        }
        tally.examples += trial_tally.examples[:4]

    report = Report()
    lost = sum(tally.lost.values())
    duplicated = sum(tally.duplicated.values()) + trial_data.get("doubled_alerts", 0)
    unexpected = sum(tally.unexpected.values())
    restart = run.reconnect
    report.data = {
        "seed": options.seed,
        "journeys": len(journeys),
        "accepted": len(journeys) - len(not_accepted),
        "completed": len(completed),
        "by_outcome": dict(sorted(by_outcome.items())),
        "wrong_outcome": len(wrong),
        "stuck": len(stuck),
        "vendor_calls": vendor_calls,
        "injected_failures": faults,
        "retries": {**dict(sorted(retries.items())), "total": sum(retries.values())},
        "duplicates_caught": {
            "emails_by_idempotency_key": tally.emails_caught_by_key,
            "alerts_by_history_lookup": tally.alerts_caught_by_lookup,
        },
        "lost": lost,
        "lost_detail": dict(tally.lost),
        "duplicated": duplicated,
        "duplicated_detail": {
            **dict(tally.duplicated),
            "trial_alerts": trial_data.get("doubled_alerts", 0),
        },
        "unexpected": unexpected,
        "unexpected_detail": dict(tally.unexpected),
        "doubled_alerts": tally.doubled_alerts + trial_data.get("doubled_alerts", 0),
        "kills": workers.kills,
        "kills_detail": {
            "main_phase": run.main_kills,
            "alert_crash_trials": workers.kills - run.main_kills,
        },
        "worker_restarts": workers.restarts,
        "worker_start_failures": workers.start_failures,
        "worker_unexpected_exits": [
            {"worker": e.worker, "returncode": e.returncode, "server_down": e.server_down}
            for e in workers.unexpected_exits
        ],
        "server_restarts": run.server_restarts,
        "server_signal": options.server_signal,
        "reconnect": {
            "workers_seconds": restart.workers_seconds,
            "workers_exited_on_restart": restart.workers_exited,
            "webhook_seconds": restart.webhook_seconds,
            "webhook_same_process": restart.webhook_same_process,
            "webhook_503s": run.webhook_503s,
            "webhook_connection_errors": run.webhook_connection_errors,
        },
        "alert_crash_trials": trial_data,
        "duration_seconds": round(seconds, 1),
        "examples": tally.examples,
    }
    if lost:
        report.problems.append(f"{lost} lost ({_detail(tally.lost)})")
    if duplicated:
        report.problems.append(f"{duplicated} delivered twice ({_detail(tally.duplicated)})")
    if unexpected:
        report.problems.append(f"{unexpected} unexpected deliveries ({_detail(tally.unexpected)})")
    if wrong:
        examples = ", ".join(
            f"{j.workflow_id}: {j.outcome or j.status} not {j.expected}"
            + (f" ({j.failure})" if j.failure else "")
            for j in wrong[:3]
        )
        report.problems.append(f"{len(wrong)} journeys reached the wrong outcome: {examples}")
    if stuck:
        report.problems.append(
            f"{len(stuck)} journeys still running at the deadline: "
            + ", ".join(j.workflow_id for j in stuck[:5])
        )
    if trial_data.get("wrong_outcome"):
        report.problems.append(f"{trial_data['wrong_outcome']} crash trials ended wrongly")
    if run.main_kills < options.kills:
        report.problems.append(f"only {run.main_kills} of {options.kills} worker kills happened")
    if run.server_restarts < 1:
        report.problems.append("the Temporal server was not restarted")
    if restart.webhook_seconds is None:
        report.problems.append("the webhook did not reach Temporal again after the restart")
    if restart.workers_seconds is None:
        report.problems.append("the workers did not poll again after the restart")
    report.data["ok"] = report.ok
    report.data["problems"] = report.problems
    return report


def _detail(counts: Counter[str]) -> str:
    return ", ".join(f"{kind} {n}" for kind, n in counts.items() if n) or "none"


def _join(values: dict[str, Any]) -> str:
    return " · ".join(f"{k} {v}" for k, v in values.items())


def render(report: Report) -> Table:
    data = report.data
    table = Table(title="Chaos run", show_header=True, title_justify="left")
    table.add_column("", style="bold")
    table.add_column("")
    lost_detail = data["lost_detail"]
    dup = data["duplicated_detail"]
    restart = data["reconnect"]
    trials = data["alert_crash_trials"]
    faults = data["injected_failures"]
    retries = dict(data["retries"])
    total_retries = retries.pop("total")
    table.add_row("journeys", f"{data['journeys']} ({data['accepted']} accepted by the webhook)")
    table.add_row("completed", str(data["completed"]))
    table.add_row("by outcome", _join(data["by_outcome"]))
    table.add_row("wrong outcome", str(data["wrong_outcome"]))
    table.add_row("vendor calls", _join(data["vendor_calls"]))
    table.add_row(
        "injected failures",
        " · ".join(
            f"{vendor} {f['error']} 5xx, {f['rate_limit']} 429, {f['slow']} slow"
            for vendor, f in faults.items()
        ),
    )
    table.add_row("retries", f"{total_retries} attempts beyond the first: {_join(retries)}")
    caught = data["duplicates_caught"]
    table.add_row(
        "duplicates caught",
        f"emails by idempotency key {caught['emails_by_idempotency_key']} · "
        f"alerts by history lookup {caught['alerts_by_history_lookup']}",
    )
    table.add_row(
        "lost",
        f"{data['lost']} (emails {lost_detail.get('emails', 0)} · alerts "
        f"{lost_detail.get('alerts', 0)} · warehouse rows {lost_detail.get('warehouse_rows', 0)}"
        f" · signups {lost_detail.get('signups', 0)})",
    )
    table.add_row(
        "duplicated",
        f"{data['duplicated']} (emails {dup.get('emails', 0)} · alerts {dup.get('alerts', 0)} · "
        f"warehouse rows {dup.get('warehouse_rows', 0)} · crash-trial alerts "
        f"{dup.get('trial_alerts', 0)})",
    )
    table.add_row("doubled alerts", str(data["doubled_alerts"]))
    table.add_row("stuck", str(data["stuck"]))
    table.add_row(
        "worker kills",
        f"{data['kills']} SIGKILLs · {data['worker_restarts']} restarts · "
        f"{len(data['worker_unexpected_exits'])} exits on their own",
    )
    workers_back = restart["workers_seconds"]
    webhook_back = restart["webhook_seconds"]
    table.add_row(
        "server restarts",
        f"{data['server_restarts']} (SIG{data['server_signal'].upper()}) · workers polling again "
        + (f"after {workers_back:.1f}s" if workers_back is not None else "NEVER")
        + (
            " by themselves"
            if not restart["workers_exited_on_restart"]
            else f" after {restart['workers_exited_on_restart']} exit(s), restarted by the script"
        )
        + " · webhook reaching Temporal "
        + (f"after {webhook_back:.1f}s" if webhook_back is not None else "NEVER")
        + f" · {restart['webhook_503s']} signups answered 503 and sent again",
    )
    if trials.get("trials"):
        table.add_row(
            "crash-after-post trials",
            f"{trials['trials']} trials ({trials['crashed_after_post']} crashed after the post), "
            f"doubled alerts {trials['doubled_alerts']} · found by lookup "
            f"{trials['caught_by_lookup']} · without the lookup: "
            f"{trials['doubled_without_lookup']} doubled (every retry would post again)",
        )
    table.add_row("duration", f"{data['duration_seconds']:.0f}s")
    return table


async def execute(options: Options, run_dir: Path) -> Report:
    began = time.monotonic()
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description:<26}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=stderr,
        disable=not stderr.is_terminal,
    )
    run = ChaosRun(options, run_dir, progress)
    with progress:
        try:
            narrator = asyncio.create_task(run.narrate())
            await run.up()
            run.sandbox.state.set_faults(
                error_rate=options.error_rate,
                rate_limit_rate=options.rate_limit_rate,
                retry_after_seconds=1,
                slow_rate=options.slow_rate,
                slow_seconds=SLOW_SECONDS,
            )
            main = await run.main_phase()
            run.sandbox.state.clear_faults()
            for check in run._checks:
                with contextlib.suppress(asyncio.CancelledError):
                    await check
            trials = None
            if options.alert_crash_trials:
                trials = await run.alert_crash_trials(options.alert_crash_trials)
            run.event("collecting results from Temporal, the sandbox and the warehouse")
            await run.settle(main.journeys + (trials.journeys if trials else []))
            run.stop_supervising.set()
            report = build_report(run, main, trials, time.monotonic() - began, options)
            narrator.cancel()
        finally:
            await run.down()
    (run_dir / "events.log").write_text("\n".join(run.events) + "\n")
    return report


def parse_options(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m chaos.run",
        description="Journeys against real processes while workers are SIGKILLed and the "
        "Temporal server restarts; exits non-zero on any loss, duplicate, wrong outcome or "
        "stuck journey.",
    )
    parser.add_argument("--journeys", type=int, default=300, help="signups to start (300)")
    parser.add_argument("--kills", type=int, default=5, help="worker SIGKILLs mid-run (5)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: random)")
    parser.add_argument(
        "--deadline",
        type=float,
        default=None,
        help="seconds from the first signup until a journey still running counts as stuck "
        "(default: the signup window plus 240)",
    )
    parser.add_argument(
        "--alert-crash-trials",
        type=int,
        default=20,
        help="SIGKILLs right after Slack stored a sales alert, to count doubled alerts (20)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the report here")
    parser.add_argument("--concurrency", type=int, default=16, help="signups in flight (16)")
    parser.add_argument("--error-rate", type=float, default=0.2, help="vendor 5xx share (0.2)")
    parser.add_argument("--rate-limit-rate", type=float, default=0.05, help="429 share (0.05)")
    parser.add_argument(
        "--slow-rate", type=float, default=0.05, help="answers slower than the timeout (0.05)"
    )
    parser.add_argument(
        "--server-signal",
        choices=["kill", "term"],
        default="kill",
        help="how the dev server is stopped mid-run (kill)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the run's directory")
    args = parser.parse_args(argv)
    if args.journeys < 1 or args.kills < 0 or args.alert_crash_trials < 0:
        parser.error("--journeys must be at least 1; --kills and --alert-crash-trials 0 or more")
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(10**6)
    options = Options(
        journeys=args.journeys,
        kills=args.kills,
        seed=seed,
        deadline=0.0,
        alert_crash_trials=args.alert_crash_trials,
        json_path=args.json,
        concurrency=max(1, args.concurrency),
        error_rate=args.error_rate,
        rate_limit_rate=args.rate_limit_rate,
        slow_rate=args.slow_rate,
        server_signal=args.server_signal,
        keep=args.keep,
    )
    deadline = args.deadline if args.deadline is not None else options.start_window + 240
    return Options(**{**options.__dict__, "deadline": deadline})


def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
    run_dir = Path(tempfile.mkdtemp(prefix="onboarding-chaos-"))
    stderr.print(
        f"Chaos run: {options.journeys} journeys, {options.kills} worker kills, one server "
        f"restart, {options.alert_crash_trials} crash-after-post trials (seed {options.seed}); "
        f"files in {run_dir}"
    )
    try:
        report = asyncio.run(execute(options, run_dir))
    except KeyboardInterrupt:
        stderr.print(f"Interrupted; files kept in {run_dir}")
        return 130
    except RuntimeError as exc:
        stderr.print(f"[red]error: {exc}[/]; files kept in {run_dir}")
        return 2
    out = Console(highlight=False)
    out.print(render(report))
    trials = report.data["alert_crash_trials"]
    if trials.get("trials"):
        out.print(
            f"crash-after-post trials: {trials['trials']}, doubled alerts: "
            f"{trials['doubled_alerts']} (without the history lookup: "
            f"{trials['doubled_without_lookup']})"
        )
    if options.json_path is not None:
        options.json_path.parent.mkdir(parents=True, exist_ok=True)
        options.json_path.write_text(json.dumps(report.data, indent=2) + "\n")
    if report.ok:
        out.print(
            "[green]OK:[/] nothing lost, nothing delivered twice, every outcome as expected, "
            "no journey stuck."
        )
        if not options.keep:
            shutil.rmtree(run_dir, ignore_errors=True)
        return 0
    out.print("[red]FAILED:[/] " + "; ".join(report.problems))
    for example in report.data.get("examples", []):
        out.print(f"  {example}")
    out.print(f"Logs and databases kept in {run_dir}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
