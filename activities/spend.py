"""The spend ledger: every vendor call the activities make, and whether the vendor bills it.

Calls are recorded from the worker's shared HTTP client (a response hook, so every vendor's
activity is covered in one place) and cache hits by the activity that answered from the cache.
A ledger that cannot be written never fails the call: it logs a warning and the journey goes on.

Rows are group-committed: one transaction at a time per warehouse, carrying every row that
arrived while the previous one was being written, so a busy worker does not queue one write
(and, on SQLite, one wait for the write lock) per vendor call. Each call still returns only
once its own row is committed.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx
from temporalio import activity

from activities.warehouse import VendorCall, Warehouse

log = logging.getLogger("onboarding.spend")

CACHE_ENDPOINT = "cache"


def is_billed(
    vendor: str, status_code: int | None, body: Any = None, *, endpoint: str | None = None
) -> bool:
    """Whether the vendor bills one call with this answer.

    - Clearbit: a 200 (a match) is billed; 202 (queued), 404 (nothing found) and 422 (not a
      person's email) are not. ASSUMPTION, from our rules for this contract, not confirmed in
      Clearbit's public docs (it publishes no price list for the combined API).
    - BuiltWith: a successful lookup costs 1 credit per domain looked up; a 200 whose body only
      carries ``Errors`` (bad key, no credits) is treated as unbilled. ASSUMPTION for the latter.
    - Slack: the Web API is never billed per call.
    - Resend: each accepted email (200) is billed. A replay of an idempotency key is answered
      with the same 200 and sends nothing, so it is probably not billed, but the answer does not
      tell a replay apart: we bill every 200, which can overestimate after retried sends.
    - People Data Labs: a match (200) costs a credit; a miss (404) does not (PDL's pricing).
    - Wappalyzer: every 200 lookup, a pending crawl (``crawl: true``) included. ASSUMPTION, an
      upper bound: Wappalyzer states each call's cost in ``wappalyzer-credits-spent``, which the
      ledger does not read.
    - Postmark: each accepted email (200 on ``email``); the search for an earlier send of the
      same email (``messages/outbound``) is not billed.
    - Slack incoming webhook: never billed.
    - Anything else (errors, throttling, cache hits): not billed.
    """
    if status_code != 200:
        return False
    vendor = vendor.lower()
    if vendor == "builtwith":
        return not (isinstance(body, dict) and body.get("Errors") and not body.get("Results"))
    if vendor == "postmark":
        return endpoint in (None, "email")
    return vendor in ("clearbit", "resend", "peopledatalabs", "wappalyzer")


def endpoint_of(vendor: str, url: httpx.URL) -> str:
    """A short, stable name of the endpoint called (never the query: it carries emails, keys)."""
    if vendor == "slack-webhook":
        return "webhook"  # its path is the webhook's secret
    path = url.path.rstrip("/")
    if vendor == "clearbit" and path.endswith("/combined/find"):
        return "combined/find"
    if vendor == "peopledatalabs" and path.endswith("/person/enrich"):
        return "person/enrich"
    if vendor == "postmark" and path.endswith("/messages/outbound"):
        return "messages/outbound"
    return path.rsplit("/", 1)[-1] or "/"


def _journey_id() -> str | None:
    try:
        return activity.info().workflow_id
    except RuntimeError:  # outside an activity: a script, a plain test
        return None


class GroupCommit:
    """The ledger writes of one warehouse: one transaction at a time, with every row that
    arrived meanwhile."""

    def __init__(self, warehouse: Warehouse) -> None:
        self._warehouse = warehouse
        self._waiting: list[tuple[VendorCall, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def write(self, call: VendorCall) -> None:
        """Return once ``call``'s row is committed; raise what its transaction raised."""
        loop = asyncio.get_running_loop()
        committed: asyncio.Future[None] = loop.create_future()
        self._waiting.append((call, committed))
        writer = self._writer
        if writer is None or writer.done() or writer.get_loop() is not loop:
            self._writer = loop.create_task(self._write_all())
        await committed

    async def _write_all(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                await asyncio.to_thread(self._warehouse.record_calls, [c for c, _ in batch])
            except Exception as exc:
                for _, committed in batch:
                    if not committed.done():  # its caller may have been cancelled
                        committed.set_exception(exc)
            else:
                for _, committed in batch:
                    if not committed.done():
                        committed.set_result(None)


_group_commits: weakref.WeakKeyDictionary[Warehouse, GroupCommit] = weakref.WeakKeyDictionary()


async def record_call(
    warehouse: Warehouse, vendor: str, endpoint: str, status_code: int | None, billed: bool
) -> None:
    """Add one row to the ledger; a failure is a warning (no personal data), never an error."""
    call = VendorCall(_journey_id(), vendor, endpoint, status_code, billed)
    group = _group_commits.get(warehouse)
    if group is None:
        group = _group_commits[warehouse] = GroupCommit(warehouse)
    try:
        await group.write(call)
    except Exception as exc:
        log.warning("spend ledger: could not record a %s call (%s)", vendor, type(exc).__name__)


class SpendLedger:
    """Records each answer of the worker's shared vendor client in the warehouse."""

    def __init__(self, warehouse: Warehouse) -> None:
        self._warehouse = warehouse

    async def record_response(self, response: httpx.Response) -> None:
        """An httpx response hook: vendor calls carry the ``onboarding.vendor`` extension."""
        vendor = response.request.extensions.get("onboarding.vendor")
        if not isinstance(vendor, str):
            return
        body: Any = None
        if vendor == "builtwith" and response.status_code == 200:
            try:
                await response.aread()  # kept on the response: the activity reads it again
                body = response.json()
            except Exception:
                body = None
        endpoint = endpoint_of(vendor, response.request.url)
        billed = is_billed(vendor, response.status_code, body, endpoint=endpoint)
        await record_call(self._warehouse, vendor, endpoint, response.status_code, billed)


@dataclass(frozen=True)
class VendorSpend:
    vendor: str
    calls: int
    cache_hits: int
    billed: int
    cost: float


def spend_by_vendor(
    warehouse: Warehouse, prices: Mapping[str, float], since: date | None = None
) -> list[VendorSpend]:
    """Calls, cache hits, billed calls and estimated cost per vendor, from the ledger."""
    totals: dict[str, list[int]] = {}
    for row in warehouse.calls(since=since):
        counts = totals.setdefault(row["vendor"], [0, 0, 0])
        if row["endpoint"] == CACHE_ENDPOINT:
            counts[1] += 1
        else:
            counts[0] += 1
        counts[2] += bool(row["billed"])
    return [
        VendorSpend(vendor, calls, hits, billed, billed * prices.get(vendor, 0.0))
        for vendor, (calls, hits, billed) in sorted(totals.items())
    ]
