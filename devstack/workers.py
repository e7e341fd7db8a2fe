"""The journey workers of a dev stack: ``onboarding worker`` processes polling the same queues.

Supervised, they are kept at full strength: one that ends without being told to is recorded and
started again, and a kill is followed at once by a new process. A worker that cannot reach
Temporal at start keeps trying by itself (or, an older one, exits and is started again); either
way each failed attempt counts, and one that still cannot while the server is up is failing.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from devstack.processes import Child, executable, stop_processes

UNREACHABLE = "cannot reach Temporal"  # what a worker logs for each failed attempt to connect
POLLING = "worker polling task queue"  # what a worker logs once all its queues are polled
# A worker that ends this soon after starting did not get going; after a few, stop trying.
QUICK_EXIT_SECONDS = 10.0
GIVE_UP_AFTER_QUICK_EXITS = 5
# A worker still unable to reach a server that has been up this long will not by itself.
GIVE_UP_UNREACHABLE_SECONDS = 60.0


@dataclass
class Exit:
    """A worker that ended without being told to."""

    worker: str
    pid: int | None
    returncode: int | None
    at: float
    server_down: bool
    log_tail: str


class Workers:
    def __init__(
        self,
        count: int,
        run_dir: Path,
        *,
        server_up: Callable[[], bool] = lambda: True,
        on_event: Callable[[str], None] = print,
        command: list[str] | None = None,
    ) -> None:
        """``command``: what each worker runs (``onboarding worker``)."""
        self.count = count
        self.command = command
        self.run_dir = run_dir
        self.server_up = server_up
        self.on_event = on_event
        self.children: list[Child] = []
        self.kills = 0
        self.restarts = 0
        self.start_failures = 0  # failed attempts to reach Temporal at start
        self.unexpected_exits: list[Exit] = []
        self.failing: str | None = None
        self._killing: set[int] = set()
        self._quick_exits: dict[int, int] = {}
        self._not_before: dict[int, float] = {}
        self._unreachable: dict[int, tuple[float, str]] = {}  # since when, and the last line

    def start(self, env: dict[str, str]) -> None:
        """``count`` workers with ``env``, each logging to ``worker-<slot>.log``."""
        command = self.command or [executable("onboarding"), "worker"]
        self.children = [
            Child(
                f"worker-{n}",
                command,
                env=env,
                log=self.run_dir / f"worker-{n}.log",
                cwd=self.run_dir,
            )
            for n in range(self.count)
        ]
        for child in self.children:
            child.start()

    def identities(self) -> set[str]:
        return {c.identity for c in self.children if c.running() and c.identity is not None}

    def slot_of(self, identity: str) -> int | None:
        return next((i for i, c in enumerate(self.children) if c.identity == identity), None)

    def polling(self) -> bool:
        """Every worker has said, since it last started, that it polls."""
        return all(POLLING in child.output() for child in self.children)

    def kill(self, slot: int, reason: str) -> None:
        """SIGKILL one worker and start its replacement straight away."""
        child = self.children[slot]
        self._killing.add(slot)
        try:
            pid = child.pid
            child.kill()
            self.kills += 1
            self._restart(slot)
            self.on_event(f"SIGKILLed {child.name} (pid {pid}) {reason}; started pid {child.pid}")
        finally:
            self._killing.discard(slot)

    async def supervise(self, stop: asyncio.Event) -> None:
        """Until ``stop``: start again any worker that ended on its own and record why, and note
        one that keeps failing to start (``failing`` says why)."""
        while not stop.is_set():
            for slot, child in enumerate(self.children):
                self._read(slot)
                if slot not in self._killing and not self.failing:
                    self._look_after(slot, child)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=0.25)

    def stop(self) -> None:
        stop_processes([c.process for c in self.children if c.process is not None])

    def _look_after(self, slot: int, child: Child) -> None:
        now = time.monotonic()
        lived = now - child.started_at
        if child.running():
            if lived > QUICK_EXIT_SECONDS:
                self._quick_exits[slot] = 0
            since, line = self._unreachable.get(slot, (now, ""))
            if line and now - since > GIVE_UP_UNREACHABLE_SECONDS:
                self.failing = f"{child.name} cannot reach the running server: {line.strip()}"
            return
        if now < self._not_before.get(slot, 0.0):
            return
        server_down = not self.server_up()
        code = child.returncode()
        tail = child.log_tail()
        if UNREACHABLE not in tail or lived >= QUICK_EXIT_SECONDS:
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
                return
            self._not_before[slot] = now + min(0.5 * 2**quick, 5.0)
        self._restart(slot)

    def _read(self, slot: int) -> None:
        """Count the worker's failed attempts to connect, and whether it got through since."""
        for line in self.children[slot].unread().splitlines():
            if UNREACHABLE in line:
                self.start_failures += 1
                since = self._unreachable.get(slot, (time.monotonic(), ""))[0]
                self._unreachable[slot] = (since, line)
            elif POLLING in line:
                self._unreachable.pop(slot, None)
        if not self.server_up():
            self._unreachable.pop(slot, None)  # the clock runs while the server is up only

    def _restart(self, slot: int) -> None:
        self._read(slot)
        self._unreachable.pop(slot, None)
        self.children[slot].start()
        self.restarts += 1
