"""The ``onboarding`` command: starting and steering journeys, and the processes that host them
(``worker``, ``webhook``, ``codec-server``, ``sandbox``, ``demo``)."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from typing import Annotated

import typer
from pydantic import ValidationError

from activities.settings import VendorSettings
from cli.analytics import experiments_command, funnel_command
from cli.dashboard import dashboard_command
from cli.preview import preview_email_command
from cli.spend import spend_command
from cli.suppression import (
    suppress_command,
    suppression_keygen_command,
    unsubscribe_keygen_command,
    unsuppress_command,
)
from common.command_line import describe_settings_error, fail, run
from common.connection import connect_when_reachable
from starter.bulk_import import import_command
from starter.commands import COMMANDS

app = typer.Typer(
    help="Customer-onboarding journeys on Temporal.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
for name, command in COMMANDS.items():
    app.command(name)(command)
app.command("import")(import_command)
app.command("spend")(spend_command)
app.command("suppress")(suppress_command)
app.command("unsuppress")(unsuppress_command)
app.command("unsubscribe-keygen")(unsubscribe_keygen_command)
app.command("suppression-keygen")(suppression_keygen_command)
app.command("preview-email")(preview_email_command)
app.command("funnel")(funnel_command)
app.command("experiments")(experiments_command)
app.command("dashboard")(dashboard_command)


def require_encryption_keys(why: str) -> None:
    """Exit with one line unless ONBOARDING_ENCRYPTION_KEYS holds usable keys."""
    from common.encryption import KEYGEN_HINT, KEYS_ENV, EncryptionConfigError, EncryptionSettings

    try:
        keys = EncryptionSettings().keys()
    except EncryptionConfigError as exc:
        raise fail(str(exc), 2) from None
    if not keys:
        raise fail(f"{KEYS_ENV} is not set, and {why}: {KEYGEN_HINT}", 2)


@app.command()
def keygen(
    key_id: Annotated[str, typer.Argument(help="Name of the new key, e.g. k2.")] = "k1",
) -> None:
    """Print a new encryption key entry (key-id:base64) for ONBOARDING_ENCRYPTION_KEYS."""
    from common.encryption import KEYS_ENV, EncryptionConfigError, generate_key

    try:
        entry = generate_key(key_id)
    except EncryptionConfigError as exc:
        raise fail(str(exc), 2) from None
    typer.echo(entry)
    typer.echo(
        f"Put it first in {KEYS_ENV} (it encrypts); keep the old keys after it until no "
        "journey encrypted with them runs.",
        err=True,
    )


@app.command("codec-server")
def codec_server(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8081,
    insecure_dev: Annotated[
        bool, typer.Option(help="Run WITHOUT authentication when none is configured (loopback).")
    ] = False,
) -> None:
    """Serve Temporal's remote codec (/encode, /decode) for the Web UI and the temporal CLI."""
    from common.codec_server import CodecServerConfigError, serve

    try:
        serve(host=host, port=port, insecure_dev=insecure_dev)
    except CodecServerConfigError as exc:
        raise fail(str(exc), 2) from None


@app.command("register-search-attributes")
def register_search_attributes_command() -> None:
    """Register the journey's search attributes the namespace lacks (once per namespace; the
    same as the `temporal operator search-attribute create` commands the worker prints)."""
    from worker.main import missing_search_attributes, register_search_attributes

    async def _register() -> list[str]:
        stop = asyncio.Event()
        client = await connect_when_reachable(stop)
        assert client is not None  # nothing sets stop: it waits for Temporal
        missing = await missing_search_attributes(client)
        await register_search_attributes(client)
        left = await missing_search_attributes(client)
        if left:
            raise fail(f"namespace '{client.namespace}' still lacks {', '.join(left)}")
        return sorted(missing) if missing is not None else []

    added = run(_register())
    typer.echo(f"registered: {', '.join(added)}" if added else "every search attribute is there")


@app.command()
def worker() -> None:
    """Run a worker: it hosts the journey and its vendor calls until SIGINT or SIGTERM."""
    from worker.main import missing_search_attributes, run_worker, stop_on_signals
    from workflows.search_attributes import create_commands

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    from worker.settings import WorkerSettings

    try:
        settings = VendorSettings()
        tuning = WorkerSettings()
    except ValidationError as exc:
        raise fail(describe_settings_error(exc, VendorSettings, WorkerSettings), 2) from None
    require_encryption_keys("the worker will not write personal data to Temporal unencrypted")
    if missing_credential := settings.missing_credential():
        raise fail(missing_credential, 2)
    from activities.email_content import EmailTemplatesError
    from activities.warehouse import Warehouse
    from worker.main import mailroom

    try:
        mailroom(
            settings, Warehouse(settings.warehouse_url)
        )  # refused now, not when an email is due
    except (ValueError, EmailTemplatesError) as exc:
        raise fail(str(exc), 2) from None
    from common.telemetry import (
        WORKER_SERVICE,
        MetricsSettings,
        TelemetryConfigError,
        configure_tracing,
        worker_runtime,
    )

    try:
        tracing = configure_tracing(WORKER_SERVICE)
        runtime = worker_runtime(MetricsSettings())
    except ValidationError as exc:
        raise fail(describe_settings_error(exc, MetricsSettings), 2) from None
    except TelemetryConfigError as exc:
        raise fail(str(exc), 2) from None

    async def _serve() -> None:
        stop = asyncio.Event()
        stop_on_signals(stop)  # before connecting: a stop must end the wait for Temporal too
        # A worker started before Temporal (a deploy, a server restart) waits for it.
        client = await connect_when_reachable(stop, runtime=runtime)
        if client is None:
            logging.getLogger("onboarding.worker").info("stopped before Temporal was reachable")
            return
        missing = await missing_search_attributes(client)
        if missing:
            commands = "; ".join(create_commands(client.namespace))
            raise fail(
                f"namespace '{client.namespace}' lacks the search attributes {', '.join(missing)}; "
                f"register them first: {commands}"
            )
        await run_worker(client, settings, stop, tuning=tuning)

    try:
        run(_serve())
    finally:
        tracing.force_flush()  # the last spans: the process ends without atexit hooks


@app.command()
def sandbox(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8787,
    rate_limits: Annotated[
        str,
        typer.Option(
            help="Answer 429 past these requests per second: 'documented' (the vendors' own "
            "limits), or e.g. 'clearbit=10,slack=1'; vendors not named are unlimited.",
        ),
    ] = "none",
) -> None:
    """Serve Clearbit, BuiltWith, Slack and Resend's wire formats locally, with fixtures."""
    from sandbox.limits import parse_rate_limits
    from sandbox.server import SandboxStartError, serve

    try:
        limits = parse_rate_limits(rate_limits)
    except ValueError as exc:
        raise fail(f"--rate-limits: {exc}", 2) from None
    try:
        serve(host=host, port=port, rate_limits=limits)
    except SandboxStartError as exc:
        raise fail(str(exc)) from None


@app.command()
def webhook(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    insecure_dev: Annotated[
        bool, typer.Option(help="Accept unsigned requests where no secret is set (local use only).")
    ] = False,
) -> None:
    """Serve the signup webhook: Standard Webhooks at /signups, Segment at /segment."""
    from starter.webhook import WebhookConfigError, serve

    try:
        serve(host=host, port=port, insecure_dev=insecure_dev)
    except WebhookConfigError as exc:
        raise fail(str(exc), 2) from None


@app.command()
def demo(
    exit_when_done: Annotated[
        bool, typer.Option(help="Stop once every sample journey has finished.")
    ] = False,
    trace_console: Annotated[
        bool, typer.Option(help="Print every journey's trace spans to the console.")
    ] = False,
    providers: Annotated[
        str,
        typer.Option(
            help=(
                "Providers to run on instead of the configured ones, e.g. "
                "peopledatalabs,wappalyzer,postmark,slack-webhook (several enrichment "
                "providers: asked in that order)."
            )
        ),
    ] = "",
) -> None:
    """Run everything locally on embedded defaults: dev server, sandbox, worker, sample signups."""
    from activities.settings import provider_overrides
    from cli.demo import run_demo

    try:
        chosen = provider_overrides(providers)
    except ValueError as exc:
        raise fail(f"--providers: {exc}", 2) from None
    sys.exit(run_demo(exit_when_done=exit_when_done, trace_console=trace_console, providers=chosen))


def main() -> None:
    """Entry point. Ends the process with ``os._exit`` once output is flushed: the Temporal
    SDK's native threads can abort a short-lived process during interpreter finalization."""
    code = 0
    try:
        # Outside standalone mode click returns an exit code instead of raising SystemExit.
        result = app(standalone_mode=False)
        code = result if isinstance(result, int) else 0
    except typer.Exit as exc:
        code = exc.exit_code
    except typer.Abort:
        typer.echo("Aborted.", err=True)
        code = 130
    except KeyboardInterrupt:
        code = 130
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except Exception as exc:  # a click usage error or a bug: one line, never a traceback
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            code = exc.exit_code
        else:
            typer.echo(f"error: {type(exc).__name__}: {exc}", err=True)
            code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
