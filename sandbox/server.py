"""Run the sandbox: in a background thread for tests and demos, or in the foreground for the CLI."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import uvicorn

from common.serving import ListenError, listen, log_config
from sandbox.app import create_app
from sandbox.control import base_urls
from sandbox.state import SandboxState

logger = logging.getLogger("sandbox")

START_TIMEOUT_SECONDS = 10.0
STOP_TIMEOUT_SECONDS = 5.0
# In-flight requests sleeping out injected latency get this long before shutdown cancels them.
GRACEFUL_SHUTDOWN_SECONDS = 1


class SandboxStartError(RuntimeError):
    """The sandbox could not start listening; the message says what to do."""


def _bind(host: str, port: int) -> socket.socket:
    try:
        return listen(host, port)
    except ListenError as exc:
        raise SandboxStartError(str(exc)) from exc


def _url(host: str, port: int) -> str:
    if host in {"0.0.0.0", ""}:
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _config(state: SandboxState, log_config: dict[str, Any] | None) -> uvicorn.Config:
    # No access log: request lines carry email addresses, which are personal data.
    return uvicorn.Config(
        create_app(state),
        log_config=log_config,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )


class SandboxServer:
    """The sandbox on a real port in a background thread.

    ``with SandboxServer(port=0) as server:`` gives ``server.url``, ``server.state`` and
    ``server.base_urls()``; leaving the block stops it.
    """

    def __init__(
        self, port: int = 0, *, host: str = "127.0.0.1", state: SandboxState | None = None
    ) -> None:
        self.host = host
        self.requested_port = port
        self.state = state if state is not None else SandboxState()
        self.port: int | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("The sandbox is not running: call start() or use it in a with.")
        return _url(self.host, self.port)

    def base_urls(self) -> dict[str, str]:
        """The environment a worker needs to use this sandbox: every vendor's address and key."""
        return base_urls(self.url, self.state)

    def start(self) -> SandboxServer:
        """Start serving; returns once the server accepts connections."""
        if self._thread is not None:
            return self
        sock = _bind(self.host, self.requested_port)
        # log_config=None leaves the host process's logging (pytest's, the demo's) alone.
        server = uvicorn.Server(_config(self.state, log_config=None))
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="sandbox-server", daemon=True
        )
        thread.start()
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                thread.join(STOP_TIMEOUT_SECONDS)
                sock.close()
                raise SandboxStartError("The sandbox server did not start; see the log above.")
            time.sleep(0.005)
        self.port = sock.getsockname()[1]
        self._server, self._thread = server, thread
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread to end."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.should_exit = True
        thread.join(STOP_TIMEOUT_SECONDS + GRACEFUL_SHUTDOWN_SECONDS)
        if thread.is_alive():
            server.force_exit = True
            thread.join(STOP_TIMEOUT_SECONDS)
        self._server = self._thread = None
        self.port = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def serve(
    host: str = "127.0.0.1", port: int = 8787, *, rate_limits: Mapping[str, float] | None = None
) -> None:
    """Run the sandbox in the foreground until Ctrl+C (the ``onboarding sandbox`` command),
    answering 429 past ``rate_limits`` (requests per second per vendor)."""
    state = SandboxState(rate_limits=rate_limits)
    sock = _bind(host, port)
    server = uvicorn.Server(_config(state, log_config=log_config("sandbox")))
    url = _url(host, sock.getsockname()[1])
    logger.info(
        "Vendor sandbox on %s: point the *_BASE_URL settings here (see %s/ for keys); Ctrl+C stops.",
        url,
        url,
    )
    if limits := state.rate_limits:
        logger.info(
            "Rate limits enforced (requests/s): %s; PUT %s/_sandbox/rate-limits changes them.",
            ", ".join(f"{vendor} {rate:g}" for vendor, rate in limits.items()),
            url,
        )
    # uvicorn re-raises the Ctrl+C it already handled; the shutdown was clean.
    with contextlib.suppress(KeyboardInterrupt):
        server.run(sockets=[sock])
    logger.info("Vendor sandbox stopped.")
