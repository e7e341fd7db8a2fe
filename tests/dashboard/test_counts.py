"""The map's counts: one visibility count per value, "other" as the rest, a few at a time, and
one fetch per 30 s however many requests ask (an injected clock stands in for time)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from dashboard.counts import (
    CACHE_SECONDS,
    CachedCounts,
    CountsUnavailable,
    Queries,
    TemporalCounts,
    Window,
)
from dashboard.journey_map import OTHER

STAGES = ["enriching", "waiting_email_2", "paused"]
OUTCOMES = ["converted", "unsubscribed"]
NOW = datetime(2026, 12, 7, 12, 0, 0, 123456, tzinfo=UTC)
RUNNING = "WorkflowType = 'OnboardingJourney' AND ExecutionStatus = 'Running'"


class Counter:
    """Answers from a table of query → count; records every query; can be held or fail."""

    def __init__(self, answers: dict[str, int] | None = None) -> None:
        self.answers = answers or {}
        self.asked: list[str] = []
        self.release = asyncio.Event()
        self.release.set()
        self.failing: Exception | None = None
        self.in_flight = 0
        self.most_in_flight = 0

    async def count(self, query: str) -> int:
        self.asked.append(query)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await self.release.wait()
            await asyncio.sleep(0)
            if self.failing:
                raise self.failing
            return self.answers.get(query, 0)
        finally:
            self.in_flight -= 1


class Clock:
    def __init__(self) -> None:
        self.seconds = 1000.0

    def __call__(self) -> float:
        return self.seconds


def cached(counter: Counter, clock: Clock | None = None, **options: int) -> CachedCounts:
    return CachedCounts(
        counter,
        stages=[*STAGES, OTHER],
        outcomes=[*OUTCOMES, OTHER],
        clock=clock or Clock(),
        now=lambda: NOW,
        **options,  # type: ignore[arg-type]
    )


def test_the_queries_name_one_value_each() -> None:
    queries = Queries(STAGES, OUTCOMES, since=NOW.replace(microsecond=0))
    assert queries.running() == RUNNING
    assert queries.stage("waiting_email_2") == f"{RUNNING} AND JourneyStage = 'waiting_email_2'"
    assert queries.stage(OTHER) == (
        f"{RUNNING} AND (JourneyStage IS NULL OR JourneyStage NOT IN "
        "('enriching', 'waiting_email_2', 'paused'))"
    )
    ended = (
        "WorkflowType = 'OnboardingJourney' AND ExecutionStatus != 'Running' "
        "AND CloseTime > '2026-12-07T12:00:00Z'"
    )
    assert queries.ended() == ended
    assert queries.outcome("converted") == f"{ended} AND JourneyOutcome = 'converted'"
    assert queries.outcome(OTHER) == (
        f"{ended} AND (JourneyOutcome IS NULL OR JourneyOutcome NOT IN "
        "('converted', 'unsubscribed'))"
    )
    with pytest.raises(ValueError, match="cannot be written"):
        queries.stage("it's")


async def test_each_value_is_counted_and_other_is_the_rest() -> None:
    since = (NOW - timedelta(days=7)).replace(microsecond=0)
    queries = Queries(STAGES, OUTCOMES, since)
    counter = Counter(
        {
            queries.running(): 10,
            queries.stage("enriching"): 2,
            queries.stage("waiting_email_2"): 3,
            queries.ended(): 9,
            queries.outcome("converted"): 4,
        }
    )
    counts = await cached(counter).map_counts(Window.WEEK)
    assert counts.stages == {"enriching": 2, "waiting_email_2": 3, "paused": 0, OTHER: 5}
    assert counts.outcomes == {"converted": 4, "unsubscribed": 0, OTHER: 5}
    assert (counts.running, counts.ended) == (10, 9)
    assert counts.since == since
    assert counts.share("converted") == pytest.approx(4 / 9)
    # One count per known value and one total each; "other" is never asked for.
    assert len(counter.asked) == len(set(counter.asked)) == 2 + len(STAGES) + len(OUTCOMES)
    assert not any("NOT IN" in query for query in counter.asked)


async def test_other_never_goes_below_zero() -> None:
    # Counts taken a moment apart can disagree: a journey moves between two of them.
    queries = Queries(STAGES, OUTCOMES, NOW)
    counter = Counter({queries.running(): 1, queries.stage("enriching"): 2})
    counts = await cached(counter).map_counts(Window.DAY)
    assert counts.stages[OTHER] == 0


async def test_the_json_form_has_stages_outcomes_and_links() -> None:
    counts = await cached(Counter()).map_counts(Window.MONTH)
    data = counts.to_dict(lambda query: f"ui?{query}")
    assert set(data["stages"]) == {*STAGES, OTHER}
    assert set(data["outcomes"]) == {*OUTCOMES, OTHER}
    assert data["window"] == "30d"
    assert data["since"] == "2026-11-07T12:00:00Z"
    assert data["links"]["stages"]["paused"] == f"ui?{counts.queries.stage('paused')}"
    assert data["shares"]["converted"] is None  # nothing ended


async def test_one_fetch_serves_every_request_for_30_seconds() -> None:
    clock = Clock()
    counter = Counter()
    counts = cached(counter, clock)
    await counts.map_counts(Window.WEEK)
    per_fetch = len(counter.asked)
    clock.seconds += CACHE_SECONDS - 0.5
    await counts.map_counts(Window.WEEK)
    assert len(counter.asked) == per_fetch
    clock.seconds += 1
    await counts.map_counts(Window.WEEK)
    assert len(counter.asked) == 2 * per_fetch


async def test_the_windows_share_the_stage_counts() -> None:
    counter = Counter()
    counts = cached(counter)
    await counts.map_counts(Window.WEEK)
    await counts.map_counts(Window.DAY)
    stage_queries = [q for q in counter.asked if "JourneyStage =" in q]
    assert len(stage_queries) == len(STAGES)
    assert len([q for q in counter.asked if "JourneyOutcome =" in q]) == 2 * len(OUTCOMES)


async def test_concurrent_requests_share_one_fetch() -> None:
    counter = Counter()
    counter.release.clear()
    counts = cached(counter)
    requests = [asyncio.create_task(counts.map_counts(Window.WEEK)) for _ in range(20)]
    await asyncio.sleep(0.01)
    counter.release.set()
    answers = await asyncio.gather(*requests)
    assert len(counter.asked) == 2 + len(STAGES) + len(OUTCOMES)
    assert all(answer == answers[0] for answer in answers)


async def test_a_request_that_goes_away_does_not_cancel_the_others() -> None:
    counter = Counter()
    counter.release.clear()
    counts = cached(counter)
    leaving = asyncio.create_task(counts.map_counts(Window.WEEK))
    staying = asyncio.create_task(counts.map_counts(Window.WEEK))
    await asyncio.sleep(0.01)
    leaving.cancel()
    counter.release.set()
    assert (await staying).running == 0
    assert len(counter.asked) == 2 + len(STAGES) + len(OUTCOMES)


async def test_counts_run_a_few_at_a_time() -> None:
    counter = Counter()
    await cached(counter, concurrency=2).map_counts(Window.WEEK)
    assert counter.most_in_flight == 2


async def test_a_failed_fetch_is_not_kept() -> None:
    counter = Counter()
    counter.failing = CountsUnavailable("Temporal did not answer a count.")
    counts = cached(counter)
    with pytest.raises(CountsUnavailable):
        await counts.map_counts(Window.WEEK)
    counter.failing = None
    assert (await counts.map_counts(Window.WEEK)).running == 0


async def test_an_unreachable_temporal_is_one_sentence() -> None:
    from common.connection import TemporalUnreachable

    async def unreachable() -> object:
        raise TemporalUnreachable("cannot reach Temporal at localhost:1: is the server running?")

    source = TemporalCounts(connecting=unreachable)  # type: ignore[arg-type]
    with pytest.raises(CountsUnavailable, match=r"^Cannot reach Temporal at localhost:1"):
        await source.count(RUNNING)
