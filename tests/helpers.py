"""Running the ``onboarding`` command as a separate process, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sandbox.server import SandboxServer

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
