"""What the journeys table says about the journeys: the funnel by signup week, and the email
experiments (docs/experiments.md). Read-only: nothing here writes to the warehouse."""
