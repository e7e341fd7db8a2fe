"""How many journeys are at each stage now, and how many ended at each outcome in a window: from
Temporal visibility, one count per value, fetched together and cached.

The visibility store groups by ``ExecutionStatus`` only, so each stage and each outcome is its
own ``count_workflows``; a page needs about thirty. They run a few at a time, and their answer is
kept for ``CACHE_SECONDS``: every request in that time, and every request that arrives while the
counts are being fetched, gets the same answer, so a busy page stays inside the namespace's
visibility rate limit. Journeys with a value the code does not know (or none) are the
difference between the total and the known values: ``other``, never dropped.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from temporalio.client import Client
from temporalio.service import RPCError

from common.connection import TemporalUnreachable, connect
from common.durations import parse_offset
from dashboard.journey_map import OTHER
from workflows import search_attributes as sa

WORKFLOW_TYPE = "OnboardingJourney"
CACHE_SECONDS = 30.0
CONCURRENT_COUNTS = 6

T = TypeVar("T")


class Window(StrEnum):
    """How far back the outcomes are counted."""

    DAY = "24h"
    WEEK = "7d"
    MONTH = "30d"

    @property
    def duration(self) -> timedelta:
        return parse_offset(self.value)

    @property
    def label(self) -> str:
        return {"24h": "24 hours", "7d": "7 days", "30d": "30 days"}[self.value]


class CountsUnavailable(Exception):
    """The counts cannot be fetched now; the message is one sentence."""


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _quoted(value: str) -> str:
    if "'" in value or "\\" in value:
        raise ValueError(f"{value!r} cannot be written in a visibility query")
    return f"'{value}'"


@dataclass(frozen=True)
class Queries:
    """The visibility queries behind each number: what is counted, and what the Web UI lists."""

    stages: Sequence[str]  # the stage values the code knows
    outcomes: Sequence[str]  # the outcome values the code knows
    since: datetime  # the start of the outcomes' window

    def running(self) -> str:
        return f"WorkflowType = '{WORKFLOW_TYPE}' AND ExecutionStatus = 'Running'"

    def ended(self) -> str:
        return (
            f"WorkflowType = '{WORKFLOW_TYPE}' AND ExecutionStatus != 'Running' "
            f"AND CloseTime > '{rfc3339(self.since)}'"
        )

    def stage(self, value: str) -> str:
        """Running journeys at ``value``; ``other``: at a value not in ``stages``, or none."""
        return f"{self.running()} AND {self._matching(sa.JOURNEY_STAGE.name, value, self.stages)}"

    def outcome(self, value: str) -> str:
        """Journeys that ended at ``value`` in the window; ``other``: at a value not in
        ``outcomes``, or without one (terminated, timed out, failed)."""
        name = sa.JOURNEY_OUTCOME.name
        return f"{self.ended()} AND {self._matching(name, value, self.outcomes)}"

    @staticmethod
    def _matching(attribute: str, value: str, known: Sequence[str]) -> str:
        if value != OTHER:
            return f"{attribute} = {_quoted(value)}"
        listed = ", ".join(_quoted(v) for v in known)
        return f"({attribute} IS NULL OR {attribute} NOT IN ({listed}))"


@dataclass(frozen=True)
class MapCounts:
    """The journey map's numbers, as counted at ``counted_at``."""

    window: Window
    since: datetime
    counted_at: datetime
    running: int
    ended: int
    stages: dict[str, int]  # every known stage in order, then "other"
    outcomes: dict[str, int]  # every known outcome, then "other"
    queries: Queries = field(repr=False)

    def share(self, outcome: str) -> float | None:
        """The share of the journeys that ended in the window which ended at ``outcome``."""
        return self.outcomes.get(outcome, 0) / self.ended if self.ended else None

    def to_dict(self, links: Callable[[str], str]) -> dict[str, Any]:
        """The JSON form; ``links`` turns a visibility query into its Web UI list's address."""
        queries = self.queries
        return {
            "window": self.window.value,
            "since": rfc3339(self.since),
            "counted_at": rfc3339(self.counted_at),
            "cache_seconds": CACHE_SECONDS,
            "running": self.running,
            "ended": self.ended,
            "stages": dict(self.stages),
            "outcomes": dict(self.outcomes),
            "shares": {outcome: self.share(outcome) for outcome in self.outcomes},
            "links": {
                "running": links(queries.running()),
                "ended": links(queries.ended()),
                "stages": {value: links(queries.stage(value)) for value in self.stages},
                "outcomes": {value: links(queries.outcome(value)) for value in self.outcomes},
            },
        }


class CountSource(Protocol):
    """Counts the workflows a visibility query matches."""

    async def count(self, query: str) -> int: ...


class TemporalCounts:
    """``count_workflows`` on the namespace; connects on first use when given no client."""

    def __init__(
        self, client: Client | None = None, *, connecting: Callable[[], Awaitable[Client]] = connect
    ) -> None:
        self._client = client
        self._connecting = connecting
        self._lock = asyncio.Lock()

    async def _connected(self) -> Client:
        async with self._lock:
            if self._client is None:
                try:
                    self._client = await self._connecting()
                except TemporalUnreachable as exc:
                    message = str(exc)
                    raise CountsUnavailable(message[:1].upper() + message[1:]) from None
            return self._client

    async def count(self, query: str) -> int:
        client = await self._connected()
        try:
            return (await client.count_workflows(query)).count
        except RPCError as exc:
            raise CountsUnavailable(
                f"Temporal did not answer a count ({exc.message or exc.status.name}); "
                "the page will try again."
            ) from None


@dataclass
class _Fetch:
    started: float
    task: asyncio.Task[Any]


class CachedCounts:
    """The map's counts, each set fetched at most once per ``ttl`` seconds whoever asks.

    The stage counts do not depend on the window and are shared by all three; the outcome counts
    are kept per window. A failed fetch is forgotten, so the next request tries again.
    """

    def __init__(
        self,
        source: CountSource,
        *,
        stages: Sequence[str],
        outcomes: Sequence[str],
        ttl: float = CACHE_SECONDS,
        concurrency: int = CONCURRENT_COUNTS,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._source = source
        self._stages = [s for s in stages if s != OTHER]
        self._outcomes = [o for o in outcomes if o != OTHER]
        self._ttl = ttl
        self._limit = asyncio.Semaphore(concurrency)
        self._clock = clock
        self._now = now
        self._fetches: dict[str, _Fetch] = {}

    async def map_counts(self, window: Window) -> MapCounts:
        (stages_at, running, stages), (outcomes_at, since, ended, outcomes) = await asyncio.gather(
            self._shared("stages", self._count_stages),
            self._shared(f"outcomes {window}", lambda: self._count_outcomes(window)),
        )
        return MapCounts(
            window=window,
            since=since,
            counted_at=min(stages_at, outcomes_at),
            running=running,
            ended=ended,
            stages=stages,
            outcomes=outcomes,
            queries=Queries(self._stages, self._outcomes, since),
        )

    async def _shared(self, key: str, fetch: Callable[[], Awaitable[T]]) -> T:
        """The fetch under ``key`` started less than ``ttl`` ago, or still running; else a new
        one. Shielded: a request that goes away does not cancel the others' answer."""
        now = self._clock()
        current = self._fetches.get(key)
        if current is None or (current.task.done() and now - current.started >= self._ttl):
            current = _Fetch(now, asyncio.ensure_future(fetch()))
            self._fetches[key] = current
            current.task.add_done_callback(lambda task: self._forget_failure(key, task))
        result: T = await asyncio.shield(current.task)
        return result

    def _forget_failure(self, key: str, task: asyncio.Task[Any]) -> None:
        if task.cancelled() or task.exception() is not None:
            current = self._fetches.get(key)
            if current is not None and current.task is task:
                del self._fetches[key]

    async def _count(self, query: str) -> int:
        async with self._limit:
            return await self._source.count(query)

    async def _count_all(self, total: str, queries: list[str]) -> tuple[int, list[int]]:
        first, *rest = await asyncio.gather(self._count(total), *map(self._count, queries))
        return first, rest

    async def _count_stages(self) -> tuple[datetime, int, dict[str, int]]:
        counted_at = self._now()
        queries = Queries(self._stages, self._outcomes, counted_at)
        running, counts = await self._count_all(
            queries.running(), [queries.stage(s) for s in self._stages]
        )
        stages = dict(zip(self._stages, counts, strict=True))
        stages[OTHER] = max(0, running - sum(counts))
        return counted_at, running, stages

    async def _count_outcomes(
        self, window: Window
    ) -> tuple[datetime, datetime, int, dict[str, int]]:
        counted_at = self._now()
        # Whole seconds: the queries, the links and the JSON all say the same instant.
        since = (counted_at - window.duration).replace(microsecond=0)
        queries = Queries(self._stages, self._outcomes, since)
        ended, counts = await self._count_all(
            queries.ended(), [queries.outcome(o) for o in self._outcomes]
        )
        outcomes = dict(zip(self._outcomes, counts, strict=True))
        outcomes[OTHER] = max(0, ended - sum(counts))
        return counted_at, since, ended, outcomes
