"""The one mapping from a vendor's HTTP outcome to "retry now / retry after N s / wait for an
operator / give up", shared by every vendor. Every failure names its vendor in its details, so
the journey pins the retries to the provider that began the call.

Messages never carry URLs, keys or request bodies: they end up in the Web UI and in logs.
"""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import httpx
from temporalio import activity
from temporalio.common import MetricMeter
from temporalio.exceptions import ApplicationError

from activities.vendors import VENDORS

# Failure types, as they appear on a pending activity in the Web UI.
UNAVAILABLE = "VendorUnavailable"
RATE_LIMITED = "VendorRateLimited"
NEEDS_OPERATOR = "VendorNeedsOperator"
REJECTED = "VendorRejectedRequest"
# The failures a vendor causes, as opposed to a bug in our code: the worker logs each attempt
# that fails with one of them as one line, without a traceback.
FAILURE_TYPES = frozenset({UNAVAILABLE, RATE_LIMITED, NEEDS_OPERATOR, REJECTED})

_EMAIL_LIKE = re.compile(r"[^\s@<>\"'`:;,]+@[^\s@<>\"'`:;,]+")
_MIN_RETRY_AFTER = timedelta(seconds=1)
_MAX_RETRY_AFTER = timedelta(hours=1)


_NAMES = {vendor.title.lower(): vendor.name for vendor in VENDORS.values()}


def vendor_name(vendor: str) -> str:
    """The table's name of a vendor given by its title (``People Data Labs`` → ``peopledatalabs``),
    as metrics and the spend ledger label it."""
    return _NAMES.get(vendor.lower(), vendor.lower())


def unavailable(vendor: str, reason: str) -> ApplicationError:
    """5xx, timeouts and connection errors: the retry policy's exponential backoff applies."""
    return ApplicationError(
        f"{vendor} is unavailable: {reason}", vendor_name(vendor), type=UNAVAILABLE
    )


def rate_limited(vendor: str, retry_after: timedelta | None) -> ApplicationError:
    """Throttled: come back when the vendor says, or on the policy's backoff if it says nothing."""
    when = f"retrying in {int(retry_after.total_seconds())}s" if retry_after else "backing off"
    return ApplicationError(
        f"{vendor} is rate limiting us; {when}",
        vendor_name(vendor),
        type=RATE_LIMITED,
        next_retry_delay=retry_after,
    )


def needs_operator(vendor: str, problem: str, fix: str) -> ApplicationError:
    """Bad credentials, exhausted quota, a channel the bot is not in.

    Retried forever on the policy's capped backoff, so journeys resume on their own once an
    operator fixes the configuration; the message on the pending activity says what to fix.
    """
    return ApplicationError(f"{vendor}: {problem}. {fix}", vendor_name(vendor), type=NEEDS_OPERATOR)


def rejected(vendor: str, problem: str) -> ApplicationError:
    """The vendor refuses the request itself: repeating it cannot help, so the journey fails."""
    return ApplicationError(
        f"{vendor} rejected the request: {problem}",
        vendor_name(vendor),
        type=REJECTED,
        non_retryable=True,
    )


def without_emails(text: str) -> str:
    """The text with anything shaped like an email address replaced by ``<email>``."""
    return _EMAIL_LIKE.sub("<email>", text)


def retry_after(headers: Mapping[str, str], *, now: float | None = None) -> timedelta | None:
    """The delay a throttled vendor asks for: ``Retry-After`` (seconds or an HTTP date), else
    ``X-RateLimit-Reset`` (epoch seconds, or seconds from now when small)."""
    now = time.time() if now is None else now
    seconds: float | None = None
    value = headers.get("retry-after")
    if value:
        value = value.strip()
        if value.replace(".", "", 1).isdigit():
            seconds = float(value)
        else:
            parsed = email.utils.parsedate_to_datetime(value) if value else None
            if parsed is not None:
                seconds = parsed.timestamp() - now
    if seconds is None and (reset := headers.get("x-ratelimit-reset")):
        try:
            reset_value = float(reset.strip())
        except ValueError:
            reset_value = None
        if reset_value is not None:
            seconds = reset_value - now if reset_value > 10**9 else reset_value
    if seconds is None:
        return None
    delay = timedelta(seconds=seconds)
    return min(max(delay, _MIN_RETRY_AFTER), _MAX_RETRY_AFTER)


def error_detail(response: httpx.Response) -> str:
    """A short, safe description of an error answer: the vendor's error type and message."""
    try:
        body: Any = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    parts: list[str] = []
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            parts += [str(error.get(k)) for k in ("type", "message") if error.get(k)]
        elif isinstance(error, str):
            parts.append(error)
        for key in ("name", "message"):
            if isinstance(body.get(key), str) and body[key] not in parts:
                parts.append(body[key])
        errors = body.get("Errors")
        if isinstance(errors, list):
            parts += [str(e.get("Message")) for e in errors if isinstance(e, dict)]
    # Vendors quote the request back ("Invalid `to` field: ana@acme.io"): keep emails out of
    # failure messages, which reach worker logs in plain text.
    detail = without_emails(": ".join(parts))[:300]
    return f"HTTP {response.status_code} {detail}".strip()


def json_object(vendor: str, response: httpx.Response) -> dict[str, Any]:
    """The JSON object of a success answer; anything else is the vendor misbehaving, so retry."""
    try:
        body: Any = response.json()
    except ValueError:
        raise unavailable(vendor, "answered with a body that is not JSON") from None
    if not isinstance(body, dict):
        raise unavailable(vendor, "answered with JSON that is not an object")
    return body


def raise_for_outcome(vendor: str, response: httpx.Response, *, credential: str) -> None:
    """Raise the failure that fits a non-success answer; return quietly on 2xx.

    ``credential`` names the setting an operator fixes when the vendor refuses our key.
    """
    status = response.status_code
    if status < 300:
        return
    detail = error_detail(response)
    if status == 429:
        raise rate_limited(vendor, retry_after(response.headers))
    if status >= 500 or status == 408:
        raise unavailable(vendor, detail)
    if status in (401, 403):
        raise needs_operator(vendor, f"credentials refused ({detail})", f"Check {credential}.")
    if status == 402:
        raise needs_operator(vendor, f"quota exhausted ({detail})", "Raise the plan's quota.")
    raise rejected(vendor, detail)


def call_outcome(status: int) -> str:
    """The ``outcome`` label of a vendor call, by the HTTP answer: what ``raise_for_outcome``
    makes of it (``not_found`` kept apart: Clearbit answers it for people it does not know)."""
    if status < 300:
        return "ok"
    if status == 429:
        return "rate_limited"
    if status >= 500 or status == 408:
        return "unavailable"
    if status in (401, 402, 403):
        return "needs_operator"
    return "not_found" if status == 404 else "rejected"


def _metric_meter() -> MetricMeter:
    # The worker's meter inside an activity; outside one (a script, a plain test), none.
    try:
        return activity.metric_meter()
    except RuntimeError:
        return MetricMeter.noop


def record_call(vendor: str, outcome: str, latency: timedelta) -> None:
    """Count one vendor call by outcome and time it, on the worker's metrics endpoint."""
    meter = _metric_meter()
    calls = meter.create_counter("onboarding_vendor_calls", "Vendor HTTP calls by outcome.")
    calls.add(1, {"vendor": vendor_name(vendor), "outcome": outcome})
    latencies = meter.create_histogram_timedelta(
        "onboarding_vendor_latency", "Vendor HTTP call latency.", unit="ms"
    )
    latencies.record(latency, {"vendor": vendor_name(vendor)})


async def send(
    client: httpx.AsyncClient,
    vendor: str,
    method: str,
    url: str,
    *,
    secret_path: bool = False,
    **kwargs: Any,
) -> httpx.Response:
    """Send one request, turning transport failures into retryable activity failures.

    Each call is counted and timed, and its trace span (when the client is instrumented) names
    the vendor, through the ``onboarding.vendor`` request extension. ``secret_path``: the URL's
    path is a secret (a webhook's), which the span leaves out."""
    outcome = "cancelled"  # unless an answer or a failure below says otherwise
    started = time.monotonic()
    try:
        response = await client.request(
            method,
            url,
            extensions={
                "onboarding.vendor": vendor_name(vendor),
                "onboarding.secret_path": secret_path,
            },
            **kwargs,
        )
        outcome = call_outcome(response.status_code)
        return response
    except httpx.TimeoutException as exc:
        outcome = "unavailable"
        raise unavailable(vendor, f"timed out ({type(exc).__name__})") from None
    except httpx.TransportError as exc:
        outcome = "unavailable"
        raise unavailable(vendor, f"connection failed ({type(exc).__name__})") from None
    finally:
        record_call(vendor, outcome, timedelta(seconds=time.monotonic() - started))
