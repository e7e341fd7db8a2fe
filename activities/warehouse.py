"""The data warehouse: raw vendor payloads, one row per journey and step; the enrichment cache
(company answers per domain, reused while fresh); the spend ledger (one row per vendor call).

Addressed by ``WAREHOUSE_URL`` through SQLAlchemy, so SQLite, PostgreSQL and any warehouse with a
SQLAlchemy dialect work the same way. Saves are upserts, so a retried save never adds a row.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.contracts import RECORD_JOURNEY, SAVE_TO_WAREHOUSE, JourneyProgress, WarehouseRecord
from activities.journey_run import current_journey
from activities.journey_table import journey_row, journeys_table, upsert_journey

# The failure type of a save the database refused or could not take.
UNAVAILABLE = "WarehouseUnavailable"

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

# One row per journey, upserted as it moves (see journey_table.py).
journeys = journeys_table(metadata)

# Company-level vendor answers per domain (kind: "clearbit_company", "builtwith_stack"), so a
# second signup from the same company does not pay for the same answer again.
enrichment_cache = sa.Table(
    "enrichment_cache",
    metadata,
    sa.Column("kind", sa.String(64), primary_key=True),
    sa.Column("domain", sa.String(255), primary_key=True),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("cached_at", sa.DateTime(timezone=True), nullable=False),
)

# The spend ledger: every vendor call (and every cache hit, endpoint "cache") and whether the
# vendor bills it. No personal data: the journey ID, the vendor and the endpoint only.
vendor_calls = sa.Table(
    "vendor_calls",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("journey_id", sa.String(255), nullable=True, index=True),
    sa.Column("vendor", sa.String(64), nullable=False),
    sa.Column("endpoint", sa.String(128), nullable=False),
    sa.Column("status_code", sa.Integer, nullable=True),
    sa.Column("billed", sa.Boolean, nullable=False),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False, index=True),
)


@dataclass(frozen=True)
class VendorCall:
    """One row of the spend ledger, stamped when the call was made."""

    journey_id: str | None
    vendor: str
    endpoint: str
    status_code: int | None
    billed: bool
    recorded_at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(frozen=True)
class CachedAnswer:
    payload: dict[str, Any]
    cached_at: datetime


def _upsert(
    dialect: str,
    row: dict[str, Any],
    table: sa.Table = journey_payloads,
    keys: tuple[str, ...] = ("journey_id", "step"),
) -> sa.Executable:
    updates = {k: v for k, v in row.items() if k not in keys}
    if dialect == "postgresql":
        pg = postgresql.insert(table).values(row)
        return pg.on_conflict_do_update(index_elements=list(keys), set_=updates)
    if dialect == "sqlite":
        lite = sqlite.insert(table).values(row)
        return lite.on_conflict_do_update(index_elements=list(keys), set_=updates)
    if dialect in ("mysql", "mariadb"):
        return mysql.insert(table).values(row).on_duplicate_key_update(**updates)
    raise NotImplementedError(dialect)


def _unavailable(exc: SQLAlchemyError) -> ApplicationError:
    # The driver's message can echo the URL or the row: keep only the error's class.
    return ApplicationError(
        f"Warehouse unavailable ({type(exc).__name__}); check WAREHOUSE_URL and the database",
        type=UNAVAILABLE,
    )


def _aware(moment: datetime) -> datetime:
    # SQLite hands timestamps back without their zone; they were written in UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


_CACHE_KEYS = ("kind", "domain")


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    # A file warehouse (the demo, a laptop) takes writes from many activities at once: with a
    # write-ahead log a commit appends to it instead of rewriting the journal and syncing twice,
    # readers never wait for the writer, and a writer waits for another instead of failing. A
    # commit survives the worker crashing; only the operating system crashing can lose the last.
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


class Warehouse:
    """``save_to_warehouse``: a synchronous activity, run on the worker's thread pool."""

    def __init__(self, url: str) -> None:
        sqlite = sa.make_url(url).get_backend_name() == "sqlite"
        # A database server's connection can go stale between uses; a SQLite file's cannot.
        self._engine = sa.create_engine(url, pool_pre_ping=not sqlite)
        if sqlite:
            sa.event.listen(self._engine, "connect", _sqlite_pragmas)
        self._schema_ready = False
        self._schema_lock = threading.Lock()

    @property
    def engine(self) -> sa.Engine:
        """The warehouse's engine, for modules that keep their own tables on ``metadata``."""
        return self._engine

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
            if record.journey is not None:
                upsert_journey(
                    connection, journeys, journey_row(journey_id, run_id, record.journey)
                )

    def record_journey(self, journey_id: str, run_id: str, journey: JourneyProgress) -> None:
        """Move the journey's row forward to ``journey`` (an upsert keyed by journey)."""
        self._ensure_schema()
        with self._engine.begin() as connection:
            upsert_journey(connection, journeys, journey_row(journey_id, run_id, journey))

    def journeys(self, journey_id: str | None = None) -> list[dict[str, Any]]:
        """Rows of the ``journeys`` table, for operators and tests."""
        self._ensure_schema()
        query = sa.select(journeys).order_by(journeys.c.journey_id)
        if journey_id is not None:
            query = query.where(journeys.c.journey_id == journey_id)
        with self._engine.connect() as connection:
            return [dict(r._mapping) for r in connection.execute(query)]

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

    def cached(self, kind: str, domain: str, ttl: timedelta) -> CachedAnswer | None:
        """The answer cached for ``domain`` if it is younger than ``ttl``, else None."""
        self._ensure_schema()
        key = (enrichment_cache.c.kind == kind) & (enrichment_cache.c.domain == domain.lower())
        with self._engine.connect() as connection:
            row = connection.execute(sa.select(enrichment_cache).where(key)).first()
        if row is None:
            return None
        cached_at = _aware(row.cached_at)
        if datetime.now(UTC) - cached_at >= ttl:
            return None
        return CachedAnswer(payload=row.payload, cached_at=cached_at)

    def cache(self, kind: str, domain: str, payload: dict[str, Any]) -> None:
        """Keep ``payload`` as the fresh answer for ``domain`` (an upsert)."""
        row = {
            "kind": kind,
            "domain": domain.lower(),
            "payload": payload,
            "cached_at": datetime.now(UTC),
        }
        self._ensure_schema()
        with self._engine.begin() as connection:
            try:
                connection.execute(
                    _upsert(self._engine.dialect.name, row, enrichment_cache, _CACHE_KEYS)
                )
            except NotImplementedError:
                key = (enrichment_cache.c.kind == kind) & (
                    enrichment_cache.c.domain == row["domain"]
                )
                connection.execute(enrichment_cache.delete().where(key))
                connection.execute(enrichment_cache.insert().values(row))

    def record_call(
        self,
        journey_id: str | None,
        vendor: str,
        endpoint: str,
        status_code: int | None,
        billed: bool,
    ) -> None:
        """One row of the spend ledger."""
        self.record_calls([VendorCall(journey_id, vendor, endpoint, status_code, billed)])

    def record_calls(self, calls: Sequence[VendorCall]) -> None:
        """Rows of the spend ledger, in one transaction."""
        if not calls:
            return
        self._ensure_schema()
        with self._engine.begin() as connection:
            connection.execute(
                vendor_calls.insert(),
                [
                    {
                        "id": str(uuid.uuid4()),
                        "journey_id": call.journey_id,
                        "vendor": call.vendor.lower(),
                        "endpoint": call.endpoint,
                        "status_code": call.status_code,
                        "billed": call.billed,
                        "recorded_at": call.recorded_at,
                    }
                    for call in calls
                ],
            )

    def calls(
        self, journey_id: str | None = None, since: date | None = None
    ) -> list[dict[str, Any]]:
        """Rows of the spend ledger, oldest first, for the ``spend`` command and tests."""
        self._ensure_schema()
        query = sa.select(vendor_calls).order_by(vendor_calls.c.recorded_at)
        if journey_id is not None:
            query = query.where(vendor_calls.c.journey_id == journey_id)
        if since is not None:
            start = datetime(since.year, since.month, since.day, tzinfo=UTC)
            query = query.where(vendor_calls.c.recorded_at >= start)
        with self._engine.connect() as connection:
            return [dict(r._mapping) for r in connection.execute(query)]

    @activity.defn(name=SAVE_TO_WAREHOUSE)
    def save_activity(self, record: WarehouseRecord) -> None:
        journey_id, run_id = current_journey()
        try:
            self.save(journey_id, run_id, record)
        except SQLAlchemyError as exc:
            raise _unavailable(exc) from None

    @activity.defn(name=RECORD_JOURNEY)
    def record_activity(self, journey: JourneyProgress) -> None:
        journey_id, run_id = current_journey()
        try:
            self.record_journey(journey_id, run_id, journey)
        except SQLAlchemyError as exc:
            raise _unavailable(exc) from None

    def close(self) -> None:
        self._engine.dispose()
