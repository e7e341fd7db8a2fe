"""The enrichment cache: a colleague's signup is answered from the warehouse, not the vendors,
while the answer is fresh; free-mail domains are never looked up; a broken cache never fails a
journey. Real worker, time-skipping server, vendor sandbox over HTTP."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest_asyncio
import sqlalchemy as sa
from temporalio.testing import ActivityEnvironment

from activities.contracts import TechnographicsRequest
from activities.enrichment_cache import (
    BUILTWITH_STACK,
    ROLE_LOCAL_PARTS,
    is_free_mail,
    is_role_address,
)
from activities.settings import VendorSettings
from activities.technographics import BuiltWithTechnographics
from activities.warehouse import Warehouse, enrichment_cache
from common.durations import parse_duration
from sandbox.fixtures import ROLE_LOCAL_PARTS as SANDBOX_ROLE_LOCAL_PARTS
from sandbox.server import SandboxServer
from tests.conftest import RunningWorker, _worker
from tests.workflows.test_journey import signup, start
from worker.main import http_client
from workflows.models import Outcome


async def run_journey(worker: RunningWorker, email: str) -> Outcome | None:
    handle = await start(worker, signup(email))
    return (await handle.result()).outcome


def counts(sandbox: SandboxServer) -> tuple[int, int]:
    return len(sandbox.state.calls("clearbit")), len(sandbox.state.calls("builtwith"))


async def test_two_colleagues_cost_one_lookup_of_each_vendor(
    skipping_worker: RunningWorker, sandbox: SandboxServer
) -> None:
    assert await run_journey(skipping_worker, "sam@shopbright.example") == Outcome.EMAILS_COMPLETED
    assert counts(sandbox) == (1, 1)
    second = await start(skipping_worker, signup("alex@shopbright.example"))
    state = await second.result()

    assert state.outcome == Outcome.EMAILS_COMPLETED
    assert counts(sandbox) == (1, 1)
    rows = {
        r["step"]: r["payload"]
        for r in Warehouse(skipping_worker.settings.warehouse_url).rows(second.id)
    }
    assert rows["technographics"]["cache"]["domain"] == "shopbright.example"
    # The cached answer is the company's: the colleague has no person part.
    enrichment = rows["enrichment"]
    assert enrichment["person"] is None
    assert enrichment["company"]["domain"] == "shopbright.example"
    assert enrichment["company"]["cache"]["domain"] == "shopbright.example"
    calls = Warehouse(skipping_worker.settings.warehouse_url).calls(second.id)
    assert sorted(
        (c["vendor"], c["endpoint"], c["billed"]) for c in calls if c["endpoint"] == "cache"
    ) == [
        ("builtwith", "cache", False),
        ("clearbit", "cache", False),
    ]


async def test_an_enterprise_colleague_from_the_cache_still_alerts_sales(
    skipping_worker: RunningWorker, sandbox: SandboxServer
) -> None:
    assert await run_journey(skipping_worker, "kim@globex.example") == Outcome.SALES_ALERTED
    assert await run_journey(skipping_worker, "lee@globex.example") == Outcome.SALES_ALERTED
    assert len(sandbox.state.calls("clearbit")) == 1
    assert len(sandbox.state.slack_messages()) == 2


async def test_a_role_address_never_inherits_a_colleagues_company(
    skipping_worker: RunningWorker, sandbox: SandboxServer
) -> None:
    # Whichever comes first, info@ ends as Clearbit would end it.
    assert await run_journey(skipping_worker, "info@shopbright.example") == Outcome.INVALID_EMAIL
    assert await run_journey(skipping_worker, "sam@shopbright.example") == Outcome.EMAILS_COMPLETED
    clearbit_calls = len(sandbox.state.calls("clearbit"))
    for email in ("info@shopbright.example", "Support+eu@shopbright.example"):
        assert await run_journey(skipping_worker, email) == Outcome.INVALID_EMAIL
    assert len(sandbox.state.calls("clearbit")) == clearbit_calls


def test_the_role_list_covers_every_address_clearbit_refuses() -> None:
    assert SANDBOX_ROLE_LOCAL_PARTS <= ROLE_LOCAL_PARTS
    assert is_role_address("Info+billing@acme.example")
    assert not is_role_address("information.desk.lead@acme.example")


async def test_an_expired_answer_is_asked_again(
    skipping_worker: RunningWorker, sandbox: SandboxServer
) -> None:
    await run_journey(skipping_worker, "sam@shopbright.example")
    warehouse = Warehouse(skipping_worker.settings.warehouse_url)
    ttl = skipping_worker.settings.enrichment_cache_ttl
    assert warehouse.cached(BUILTWITH_STACK, "shopbright.example", ttl) is not None
    old = datetime.now(UTC) - ttl - timedelta(minutes=1)
    with warehouse._engine.begin() as connection:
        connection.execute(enrichment_cache.update().values(cached_at=old))
    assert warehouse.cached(BUILTWITH_STACK, "shopbright.example", ttl) is None

    assert await run_journey(skipping_worker, "alex@shopbright.example") == (
        Outcome.EMAILS_COMPLETED
    )
    assert counts(sandbox) == (2, 2)
    # The fresh answers replaced the stale ones.
    assert warehouse.cached(BUILTWITH_STACK, "shopbright.example", ttl) is not None


@pytest_asyncio.fixture
async def uncached_worker(
    skipping_worker: RunningWorker, vendor_settings: VendorSettings
) -> AsyncIterator[RunningWorker]:
    settings = vendor_settings.model_copy(update={"enrichment_cache_ttl": timedelta(0)})
    async for running in _worker(skipping_worker.client, settings):
        yield running


async def test_a_zero_ttl_turns_the_cache_off(
    uncached_worker: RunningWorker, sandbox: SandboxServer
) -> None:
    for email in ("sam@shopbright.example", "alex@shopbright.example"):
        assert await run_journey(uncached_worker, email) == Outcome.EMAILS_COMPLETED
    assert counts(sandbox) == (2, 2)


async def test_a_broken_cache_still_completes_the_journey(
    skipping_worker: RunningWorker, sandbox: SandboxServer
) -> None:
    await run_journey(skipping_worker, "sam@shopbright.example")
    warehouse = Warehouse(skipping_worker.settings.warehouse_url)
    with warehouse._engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE enrichment_cache"))

    assert await run_journey(skipping_worker, "alex@shopbright.example") == (
        Outcome.EMAILS_COMPLETED
    )
    assert counts(sandbox) == (2, 2)


def test_free_mail_domains_come_from_the_maintained_list() -> None:
    assert is_free_mail("gmail.com") and is_free_mail("Outlook.com")
    assert not is_free_mail("shopbright.example")
    assert parse_duration("12h") == timedelta(hours=12)
    assert parse_duration("0s") == timedelta(0)


async def test_free_mail_never_reaches_builtwith_or_the_cache(
    vendor_settings: VendorSettings, sandbox: SandboxServer
) -> None:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, workflow_id="onboarding-u-1", workflow_run_id="r")
    warehouse = Warehouse(vendor_settings.warehouse_url)
    async with http_client(vendor_settings) as http:
        look_up = BuiltWithTechnographics(http, vendor_settings, warehouse).look_up
        answer = await env.run(look_up, TechnographicsRequest(domain="gmail.com"))
    assert answer.technologies == []
    assert sandbox.state.calls("builtwith") == []
    assert warehouse.cached(BUILTWITH_STACK, "gmail.com", timedelta(days=30)) is None


async def test_a_cached_stack_answers_without_a_call(
    vendor_settings: VendorSettings, sandbox: SandboxServer
) -> None:
    env = ActivityEnvironment()
    warehouse = Warehouse(vendor_settings.warehouse_url)
    async with http_client(vendor_settings) as http:
        look_up = BuiltWithTechnographics(http, vendor_settings, warehouse).look_up
        first = await env.run(look_up, TechnographicsRequest(domain="shopbright.example"))
        again = await env.run(look_up, TechnographicsRequest(domain="SHOPBRIGHT.example"))
    assert again.technologies == first.technologies != []
    assert len(sandbox.state.calls("builtwith")) == 1
