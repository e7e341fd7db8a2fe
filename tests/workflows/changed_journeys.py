"""Two ways of adding a last step (save a summary row) to the journey, for the safe-change tests.

A module of its own: workflow code is loaded into Temporal's sandbox, which must not import pytest.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.contracts import SAVE_TO_WAREHOUSE, WarehouseRecord
    from workflows.journey import OnboardingJourney
    from workflows.models import JourneyInput, JourneyState

SUMMARY = WarehouseRecord(step="journey_summary", vendor="onboarding", payload={})


@workflow.defn(name="OnboardingJourney")
class UnguardedChange(OnboardingJourney):
    """The new step, added carelessly: journeys in flight can no longer replay."""

    @workflow.run
    async def run(self, journey: JourneyInput) -> JourneyState:
        state = await super().run(journey)
        await workflow.execute_activity(
            SAVE_TO_WAREHOUSE, SUMMARY, start_to_close_timeout=timedelta(seconds=30)
        )
        return state


@workflow.defn(name="OnboardingJourney")
class GuardedChange(OnboardingJourney):
    """The same step behind ``workflow.patched``: histories recorded before it replay unchanged."""

    @workflow.run
    async def run(self, journey: JourneyInput) -> JourneyState:
        state = await super().run(journey)
        if workflow.patched("save-journey-summary"):
            await workflow.execute_activity(
                SAVE_TO_WAREHOUSE, SUMMARY, start_to_close_timeout=timedelta(seconds=30)
            )
        return state
