"""The interval arithmetic: Wilson's score interval and Newcombe's hybrid score interval, against
values worked out by hand and against published worked examples."""

from __future__ import annotations

import math

import pytest

from analytics.stats import Interval, newcombe_interval, wilson_interval

# z for 95% is NormalDist().inv_cdf(0.975) = 1.959964, z² = 3.841459.
# Wilson: denom = 1 + z²/n, centre = (p + z²/2n) / denom, half = z·√(p(1-p)/n + z²/4n²) / denom.
CLOSE = 5e-5  # the hand values below are written to 4 decimals


def close(interval: Interval | None, low: float, high: float) -> bool:
    assert interval is not None
    return math.isclose(interval.low, low, abs_tol=CLOSE) and math.isclose(
        interval.high, high, abs_tol=CLOSE
    )


def test_wilson_by_hand() -> None:
    # 5/10: p = 0.5, denom = 1 + 3.841459/10 = 1.384146,
    # centre = (0.5 + 0.192073) / 1.384146 = 0.5,
    # half = 1.959964·√(0.025 + 0.009604) / 1.384146 = 1.959964·0.186022 / 1.384146 = 0.263407
    # → (0.5 - 0.263407, 0.5 + 0.263407) = (0.2366, 0.7634)
    assert close(wilson_interval(5, 10), 0.2366, 0.7634)
    # 1/4: p = 0.25, denom = 1 + 3.841459/4 = 1.960365,
    # centre = (0.25 + 0.480182) / 1.960365 = 0.372473,
    # half = 1.959964·√(0.046875 + 0.060023) / 1.960365 = 1.959964·0.326953 / 1.960365 = 0.326885
    # → (0.0456, 0.6994); 3/4 is its mirror image (0.3006, 0.9544).
    assert close(wilson_interval(1, 4), 0.0456, 0.6994)
    assert close(wilson_interval(3, 4), 0.3006, 0.9544)
    # 0/10: centre = half = (3.841459/20) / 1.384146 = 0.138766 → (0, 0.2775): the interval of
    # nothing converting still says "up to 28%", where p ± z·√(p(1-p)/n) would say (0, 0).
    nothing = wilson_interval(0, 10)
    assert nothing is not None and nothing.low == 0.0 and close(nothing, 0.0, 0.2775)
    everything = wilson_interval(10, 10)
    assert everything is not None and everything.high == 1.0 and close(everything, 0.7225, 1.0)


def test_wilson_matches_a_published_example() -> None:
    # 81 successes of 263: the 95% Wilson interval is (0.2553, 0.3662)
    # (p = 0.307985, denom = 1.014606, centre = 0.310749, half = 0.055461).
    assert close(wilson_interval(81, 263), 0.2553, 0.3662)


def test_no_trials_no_interval() -> None:
    assert wilson_interval(0, 0) is None
    assert newcombe_interval(0, 0, 3, 10) is None
    assert newcombe_interval(3, 10, 0, 0) is None


@pytest.mark.parametrize("successes, trials", [(-1, 10), (11, 10), (1, 0)])
def test_counts_that_are_not_a_proportion_are_refused(successes: int, trials: int) -> None:
    with pytest.raises(ValueError, match="not a proportion"):
        wilson_interval(successes, trials)


def test_another_confidence_level_widens_or_narrows_the_interval() -> None:
    at_95 = wilson_interval(5, 10)
    at_99 = wilson_interval(5, 10, confidence=0.99)
    at_80 = wilson_interval(5, 10, confidence=0.80)
    assert at_95 and at_99 and at_80
    assert at_99.low < at_95.low < at_80.low < 0.5 < at_80.high < at_95.high < at_99.high
    with pytest.raises(ValueError, match="confidence"):
        wilson_interval(5, 10, confidence=1.0)


def test_newcombe_by_hand() -> None:
    # 3/4 vs 1/4: d = 0.5; Wilson (0.300642, 0.954413) and (0.045587, 0.699358).
    # low  = 0.5 - √((0.75 - 0.300642)² + (0.699358 - 0.25)²) = 0.5 - √(0.201923 + 0.201922)
    #      = 0.5 - 0.635488 = -0.1355
    # high = 0.5 + √((0.954413 - 0.75)² + (0.25 - 0.045587)²) = 0.5 + √(0.041785 + 0.041785)
    #      = 0.5 + 0.289085 = 0.7891
    assert close(newcombe_interval(3, 4, 1, 4), -0.1355, 0.7891)
    # Swapping the groups mirrors the interval.
    assert close(newcombe_interval(1, 4, 3, 4), -0.7891, 0.1355)


# Newcombe (1998), "Interval estimation for the difference between independent proportions:
# comparison of eleven methods", Statistics in Medicine 17:873-890, Table II, method 10.
PUBLISHED = [
    ((56, 70, 48, 80), (0.0524, 0.3339)),  # d = 0.8 - 0.6 = 0.2
    ((9, 10, 3, 10), (0.1705, 0.8090)),
    ((6, 7, 2, 7), (0.0582, 0.8062)),
    ((5, 56, 0, 29), (-0.0381, 0.1926)),
    ((0, 10, 0, 20), (-0.1611, 0.2775)),
    ((0, 10, 0, 10), (-0.2775, 0.2775)),
    ((10, 10, 0, 20), (0.6791, 1.0000)),
    ((10, 10, 0, 10), (0.6075, 1.0000)),
]


@pytest.mark.parametrize("counts, expected", PUBLISHED)
def test_newcombe_matches_the_published_examples(
    counts: tuple[int, int, int, int], expected: tuple[float, float]
) -> None:
    assert close(newcombe_interval(*counts), *expected)


def test_newcombe_of_the_first_example_worked_through() -> None:
    # 56/70 vs 48/80: Wilson 56/70 = (0.6918, 0.8770), Wilson 48/80 = (0.4905, 0.7004);
    # low  = 0.2 - √((0.8 - 0.6918)² + (0.7004 - 0.6)²) = 0.2 - √(0.011706 + 0.010076)
    #      = 0.2 - 0.1476 = 0.0524
    # high = 0.2 + √((0.8770 - 0.8)² + (0.6 - 0.4905)²) = 0.2 + √(0.005917 + 0.012001)
    #      = 0.2 + 0.1339 = 0.3339
    assert close(wilson_interval(56, 70), 0.6918, 0.8770)
    assert close(wilson_interval(48, 80), 0.4905, 0.7004)
    assert close(newcombe_interval(56, 70, 48, 80), 0.0524, 0.3339)
