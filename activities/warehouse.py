"""The data warehouse: raw vendor payloads, one row per journey and step.

Addressed by ``WAREHOUSE_URL`` through SQLAlchemy, so SQLite, PostgreSQL and any warehouse with a
SQLAlchemy dialect work the same way. Saves are upserts, so a retried save never adds a row.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.contracts import SAVE_TO_WAREHOUSE, WarehouseRecord
from activities.journey_run import current_journey

metadata = sa.MetaData()

journey_payloads = sa.Table(
    "journey_payloads",
    metadata,
    sa.Column("journey_id", sa.String(255), primary_key=True),
    sa.Column("step", sa.String(64), primary_key=True),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("vendor", sa.String(64), nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("saved_at", sa.DateTime(timezone=True), nullable=False),
)


def _upsert(dialect: str, row: dict[str, Any]) -> sa.Executable:
    updates = {k: row[k] for k in ("run_id", "vendor", "payload", "saved_at")}
    if dialect == "postgresql":
        pg = postgresql.insert(journey_payloads).values(row)
        return pg.on_conflict_do_update(index_elements=["journey_id", "step"], set_=updates)
    if dialect == "sqlite":
        lite = sqlite.insert(journey_payloads).values(row)
        return lite.on_conflict_do_update(index_elements=["journey_id", "step"], set_=updates)
    if dialect in ("mysql", "mariadb"):
        return mysql.insert(journey_payloads).values(row).on_duplicate_key_update(**updates)
    raise NotImplementedError(dialect)


class Warehouse:
    """``save_to_warehouse``: a synchronous activity, run on the worker's thread pool."""

    def __init__(self, url: str) -> None:
        self._engine = sa.create_engine(url, pool_pre_ping=True)
        self._schema_ready = False
        self._schema_lock = threading.Lock()

    def _ensure_schema(self) -> None:
        # Created on first use rather than at start-up, so a worker starts while the warehouse
        # is down and journeys simply wait for it.
        with self._schema_lock:
            if not self._schema_ready:
                metadata.create_all(self._engine)
                self._schema_ready = True

    def save(self, journey_id: str, run_id: str, record: WarehouseRecord) -> None:
        row = {
            "journey_id": journey_id,
            "step": record.step,
            "run_id": run_id,
            "vendor": record.vendor,
            "payload": record.payload,
            "saved_at": datetime.now(UTC),
        }
        self._ensure_schema()
        dialect = self._engine.dialect.name
        with self._engine.begin() as connection:
            try:
                connection.execute(_upsert(dialect, row))
            except NotImplementedError:
                # A dialect without a native upsert: replace the row inside one transaction.
                key = (journey_payloads.c.journey_id == journey_id) & (
                    journey_payloads.c.step == record.step
                )
                connection.execute(journey_payloads.delete().where(key))
                connection.execute(journey_payloads.insert().values(row))

    def rows(self, journey_id: str | None = None) -> list[dict[str, Any]]:
        """Saved payloads, for operators and tests."""
        self._ensure_schema()
        query = sa.select(journey_payloads).order_by(
            journey_payloads.c.journey_id, journey_payloads.c.step
        )
        if journey_id is not None:
            query = query.where(journey_payloads.c.journey_id == journey_id)
        with self._engine.connect() as connection:
            return [dict(r._mapping) for r in connection.execute(query)]

    @activity.defn(name=SAVE_TO_WAREHOUSE)
    def save_activity(self, record: WarehouseRecord) -> None:
        journey_id, run_id = current_journey()
        try:
            self.save(journey_id, run_id, record)
        except SQLAlchemyError as exc:
            # The driver's message can echo the URL or the row: keep only the error's class.
            raise ApplicationError(
                f"Warehouse unavailable ({type(exc).__name__}); check WAREHOUSE_URL and the database",
                type="WarehouseUnavailable",
            ) from None

    def close(self) -> None:
        self._engine.dispose()
