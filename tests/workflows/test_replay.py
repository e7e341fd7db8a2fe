"""Every golden history replays against the current journey code: a change that would break
journeys already in flight fails here. Regenerate the histories on purpose with ``make golden``."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter
from temporalio.worker import Replayer

from tests.golden.record import HISTORIES, scenarios
from worker.main import WORKFLOW_RUNNER
from workflows.journey import OnboardingJourney

GOLDEN = sorted(HISTORIES.glob("*.json"))


def load(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(f"onboarding-golden-{path.stem}", path.read_text())


def replayer(*workflows: type, data_converter: DataConverter = pydantic_data_converter) -> Replayer:
    """The worker's own runner: what a worker picking a journey up again would replay."""
    return Replayer(
        workflows=list(workflows or [OnboardingJourney]),
        data_converter=data_converter,
        workflow_runner=WORKFLOW_RUNNER,
    )


def test_every_scenario_has_a_golden_history() -> None:
    assert {p.stem for p in GOLDEN} >= {name for name, _, _ in scenarios()}


@pytest.mark.parametrize("path", GOLDEN, ids=[p.stem for p in GOLDEN])
async def test_golden_history_replays(path: Path) -> None:
    result = await replayer().replay_workflow(load(path), raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"
