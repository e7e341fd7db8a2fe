"""The starter's commands: ``onboarding start | status | unsubscribe | convert``."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError

from starter.connection import TemporalUnreachable, connect
from starter.journeys import JourneyFinished, JourneyNotFound, journey_state, start_journey, steer
from starter.settings import JourneySettings
from workflows.models import Signup

T = TypeVar("T")

app = typer.Typer(
    help="Customer-onboarding journeys on Temporal.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print one line to stderr and return the exit to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def describe_validation_error(error: ValidationError) -> str:
    """One line naming each invalid field and why."""
    parts = []
    for item in error.errors():
        field = ".".join(str(p) for p in item["loc"]) or "input"
        parts.append(f"{field}: {item['msg']}")
    return "invalid signup: " + "; ".join(parts)


def run(coroutine: Awaitable[T]) -> T:
    """Run one async command, turning an unreachable server into one clear line."""

    async def _main() -> T:
        return await coroutine

    try:
        return asyncio.run(_main())
    except TemporalUnreachable as exc:
        raise fail(str(exc)) from None


def _read_event(source: str) -> dict[str, Any]:
    text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("the event must be a JSON object")
    return data


@app.command()
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
        raise fail(
            describe_validation_error(exc).replace("signup", "journey settings"), 2
        ) from None

    async def _start() -> None:
        client = await connect()
        started = await start_journey(client, signup, config, rerun=rerun)
        if started.created:
            note = "started"
        elif started.running:
            note = "already running: not started again"
        else:
            note = "already finished: not started again (use --rerun to start a new run)"
        typer.echo(started.workflow_id)
        typer.echo(f"{note} (run {started.run_id})", err=True)

    run(_start())


@app.command()
def status(user_id: str) -> None:
    """Show where a user's journey is."""

    async def _status() -> None:
        client = await connect()
        try:
            workflow_status, state = await journey_state(client, user_id)
        except JourneyNotFound as exc:
            raise fail(str(exc)) from None
        typer.echo(f"status:   {workflow_status.lower()}")
        typer.echo(f"stage:    {state.stage}")
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


@app.command()
def unsubscribe(user_id: str) -> None:
    """Stop all further email to a user; the journey ends ``unsubscribed``."""
    _steer(user_id, "unsubscribe", "unsubscribed; no further email")


@app.command()
def convert(user_id: str) -> None:
    """Mark a user as converted; the sequence stops and the journey ends ``converted``."""
    _steer(user_id, "convert", "converted; sequence stopped")
