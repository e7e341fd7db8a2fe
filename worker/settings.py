"""How a worker process is tuned: its sticky cache and how much it runs at once.

The defaults come from the benchmark (docs/benchmark.md): a sticky cache bounded well below
the journeys a worker hosts keeps its memory flat however many journeys wait on timers, at the
price of a replay of a short history when a parked journey wakes.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class WorkerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", env_prefix="WORKER_")

    max_cached_workflows: int = Field(
        default=250,
        ge=0,
        description="Journeys kept in memory between their workflow tasks (the sticky cache).",
    )
    max_concurrent_workflow_tasks: int = Field(
        default=100, ge=1, description="Workflow tasks run at once."
    )
    max_concurrent_activities: int = Field(
        default=100,
        ge=1,
        description="Activities (vendor calls, warehouse writes) run at once, per queue.",
    )
