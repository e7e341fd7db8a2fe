"""The processes a benchmark runs against, on this machine: the dev stack (the Temporal dev server
with its database on disk, the vendor sandbox at zero latency, the signup webhook, one journey
worker) and one no-op worker."""

from __future__ import annotations

import asyncio
import compileall
import os
import sys
import time
from datetime import timedelta
from pathlib import Path

import httpx
from temporalio.client import Client
from temporalio.converter import DataConverter

from bench import noop
from common.encryption import generate_key
from devstack.processes import Child, executable, free_port
from devstack.stack import DevStack
from devstack.temporal import ACTIVITY_TASKS, pollers
from sandbox import SandboxServer, SandboxState
from workflows.models import JourneyConfig

# Compressed so a journey's emails go out as fast as the vendors answer.
EMAIL_SCHEDULE = (timedelta(0), timedelta(0), timedelta(0))
# Throughput and latency measure the engine and the worker, not the vendors' limits (the stack
# leaves them out of the way); the burst scenarios set the real ones.
SETTINGS = {
    "HTTP_TIMEOUT_SECONDS": "10",
    "EMAIL_SCHEDULE": ",".join(f"{int(d.total_seconds())}s" for d in EMAIL_SCHEDULE),
    "ENRICHMENT_POLL_INTERVAL": "1s",
    "VENDOR_CALL_TIMEOUT": "30s",
}
PROJECT = Path(__file__).resolve().parent.parent
SETTLE_TIMEOUT_SECONDS = 30.0
SETTLE_SAMPLE_SECONDS = 0.5
IDLE_CORES = 0.15  # the processes together, below this share of a core: idle


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
        self.stack = DevStack(
            run_dir,
            workers=1,
            settings=SETTINGS,
            sandbox=SandboxServer(port=0, state=SandboxState(clearbit_queued_times=0)),
            encryption_keys=generate_key("bench"),
        )
        self.sandbox = self.stack.sandbox
        self.secret = self.stack.secret
        self.noop_worker: Child | None = None
        self._plain: Client | None = None
        self.http = httpx.AsyncClient(
            timeout=httpx.Timeout(30.0, connect=3.0),
            limits=httpx.Limits(max_connections=256, max_keepalive_connections=256),
        )

    @property
    def client(self) -> Client:
        """A client with the journeys' data converter (payloads encrypted)."""
        return self.stack.client

    @property
    def plain_client(self) -> Client:
        """A client with the default converter, for the no-op workflows."""
        assert self._plain is not None
        return self._plain

    @property
    def worker(self) -> Child:
        """The journey worker measured; any others of a fleet poll beside it."""
        return self.stack.workers.children[0]

    @property
    def webhook_url(self) -> str:
        return f"{self.stack.webhook_url}/signups"

    async def restart_worker(self, workers: int = 1, **overrides: str) -> None:
        """The journey worker again, and ``workers - 1`` more beside it (a fleet polling the
        same queues), with ``overrides`` on top of the lab's environment (the settings of the
        ones before are dropped)."""
        await self.stack.restart_workers(workers, **overrides)

    async def up(self) -> None:
        # The workflow sandbox imports a workflow's module afresh for each new workflow: from
        # bytecode as an installed image has it, from source (compiled every time) where
        # PYTHONDONTWRITEBYTECODE kept it from being cached. Measure the former.
        for package in ("workflows", "bench"):
            compileall.compile_dir(PROJECT / package, quiet=1)
        await self.stack.up()
        self._plain = await self.stack.connect(DataConverter.default)
        command = [sys.executable, "-m", "bench.noop", "--address", self.stack.address]
        self.noop_worker = self.stack.spawn("noop-worker", command, cwd=Path.cwd())
        await self.stack.until(self._noop_polling, "the no-op worker to poll")

    async def down(self) -> None:
        try:
            await self.stack.down()
        finally:
            await self.http.aclose()

    def db_bytes(self) -> int:
        """The dev server's database on disk, write-ahead log included."""
        db = self.stack.db
        files = [db, Path(f"{db}-wal"), Path(f"{db}-shm")]
        return sum(f.stat().st_size for f in files if f.exists())

    def worker_rss(self) -> int:
        assert self.worker.pid is not None
        return rss_bytes(self.worker.pid)

    def worker_cpu(self) -> float:
        assert self.worker.pid is not None
        return cpu_seconds(self.worker.pid)

    async def settle(self, within: float = SETTLE_TIMEOUT_SECONDS) -> None:
        """Wait until the server and the workers are idle (what the last batch left behind, its
        visibility writes, its evictions, is done), so a timed batch does not pay for it."""
        stack = self.stack
        children = [stack.server, *stack.workers.children, *stack.others]
        pids = [c.pid for c in children if c is not None and c.pid is not None]

        def busy() -> float:
            return sum(cpu_seconds(pid) for pid in pids)

        deadline = time.monotonic() + within
        quiet, last = 0, busy()
        while quiet < 2 and time.monotonic() < deadline:
            await asyncio.sleep(SETTLE_SAMPLE_SECONDS)
            now = busy()
            quiet = quiet + 1 if now - last < IDLE_CORES * SETTLE_SAMPLE_SECONDS else 0
            last = now

    async def start_dashboard(self) -> str:
        """``onboarding dashboard`` on the lab's stack, as an operator runs it; its address."""
        port = free_port()
        command = [executable("onboarding"), "dashboard", "--port", str(port)]
        self.stack.spawn("dashboard", command)
        url = f"http://127.0.0.1:{port}"

        async def healthy() -> bool:
            try:
                return (await self.http.get(f"{url}/healthz")).status_code == 200
            except httpx.HTTPError:
                return False

        await self.stack.until(healthy, "the dashboard to answer")
        return url

    async def _noop_polling(self) -> bool:
        return bool(await pollers(self.client, noop.TASK_QUEUE, ACTIVITY_TASKS))
