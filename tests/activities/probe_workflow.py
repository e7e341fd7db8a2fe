"""A workflow that makes one call on a given task queue, for tests of the queues' rates."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

PROBE_CALL = "probe_call"


@workflow.defn
class OneCall:
    @workflow.run
    async def run(self, task_queue: str) -> None:
        await workflow.execute_activity(
            PROBE_CALL, task_queue=task_queue, start_to_close_timeout=timedelta(seconds=30)
        )
