"""The dev stack itself: the dev server with the journey's search attributes, the webhook and a
worker come up ready; an exception inside the block takes every process and port down."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest

from devstack.stack import DevStack
from tests.devstack.support import gone
from workflows import search_attributes


@pytest.mark.timeout(180)
async def test_the_stack_comes_up_ready_and_an_exception_takes_it_down(tmp_path: Path) -> None:
    stack = DevStack(tmp_path, workers=1)
    pids: list[int] = []
    with pytest.raises(RuntimeError, match="on purpose"):
        async with stack:
            assert stack.server is not None and stack.webhook is not None
            pids = [c.pid for c in (stack.server, stack.webhook, *stack.workers.children) if c.pid]
            assert len(pids) == 3
            assert await stack.webhook_healthy()
            await stack.until(stack.workers_polling, "the worker in the queue's pollers", 30)
            known = await stack.client.operator_service.list_search_attributes(
                ListSearchAttributesRequest(namespace="default")
            )
            assert {k.name for k in search_attributes.ALL} <= set(known.custom_attributes)
            raise RuntimeError("on purpose")
    gone(pids, [stack.temporal_port, stack.webhook_port])
