"""The sandbox as one Starlette app: four fake vendors under their own prefixes, plus controls."""

from __future__ import annotations

from starlette.applications import Starlette

from sandbox import builtwith, clearbit, control, resend, slack
from sandbox.state import SandboxState


def create_app(state: SandboxState | None = None) -> Starlette:
    """Build the app; pass a ``SandboxState`` to share it with the code driving the sandbox."""
    state = state if state is not None else SandboxState()
    app = Starlette(
        routes=[
            *clearbit.routes(state),
            *builtwith.routes(state),
            *slack.routes(state),
            *resend.routes(state),
            *control.routes(state),
        ]
    )
    app.state.sandbox = state
    return app
