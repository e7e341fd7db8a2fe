"""Unsubscribe links: signed tokens, and the webhook's page and one-click POST against the dev server,
with a real journey waiting on a task queue no worker polls (its history shows every signal)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import sqlalchemy as sa
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.suppression import Reason, SuppressionList, suppressions
from activities.warehouse import Warehouse
from common.unsubscribe import (
    KEYS_ENV,
    SigningKeyError,
    UnsubscribeTokens,
    generate_signing_key,
    parse_signing_keys,
    unsubscribe_url,
)
from devstack.processes import free_port
from starter.journeys import start_journey
from starter.webhook import WebhookSettings, check_secrets, create_app
from workflows.models import JourneyConfig, Signup

KEY_NEW = base64.b64encode(os.urandom(32)).decode()
KEY_OLD = base64.b64encode(os.urandom(32)).decode()
SIGNING_KEYS = f"k2:{KEY_NEW},k1:{KEY_OLD}"
HASH_KEY = os.urandom(32)
CONFIG = JourneyConfig()
NOT_VALID = "This unsubscribe link is not valid."


# --- tokens ----------------------------------------------------------------------------------


def tokens(value: str = SIGNING_KEYS) -> UnsubscribeTokens:
    return UnsubscribeTokens(parse_signing_keys(value))


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_a_token_names_its_journey_and_nothing_else() -> None:
    signer = tokens()
    token = signer.token("onboarding-u-42")
    assert signer.journey_of(token) == "onboarding-u-42"
    assert signer.token("onboarding-u-42") == token  # every email of a journey carries the same
    assert signer.token("onboarding-u-43") != token
    assert token.startswith("k2.")
    assert all(c.isalnum() or c in "-_." for c in token)  # URL-safe as it is
    assert signer.journey_of(signer.token("onboarding-ü ✓")) == "onboarding-ü ✓"
    url = unsubscribe_url("https://hooks.example/", token)
    assert url == f"https://hooks.example/unsubscribe/{token}"


def _tampered(token: str) -> dict[str, str]:
    key_id, journey, mac = token.split(".")
    other = tokens().token("onboarding-someone-else").split(".")
    flipped = mac[:-2] + ("A" if mac[-2] != "A" else "B") + mac[-1]
    raw_mac = base64.urlsafe_b64decode(mac + "=" * (-len(mac) % 4))
    return {
        "flipped-mac": f"{key_id}.{journey}.{flipped}",
        "swapped-journey": f"{key_id}.{other[1]}.{mac}",
        "other-journeys-mac": f"{key_id}.{journey}.{other[2]}",
        "unknown-key": f"k9.{journey}.{mac}",
        "other-key-id": f"k1.{journey}.{mac}",
        "short-mac": f"{key_id}.{journey}.{_b64(raw_mac[:16])}",
        "padded": f"{key_id}.{journey}.{mac}=",
        "extra-part": f"{token}.x",
        "no-mac": f"{key_id}.{journey}",
        "empty": "",
        "dots": "..",
        "garbage": "not a token at all",
        "non-ascii": f"{key_id}.{journey}.{mac[:-1]}é",
        "very-long": f"{key_id}.{'A' * 100_000}.{mac}",
        "nul": f"{key_id}.{journey}\x00.{mac}",
    }


def test_anything_but_a_genuine_token_names_no_journey() -> None:
    signer = tokens()
    token = signer.token("onboarding-u-42")
    for name, bad in _tampered(token).items():
        assert signer.journey_of(bad) is None, name


def test_a_mac_made_for_another_purpose_is_not_a_token() -> None:
    journey = b"onboarding-u-42"
    key = base64.b64decode(KEY_NEW)
    for purpose in (b"confirm", b"", b"unsubscribe-other", b"Unsubscribe"):
        mac = hmac.new(key, purpose + b"\x00" + journey, hashlib.sha256).digest()
        assert tokens().journey_of(f"k2.{_b64(journey)}.{_b64(mac)}") is None
    # The same construction with the right purpose is a token: the test above is not vacuous.
    mac = hmac.new(key, b"unsubscribe\x00" + journey, hashlib.sha256).digest()
    assert tokens().journey_of(f"k2.{_b64(journey)}.{_b64(mac)}") == journey.decode()


def test_rotation_signs_with_the_new_key_and_still_reads_the_old() -> None:
    before = tokens(f"k1:{KEY_OLD}")
    after = tokens(SIGNING_KEYS)  # k2 put first, k1 kept after it
    old_link = before.token("onboarding-u-1")
    assert after.journey_of(old_link) == "onboarding-u-1"
    new_link = after.token("onboarding-u-1")
    assert new_link.startswith("k2.") and new_link != old_link
    assert before.journey_of(new_link) is None
    # Once the old key is dropped, its links stop working.
    assert tokens(f"k2:{KEY_NEW}").journey_of(old_link) is None


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ("", "entry 1 of 1 is empty"),
        (f"k1:{KEY_NEW},", "entry 2 of 2 is empty"),
        (KEY_NEW, "no key id"),
        (f"k1:{KEY_NEW},k1:{KEY_OLD}", "appears twice"),
        ("k1:not*base64!", "not valid base64"),
        (f"k1:{base64.b64encode(b'short').decode()}", "5 bytes"),
        (f"bad.id:{KEY_NEW}", "key id 'bad.id'"),
    ],
    ids=["empty", "stray-comma", "no-id", "twice", "not-base64", "short", "dotted-id"],
)
def test_bad_signing_keys_are_one_line_naming_the_entry_never_the_key(
    value: str, needle: str
) -> None:
    with pytest.raises(SigningKeyError) as raised:
        parse_signing_keys(value)
    message = str(raised.value)
    assert needle in message
    assert "\n" not in message and KEYS_ENV in message
    for secret in (KEY_NEW, KEY_OLD, "not*base64!"):
        assert secret not in message


def test_generated_keys_parse_and_differ() -> None:
    first, second = generate_signing_key("u1"), generate_signing_key("u2")
    keys = parse_signing_keys(f"{second},{first}")
    assert list(keys) == ["u2", "u1"] and all(len(k) == 32 for k in keys.values())
    assert keys["u1"] != keys["u2"]
    with pytest.raises(SigningKeyError, match="key id"):
        generate_signing_key("not ok")


# --- the webhook's routes ----------------------------------------------------------------------


def webhook_settings(warehouse_url: str, **overrides: Any) -> WebhookSettings:
    values: dict[str, Any] = {
        "signup_webhook_secret": "whsec_" + base64.b64encode(os.urandom(32)).decode(),
        "segment_shared_secret": "segment-secret",
        "unsubscribe_signing_keys": SIGNING_KEYS,
        "warehouse_url": warehouse_url,
    }
    values.update(overrides)
    return WebhookSettings(**values, _env_file=None)


def returning(client: Client) -> Callable[[], Awaitable[Client]]:
    async def factory() -> Client:
        return client

    return factory


def unreachable_temporal() -> Callable[[], Awaitable[Client]]:
    async def factory() -> Client:
        return await Client.connect(f"127.0.0.1:{free_port()}")

    return factory


async def signals(client: Client, workflow_id: str) -> list[str]:
    """The signals in the journey's history, in order."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return [
        event.workflow_execution_signaled_event_attributes.signal_name
        for event in history.events
        if event.HasField("workflow_execution_signaled_event_attributes")
    ]


@dataclass
class Journey:
    """A real journey, waiting on a task queue no worker polls, and its recorded email."""

    workflow_id: str
    address: str
    reference: str


async def held_journey(client: Client, suppression_list: SuppressionList) -> Journey:
    user_id = f"unsub-{uuid.uuid4().hex[:10]}"
    address = f"{user_id}@globex.example"
    started = await start_journey(
        client,
        Signup(user_id=user_id, email=address),
        CONFIG,
        task_queue=f"unpolled-{uuid.uuid4().hex[:8]}",
    )
    reference = uuid.uuid4().hex
    suppression_list.record_email(reference, started.workflow_id, 1, address, "resend")
    return Journey(started.workflow_id, address, reference)


@dataclass
class Site:
    http: httpx.AsyncClient
    temporal: Client
    suppressions: SuppressionList  # with the key: what the worker sees
    engine: sa.Engine

    async def journey(self) -> Journey:
        return await held_journey(self.temporal, self.suppressions)

    def link(self, journey: Journey | str) -> str:
        workflow_id = journey.workflow_id if isinstance(journey, Journey) else journey
        return f"/unsubscribe/{tokens().token(workflow_id)}"

    def rows(self) -> list[dict[str, Any]]:
        with self.engine.connect() as connection:
            return [dict(r._mapping) for r in connection.execute(sa.select(suppressions))]


ONE_CLICK = {"content-type": "application/x-www-form-urlencoded"}


@pytest_asyncio.fixture
async def site(dev_server: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[Site]:
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    app = create_app(
        webhook_settings(url), client_factory=returning(dev_server.client), journey_config=CONFIG
    )
    warehouse = Warehouse(url)
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="https://hooks.example") as http:
        yield Site(http, dev_server.client, SuppressionList(warehouse, HASH_KEY), warehouse.engine)
    warehouse.close()


async def test_the_page_asks_and_changes_nothing(site: Site) -> None:
    journey = await site.journey()
    for _ in range(3):  # link scanners fetch it, sometimes more than once
        page = await site.http.get(site.link(journey))
        assert page.status_code == 200, page.text
    html = page.text
    assert page.headers["content-type"].startswith("text/html")
    assert '<form method="post">' in html
    assert '<input type="hidden" name="List-Unsubscribe" value="One-Click">' in html
    assert html.count("<button") == 1 and 'type="submit"' in html
    assert '<html lang="en">' in html and "<title>" in html and "<h1>" in html
    assert "<script" not in html.lower() and "http-equiv" not in html.lower()
    assert journey.address not in html and journey.workflow_id not in html
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"

    assert site.suppressions.reason(journey.address) is None
    assert await signals(site.temporal, journey.workflow_id) == []


async def test_one_click_records_the_opt_out_then_stops_the_journey(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="onboarding")
    journey = await site.journey()
    done = await site.http.post(
        site.link(journey), content=b"List-Unsubscribe=One-Click", headers=ONE_CLICK
    )

    assert done.status_code == 200, done.text
    assert "You are unsubscribed" in done.text
    assert "set-cookie" not in done.headers and "location" not in done.headers
    assert site.suppressions.reason(journey.address) == Reason.UNSUBSCRIBED
    [row] = [r for r in site.rows() if r["journey_id"] == journey.workflow_id]
    assert (row["reason"], row["source"]) == ("unsubscribed", "one-click")
    assert await signals(site.temporal, journey.workflow_id) == ["unsubscribe"]
    assert journey.workflow_id in caplog.text and journey.address not in caplog.text

    again = await site.http.post(
        site.link(journey), content=b"List-Unsubscribe=One-Click", headers=ONE_CLICK
    )
    assert again.status_code == 200 and again.text == done.text
    assert site.suppressions.reason(journey.address) == Reason.UNSUBSCRIBED
    assert len([r for r in site.rows() if r["journey_id"] == journey.workflow_id]) == 1


async def test_the_pages_button_and_bodiless_posts_unsubscribe_too(site: Site) -> None:
    from_page, bodiless, multipart = [await site.journey() for _ in range(3)]
    pressed = await site.http.post(
        site.link(from_page), content=b"List-Unsubscribe=One-Click&via=page", headers=ONE_CLICK
    )
    empty = await site.http.post(site.link(bodiless))
    # Some mail clients send multipart/form-data (RFC 8058 allows it).
    parts = await site.http.post(
        site.link(multipart), files={"List-Unsubscribe": (None, "One-Click")}
    )

    assert [r.status_code for r in (pressed, empty, parts)] == [200, 200, 200]
    sources = {r["journey_id"]: r["source"] for r in site.rows()}
    assert sources[from_page.workflow_id] == "page"
    assert sources[bodiless.workflow_id] == sources[multipart.workflow_id] == "one-click"
    for journey in (from_page, bodiless, multipart):
        assert site.suppressions.reason(journey.address) == Reason.UNSUBSCRIBED
        assert await signals(site.temporal, journey.workflow_id) == ["unsubscribe"]


async def test_a_tampered_link_gets_the_same_404_and_changes_nothing(site: Site) -> None:
    journey = await site.journey()
    token = tokens().token(journey.workflow_id)
    answers = set()
    for name, bad in _tampered(token).items():
        if name == "dots":
            continue  # the client resolves "/unsubscribe/.." to "/" before sending it
        if name in ("very-long", "nul"):
            bad = bad[:3000].replace("\x00", "%00")
        for method in ("GET", "POST"):
            response = await site.http.request(
                method, f"/unsubscribe/{bad}", content=b"List-Unsubscribe=One-Click"
            )
            assert response.status_code == 404, (name, method, response.text)
            answers.add((response.headers["content-type"], response.text))
    for path in ("/unsubscribe/a/b/c", "/unsubscribe/"):
        response = await site.http.post(path)
        assert response.status_code == 404
        answers.add((response.headers["content-type"], response.text))
    assert len(answers) == 1  # whatever is wrong, the same answer
    assert NOT_VALID in answers.pop()[1]
    assert site.suppressions.reason(journey.address) is None
    assert site.rows() == []
    assert await signals(site.temporal, journey.workflow_id) == []


async def test_an_ended_or_unknown_journey_is_still_suppressed(site: Site) -> None:
    ended = await site.journey()
    await site.temporal.get_workflow_handle(ended.workflow_id).terminate("test: ended")
    unknown = f"onboarding-never-started-{uuid.uuid4().hex[:8]}"
    address = f"{uuid.uuid4().hex[:10]}@globex.example"
    site.suppressions.record_email(uuid.uuid4().hex, unknown, 1, address, "postmark")

    for workflow_id, suppressed in ((ended.workflow_id, ended.address), (unknown, address)):
        response = await site.http.post(site.link(workflow_id))
        assert response.status_code == 200, response.text
        assert site.suppressions.reason(suppressed) == Reason.UNSUBSCRIBED


async def test_oversize_bodies_are_413_and_change_nothing(site: Site) -> None:
    journey = await site.journey()
    response = await site.http.post(site.link(journey), content=b"x" * 5000, headers=ONE_CLICK)
    assert response.status_code == 413
    assert site.suppressions.reason(journey.address) is None


async def test_temporal_down_still_records_the_opt_out(
    dev_server: WorkflowEnvironment, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="onboarding")
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    worker_view = SuppressionList(Warehouse(url), HASH_KEY)
    journey = await held_journey(dev_server.client, worker_view)
    app = create_app(
        webhook_settings(url), client_factory=unreachable_temporal(), journey_config=CONFIG
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app), base_url="https://hooks.example"
    ) as http:
        response = await http.post(f"/unsubscribe/{tokens().token(journey.workflow_id)}")

    assert response.status_code == 200, response.text
    assert worker_view.reason(journey.address) == Reason.UNSUBSCRIBED
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("Temporal is unreachable" in w and journey.workflow_id in w for w in warnings)
    assert journey.address not in caplog.text


async def test_a_warehouse_that_is_down_is_503_and_nothing_is_signalled(
    dev_server: WorkflowEnvironment, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    journey = await held_journey(dev_server.client, SuppressionList(Warehouse(url), HASH_KEY))
    down = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test"
    app = create_app(
        webhook_settings(down),
        client_factory=returning(dev_server.client),
        journey_config=CONFIG,
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app), base_url="https://hooks.example"
    ) as http:
        response = await http.post(f"/unsubscribe/{tokens().token(journey.workflow_id)}")
        page = await http.get(f"/unsubscribe/{tokens().token(journey.workflow_id)}")

    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert "try again" in response.text
    assert page.status_code == 200  # the page needs no database
    assert await signals(dev_server.client, journey.workflow_id) == []


async def test_without_signing_keys_links_are_404_with_a_loud_warning(
    dev_server: WorkflowEnvironment, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="onboarding")
    settings = WebhookSettings(
        webhook_insecure_dev=True, warehouse_url=f"sqlite:///{tmp_path / 'w.db'}", _env_file=None
    )
    app = create_app(settings, client_factory=returning(dev_server.client), journey_config=CONFIG)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "UNSUBSCRIBE_SIGNING_KEYS is not set" in warnings[0]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app), base_url="https://hooks.example"
    ) as http:
        for method in ("GET", "POST"):
            response = await http.request(method, f"/unsubscribe/{tokens().token('onboarding-x')}")
            assert response.status_code == 404 and NOT_VALID in response.text


def test_signing_keys_that_are_set_must_be_usable(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    assert check_secrets(webhook_settings(url)) == []
    [unset] = check_secrets(webhook_settings(url, unsubscribe_signing_keys="   "))
    assert "Set UNSUBSCRIBE_SIGNING_KEYS" in unset and "--insecure-dev" in unset
    [problem] = check_secrets(webhook_settings(url, unsubscribe_signing_keys=f"k1:{KEY_NEW[:8]}"))
    assert "UNSUBSCRIBE_SIGNING_KEYS entry 1 of 1" in problem and "\n" not in problem
    assert KEY_NEW[:8] not in problem
