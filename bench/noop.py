"""The engine's ceiling: a workflow that runs as many no-op activities, one after another, as a
journey runs vendor calls; hosted by its own worker process on its own task queue.

    python -m bench.noop --address 127.0.0.1:7233 --task-queue bench-noop
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

TASK_QUEUE = "bench-noop"


@activity.defn(name="BenchNoop")
async def noop(step: int) -> int:
    """Does nothing: what is left is the engine's own cost of one activity."""
    return step


@workflow.defn(name="BenchNoopJourney")
class NoopJourney:
    @workflow.run
    async def run(self, activities: int) -> int:
        for step in range(activities):
            await workflow.execute_activity(
                noop, step, start_to_close_timeout=timedelta(seconds=30)
            )
        return activities


async def serve(address: str, task_queue: str) -> None:
    # Run as ``-m bench.noop`` this module is ``__main__``, which the workflow sandbox cannot
    # import again: host the classes of the importable module.
    from bench import noop as module
    from worker.main import WORKFLOW_RUNNER, stop_on_signals

    client = await Client.connect(address)
    stop = asyncio.Event()
    stop_on_signals(stop)
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[module.NoopJourney],
        activities=[module.noop],
        workflow_runner=WORKFLOW_RUNNER,
    ):
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.noop")
    parser.add_argument("--address", required=True)
    parser.add_argument("--task-queue", default=TASK_QUEUE)
    args = parser.parse_args()
    asyncio.run(serve(args.address, args.task_queue))


if __name__ == "__main__":
    main()
