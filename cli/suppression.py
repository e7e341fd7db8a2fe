"""``onboarding suppress | unsuppress``: put an address on the suppression list or take it off;
``onboarding unsubscribe-keygen | suppression-keygen``: the keys the list and the links need.

An address is never printed back: a terminal's scrollback and a CI log are not the place for it.
"""

from __future__ import annotations

from typing import Annotated

import typer
from email_validator import EmailNotValidError, validate_email
from pydantic import ValidationError
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from activities.suppression import (
    HASH_KEY_ENV,
    Reason,
    SuppressionList,
    SuppressionSettings,
    generate_hash_key,
    parse_hash_key,
)
from activities.warehouse import Warehouse
from common.command_line import fail
from common.unsubscribe import KEYS_ENV, SigningKeyError, generate_signing_key

_SOURCE = "cli"


def _suppression_list() -> SuppressionList:
    try:
        settings = SuppressionSettings()
    except ValidationError:
        raise fail(
            f"{HASH_KEY_ENV} is not set: use the worker's key (a new list's key comes from "
            "`onboarding suppression-keygen`)",
            2,
        ) from None
    try:
        key = parse_hash_key(settings.suppression_hash_key.get_secret_value())
    except ValueError as exc:
        raise fail(str(exc), 2) from None
    try:
        warehouse = Warehouse(settings.warehouse_url)
    except (ArgumentError, NoSuchModuleError, ImportError):
        # Never the URL itself: it may hold a password.
        raise fail("WAREHOUSE_URL is not a database URL SQLAlchemy can open", 2) from None
    return SuppressionList(warehouse, key)


def _checked(address: str) -> str:
    try:
        validate_email(address.strip(), check_deliverability=False)
    except EmailNotValidError:
        raise fail("that is not an email address (expected name@domain)", 2) from None
    return address


def _unreachable(exc: SQLAlchemyError) -> typer.Exit:
    # The driver's message can echo the URL: keep only the error's class.
    return fail(f"cannot use the warehouse ({type(exc).__name__}); check WAREHOUSE_URL")


def suppress_command(
    email: Annotated[str, typer.Argument(help="The address that must get no onboarding email.")],
    reason: Annotated[Reason, typer.Option(help="Why.")] = Reason.UNSUBSCRIBED,
) -> None:
    """Put an address on the suppression list: no onboarding email reaches it from now on."""
    suppressions = _suppression_list()
    address = _checked(email)
    try:
        suppressions.suppress(address, reason, _SOURCE)
        current = suppressions.reason(address)
    except SQLAlchemyError as exc:
        raise _unreachable(exc) from None
    if current is not None and current != reason:
        typer.echo(f"suppressed ({current}: a stronger reason was already recorded)")
    else:
        typer.echo(f"suppressed ({reason})")


def unsuppress_command(
    email: Annotated[str, typer.Argument(help="The address that may get onboarding email again.")],
) -> None:
    """Take an address off the suppression list (journeys already ended stay ended)."""
    suppressions = _suppression_list()
    address = _checked(email)
    try:
        removed = suppressions.unsuppress(address)
    except SQLAlchemyError as exc:
        raise _unreachable(exc) from None
    typer.echo("removed from the suppression list" if removed else "was not suppressed")


def unsubscribe_keygen_command(
    key_id: Annotated[str, typer.Argument(help="Name of the new key, e.g. u2.")] = "u1",
) -> None:
    """Print a new key entry (key-id:base64) for UNSUBSCRIBE_SIGNING_KEYS."""
    try:
        entry = generate_signing_key(key_id)
    except SigningKeyError as exc:
        raise fail(str(exc), 2) from None
    typer.echo(entry)
    typer.echo(
        f"Put it first in {KEYS_ENV} of the worker and the webhook (it signs new links); keep "
        "the old keys after it while emails with their links may still be clicked.",
        err=True,
    )


def suppression_keygen_command() -> None:
    """Print a new key for SUPPRESSION_HASH_KEY (once, for a new suppression list)."""
    typer.echo(generate_hash_key())
    typer.echo(
        f"Set {HASH_KEY_ENV} to it for the worker and these commands, and never change it: "
        "the list would no longer recognise any address on it.",
        err=True,
    )
