"""What happens in a chaos run.

The dev stack runs two supervised workers and the webhook as separate processes, and the vendor
sandbox in this process with faults injected (5xx, 429 with Retry-After, answers slower than the
activity timeout). Signups arrive through the webhook, spread over a window. Meanwhile a worker
is SIGKILLed at random moments and replaced at once, and the dev server is killed once and started
again on the same port and database; the workers and the webhook must find it by themselves.
Meanwhile too, a share of the journeys that send emails gets an email event a while after its
email 1 was accepted (``email_events``): a one-click unsubscribe, or a bounce delivered twice, or
a complaint. Then, Slack answering late, a worker is SIGKILLed each time Slack has just stored a
sales alert, before its answer arrives: the retry must find the alert instead of posting it twice.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from rich.progress import Progress, TaskID

from activities.contracts import POST_SALES_ALERT
from chaos import outcomes
from chaos.checks import Journey
from chaos.email_events import BOUNCE, COMPLAINT, UNSUBSCRIBE, EmailEventSender, plan_email_events
from chaos.signups import Sender, enterprise_signups, signups
from common.encryption import generate_key
from devstack.stack import DevStack
from sandbox import SandboxServer, SandboxState
from sandbox.postmark import FakePostmark

# The journey's settings for the run (captured by the webhook into every journey it starts).
EMAILS_PER_JOURNEY = 3
JOURNEY_SETTINGS = {
    "EMAIL_SCHEDULE": "0s,3s,6s",
    "ENRICHMENT_POLL_INTERVAL": "1s",
    "VENDOR_CALL_TIMEOUT": "3s",
    # The workers give up on a vendor before the activity times out; a "slow" answer outlasts both.
    "HTTP_TIMEOUT_SECONDS": "2",
}
SLOW_SECONDS = 4.0
# An email event comes up to this long after the journey's email 1 was accepted: past the last
# email's due time (6 s), so most stop a journey mid-sequence and a few arrive after its end.
EMAIL_EVENT_LATEST_SECONDS = 7.0
# Crash-after-post trials: Slack holds every answer this long (lookups included, so a retry's
# conversations.list + conversations.history still fit in one activity timeout).
ALERT_LATENCY_SECONDS = 1.2
# Longer than the webhook's 4 s Temporal deadline, so deliveries meet its 503 and come again.
SERVER_DOWNTIME_SECONDS = 5.0
RECONNECT_TIMEOUT_SECONDS = 90.0


@dataclass(frozen=True)
class Options:
    journeys: int
    kills: int
    seed: int
    deadline: float
    alert_crash_trials: int
    json_path: Path | None
    concurrency: int
    error_rate: float
    rate_limit_rate: float
    lost_answer_rate: float
    postmark_search_delay: float
    slow_rate: float
    server_signal: str
    keep: bool
    unsubscribe_rate: float
    bounce_rate: float
    complaint_rate: float

    @property
    def start_window(self) -> float:
        return self.window_for(self.journeys)

    @staticmethod
    def window_for(journeys: int) -> float:
        """Signups are spread over this many seconds, so crashes meet journeys at every step."""
        return max(8.0, journeys / 5)


@dataclass
class Reconnect:
    """How the server restart went for the processes that talk to it."""

    workers_seconds: float | None = None
    webhook_seconds: float | None = None
    webhook_same_process: bool = True
    workers_exited: int = 0


@dataclass
class Phase:
    """One batch of journeys followed until closed."""

    journeys: list[Journey]
    task: TaskID | None = None


@dataclass
class Disturbances:
    """What was done to the processes."""

    main_kills: int = 0
    server_restarts: int = 0
    reconnect: Reconnect = field(default_factory=Reconnect)


def plan_chaos(rng: random.Random, window: float, kills: int) -> tuple[float, list[float]]:
    """When the server restarts and when workers die, in seconds from the first signup; kills
    keep clear of the restart so each disturbance is its own."""
    restart_at = rng.uniform(0.35, 0.6) * window
    clear_of = (restart_at - 2.5, restart_at + 8.0)
    moments: list[float] = []
    while len(moments) < kills:
        moment = rng.uniform(1.0, window + 8.0)
        if not clear_of[0] <= moment <= clear_of[1]:
            moments.append(moment)
    return restart_at, sorted(moments)


class Scenario:
    def __init__(self, options: Options, run_dir: Path, progress: Progress) -> None:
        self.options = options
        self.progress = progress
        self.rng = random.Random(options.seed)
        self.tag = uuid.UUID(int=self.rng.getrandbits(128)).hex[:6]
        self.events: list[str] = []
        self.stack = DevStack(
            run_dir,
            workers=2,
            supervise=True,
            settings=JOURNEY_SETTINGS,
            sandbox=SandboxServer(port=0, state=SandboxState(seed=options.seed)),
            encryption_keys=generate_key("chaos"),  # this run's own, shared with its processes
            on_event=self.event,
        )
        self.sender = Sender(f"{self.stack.webhook_url}/signups", self.stack.secret, self.event)
        self.email_events = EmailEventSender(self.stack, self.record)
        self.done = Disturbances()
        self._follow_ups: list[asyncio.Task[None]] = []

    def event(self, text: str) -> None:
        self.record(text)
        self.progress.console.log(text)

    def record(self, text: str) -> None:
        """Into the run's events.log only."""
        self.events.append(f"{time.strftime('%H:%M:%S')} {text}")

    async def play(self) -> tuple[Phase, Phase | None]:
        """The main phase under faults, then the crash-after-post trials; each journey's result
        read back from Temporal."""
        options, state = self.options, self.stack.sandbox.state
        stack = self.stack
        self.event(
            f"up: Temporal {stack.address} (db {stack.db}), sandbox {stack.sandbox.url}, "
            f"webhook :{stack.webhook_port}, workers pid "
            + ", ".join(str(c.pid) for c in stack.workers.children)
        )
        state.fake(FakePostmark).search_delay_seconds = options.postmark_search_delay
        state.set_faults(
            error_rate=options.error_rate,
            rate_limit_rate=options.rate_limit_rate,
            lost_answer_rate=options.lost_answer_rate,
            retry_after_seconds=1,
            slow_rate=options.slow_rate,
            slow_seconds=SLOW_SECONDS,
        )
        main = await self.main_phase()
        state.clear_faults()
        for follow_up in self._follow_ups:
            await follow_up
        trials = None
        if options.alert_crash_trials:
            trials = await self.alert_crash_trials(options.alert_crash_trials)
        self.event("collecting results from Temporal, the sandbox and the warehouse")
        await outcomes.settle(stack.client, main.journeys + (trials.journeys if trials else []))
        return main, trials

    async def close(self) -> None:
        for follow_up in self._follow_ups:
            follow_up.cancel()
        await self.sender.close()
        await self.email_events.close()

    # --- signups while workers die and the server restarts -----------------------------------

    async def main_phase(self) -> Phase:
        options = self.options
        phase = Phase(signups(self.tag, options.journeys))
        window = options.start_window
        restart_at, kill_at = plan_chaos(self.rng, window, options.kills)
        # Its own generator, so a seed disturbs the processes as it did before email events.
        events_rng = random.Random(f"{options.seed} email events")
        rates = {
            UNSUBSCRIBE: options.unsubscribe_rate,
            BOUNCE: options.bounce_rate,
            COMPLAINT: options.complaint_rate,
        }
        plan_email_events(phase.journeys, events_rng, rates, EMAIL_EVENT_LATEST_SECONDS)
        with_events = [j for j in phase.journeys if j.email_event is not None]
        starting = self.progress.add_task("signups delivered", total=len(phase.journeys))
        phase.task = self.progress.add_task("journeys closed", total=len(phase.journeys))
        answering = self.progress.add_task("email events sent", total=len(with_events))
        planned = Counter(j.email_event.kind for j in with_events if j.email_event)
        self.event(
            f"{len(phase.journeys)} signups over {window:.0f}s; server restart at "
            f"{restart_at:.1f}s; worker kills at {', '.join(f'{t:.1f}s' for t in kill_at)}; "
            f"email events after email 1: {planned[UNSUBSCRIBE]} unsubscribes, "
            f"{planned[BOUNCE]} bounces (each delivered twice), {planned[COMPLAINT]} complaints"
        )
        begin = time.monotonic()

        async def email_events() -> None:
            async def one(journey: Journey) -> None:
                until = begin + options.deadline
                await self.email_events.play(journey, until, events_rng)
                self.progress.advance(answering)

            await asyncio.gather(*(one(j) for j in with_events))

        async def disturbances() -> None:
            moments = sorted([(t, "kill") for t in kill_at] + [(restart_at, "restart")])
            for moment, kind in moments:
                await asyncio.sleep(max(0.0, begin + moment - time.monotonic()))
                if kind == "kill":
                    self.kill_a_worker(f"at {moment:.1f}s")
                else:
                    await self.restart_server()

        delivered = asyncio.Event()

        async def deliver_and_disturb() -> None:
            await asyncio.gather(
                self.sender.spread(
                    phase.journeys,
                    window,
                    options.concurrency,
                    lambda: self.progress.advance(starting),
                ),
                disturbances(),
            )
            delivered.set()

        await asyncio.gather(
            deliver_and_disturb(),
            self.wait_closed(phase, 0, begin + options.deadline, delivered),
            email_events(),
        )
        return phase

    def kill_a_worker(self, reason: str) -> None:
        workers = self.stack.workers
        workers.kill(self.rng.randrange(len(workers.children)), reason)
        self.done.main_kills += 1

    async def restart_server(self) -> None:
        """Stop the dev server, start it again on the same port and database, and follow the
        workers and the webhook finding it again by themselves."""
        stack, reconnect = self.stack, self.done.reconnect
        webhook = stack.webhook
        assert webhook is not None
        exits_before = len(stack.workers.unexpected_exits)
        webhook_pid = webhook.pid
        stack.stop_server(kill=self.options.server_signal == "kill")
        self.event(f"Temporal dev server stopped with SIG{self.options.server_signal.upper()}")
        await asyncio.sleep(SERVER_DOWNTIME_SECONDS)
        restarted = time.monotonic()
        await stack.start_server()
        self.done.server_restarts += 1
        self.event(f"Temporal dev server started again on :{stack.temporal_port}, same database")

        async def back(check: Callable[[], Awaitable[bool]], never: str) -> bool:
            try:
                await stack.until(check, "a reconnect", RECONNECT_TIMEOUT_SECONDS)
            except RuntimeError:
                self.event(f"[red]{never} after the server restart")
                return False
            return True

        async def workers_back() -> None:
            if await back(stack.workers_polling, "the workers did not poll again"):
                reconnect.workers_seconds = time.monotonic() - restarted
                reconnect.workers_exited = len(stack.workers.unexpected_exits) - exits_before
                how = (
                    "by themselves"
                    if not reconnect.workers_exited
                    else f"after {reconnect.workers_exited} exit(s) and restarts"
                )
                self.event(f"both workers poll again {how}, {reconnect.workers_seconds:.1f}s")

        async def webhook_back() -> None:
            if await back(stack.webhook_healthy, "the webhook did not reach Temporal again"):
                reconnect.webhook_seconds = time.monotonic() - restarted
                reconnect.webhook_same_process = webhook.pid == webhook_pid and webhook.running()
                self.event(f"webhook reaches Temporal again, {reconnect.webhook_seconds:.1f}s")

        self._follow_ups += [
            asyncio.create_task(workers_back()),
            asyncio.create_task(webhook_back()),
        ]

    async def wait_closed(
        self, phase: Phase, total_known: int, deadline: float, delivered: asyncio.Event
    ) -> None:
        """Follow ``phase`` until every journey the webhook accepted has closed, or the deadline;
        ``total_known`` journeys of earlier phases are left out of the counts."""
        assert phase.task is not None
        while time.monotonic() < deadline:
            trouble = self.stack.trouble()
            if trouble:
                raise RuntimeError(f"{trouble} (see {self.stack.run_dir})")
            counts = await outcomes.running_count(self.stack.client)
            if counts is not None:
                known, running = counts
                closed = max(0, known - total_known - running)
                self.progress.update(phase.task, completed=min(closed, len(phase.journeys)))
                accepted = sum(1 for j in phase.journeys if j.accepted)
                if (
                    delivered.is_set()
                    and known - total_known >= accepted
                    and running == 0
                    and await outcomes.all_closed(self.stack.client, phase.journeys)
                ):
                    return
            await asyncio.sleep(1.0)

    async def narrate(self) -> None:
        """Without a terminal to draw progress bars on (CI), a line every ten seconds instead."""
        while True:
            await asyncio.sleep(10)
            tasks = [t for t in self.progress.tasks if not t.finished]
            if tasks:
                self.progress.console.log(
                    " · ".join(f"{t.description} {t.completed:.0f}/{t.total:.0f}" for t in tasks)
                )

    # --- a crash right after Slack stored the alert -------------------------------------------

    async def alert_crash_trials(self, count: int) -> Phase:
        """Slack answers late; the moment it has stored a journey's alert, SIGKILL the worker
        whose attempt posted it. The retry must find the alert instead of posting another."""
        workers = self.stack.workers
        phase = Phase(enterprise_signups(self.tag, count))
        phase.task = self.progress.add_task("crash-after-post trials", total=count)
        state = self.stack.sandbox.state
        state.set_faults(latency_seconds=ALERT_LATENCY_SECONDS, vendors=["slack"])
        known = await outcomes.running_count(self.stack.client)
        total_known = known[0] if known is not None else 0
        try:
            delivered = asyncio.Event()
            follow = asyncio.create_task(
                self.wait_closed(phase, total_known, time.monotonic() + 300.0, delivered)
            )
            for journey in phase.journeys:
                seen = len(state.recorded_calls("slack"))
                await self.sender.deliver(journey)
                if not journey.accepted:
                    continue
                if not await self.alert_stored(journey, seen, within=60.0):
                    self.event(f"[yellow]{journey.workflow_id}: no alert post seen; no crash")
                    continue
                identity = await self.alert_worker(journey)
                slot = workers.slot_of(identity) if identity else None
                if slot is None:
                    for n in range(len(workers.children)):
                        workers.kill(n, "(worker of the alert unknown: both)")
                else:
                    workers.kill(slot, f"right after Slack stored {journey.workflow_id}'s alert")
            delivered.set()
            await follow
        finally:
            state.clear_faults()
        return phase

    async def alert_stored(self, journey: Journey, seen: int, within: float) -> bool:
        """Whether Slack stored the journey's alert (recorded before its answer is sent)."""
        state = self.stack.sandbox.state
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            calls = state.recorded_calls("slack")
            for call in calls[seen:]:
                body = call.request_body
                if (
                    call.path.endswith("/chat.postMessage")
                    and call.status == 200
                    and isinstance(body, dict)
                    and journey.workflow_id in json.dumps(body.get("metadata"))
                ):
                    return True
            seen = len(calls)
            await asyncio.sleep(0.01)
        return False

    async def alert_worker(self, journey: Journey) -> str | None:
        """The identity of the worker running the journey's sales-alert attempt."""
        try:
            handle = self.stack.client.get_workflow_handle(journey.workflow_id)
            description = await handle.describe()
        except Exception:
            return None
        for pending in description.raw_description.pending_activities:
            if pending.activity_type.name == POST_SALES_ALERT and pending.last_worker_identity:
                return str(pending.last_worker_identity)
        return None
