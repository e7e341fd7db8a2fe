"""What every report command shares: reading WAREHOUSE_URL's warehouse, or one line saying why not."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from activities.settings import VendorSettings
from activities.warehouse import Warehouse
from common.command_line import describe_settings_error, fail

T = TypeVar("T")


def read_warehouse(query: Callable[[Warehouse, VendorSettings], T], what: str) -> T:
    """Run ``query`` against the configured warehouse; exit with one line naming ``what`` could
    not be read (a bad setting exits 2)."""
    try:
        settings = VendorSettings()
    except ValidationError as exc:
        raise fail(describe_settings_error(exc, VendorSettings), 2) from None
    warehouse = Warehouse(settings.warehouse_url)
    try:
        return query(warehouse, settings)
    except SQLAlchemyError as exc:
        raise fail(f"cannot read {what} ({type(exc).__name__}); check WAREHOUSE_URL") from None
    finally:
        warehouse.close()
