"""The rate a vendor's queue is held to keeps everything the server dispatches, its burst after
a quiet spell included, inside the vendor's limit as the sandbox counts it."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from temporalio import activity
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.settings import QUEUE_RATE_MARGIN, queue_rate
from activities.vendors import DOCUMENTED_RATE_LIMITS
from sandbox.state import SandboxState
from tests.activities.probe_workflow import PROBE_CALL, OneCall

# A limit with the shape of Slack's and Resend's (a burst as large as the rate), fast enough for a
# test: three quiet spells, each followed by six calls at once.
VENDOR_LIMIT = 3.0
ROUNDS, CALLS_PER_ROUND, QUIET_SECONDS = 3, 6, 2.0


async def throttled_calls(env: WorkflowEnvironment, queue_rate_per_second: float) -> int:
    """Calls a vendor limited to ``VENDOR_LIMIT`` would answer 429, when its queue is held to
    ``queue_rate_per_second`` and calls come in rounds after quiet spells."""
    vendor = SandboxState(rate_limits={"slack": VENDOR_LIMIT})
    throttled = 0

    @activity.defn(name=PROBE_CALL)
    async def call() -> None:
        nonlocal throttled
        throttled += vendor.throttle("slack") is not None

    name = f"queue-rate-{uuid.uuid4().hex[:8]}"
    async with (
        Worker(env.client, task_queue=name, workflows=[OneCall]),
        Worker(
            env.client,
            task_queue=f"{name}-vendor",
            activities=[call],
            max_task_queue_activities_per_second=queue_rate_per_second,
        ),
    ):
        for round_ in range(ROUNDS):
            await asyncio.sleep(QUIET_SECONDS)
            handles = [
                await env.client.start_workflow(
                    OneCall.run, f"{name}-vendor", id=f"{name}-{round_}-{n}", task_queue=name
                )
                for n in range(CALLS_PER_ROUND)
            ]
            await asyncio.gather(*(handle.result() for handle in handles))
    return throttled


async def test_the_derived_queue_rate_never_trips_the_vendor(
    dev_server: WorkflowEnvironment,
) -> None:
    assert await throttled_calls(dev_server, queue_rate(VENDOR_LIMIT)) == 0


async def test_a_share_of_the_limit_alone_trips_it_after_a_quiet_spell(
    dev_server: WorkflowEnvironment,
) -> None:
    """What the derivation is for: 90% of the limit, the server's burst on top, is too much."""
    assert await throttled_calls(dev_server, QUEUE_RATE_MARGIN * VENDOR_LIMIT) > 0


@pytest.mark.parametrize(
    ("vendor", "expected"),
    [("clearbit", 8.18), ("builtwith", 6.4), ("slack", 0.45), ("resend", 1.2)],
)
def test_default_queue_rates(vendor: str, expected: float) -> None:
    assert queue_rate(DOCUMENTED_RATE_LIMITS[vendor]) == pytest.approx(expected, abs=0.005)
