"""The one way durations are written: ``0s``, ``90m``, ``12h``, ``2d``."""

from __future__ import annotations

import re
from datetime import timedelta

_OFFSET = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def is_offset(text: str) -> bool:
    return _OFFSET.match(text) is not None


def parse_offset(text: str) -> timedelta:
    """Parse one duration such as ``0s``, ``30m``, ``2d``."""
    match = _OFFSET.match(text)
    if not match:
        raise ValueError(f"'{text.strip()}' is not an offset like 0s, 30m, 12h or 2d")
    return timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])


def format_offset(offset: timedelta) -> str:
    """The shortest exact spelling of a duration, for summaries a person reads."""
    seconds = int(offset.total_seconds())
    for unit in ("d", "h", "m"):
        size = _UNIT_SECONDS[unit]
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def parse_duration(value: object) -> object:
    """A pydantic ``BeforeValidator``: ``"90s"``/``"2d"`` as well as anything pydantic reads as
    a timedelta."""
    if isinstance(value, str) and is_offset(value):
        return parse_offset(value)
    return value
