"""Listening sockets and logs for the project's HTTP services (webhook, codec server, vendor
sandbox)."""

from __future__ import annotations

import copy
import socket
from typing import Any

from uvicorn.config import LOGGING_CONFIG


class ListenError(Exception):
    """The address cannot be listened on; the message is one sentence saying what to do."""


def listen(host: str, port: int) -> socket.socket:
    """Bind and listen before uvicorn starts: a taken port becomes one clear line rather than a
    log, and port 0 gives a real port known before serving."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise ListenError(f"'{host}' is not an address this machine can listen on.") from exc
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise ListenError(
            f"Cannot listen on {host}:{port} ({exc.strerror}): stop what runs there or choose "
            "another port with --port."
        ) from exc
    return sock


def log_config(logger: str) -> dict[str, Any]:
    """uvicorn's logging, with the service's own ``logger`` printed beside its access log."""
    config: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"][logger] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config
