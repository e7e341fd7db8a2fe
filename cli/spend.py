"""``onboarding spend``: what the vendors were asked, and what it cost, from the spend ledger."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from activities.spend import spend_by_vendor
from cli.warehouse_report import read_warehouse
from common.command_line import fail


def _since(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise fail(f"--since: '{value}' is not a date like 2026-11-01", 2) from None


def spend_command(
    since: Annotated[
        str | None, typer.Option(help="Only calls on or after this day (UTC), YYYY-MM-DD.")
    ] = None,
) -> None:
    """Vendor calls and their estimated cost per vendor (prices from VENDOR_PRICES)."""
    start = _since(since)
    rows = read_warehouse(
        lambda warehouse, settings: spend_by_vendor(warehouse, settings.vendor_prices, start),
        "the spend ledger",
    )
    title = "Vendor spend" + (f" since {start.isoformat()}" if start else "")
    table = Table(title=title)
    table.add_column("vendor")
    for column in ("calls", "cache hits", "billed", "estimated cost"):
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(
            row.vendor, str(row.calls), str(row.cache_hits), str(row.billed), f"${row.cost:,.3f}"
        )
    total = sum(row.cost for row in rows)
    table.add_section()
    table.add_row(
        "total",
        str(sum(r.calls for r in rows)),
        str(sum(r.cache_hits for r in rows)),
        str(sum(r.billed for r in rows)),
        f"${total:,.3f}",
    )
    Console(highlight=False, width=100).print(table)
    typer.echo("Estimated from VENDOR_PRICES (dollars per billed call); check against invoices.")
