"""The child processes of a dev stack: where their commands are, free ports, and each child with
its log, in a process group of its own, ending with its parent however the parent ends.

A child in its own group does not see the terminal's Ctrl-C or hang-up: its parent stops it, in
order, and ``stop_all()`` is the backstop at exit. On Linux the kernel also SIGKILLs every child
when the parent dies without a chance to clean up (SIGKILL, OOM killer).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

BIN = Path(sys.executable).parent
HOSTNAME = socket.gethostname()
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>

# Every child started and not yet reaped, for the backstop at exit.
_children: set[subprocess.Popen[bytes]] = set()


def executable(name: str) -> str:
    """A command installed into this environment (``temporal``, ``temporal-test-server``,
    ``onboarding``), else on PATH; never downloaded."""
    installed = BIN / name
    found = str(installed) if installed.exists() else shutil.which(name)
    if not found:
        raise RuntimeError(f"'{name}' is not installed: run 'make install' first")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _die_with_parent() -> Callable[[], None] | None:
    """On Linux, what the child runs before its command so the kernel SIGKILLs it when the thread
    that started it dies (prctl PR_SET_PDEATHSIG); elsewhere nothing."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before the fork, not after
    except (OSError, AttributeError):
        return None
    parent, kill = os.getpid(), int(signal.SIGKILL)

    def in_child() -> None:
        prctl(_PR_SET_PDEATHSIG, kill, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the line above: follow it now
            os.kill(os.getpid(), kill)

    return in_child


def spawn(
    command: Sequence[str], *, env: dict[str, str], log: Path, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start ``command`` with its output appended to ``log``, in a session of its own, dying with
    this process. Start children from the thread that outlives them (the event loop's): the
    kernel ties a child's life to the thread that started it."""
    _forget_reaped()
    with log.open("ab") as out:
        process = subprocess.Popen(
            list(command),
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            start_new_session=True,
            preexec_fn=_die_with_parent(),
        )
    _children.add(process)
    return process


def signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    """``sig`` to the child and anything it started, unless it has already been reaped."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, sig)


def stop_processes(processes: Sequence[subprocess.Popen[bytes]], timeout: float = 15) -> None:
    """SIGTERM each, then SIGKILL whatever has not ended within ``timeout`` seconds in all."""
    for process in processes:
        signal_group(process, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for process in processes:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            signal_group(process, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)
    _forget_reaped()


def stop_all(timeout: float = 10) -> None:
    """Stop every child still running: the backstop for a teardown that was itself interrupted."""
    stop_processes(sorted(_children, key=lambda p: p.pid), timeout)


def _forget_reaped() -> None:
    for process in [p for p in _children if p.poll() is not None]:
        _children.discard(process)


atexit.register(stop_all)


class Child:
    """One child process and its log; ``start()`` again runs the same command again."""

    def __init__(
        self, name: str, command: list[str], *, env: dict[str, str], log: Path, cwd: Path
    ) -> None:
        self.name = name
        self.command = command
        self.env = env
        self.log = log
        self.cwd = cwd
        self.process: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self._log_start = 0  # where this run's output begins in the log
        self._read_to = 0

    def start(self) -> None:
        with self.log.open("ab") as out:
            out.write(f"\n--- {time.strftime('%H:%M:%S')} start {self.name}\n".encode())
            self._log_start = self._read_to = out.tell()
        self.process = spawn(self.command, env=self.env, log=self.log, cwd=self.cwd)
        self.started_at = time.monotonic()

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def identity(self) -> str | None:
        """The Temporal identity of a worker in this process: the SDK's default, ``pid@host``."""
        return f"{self.pid}@{HOSTNAME}" if self.pid is not None else None

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def returncode(self) -> int | None:
        return self.process.poll() if self.process is not None else None

    def send(self, sig: signal.Signals) -> None:
        if self.process is not None:
            signal_group(self.process, sig)

    def kill(self) -> None:
        """SIGKILL, and reap it."""
        self.send(signal.SIGKILL)
        if self.process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=10)

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM, then SIGKILL if it has not ended within ``timeout``."""
        if self.process is not None:
            stop_processes([self.process], timeout)

    def output(self) -> str:
        """What this run of the command has written so far."""
        return self._read(self._log_start, whole_lines=False).decode(errors="replace")

    def unread(self) -> str:
        """What this run has written since the last call."""
        data = self._read(self._read_to, whole_lines=True)
        self._read_to += len(data)
        return data.decode(errors="replace")

    def log_tail(self, lines: int = 15) -> str:
        return "\n".join(self.output().splitlines()[-lines:])

    def _read(self, offset: int, *, whole_lines: bool) -> bytes:
        try:
            with self.log.open("rb") as log:
                log.seek(offset)
                data = log.read()
        except OSError:
            return b""
        # A line still being written is read again once it is whole.
        return data[: data.rfind(b"\n") + 1] if whole_lines else data
