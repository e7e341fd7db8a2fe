"""The supervised workers: a worker that cannot reach Temporal counts as failing to start whether
it keeps trying by itself or exits, and only while the server is up does its waiting count."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from devstack import workers
from devstack.workers import Workers

KEEPS_TRYING = [
    sys.executable,
    "-c",
    "import time\n"
    "while True:\n"
    "    print('cannot reach Temporal at 127.0.0.1:1; retrying in 0.2s', flush=True)\n"
    "    time.sleep(0.2)",
]
EXITS_AT_ONCE = [sys.executable, "-c", "print('error: cannot reach Temporal at 127.0.0.1:1')"]


async def supervise(fleet: Workers, seconds: float) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(fleet.supervise(stop))
    await asyncio.sleep(seconds)
    stop.set()
    await task


async def test_a_worker_that_keeps_trying_while_the_server_is_up_is_failing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(workers, "GIVE_UP_UNREACHABLE_SECONDS", 1.0)
    fleet = Workers(1, tmp_path, command=KEEPS_TRYING, on_event=lambda _: None)
    fleet.start({"PATH": "/usr/bin:/bin"})
    try:
        await supervise(fleet, 2.5)
        assert fleet.failing is not None
        assert "worker-0 cannot reach the running server" in fleet.failing
        assert fleet.start_failures >= 3
        assert fleet.unexpected_exits == [] and fleet.restarts == 0
    finally:
        fleet.stop()


async def test_a_worker_waiting_for_a_server_that_is_down_is_not_failing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(workers, "GIVE_UP_UNREACHABLE_SECONDS", 1.0)
    fleet = Workers(
        1, tmp_path, command=KEEPS_TRYING, server_up=lambda: False, on_event=lambda _: None
    )
    fleet.start({"PATH": "/usr/bin:/bin"})
    try:
        await supervise(fleet, 2.5)
        assert fleet.failing is None
        assert fleet.start_failures >= 3
    finally:
        fleet.stop()


async def test_a_worker_that_exits_unable_to_connect_is_started_again(tmp_path: Path) -> None:
    fleet = Workers(1, tmp_path, command=EXITS_AT_ONCE, on_event=lambda _: None)
    fleet.start({"PATH": "/usr/bin:/bin"})
    try:
        await supervise(fleet, 2.5)
        assert fleet.restarts >= 1
        assert fleet.start_failures >= 1
        assert fleet.unexpected_exits == []  # failing to connect is no crash
        assert fleet.failing is None
    finally:
        fleet.stop()
