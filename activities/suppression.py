"""The suppression list: addresses that unsubscribed, bounced or complained get no onboarding email
again, from this journey or any later one; and which journey each sent email belongs to.

Addresses are never stored: only their keyed hash (HMAC-SHA256 with ``SUPPRESSION_HASH_KEY``), so
a copy of the warehouse lists no one. The worker and the CLI hold the key; the webhook does not
need it, because the events it receives name an email (its reference, ``email_ref``) and the
email's row already holds the hash. The tables live in the warehouse, next to its own.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from activities.warehouse import Warehouse, _upsert, metadata

# The Resend tag name and the Postmark Metadata key that carry an email's reference.
REFERENCE_FIELD = "email_ref"
HASH_KEY_ENV = "SUPPRESSION_HASH_KEY"
HASH_KEY_BYTES = 32
# Longer values cannot be keys of these tables (and are never ours).
MAX_KEY_CHARS = 255


class Reason(StrEnum):
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"


# A later, stronger reason replaces a weaker one, never the reverse: a complaint matters most to
# the sender's reputation, and an address that bounced is dead whatever its owner asked.
_STRENGTH = {Reason.UNSUBSCRIBED: 1, Reason.BOUNCED: 2, Reason.COMPLAINED: 3}

suppressions = sa.Table(
    "suppressions",
    metadata,
    sa.Column("address_hash", sa.String(64), primary_key=True),
    sa.Column("reason", sa.String(16), nullable=False),
    sa.Column("source", sa.String(64), nullable=False),
    sa.Column("journey_id", sa.String(255), nullable=True),
    sa.Column("suppressed_at", sa.DateTime(timezone=True), nullable=False),
)

# Every onboarding email sent, by the reference its provider's events carry back.
email_messages = sa.Table(
    "email_messages",
    metadata,
    sa.Column("reference", sa.String(255), primary_key=True),
    sa.Column("journey_id", sa.String(255), nullable=False, index=True),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("address_hash", sa.String(64), nullable=False),
    sa.Column("provider", sa.String(64), nullable=False),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
)

# Provider events already handled, so a redelivery changes nothing; also what was counted.
email_events = sa.Table(
    "email_events",
    metadata,
    sa.Column("source", sa.String(32), primary_key=True),
    sa.Column("event_id", sa.String(255), primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("journey_id", sa.String(255), nullable=True),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
)

_TABLES = [suppressions, email_messages, email_events]


def normalise(address: str) -> str:
    """The form an address is hashed in: trimmed and lower-cased, nothing more.

    Providers' own rules (Gmail's dots and ``+tags``) are not everyone's, so folding them would
    make two people one; a local part differing only in case reaches the same mailbox everywhere
    in practice."""
    return address.strip().lower()


def parse_hash_key(value: str) -> bytes:
    """``SUPPRESSION_HASH_KEY``: base64 of at least 32 bytes."""
    try:
        key = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(
            f"{HASH_KEY_ENV} is not valid base64: create one with `onboarding suppression-keygen`"
        ) from None
    if len(key) < HASH_KEY_BYTES:
        raise ValueError(
            f"{HASH_KEY_ENV} decodes to {len(key)} bytes; it needs at least {HASH_KEY_BYTES}: "
            "create one with `onboarding suppression-keygen`"
        )
    return key


def generate_hash_key() -> str:
    """A new ``SUPPRESSION_HASH_KEY``: base64 of 32 random bytes."""
    return base64.b64encode(os.urandom(HASH_KEY_BYTES)).decode()


class SuppressionSettings(BaseSettings):
    """What the ``suppress`` and ``unsuppress`` commands need from the environment."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    suppression_hash_key: SecretStr = Field(
        description="Base64 key of the keyed hash addresses are stored as; the worker's key."
    )
    warehouse_url: str = "sqlite:///onboarding-warehouse.db"


@dataclass(frozen=True)
class EmailRecord:
    """One sent onboarding email: whose journey, which of its emails, to which (hashed) address."""

    reference: str
    journey_id: str
    number: int
    address_hash: str
    provider: str


def _fits(value: str) -> bool:
    # PostgreSQL refuses NUL in text; such a value was never written, so it matches nothing.
    return 0 < len(value) <= MAX_KEY_CHARS and "\x00" not in value


def _insert_if_absent(connection: sa.Connection, table: sa.Table, row: dict[str, Any]) -> bool:
    """Insert ``row`` unless its key exists; True if it was inserted."""
    dialect = connection.dialect.name
    key = table.primary_key.columns[0]
    # RETURNING says whether a row went in: a driver's rowcount may be -1 for this statement.
    if dialect == "postgresql":
        inserted = postgresql.insert(table).values(row).on_conflict_do_nothing().returning(key)
        return connection.execute(inserted).first() is not None
    if dialect == "sqlite":
        inserted = sqlite.insert(table).values(row).on_conflict_do_nothing().returning(key)
        return connection.execute(inserted).first() is not None
    if dialect in ("mysql", "mariadb"):
        ignored = mysql.insert(table).values(row).prefix_with("IGNORE")
        return connection.execute(ignored).rowcount == 1
    try:
        with connection.begin_nested():
            connection.execute(table.insert().values(row))
    except IntegrityError:
        return False
    return True


class SuppressionList:
    """Synchronous, like the warehouse: async callers use ``asyncio.to_thread``."""

    def __init__(self, warehouse: Warehouse, hash_key: bytes | None) -> None:
        self._engine = warehouse.engine
        self._key = hash_key
        self._schema_ready = False
        self._schema_lock = threading.Lock()

    def _ensure_schema(self) -> None:
        # On first use, like the warehouse's: a process starts while the database is down.
        with self._schema_lock:
            if self._schema_ready:
                return
            try:
                metadata.create_all(self._engine, tables=_TABLES)
            except SQLAlchemyError:
                # Another process created them between the check and the create: look again.
                metadata.create_all(self._engine, tables=_TABLES)
            self._schema_ready = True

    def address_hash(self, address: str) -> str:
        """The keyed hash an address is stored as (hex)."""
        if self._key is None:
            raise RuntimeError(f"this suppression list has no {HASH_KEY_ENV}, so it cannot hash")
        return hmac.new(self._key, normalise(address).encode(), hashlib.sha256).hexdigest()

    def reason(self, address: str) -> Reason | None:
        """Why the address gets no email, or None when it may get one."""
        address_hash = self.address_hash(address)
        self._ensure_schema()
        query = sa.select(suppressions.c.reason).where(suppressions.c.address_hash == address_hash)
        with self._engine.connect() as connection:
            found = connection.execute(query).scalar()
        return Reason(found) if found is not None else None

    def suppress(self, address: str, reason: Reason, source: str) -> None:
        """No further email to ``address``; repeating it is harmless."""
        self.suppress_hash(self.address_hash(address), reason, None, source)

    def unsuppress(self, address: str) -> bool:
        """Take the address off the list; True if it was on it."""
        address_hash = self.address_hash(address)
        self._ensure_schema()
        with self._engine.begin() as connection:
            deleted = connection.execute(
                suppressions.delete().where(suppressions.c.address_hash == address_hash)
            )
        return deleted.rowcount > 0

    def suppress_hash(
        self, address_hash: str, reason: Reason, journey_id: str | None, source: str
    ) -> None:
        """Suppress by hash (the webhook's way); a stronger reason upgrades a weaker one."""
        row = {
            "address_hash": address_hash,
            "reason": reason.value,
            "source": source,
            "journey_id": journey_id,
            "suppressed_at": datetime.now(UTC),
        }
        weaker = [r.value for r in Reason if _STRENGTH[r] < _STRENGTH[reason]]
        self._ensure_schema()
        with self._engine.begin() as connection:
            if _insert_if_absent(connection, suppressions, row) or not weaker:
                return
            connection.execute(
                suppressions.update()
                .where(
                    (suppressions.c.address_hash == address_hash)
                    & suppressions.c.reason.in_(weaker)
                )
                .values({k: v for k, v in row.items() if k != "address_hash"})
            )

    def record_email(
        self, reference: str, journey_id: str, number: int, address: str, provider: str
    ) -> None:
        """Remember which journey and address an email belongs to (an upsert by reference)."""
        row = {
            "reference": reference,
            "journey_id": journey_id,
            "number": number,
            "address_hash": self.address_hash(address),
            "provider": provider,
            "recorded_at": datetime.now(UTC),
        }
        self._ensure_schema()
        with self._engine.begin() as connection:
            try:
                upsert = _upsert(self._engine.dialect.name, row, email_messages, ("reference",))
            except NotImplementedError:
                key = email_messages.c.reference == reference
                connection.execute(email_messages.delete().where(key))
                connection.execute(email_messages.insert().values(row))
            else:
                connection.execute(upsert)

    def email(self, reference: str) -> EmailRecord | None:
        """The email a provider's event names, or None when it is not one of ours."""
        if not _fits(reference):
            return None
        self._ensure_schema()
        query = sa.select(email_messages).where(email_messages.c.reference == reference)
        with self._engine.connect() as connection:
            row = connection.execute(query).first()
        if row is None:
            return None
        return EmailRecord(
            reference=row.reference,
            journey_id=row.journey_id,
            number=row.number,
            address_hash=row.address_hash,
            provider=row.provider,
        )

    def journey_address_hash(self, journey_id: str) -> str | None:
        """The hashed address the journey's emails went to (its latest), or None if none went."""
        if not _fits(journey_id):
            return None
        self._ensure_schema()
        query = (
            sa.select(email_messages.c.address_hash)
            .where(email_messages.c.journey_id == journey_id)
            .order_by(email_messages.c.number.desc(), email_messages.c.recorded_at.desc())
            .limit(1)
        )
        with self._engine.connect() as connection:
            found = connection.execute(query).scalar()
        return str(found) if found is not None else None

    def first_event(self, source: str, event_id: str, kind: str, journey_id: str | None) -> bool:
        """Record a provider's event; False when it was recorded before (a redelivery)."""
        row = {
            "source": source,
            "event_id": event_id,
            "kind": kind,
            "journey_id": journey_id,
            "received_at": datetime.now(UTC),
        }
        self._ensure_schema()
        with self._engine.begin() as connection:
            return _insert_if_absent(connection, email_events, row)

    def seen(self, source: str, event_id: str) -> bool:
        """Whether a provider's event was recorded already."""
        self._ensure_schema()
        key = (email_events.c.source == source) & (email_events.c.event_id == event_id)
        with self._engine.connect() as connection:
            return connection.execute(sa.select(email_events.c.kind).where(key)).first() is not None

    def event_counts(self) -> dict[str, int]:
        """How many provider events of each kind were recorded (transient bounces too)."""
        self._ensure_schema()
        query = sa.select(email_events.c.kind, sa.func.count()).group_by(email_events.c.kind)
        with self._engine.connect() as connection:
            return {str(kind): int(count) for kind, count in connection.execute(query)}
