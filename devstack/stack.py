"""The dev stack: the Temporal dev server, the vendor sandbox, the signup webhook and N journey
workers on this machine, as the demo, the chaos run, the benchmark and the tests start them.

    async with DevStack(run_dir, workers=2) as stack:
        await stack.client.start_workflow(...)

Each process logs to its own file in ``run_dir`` and runs there (so no local ``.env`` reaches
it); the sandbox runs in this process. Leaving the block, an exception, Ctrl-C, SIGTERM or
SIGHUP stops everything, workers first and the server last.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType

import httpx
from temporalio.client import Client, Interceptor
from temporalio.converter import DataConverter
from temporalio.runtime import Runtime

from activities.vendors import VENDOR_NAMES
from common.encryption import KEYS_ENV, data_converter, generate_key
from common.telemetry import quiet_runtime
from devstack.lifetime import hang_ups_interrupt
from devstack.processes import Child, executable, free_port, port_open, stop_processes
from devstack.temporal import (
    ACTIVITY_TASKS,
    WORKFLOW_TASKS,
    connect_when_ready,
    dev_server,
    pollers,
)
from devstack.workers import Workers
from sandbox import SandboxServer
from workflows.models import TASK_QUEUE

# Vendor queue limits no run reaches, for runs about the engine and faults rather than the
# vendors' limits (``VENDOR_RATE_LIMITS``).
UNTHROTTLED_VENDORS = ",".join(f"{name}=1000" for name in VENDOR_NAMES)
READY_SECONDS = 60.0


def _local_key(purpose: str) -> str:
    return base64.b64encode(
        hashlib.sha256(f"onboarding local {purpose}".encode()).digest()
    ).decode()


# What every process of a local stack sends emails with: a sample postal address, keys that are
# public (this file) and so protect nothing beyond this machine, and a window always open so runs
# do not wait for office hours. A real deployment sets its own (docs/configuration.md).
LOCAL_EMAIL_SETTINGS = {
    "SENDER_POSTAL_ADDRESS": "Onboarding Journeys Sandbox, 1 Example Street, Springfield 12345",
    "UNSUBSCRIBE_SIGNING_KEYS": f"local-1:{_local_key('unsubscribe')}",
    "SUPPRESSION_HASH_KEY": _local_key("suppression"),
    "SEND_WINDOW": "00:00-24:00",
}


def command_env(
    temporal_address: str, sandbox: SandboxServer, warehouse_url: str, **settings: str
) -> dict[str, str]:
    """What an ``onboarding`` process started here reads: this environment without its Temporal
    settings (a profile must not send it elsewhere), the sandbox's URLs and keys, the server and
    the warehouse, then ``settings`` on top."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_")}
    env.update(sandbox.base_urls())
    env.update(LOCAL_EMAIL_SETTINGS)
    env.update(
        TEMPORAL_ADDRESS=temporal_address,
        TEMPORAL_NAMESPACE="default",
        WAREHOUSE_URL=warehouse_url,
    )
    env.update(settings)
    return env


class DevStack:
    """Everything up from ``up()`` (or entering the block) until ``down()``."""

    def __init__(
        self,
        run_dir: Path,
        *,
        workers: int = 2,
        webhook: bool = True,
        supervise: bool = False,
        settings: Mapping[str, str] | None = None,
        sandbox: SandboxServer | None = None,
        temporal_port: int = 0,
        ui_port: int | None = None,
        codec_url: str | None = None,
        use_running_server: bool = False,
        encryption_keys: str | None = None,
        runtime: Runtime | None = None,
        interceptors: Sequence[Interceptor] = (),
        on_event: Callable[[str], None] = print,
    ) -> None:
        """``supervise``: start again a worker that ends by itself (see ``Workers``).
        ``settings``: the workers' and the webhook's, beyond where everything is.
        ``use_running_server``: a server already on ``temporal_port`` is used, not replaced."""
        self.run_dir = run_dir = run_dir.resolve()  # the processes run inside it
        self.db = run_dir / "temporal.db"
        self.warehouse = run_dir / "warehouse.db"
        self.temporal_port = temporal_port or free_port()
        self.webhook_port = free_port()
        self.address = f"127.0.0.1:{self.temporal_port}"
        self.ui_port = ui_port
        self.codec_url = codec_url
        self.use_running_server = use_running_server
        self.sandbox = sandbox or SandboxServer(port=0)
        self.settings = dict(settings or {})
        self.secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
        self.segment_secret = secrets.token_urlsafe(32)
        # The email providers' webhooks: Resend signs the Svix way, Postmark uses basic auth.
        self.resend_secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
        self.postmark_user, self.postmark_password = "postmark", secrets.token_urlsafe(24)
        self.encryption_keys = encryption_keys or generate_key("devstack")
        # The SDK's own retry warnings while the server is away would bury the caller's report.
        self.runtime = runtime or quiet_runtime()
        self.interceptors = list(interceptors)
        self.on_event = on_event
        self.server: Child | None = None  # None: not started here
        self.webhook: Child | None = None
        self.wants_webhook = webhook
        self.workers = Workers(workers, run_dir, server_up=self.server_up, on_event=on_event)
        self.others: list[Child] = []  # started with ``spawn``, stopped with the rest
        self.server_down = False
        self.supervise = supervise
        self._client: Client | None = None
        self._stop_supervising = asyncio.Event()
        self._supervisor: asyncio.Task[None] | None = None
        self._exits = contextlib.ExitStack()
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(5.0, connect=3.0))

    @property
    def client(self) -> Client:
        """A client with the journeys' data converter (payloads encrypted)."""
        assert self._client is not None, "the stack is not up"
        return self._client

    @property
    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self.webhook_port}"

    def server_up(self) -> bool:
        return not self.server_down

    def env(self, **overrides: str) -> dict[str, str]:
        """Everything the webhook and the workers read: where everything is, this stack's
        ``settings``, then ``overrides``."""
        settings = {
            "SLACK_SALES_CHANNEL": "#sales",
            "SIGNUP_WEBHOOK_SECRET": self.secret,
            KEYS_ENV: self.encryption_keys,
            "SEGMENT_SHARED_SECRET": self.segment_secret,
            "PUBLIC_BASE_URL": self.webhook_url,
            "RESEND_WEBHOOK_SECRET": self.resend_secret,
            "POSTMARK_WEBHOOK_USER": self.postmark_user,
            "POSTMARK_WEBHOOK_PASSWORD": self.postmark_password,
            # Faults and the engine are measured here, not the vendors' limits.
            "VENDOR_RATE_LIMITS": UNTHROTTLED_VENDORS,
            "PYTHONUNBUFFERED": "1",
            **self.settings,
            **overrides,
        }
        return command_env(self.address, self.sandbox, f"sqlite:///{self.warehouse}", **settings)

    # --- up -------------------------------------------------------------------------------------

    async def up(self) -> None:
        """The sandbox, the server, a client, then the webhook and the workers, each ready."""
        self._exits.enter_context(hang_ups_interrupt())
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.sandbox.start()
        if not (self.use_running_server and port_open(self.temporal_port)):
            self.server = dev_server(
                self.temporal_port,
                self.db,
                log=self.run_dir / "temporal.log",
                env=dict(os.environ),
                ui_port=self.ui_port,
                codec_url=self.codec_url,
            )
            self.server.start()
        self._client = await self.connect()
        env = self.env()
        if self.wants_webhook:
            command = [executable("onboarding"), "webhook", "--port", str(self.webhook_port)]
            self.webhook = Child(
                "webhook", command, env=env, log=self.run_dir / "webhook.log", cwd=self.run_dir
            )
            self.webhook.start()
        self.workers.start(env)
        if self.supervise:
            self._supervisor = asyncio.create_task(self.workers.supervise(self._stop_supervising))
        if self.webhook is not None:
            await self.until(self.webhook_healthy, "the webhook to start")
        await self.until(self._workers_started, "the workers to poll")

    async def connect(self, converter: DataConverter | None = None) -> Client:
        """A client of the server once it answers (``converter``: the journeys' by default)."""
        return await connect_when_ready(
            lambda: Client.connect(
                self.address,
                namespace="default",
                data_converter=converter or data_converter(self.encryption_keys),
                interceptors=self.interceptors,
                runtime=self.runtime,
            ),
            within=READY_SECONDS,
            failure=f"the Temporal dev server did not start; see {self.run_dir / 'temporal.log'}",
        )

    def spawn(
        self, name: str, command: list[str], *, cwd: Path | None = None, **overrides: str
    ) -> Child:
        """Start one more process with the stack's environment (and ``overrides``); it stops
        with the stack."""
        child = Child(
            name,
            command,
            env=self.env(**overrides),
            log=self.run_dir / f"{name}.log",
            cwd=cwd or self.run_dir,
        )
        child.start()
        self.others.append(child)
        return child

    async def restart_workers(self, count: int | None = None, **overrides: str) -> None:
        """Stop the workers and start ``count`` new ones (as many as before by default) with
        ``overrides`` on the stack's environment; returns once each polls."""
        self.workers.stop()
        self.workers.count = count or self.workers.count
        self.workers.start(self.env(**overrides))
        await self.until(self._workers_started, "the workers to poll")

    # --- readiness ------------------------------------------------------------------------------

    async def until(
        self, check: Callable[[], Awaitable[bool]], what: str, within: float = READY_SECONDS
    ) -> float:
        """Wait until ``check()``; returns the seconds it took. RuntimeError after ``within``
        seconds, or as soon as a process of the stack fails."""
        started = time.monotonic()
        while not await check():
            trouble = self.trouble()
            if trouble:
                raise RuntimeError(f"{trouble} (logs in {self.run_dir})")
            if time.monotonic() - started > within:
                raise RuntimeError(f"gave up waiting for {what} after {within:.0f}s")
            await asyncio.sleep(0.25)
        return time.monotonic() - started

    def trouble(self) -> str | None:
        """Why the stack cannot go on: a supervised worker that keeps failing, or any other
        process of it that ended."""
        if self.supervise:
            return self.workers.failing
        for child in (self.webhook, *self.workers.children, *self.others):
            if child is not None and child.process is not None and not child.running():
                return f"{child.name} exited: {child.log_tail(5)}"
        return None

    async def webhook_healthy(self) -> bool:
        """The webhook answers and reaches Temporal."""
        try:
            response = await self._http.get(f"{self.webhook_url}/healthz")
        except httpx.TransportError:
            return False
        return response.status_code == 200

    async def workers_polling(self) -> bool:
        """Every running worker polls the journey's queue for workflow and activity tasks."""
        wanted = self.workers.identities()
        if len(wanted) < self.workers.count:
            return False
        workflow = await pollers(self.client, TASK_QUEUE, WORKFLOW_TASKS)
        activity = await pollers(self.client, TASK_QUEUE, ACTIVITY_TASKS)
        return wanted <= workflow and wanted <= activity

    async def _workers_started(self) -> bool:
        return self.workers.polling()

    # --- the server going away ------------------------------------------------------------------

    def stop_server(self, *, kill: bool) -> None:
        """SIGKILL the dev server, or SIGTERM it; ``start_server()`` brings it back."""
        assert self.server is not None, "the server was not started by this stack"
        self.server_down = True
        if kill:
            self.server.kill()
        else:
            self.server.stop()

    async def start_server(self) -> None:
        """The dev server again on the same port and database, and a new client of it."""
        assert self.server is not None, "the server was not started by this stack"
        self.server.start()
        self._client = await self.connect()
        self.server_down = False

    # --- down -----------------------------------------------------------------------------------

    async def down(self) -> None:
        """Stop everything, whatever state ``up()`` got to; the server last, so the workers
        finish their tasks against it. Prints nothing: the output may be gone already."""
        try:
            self._stop_supervising.set()
            if self._supervisor is not None:
                with contextlib.suppress(Exception):
                    await self._supervisor
            others = [self.webhook, *self.workers.children, *self.others]
            stop_processes([c.process for c in others if c is not None and c.process])
            if self.server is not None:
                self.server.stop(timeout=20)
        finally:
            self.sandbox.stop()
            self._exits.close()
            with contextlib.suppress(Exception):
                await self._http.aclose()

    async def __aenter__(self) -> DevStack:
        try:
            await self.up()
        except BaseException:
            await self.down()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.down()
