"""A workflow that saves once as a local activity, as the journey saves to the warehouse, with a
start-to-close timeout of a second and two attempts: for tests of a save that hangs."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.contracts import SAVE_TO_WAREHOUSE


@workflow.defn
class OneLocalSave:
    @workflow.run
    async def run(self) -> None:
        await workflow.execute_local_activity(
            SAVE_TO_WAREHOUSE,
            start_to_close_timeout=timedelta(seconds=1),
            retry_policy=RetryPolicy(maximum_attempts=2),
        )
