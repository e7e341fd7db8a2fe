"""However a process running children ends, they end: SIGKILL included (the kernel's death
signal), SIGHUP and SIGTERM taking Ctrl-C's road through every ``finally``, and output whose
reader is gone never raising into a teardown. Each case is a small Python process of its own."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.devstack.support import alive, until

SPAWNS_A_SLEEPER = """
import sys, time
from pathlib import Path
from devstack.processes import spawn
child = spawn(["sleep", "120"], env={"PATH": "/usr/bin:/bin"}, log=Path(sys.argv[1]))
print(child.pid, flush=True)
time.sleep(120)
"""

WAITS_FOR_A_SIGNAL = """
import signal, sys, time
from devstack.lifetime import hang_ups_interrupt
if sys.argv[1] == "ctrl-c-ignored":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
with hang_ups_interrupt():
    try:
        print("ready", flush=True)
        time.sleep(60)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
"""

TEARS_DOWN_ASYNC = """
import asyncio, os, signal
from devstack.lifetime import hang_ups_interrupt

async def main():
    with hang_ups_interrupt():
        try:
            print("ready", flush=True)
            await asyncio.sleep(60)
        finally:
            os.kill(os.getpid(), signal.SIGHUP)  # a second one, in the middle of the teardown
            await asyncio.sleep(0.5)
            print("torn down", flush=True)

try:
    asyncio.run(main())
except KeyboardInterrupt:
    print("interrupted", flush=True)
"""

WRITES_AFTER_ITS_READER_LEFT = """
import sys
from devstack.lifetime import quiet_when_gone
out = quiet_when_gone(sys.stdout)
print("ready", file=out)
sys.stdin.readline()  # the reader has gone by now
for _ in range(3):
    print("more", file=out)
sys.stdout.write("buffered, flushed at exit\\n")
print("still here", file=sys.stderr)
"""


def python(script: str, *args: str, **popen: Any) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", script, *args], text=True, **popen)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux's")
def test_a_child_dies_with_a_parent_that_was_sigkilled(tmp_path: Path) -> None:
    parent = python(SPAWNS_A_SLEEPER, str(tmp_path / "sleep.log"), stdout=subprocess.PIPE)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    assert alive(child)
    parent.kill()
    parent.wait(timeout=10)
    until(lambda: not alive(child), 10, f"the child {child} ended with its parent")


@pytest.mark.parametrize(
    ("sig", "mode"),
    [
        (signal.SIGHUP, "ctrl-c-handled"),
        (signal.SIGTERM, "ctrl-c-handled"),
        (signal.SIGHUP, "ctrl-c-ignored"),
    ],
)
def test_sighup_and_sigterm_end_the_run_like_ctrl_c(sig: signal.Signals, mode: str) -> None:
    process = python(WAITS_FOR_A_SIGNAL, mode, stdout=subprocess.PIPE)
    assert process.stdout is not None
    assert process.stdout.readline() == "ready\n"
    process.send_signal(sig)
    out, _ = process.communicate(timeout=10)
    assert out == "interrupted\n"
    assert process.returncode == 0


def test_an_async_teardown_runs_to_its_end_despite_a_second_hang_up() -> None:
    process = python(TEARS_DOWN_ASYNC, stdout=subprocess.PIPE)
    assert process.stdout is not None
    assert process.stdout.readline() == "ready\n"
    process.send_signal(signal.SIGHUP)
    out, _ = process.communicate(timeout=10)
    assert out == "torn down\ninterrupted\n"


def test_output_whose_reader_left_goes_quiet_instead_of_raising() -> None:
    process = python(
        WRITES_AFTER_ITS_READER_LEFT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stdin is not None
    assert process.stdout.readline() == "ready\n"
    process.stdout.close()  # `| tee` ended by Ctrl-C
    process.stdin.write("go\n")
    process.stdin.close()
    assert process.wait(timeout=10) == 0
    assert process.stderr is not None
    assert process.stderr.read() == "still here\n"  # no BrokenPipeError, not even at exit
