"""Vendor calls reach the vendor spaced as the server dispatched them, or wider.

The server hands out a vendor queue's activities at the queue's rate, but the vendor counts when
requests arrive, and between the two sits the worker: its event loop, a cache read, a busy CPU.
Two things keep a worker from bunching calls up on the way:

- each call waits until a fixed time (the hold) after the server dispatched its attempt (the
  attempt's start time, which the server sets), so a delay shorter than the hold is absorbed;
- the worker keeps its own calls on a queue at least ``1 / rate`` apart, so calls the worker fell
  behind on (a stalled event loop) leave one by one rather than together.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping

import httpx
from temporalio import activity


def hold_seconds(started_at: float, now: float, hold: float) -> float:
    """How long a call dispatched at ``started_at`` waits at ``now``: until ``hold`` after its
    dispatch, and never longer than ``hold`` (a worker clock behind the server's)."""
    return min(max(started_at + hold - now, 0.0), hold)


class DispatchHold:
    """An httpx request hook: inside an activity on one of the queues of ``rates`` (tasks per
    second), send no earlier than ``hold`` seconds after the attempt's dispatch, and no earlier
    than ``1 / rate`` after this worker's previous call on that queue."""

    def __init__(self, hold: float, rates: Mapping[str, float]) -> None:
        self._hold = hold
        self._spacing = {queue: 1.0 / rate for queue, rate in rates.items() if rate > 0}
        self._next_slot: dict[str, float] = {}

    async def __call__(self, request: httpx.Request) -> None:
        try:
            info = activity.info()
        except RuntimeError:  # not inside an activity: a script, a plain test
            return
        spacing = self._spacing.get(info.task_queue)
        if spacing is None:
            return
        now = time.time()
        earliest = now + hold_seconds(info.started_time.timestamp(), now, self._hold)
        # Taken before any await, so concurrent calls each get a slot of their own.
        slot = max(earliest, self._next_slot.get(info.task_queue, 0.0))
        self._next_slot[info.task_queue] = slot + spacing
        if slot > now:
            await asyncio.sleep(slot - now)
