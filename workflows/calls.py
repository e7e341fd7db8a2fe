"""How the journey calls its activities.

A vendor call gets one first try; only when it fails does the journey publish its stage (so a
call that works at once costs no upsert) and hand the call to the server's retries, which go on
until it works or the vendor rejects the request. The retries are pinned to the provider the first
try failed with (its failure names it) and marked as possibly done already, so a provider without
an idempotency key looks for the first try's effect before repeating it. A warehouse save runs as a local activity,
inside the workflow task that asks for it, and falls through to a regular activity when the
warehouse keeps failing, so operators see the reason on the pending activity.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import TimeoutError as TemporalTimeoutError

with workflow.unsafe.imports_passed_through():
    from activities.contracts import (
        JourneyProgress,
        ProviderCall,
        WarehouseRecord,
        call_task_queue,
    )
    from activities.vendors import failed_provider
    from common.durations import format_offset

# 5xx and timeouts back off exponentially; operator mistakes (bad keys, a missing channel) wait
# at most two minutes between tries, so journeys resume on their own once the configuration is
# fixed. Only a request the vendor rejects is final.
VENDOR_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=2),
    maximum_attempts=0,
    non_retryable_error_types=["VendorRejectedRequest"],
)
# A failed first try comes back to the journey, to publish the stage before the retries.
FIRST_TRY = RetryPolicy(maximum_attempts=1)
# A save inside the workflow task gets a few quick tries before it becomes a regular activity.
LOCAL_SAVE_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=500),
    backoff_coefficient=2.0,
    maximum_attempts=3,
)

ResultT = TypeVar("ResultT")


def retry_delay(failed: ActivityError) -> timedelta | None:
    """How long to wait before retrying a call whose first try failed, as ``VENDOR_RETRY`` would
    (the vendor's ``Retry-After`` if it gave one); None when it must not be retried."""
    cause = failed.cause
    if isinstance(cause, ApplicationError):
        if cause.non_retryable or cause.type in (VENDOR_RETRY.non_retryable_error_types or ()):
            return None
        return cause.next_retry_delay or VENDOR_RETRY.initial_interval
    if isinstance(cause, TemporalTimeoutError):
        return VENDOR_RETRY.initial_interval
    return None  # cancelled or terminated: not a vendor's failure


async def call_vendor(
    activity: str,
    arg: Any,
    result_type: type[ResultT],
    *,
    start_to_close: timedelta,
    summary: str,
    publish: Callable[[], None],
    first_try: bool = True,
) -> ResultT:
    """The vendor call, retried until it works (or the vendor rejects the request).

    ``publish`` sends the journey's pending status: after a failed first try, or before the
    call when it must not be tried outside the server's retries (``first_try=False``)."""
    if first_try:
        try:
            return await _execute(activity, arg, result_type, start_to_close, summary, FIRST_TRY)
        except ActivityError as failed:
            delay = retry_delay(failed)
            if delay is None:
                raise
            arg = pinned(arg, failed)
        publish()
        await workflow.sleep(delay, summary=f"retry {summary} in {format_offset(delay)}")
    else:
        publish()
    return await _execute(activity, arg, result_type, start_to_close, summary, VENDOR_RETRY)


def pinned(arg: Any, failed: ActivityError) -> Any:
    """The request again, for the retries: to the provider that failed (when the failure names
    it; a lost answer names none), and marked as possibly done already."""
    if not isinstance(arg, ProviderCall):
        return arg
    cause = failed.cause
    provider = failed_provider(cause.details) if isinstance(cause, ApplicationError) else None
    return arg.model_copy(update={"provider": provider or arg.provider, "attempted": True})


async def save_to_warehouse(
    activity: str,
    record: WarehouseRecord | JourneyProgress,
    *,
    summary: str,
    start_to_close: timedelta,
    publish: Callable[[], None],
    failing: Callable[[], None],
) -> None:
    """Save within this workflow task; when the warehouse keeps failing, call ``failing`` and
    retry as a regular activity until the warehouse is back."""
    try:
        await workflow.execute_local_activity(
            activity,
            record,
            start_to_close_timeout=start_to_close,
            retry_policy=LOCAL_SAVE_RETRY,
            summary=summary,
        )
        return
    except (ActivityError, ApplicationError, TemporalTimeoutError):
        pass  # a local activity's failure arrives as its cause, not wrapped
    failing()
    await call_vendor(
        activity,
        record,
        type(None),
        start_to_close=start_to_close,
        summary=summary,
        publish=publish,
        first_try=False,  # already failing: show the stage now
    )


async def _execute(
    activity: str,
    arg: Any,
    result_type: type[ResultT],
    start_to_close: timedelta,
    summary: str,
    retry_policy: RetryPolicy,
) -> ResultT:
    result: ResultT = await workflow.execute_activity(
        activity,
        arg,
        result_type=result_type,
        task_queue=call_task_queue(
            workflow.info().task_queue, activity, getattr(arg, "provider", None)
        ),
        start_to_close_timeout=start_to_close,
        retry_policy=retry_policy,
        summary=summary,
    )
    return result
