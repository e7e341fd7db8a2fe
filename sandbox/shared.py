"""What every fake vendor shares: one lock, the record of calls received, injected faults,
enforced rate limits and scripted answers.

The HTTP handlers run in uvicorn's event loop while tests drive the same object from their own
thread, so every read and write goes through one lock, which each vendor's own memory takes too.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from activities.vendors import VENDOR_NAMES
from sandbox.faults import FaultKind, FaultRoll, Faults, ScriptedResponse
from sandbox.limits import Throttle, TokenBucket, rate_limits_from_dict


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class RecordedCall:
    """One request a fake vendor received and what it answered."""

    vendor: str
    method: str
    path: str
    status: int
    lookup: str | None
    received_at: str
    idempotency_key: str | None = None
    duplicate: bool = False
    fault: str | None = None
    error: str | None = None
    request_body: Any = None
    # Answered 429 by an enforced rate limit (an injected one has fault "rate_limit" instead).
    throttled: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class SharedState:
    """The machinery every fake vendor answers through, and the Python API tests drive it by."""

    def __init__(
        self,
        *,
        seed: int | None = None,
        rate_limits: Mapping[str, float] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``rate_limits``: requests per second each vendor takes before it answers 429 (a vendor
        not named is unlimited). ``clock`` is what the limits measure time with."""
        self.lock = threading.RLock()
        self._random = random.Random(seed)
        self._faults = Faults()
        self._calls: list[RecordedCall] = []
        self._scripts: dict[str, deque[ScriptedResponse]] = {v: deque() for v in VENDOR_NAMES}
        self._clock = clock
        self._rate_limits: dict[str, float] = {}
        self._buckets: dict[str, TokenBucket] = {}
        self.set_rate_limits(rate_limits or {})

    def now(self) -> float:
        """The time the rate limits (and a fake's own delays) are measured by, in seconds."""
        return self._clock()

    # --- faults -------------------------------------------------------------------------------

    @property
    def faults(self) -> Faults:
        with self.lock:
            return self._faults

    def set_faults(
        self,
        *,
        error_rate: float = 0.0,
        rate_limit_rate: float = 0.0,
        lost_answer_rate: float = 0.0,
        retry_after_seconds: int = 1,
        latency_seconds: float = 0.0,
        slow_rate: float = 0.0,
        slow_seconds: float = 0.0,
        vendors: Iterable[str] | None = None,
    ) -> Faults:
        """Replace the injected faults; settings not given go back to no fault."""
        faults = Faults(
            error_rate=error_rate,
            rate_limit_rate=rate_limit_rate,
            lost_answer_rate=lost_answer_rate,
            retry_after_seconds=retry_after_seconds,
            latency_seconds=latency_seconds,
            slow_rate=slow_rate,
            slow_seconds=slow_seconds,
            vendors=(vendors,) if isinstance(vendors, str) else _optional_tuple(vendors),
        )
        return self.apply_faults(faults)

    def apply_faults(self, faults: Faults) -> Faults:
        with self.lock:
            self._faults = faults
        return faults

    def clear_faults(self) -> None:
        self.apply_faults(Faults())

    def roll_faults(self, vendor: str) -> FaultRoll:
        """Decide, for one request, whether it fails, is throttled, and how long it waits."""
        with self.lock:
            faults = self._faults
            if not faults.applies_to(vendor):
                return FaultRoll(None, 0.0, None, faults.retry_after_seconds)
            kind: FaultKind | None = None
            if faults.error_rate and self._random.random() < faults.error_rate:
                kind = "error"
            elif faults.rate_limit_rate and self._random.random() < faults.rate_limit_rate:
                kind = "rate_limit"
            elif faults.lost_answer_rate and self._random.random() < faults.lost_answer_rate:
                kind = "lost_answer"
            slow = bool(faults.slow_rate) and self._random.random() < faults.slow_rate
        delay = faults.latency_seconds + (faults.slow_seconds if slow else 0.0)
        delay_label: Literal["slow", "latency"] | None = None
        if slow and faults.slow_seconds:
            delay_label = "slow"
        elif faults.latency_seconds:
            delay_label = "latency"
        return FaultRoll(kind, delay, delay_label, faults.retry_after_seconds)

    # --- rate limits --------------------------------------------------------------------------

    @property
    def rate_limits(self) -> dict[str, float]:
        """Requests per second per limited vendor; a vendor not listed is unlimited."""
        with self.lock:
            return dict(self._rate_limits)

    def set_rate_limits(self, limits: Mapping[str, float]) -> dict[str, float]:
        """Replace every vendor's limit (``{}`` lifts them all); each starts with a full bucket."""
        checked = rate_limits_from_dict(limits)
        with self.lock:
            self._rate_limits = checked
            self._fill_buckets()
        return dict(checked)

    def _fill_buckets(self) -> None:
        now = self._clock()
        self._buckets = {v: TokenBucket.full(rate, now) for v, rate in self._rate_limits.items()}

    def throttle(self, vendor: str) -> Throttle | None:
        """Spend one of ``vendor``'s requests: None when it may go ahead, else the 429 to send."""
        with self.lock:
            bucket = self._buckets.get(vendor)
            return bucket.throttle(self._clock()) if bucket is not None else None

    def rate_limited(self, vendor: str | None = None) -> int:
        """Requests answered 429 by an enforced limit (not by an injected fault), since reset."""
        return sum(1 for c in self.recorded_calls(vendor) if c.throttled)

    # --- scripts ------------------------------------------------------------------------------

    def script(
        self, vendor: str, responses: Iterable[ScriptedResponse | Mapping[str, Any]]
    ) -> None:
        """Queue canned responses for the next requests to ``vendor``, served in order."""
        if vendor not in VENDOR_NAMES:
            raise ValueError(f"unknown vendor '{vendor}'; choose from {list(VENDOR_NAMES)}")
        parsed = [
            r if isinstance(r, ScriptedResponse) else ScriptedResponse.from_dict(r)
            for r in responses
        ]
        with self.lock:
            self._scripts[vendor].extend(parsed)

    def take_script(self, vendor: str) -> ScriptedResponse | None:
        with self.lock:
            queue = self._scripts[vendor]
            return queue.popleft() if queue else None

    def scripts_pending(self, vendor: str) -> int:
        with self.lock:
            return len(self._scripts[vendor])

    # --- calls --------------------------------------------------------------------------------

    def record(
        self,
        vendor: str,
        method: str,
        path: str,
        status: int,
        *,
        lookup: str | None = None,
        idempotency_key: str | None = None,
        duplicate: bool = False,
        fault: str | None = None,
        error: str | None = None,
        request_body: Any = None,
        throttled: bool = False,
    ) -> RecordedCall:
        call = RecordedCall(
            vendor=vendor,
            method=method,
            path=path,
            status=status,
            lookup=lookup,
            received_at=now_iso(),
            idempotency_key=idempotency_key,
            duplicate=duplicate,
            fault=fault,
            error=error,
            request_body=request_body,
            throttled=throttled,
        )
        with self.lock:
            self._calls.append(call)
        return call

    def calls(self, vendor: str | None = None) -> list[dict[str, Any]]:
        """The calls received, oldest first, as the rows ``GET /_sandbox/calls`` lists."""
        return [call.to_dict() for call in self.recorded_calls(vendor)]

    def recorded_calls(self, vendor: str | None = None) -> list[RecordedCall]:
        with self.lock:
            return [c for c in self._calls if vendor is None or c.vendor == vendor]

    def summary(self) -> dict[str, Any]:
        """Counts per vendor and status, and what the journeys achieved: emails, alerts."""
        with self.lock:
            calls = list(self._calls)
            achieved = self.achieved()
        per_vendor: dict[str, Any] = {}
        for vendor in VENDOR_NAMES:
            statuses = Counter(str(c.status) for c in calls if c.vendor == vendor)
            per_vendor[vendor] = {
                "calls": sum(statuses.values()),
                "by_status": dict(sorted(statuses.items())),
            }
        return {
            **per_vendor,
            **achieved,
            "duplicates_caught": sum(1 for c in calls if c.duplicate),
            "rate_limited": {
                vendor: sum(1 for c in calls if c.throttled and c.vendor == vendor)
                for vendor in VENDOR_NAMES
            },
        }

    def achieved(self) -> dict[str, int]:
        """What the journeys achieved at the vendors, by name (``emails_accepted``)."""
        return {}

    def reset(self) -> None:
        """Forget calls, faults and scripts; keep rate limits, with their buckets full again."""
        with self.lock:
            self._fill_buckets()
            self._calls.clear()
            for queue in self._scripts.values():
                queue.clear()
            self._faults = Faults()


def _optional_tuple(values: Iterable[str] | None) -> tuple[str, ...] | None:
    return tuple(values) if values is not None else None
