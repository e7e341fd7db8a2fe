"""Journeys out: how many are still running, and each one's status, outcome and history as
Temporal tells it, asked again while the server is coming back."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from datetime import timedelta
from typing import TypeVar

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError

from chaos import checks
from chaos.checks import Journey
from workflows.models import JourneyState

T = TypeVar("T")
JOURNEYS = "WorkflowType = 'OnboardingJourney'"


async def running_count(client: Client) -> tuple[int, int] | None:
    """(journeys known, journeys still running) by the visibility store; None if unreachable."""
    try:
        known = await client.count_workflows(JOURNEYS, rpc_timeout=timedelta(seconds=5))
        running = await client.count_workflows(
            f"{JOURNEYS} AND ExecutionStatus = 'Running'", rpc_timeout=timedelta(seconds=5)
        )
    except Exception:
        return None
    return known.count, running.count


async def all_closed(client: Client, journeys: Iterable[Journey]) -> bool:
    """Every journey the webhook accepted has closed, each asked for itself."""
    for journey in journeys:
        if not journey.accepted:
            continue
        try:
            description = await client.get_workflow_handle(journey.workflow_id).describe()
        except Exception:
            return False
        if description.status == WorkflowExecutionStatus.RUNNING:
            return False
    return True


async def settle(client: Client, journeys: list[Journey]) -> None:
    """Each accepted journey's status, outcome and history, from Temporal."""
    gate = asyncio.Semaphore(12)

    async def one(journey: Journey) -> None:
        if not journey.accepted:
            return
        handle = client.get_workflow_handle(journey.workflow_id, result_type=JourneyState)
        async with gate:
            description = await _retrying(handle.describe)
            status = description.status
            journey.status = status.name.lower() if status is not None else "unknown"
            if status == WorkflowExecutionStatus.COMPLETED:
                state = await _retrying(handle.result)
                journey.outcome = str(state.outcome)
                journey.emails_sent = state.emails_sent
            elif status == WorkflowExecutionStatus.FAILED:
                try:
                    await handle.result()
                except WorkflowFailureError as exc:
                    journey.failure = str(exc.cause.__cause__ or exc.cause)
            checks.read_history(journey, await _retrying(handle.fetch_history))

    await asyncio.gather(*(one(j) for j in journeys))


async def _retrying(operation: Callable[[], Awaitable[T]], attempts: int = 20) -> T:
    for attempt in range(attempts):
        try:
            return await operation()
        except WorkflowFailureError:
            raise
        except Exception:
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(0.5)
    raise AssertionError("unreachable")
