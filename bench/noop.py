"""The engine's ceiling: a workflow that issues a journey's commands (its activities on their task
queues, its local activities, upserts and timers, in the journey's order) and does nothing else;
hosted by its own worker process, whose queues mirror a journey worker's.

    python -m bench.noop --address 127.0.0.1:7233 --task-queue bench-noop
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.common import RawValue
from temporalio.worker import Worker

with workflow.unsafe.imports_passed_through():
    from activities.contracts import VENDOR_ROLES, vendor_task_queue
    from workflows.search_attributes import JOURNEY_STAGE

TASK_QUEUE = "bench-noop"
NOOP = "BenchNoop"  # the activity type of the old ceiling's steps
CALL_TIMEOUT = timedelta(seconds=30)
SHORTEST_TIMER = timedelta(milliseconds=1)  # a timer must have a length


class Command(StrEnum):
    ACTIVITY = "activity"
    LOCAL_ACTIVITY = "local_activity"
    UPSERT = "upsert"
    TIMER = "timer"


@dataclass(frozen=True)
class Step:
    """One command: an activity of type ``activity`` on the workflow's task queue plus
    ``queue_suffix`` (``-enrichment``), a local activity, an upsert, or a timer of ``seconds``."""

    command: Command
    activity: str = ""
    queue_suffix: str = ""
    seconds: float = 0.0

    def describe(self) -> str:
        match self.command:
            case Command.ACTIVITY:
                return f"{self.activity} on {self.queue_suffix or 'its own queue'}"
            case Command.LOCAL_ACTIVITY:
                return f"local {self.activity}"
            case Command.TIMER:
                return f"timer {self.seconds:g}s"
            case _:
                return "upsert"


@dataclass(frozen=True)
class Shape:
    """The commands a no-op workflow issues, one after another."""

    steps: list[Step] = field(default_factory=list)

    def count(self, command: Command) -> int:
        return sum(step.command is command for step in self.steps)

    @property
    def activities(self) -> int:
        """Activities of either kind: the journey's steps that do work."""
        return self.count(Command.ACTIVITY) + self.count(Command.LOCAL_ACTIVITY)

    @property
    def queue_suffixes(self) -> set[str]:
        return {step.queue_suffix for step in self.steps if step.command is Command.ACTIVITY}

    def describe(self) -> str:
        """One line: ``enrich_signup on -enrichment, local save_to_warehouse, upsert, ...``."""
        return ", ".join(step.describe() for step in self.steps)


def regular_activities(count: int) -> Shape:
    """The old ceiling: ``count`` activities on the workflow's own queue, nothing else."""
    return Shape([Step(Command.ACTIVITY, NOOP) for _ in range(count)])


def served_queues(task_queue: str = TASK_QUEUE) -> list[str]:
    """The queues a no-op worker polls: as a journey worker does, the workflow's and one per
    vendor role beside it."""
    return [task_queue, *(vendor_task_queue(task_queue, name) for name in VENDOR_ROLES)]


@activity.defn(dynamic=True)
async def noop(args: Sequence[RawValue]) -> None:
    """Does nothing, whatever its type: what is left is the engine's own cost of one activity."""


@workflow.defn(name="BenchNoopJourney")
class NoopJourney:
    @workflow.run
    async def run(self, shape: Shape) -> int:
        for n, step in enumerate(shape.steps):
            if step.command is Command.ACTIVITY:
                await workflow.execute_activity(
                    step.activity,
                    n,
                    task_queue=workflow.info().task_queue + step.queue_suffix,
                    start_to_close_timeout=CALL_TIMEOUT,
                )
            elif step.command is Command.LOCAL_ACTIVITY:
                await workflow.execute_local_activity(
                    step.activity, n, start_to_close_timeout=CALL_TIMEOUT
                )
            elif step.command is Command.UPSERT:
                workflow.upsert_search_attributes([JOURNEY_STAGE.value_set(f"noop-{n}")])
            else:
                await workflow.sleep(max(timedelta(seconds=step.seconds), SHORTEST_TIMER))
        return len(shape.steps)


def workers(client: Client, task_queue: str = TASK_QUEUE) -> list[Worker]:
    """The workflow's worker and one per vendor queue, as a journey worker process runs them."""
    # Run as ``-m bench.noop`` this module is ``__main__``, which the workflow sandbox cannot
    # import again: host the classes of the importable module.
    from bench import noop as module
    from worker.main import WORKFLOW_RUNNER

    own, *vendors = served_queues(task_queue)
    main = Worker(
        client,
        task_queue=own,
        workflows=[module.NoopJourney],
        activities=[module.noop],
        workflow_runner=WORKFLOW_RUNNER,
    )
    return [main, *(Worker(client, task_queue=q, activities=[module.noop]) for q in vendors)]


async def serve(address: str, task_queue: str) -> None:
    from worker.main import stop_on_signals

    client = await Client.connect(address)
    stop = asyncio.Event()
    stop_on_signals(stop)
    async with contextlib.AsyncExitStack() as running:
        for one in workers(client, task_queue):
            await running.enter_async_context(one)
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.noop")
    parser.add_argument("--address", required=True)
    parser.add_argument("--task-queue", default=TASK_QUEUE)
    args = parser.parse_args()
    asyncio.run(serve(args.address, args.task_queue))


if __name__ == "__main__":
    main()
