"""Fixtures shared by the starter's command tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.server import SandboxServer


@pytest.fixture(scope="module")
def module_sandbox() -> Iterator[SandboxServer]:
    """One sandbox for a module whose commands run as separate processes."""
    with SandboxServer(port=0) as server:
        yield server
