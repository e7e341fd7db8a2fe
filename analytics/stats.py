"""Confidence intervals for a conversion rate and for the difference of two.

- A rate: the Wilson score interval (Wilson 1927), which stays inside [0, 1] and behaves for
  small samples and for rates near 0 or 1, where the textbook p ± z·√(p(1-p)/n) does not.
- A difference of two independent rates: Newcombe's hybrid score interval (Newcombe 1998,
  "Interval estimation for the difference between independent proportions", method 10), built
  from the two Wilson intervals.

Pure functions of counts; no continuity correction; 95% unless told otherwise, with z taken from
the normal distribution (1.959964 for 95%).
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import NamedTuple


class Interval(NamedTuple):
    """A confidence interval; a tuple, so it serializes as ``[low, high]``."""

    low: float
    high: float


def _z(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, not {confidence}")
    return NormalDist().inv_cdf(1 - (1 - confidence) / 2)


def _check_counts(successes: int, trials: int) -> None:
    if not 0 <= successes <= trials:
        raise ValueError(f"{successes} successes out of {trials} trials is not a proportion")


def wilson_interval(successes: int, trials: int, confidence: float = 0.95) -> Interval | None:
    """The Wilson score interval of ``successes / trials``; None when there are no trials.

    centre = (p + z²/2n) / (1 + z²/n),  half width = z·√(p(1-p)/n + z²/4n²) / (1 + z²/n).
    """
    _check_counts(successes, trials)
    if trials == 0:
        return None
    z = _z(confidence)
    n = trials
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    # Exactly 0 (1) when nothing (everything) succeeded, whatever the rounding says.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return Interval(low, high)


def newcombe_interval(
    successes_1: int,
    trials_1: int,
    successes_2: int,
    trials_2: int,
    confidence: float = 0.95,
) -> Interval | None:
    """Newcombe's hybrid score interval (method 10) of p₁ - p₂; None when either has no trials.

    With (l₁, u₁) and (l₂, u₂) the Wilson intervals of p₁ and p₂ and d = p₁ - p₂:
    low = d - √((p₁-l₁)² + (u₂-p₂)²),  high = d + √((u₁-p₁)² + (p₂-l₂)²).
    """
    first = wilson_interval(successes_1, trials_1, confidence)
    second = wilson_interval(successes_2, trials_2, confidence)
    if first is None or second is None:
        return None
    p1 = successes_1 / trials_1
    p2 = successes_2 / trials_2
    d = p1 - p2
    low = d - math.sqrt((p1 - first.low) ** 2 + (second.high - p2) ** 2)
    high = d + math.sqrt((first.high - p1) ** 2 + (p2 - second.low) ** 2)
    return Interval(max(-1.0, low), min(1.0, high))
