"""Everything the sandbox remembers: credentials, calls received, faults, rate limits, scripts,
idempotency.

The HTTP handlers run in uvicorn's event loop while tests drive the same object from their own
thread, so every read and write goes through one lock.
"""

from __future__ import annotations

import json
import math
import random
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from activities.vendors import DOCUMENTED_RATE_LIMITS, VENDOR_NAMES
from activities.vendors import VENDORS as VENDOR_TABLE

VENDORS = VENDOR_NAMES

IDEMPOTENCY_WINDOW_SECONDS = 24 * 3600
BUILTWITH_CREDITS = 2000


FaultKind = Literal["error", "rate_limit"]


def _fraction(name: str, value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be between 0 and 1, got {value}")
    return float(value)


def _seconds(name: str, value: float) -> float:
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be zero or more seconds, got {value}")
    return float(value)


def rate_limits_from_dict(data: Mapping[str, Any]) -> dict[str, float]:
    """Vendor name to requests per second, checked; raises ValueError with a one-line reason."""
    unknown = sorted(set(data) - set(VENDORS))
    if unknown:
        raise ValueError(f"unknown vendors {unknown}; choose from {list(VENDORS)}")
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
class Faults:
    """Injected trouble: shares of requests that fail or are throttled, and added delays."""

    error_rate: float = 0.0
    rate_limit_rate: float = 0.0
    retry_after_seconds: int = 1
    latency_seconds: float = 0.0
    slow_rate: float = 0.0
    slow_seconds: float = 0.0
    vendors: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        _fraction("error_rate", self.error_rate)
        _fraction("rate_limit_rate", self.rate_limit_rate)
        _fraction("slow_rate", self.slow_rate)
        _seconds("latency_seconds", self.latency_seconds)
        _seconds("slow_seconds", self.slow_seconds)
        if isinstance(self.retry_after_seconds, bool) or not isinstance(
            self.retry_after_seconds, int
        ):
            raise ValueError("retry_after_seconds must be a whole number of seconds")
        _seconds("retry_after_seconds", self.retry_after_seconds)
        if self.vendors is not None:
            unknown = sorted(set(self.vendors) - set(VENDORS))
            if unknown:
                raise ValueError(f"unknown vendors {unknown}; choose from {list(VENDORS)}")

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
class Throttle:
    """A 429 to answer: how long the client should wait, and the vendor's limit to report."""

    retry_after_seconds: int
    limit_per_second: float


@dataclass
class _TokenBucket:
    """How vendors' limits behave: a burst of ``rate`` requests passes, then ``rate`` a second.

    Holds at least one token, so that a limit under one request a second still lets some through.
    """

    rate: float
    tokens: float
    updated_at: float

    @classmethod
    def full(cls, rate: float, now: float) -> _TokenBucket:
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


@dataclass(frozen=True)
class AcceptedEmail:
    """An email Resend accepted for sending (so, in the sandbox, sent)."""

    id: str
    idempotency_key: str | None
    sender: str
    to: tuple[str, ...]
    subject: str
    tags: tuple[tuple[str, str], ...]
    accepted_at: str


@dataclass(frozen=True)
class SlackMessage:
    """A message Slack accepted into a channel: one sales alert."""

    channel: str
    ts: str
    text: str | None
    blocks: tuple[Any, ...]
    posted_at: str
    metadata: dict[str, Any] | None = None

    @property
    def ts_micros(self) -> int:
        """The ``ts`` as a whole number of microseconds, for ordering and time windows."""
        return slack_ts_micros(self.ts)


@dataclass
class _IdempotentSend:
    fingerprint: str
    response: dict[str, Any]
    stored_at: float
    in_flight: bool


@dataclass(frozen=True)
class SendDecision:
    """How Resend answers one send, after the idempotency store was consulted."""

    status: int
    body: dict[str, Any]
    duplicate: bool = False
    accepted: bool = False


def slack_ts_micros(ts: str) -> int:
    """Slack's ``"1700000000.000100"`` as microseconds; raises ValueError when it is not one."""
    seconds, _, fraction = ts.strip().partition(".")
    if not seconds.isdigit() or (fraction and not fraction.isdigit()) or len(fraction) > 6:
        raise ValueError(f"'{ts}' is not a Slack timestamp")
    return int(seconds) * 1_000_000 + int(fraction.ljust(6, "0") or 0)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def fingerprint(payload: Any) -> str:
    """The request body in canonical form: key order and whitespace do not make it different."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class SandboxState:
    """The fake vendors' memory, shared by the HTTP app and the Python API tests drive."""

    def __init__(
        self,
        *,
        clearbit_key: str = VENDOR_TABLE["clearbit"].sandbox_key,
        builtwith_key: str = VENDOR_TABLE["builtwith"].sandbox_key,
        slack_token: str = VENDOR_TABLE["slack"].sandbox_key,
        resend_key: str = VENDOR_TABLE["resend"].sandbox_key,
        slack_channels: Iterable[str] = ("#sales", "C0SALES"),
        clearbit_queued_times: int = 2,
        seed: int | None = None,
        rate_limits: Mapping[str, float] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``rate_limits``: requests per second each vendor takes before it answers 429 (a vendor
        not named is unlimited). ``clock`` is what the limits measure time with."""
        if clearbit_queued_times < 0:
            raise ValueError("clearbit_queued_times must be zero or more")
        self.clearbit_key = clearbit_key
        self.builtwith_key = builtwith_key
        self.slack_token = slack_token
        self.resend_key = resend_key
        self.slack_channels: tuple[str, ...] = tuple(slack_channels)
        self.clearbit_queued_times = clearbit_queued_times
        self._lock = threading.RLock()
        self._random = random.Random(seed)
        self._faults = Faults()
        self._calls: list[RecordedCall] = []
        self._scripts: dict[str, deque[ScriptedResponse]] = {v: deque() for v in VENDORS}
        self._queued_asks: Counter[str] = Counter()
        self._idempotency: dict[str, _IdempotentSend] = {}
        self._emails: list[AcceptedEmail] = []
        self._slack_messages: list[SlackMessage] = []
        self._last_slack_ts_micros = 0
        self._builtwith_credits_used = 0
        self._clock = clock
        self._rate_limits: dict[str, float] = {}
        self._buckets: dict[str, _TokenBucket] = {}
        self.set_rate_limits(rate_limits or {})

    # --- faults -------------------------------------------------------------------------------

    @property
    def faults(self) -> Faults:
        with self._lock:
            return self._faults

    def set_faults(
        self,
        *,
        error_rate: float = 0.0,
        rate_limit_rate: float = 0.0,
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
            retry_after_seconds=retry_after_seconds,
            latency_seconds=latency_seconds,
            slow_rate=slow_rate,
            slow_seconds=slow_seconds,
            vendors=(vendors,) if isinstance(vendors, str) else _optional_tuple(vendors),
        )
        return self.apply_faults(faults)

    def apply_faults(self, faults: Faults) -> Faults:
        with self._lock:
            self._faults = faults
        return faults

    def clear_faults(self) -> None:
        self.apply_faults(Faults())

    def roll_faults(self, vendor: str) -> FaultRoll:
        """Decide, for one request, whether it fails, is throttled, and how long it waits."""
        with self._lock:
            faults = self._faults
            if not faults.applies_to(vendor):
                return FaultRoll(None, 0.0, None, faults.retry_after_seconds)
            kind: FaultKind | None = None
            if faults.error_rate and self._random.random() < faults.error_rate:
                kind = "error"
            elif faults.rate_limit_rate and self._random.random() < faults.rate_limit_rate:
                kind = "rate_limit"
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
        with self._lock:
            return dict(self._rate_limits)

    def set_rate_limits(self, limits: Mapping[str, float]) -> dict[str, float]:
        """Replace every vendor's limit (``{}`` lifts them all); each starts with a full bucket."""
        checked = rate_limits_from_dict(limits)
        with self._lock:
            now = self._clock()
            self._rate_limits = checked
            self._buckets = {v: _TokenBucket.full(rate, now) for v, rate in checked.items()}
        return dict(checked)

    def throttle(self, vendor: str) -> Throttle | None:
        """Spend one of ``vendor``'s requests: None when it may go ahead, else the 429 to send."""
        with self._lock:
            bucket = self._buckets.get(vendor)
            if bucket is None:
                return None
            wait = bucket.take(self._clock())
        if wait <= 0:
            return None
        # Retry-After is whole seconds; rounding down would invite a retry that fails again.
        return Throttle(max(math.ceil(wait), 1), bucket.rate)

    def rate_limited(self, vendor: str | None = None) -> int:
        """Requests answered 429 by an enforced limit (not by an injected fault), since reset."""
        with self._lock:
            return sum(
                1 for c in self._calls if c.throttled and (vendor is None or c.vendor == vendor)
            )

    # --- scripts ------------------------------------------------------------------------------

    def script(
        self, vendor: str, responses: Iterable[ScriptedResponse | Mapping[str, Any]]
    ) -> None:
        """Queue canned responses for the next requests to ``vendor``, served in order."""
        if vendor not in VENDORS:
            raise ValueError(f"unknown vendor '{vendor}'; choose from {list(VENDORS)}")
        parsed = [
            r if isinstance(r, ScriptedResponse) else ScriptedResponse.from_dict(r)
            for r in responses
        ]
        with self._lock:
            self._scripts[vendor].extend(parsed)

    def take_script(self, vendor: str) -> ScriptedResponse | None:
        with self._lock:
            queue = self._scripts[vendor]
            return queue.popleft() if queue else None

    def scripts_pending(self, vendor: str) -> int:
        with self._lock:
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
        with self._lock:
            self._calls.append(call)
        return call

    def calls(self, vendor: str | None = None) -> list[dict[str, Any]]:
        """The calls received, oldest first, as the rows ``GET /_sandbox/calls`` lists."""
        return [call.to_dict() for call in self.recorded_calls(vendor)]

    def recorded_calls(self, vendor: str | None = None) -> list[RecordedCall]:
        with self._lock:
            return [c for c in self._calls if vendor is None or c.vendor == vendor]

    def sent_emails(self) -> list[AcceptedEmail]:
        with self._lock:
            return list(self._emails)

    def slack_messages(self) -> list[SlackMessage]:
        with self._lock:
            return list(self._slack_messages)

    def summary(self) -> dict[str, Any]:
        """Counts per vendor and status, and what the journey achieved: emails, alerts."""
        with self._lock:
            calls = list(self._calls)
            emails_accepted = len(self._emails)
            sales_alerts = len(self._slack_messages)
        per_vendor: dict[str, Any] = {}
        for vendor in VENDORS:
            statuses = Counter(str(c.status) for c in calls if c.vendor == vendor)
            per_vendor[vendor] = {
                "calls": sum(statuses.values()),
                "by_status": dict(sorted(statuses.items())),
            }
        return {
            **per_vendor,
            "emails_accepted": emails_accepted,
            "duplicates_caught": sum(1 for c in calls if c.duplicate),
            "sales_alerts": sales_alerts,
            "rate_limited": {
                vendor: sum(1 for c in calls if c.throttled and c.vendor == vendor)
                for vendor in VENDORS
            },
        }

    def reset(self) -> None:
        """Forget calls, sends, alerts, queued counters, faults and scripts; keep credentials and
        rate limits, with their buckets full again."""
        with self._lock:
            now = self._clock()
            self._buckets = {v: _TokenBucket.full(r, now) for v, r in self._rate_limits.items()}
            self._calls.clear()
            self._idempotency.clear()
            self._emails.clear()
            self._slack_messages.clear()
            self._queued_asks.clear()
            for queue in self._scripts.values():
                queue.clear()
            self._faults = Faults()
            self._builtwith_credits_used = 0

    # --- vendor memory ------------------------------------------------------------------------

    def clearbit_still_queued(self, email: str) -> bool:
        """Count one ask for a queued lookup; True while it should still answer 202."""
        with self._lock:
            key = email.strip().lower()
            self._queued_asks[key] += 1
            return self._queued_asks[key] <= self.clearbit_queued_times

    def charge_builtwith(self, lookups: int) -> tuple[int, int, int]:
        """Spend one credit per domain looked up; returns (available, used, remaining)."""
        with self._lock:
            self._builtwith_credits_used += lookups
            used = self._builtwith_credits_used
        return BUILTWITH_CREDITS, used, max(BUILTWITH_CREDITS - used, 0)

    def slack_channel_id(self, channel: str) -> str | None:
        """The channel ID a known channel name or ID resolves to, None for an unknown channel."""
        if channel not in self.slack_channels:
            return None
        if _is_channel_id(channel):
            return channel
        name = "".join(ch for ch in channel.lstrip("#") if ch.isalnum())
        return f"C0{name.upper()}"

    def slack_conversations(self) -> list[tuple[str, str]]:
        """Every channel the bot is in, as (ID, name) ordered by ID, the way
        ``conversations.list`` pages through them. A channel known only by its ID gets its ID,
        lower-cased, as its name."""
        names: dict[str, str] = {}
        for alias in self.slack_channels:
            channel_id = self.slack_channel_id(alias)
            if channel_id is None:
                continue
            if not _is_channel_id(alias):
                names[channel_id] = alias.lstrip("#")
            else:
                names.setdefault(channel_id, channel_id.lower())
        return sorted(names.items())

    def post_slack_message(
        self,
        channel_id: str,
        text: str | None,
        blocks: list[Any],
        metadata: dict[str, Any] | None = None,
    ) -> str:
        """Store an accepted message; returns its ``ts``, unique even within one microsecond."""
        with self._lock:
            micros = max(time.time_ns() // 1000, self._last_slack_ts_micros + 1)
            self._last_slack_ts_micros = micros
            ts = f"{micros // 1_000_000}.{micros % 1_000_000:06d}"
            self._slack_messages.append(
                SlackMessage(channel_id, ts, text, tuple(blocks), now_iso(), metadata)
            )
        return ts

    def slack_history(self, channel_id: str) -> list[SlackMessage]:
        """A channel's messages, newest first, as ``conversations.history`` pages through them."""
        with self._lock:
            messages = [m for m in self._slack_messages if m.channel == channel_id]
        return sorted(messages, key=lambda m: m.ts_micros, reverse=True)

    def accept_email(
        self,
        payload: Mapping[str, Any],
        idempotency_key: str | None,
        *,
        method: str,
        path: str,
        lookup: str | None,
        fault: str | None,
    ) -> SendDecision:
        """Consult the idempotency store, accept the email if new, and record the call.

        All in one step under the lock, so the email counts as accepted the moment the call is
        recorded: a client killed while waiting for the answer still leaves it sent.
        """
        body_fingerprint = fingerprint(payload)
        with self._lock:
            stored = self._idempotency.get(idempotency_key) if idempotency_key else None
            if stored is not None and time.monotonic() - stored.stored_at > (
                IDEMPOTENCY_WINDOW_SECONDS
            ):
                del self._idempotency[idempotency_key or ""]
                stored = None
            if stored is not None and stored.in_flight:
                decision = SendDecision(
                    409,
                    resend_error(
                        409,
                        "concurrent_idempotent_requests",
                        "Same idempotency key used while original request is still in progress.",
                    ),
                )
            elif stored is not None and stored.fingerprint != body_fingerprint:
                decision = SendDecision(
                    409,
                    resend_error(
                        409,
                        "invalid_idempotent_request",
                        "Same idempotency key used with a different request payload.",
                    ),
                )
            elif stored is not None:
                decision = SendDecision(200, dict(stored.response), duplicate=True)
            else:
                email_id = str(uuid.uuid4())
                decision = SendDecision(200, {"id": email_id}, accepted=True)
                self._emails.append(_accepted_email(email_id, idempotency_key, payload))
                if idempotency_key:
                    self._idempotency[idempotency_key] = _IdempotentSend(
                        body_fingerprint, dict(decision.body), time.monotonic(), in_flight=True
                    )
            self.record(
                "resend",
                method,
                path,
                decision.status,
                lookup=lookup,
                idempotency_key=idempotency_key,
                duplicate=decision.duplicate,
                fault=fault,
                error=None if decision.status == 200 else str(decision.body.get("name")),
                request_body=payload,
            )
        return decision

    def finish_email(self, idempotency_key: str | None) -> None:
        """The first request for this key has answered: later ones replay instead of 409."""
        if not idempotency_key:
            return
        with self._lock:
            stored = self._idempotency.get(idempotency_key)
            if stored is not None:
                stored.in_flight = False


def _is_channel_id(channel: str) -> bool:
    return channel[:1] in {"C", "G", "D"} and channel.isupper()


def _optional_tuple(values: Iterable[str] | None) -> tuple[str, ...] | None:
    return tuple(values) if values is not None else None


def resend_error(status: int, name: str, message: str) -> dict[str, Any]:
    return {"statusCode": status, "message": message, "name": name}


def recipients(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    return ()


def _accepted_email(
    email_id: str, idempotency_key: str | None, payload: Mapping[str, Any]
) -> AcceptedEmail:
    tags = payload.get("tags") or []
    return AcceptedEmail(
        id=email_id,
        idempotency_key=idempotency_key,
        sender=str(payload.get("from")),
        to=recipients(payload.get("to")),
        subject=str(payload.get("subject")),
        tags=tuple(
            (str(tag.get("name")), str(tag.get("value"))) for tag in tags if isinstance(tag, dict)
        ),
        accepted_at=now_iso(),
    )
