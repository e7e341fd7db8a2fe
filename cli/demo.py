"""``onboarding demo``: the whole product on one machine, with no API keys.

Starts the dev stack (the Temporal dev server persisted to ``.demo/temporal.db`` with its Web UI
on :8233, and the vendor sandbox) and a worker, starts one sample signup per branch of the
journey with a compressed email schedule, and prints each journey's path as it completes.
Ctrl-C, closing the terminal or SIGTERM stops everything. ``DEMO_TEMPORAL_PORT``,
``DEMO_UI_PORT``, ``DEMO_SANDBOX_PORT``, ``DEMO_CODEC_PORT``, ``DEMO_DASHBOARD_PORT`` and
``DEMO_STATE_DIR`` move it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict
from rich.console import Console
from rich.table import Table
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.runtime import Runtime

from activities.contracts import VENDOR_ROLES
from activities.settings import VendorSettings
from common.codec_server import Authenticator, CodecServerThread, create_app
from common.command_line import describe_settings_error, fail
from common.encryption import KEYS_ENV, EncryptionCodec, generate_key, parse_keys
from common.telemetry import (
    DEMO_SERVICE,
    MetricsSettings,
    client_interceptors,
    configure_tracing,
    metrics_runtime,
    start_span,
)
from devstack.lifetime import quiet_when_gone
from devstack.processes import executable, port_open, stop_all
from devstack.stack import LOCAL_EMAIL_SETTINGS, DevStack
from sandbox import FIXTURES, SandboxServer, expected_outcome, sample_signups
from starter.journeys import start_journey
from worker.main import register_search_attributes, run_worker
from workflows import search_attributes as sa
from workflows.journey import OnboardingJourney
from workflows.models import JourneyConfig, JourneyState, Signup, Stage
from workflows.rules import local_time
from workflows.send_window import SendWindow

METRICS_PORT = 9464
DEMO_SCHEDULE = [timedelta(0), timedelta(seconds=10), timedelta(seconds=25)]
# How long the sample in another time zone waits for its send window to open.
DEMO_HOLD = timedelta(minutes=2)
DEMO_WINDOW_HOURS = 20
# The samples split between the default subjects and the packaged short-subject variant.
DEMO_EXPERIMENT = "demo-subjects: control=50, short-subject=50"
HOLD_WATCH_POLLS = 30

console = Console(highlight=False)


class DemoSettings(BaseSettings):
    """Where the demo runs; the defaults are the ports the docs show."""

    model_config = SettingsConfigDict(env_prefix="DEMO_", extra="ignore")

    temporal_port: int = Field(default=7233, ge=1, le=65535)
    ui_port: int = Field(default=8233, ge=1, le=65535)
    sandbox_port: int = Field(default=8787, ge=1, le=65535)
    codec_port: int = Field(default=8081, ge=1, le=65535)
    dashboard_port: int = Field(default=8090, ge=1, le=65535)
    state_dir: Path = Path(".demo")

    @property
    def ui_url(self) -> str:
        return f"http://localhost:{self.ui_port}"


def _use_demo_key(state_dir: Path) -> str:
    """The demo's own encryption key, created once into ``.demo/encryption-keys``, for every
    client of this process; journeys persisted in ``.demo/temporal.db`` stay readable."""
    keys_file = state_dir / "encryption-keys"
    if not keys_file.exists():
        state_dir.mkdir(parents=True, exist_ok=True)
        keys_file.touch(mode=0o600)
        keys_file.write_text(generate_key("demo-1") + "\n", encoding="utf-8")
    keys = keys_file.read_text(encoding="utf-8").strip()
    parse_keys(keys)  # a damaged file is one clear line now, not a failed journey later
    os.environ[KEYS_ENV] = keys
    return keys


@contextlib.contextmanager
def _codec_server(keys: str, demo: DemoSettings) -> Iterator[None]:
    """The codec server the Web UI decrypts payloads through, on loopback and without
    authentication: the dev server's UI has no login to forward a token from."""
    if port_open(demo.codec_port):
        console.print(
            f"[yellow]Port {demo.codec_port} is taken: the Web UI shows the journeys' payloads "
            "encrypted."
        )
        yield
        return
    app = create_app(
        EncryptionCodec(parse_keys(keys)),
        Authenticator.unauthenticated(),
        [demo.ui_url, f"http://127.0.0.1:{demo.ui_port}"],
    )
    with CodecServerThread(app, host="127.0.0.1", port=demo.codec_port) as server:
        console.print(
            f"Codec server:    [bold]{server.url}[/] [yellow]WITHOUT authentication[/] (demo only, "
            f"loopback); payloads are encrypted with the key in {demo.state_dir / 'encryption-keys'}"
        )
        yield


def demo_window(now: datetime) -> tuple[SendWindow, str | None]:
    """A send window open now in UTC, where most samples read it, and opening about DEMO_HOLD
    from now in the time zone of the one sample whose enrichment gives one; that zone too."""
    zone = next((f.person.time_zone for f in FIXTURES.values() if f.person.time_zone), None)
    if zone is None:
        return SendWindow.parse("00:00-24:00"), None
    local = (now + DEMO_HOLD).astimezone(ZoneInfo(zone))
    opens = (local + timedelta(seconds=59)).replace(second=0, microsecond=0)
    closes = opens + timedelta(hours=DEMO_WINDOW_HOURS)
    return SendWindow.parse(f"{opens:%H:%M}-{closes:%H:%M}"), zone


def _path_line(user_id: str, state: JourneyState | None, error: str | None) -> str:
    if error:
        return f"[red]{user_id:<24} failed: {error}"
    assert state is not None
    return f"[green]{user_id:<24} {state.outcome!s}[/]\n    [dim]" + " → ".join(state.path)


async def _show_hold(handle: WorkflowHandle[OnboardingJourney, JourneyState], user_id: str) -> None:
    """Say so once if the journey's next email waits for its send window to open (read from
    its stage search attribute, then its state)."""
    for _ in range(HOLD_WATCH_POLLS):
        described = await handle.describe()
        stage = described.typed_search_attributes.get(sa.JOURNEY_STAGE)
        if stage == Stage.WAITING_SEND_WINDOW:
            state = await handle.query(OnboardingJourney.state)
            if state.send_window_opens_at:
                zone = state.time_zone or "UTC"
                console.print(
                    f"[yellow]{user_id:<24} email {state.next_email_number} held by a closed "
                    f"send window: it opens {local_time(state.send_window_opens_at, zone)}"
                )
            return
        if stage == Stage.DONE:
            return
        await asyncio.sleep(1)


async def _follow(client: Client, workflow_id: str, user_id: str) -> tuple[str, str | None]:
    handle = client.get_workflow_handle_for(OnboardingJourney.run, workflow_id)
    watch = asyncio.create_task(_show_hold(handle, user_id))
    try:
        state = await handle.result()
    except WorkflowFailureError as exc:
        console.print(_path_line(user_id, None, str(exc.cause)))
        return user_id, None
    finally:
        watch.cancel()
    console.print(_path_line(user_id, state, None))
    return user_id, str(state.outcome)


async def _samples(client: Client, sandbox: SandboxServer) -> int:
    """One journey per sample signup, followed to its end; 0 when each ended as expected."""
    window, held_zone = demo_window(datetime.now(UTC))
    config = JourneyConfig(
        email_schedule=DEMO_SCHEDULE,
        enrichment_poll_interval=timedelta(seconds=5),
        send_window=window,
        email_experiment=DEMO_EXPERIMENT,
    )
    if held_zone:
        console.print(
            f"Send window:     [bold]{window}[/] in each reader's time zone (UTC when "
            f"enrichment gives none); in {held_zone} it opens in about "
            f"{int(DEMO_HOLD.total_seconds() // 60)} minutes"
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
        followers.append(asyncio.create_task(_follow(client, started.workflow_id, signup.user_id)))
    results = await asyncio.gather(*followers)
    table = Table(title="Sample journeys")
    for column in ("user", "outcome", "expected"):
        table.add_column(column)
    code = 0
    for (user_id, outcome), fields in zip(results, sample_signups(), strict=True):
        expected = expected_outcome(fields["email"])
        table.add_row(user_id, f"{outcome}{'' if outcome == expected else ' ✗'}", expected)
        code |= outcome != expected
    console.print(table)
    summary = sandbox.state.summary()
    console.print(
        f"Vendors: {summary['emails_accepted']} emails accepted, "
        f"{summary['sales_alerts']} sales alerts, "
        f"{summary['duplicates_caught']} duplicates caught by idempotency keys."
    )
    return int(code)


async def _dashboard(stack: DevStack, demo: DemoSettings) -> None:
    """``onboarding dashboard`` beside the demo, on loopback, linking to the demo's Web UI."""
    port = demo.dashboard_port
    if port_open(port):
        console.print(f"[yellow]Port {port} is taken: the demo serves no dashboard.")
        return
    command = [executable("onboarding"), "dashboard", "--port", str(port)]
    stack.spawn("dashboard", command, TEMPORAL_UI_URL=demo.ui_url, EMAIL_EXPERIMENT=DEMO_EXPERIMENT)
    url = f"http://127.0.0.1:{port}"

    async def answers() -> bool:
        async with httpx.AsyncClient(timeout=2.0) as http:
            try:
                return (await http.get(f"{url}/healthz")).status_code == 200
            except httpx.HTTPError:
                return False

    await stack.until(answers, "the dashboard to start")
    console.print(
        f"Dashboard:       [bold]{url}[/] (the journey map; the funnel and the "
        f"'{DEMO_EXPERIMENT.split(':')[0]}' experiment at /funnel and /experiments)"
    )


async def _demo(
    demo: DemoSettings, keys: str, exit_when_done: bool, providers: dict[str, Any]
) -> int:
    if port_open(demo.temporal_port):
        console.print(
            f"[yellow]A Temporal server already listens on :{demo.temporal_port}; using it."
        )
    sandbox_port = 0 if port_open(demo.sandbox_port) else demo.sandbox_port
    stack = DevStack(
        demo.state_dir,
        workers=0,  # the demo's worker runs in this process, serving its metrics
        webhook=True,  # it answers the unsubscribe links in the demo's emails
        sandbox=SandboxServer(port=sandbox_port),
        temporal_port=demo.temporal_port,
        ui_port=demo.ui_port,
        codec_url=f"http://127.0.0.1:{demo.codec_port}",
        use_running_server=True,
        encryption_keys=keys,
        runtime=_metrics_runtime(),
        interceptors=client_interceptors(),
    )
    async with stack:
        client = stack.client
        await register_search_attributes(client)  # a server the demo did not start may lack them
        console.print(f"Temporal Web UI: [bold]{demo.ui_url}[/]")
        await _dashboard(stack, demo)
        url = stack.sandbox.url
        console.print(f"Vendor sandbox:  [bold]{url}[/] (calls at {url}/_sandbox/calls)")
        console.print(
            f"Webhook:         [bold]{stack.webhook_url}[/] (the emails' unsubscribe links; "
            f"the emails at {url}/_sandbox/emails)"
        )
        env: dict[str, Any] = {k.lower(): v for k, v in stack.sandbox.base_urls().items()}
        email: dict[str, Any] = {
            name.lower(): value
            for name, value in LOCAL_EMAIL_SETTINGS.items()
            if name.lower() in VendorSettings.model_fields
        }
        settings = VendorSettings(
            **env,
            **email,
            **providers,
            warehouse_url=f"sqlite:///{stack.warehouse}",
            public_base_url=stack.webhook_url,
            _env_file=None,
        )
        console.print(
            "Providers:       "
            + ", ".join(
                f"{role} [bold]{' → '.join(settings.providers(name))}[/]"
                for name, role in VENDOR_ROLES.items()
            )
        )
        worker_stop = asyncio.Event()
        worker = asyncio.create_task(run_worker(client, settings, worker_stop))
        try:
            code = await _samples(client, stack.sandbox)
            if not exit_when_done:
                console.print(f"Explore the runs at {demo.ui_url}. Press Ctrl-C to stop.")
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.Event().wait()  # ending a finished demo is no failure
        finally:
            console.print("Stopping the worker…")
            worker_stop.set()
            await worker
            if stack.server is not None:
                console.print("Stopping the Temporal dev server…")
    return code


def _metrics_runtime() -> Runtime | None:
    """The runtime serving the worker's Prometheus metrics, on METRICS_PORT (default 9464)."""
    port = MetricsSettings().metrics_port or METRICS_PORT
    if port_open(port):
        console.print(f"[yellow]Port {port} is taken: the demo serves no metrics.")
        return None
    runtime = metrics_runtime(port, "127.0.0.1")
    console.print(f"Metrics:         [bold]http://127.0.0.1:{port}/metrics[/]")
    return runtime


def run_demo(
    *,
    exit_when_done: bool = False,
    trace_console: bool = False,
    providers: dict[str, Any] | None = None,
) -> int:
    try:
        demo = DemoSettings()
    except ValidationError as exc:
        raise fail(describe_settings_error(exc, DemoSettings), 2) from None
    keys = _use_demo_key(demo.state_dir)
    tracing = configure_tracing(DEMO_SERVICE, console=trace_console)
    # `make demo | tee demo.log` and Ctrl-C: tee ends first, and the teardown must not care.
    with contextlib.redirect_stdout(quiet_when_gone(sys.stdout)):
        try:
            with _codec_server(keys, demo):
                return asyncio.run(_demo(demo, keys, exit_when_done, providers or {}))
        except KeyboardInterrupt:  # Ctrl-C, or SIGTERM and SIGHUP taking its road
            return 130
        except RuntimeError as exc:  # a process of the stack did not start: its log says why
            raise fail(str(exc)) from None
        finally:
            stop_all()  # whatever an interrupted teardown left running
            tracing.force_flush()
            console.print("Stopped.")
