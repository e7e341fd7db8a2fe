"""The Temporal side of a dev stack: the dev server as every local run starts it, a client once it
answers, and who polls a task queue."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from activities.contracts import ONE_PARTITION_DEV_SERVER_FLAGS
from devstack.processes import Child, executable
from workflows import search_attributes

WORKFLOW_TASKS = TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW
ACTIVITY_TASKS = TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY


def dev_server_flags() -> list[str]:
    """What every dev server of the project runs with, whoever starts it: the journey's search
    attributes, and each vendor's queue in one partition (as docker compose runs it)."""
    return [*search_attributes.cli_flags(), *ONE_PARTITION_DEV_SERVER_FLAGS]


def dev_server(
    port: int,
    db: Path,
    *,
    log: Path,
    env: dict[str, str],
    ui_port: int | None = None,
    codec_url: str | None = None,
) -> Child:
    """The dev server on ``port`` with its database in ``db``; headless unless ``ui_port``, the Web
    UI decrypting payloads through ``codec_url`` when given."""
    ui = ["--ui-port", str(ui_port)] if ui_port is not None else ["--headless"]
    codec = ["--ui-codec-endpoint", codec_url] if codec_url and ui_port is not None else []
    command = [
        executable("temporal"), "server", "start-dev",
        "--db-filename", str(db),
        "--ip", "127.0.0.1",
        "--port", str(port),
        *ui, *codec,
        "--log-level", "warn",
        *dev_server_flags(),
    ]  # fmt: skip
    return Child("temporal", command, env=env, log=log, cwd=db.parent)


async def connect_when_ready(
    connect: Callable[[], Awaitable[Client]], *, within: float, failure: str
) -> Client:
    """``connect()`` again until it succeeds; after ``within`` seconds, RuntimeError(failure)."""
    deadline = time.monotonic() + within
    while True:
        try:
            return await connect()
        except Exception:
            if time.monotonic() > deadline:
                raise RuntimeError(failure) from None
            await asyncio.sleep(0.3)


async def pollers(client: Client, task_queue: str, kind: TaskQueueType.ValueType) -> set[str]:
    """The identities polling ``task_queue`` for ``kind`` tasks; none while the server is away.
    The list still names, for a minute, a worker that just stopped."""
    try:
        response = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=client.namespace,
                task_queue=TaskQueue(name=task_queue),
                task_queue_type=kind,
            ),
            timeout=timedelta(seconds=3),
        )
    except Exception:
        return set()
    return {poller.identity for poller in response.pollers}
