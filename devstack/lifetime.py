"""How a process that runs a dev stack ends, so that the stack ends with it.

Ctrl-C already unwinds a run through its ``finally`` blocks (asyncio cancels the main task).
Closing the terminal (SIGHUP) and ``kill`` (SIGTERM) take the same road here. And a run whose
output went away (``| tee`` ended by the same Ctrl-C, a closed terminal) keeps tearing down
quietly instead of failing on its next print.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import TextIO, cast

ENDING_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


@contextlib.contextmanager
def hang_ups_interrupt() -> Iterator[None]:
    """While inside, the first SIGTERM or SIGHUP ends the process the way Ctrl-C does; later ones
    are ignored, so they cannot break into the teardown the first one began."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may handle signals; its own stack handles them there
        return
    ending = False

    def interrupt(signum: int, frame: FrameType | None) -> None:
        nonlocal ending
        if ending:
            return
        ending = True
        if callable(signal.getsignal(signal.SIGINT)):
            signal.raise_signal(signal.SIGINT)  # whoever handles Ctrl-C handles this too
        else:  # Ctrl-C is ignored here (a background job): end the run all the same
            signal.default_int_handler(signum, frame)

    previous = {sig: signal.signal(sig, interrupt) for sig in ENDING_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def quiet_when_gone(stream: TextIO) -> TextIO:
    """``stream``, falling silent once its reader is gone instead of raising from the next write;
    what follows (a teardown, the interpreter's last flush) then runs undisturbed."""
    return cast(TextIO, _QuietWhenGone(stream))


class _QuietWhenGone(io.TextIOBase):
    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.gone = False

    def write(self, text: str) -> int:
        if not self.gone:
            try:
                self.stream.write(text)
                self.stream.flush()
            except OSError:  # EPIPE from a pipe, EIO from a closed terminal
                self._silence()
        return len(text)

    def flush(self) -> None:
        if not self.gone:
            try:
                self.stream.flush()
            except OSError:
                self._silence()

    def isatty(self) -> bool:
        return not self.gone and self.stream.isatty()

    def fileno(self) -> int:
        return self.stream.fileno()

    def _silence(self) -> None:
        self.gone = True
        # Whatever the stream still buffers, and whoever writes to it later, meets /dev/null.
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.stream.fileno())
            os.close(devnull)
