"""Vendor calls reach the vendor spaced as the server dispatched them, or wider.

The server hands out a vendor queue's activities at the queue's rate, but the vendor counts when
requests arrive, and between the two sits the worker: its event loop, a cache read, a busy CPU.
Two things, at the start of each activity on a vendor queue, keep a worker from bunching calls
up on the way:

- each call waits until a fixed time (the hold) after the server dispatched its attempt (the
  attempt's start time, which the server sets), so a delay shorter than the hold is absorbed.
  The hold is never longer than the queue's interval (``1 / rate``): it is there for the slow
  queues, where two calls a worker's delay brings together are already one too many for the
  vendor (Slack, Resend). A queue that dispatches more often than the hold serves a vendor
  whose limit takes a hold's worth of its calls at once (Clearbit, BuiltWith, or any vendor at
  a plan's higher limit), and holding it longer would only add latency;
- the worker keeps its own calls on a queue at least ``1 / rate`` apart, so calls the worker fell
  behind on (a stalled event loop) leave one by one rather than together.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from temporalio import activity
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor


def hold_seconds(started_at: float, now: float, hold: float) -> float:
    """How long a call dispatched at ``started_at`` waits at ``now``: until ``hold`` after its
    dispatch, and never longer than ``hold`` (a worker clock behind the server's)."""
    return min(max(started_at + hold - now, 0.0), hold)


class DispatchHold(Interceptor):
    """For a vendor queue's worker (``rate`` tasks per second): each activity starts no earlier
    than ``hold`` seconds (at most ``1 / rate``) after the server dispatched its attempt, and no
    earlier than ``1 / rate`` after the previous one this worker started. Held at the start,
    before a cache read, so colleagues dispatched together still find each other's answers."""

    def __init__(self, hold: float, rate: float) -> None:
        self._spacing = 1.0 / rate
        self._hold = min(hold, self._spacing)
        self._next_slot = 0.0

    async def wait(self) -> None:
        """Inside an activity: wait for this attempt's slot."""
        info = activity.info()
        now = time.time()
        earliest = now + hold_seconds(info.started_time.timestamp(), now, self._hold)
        # Taken before any await, so concurrent activities each get a slot of their own.
        slot = max(earliest, self._next_slot)
        self._next_slot = slot + self._spacing
        if slot > now:
            await asyncio.sleep(slot - now)

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _HeldActivity(next, self)


class _HeldActivity(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, hold: DispatchHold) -> None:
        super().__init__(next)
        self._hold = hold

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        await self._hold.wait()
        return await super().execute_activity(input)
