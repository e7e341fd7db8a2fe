"""Starting and steering journeys from the command line: ``onboarding start | status | journeys``
and the controls (``unsubscribe``, ``convert``, ``pause``, ``resume``, ``reschedule``)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from common.command_line import (
    describe_settings_error,
    describe_validation_error,
    fail,
    run,
)
from common.connection import connect
from common.durations import parse_offset
from common.telemetry import CLI_SERVICE, TelemetryConfigError, configure_tracing, start_span
from starter.journeys import (
    ControlRejected,
    JourneyFinished,
    JourneyNotFound,
    journey_state,
    list_journeys,
    reschedule,
    start_journey,
    steer,
)
from starter.settings import JourneySettings
from workflows.models import Signup


def _read_event(source: str) -> dict[str, Any]:
    text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("the event must be a JSON object")
    return data


def start(
    user_id: Annotated[str | None, typer.Option(help="The product's user id.")] = None,
    email: Annotated[str | None, typer.Option(help="The user's email address.")] = None,
    first_name: Annotated[str | None, typer.Option()] = None,
    last_name: Annotated[str | None, typer.Option()] = None,
    company_domain: Annotated[str | None, typer.Option()] = None,
    event: Annotated[
        str | None, typer.Option(help="A signup as JSON: a file path, or - for stdin.")
    ] = None,
    rerun: Annotated[bool, typer.Option(help="Start a new run after a finished one.")] = False,
) -> None:
    """Start a user's journey and print its workflow ID (the existing one if already started)."""
    fields: dict[str, Any] = {}
    if event is not None:
        try:
            fields = _read_event(event)
        except (OSError, ValueError) as exc:
            raise fail(f"cannot read the signup event: {exc}", 2) from None
    given = {
        "user_id": user_id,
        "email": email,
        "first_name": first_name,
        "last_name": last_name,
        "company_domain": company_domain,
    }
    fields.update({k: v for k, v in given.items() if v is not None})
    try:
        signup = Signup.model_validate(fields)
    except ValidationError as exc:
        raise fail(describe_validation_error(exc), 2) from None
    try:
        config = JourneySettings().journey_config()
    except ValidationError as exc:
        raise fail(describe_settings_error(exc, JourneySettings), 2) from None

    try:
        tracing = configure_tracing(CLI_SERVICE)
    except TelemetryConfigError as exc:
        raise fail(str(exc), 2) from None

    async def _start() -> None:
        client = await connect()
        # The root of the journey's trace: the start, then the run on the worker.
        with start_span("onboarding start"):
            started = await start_journey(client, signup, config, rerun=rerun)
        if started.created:
            note = "started"
        elif started.running:
            note = "already running: not started again"
        else:
            note = "already finished: not started again (use --rerun to start a new run)"
        typer.echo(started.workflow_id)
        typer.echo(f"{note} (run {started.run_id})", err=True)

    try:
        run(_start())
    finally:
        tracing.force_flush()  # export the span now: the process ends without atexit hooks


def status(user_id: str) -> None:
    """Show where a user's journey is."""

    async def _status() -> None:
        client = await connect()
        try:
            workflow_status, state = await journey_state(client, user_id)
        except JourneyNotFound as exc:
            raise fail(str(exc)) from None
        typer.echo(f"status:   {workflow_status.lower()}")
        typer.echo(f"stage:    {state.stage_label}")
        typer.echo(f"segment:  {state.segment or '-'}")
        typer.echo(f"matched:  {state.matched_technology or '-'}")
        typer.echo(f"emails:   {state.emails_sent} sent")
        due = state.next_email_due_at
        typer.echo(
            f"next:     {f'email {state.next_email_number} due {due.isoformat()}' if due else '-'}"
        )
        typer.echo(f"outcome:  {state.outcome or '-'}")
        typer.echo(f"path:     {' > '.join(state.path) or '-'}")

    run(_status())


def _steer(user_id: str, signal: str, done: str) -> None:
    async def _send() -> None:
        client = await connect()
        try:
            workflow_id = await steer(client, user_id, signal)
        except (JourneyNotFound, JourneyFinished) as exc:
            raise fail(str(exc)) from None
        typer.echo(f"{workflow_id}: {done}")

    run(_send())


def unsubscribe(user_id: str) -> None:
    """Stop all further email to a user; the journey ends ``unsubscribed``."""
    _steer(user_id, "unsubscribe", "unsubscribed; no further email")


def convert(user_id: str) -> None:
    """Mark a user as converted; the sequence stops and the journey ends ``converted``."""
    _steer(user_id, "convert", "converted; sequence stopped")


def pause(user_id: str) -> None:
    """Hold a journey before its next outbound step; its email schedule shifts by the pause."""
    _steer(user_id, "pause", "paused; nothing is sent until resume")


def resume(user_id: str) -> None:
    """Carry on with a paused journey."""
    _steer(user_id, "resume", "resumed")


def reschedule_command(
    user_id: str,
    at: Annotated[
        str | None, typer.Option(help="New send time, ISO 8601 (UTC unless it has an offset).")
    ] = None,
    in_: Annotated[
        str | None, typer.Option("--in", help="New send time from now: 30m, 2h, 1d.")
    ] = None,
) -> None:
    """Move a journey's next email; prints its new due time."""
    if (at is None) == (in_ is None):
        raise fail("give exactly one of --at or --in", 2)
    try:
        if at is not None:
            send_at = datetime.fromisoformat(at)
            send_at = send_at if send_at.tzinfo else send_at.replace(tzinfo=UTC)
        else:
            send_at = datetime.now(UTC) + parse_offset(in_ or "")
    except ValueError as exc:
        raise fail(f"invalid time: {exc}", 2) from None

    async def _reschedule() -> None:
        client = await connect()
        try:
            due = await reschedule(client, user_id, send_at)
        except (JourneyNotFound, JourneyFinished) as exc:
            raise fail(str(exc)) from None
        except ControlRejected as exc:
            raise fail(f"reschedule rejected: {exc}") from None
        typer.echo(f"next email now due {due.isoformat()}")

    run(_reschedule())


def journeys(
    stage: Annotated[
        str | None, typer.Option(help="e.g. enriching, waiting_email_2, paused, done.")
    ] = None,
    outcome: Annotated[str | None, typer.Option(help="e.g. sales_alerted, converted.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 100,
) -> None:
    """List journeys through the same visibility query the Web UI uses."""
    from rich.console import Console
    from rich.table import Table

    async def _list() -> None:
        client = await connect()
        try:
            rows = await list_journeys(client, stage=stage, outcome=outcome, limit=limit)
        except ValueError as exc:
            raise fail(str(exc), 2) from None
        table = Table(box=None, pad_edge=False)
        for column in (
            "workflow id",
            "status",
            "stage",
            "segment",
            "employees",
            "emails",
            "outcome",
        ):
            table.add_column(column)
        for row in rows:
            table.add_row(
                row.workflow_id,
                row.status,
                row.stage or "-",
                row.segment or "-",
                "-" if row.employees is None else str(row.employees),
                "-" if row.emails_sent is None else str(row.emails_sent),
                row.outcome or "-",
            )
        Console(width=160).print(table)
        typer.echo(f"{len(rows)} journeys", err=True)

    run(_list())


# The command names, for the ``onboarding`` command to register.
COMMANDS: dict[str, Callable[..., None]] = {
    "start": start,
    "status": status,
    "unsubscribe": unsubscribe,
    "convert": convert,
    "pause": pause,
    "resume": resume,
    "reschedule": reschedule_command,
    "journeys": journeys,
}
