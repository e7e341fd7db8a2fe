"""The worker's log for an operator: a failed vendor attempt is one line (vendor, outcome,
attempt, journey, next retry) and no traceback; a bug keeps its traceback. Real workers on the dev
server, the vendors in the sandbox."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio import activity
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment
from temporalio.worker import Worker

from activities import vendor_http
from activities.contracts import (
    ENRICH_SIGNUP,
    POST_SALES_ALERT,
    SAVE_TO_WAREHOUSE,
    WarehouseRecord,
)
from activities.warehouse import Warehouse
from sandbox.server import SandboxServer
from tests.activities.probe_workflow import PROBE_CALL, OneCall
from tests.conftest import RunningWorker
from tests.worker.local_save_workflow import OneLocalSave
from tests.workflows.test_journey import signup, start
from worker import operator_log
from workflows.models import Outcome

LINE = re.compile(
    r"^(?P<vendor>\S+) attempt (?P<attempt>\d+) failed for journey (?P<journey>\S+): "
    r"(?P<outcome>\w+) \((?P<reason>[^\n]*)\); (?P<next>[^\n]+)$"
)
SDK_LOGGER = "temporalio.activity"


@pytest.fixture
def worker_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """What the worker logs at INFO and above, with the operator log installed."""
    operator_log.install()
    with caplog.at_level(logging.INFO):
        yield caplog


def lines_for(log: pytest.LogCaptureFixture, journey: str) -> list[re.Match[str]]:
    found = [LINE.match(r.getMessage()) for r in log.records if r.name == "onboarding.vendor"]
    return [m for m in found if m is not None and m["journey"] == journey]


async def test_each_failed_vendor_attempt_is_one_line_without_a_traceback(
    dev_worker: RunningWorker, sandbox: SandboxServer, worker_log: pytest.LogCaptureFixture
) -> None:
    # The first try fails, then the retried call fails twice: throttled, then down.
    sandbox.state.script(
        "clearbit",
        [
            {"status": 503, "json": {}},
            {"status": 429, "json": {}, "headers": {"Retry-After": "2"}},
            {"status": 503, "json": {}},
        ],
    )
    handle = await start(dev_worker, signup("ada@globex.example"))
    state = await asyncio.wait_for(handle.result(), timeout=60)
    assert state.outcome == Outcome.SALES_ALERTED

    lines = lines_for(worker_log, handle.id)
    assert [(m["vendor"], m["attempt"], m["outcome"], m["next"]) for m in lines] == [
        ("Clearbit", "1", "VendorUnavailable", "first try; the journey retries after a timer"),
        ("Clearbit", "1", "VendorRateLimited", "next retry in 2s"),
        ("Clearbit", "2", "VendorUnavailable", "next retry in 2s"),
    ]
    assert lines[0]["reason"] == "Clearbit is unavailable: HTTP 503"
    for record in worker_log.records:
        assert record.exc_info is None, record.getMessage()
        assert "Traceback" not in record.getMessage()
    assert not [r for r in worker_log.records if r.name == SDK_LOGGER]
    assert "ada@globex.example" not in worker_log.text
    assert "sk_sandbox" not in worker_log.text  # the vendor's key


async def test_a_bug_keeps_its_traceback(
    dev_server: WorkflowEnvironment, worker_log: pytest.LogCaptureFixture
) -> None:
    @activity.defn(name=PROBE_CALL)
    async def buggy() -> None:
        if activity.info().attempt == 1:
            raise KeyError("company")  # what a lookup bug raises
        if activity.info().attempt == 2:
            raise vendor_http.unavailable("Clearbit", "HTTP 502")

    name = f"operator-log-{uuid.uuid4().hex[:8]}"
    async with (
        Worker(dev_server.client, task_queue=name, workflows=[OneCall]),
        Worker(dev_server.client, task_queue=f"{name}-vendor", activities=[buggy]),
    ):
        await dev_server.client.execute_workflow(
            OneCall.run, f"{name}-vendor", id=name, task_queue=name
        )

    bugs = [r for r in worker_log.records if r.name == SDK_LOGGER and r.exc_info]
    assert len(bugs) == 1
    assert bugs[0].exc_info is not None and bugs[0].exc_info[0] is KeyError
    assert "Traceback" in worker_log.text
    [line] = lines_for(worker_log, name)
    # The failure names its vendor, whichever activity it came from.
    assert (line["vendor"], line["attempt"], line["outcome"]) == (
        "Clearbit",
        "2",
        "VendorUnavailable",
    )
    assert line["next"] == "next retry in 2s"


async def test_a_save_that_times_out_is_one_line(
    dev_server: WorkflowEnvironment, worker_log: pytest.LogCaptureFixture
) -> None:
    @activity.defn(name=SAVE_TO_WAREHOUSE)
    async def hanging_save() -> None:
        if activity.info().attempt == 1:
            await asyncio.sleep(5)

    name = f"operator-log-{uuid.uuid4().hex[:8]}"
    async with Worker(
        dev_server.client, task_queue=name, workflows=[OneLocalSave], activities=[hanging_save]
    ):
        await dev_server.client.execute_workflow(OneLocalSave.run, id=name, task_queue=name)

    [line] = lines_for(worker_log, name)
    assert (line["vendor"], line["attempt"], line["outcome"]) == ("Warehouse", "1", "TimedOut")
    assert line["reason"] == "no answer within 1s"
    assert line["next"] == "next retry in 1s"
    assert not [r for r in worker_log.records if r.exc_info]


# The line, attempt by attempt, without a server.

VENDOR_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(minutes=2),
    non_retryable_error_types=["VendorRejectedRequest"],
)


def info(attempt: int = 1, policy: RetryPolicy | None = VENDOR_RETRY) -> activity.Info:
    return dataclasses.replace(
        ActivityEnvironment.default_info(),
        activity_type=POST_SALES_ALERT,
        attempt=attempt,
        workflow_id="onboarding-u-1",
        retry_policy=policy,
    )


@pytest.mark.parametrize(
    ("error", "attempt", "next_retry"),
    [
        (vendor_http.unavailable("Slack", "HTTP 500"), 1, "next retry in 1s"),
        (vendor_http.unavailable("Slack", "HTTP 500"), 4, "next retry in 8s"),
        (vendor_http.unavailable("Slack", "HTTP 500"), 12, "next retry in 2m"),
        (vendor_http.rate_limited("Slack", timedelta(seconds=30)), 1, "next retry in 30s"),
        (
            vendor_http.needs_operator("Slack", "not_in_channel", "Invite the bot."),
            9,
            "next retry in 2m",
        ),
        (vendor_http.rejected("Slack", "invalid_blocks"), 1, "no retry"),
    ],
)
def test_the_next_retry_is_the_policys(
    error: ApplicationError, attempt: int, next_retry: str
) -> None:
    line = operator_log.attempt_line(error, info(attempt))
    assert line is not None and line.endswith(f"; {next_retry}")
    assert line.startswith(f"Slack attempt {attempt} failed for journey onboarding-u-1: ")


def test_a_first_try_says_the_journey_retries() -> None:
    line = operator_log.attempt_line(
        vendor_http.unavailable("Clearbit", "HTTP 503"),
        dataclasses.replace(
            info(policy=RetryPolicy(maximum_attempts=1)), activity_type=ENRICH_SIGNUP
        ),
    )
    assert line == (
        "Clearbit attempt 1 failed for journey onboarding-u-1: VendorUnavailable "
        "(Clearbit is unavailable: HTTP 503); first try; the journey retries after a timer"
    )


def test_a_call_out_of_attempts_goes_back_to_the_journey() -> None:
    policy = RetryPolicy(maximum_attempts=3)
    line = operator_log.attempt_line(vendor_http.unavailable("Slack", "HTTP 500"), info(3, policy))
    assert line is not None and line.endswith("; attempts used up; back to the journey")


def test_the_line_has_no_email_and_no_line_break() -> None:
    error = vendor_http.rejected("Slack", "Invalid `to` field: ana@acme.io\nsecond line")
    line = operator_log.attempt_line(error, info())
    assert line is not None and "ana@acme.io" not in line and "\n" not in line
    assert "<email>" in line


@pytest.mark.parametrize(
    "error",
    [TypeError("unexpected"), ApplicationError("Failed decoding arguments"), KeyError("x")],
)
def test_anything_else_is_a_bug(error: BaseException) -> None:
    assert operator_log.attempt_line(error, info()) is None


def test_a_warehouse_that_is_down_is_expected(tmp_path: Path) -> None:
    save = dataclasses.replace(
        info(), activity_type=SAVE_TO_WAREHOUSE, workflow_run_id="run-1", retry_policy=None
    )
    environment = ActivityEnvironment()
    environment.info = save
    warehouse = Warehouse(f"sqlite:///{tmp_path / 'no-such-volume' / 'warehouse.db'}")
    with pytest.raises(ApplicationError) as down:
        environment.run(warehouse.save_activity, WarehouseRecord(step="s", vendor="v", payload={}))
    line = operator_log.attempt_line(down.value, save)
    assert line is not None
    assert line.startswith("Warehouse attempt 1 failed for journey onboarding-u-1: ")
    assert line.endswith("; retry per policy")
