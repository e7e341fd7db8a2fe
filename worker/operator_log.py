"""The worker's log for an operator: one line per failed vendor attempt, tracebacks for bugs.

The SDK logs every failed activity attempt as a warning with its traceback. For a failure a vendor
causes (one of the shared mapping's types, a warehouse that is down, an attempt timed out) the
traceback only shows our mapping code, so this filter on the SDK's activity logger puts one line
in its place: vendor, outcome, attempt, journey and next retry. Any other exception is a bug and
keeps the SDK's record, traceback included. Only the log changes: the failure, its metrics
(``temporal_activity_execution_failed``) and the server's retries stay as they are.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from temporalio import activity
from temporalio.exceptions import ApplicationError, CancelledError

from activities import vendor_http, warehouse
from activities.contracts import SAVE_TO_WAREHOUSE, VENDOR_ROLES
from activities.vendors import failed_provider, title_of
from common.durations import format_offset

log = logging.getLogger("onboarding.vendor")

# The SDK's mark on the record of a failed attempt (its wording may change, the mark does not).
_FAILED_ATTEMPT = "ActivityFailure"
EXPECTED_TYPES = vendor_http.FAILURE_TYPES | {warehouse.UNAVAILABLE}
_MAX_REASON = 200
# The server's default when a policy sets no maximum interval.
_DEFAULT_MAX_INTERVAL_FACTOR = 100


def outcome(error: BaseException | None) -> str | None:
    """The failure type of an attempt a vendor (or the warehouse) failed; None for a bug."""
    if isinstance(error, ApplicationError) and error.type in EXPECTED_TYPES:
        return error.type
    # An attempt past its start-to-close timeout that the worker cancels (a local activity's).
    if isinstance(error, (asyncio.CancelledError, CancelledError)):
        details = activity.cancellation_details()
        if details is not None and details.timed_out:
            return "TimedOut"
    return None


def reason(error: BaseException, info: activity.Info) -> str:
    """The failure's own message, already free of URLs and keys, on one line and short."""
    if isinstance(error, ApplicationError):
        text = " ".join(error.message.split())
        return vendor_http.without_emails(text)[:_MAX_REASON]
    limit = info.start_to_close_timeout
    return f"no answer within {format_offset(limit)}" if limit else "timed out"


def next_retry(error: BaseException, info: activity.Info) -> str:
    """When the server tries again, as its retry policy computes it."""
    policy = info.retry_policy
    if isinstance(error, ApplicationError) and (
        error.non_retryable or (policy and error.type in (policy.non_retryable_error_types or ()))
    ):
        return "no retry"
    if policy is None:
        return "retry per policy"
    if policy.maximum_attempts == 1:
        # The journey's first try of a call: on failure it publishes the stage and calls again.
        return "first try; the journey retries after a timer"
    if policy.maximum_attempts and info.attempt >= policy.maximum_attempts:
        return "attempts used up; back to the journey"
    delay = isinstance(error, ApplicationError) and error.next_retry_delay
    if not delay:
        ceiling = policy.maximum_interval or policy.initial_interval * _DEFAULT_MAX_INTERVAL_FACTOR
        delay = min(
            policy.initial_interval * policy.backoff_coefficient ** (info.attempt - 1), ceiling
        )
    return f"next retry in {format_offset(max(delay, timedelta(seconds=1)))}"


def vendor(info: activity.Info, error: BaseException | None = None) -> str:
    """Who failed: the provider the failure names, else the role's name."""
    if info.activity_type == SAVE_TO_WAREHOUSE:
        return "Warehouse"
    if isinstance(error, ApplicationError) and (name := failed_provider(error.details)):
        return title_of(name)
    role = VENDOR_ROLES.get(info.activity_type)
    return role.capitalize() if role else info.activity_type


def attempt_line(error: BaseException, info: activity.Info) -> str | None:
    """The operator's line for a failed attempt, or None when the failure is a bug."""
    failure = outcome(error)
    if failure is None:
        return None
    return (
        f"{vendor(info, error)} attempt {info.attempt} failed for journey {info.workflow_id}: "
        f"{failure} ({reason(error, info)}); {next_retry(error, info)}"
    )


class OperatorLog(logging.Filter):
    """On the SDK's activity logger: a failed vendor attempt becomes one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "__temporal_error_identifier", None) != _FAILED_ATTEMPT:
            return True
        error = record.exc_info[1] if record.exc_info else None
        try:
            # The SDK logs the failure inside the attempt's context: its info is at hand.
            line = attempt_line(error, activity.info()) if error is not None else None
        except RuntimeError:
            return True
        if line is None:
            return True
        log.log(record.levelno, line)
        return False


def install() -> None:
    """Filter the SDK's activity log; once per process, however many workers it runs."""
    sdk = activity.logger.base_logger
    if not any(isinstance(existing, OperatorLog) for existing in sdk.filters):
        sdk.addFilter(OperatorLog())
