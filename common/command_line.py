"""What every ``onboarding`` command shares: one-line errors, and running an async command."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

import typer
from pydantic import ValidationError
from pydantic_settings import BaseSettings

from common.connection import TemporalUnreachable
from common.encryption import EncryptionConfigError

T = TypeVar("T")


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


def describe_settings_error(error: ValidationError, *settings: type[BaseSettings]) -> str:
    """One line naming each environment variable that is set wrong (``WORKER_MAX_CACHED_WORKFLOWS``,
    ``VENDOR_RATE_LIMITS (slack)``) and why; ``settings`` are the classes that may have raised."""
    prefix = next(
        (str(c.model_config.get("env_prefix", "")) for c in settings if c.__name__ == error.title),
        "",
    )
    parts = []
    for item in error.errors():
        name, *inner = [str(p) for p in item["loc"]] or ["settings"]
        where = f" ({'.'.join(inner)})" if inner else ""
        parts.append(f"{(prefix + name).upper()}{where}: {item['msg']}")
    return "invalid settings: " + "; ".join(parts)


def run(coroutine: Awaitable[T]) -> T:
    """Run one async command, turning an unreachable server or bad keys into one clear line."""

    async def _main() -> T:
        return await coroutine

    try:
        return asyncio.run(_main())
    except TemporalUnreachable as exc:
        raise fail(str(exc)) from None
    except EncryptionConfigError as exc:
        raise fail(str(exc), 2) from None
