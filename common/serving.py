"""Listening sockets for the project's HTTP services (webhook, codec server, vendor sandbox)."""

from __future__ import annotations

import socket


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
