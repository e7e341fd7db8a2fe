"""Running the ``onboarding`` command as a separate process, as a user would."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

from temporalio.client import WorkflowHandle

from sandbox.server import SandboxServer
from workflows.journey import OnboardingJourney
from workflows.models import JourneyState

ONBOARDING = str(Path(sys.executable).parent / "onboarding")


def command_env(
    temporal_address: str, sandbox: SandboxServer, warehouse_url: str, **extra: str
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_")}
    env.update(sandbox.base_urls())
    env.update(
        TEMPORAL_ADDRESS=temporal_address,
        TEMPORAL_NAMESPACE="default",
        WAREHOUSE_URL=warehouse_url,
        HTTP_TIMEOUT_SECONDS="3",
        **extra,
    )
    return env


def onboarding(
    *args: str, env: dict[str, str], stdin: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ONBOARDING, *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([ONBOARDING, "worker"], env=env, stdout=out, stderr=out)


async def wait_for_emails(
    handle: WorkflowHandle[OnboardingJourney, JourneyState], count: int, timeout: float = 30
) -> None:
    """Poll the journey's ``state`` query until ``count`` emails have gone out."""
    deadline = time.monotonic() + timeout
    while (await handle.query(OnboardingJourney.state)).emails_sent < count:
        assert time.monotonic() < deadline, f"email {count} was never sent"
        await asyncio.sleep(0.1)
