"""The suppression list on SQLite and on the PostgreSQL at 127.0.0.1:5432 (shared tables there, so
every test uses its own addresses, references and event kinds), and its commands."""

from __future__ import annotations

import base64
import hashlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
import typer
from typer.testing import CliRunner

from activities.suppression import (
    Reason,
    SuppressionList,
    email_events,
    email_messages,
    generate_hash_key,
    normalise,
    parse_hash_key,
    suppressions,
)
from activities.warehouse import Warehouse
from cli.suppression import (
    suppress_command,
    suppression_keygen_command,
    unsubscribe_keygen_command,
    unsuppress_command,
)
from common.unsubscribe import parse_signing_keys
from tests.activities.test_warehouse import POSTGRES_URL, postgres_reachable

KEY = os.urandom(32)


@pytest.fixture(params=["sqlite", "postgresql"])
def warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Warehouse]:
    if request.param == "postgresql":
        reason = postgres_reachable()
        if reason:
            pytest.skip(reason)
        url = POSTGRES_URL
    else:
        url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    warehouse = Warehouse(url)
    yield warehouse
    warehouse.close()


@pytest.fixture
def listed(warehouse: Warehouse) -> SuppressionList:
    return SuppressionList(warehouse, KEY)


def address() -> str:
    return f"ana.{uuid.uuid4().hex[:12]}@globex.example"


def journey() -> str:
    return f"onboarding-{uuid.uuid4().hex[:10]}"


def rows(warehouse: Warehouse, table: sa.Table) -> list[dict[str, object]]:
    with warehouse.engine.connect() as connection:
        return [dict(r._mapping) for r in connection.execute(sa.select(table))]


def test_an_address_is_matched_trimmed_and_in_any_case(listed: SuppressionList) -> None:
    person = address()
    assert listed.reason(person) is None
    listed.suppress(f"  {person.upper()}\n", Reason.UNSUBSCRIBED, "test")
    assert listed.reason(person) == Reason.UNSUBSCRIBED
    assert listed.reason(person.replace("ana.", "ana+x.")) is None  # no provider folding
    assert normalise(" Ana@Globex.Example ") == "ana@globex.example"


def test_no_address_is_stored_only_its_keyed_hash(
    listed: SuppressionList, warehouse: Warehouse, tmp_path: Path
) -> None:
    person, reference, workflow_id = address(), uuid.uuid4().hex, journey()
    listed.record_email(reference, workflow_id, 1, person, "resend")
    listed.suppress(person, Reason.COMPLAINED, "test")
    listed.first_event("test", uuid.uuid4().hex, "bounced", workflow_id)

    stored = [rows(warehouse, t) for t in (suppressions, email_messages, email_events)]
    text = repr(stored).lower()
    local = person.split("@")[0]
    assert local not in text
    assert hashlib.sha256(person.encode()).hexdigest() not in text  # keyed, not a plain digest
    assert listed.address_hash(person) in text
    for path in tmp_path.glob("warehouse.db*"):  # the SQLite file and its write-ahead log
        assert local.encode() not in path.read_bytes()
    # Another key, another hash: a copied table cannot be matched against a list of addresses.
    assert SuppressionList(warehouse, os.urandom(32)).address_hash(person) != listed.address_hash(
        person
    )


@pytest.mark.parametrize(
    ("first", "then", "kept"),
    [
        (Reason.UNSUBSCRIBED, Reason.COMPLAINED, Reason.COMPLAINED),
        (Reason.UNSUBSCRIBED, Reason.BOUNCED, Reason.BOUNCED),
        (Reason.BOUNCED, Reason.COMPLAINED, Reason.COMPLAINED),
        (Reason.COMPLAINED, Reason.UNSUBSCRIBED, Reason.COMPLAINED),
        (Reason.COMPLAINED, Reason.BOUNCED, Reason.COMPLAINED),
        (Reason.BOUNCED, Reason.UNSUBSCRIBED, Reason.BOUNCED),
        (Reason.UNSUBSCRIBED, Reason.UNSUBSCRIBED, Reason.UNSUBSCRIBED),
    ],
)
def test_a_reason_is_upgraded_never_downgraded(
    listed: SuppressionList, warehouse: Warehouse, first: Reason, then: Reason, kept: Reason
) -> None:
    person = address()
    workflow_id = journey()
    listed.suppress_hash(listed.address_hash(person), first, workflow_id, "first")
    listed.suppress(person, then, "then")
    assert listed.reason(person) == kept
    [row] = [
        r for r in rows(warehouse, suppressions) if r["address_hash"] == listed.address_hash(person)
    ]
    assert row["source"] == ("then" if kept != first else "first")


def test_unsuppress_takes_an_address_off_the_list(listed: SuppressionList) -> None:
    person = address()
    assert listed.unsuppress(person) is False
    listed.suppress(person, Reason.BOUNCED, "test")
    assert listed.unsuppress(f" {person.upper()} ") is True
    assert listed.reason(person) is None
    assert listed.unsuppress(person) is False


def test_emails_are_recorded_by_reference(listed: SuppressionList) -> None:
    person, workflow_id = address(), journey()
    first, second = uuid.uuid4().hex, uuid.uuid4().hex
    listed.record_email(first, workflow_id, 1, person, "resend")
    listed.record_email(first, workflow_id, 1, person, "resend")  # a retried send: one row
    listed.record_email(second, workflow_id, 2, f" {person.upper()}", "postmark")

    record = listed.email(first)
    assert record is not None
    assert (record.reference, record.journey_id, record.number, record.provider) == (
        first,
        workflow_id,
        1,
        "resend",
    )
    assert record.address_hash == listed.address_hash(person)
    assert listed.journey_address_hash(workflow_id) == listed.address_hash(person)
    assert listed.email(uuid.uuid4().hex) is None
    assert listed.journey_address_hash(journey()) is None
    # Not a key anything was stored under, whatever the database makes of it.
    for odd in ("", "x" * 300, "ref\x00nul"):
        assert listed.email(odd) is None
        assert listed.journey_address_hash(odd) is None


def test_the_webhooks_list_works_by_hash_without_the_key(
    listed: SuppressionList, warehouse: Warehouse
) -> None:
    person, workflow_id, reference = address(), journey(), uuid.uuid4().hex
    listed.record_email(reference, workflow_id, 1, person, "resend")
    keyless = SuppressionList(warehouse, None)
    record = keyless.email(reference)
    assert record is not None
    keyless.suppress_hash(record.address_hash, Reason.BOUNCED, workflow_id, "resend")
    assert listed.reason(person) == Reason.BOUNCED
    with pytest.raises(RuntimeError, match="SUPPRESSION_HASH_KEY"):
        keyless.reason(person)


def test_an_event_is_recorded_once(listed: SuppressionList) -> None:
    kind = f"t-{uuid.uuid4().hex[:12]}"
    event_id = f"msg_{uuid.uuid4().hex}"
    assert listed.seen("resend", event_id) is False
    assert listed.first_event("resend", event_id, kind, journey()) is True
    assert listed.seen("resend", event_id) is True
    assert listed.first_event("resend", event_id, kind, journey()) is False
    assert listed.first_event("postmark", event_id, kind, None) is True  # per source
    assert listed.first_event("resend", f"msg_{uuid.uuid4().hex}", kind, None) is True
    assert listed.event_counts()[kind] == 3


def test_a_hash_key_is_base64_of_at_least_32_bytes() -> None:
    assert len(parse_hash_key(generate_hash_key())) == 32
    assert parse_hash_key(base64.b64encode(b"k" * 48).decode()) == b"k" * 48
    for bad, needle in (
        ("not*base64", "not valid base64"),
        ("c2hvcnQ=", "5 bytes"),
        ("", "0 bytes"),
    ):
        with pytest.raises(ValueError) as raised:
            parse_hash_key(bad)
        message = str(raised.value)
        assert needle in message and "SUPPRESSION_HASH_KEY" in message and "\n" not in message
        assert "not*base64" not in message


# --- the commands ------------------------------------------------------------------------------

commands = typer.Typer()
commands.command("suppress")(suppress_command)
commands.command("unsuppress")(unsuppress_command)
commands.command("unsubscribe-keygen")(unsubscribe_keygen_command)
commands.command("suppression-keygen")(suppression_keygen_command)


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    monkeypatch.chdir(tmp_path)  # no .env
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    monkeypatch.setenv("WAREHOUSE_URL", url)
    monkeypatch.setenv("SUPPRESSION_HASH_KEY", base64.b64encode(KEY).decode())
    return url


def test_suppress_and_unsuppress_never_print_the_address(environment: str) -> None:
    person = address()
    runner = CliRunner()
    done = runner.invoke(commands, ["suppress", person, "--reason", "complained"])
    assert done.exit_code == 0, done.output
    assert done.stdout.strip() == "suppressed (complained)"
    listed = SuppressionList(Warehouse(environment), KEY)
    assert listed.reason(person) == Reason.COMPLAINED

    weaker = runner.invoke(commands, ["suppress", person])
    assert weaker.exit_code == 0 and "complained" in weaker.stdout

    removed = runner.invoke(commands, ["unsuppress", person.upper()])
    assert removed.stdout.strip() == "removed from the suppression list"
    assert listed.reason(person) is None
    again = runner.invoke(commands, ["unsuppress", person])
    assert again.exit_code == 0 and again.stdout.strip() == "was not suppressed"
    for result in (done, weaker, removed, again):
        assert person.split("@")[0] not in result.output.lower()


@pytest.mark.parametrize(
    ("args", "key", "needle"),
    [
        (["suppress", "ana@globex.example"], None, "SUPPRESSION_HASH_KEY is not set"),
        (["suppress", "ana@globex.example"], "c2hvcnQ=", "SUPPRESSION_HASH_KEY decodes"),
        (["suppress", "ana at globex"], "ok", "not an email address"),
        (["unsuppress", "@@"], "ok", "not an email address"),
    ],
    ids=["no-key", "short-key", "bad-address", "bad-address-unsuppress"],
)
def test_command_errors_are_one_line(
    environment: str,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    key: str | None,
    needle: str,
) -> None:
    if key is None:
        monkeypatch.delenv("SUPPRESSION_HASH_KEY")
    elif key != "ok":
        monkeypatch.setenv("SUPPRESSION_HASH_KEY", key)
    result = CliRunner().invoke(commands, args)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and needle in result.stderr
    assert "ana" not in result.stderr and "Traceback" not in result.output


def test_keygens_print_usable_keys_and_how_to_use_them() -> None:
    runner = CliRunner()
    signing = runner.invoke(commands, ["unsubscribe-keygen", "u2"])
    assert signing.exit_code == 0
    assert list(parse_signing_keys(signing.stdout.strip())) == ["u2"]
    assert "UNSUBSCRIBE_SIGNING_KEYS" in signing.stderr and "first" in signing.stderr
    hashing = runner.invoke(commands, ["suppression-keygen"])
    assert len(parse_hash_key(hashing.stdout.strip())) == 32
    assert "never change it" in hashing.stderr
    bad = runner.invoke(commands, ["unsubscribe-keygen", "no good"])
    assert bad.exit_code == 2 and "key id" in bad.stderr


def test_the_onboarding_command_has_them() -> None:
    from cli.main import app

    names = {command.name for command in app.registered_commands}
    assert {"suppress", "unsuppress", "unsubscribe-keygen", "suppression-keygen"} <= names
