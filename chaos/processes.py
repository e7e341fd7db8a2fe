"""The real processes of a chaos run: the Temporal dev server, the signup webhook and the workers.

Each is a child process with its own log file in the run's directory, started again with the same
command after it was killed. The workers are supervised: one that exits without being told to is
recorded and started again, so two always poll the task queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from activities.contracts import ONE_PARTITION_DEV_SERVER_FLAGS
from activities.vendors import VENDOR_NAMES
from workflows import search_attributes

BIN = Path(sys.executable).parent
HOSTNAME = socket.gethostname()
# A worker that ends this soon after starting did not get going; after a few, stop trying.
QUICK_EXIT_SECONDS = 10.0
GIVE_UP_AFTER_QUICK_EXITS = 5


# Vendor queue limits no run reaches, for runs about faults and the engine rather than the
# vendors' limits (``VENDOR_RATE_LIMITS``).
UNTHROTTLED_VENDORS = ",".join(f"{name}=1000" for name in VENDOR_NAMES)


def executable(name: str) -> str:
    """A command installed into this environment (``temporal``, ``onboarding``), else on PATH."""
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


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class Child:
    """One child process and its log; ``start()`` again runs the same command again."""

    def __init__(
        self,
        name: str,
        command: list[str],
        *,
        env: dict[str, str],
        log: Path,
        cwd: Path,
        own_group: bool = False,
    ) -> None:
        self.name = name
        self.command = command
        self.env = env
        self.log = log
        self.cwd = cwd
        # A process group of its own when the command starts children of its own (the dev server).
        self.own_group = own_group
        self.process: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0

    def start(self) -> None:
        with self.log.open("ab") as out:
            out.write(f"\n--- {time.strftime('%H:%M:%S')} start {self.name}\n".encode())
            out.flush()
            self.process = subprocess.Popen(
                self.command,
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                start_new_session=self.own_group,
            )
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
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            if self.own_group:
                os.killpg(self.process.pid, sig)
            else:
                self.process.send_signal(sig)

    def kill(self) -> None:
        """SIGKILL, and reap it."""
        self.send(signal.SIGKILL)
        if self.process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=10)

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM, then SIGKILL if it has not ended within ``timeout``."""
        if not self.running():
            return
        self.send(signal.SIGTERM)
        assert self.process is not None
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def dev_server(port: int, db: Path, run_dir: Path) -> Child:
    """The Temporal dev server on ``port`` with its database in ``db`` and the journey's search
    attributes registered; headless, since nobody watches the Web UI during a chaos run."""
    command = [
        executable("temporal"), "server", "start-dev",
        "--db-filename", str(db),
        "--ip", "127.0.0.1",
        "--port", str(port),
        "--headless",
        "--log-level", "warn",
        *search_attributes.cli_flags(),
        *ONE_PARTITION_DEV_SERVER_FLAGS,
    ]  # fmt: skip
    return Child(
        "temporal",
        command,
        env=dict(os.environ),
        log=run_dir / "temporal.log",
        cwd=run_dir,
        own_group=True,
    )


def webhook(port: int, env: dict[str, str], run_dir: Path) -> Child:
    command = [executable("onboarding"), "webhook", "--host", "127.0.0.1", "--port", str(port)]
    return Child("webhook", command, env=env, log=run_dir / "webhook.log", cwd=run_dir)


def worker(slot: int, env: dict[str, str], run_dir: Path) -> Child:
    command = [executable("onboarding"), "worker"]
    return Child(
        f"worker-{slot}", command, env=env, log=run_dir / f"worker-{slot}.log", cwd=run_dir
    )


@dataclass
class Exit:
    """A worker that ended without being told to."""

    worker: str
    pid: int | None
    returncode: int | None
    at: float
    server_down: bool
    log_tail: str


@dataclass
class Workers:
    """The workers, kept at full strength: a kill is followed at once by a new process."""

    children: list[Child]
    server_up: Callable[[], bool]
    on_event: Callable[[str], None] = print
    kills: int = 0
    restarts: int = 0
    start_failures: int = 0
    unexpected_exits: list[Exit] = field(default_factory=list)
    failing: str | None = None
    _killing: set[int] = field(default_factory=set)
    _quick_exits: dict[int, int] = field(default_factory=dict)
    _not_before: dict[int, float] = field(default_factory=dict)

    def start(self) -> None:
        for child in self.children:
            child.start()

    def identities(self) -> set[str]:
        return {c.identity for c in self.children if c.running() and c.identity is not None}

    def slot_of(self, identity: str) -> int | None:
        return next((i for i, c in enumerate(self.children) if c.identity == identity), None)

    def kill(self, slot: int, reason: str) -> None:
        """SIGKILL one worker and start its replacement straight away."""
        child = self.children[slot]
        self._killing.add(slot)
        try:
            pid = child.pid
            child.kill()
            self.kills += 1
            child.start()
            self.restarts += 1
            self.on_event(f"SIGKILLed {child.name} (pid {pid}) {reason}; started pid {child.pid}")
        finally:
            self._killing.discard(slot)

    async def supervise(self, stop: asyncio.Event) -> None:
        """Start again any worker that ended on its own, and record why; give up on one that
        keeps ending as soon as it starts (``failing`` says why)."""
        while not stop.is_set():
            for slot, child in enumerate(self.children):
                lived = time.monotonic() - child.started_at
                if child.running() and lived > QUICK_EXIT_SECONDS:
                    self._quick_exits[slot] = 0
                if slot in self._killing or child.running() or self.failing:
                    continue
                if time.monotonic() < self._not_before.get(slot, 0.0):
                    continue
                server_down = not self.server_up()
                code = child.returncode()
                tail = child.log_tail()
                if lived < QUICK_EXIT_SECONDS and "cannot reach Temporal" in tail:
                    # It could not connect (the server is restarting): try again shortly.
                    self.start_failures += 1
                else:
                    self.unexpected_exits.append(
                        Exit(child.name, child.pid, code, time.time(), server_down, tail)
                    )
                    self.on_event(
                        f"{child.name} (pid {child.pid}) exited by itself with code {code}"
                        f"{' while the server was down' if server_down else ''}; starting it again"
                    )
                if lived < QUICK_EXIT_SECONDS:
                    quick = self._quick_exits.get(slot, 0) + 1
                    self._quick_exits[slot] = quick
                    if quick >= GIVE_UP_AFTER_QUICK_EXITS and not server_down:
                        last = tail.strip().splitlines()[-1:] or ["(no output)"]
                        self.failing = f"{child.name} keeps exiting at start: {last[0]}"
                        continue
                    self._not_before[slot] = time.monotonic() + min(0.5 * 2**quick, 5.0)
                child.start()
                self.restarts += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=0.25)

    def stop(self) -> None:
        for child in self.children:
            child.send(signal.SIGTERM)
        for child in self.children:
            child.stop(timeout=15)
