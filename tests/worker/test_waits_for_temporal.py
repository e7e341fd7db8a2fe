"""``onboarding worker`` started while Temporal is unreachable says so, keeps trying on a backoff,
and starts polling once the server is up; SIGTERM while it waits ends it cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from common.connection import backoff
from devstack.processes import free_port
from sandbox.server import SandboxServer
from tests.conftest import binary
from tests.helpers import command_env, start_worker
from workflows import search_attributes


async def wait_for_line(log: Path, text: str, worker: subprocess.Popen[bytes]) -> str:
    """The worker's log once it holds ``text``; fails if the worker exits or 60 s pass."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        content = log.read_text()
        if text in content:
            return content
        assert worker.poll() is None, f"the worker exited ({worker.returncode}):\n{content}"
        await asyncio.sleep(0.2)
    raise AssertionError(f"no {text!r} in the worker's log:\n{log.read_text()}")


async def dev_server_at(port: int) -> WorkflowEnvironment:
    """A dev server on ``port``, where the worker has been trying to connect."""
    return await WorkflowEnvironment.start_local(
        port=port,
        dev_server_existing_path=binary("temporal"),
        dev_server_log_level="error",
        search_attributes=search_attributes.ALL,
    )


@contextlib.contextmanager
def worker_process(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``onboarding worker`` as a process of its own, killed at the end if a test left it up."""
    worker = start_worker(env, log)
    try:
        yield worker
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()


@pytest.fixture
def unreachable(sandbox: SandboxServer, tmp_path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """A port where nothing listens, and the environment of a worker pointed at it."""
    port = free_port()
    yield port, command_env(f"127.0.0.1:{port}", sandbox, f"sqlite:///{tmp_path / 'w.db'}")


async def test_a_worker_waits_for_temporal_then_polls(
    unreachable: tuple[int, dict[str, str]], tmp_path: Path
) -> None:
    port, env = unreachable
    log = tmp_path / "worker.log"
    with worker_process(env, log) as worker:
        waiting = await wait_for_line(log, "retrying in 2s", worker)
        assert f"cannot reach Temporal at 127.0.0.1:{port}; retrying in 1s" in waiting
        async with await dev_server_at(port):
            polling = await wait_for_line(log, "worker polling task queue", worker)
            assert f"connected to Temporal at 127.0.0.1:{port}" in polling
            worker.send_signal(signal.SIGTERM)
            assert worker.wait(timeout=30) == 0
    assert "Traceback" not in log.read_text()


async def test_sigterm_while_waiting_for_temporal_exits_cleanly(
    unreachable: tuple[int, dict[str, str]], tmp_path: Path
) -> None:
    _, env = unreachable
    log = tmp_path / "worker.log"
    with worker_process(env, log) as worker:
        await wait_for_line(log, "cannot reach Temporal", worker)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=10) == 0
    content = log.read_text()
    assert "stopped before Temporal was reachable" in content
    assert "Traceback" not in content


def test_the_backoff_doubles_up_to_half_a_minute() -> None:
    assert list(itertools.islice(backoff(), 7)) == [1, 2, 4, 8, 16, 30, 30]


async def test_the_sdk_cores_warnings_are_lines_of_the_workers_log(
    unreachable: tuple[int, dict[str, str]], tmp_path: Path
) -> None:
    port, env = unreachable
    log = tmp_path / "worker.log"
    with worker_process(env, log) as worker:
        async with await dev_server_at(port):
            await wait_for_line(log, "worker polling task queue", worker)
        # The server is gone: the core's polls fail, and it says so through Python logging.
        lost = await wait_for_line(log, "WARNING temporalio.core", worker)
        assert "\x1b[" not in lost  # no terminal colors in a log file
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0
