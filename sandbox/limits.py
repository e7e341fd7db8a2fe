"""Rate limits the sandbox enforces the way the vendors do: requests per second per vendor, each
answering 429 with a Retry-After once its burst is spent."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from activities.vendors import DOCUMENTED_RATE_LIMITS
from sandbox.faults import check_vendors


def rate_limits_from_dict(data: Mapping[str, Any]) -> dict[str, float]:
    """Vendor name to requests per second, checked; raises ValueError with a one-line reason."""
    check_vendors(data)
    limits: dict[str, float] = {}
    for vendor, value in data.items():
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value <= 0
        ):
            raise ValueError(
                f"the {vendor} limit must be a positive number of requests per second, "
                f"got {value!r}"
            )
        limits[vendor] = float(value)
    return limits


def parse_rate_limits(text: str) -> dict[str, float]:
    """``documented``, ``none``, or ``clearbit=10,slack=1``, as the ``--rate-limits`` option
    takes them; raises ValueError with a one-line reason."""
    spec = text.strip().lower()
    if spec == "documented":
        return dict(DOCUMENTED_RATE_LIMITS)
    if spec in {"", "none"}:
        return {}
    limits: dict[str, Any] = {}
    for part in spec.split(","):
        vendor, equals, value = part.partition("=")
        vendor = vendor.strip()
        if not equals or not vendor:
            raise ValueError(
                f"'{part.strip()}' is not vendor=requests-per-second; write e.g. "
                "clearbit=10,slack=1, or documented"
            )
        if vendor in limits:
            raise ValueError(f"{vendor} is given twice")
        try:
            limits[vendor] = float(value)
        except ValueError:
            limits[vendor] = value.strip()  # rate_limits_from_dict says what is wrong with it
    return rate_limits_from_dict(limits)


@dataclass(frozen=True)
class Throttle:
    """A 429 to answer: how long the client should wait, and the vendor's limit to report."""

    retry_after_seconds: int
    limit_per_second: float


@dataclass
class TokenBucket:
    """How vendors' limits behave: a burst of ``rate`` requests passes, then ``rate`` a second.

    Holds at least one token, so that a limit under one request a second still lets some through.
    """

    rate: float
    tokens: float
    updated_at: float

    @classmethod
    def full(cls, rate: float, now: float) -> TokenBucket:
        return cls(rate, max(rate, 1.0), now)

    def take(self, now: float) -> float:
        """Take a token: 0 when there was one, else the seconds until there is one."""
        elapsed = max(now - self.updated_at, 0.0)
        self.tokens = min(max(self.rate, 1.0), self.tokens + elapsed * self.rate)
        self.updated_at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate

    def throttle(self, now: float) -> Throttle | None:
        """Spend one request: None when it may go ahead, else the 429 to send."""
        wait = self.take(now)
        if wait <= 0:
            return None
        # Retry-After is whole seconds; rounding down would invite a retry that fails again.
        return Throttle(max(math.ceil(wait), 1), self.rate)
