"""``onboarding dashboard``: the journey map, the funnel and the experiments, counts and rates
only."""
