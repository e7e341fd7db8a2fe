"""A warehouse of each kind for the analytics tests: a SQLite file, and PostgreSQL in a schema of
its own (dropped afterwards), so other tests' journeys never land in the counts."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from activities.warehouse import Warehouse

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
KINDS = ["sqlite", "postgresql"]


def warehouse_of(kind: str, tmp_path: Path) -> Iterator[Warehouse]:
    """For a fixture: a warehouse with no journeys in it yet."""
    if kind == "sqlite":
        warehouse = Warehouse(f"sqlite:///{tmp_path / 'warehouse.db'}")
        yield warehouse
        warehouse.close()
        return
    admin = sa.create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
    schema = f"analytics_{uuid.uuid4().hex[:12]}"
    try:
        with admin.begin() as connection:
            connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:
        admin.dispose()
        pytest.skip(f"no PostgreSQL at 127.0.0.1:5432 (database 'test'): {type(exc).__name__}")
    warehouse = Warehouse(f"{POSTGRES_URL}?options=-csearch_path%3D{schema}")
    try:
        yield warehouse
    finally:
        warehouse.close()
        with admin.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
