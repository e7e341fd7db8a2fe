"""``onboarding demo`` leaves nothing behind however it ends: the terminal closed (SIGHUP),
SIGTERM, SIGKILL, and Ctrl-C after ``| tee`` has already ended. The demo runs as a user starts it,
in a session of its own, on free ports."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from devstack.processes import free_port
from tests.devstack.support import (
    children,
    command_line,
    gone,
    read,
    signal_group,
    wait_for_line,
)
from tests.helpers import ONBOARDING

READY = "Vendor sandbox:"  # the demo says it once the dev server answers


class Demo:
    def __init__(self, tmp_path: Path, stdout: int | Path) -> None:
        self.temporal_port, self.ui_port = free_port(), free_port()
        env = dict(os.environ)
        env.update(
            DEMO_TEMPORAL_PORT=str(self.temporal_port),
            DEMO_UI_PORT=str(self.ui_port),
            DEMO_SANDBOX_PORT=str(free_port()),
            DEMO_CODEC_PORT=str(free_port()),
            DEMO_STATE_DIR=str(tmp_path / ".demo"),
            METRICS_PORT=str(free_port()),
        )
        self.stderr = tmp_path / "stderr.log"
        with self.stderr.open("w") as err:
            out = stdout.open("w") if isinstance(stdout, Path) else None
            self.process = subprocess.Popen(
                [ONBOARDING, "demo"],
                env=env,
                cwd=tmp_path,
                stdin=subprocess.DEVNULL,
                stdout=out if out is not None else stdout,
                stderr=err,
                start_new_session=True,  # as a terminal's job: a group that signals reach
            )
            if out is not None:
                out.close()

    def dev_server(self) -> int:
        [pid] = [p for p in children(self.process.pid) if "start-dev" in command_line(p)]
        return pid

    def ends(self) -> None:
        try:
            self.process.wait(timeout=60)
        finally:
            if self.process.poll() is None:
                signal_group(self.process.pid, signal.SIGKILL)


@pytest.mark.timeout(240)
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGTERM, signal.SIGKILL])
def test_the_demo_leaves_no_dev_server_behind(tmp_path: Path, sig: signal.Signals) -> None:
    output = tmp_path / "stdout.log"
    demo = Demo(tmp_path, output)
    wait_for_line(output, READY, 120, demo.process.pid)
    server = demo.dev_server()

    signal_group(demo.process.pid, sig)
    demo.ends()
    gone([server], [demo.temporal_port, demo.ui_port])
    if sig != signal.SIGKILL:
        assert "Stopped." in read(output)
        assert "Traceback" not in read(demo.stderr)


@pytest.mark.timeout(240)
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_ctrl_c_after_tee_ended_still_stops_the_dev_server(tmp_path: Path) -> None:
    output = tmp_path / "tee.log"
    demo = Demo(tmp_path, subprocess.PIPE)
    assert demo.process.stdout is not None
    tee = subprocess.Popen(
        ["tee", str(output)], stdin=demo.process.stdout, stdout=subprocess.DEVNULL
    )
    demo.process.stdout.close()  # tee is the pipe's only reader
    wait_for_line(output, READY, 120, demo.process.pid)
    server = demo.dev_server()

    # Ctrl-C reaches tee and the demo together; tee is gone first.
    tee.kill()
    tee.wait(timeout=10)
    signal_group(demo.process.pid, signal.SIGINT)
    demo.ends()
    gone([server], [demo.temporal_port, demo.ui_port])
    errors = read(demo.stderr)
    assert "Traceback" not in errors and "BrokenPipeError" not in errors, errors[-3000:]
