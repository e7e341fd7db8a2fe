"""Which journey run the current activity belongs to."""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError


def current_journey() -> tuple[str, str]:
    """The workflow ID and run ID of the journey that scheduled the running activity."""
    info = activity.info()
    if not info.workflow_id or not info.workflow_run_id:
        raise ApplicationError("this activity only runs inside a journey", non_retryable=True)
    return info.workflow_id, info.workflow_run_id
