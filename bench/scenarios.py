"""The scenarios: each one run against a ``Lab``, returning plain numbers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import statistics
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from rich.progress import Progress
from standardwebhooks.webhooks import Webhook
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory
from temporalio.common import TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.service import RPCError

from activities.settings import DEFAULT_QUEUE_RATES, VendorSettings
from activities.vendors import DOCUMENTED_RATE_LIMITS
from activities.vendors import VENDOR_NAMES as VENDORS
from activities.warehouse import Warehouse
from bench import noop
from bench.lab import Lab, cpu_seconds, fast_config
from sandbox import AcceptedEmail
from sandbox.fixtures import sample_signups, synthetic_domain
from workflows import search_attributes as sa
from workflows.journey import OnboardingJourney
from workflows.models import (
    TASK_QUEUE,
    JourneyConfig,
    JourneyInput,
    RescheduleRequest,
    Signup,
    journey_id,
)

T = TypeVar("T")

# The ceiling before it took the journey's shape: one regular activity per step of the journey,
# kept beside the new one so the change shows in a run.
OLD_CEILING_ACTIVITIES = 7
# Parked journeys wait here between email 1 and email 2, long enough for 10,000 to park.
PARKED_SCHEDULE = (timedelta(0), timedelta(hours=1), timedelta(hours=2))


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
            search_attributes=sa.at_start(),  # as the product's starters start a journey
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
    """``count`` journeys from first start to last close."""
    events = [signup(tag, n, "shopbright") for n in range(count)]
    await lab.settle()
    cpu = lab.worker_cpu()
    began = time.monotonic()
    await bare_starts(lab, events, fast_config(), concurrency, progress, "journeys starting")
    ended = await wait_closed(
        lab, [journey_id(e["user_id"]) for e in events], progress, "journeys closing"
    )
    return {
        "journeys_per_s": count / (ended - began),
        "worker_cpu_ms_per_journey": (lab.worker_cpu() - cpu) * 1000 / count,
    }


# The history events Temporal Cloud bills as one action each (its pricing page): a start, each
# activity attempt, each timer, each signal, update and search-attribute upsert (but the SDK's
# own for a patch; a start's attributes come with the start), each marker.
BILLED_EVENTS = {
    "WorkflowExecutionStarted",
    "TimerStarted",
    "WorkflowExecutionSignaled",
    "UpsertWorkflowSearchAttributes",
    "MarkerRecorded",
    "WorkflowExecutionUpdateAccepted",
}
# The marker the SDK records with a local activity's result.
LOCAL_ACTIVITY_MARKER = "core_local_activity"
# What a journey's commands leave in its history that the no-op does not replay: a journey that
# issues one has outgrown the ceiling's shape, and the benchmark says so rather than undercount.
UNREPLAYED = {
    "MarkerRecorded",  # any marker but a local activity's, e.g. a patch's
    "TimerCanceled",
    "ActivityTaskCancelRequested",
    "StartChildWorkflowExecutionInitiated",
    "SignalExternalWorkflowExecutionInitiated",
    "RequestCancelExternalWorkflowExecutionInitiated",
    "NexusOperationScheduled",
    "WorkflowPropertiesModified",
    "WorkflowExecutionContinuedAsNew",
}


def event_kind(event: HistoryEvent) -> str:
    """``EVENT_TYPE_ACTIVITY_TASK_SCHEDULED`` → ``ActivityTaskScheduled``."""
    name = EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")
    return "".join(part.capitalize() for part in name.split("_"))


def billed_upsert(event: HistoryEvent) -> bool:
    """False for the upsert the SDK makes for ``workflow.patched`` (``TemporalChangeVersion``
    alone), which is not billed; True for any other event."""
    if not event.HasField("upsert_workflow_search_attributes_event_attributes"):
        return True
    fields = event.upsert_workflow_search_attributes_event_attributes.search_attributes
    return set(fields.indexed_fields) != {"TemporalChangeVersion"}


def history_costs(histories: Sequence[WorkflowHistory]) -> dict[str, float]:
    """What one closed journey's history holds, on average over ``histories``."""
    events = actions = activities = workflow_tasks = size = 0
    for history in histories:
        for event in history.events:
            size += event.ByteSize()
            kind = event_kind(event)
            events += 1
            if kind in BILLED_EVENTS and billed_upsert(event):
                actions += 1
            elif kind == "ActivityTaskStarted":
                actions += 1  # one per attempt: a retried call is billed again
                activities += 1
            elif kind == "WorkflowTaskCompleted":
                workflow_tasks += 1
    n = max(len(histories), 1)
    return {
        "history_events": events / n,
        "history_bytes": size / n,
        "actions": actions / n,
        "activity_executions": activities / n,
        "workflow_tasks": workflow_tasks / n,
    }


def journey_shape(history: WorkflowHistory) -> noop.Shape:
    """The commands a journey issued, in its order, read from its history: each activity with
    its task queue (relative to the journey's), each local activity, upsert and timer."""
    events = list(history.events)
    started = events[0].workflow_execution_started_event_attributes
    own_queue = started.task_queue.name
    steps: list[noop.Step] = []
    for event in events:
        kind = event_kind(event)
        if kind == "ActivityTaskScheduled":
            scheduled = event.activity_task_scheduled_event_attributes
            queue = scheduled.task_queue.name
            if not queue.startswith(own_queue):
                raise ValueError(f"an activity on {queue}, not beside the journey's {own_queue}")
            steps.append(
                noop.Step(
                    noop.Command.ACTIVITY,
                    scheduled.activity_type.name,
                    queue_suffix=queue.removeprefix(own_queue),
                )
            )
        elif kind == "MarkerRecorded" and (
            event.marker_recorded_event_attributes.marker_name == LOCAL_ACTIVITY_MARKER
        ):
            steps.append(noop.Step(noop.Command.LOCAL_ACTIVITY, local_activity_type(event)))
        elif kind == "UpsertWorkflowSearchAttributes":
            steps.append(noop.Step(noop.Command.UPSERT))
        elif kind == "TimerStarted":
            length = event.timer_started_event_attributes.start_to_fire_timeout
            steps.append(
                noop.Step(noop.Command.TIMER, seconds=length.ToTimedelta().total_seconds())
            )
        elif kind in UNREPLAYED:
            raise ValueError(
                f"the no-op workflow cannot replay the journey's {kind} (event {event.event_id})"
            )
    return noop.Shape(steps)


def local_activity_type(marker: HistoryEvent) -> str:
    """The activity type a local-activity marker names (the SDK writes it as plain JSON)."""
    details = marker.marker_recorded_event_attributes.details
    try:
        return str(json.loads(details["data"].payloads[0].data)["activity_type"])
    except (KeyError, IndexError, ValueError):
        return noop.NOOP


def commonest_shape(histories: Sequence[WorkflowHistory]) -> noop.Shape:
    """The shape most of ``histories`` share (a journey whose call was retried has another)."""
    shapes = Counter(tuple(journey_shape(h).steps) for h in histories)
    steps, _ = shapes.most_common(1)[0]
    return noop.Shape(list(steps))


async def ceiling(
    lab: Lab,
    tag: str,
    count: int,
    concurrency: int,
    progress: Progress,
    shape: noop.Shape,
    search_attributes: TypedSearchAttributes = TypedSearchAttributes.empty,
) -> dict[str, float]:
    """As many no-op workflows of ``shape``, on the no-op worker."""
    missing = {noop.TASK_QUEUE + s for s in shape.queue_suffixes} - set(noop.served_queues())
    if missing:
        raise RuntimeError(
            f"the no-op worker polls no {', '.join(sorted(missing))}: "
            "add the queue to bench.noop.served_queues"
        )
    ids = [f"bench-noop-{tag}-{n:05d}" for n in range(count)]
    client = lab.plain_client

    async def start(workflow_id: str) -> None:
        await client.start_workflow(
            noop.NoopJourney.run,
            shape,
            id=workflow_id,
            task_queue=noop.TASK_QUEUE,
            search_attributes=search_attributes,
        )

    await lab.settle()
    assert lab.noop_worker is not None and lab.noop_worker.pid is not None
    cpu = cpu_seconds(lab.noop_worker.pid)
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
        "activities_per_s": count * shape.activities / seconds,
        "worker_cpu_ms_per_workflow": (cpu_seconds(lab.noop_worker.pid) - cpu) * 1000 / count,
    }


async def throughput(
    lab: Lab, tag: str, count: int, concurrency: int, progress: Progress
) -> dict[str, float]:
    """Journeys, then the ceiling: no-op workflows of the journeys' own shape (counted from their
    histories), started as a journey is; and the old ceiling of regular activities alone."""
    journeys = await journey_throughput(lab, tag, count, concurrency, progress)
    sample = [journey_id(signup(tag, n, "shopbright")["user_id"]) for n in range(min(count, 10))]
    histories = [await lab.client.get_workflow_handle(w).fetch_history() for w in sample]
    shape = commonest_shape(histories)
    progress.console.log(f"the ceiling's shape, from the journeys' histories: {shape.describe()}")
    engine = await ceiling(lab, tag, count, concurrency, progress, shape, sa.at_start())
    old_shape = noop.regular_activities(OLD_CEILING_ACTIVITIES)
    old = await ceiling(lab, f"{tag}old", count, concurrency, progress, old_shape)
    rate = journeys["journeys_per_s"]
    return {
        **history_costs(histories),
        "worker_cpu_ms_per_journey": journeys["worker_cpu_ms_per_journey"],
        "journeys_per_s": rate,
        "activities_per_s": rate * shape.activities,
        "shape_activities": float(shape.count(noop.Command.ACTIVITY)),
        "shape_task_queues": float(len(shape.queue_suffixes)),
        "shape_local_activities": float(shape.count(noop.Command.LOCAL_ACTIVITY)),
        "shape_upserts": float(shape.count(noop.Command.UPSERT)),
        "shape_timers": float(shape.count(noop.Command.TIMER)),
        "ceiling_workflows_per_s": engine["workflows_per_s"],
        "ceiling_activities_per_s": engine["activities_per_s"],
        "ceiling_worker_cpu_ms_per_workflow": engine["worker_cpu_ms_per_workflow"],
        "journeys_to_ceiling": rate / engine["workflows_per_s"],
        "old_ceiling_activities": float(OLD_CEILING_ACTIVITIES),
        "old_ceiling_workflows_per_s": old["workflows_per_s"],
        "old_ceiling_activities_per_s": old["activities_per_s"],
        "journeys_to_old_ceiling": rate / old["workflows_per_s"],
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


def emails_numbered(lab: Lab, prefix: str, number: int) -> list[AcceptedEmail]:
    """The emails ``number`` the sandbox accepted for journeys whose ID starts with ``prefix``."""
    suffix = f"/email-{number}"
    return [
        e
        for e in lab.sandbox.state.sent_emails()
        if (key := e.idempotency_key or "").startswith(prefix) and key.endswith(suffix)
    ]


async def until_count(
    count: Callable[[], int], total: int, progress: Progress, description: str
) -> None:
    task = progress.add_task(description, total=total)
    try:
        while (done := count()) < total:
            progress.update(task, completed=done)
            await asyncio.sleep(0.5)
    finally:
        progress.remove_task(task)


async def in_flight(
    lab: Lab,
    tag: str,
    levels: Sequence[int],
    probe: int,
    concurrency: int,
    progress: Progress,
    drain_rate: float,
) -> dict[str, Any]:
    """Journeys parked between email 1 and email 2, level after level: the worker's memory and
    the database's bytes per journey at each, and the throughput of ``probe`` fresh journeys
    alongside them. Then every parked journey's email 2 is moved to one moment (the
    ``reschedule`` update) and sent under a Resend limit of ``drain_rate`` per second."""
    config = fast_config(PARKED_SCHEDULE)
    rows: list[dict[str, float]] = []
    parked: list[str] = []
    dashboard = await lab.start_dashboard()
    prefix = journey_id(f"bench-{tag}p-")
    db_before = lab.db_bytes()
    rss_before = lab.worker_rss()
    for level in levels:
        events = [signup(f"{tag}p", n, "shopbright") for n in range(len(parked), level)]
        began = time.monotonic()
        await bare_starts(lab, events, config, concurrency, progress, f"parking {level}")
        await until_count(
            lambda: len(emails_numbered(lab, prefix, 1)), level, progress, f"{level} parked"
        )
        park_seconds = time.monotonic() - began
        await asyncio.sleep(2.0)  # the last workflow tasks after email 1 complete
        parked += [journey_id(e["user_id"]) for e in events]
        rss = lab.worker_rss()
        db = lab.db_bytes()
        page = await map_page_times(lab, dashboard, progress)
        probed = await journey_throughput(lab, f"{tag}q{level}", probe, concurrency, progress)
        rows.append(
            {
                "journeys": float(level),
                "worker_rss_mb": rss / 2**20,
                "worker_rss_growth_mb": (rss - rss_before) / 2**20,
                "db_bytes_per_journey": (db - db_before) / level,
                "parked_per_s": len(events) / park_seconds,
                "journeys_per_s": probed["journeys_per_s"],
                **page,
            }
        )
    drain = await email_two_together(lab, prefix, parked, drain_rate, progress)
    await terminate(lab, parked, progress)
    return {"levels": rows, "drain": drain}


# The dashboard keeps the map's counts this long; a cold page waits it out.
MAP_CACHE_SECONDS = 30.0


async def map_page_times(
    lab: Lab, dashboard: str, progress: Progress, cold: int = 3, warm: int = 20
) -> dict[str, float]:
    """The journey map's page (``/``) as a browser asks for it: cold (every count fetched from
    visibility, after the cache expired) and warm (from the cache), median seconds."""
    task = progress.add_task("journey map page", total=cold + warm)

    async def timed() -> float:
        began = time.monotonic()
        answer = await lab.http.get(f"{dashboard}/")
        answer.raise_for_status()
        progress.advance(task)
        return time.monotonic() - began

    colds: list[float] = []
    warms: list[float] = []
    for _ in range(cold):
        await asyncio.sleep(MAP_CACHE_SECONDS + 1)
        colds.append(await timed())
        warms += [await timed() for _ in range(warm // cold)]
    progress.remove_task(task)
    return {
        "map_page_cold_ms": statistics.median(colds) * 1000,
        "map_page_warm_ms": statistics.median(warms) * 1000,
    }


async def email_two_together(
    lab: Lab, prefix: str, parked: list[str], rate: float, progress: Progress
) -> dict[str, float]:
    """Every parked journey's email 2 moved to the same moment: how long the sends take once
    their timers fire together, with Resend (sandbox and worker) limited to ``rate``/s."""
    state = lab.sandbox.state
    state.set_rate_limits({"resend": rate})
    # The worker is told the vendor's limit and holds the queue below it (settings.queue_rate).
    await lab.restart_worker(VENDOR_RATE_LIMITS=f"resend={rate:g}")
    throttled_before = state.rate_limited("resend")

    async def move(workflow_id: str, send_at: datetime) -> None:
        handle = lab.client.get_workflow_handle(workflow_id)
        await handle.execute_update(
            OnboardingJourney.reschedule, RescheduleRequest(send_at=send_at)
        )

    # Time the first updates to learn how soon every journey can be told.
    sample = parked[: min(len(parked), 100)]
    began = time.monotonic()
    far = datetime.now(UTC) + timedelta(minutes=50)
    await bounded(sample, 64, lambda w: move(w, far), progress, "timing reschedules")
    per_update = (time.monotonic() - began) / max(len(sample), 1)
    fire_at = datetime.now(UTC) + timedelta(seconds=10 + 1.5 * per_update * len(parked))
    began = time.monotonic()
    await bounded(parked, 64, lambda w: move(w, fire_at), progress, "moving email 2")
    reschedule_seconds = time.monotonic() - began
    peak_rss = lab.worker_rss()
    await asyncio.sleep(max(0.0, (fire_at - datetime.now(UTC)).total_seconds()))
    task = progress.add_task("email 2, all due at once", total=len(parked))
    while (sent := len(emails_numbered(lab, prefix, 2))) < len(parked):
        progress.update(task, completed=sent)
        peak_rss = max(peak_rss, lab.worker_rss())
        await asyncio.sleep(0.5)
    progress.remove_task(task)
    last = max(datetime.fromisoformat(e.accepted_at) for e in emails_numbered(lab, prefix, 2))
    seconds = (last - fire_at).total_seconds()
    result = {
        "journeys": float(len(parked)),
        "resend_limit_per_s": rate,
        "seconds": seconds,
        "sent_per_s": len(parked) / seconds if seconds > 0 else 0.0,
        "throttled_429": float(state.rate_limited("resend") - throttled_before),
        "reschedules_per_s": len(parked) / reschedule_seconds,
        "worker_peak_rss_mb": peak_rss / 2**20,
    }
    state.set_rate_limits({})
    await lab.restart_worker()
    return result


def spread(values: Sequence[float]) -> dict[str, Any]:
    """Median and min-max of one measure over the runs."""
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "runs": list(values),
    }


# --- Spend and vendor limits -----------------------------------------------------------------

# The sandbox's free-mail provider: Clearbit finds the person, and no company.
FREE_MAIL_DOMAINS = ("mailbox.example",)


def company_mix(
    tag: str, count: int, companies: int = 200, free_mail: float = 0.3, seed: int = 42
) -> list[dict[str, Any]]:
    """``count`` signups: ``free_mail`` of them from free-mail addresses, the rest from
    ``companies`` companies drawn by Zipf's law (the company of rank k weighs 1/k)."""
    rng = random.Random(seed)
    ranks = list(range(1, companies + 1))
    weights = [1 / k for k in ranks]
    events = []
    for n in range(count):
        if rng.random() < free_mail:
            domain = rng.choice(FREE_MAIL_DOMAINS)
        else:
            domain = synthetic_domain(rng.choices(ranks, weights)[0])
        events.append(
            {
                "user_id": f"bench-{tag}-{n:05d}",
                "email": f"user.{tag}{n}@{domain}",
                "first_name": "Sam",
                "last_name": "Rivera",
            }
        )
    return events


def vendor_calls(lab: Lab) -> dict[str, int]:
    """Requests each fake vendor has received so far."""
    calls = Counter(call.vendor for call in lab.sandbox.state.recorded_calls())
    return {vendor: calls.get(vendor, 0) for vendor in VENDORS}


def busiest_second(lab: Lab, vendor: str, since: float) -> int:
    """The most requests ``vendor`` received within any one second after ``since`` (epoch)."""
    moments = sorted(
        t
        for call in lab.sandbox.state.recorded_calls(vendor)
        if (t := datetime.fromisoformat(call.received_at).timestamp()) >= since
    )
    best, low = 0, 0
    for high, moment in enumerate(moments):
        while moment - moments[low] >= 1.0:
            low += 1
        best = max(best, high - low + 1)
    return best


async def spend(
    lab: Lab, tag: str, count: int, concurrency: int, progress: Progress
) -> dict[str, Any]:
    """The same ``count`` signups of the company mix twice, with the enrichment cache off, then
    on (an empty cache): vendor calls and billed calls per 1,000 signups."""
    events = company_mix(tag, count)
    prices = VendorSettings(_env_file=None).vendor_prices
    result: dict[str, Any] = {"signups": count}
    for mode, ttl in (("cache_off", "0s"), ("cache_on", "30d")):
        warehouse = lab.run_dir / f"warehouse-{tag}-{mode}.db"
        await lab.restart_worker(ENRICHMENT_CACHE_TTL=ttl, WAREHOUSE_URL=f"sqlite:///{warehouse}")
        before = vendor_calls(lab)
        run = [{**e, "user_id": f"{e['user_id']}-{mode}"} for e in events]
        await bare_starts(lab, run, fast_config(), concurrency, progress, f"spend, {mode}")
        await wait_closed(lab, [journey_id(e["user_id"]) for e in run], progress, "closing")
        after = vendor_calls(lab)
        ledger = Warehouse(f"sqlite:///{warehouse}")
        billed = Counter(r["vendor"] for r in ledger.calls() if r["billed"])
        ledger.close()
        per_1000 = 1000 / count
        result[mode] = {
            "calls_per_1000": {v: (after[v] - before[v]) * per_1000 for v in VENDORS},
            "billed_per_1000": {v: billed.get(v, 0) * per_1000 for v in VENDORS},
            "cost_per_1000": sum(billed.get(v, 0) * prices.get(v, 0.0) for v in VENDORS) * per_1000,
        }
    await lab.restart_worker()
    return result


async def burst(
    lab: Lab, tag: str, count: int, concurrency: int, progress: Progress, workers: int = 2
) -> dict[str, Any]:
    """``count`` signups of the company mix at once, against a sandbox enforcing the vendors'
    documented limits and ``workers`` workers holding their vendor queues to them: time until
    every journey is done with its first round of calls (ended, or waiting for email 2), and the
    429s."""
    state = lab.sandbox.state
    state.set_rate_limits(DOCUMENTED_RATE_LIMITS)
    await lab.restart_worker(workers, VENDOR_RATE_LIMITS="")
    throttled_before = {v: state.rate_limited(v) for v in VENDORS}
    before = vendor_calls(lab)
    events = company_mix(tag, count, seed=7)
    ids = [journey_id(e["user_id"]) for e in events]
    began = time.time()
    started = time.monotonic()
    await bare_starts(lab, events, fast_config(PARKED_SCHEDULE), concurrency, progress, "burst")
    task = progress.add_task("burst: first round of calls", total=count)
    query = f'WorkflowId STARTS_WITH "{journey_id(f"bench-{tag}-")}"'
    while True:
        done = (
            await lab.client.count_workflows(
                f'{query} AND (ExecutionStatus != "Running" OR JourneyStage = "waiting_email_2")'
            )
        ).count
        progress.update(task, completed=done)
        if done >= count:
            break
        await asyncio.sleep(1.0)
    seconds = time.monotonic() - started
    progress.remove_task(task)
    after = vendor_calls(lab)
    result: dict[str, Any] = {
        "signups": count,
        "workers": workers,
        "seconds": seconds,
        "throttled_429": sum(state.rate_limited(v) - throttled_before[v] for v in VENDORS),
        "throttled_by_vendor": {v: state.rate_limited(v) - throttled_before[v] for v in VENDORS},
        "throttled_at_s": {
            v: [
                round(moment - began, 2)
                for call in state.recorded_calls(v)
                if call.throttled
                and (moment := datetime.fromisoformat(call.received_at).timestamp()) >= began
            ]
            for v in VENDORS
        },
        "calls": {v: after[v] - before[v] for v in VENDORS},
        "busiest_second": {v: busiest_second(lab, v, began) for v in VENDORS},
        "limits": dict(DOCUMENTED_RATE_LIMITS),
        "queue_rates": dict(DEFAULT_QUEUE_RATES),
    }
    await terminate(lab, ids, progress)
    state.set_rate_limits({})
    await lab.restart_worker()
    return result


async def terminate(lab: Lab, workflow_ids: Sequence[str], progress: Progress) -> None:
    """End the journeys a scenario left waiting, so they wake in no later scenario."""

    async def one(workflow_id: str) -> None:
        with contextlib.suppress(RPCError):
            await lab.client.get_workflow_handle(workflow_id).terminate("benchmark scenario over")

    await bounded(list(workflow_ids), 64, one, progress, "ending parked journeys")
