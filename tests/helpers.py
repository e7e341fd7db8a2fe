"""Running the ``onboarding`` command as a separate process, as a user would."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

from temporalio.client import WorkflowHandle

from activities.contracts import OnboardingEmail
from activities.email_content import EmailContent
from activities.mailroom import OutgoingEmail, email_reference
from devstack import stack
from devstack.processes import executable, spawn
from sandbox import SandboxServer
from workflows.journey import OnboardingJourney
from workflows.models import JourneyState

ONBOARDING = executable("onboarding")


def command_env(
    temporal_address: str, sandbox: SandboxServer, warehouse_url: str, **extra: str
) -> dict[str, str]:
    """The dev stack's environment for a command, with vendors given up on after 3 s."""
    settings = {"HTTP_TIMEOUT_SECONDS": "3", **extra}
    return stack.command_env(temporal_address, sandbox, warehouse_url, **settings)


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
    """``onboarding worker`` as the dev stack starts one: ending with the test session."""
    return spawn([ONBOARDING, "worker"], env=env, log=log)


async def wait_for_emails(
    handle: WorkflowHandle[OnboardingJourney, JourneyState], count: int, timeout: float = 30
) -> None:
    """Poll the journey's ``state`` query until ``count`` emails have gone out."""
    deadline = time.monotonic() + timeout
    while (await handle.query(OnboardingJourney.state)).emails_sent < count:
        assert time.monotonic() < deadline, f"email {count} was never sent"
        await asyncio.sleep(0.1)


def outgoing(email: OnboardingEmail, workflow_id: str = "onboarding-u-42") -> OutgoingEmail:
    """``email`` as the mailroom hands it to a provider, with a fixed body."""
    return OutgoingEmail(
        request=email,
        content=EmailContent(subject="Welcome", text="Hello", html="<p>Hello</p>"),
        reference=email_reference(workflow_id, email.number),
        unsubscribe_url="https://journeys.example/unsubscribe/token",
    )
