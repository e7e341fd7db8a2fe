"""The scenarios: each one run against a ``Lab``, returning plain numbers."""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from rich.progress import Progress
from standardwebhooks.webhooks import Webhook
from temporalio.common import WorkflowIDReusePolicy

from bench import noop
from bench.lab import Lab, fast_config
from sandbox.fixtures import sample_signups
from workflows.journey import OnboardingJourney
from workflows.models import TASK_QUEUE, JourneyConfig, JourneyInput, Signup, journey_id

T = TypeVar("T")

# Enrich, save, look up the stack, save, three emails.
ACTIVITIES_PER_JOURNEY = 7
# Parked journeys wait here between email 1 and email 2.
PARKED_SCHEDULE = (timedelta(0), timedelta(minutes=10), timedelta(minutes=20))


def signup(tag: str, n: int, fixture: str) -> dict[str, Any]:
    """A copy of the sample signup of ``fixture`` (e.g. ``shopbright``) as its own user."""
    sample = next(s for s in sample_signups() if s["user_id"] == f"demo-{fixture}")
    local, _, domain = str(sample["email"]).partition("@")
    return {**sample, "user_id": f"bench-{tag}-{n:05d}", "email": f"{local}+{tag}{n}@{domain}"}


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100), by linear interpolation."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


async def bounded(
    items: Sequence[T],
    concurrency: int,
    action: Callable[[T], Awaitable[None]],
    progress: Progress,
    description: str,
) -> None:
    """``action`` on every item, ``concurrency`` at a time, with a progress bar."""
    gate = asyncio.Semaphore(concurrency)
    task = progress.add_task(description, total=len(items))

    async def one(item: T) -> None:
        async with gate:
            await action(item)
        progress.advance(task)

    try:
        await asyncio.gather(*(one(item) for item in items))
    finally:
        progress.remove_task(task)


@dataclass
class Timed:
    """Requests' outcomes: how many were accepted, their latencies, the wall time of the batch."""

    accepted: int
    latencies: list[float]
    seconds: float

    def summary(self) -> dict[str, float]:
        return {
            "per_s": self.accepted / self.seconds if self.seconds else 0.0,
            "p50_ms": percentile(self.latencies, 50) * 1000,
            "p99_ms": percentile(self.latencies, 99) * 1000,
        }


async def deliver(lab: Lab, event: dict[str, Any], signer: Webhook) -> float | None:
    """One signed Standard Webhooks delivery; the wall-clock moment of its 202, or None."""
    body = json.dumps(event)
    message_id = f"msg_{event['user_id']}"
    now = int(time.time())
    headers = {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(now),
        "webhook-signature": signer.sign(message_id, datetime.fromtimestamp(now, UTC), body),
    }
    response = await lab.http.post(lab.webhook_url, content=body, headers=headers)
    return time.time() if response.status_code == 202 else None


async def through_webhook(
    lab: Lab, events: list[dict[str, Any]], concurrency: int, progress: Progress
) -> tuple[Timed, dict[str, float]]:
    """Every event through the webhook; also each accepted journey's moment of acceptance."""
    signer = Webhook(lab.secret)
    latencies: list[float] = []
    accepted_at: dict[str, float] = {}

    async def one(event: dict[str, Any]) -> None:
        began = time.monotonic()
        at = await deliver(lab, event, signer)
        if at is not None:
            latencies.append(time.monotonic() - began)
            accepted_at[journey_id(event["user_id"])] = at

    began = time.monotonic()
    await bounded(events, concurrency, one, progress, "signups → webhook")
    return Timed(len(accepted_at), latencies, time.monotonic() - began), accepted_at


async def bare_starts(
    lab: Lab,
    events: list[dict[str, Any]],
    config: JourneyConfig,
    concurrency: int,
    progress: Progress,
    description: str = "bare start_workflow",
) -> Timed:
    latencies: list[float] = []

    async def one(event: dict[str, Any]) -> None:
        began = time.monotonic()
        user = Signup.model_validate(event)
        await lab.client.start_workflow(
            OnboardingJourney.run,
            JourneyInput(signup=user, config=config),
            id=journey_id(user.user_id),
            task_queue=TASK_QUEUE,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
        latencies.append(time.monotonic() - began)

    began = time.monotonic()
    await bounded(events, concurrency, one, progress, description)
    return Timed(len(latencies), latencies, time.monotonic() - began)


async def wait_closed(lab: Lab, workflow_ids: list[str], progress: Progress, what: str) -> float:
    """Wait for every workflow's result; returns the monotonic moment the last one closed."""
    last = time.monotonic()

    async def one(workflow_id: str) -> None:
        nonlocal last
        await lab.client.get_workflow_handle(workflow_id).result()
        last = max(last, time.monotonic())

    await bounded(workflow_ids, 200, one, progress, what)
    return last


async def ingest(
    lab: Lab, tag: str, count: int, concurrency: int, progress: Progress
) -> dict[str, float]:
    """Signups through the webhook, then as many bare ``start_workflow`` calls; each batch's
    journeys run to the end before the next batch, so the worker's load is the same for both."""
    hooked = [signup(f"{tag}w", n, "shopbright") for n in range(count)]
    timed, accepted = await through_webhook(lab, hooked, concurrency, progress)
    await wait_closed(lab, list(accepted), progress, "ingested journeys closing")
    bare = [signup(f"{tag}b", n, "shopbright") for n in range(count)]
    direct = await bare_starts(lab, bare, fast_config(), concurrency, progress)
    await wait_closed(lab, [journey_id(e["user_id"]) for e in bare], progress, "closing")
    webhook, started = timed.summary(), direct.summary()
    return {
        "webhook_per_s": webhook["per_s"],
        "webhook_p50_ms": webhook["p50_ms"],
        "webhook_p99_ms": webhook["p99_ms"],
        "bare_per_s": started["per_s"],
        "bare_p50_ms": started["p50_ms"],
        "bare_p99_ms": started["p99_ms"],
        "webhook_to_bare": webhook["per_s"] / started["per_s"] if started["per_s"] else 0.0,
    }


async def journey_throughput(
    lab: Lab, tag: str, count: int, concurrency: int, progress: Progress
) -> dict[str, float]:
    """``count`` journeys (each ``ACTIVITIES_PER_JOURNEY`` vendor calls) from first start to last
    close."""
    events = [signup(tag, n, "shopbright") for n in range(count)]
    began = time.monotonic()
    await bare_starts(lab, events, fast_config(), concurrency, progress, "journeys starting")
    ended = await wait_closed(
        lab, [journey_id(e["user_id"]) for e in events], progress, "journeys closing"
    )
    seconds = ended - began
    return {
        "journeys_per_s": count / seconds,
        "activities_per_s": count * ACTIVITIES_PER_JOURNEY / seconds,
    }


async def ceiling(
    lab: Lab, tag: str, count: int, concurrency: int, progress: Progress
) -> dict[str, float]:
    """As many no-op workflows of as many no-op activities, on the no-op worker."""
    ids = [f"bench-noop-{tag}-{n:05d}" for n in range(count)]
    client = lab.plain_client

    async def start(workflow_id: str) -> None:
        await client.start_workflow(
            noop.NoopJourney.run,
            ACTIVITIES_PER_JOURNEY,
            id=workflow_id,
            task_queue=noop.TASK_QUEUE,
        )

    last = time.monotonic()

    async def close(workflow_id: str) -> None:
        nonlocal last
        await client.get_workflow_handle(workflow_id).result()
        last = max(last, time.monotonic())

    began = time.monotonic()
    await bounded(ids, concurrency, start, progress, "no-op workflows starting")
    await bounded(ids, 200, close, progress, "no-op workflows closing")
    seconds = last - began
    return {
        "workflows_per_s": count / seconds,
        "activities_per_s": count * ACTIVITIES_PER_JOURNEY / seconds,
    }


async def throughput(
    lab: Lab, tag: str, count: int, concurrency: int, progress: Progress
) -> dict[str, float]:
    journeys = await journey_throughput(lab, tag, count, concurrency, progress)
    engine = await ceiling(lab, tag, count, concurrency, progress)
    return {
        "journeys_per_s": journeys["journeys_per_s"],
        "activities_per_s": journeys["activities_per_s"],
        "ceiling_workflows_per_s": engine["workflows_per_s"],
        "ceiling_activities_per_s": engine["activities_per_s"],
        "journeys_to_ceiling": journeys["journeys_per_s"] / engine["workflows_per_s"],
    }


async def alert_latency(
    lab: Lab, tag: str, count: int, progress: Progress, rate_per_s: float = 10.0
) -> dict[str, float]:
    """Enterprise signups through the webhook, paced at ``rate_per_s``: from the 202 to the
    moment Slack stored the journey's sales alert."""
    events = [signup(tag, n, "globex") for n in range(count)]
    signer = Webhook(lab.secret)
    accepted: dict[str, float] = {}
    task = progress.add_task("enterprise signups", total=count)

    async def one(n: int, event: dict[str, Any]) -> None:
        await asyncio.sleep(n / rate_per_s)
        at = await deliver(lab, event, signer)
        if at is not None:
            accepted[journey_id(event["user_id"])] = at
        progress.advance(task)

    await asyncio.gather(*(one(n, e) for n, e in enumerate(events)))
    progress.remove_task(task)
    await wait_closed(lab, list(accepted), progress, "sales alerts")
    posted: dict[str, float] = {}
    for message in lab.sandbox.state.slack_messages():
        payload = (message.metadata or {}).get("event_payload") or {}
        journey = payload.get("journey_id")
        if journey in accepted:
            posted[journey] = datetime.fromisoformat(message.posted_at).timestamp()
    latencies = [posted[j] - accepted[j] for j in posted]
    return {
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "alerts": float(len(latencies)),
    }


async def in_flight(
    lab: Lab, tag: str, levels: Sequence[int], probe: int, concurrency: int, progress: Progress
) -> list[dict[str, float]]:
    """Journeys parked between email 1 and email 2, level after level: the worker's memory and
    the database's bytes per journey at each, and the throughput of ``probe`` fresh journeys
    alongside them."""
    config = fast_config(PARKED_SCHEDULE)
    state = lab.sandbox.state
    rows: list[dict[str, float]] = []
    parked = 0
    db_before = lab.db_bytes()
    rss_before = lab.worker_rss()
    for level in levels:
        events = [signup(f"{tag}p", n, "shopbright") for n in range(parked, level)]
        prefix = f"onboarding-bench-{tag}p-"
        began = time.monotonic()
        await bare_starts(lab, events, config, concurrency, progress, f"parking {level}")
        task = progress.add_task(f"email 1 of {level} parked", total=level)
        while True:
            first_emails = sum(
                1
                for e in state.sent_emails()
                if (e.idempotency_key or "").startswith(prefix)
                and (e.idempotency_key or "").endswith("/email-1")
            )
            progress.update(task, completed=first_emails)
            if first_emails >= level:
                break
            await asyncio.sleep(0.5)
        progress.remove_task(task)
        park_seconds = time.monotonic() - began
        await asyncio.sleep(2.0)  # the last workflow tasks after email 1 complete
        parked = level
        rss = lab.worker_rss()
        db = lab.db_bytes()
        probed = await journey_throughput(lab, f"{tag}q{level}", probe, concurrency, progress)
        rows.append(
            {
                "journeys": float(level),
                "worker_rss_mb": rss / 2**20,
                "worker_rss_growth_mb": (rss - rss_before) / 2**20,
                "db_bytes_per_journey": (db - db_before) / level,
                "parked_per_s": len(events) / park_seconds,
                "journeys_per_s": probed["journeys_per_s"],
            }
        )
    return rows


def spread(values: Sequence[float]) -> dict[str, Any]:
    """Median and min-max of one measure over the runs."""
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "runs": list(values),
    }
