"""End to end on the dev server with the worker as a separate process: SIGKILL it while a journey
waits between emails and again while an email is in flight; the journey still completes with
exactly three emails accepted, each once."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
import uuid
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from sandbox.server import SandboxServer
from tests.helpers import command_env, onboarding, start_worker
from workflows.journey import OnboardingJourney
from workflows.models import Outcome


def kill(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)


async def until(predicate: object, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.05)


async def test_sigkilled_worker_loses_and_duplicates_nothing(
    dev_server: WorkflowEnvironment, sandbox: SandboxServer, tmp_path: Path
) -> None:
    env = command_env(
        dev_server.client.service_client.config.target_host,
        sandbox,
        f"sqlite:///{tmp_path / 'warehouse.db'}",
        EMAIL_SCHEDULE="0s,6s,12s",
        VENDOR_CALL_TIMEOUT="4s",
    )
    log = tmp_path / "worker.log"
    user_id = f"crash-{uuid.uuid4().hex[:8]}"
    workflow_id = f"onboarding-{user_id}"
    handle = dev_server.client.get_workflow_handle_for(OnboardingJourney.run, workflow_id)

    worker = start_worker(env, log)
    started = onboarding(
        "start",
        "--user-id",
        user_id,
        "--email",
        "sam@shopbright.example",
        "--first-name",
        "Sam",
        env=env,
    )
    assert started.returncode == 0, started.stderr

    async def first_email_sent() -> bool:
        return (await handle.query(OnboardingJourney.state)).emails_sent == 1

    await until(first_email_sent)
    # Killed while the journey waits between email 1 and email 2.
    kill(worker)
    await asyncio.sleep(7)  # email 2's timer fires while no worker runs
    worker = start_worker(env, log)

    async def second_email_sent() -> bool:
        return (await handle.query(OnboardingJourney.state)).emails_sent == 2

    await until(second_email_sent)
    # Killed again while email 3 is in flight: Resend has accepted it, the answer never arrives.
    sandbox.state.set_faults(latency_seconds=2.0, vendors=["resend"])

    async def third_email_in_flight() -> bool:
        return any(
            c["idempotency_key"] == f"{workflow_id}/email-3" for c in sandbox.state.calls("resend")
        )

    await until(third_email_in_flight)
    kill(worker)
    sandbox.state.set_faults(latency_seconds=0.0)
    worker = start_worker(env, log)
    try:
        state = await asyncio.wait_for(handle.result(), timeout=90)
    finally:
        worker.terminate()
        worker.wait(timeout=20)

    assert state.outcome == Outcome.EMAILS_COMPLETED
    assert state.emails_sent == 3
    summary = sandbox.state.summary()
    assert summary["emails_accepted"] == 3
    keys = [c["idempotency_key"] for c in sandbox.state.calls("resend")]
    assert set(keys) == {f"{workflow_id}/email-{n}" for n in (1, 2, 3)}
    # The retried send of email 3 reused its key and was answered from Resend's idempotency store.
    assert keys.count(f"{workflow_id}/email-3") >= 2
    assert summary["duplicates_caught"] >= 1
    # Email 2 came late (the worker was down), and email 3 kept its 6 s gap after it.
    first, second, third = (email.sent_at for email in state.emails)
    assert (second - first).total_seconds() >= 6
    assert (third - second).total_seconds() >= 6 - 0.5
