"""The spend ledger: one row per vendor call, billed by each vendor's rules, and the ``spend``
command's summary of it."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import pytest

from activities import spend
from activities.settings import VendorSettings
from activities.spend import is_billed
from activities.vendors import PLACEHOLDER_PRICES
from activities.warehouse import VendorCall, Warehouse
from sandbox.server import SandboxServer
from tests.conftest import RunningWorker
from tests.helpers import onboarding
from tests.workflows.test_journey import signup, start
from workflows.models import Outcome


def ledger(worker: RunningWorker, journey_id: str) -> list[tuple[str, str, int | None, bool]]:
    rows = Warehouse(worker.settings.warehouse_url).calls(journey_id)
    return [(r["vendor"], r["endpoint"], r["status_code"], r["billed"]) for r in rows]


async def test_an_email_journey_bills_clearbit_builtwith_and_each_email(
    skipping_worker: RunningWorker,
) -> None:
    handle = await start(skipping_worker, signup("sam@shopbright.example"))
    assert (await handle.result()).outcome == Outcome.EMAILS_COMPLETED
    assert ledger(skipping_worker, handle.id) == [
        ("clearbit", "combined/find", 200, True),
        ("builtwith", "api.json", 200, True),
        ("resend", "emails", 200, True),
        ("resend", "emails", 200, True),
        ("resend", "emails", 200, True),
    ]
    # A colleague: the company and its stack come from the cache, unbilled; emails are billed.
    colleague = await start(skipping_worker, signup("alex@shopbright.example"))
    await colleague.result()
    assert ledger(skipping_worker, colleague.id) == [
        ("clearbit", "cache", None, False),
        ("builtwith", "cache", None, False),
        *[("resend", "emails", 200, True)] * 3,
    ]


async def test_an_enterprise_journey_bills_clearbit_not_slack(
    skipping_worker: RunningWorker,
) -> None:
    handle = await start(skipping_worker, signup("ada@globex.example"))
    assert (await handle.result()).outcome == Outcome.SALES_ALERTED
    rows = ledger(skipping_worker, handle.id)
    assert rows[0] == ("clearbit", "combined/find", 200, True)
    assert [r[0] for r in rows[1:]] and all(r[0] == "slack" and not r[3] for r in rows[1:])
    assert ("slack", "chat.postMessage", 200, False) in rows


async def test_queued_and_unknown_lookups_are_not_billed(skipping_worker: RunningWorker) -> None:
    slow = await start(skipping_worker, signup("lee@slowpoke.example"))
    await slow.result()
    clearbit = [r for r in ledger(skipping_worker, slow.id) if r[0] == "clearbit"]
    assert clearbit == [
        ("clearbit", "combined/find", 202, False),
        ("clearbit", "combined/find", 202, False),
        ("clearbit", "combined/find", 200, True),
    ]
    unknown = await start(skipping_worker, signup("joe@unheard-of.example"))
    assert (await unknown.result()).outcome == Outcome.NOT_ENRICHED
    assert ledger(skipping_worker, unknown.id) == [("clearbit", "combined/find", 404, False)]


async def test_calls_recorded_together_share_a_transaction_and_every_row_lands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    warehouse = Warehouse(f"sqlite:///{tmp_path / 'warehouse.db'}")
    transactions: list[int] = []
    write = warehouse.record_calls

    def counted(calls: Sequence[VendorCall]) -> None:
        transactions.append(len(calls))
        write(calls)

    monkeypatch.setattr(warehouse, "record_calls", counted)
    await asyncio.gather(
        *(spend.record_call(warehouse, "resend", "emails", 200, True) for _ in range(40))
    )
    assert sum(transactions) == 40 and len(transactions) <= 2, transactions
    assert len(warehouse.calls()) == 40
    # One more, alone: its own transaction, once the first batch is done.
    await spend.record_call(warehouse, "slack", "chat.postMessage", 200, False)
    assert transactions[-1] == 1 and len(warehouse.calls()) == 41


async def test_a_ledger_that_cannot_be_written_warns_for_each_call_and_recovers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    warehouse = Warehouse(f"sqlite:///{tmp_path / 'warehouse.db'}")
    write = warehouse.record_calls

    def broken(calls: Sequence[VendorCall]) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(warehouse, "record_calls", broken)
    with caplog.at_level(logging.WARNING, logger="onboarding.spend"):
        await asyncio.gather(
            *(
                spend.record_call(warehouse, "clearbit", "combined/find", 200, True)
                for _ in range(3)
            )
        )
    assert [r.getMessage() for r in caplog.records] == [
        "spend ledger: could not record a clearbit call (OSError)"
    ] * 3
    monkeypatch.setattr(warehouse, "record_calls", write)
    await spend.record_call(warehouse, "clearbit", "combined/find", 200, True)
    assert len(warehouse.calls()) == 1


def test_a_vendor_left_out_of_the_prices_keeps_its_placeholder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VENDOR_PRICES", "clearbit=0.25")
    prices = VendorSettings(_env_file=None).vendor_prices
    assert prices == {**PLACEHOLDER_PRICES, "clearbit": 0.25}
    assert prices["resend"] == PLACEHOLDER_PRICES["resend"] > 0


def test_billing_rules() -> None:
    assert is_billed("clearbit", 200) and not is_billed("clearbit", 422)
    assert is_billed("builtwith", 200, {"Results": [{}]})
    assert not is_billed("builtwith", 200, {"Results": [], "Errors": [{"Message": "no credits"}]})
    assert not is_billed("slack", 200) and is_billed("resend", 200)
    assert not is_billed("resend", 409) and not is_billed("clearbit", None)


def test_the_spend_command_prices_billed_calls(tmp_path: Path, sandbox: SandboxServer) -> None:
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    warehouse = Warehouse(url)
    for vendor, endpoint, status, billed in [
        ("clearbit", "combined/find", 200, True),
        ("clearbit", "combined/find", 404, False),
        ("clearbit", "cache", None, False),
        ("builtwith", "api.json", 200, True),
        ("slack", "chat.postMessage", 200, False),
        ("resend", "emails", 200, True),
        ("resend", "emails", 200, True),
    ]:
        warehouse.record_call("onboarding-u-1", vendor, endpoint, status, billed)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WAREHOUSE_", "VENDOR_"))}
    env.update(WAREHOUSE_URL=url, VENDOR_PRICES="clearbit=0.25,builtwith=0.5,slack=0,resend=0.01")

    result = onboarding("spend", env=env)
    assert result.returncode == 0, result.stderr
    lines = {line.split("│")[1].strip(): line for line in result.stdout.splitlines() if "│" in line}
    assert [c.strip() for c in lines["clearbit"].split("│")[2:6]] == ["2", "1", "1", "$0.250"]
    assert [c.strip() for c in lines["builtwith"].split("│")[2:6]] == ["1", "0", "1", "$0.500"]
    assert [c.strip() for c in lines["slack"].split("│")[2:6]] == ["1", "0", "0", "$0.000"]
    assert [c.strip() for c in lines["resend"].split("│")[2:6]] == ["2", "0", "2", "$0.020"]
    assert "$0.770" in lines["total"]

    tomorrow = (warehouse.calls()[0]["recorded_at"] + timedelta(days=1)).date().isoformat()
    later = onboarding("spend", "--since", tomorrow, env=env)
    assert later.returncode == 0 and "clearbit" not in later.stdout


@pytest.mark.parametrize("since", ["yesterday", "2026-13-01"])
def test_the_spend_command_refuses_a_bad_date(since: str, tmp_path: Path) -> None:
    env = dict(os.environ, WAREHOUSE_URL=f"sqlite:///{tmp_path / 'w.db'}")
    result = onboarding("spend", "--since", since, env=env)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: --since:")
