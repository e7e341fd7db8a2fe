"""The processes a benchmark runs against, on this machine: the Temporal dev server (database on
disk), the vendor sandbox at zero latency, the signup webhook, one journey worker and one no-op
worker, started with the chaos run's helpers."""

from __future__ import annotations

import asyncio
import base64
import compileall
import os
import secrets
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import httpx
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.converter import DataConverter

from bench import noop
from chaos import processes
from chaos.processes import Child
from common.encryption import KEYS_ENV, data_converter, generate_key
from common.telemetry import quiet_runtime
from sandbox.server import SandboxServer
from sandbox.state import SandboxState
from workflows.models import JourneyConfig

# Compressed so a journey's emails go out as fast as the vendors answer.
EMAIL_SCHEDULE = (timedelta(0), timedelta(0), timedelta(0))
# Throughput and latency measure the engine and the worker, not the vendors' limits; the burst
# scenarios set the real ones.
UNTHROTTLED = processes.UNTHROTTLED_VENDORS
PROJECT = Path(__file__).resolve().parent.parent
READY_TIMEOUT_SECONDS = 60.0
SETTLE_TIMEOUT_SECONDS = 30.0
SETTLE_SAMPLE_SECONDS = 0.5
IDLE_CORES = 0.15  # the processes together, below this share of a core: idle
POLLING = "worker polling task queue"  # what a journey worker logs once it polls


def fast_config(schedule: tuple[timedelta, ...] = EMAIL_SCHEDULE) -> JourneyConfig:
    """The journey rules of the benchmark: the defaults, with a compressed email schedule."""
    return JourneyConfig(
        email_schedule=list(schedule),
        enrichment_poll_interval=timedelta(seconds=1),
        vendor_call_timeout=timedelta(seconds=30),
    )


def rss_bytes(pid: int) -> int:
    """Resident memory of a process and its children, from /proc (Linux)."""
    total = 0
    for one in [pid, *_children(pid)]:
        try:
            status = Path(f"/proc/{one}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
    return total


def cpu_seconds(pid: int) -> float:
    """User and system CPU time a process and its children have used, from /proc (Linux)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for one in [pid, *_children(pid)]:
        try:
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return total


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


class Lab:
    """Everything up, until ``down()``."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.db = run_dir / "temporal.db"
        self.temporal_port = processes.free_port()
        self.webhook_port = processes.free_port()
        self.address = f"127.0.0.1:{self.temporal_port}"
        self.sandbox = SandboxServer(port=0, state=SandboxState(clearbit_queued_times=0))
        self.secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
        self.encryption_keys = generate_key("bench")
        self.runtime = quiet_runtime()
        self.server: Child | None = None
        self.webhook: Child | None = None
        self.worker: Child | None = None
        self.fleet: list[Child] = []  # journey workers beside ``worker``, for a scenario
        self.noop_worker: Child | None = None
        self.worker_env: dict[str, str] = {}
        self._client: Client | None = None
        self._plain: Client | None = None
        self.http = httpx.AsyncClient(
            timeout=httpx.Timeout(30.0, connect=3.0),
            limits=httpx.Limits(max_connections=256, max_keepalive_connections=256),
        )

    @property
    def client(self) -> Client:
        """A client with the journeys' data converter (payloads encrypted)."""
        assert self._client is not None
        return self._client

    @property
    def plain_client(self) -> Client:
        """A client with the default converter, for the no-op workflows."""
        assert self._plain is not None
        return self._plain

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_")}
        env.update(self.sandbox.base_urls())
        env.update(
            TEMPORAL_ADDRESS=self.address,
            TEMPORAL_NAMESPACE="default",
            WAREHOUSE_URL=f"sqlite:///{self.run_dir / 'warehouse.db'}",
            HTTP_TIMEOUT_SECONDS="10",
            SLACK_SALES_CHANNEL="#sales",
            EMAIL_SCHEDULE=",".join(f"{int(d.total_seconds())}s" for d in EMAIL_SCHEDULE),
            ENRICHMENT_POLL_INTERVAL="1s",
            VENDOR_CALL_TIMEOUT="30s",
            SIGNUP_WEBHOOK_SECRET=self.secret,
            **{KEYS_ENV: self.encryption_keys},
            SEGMENT_SHARED_SECRET=secrets.token_urlsafe(32),
            VENDOR_RATE_LIMITS=UNTHROTTLED,
            PYTHONUNBUFFERED="1",
        )
        env.update(self.worker_env)
        return env

    async def restart_worker(self, workers: int = 1, **overrides: str) -> None:
        """The journey worker again, and ``workers - 1`` more beside it (a fleet polling the
        same queues), with ``overrides`` on top of the lab's environment (the settings of the
        ones before are dropped)."""
        assert self.worker is not None
        for child in (self.worker, *self.fleet):
            child.stop(timeout=15)
        self.worker_env = dict(overrides)
        env = self.env()
        self.worker = processes.worker(0, env, self.run_dir)
        self.fleet = [processes.worker(slot, env, self.run_dir) for slot in range(1, workers)]
        for child in (self.worker, *self.fleet):
            await self._start_polling(child)

    async def up(self) -> None:
        # The workflow sandbox imports a workflow's module afresh for each new workflow: from
        # bytecode as an installed image has it, from source (compiled every time) where
        # PYTHONDONTWRITEBYTECODE kept it from being cached. Measure the former.
        for package in ("workflows", "bench"):
            compileall.compile_dir(PROJECT / package, quiet=1)
        self.sandbox.start()
        env = self.env()
        self.server = processes.dev_server(self.temporal_port, self.db, self.run_dir)
        self.server.start()
        self._client = await self._connect(keys=self.encryption_keys)
        self._plain = await self._connect(keys=None)
        self.webhook = processes.webhook(self.webhook_port, env, self.run_dir)
        self.worker = processes.worker(0, env, self.run_dir)
        self.noop_worker = Child(
            "noop-worker",
            [sys.executable, "-m", "bench.noop", "--address", self.address],
            env=env,
            log=self.run_dir / "noop-worker.log",
            cwd=Path.cwd(),
        )
        for child in (self.webhook, self.noop_worker):
            child.start()
        await self._start_polling(self.worker)
        await self._until(self._webhook_healthy, "the webhook to start")
        await self._until(lambda: self._polled(noop.TASK_QUEUE), "the no-op worker to poll")

    async def down(self) -> None:
        for child in (self.webhook, self.worker, *self.fleet, self.noop_worker, self.server):
            if child is not None:
                child.stop(timeout=10)
        await self.http.aclose()
        self.sandbox.stop()

    def db_bytes(self) -> int:
        """The dev server's database on disk, write-ahead log included."""
        files = [self.db, Path(f"{self.db}-wal"), Path(f"{self.db}-shm")]
        return sum(f.stat().st_size for f in files if f.exists())

    def worker_rss(self) -> int:
        assert self.worker is not None and self.worker.pid is not None
        return rss_bytes(self.worker.pid)

    def worker_cpu(self) -> float:
        assert self.worker is not None and self.worker.pid is not None
        return cpu_seconds(self.worker.pid)

    async def settle(self, within: float = SETTLE_TIMEOUT_SECONDS) -> None:
        """Wait until the server and the workers are idle (what the last batch left behind, its
        visibility writes, its evictions, is done), so a timed batch does not pay for it."""
        children = [c for c in (self.server, self.worker, *self.fleet, self.noop_worker) if c]
        pids = [c.pid for c in children if c.pid is not None]

        def busy() -> float:
            return sum(cpu_seconds(pid) for pid in pids)

        deadline = time.monotonic() + within
        quiet, last = 0, busy()
        while quiet < 2 and time.monotonic() < deadline:
            await asyncio.sleep(SETTLE_SAMPLE_SECONDS)
            now = busy()
            quiet = quiet + 1 if now - last < IDLE_CORES * SETTLE_SAMPLE_SECONDS else 0
            last = now

    @property
    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self.webhook_port}/signups"

    async def _connect(self, keys: str | None) -> Client:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while True:
            try:
                return await Client.connect(
                    self.address,
                    data_converter=data_converter(keys) if keys else DataConverter.default,
                    runtime=self.runtime,
                )
            except Exception:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"the Temporal dev server did not start; see {self.run_dir}/temporal.log"
                    ) from None
                await asyncio.sleep(0.3)

    async def _until(self, check: Callable[[], Awaitable[bool]], what: str) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while not await check():
            for child in (self.webhook, self.worker, *self.fleet, self.noop_worker):
                if child is not None and child.process is not None and not child.running():
                    raise RuntimeError(f"{child.name} exited: {child.log_tail(5)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"gave up waiting for {what}; logs in {self.run_dir}")
            await asyncio.sleep(0.25)

    async def _start_polling(self, worker: Child) -> None:
        """Start a journey worker and wait for it to say it polls (a queue's list of pollers
        still names the workers that just stopped)."""
        said = self._polling_lines(worker)

        async def polling() -> bool:
            return self._polling_lines(worker) > said

        worker.start()
        await self._until(polling, f"{worker.name} to poll")

    @staticmethod
    def _polling_lines(worker: Child) -> int:
        try:
            return worker.log.read_text(errors="replace").count(POLLING)
        except FileNotFoundError:
            return 0

    async def _webhook_healthy(self) -> bool:
        try:
            response = await self.http.get(f"http://127.0.0.1:{self.webhook_port}/healthz")
        except httpx.TransportError:
            return False
        return response.status_code == 200

    async def _polled(self, task_queue: str) -> bool:
        try:
            response = await self.client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace=self.client.namespace,
                    task_queue=TaskQueue(name=task_queue),
                    task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
                ),
                timeout=timedelta(seconds=3),
            )
        except Exception:
            return False
        return len(response.pollers) > 0
