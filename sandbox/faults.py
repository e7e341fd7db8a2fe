"""Trouble the sandbox can be told to make: injected faults and scripted answers, checked as they
arrive so a bad setting is refused with a one-line reason."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from activities.vendors import VENDOR_NAMES

FaultKind = Literal["error", "rate_limit", "lost_answer"]


def _fraction(name: str, value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be between 0 and 1, got {value}")
    return float(value)


def _seconds(name: str, value: float) -> float:
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be zero or more seconds, got {value}")
    return float(value)


def check_vendors(vendors: Iterable[str]) -> None:
    """Raises ValueError naming the vendors the sandbox does not fake."""
    unknown = sorted(set(vendors) - set(VENDOR_NAMES))
    if unknown:
        raise ValueError(f"unknown vendors {unknown}; choose from {list(VENDOR_NAMES)}")


@dataclass(frozen=True)
class Faults:
    """Injected trouble: shares of requests that fail or are throttled, and added delays."""

    error_rate: float = 0.0
    rate_limit_rate: float = 0.0
    lost_answer_rate: float = 0.0
    """A share of writes the vendor carries out (sends the email, posts the alert) whose answer
    is then lost: the client gets a 5xx, as when a connection drops after the fact."""
    retry_after_seconds: int = 1
    latency_seconds: float = 0.0
    slow_rate: float = 0.0
    slow_seconds: float = 0.0
    vendors: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        _fraction("error_rate", self.error_rate)
        _fraction("rate_limit_rate", self.rate_limit_rate)
        _fraction("lost_answer_rate", self.lost_answer_rate)
        _fraction("slow_rate", self.slow_rate)
        _seconds("latency_seconds", self.latency_seconds)
        _seconds("slow_seconds", self.slow_seconds)
        if isinstance(self.retry_after_seconds, bool) or not isinstance(
            self.retry_after_seconds, int
        ):
            raise ValueError("retry_after_seconds must be a whole number of seconds")
        _seconds("retry_after_seconds", self.retry_after_seconds)
        if self.vendors is not None:
            check_vendors(self.vendors)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Faults:
        """Build from the JSON of ``PUT /_sandbox/faults``; raises ValueError on bad input."""
        allowed = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise ValueError(f"unknown fault settings {unknown}; allowed are {sorted(allowed)}")
        values = dict(data)
        vendors = values.get("vendors")
        if vendors is not None:
            if not isinstance(vendors, list) or not all(isinstance(v, str) for v in vendors):
                raise ValueError("vendors must be a list of vendor names or null")
            values["vendors"] = tuple(vendors)
        retry_after = values.get("retry_after_seconds")
        if isinstance(retry_after, float) and retry_after.is_integer():
            values["retry_after_seconds"] = int(retry_after)
        for name in (
            "error_rate",
            "rate_limit_rate",
            "lost_answer_rate",
            "latency_seconds",
            "slow_rate",
            "slow_seconds",
        ):
            if name in values and (
                isinstance(values[name], bool) or not isinstance(values[name], int | float)
            ):
                raise ValueError(f"{name} must be a number")
        return cls(**values)

    def applies_to(self, vendor: str) -> bool:
        return self.vendors is None or vendor in self.vendors

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["vendors"] = list(self.vendors) if self.vendors is not None else None
        return data


@dataclass(frozen=True)
class FaultRoll:
    """What the fault dice decided for one request."""

    kind: FaultKind | None
    delay_seconds: float
    delay_label: Literal["slow", "latency"] | None
    retry_after_seconds: int

    @property
    def label(self) -> str | None:
        """The fault recorded with the call: a failure first, else the delay's cause."""
        return self.kind or self.delay_label


@dataclass(frozen=True)
class ScriptedResponse:
    """A canned answer served instead of the vendor's normal behaviour, before any auth check."""

    status: int
    json: Any = None
    text: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    delay_seconds: float = 0.0

    def __post_init__(self) -> None:
        if isinstance(self.status, bool) or not isinstance(self.status, int):
            raise ValueError("status must be an HTTP status code")
        if not 100 <= self.status <= 599:
            raise ValueError(f"status must be an HTTP status code, got {self.status}")
        if self.json is not None and self.text is not None:
            raise ValueError("give json or text, not both")
        _seconds("delay_seconds", self.delay_seconds)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScriptedResponse:
        allowed = {"status", "json", "text", "headers", "delay_seconds"}
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise ValueError(f"unknown response fields {unknown}; allowed are {sorted(allowed)}")
        if "status" not in data:
            raise ValueError("each scripted response needs a status")
        headers = data.get("headers") or {}
        if not isinstance(headers, Mapping):
            raise ValueError("headers must be an object of header names to values")
        delay = data.get("delay_seconds", 0.0)
        if isinstance(delay, bool) or not isinstance(delay, int | float):
            raise ValueError("delay_seconds must be a number")
        return cls(
            status=data["status"],
            json=data.get("json"),
            text=data.get("text"),
            headers={str(k): str(v) for k, v in headers.items()},
            delay_seconds=float(delay),
        )
