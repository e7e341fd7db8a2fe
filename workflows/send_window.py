"""When onboarding emails may go out: a send window such as ``mon-fri 09:00-18:00`` in the
reader's time zone.

Pure functions of their arguments, safe inside a workflow: no clock, no I/O beyond zoneinfo's
lookups of the zone's rules. Workflows import it under ``imports_passed_through()``: re-imported
in the sandbox, its ``ZoneInfo`` would be a proxy that ``datetime`` refuses as a time zone.

Local times the clocks skip (spring forward) mean the end of the skipped stretch; local times
they repeat (fall back) mean the first occurrence. The window is open between its opening and
closing instants, so once open it stays open through a repeated hour.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

_WEEKDAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEEKDAYS = tuple(name[:3] for name in _WEEKDAY_NAMES)
_DAY_ITEM = re.compile(r"([a-z]+)(?:-([a-z]+))?", re.IGNORECASE)
_HOURS = re.compile(r"(\d{1,2}:\d{2})-(\d{1,2}:\d{2})")
_ZONE_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_+\-]*(?:/[A-Za-z0-9_+\-]+)*")
# Files in zoneinfo folders that load as zones but are not IANA zone names.
_NOT_ZONES = ("posixrules", "localtime", "posix/", "right/")
_EXAMPLE = "write e.g. 'mon-fri 09:00-18:00'"
_MIDNIGHT = time(0, 0)
_DAY = 24 * 60


class SendWindow(BaseModel):
    """The local hours onboarding emails may go out, and the weekdays the window opens on.

    The window opening on an allowed day stays open until the next ``closes``: later that day, or
    the next morning when ``closes`` is not after ``opens`` (``22:00-06:00``). So ``closes`` of
    00:00 is midnight at the end of the day, written ``24:00``; ``00:00-24:00`` is open all day.
    """

    model_config = ConfigDict(frozen=True)

    days: tuple[int, ...]
    opens: time
    closes: time

    @field_validator("days")
    @classmethod
    def _weekdays(cls, days: tuple[int, ...]) -> tuple[int, ...]:
        if not days or not all(0 <= day <= 6 for day in days):
            raise ValueError("days must be weekdays, 0 (Monday) to 6 (Sunday), at least one")
        return tuple(sorted(set(days)))

    @field_validator("opens", "closes")
    @classmethod
    def _whole_minutes_of_wall_clock(cls, value: time) -> time:
        if value.second or value.microsecond or value.tzinfo is not None:
            raise ValueError("a send window's times are local wall-clock times in whole minutes")
        return value

    @model_validator(mode="after")
    def _opens_and_closes_apart(self) -> SendWindow:
        if self.opens == self.closes and self.opens != _MIDNIGHT:
            raise ValueError(f"a send window cannot open and close at {self.opens:%H:%M}")
        return self

    @classmethod
    def parse(cls, text: str) -> SendWindow:
        """Read ``mon-fri 09:00-18:00``, ``mon,wed,fri 08:30-12:00``, ``fri-mon 22:00-06:00``;
        without weekdays the window opens every day."""
        try:
            days, opens, closes = _read(text)
        except ValueError as problem:
            raise ValueError(f"send window {text!r}: {problem}; {_EXAMPLE}") from None
        return cls(days=days, opens=opens, closes=closes)

    def __str__(self) -> str:
        closes = "24:00" if self.closes == _MIDNIGHT else f"{self.closes:%H:%M}"
        return f"{_days_text(self.days)} {self.opens:%H:%M}-{closes}".lstrip()

    def is_open(self, moment: datetime, time_zone: str) -> bool:
        """Whether an email may go out at ``moment`` (aware) to a reader in ``time_zone``."""
        if moment.utcoffset() is None:
            raise ValueError("a send window needs a timezone-aware moment, e.g. workflow.now()")
        zone = ZoneInfo(time_zone)
        # Yesterday's window may still be open: it closes the next morning when overnight.
        yesterday = moment.astimezone(zone).date() - timedelta(days=1)
        return any(opens <= moment < closes for opens, closes in self._spans(yesterday, 2, zone))

    def next_opening(self, moment: datetime, time_zone: str) -> datetime | None:
        """None when open at ``moment``; else the first instant after it when it is, in UTC."""
        if self.is_open(moment, time_zone):
            return None
        zone = ZoneInfo(time_zone)
        # Two weeks: a spring-forward gap can swallow the only weekday's whole window.
        for opens, closes in self._spans(moment.astimezone(zone).date(), 15, zone):
            if moment < opens < closes:
                return opens
        raise AssertionError(f"send window '{self}' never opens in {time_zone}")

    def _spans(
        self, first: date, count: int, zone: ZoneInfo
    ) -> Iterator[tuple[datetime, datetime]]:
        """When the window opens and closes, as UTC instants, on each allowed day of the
        ``count`` days from ``first``."""
        for day in (first + timedelta(days=n) for n in range(count)):
            if day.weekday() in self.days:
                closing_day = day + timedelta(days=1) if self.closes <= self.opens else day
                yield (
                    _instant(datetime.combine(day, self.opens), zone),
                    _instant(datetime.combine(closing_day, self.closes), zone),
                )


ALWAYS_OPEN = SendWindow(days=tuple(range(7)), opens=_MIDNIGHT, closes=_MIDNIGHT)


def parse_send_window(value: object) -> object:
    """A pydantic ``BeforeValidator``: ``"mon-fri 09:00-18:00"`` as well as a stored window."""
    return SendWindow.parse(value) if isinstance(value, str) else value


def valid_time_zone(name: str | None) -> str | None:
    """``name`` if it is an IANA time zone zoneinfo knows (``Europe/Berlin``), else None."""
    if not isinstance(name, str) or not _ZONE_KEY.fullmatch(name) or name.startswith(_NOT_ZONES):
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # unknown, a folder, not a zone file
        return None
    return name


def _instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant a local wall-clock time names: its first occurrence when the clocks fall
    back over it, the end of the gap when they spring forward over it."""
    first = wall.replace(tzinfo=zone).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == wall:
        return first
    # In a gap, fold=1 reads the time with the offset after the jump, landing before it, and
    # fold=0 with the offset before, landing after it: bisect to the jump.
    before, after = wall.replace(tzinfo=zone, fold=1).astimezone(UTC), first
    offset_before = before.astimezone(zone).utcoffset()
    while after - before > timedelta(seconds=1):
        middle = before + timedelta(seconds=(after - before).total_seconds() // 2)
        if middle.astimezone(zone).utcoffset() == offset_before:
            before = middle
        else:
            after = middle
    return after


def _read(text: str) -> tuple[tuple[int, ...], time, time]:
    """The weekdays, opening and closing time of a window's text, or a ValueError saying why."""
    parts = text.split()
    if not parts:
        raise ValueError("it is empty")
    if len(parts) > 2:
        raise ValueError("expected optional weekdays, one space, then the hours")
    *weekdays, hours = parts
    match = _HOURS.fullmatch(hours)
    if not match:
        raise ValueError(f"'{hours}' is not a time range like '09:00-18:00'")
    opening, closing = match.groups()
    opens, closes = _minute_of_day(opening), _minute_of_day(closing)
    if opens == _DAY:
        raise ValueError("a window cannot open at 24:00")
    if opens == closes:
        raise ValueError(f"it opens and closes at {opening}")
    days = _read_days(weekdays[0]) if weekdays else tuple(range(7))
    return days, time(*divmod(opens, 60)), time(*divmod(closes % _DAY, 60))


def _minute_of_day(clock: str) -> int:
    hour, minute = map(int, clock.split(":"))
    if minute > 59 or hour * 60 + minute > _DAY:
        raise ValueError(f"'{clock}' is not a time of day from 00:00 to 24:00")
    return hour * 60 + minute


def _read_days(text: str) -> tuple[int, ...]:
    days: set[int] = set()
    for item in text.split(","):
        match = _DAY_ITEM.fullmatch(item)
        if not match:
            raise ValueError(f"'{item}' is not a weekday or a range like 'mon-fri'")
        first = _weekday(match[1])
        last = _weekday(match[2]) if match[2] else first
        if match[2] and last == first:
            raise ValueError(f"'{item}' starts and ends on the same weekday")
        # Ranges run forward through the week, wrapping after Sunday: 'fri-mon'.
        days.update((first + n) % 7 for n in range((last - first) % 7 + 1))
    return tuple(sorted(days))


def _weekday(name: str) -> int:
    for number, full_name in enumerate(_WEEKDAY_NAMES):
        if name.lower() in (full_name, full_name[:3]):
            return number
    raise ValueError(f"unknown weekday '{name}'")


def _days_text(days: tuple[int, ...]) -> str:
    """``mon-fri``, ``mon,wed,fri``, ``fri-mon``; empty for every day."""
    if len(days) == 7:
        return ""
    runs = []
    for first in (day for day in days if (day - 1) % 7 not in days):  # each run starts after a gap
        last = first
        while (last + 1) % 7 in days:
            last = (last + 1) % 7
        runs.append(_WEEKDAYS[first] if last == first else f"{_WEEKDAYS[first]}-{_WEEKDAYS[last]}")
    return ",".join(runs)
