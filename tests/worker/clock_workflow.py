"""A workflow that reads the wall clock, which the sandbox must refuse. In a module of its own,
because the sandbox imports a workflow's module afresh and pytest cannot be imported there."""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow


@workflow.defn
class ReadsTheClock:
    @workflow.run
    async def run(self) -> str:
        return datetime.now().isoformat()  # not allowed in a workflow
