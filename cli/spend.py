"""``onboarding spend``: what the vendors were asked, and what it cost, from the spend ledger."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from activities.settings import VendorSettings
from activities.spend import spend_by_vendor
from activities.warehouse import Warehouse
from common.command_line import describe_settings_error, fail


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
    try:
        settings = VendorSettings()
    except ValidationError as exc:
        raise fail(describe_settings_error(exc, VendorSettings), 2) from None
    warehouse = Warehouse(settings.warehouse_url)
    try:
        rows = spend_by_vendor(warehouse, settings.vendor_prices, start)
    except SQLAlchemyError as exc:
        raise fail(
            f"cannot read the spend ledger ({type(exc).__name__}); check WAREHOUSE_URL"
        ) from None
    finally:
        warehouse.close()
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
