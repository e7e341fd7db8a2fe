"""The worker's sandbox runner: the SDK still enters the sandbox through the snippets it compiles
once, and the sandbox still refuses what it refused before."""

from __future__ import annotations

import uuid

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from tests.worker.clock_workflow import ReadsTheClock
from tests.workflows.test_replay import GOLDEN, load, replayer
from worker.main import WORKFLOW_RUNNER
from worker.sandbox_runner import CompiledSandboxRunner, compiled


def test_the_worker_runs_journeys_in_the_compiled_sandbox() -> None:
    assert isinstance(WORKFLOW_RUNNER, CompiledSandboxRunner)


async def test_a_replayed_journey_enters_its_sandbox_through_compiled_snippets() -> None:
    before = compiled.cache_info()
    result = await replayer().replay_workflow(load(GOLDEN[0]), raise_on_replay_failure=False)
    assert result.replay_failure is None
    after = compiled.cache_info()
    # If the SDK stopped handing its snippets to ``_run_code``, nothing here would be used.
    assert after.hits - before.hits >= 3
    assert after.currsize <= 8


async def test_the_sandbox_still_refuses_the_wall_clock(time_skipping: WorkflowEnvironment) -> None:
    task_queue = f"sandbox-{uuid.uuid4().hex[:8]}"
    async with Worker(
        time_skipping.client,
        task_queue=task_queue,
        workflows=[ReadsTheClock],
        workflow_runner=WORKFLOW_RUNNER,
        workflow_failure_exception_types=[Exception],
    ):
        with pytest.raises(WorkflowFailureError) as failure:
            await time_skipping.client.execute_workflow(
                ReadsTheClock.run, id=task_queue, task_queue=task_queue
            )
    assert "datetime.datetime.now" in str(failure.value.cause)
