"""What the dev stack's tests look at: processes by pid, ports, lines a child has written."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from devstack.processes import port_open


def alive(pid: int) -> bool:
    """Running, and not merely a zombie waiting to be reaped."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


def children(pid: int) -> list[int]:
    """The pids ``pid`` started, from /proc (Linux)."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def until(condition: Callable[[], bool], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"after {within:.0f}s, still not: {what}"
        time.sleep(0.1)


def gone(pids: list[int], ports: list[int], within: float = 30) -> None:
    """Every pid has ended and every port is closed, within ``within`` seconds."""
    until(lambda: not any(alive(p) for p in pids), within, f"processes {pids} ended")
    until(lambda: not any(port_open(p) for p in ports), 5, f"ports {ports} closed")


def read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


def wait_for_line(path: Path, text: str, within: float, process_pid: int) -> None:
    until(
        lambda: text in read(path) or not alive(process_pid),
        within,
        f"{text!r} in {path.name}",
    )
    assert text in read(path), f"{path.name} never said {text!r}:\n{read(path)[-3000:]}"


def signal_group(pid: int, sig: int) -> None:
    """``sig`` to the process group led by ``pid``, as a terminal sends it to its foreground job."""
    os.killpg(pid, sig)
