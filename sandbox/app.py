"""The sandbox as one Starlette app: each fake vendor under its own prefix, plus controls."""

from __future__ import annotations

from starlette.applications import Starlette

from sandbox import control
from sandbox.state import SandboxState


def create_app(state: SandboxState | None = None) -> Starlette:
    """Build the app; pass a ``SandboxState`` to share it with the code driving the sandbox."""
    state = state if state is not None else SandboxState()
    vendor_routes = [route for fake in state.vendors.values() for route in fake.routes()]
    app = Starlette(routes=[*vendor_routes, *control.routes(state)])
    app.state.sandbox = state
    return app
