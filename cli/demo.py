"""``onboarding demo``: the whole product on one machine, with no API keys.

Starts the Temporal dev server (persisted to ``.demo/temporal.db``, Web UI on :8233), the vendor
sandbox and a worker, starts one sample signup per branch of the journey with a compressed email
schedule, and prints each journey's path as it completes. Ctrl-C stops everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from temporalio.client import Client, WorkflowFailureError
from temporalio.runtime import Runtime

from activities.contracts import ONE_PARTITION_DEV_SERVER_FLAGS
from activities.settings import VendorSettings
from common.codec_server import Authenticator, CodecServerThread, create_app
from common.connection import connect
from common.encryption import KEYS_ENV, EncryptionCodec, generate_key, parse_keys
from common.telemetry import (
    DEMO_SERVICE,
    MetricsSettings,
    configure_tracing,
    metrics_runtime,
    start_span,
)
from sandbox.fixtures import expected_outcome, sample_signups
from sandbox.server import SandboxServer
from starter.journeys import start_journey
from worker.main import register_search_attributes, run_worker
from workflows import search_attributes
from workflows.journey import OnboardingJourney
from workflows.models import JourneyConfig, JourneyState, Signup

STATE_DIR = Path(".demo")
TEMPORAL_PORT = 7233
UI_PORT = 8233
SANDBOX_PORT = 8787
METRICS_PORT = 9464
CODEC_PORT = 8081
CODEC_URL = f"http://127.0.0.1:{CODEC_PORT}"
DEMO_KEYS = STATE_DIR / "encryption-keys"
DEMO_SCHEDULE = [timedelta(0), timedelta(seconds=10), timedelta(seconds=25)]

console = Console(highlight=False)


def _port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _temporal_cli() -> str:
    installed = Path(sys.executable).parent / "temporal"
    found = str(installed) if installed.exists() else shutil.which("temporal")
    if not found:
        raise RuntimeError("the 'temporal' CLI is missing: install the project with 'make install'")
    return found


def _use_demo_key() -> str:
    """The demo's own encryption key, created once into ``.demo/encryption-keys``, for every
    client of this process; journeys persisted in ``.demo/temporal.db`` stay readable."""
    if not DEMO_KEYS.exists():
        STATE_DIR.mkdir(exist_ok=True)
        DEMO_KEYS.touch(mode=0o600)
        DEMO_KEYS.write_text(generate_key("demo-1") + "\n", encoding="utf-8")
    keys = DEMO_KEYS.read_text(encoding="utf-8").strip()
    parse_keys(keys)  # a damaged file is one clear line now, not a failed journey later
    os.environ[KEYS_ENV] = keys
    return keys


@contextlib.contextmanager
def _codec_server(keys: str) -> Iterator[None]:
    """The codec server the Web UI decrypts payloads through, on loopback and without
    authentication: the dev server's UI has no login to forward a token from."""
    if _port_in_use(CODEC_PORT):
        console.print(
            f"[yellow]Port {CODEC_PORT} is taken: the Web UI shows the journeys' payloads encrypted."
        )
        yield
        return
    app = create_app(
        EncryptionCodec(parse_keys(keys)),
        Authenticator.unauthenticated(),
        [f"http://localhost:{UI_PORT}", f"http://127.0.0.1:{UI_PORT}"],
    )
    with CodecServerThread(app, host="127.0.0.1", port=CODEC_PORT) as server:
        console.print(
            f"Codec server:    [bold]{server.url}[/] [yellow]WITHOUT authentication[/] (demo only, "
            f"loopback); payloads are encrypted with the key in {DEMO_KEYS}"
        )
        yield


def _start_dev_server() -> subprocess.Popen[bytes] | None:
    """The Temporal dev server on :7233 with its Web UI on :8233, or None if one already runs."""
    if _port_in_use(TEMPORAL_PORT):
        console.print(f"[yellow]A Temporal server already listens on :{TEMPORAL_PORT}; using it.")
        return None
    STATE_DIR.mkdir(exist_ok=True)
    log = (STATE_DIR / "temporal.log").open("ab")
    command = [
        _temporal_cli(), "server", "start-dev",
        "--db-filename", str(STATE_DIR / "temporal.db"),
        "--port", str(TEMPORAL_PORT), "--ui-port", str(UI_PORT),
        "--ui-codec-endpoint", CODEC_URL,
        "--log-level", "warn",
        *search_attributes.cli_flags(),
        *ONE_PARTITION_DEV_SERVER_FLAGS,
    ]  # fmt: skip
    # A process group of its own, so the terminal's Ctrl-C reaches us first and we stop it in order.
    return subprocess.Popen(command, stdout=log, stderr=log, start_new_session=True)


async def _connect_when_ready(runtime: Runtime | None, deadline_seconds: float = 30) -> Client:
    deadline = time.monotonic() + deadline_seconds
    while True:
        try:
            return await connect(runtime=runtime)
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


def _path_line(user_id: str, state: JourneyState | None, error: str | None) -> str:
    if error:
        return f"[red]{user_id:<24} failed: {error}"
    assert state is not None
    return f"[green]{user_id:<24} {state.outcome!s}[/]\n    [dim]" + " → ".join(state.path)


async def _follow(client: Client, workflow_id: str, user_id: str) -> tuple[str, str | None]:
    handle = client.get_workflow_handle_for(OnboardingJourney.run, workflow_id)
    try:
        state = await handle.result()
    except WorkflowFailureError as exc:
        console.print(_path_line(user_id, None, str(exc.cause)))
        return user_id, None
    console.print(_path_line(user_id, state, None))
    return user_id, str(state.outcome)


async def _demo(exit_when_done: bool, stop: asyncio.Event, runtime: Runtime | None) -> int:
    client = await _connect_when_ready(runtime)
    await register_search_attributes(client)
    console.print(f"Temporal Web UI: [bold]http://localhost:{UI_PORT}[/]")
    with SandboxServer(port=0 if _port_in_use(SANDBOX_PORT) else SANDBOX_PORT) as sandbox:
        console.print(
            f"Vendor sandbox:  [bold]{sandbox.url}[/] (calls at {sandbox.url}/_sandbox/calls)"
        )
        env: dict[str, Any] = {k.lower(): v for k, v in sandbox.base_urls().items()}
        settings = VendorSettings(
            **env, warehouse_url=f"sqlite:///{STATE_DIR / 'warehouse.db'}", _env_file=None
        )
        worker_stop = asyncio.Event()
        worker = asyncio.create_task(run_worker(client, settings, worker_stop))
        config = JourneyConfig(
            email_schedule=DEMO_SCHEDULE, enrichment_poll_interval=timedelta(seconds=5)
        )
        run_tag = time.strftime("%H%M%S")
        followers = []
        console.print(f"Starting {len(sample_signups())} sample journeys (emails at 0s, 10s, 25s)…")
        for fields in sample_signups():
            signup = Signup.model_validate({**fields, "user_id": f"{fields['user_id']}-{run_tag}"})
            with start_span("demo signup"):  # the root of this journey's trace
                started = await start_journey(client, signup, config)
            console.print(
                f"  started {started.workflow_id:<36} expecting {expected_outcome(signup.email)}"
            )
            followers.append(
                asyncio.create_task(_follow(client, started.workflow_id, signup.user_id))
            )
        done: asyncio.Future[list[tuple[str, str | None]]] = asyncio.gather(*followers)
        stopped: asyncio.Future[bool] = asyncio.ensure_future(stop.wait())
        waiting: set[asyncio.Future[Any]] = {done, stopped}
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        code = 0
        if done.done():
            results = done.result()
            table = Table(title="Sample journeys")
            for column in ("user", "outcome", "expected"):
                table.add_column(column)
            for (user_id, outcome), fields in zip(results, sample_signups(), strict=True):
                expected = expected_outcome(fields["email"])
                mark = "" if outcome == expected else " ✗"
                table.add_row(user_id, f"{outcome}{mark}", expected)
                code |= outcome != expected
            console.print(table)
            summary = sandbox.state.summary()
            console.print(
                f"Vendors: {summary['emails_accepted']} emails accepted, "
                f"{summary['sales_alerts']} sales alerts, "
                f"{summary['duplicates_caught']} duplicates caught by idempotency keys."
            )
            if not exit_when_done:
                console.print(
                    f"Explore the runs at http://localhost:{UI_PORT}. Press Ctrl-C to stop."
                )
                await stopped
        else:
            code = 130
        for task in followers:
            task.cancel()
        stopped.cancel()
        await asyncio.gather(done, stopped, return_exceptions=True)
        console.print("Stopping the worker…")
        worker_stop.set()
        await worker
    return int(code)


def _metrics_runtime() -> Runtime | None:
    """The runtime serving the worker's Prometheus metrics, on METRICS_PORT (default 9464)."""
    port = MetricsSettings().metrics_port or METRICS_PORT
    if _port_in_use(port):
        console.print(f"[yellow]Port {port} is taken: the demo serves no metrics.")
        return None
    runtime = metrics_runtime(port, "127.0.0.1")
    console.print(f"Metrics:         [bold]http://127.0.0.1:{port}/metrics[/]")
    return runtime


def run_demo(*, exit_when_done: bool = False, trace_console: bool = False) -> int:
    keys = _use_demo_key()
    tracing = configure_tracing(DEMO_SERVICE, console=trace_console)
    server = _start_dev_server()

    async def _main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        return await _demo(exit_when_done, stop, _metrics_runtime())

    try:
        with _codec_server(keys):
            return asyncio.run(_main())
    finally:
        tracing.force_flush()
        if server is not None:
            console.print("Stopping the Temporal dev server…")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
        console.print("Stopped.")
