"""People Data Labs, Wappalyzer, Postmark and the Slack incoming webhook, each over real HTTP
against a scripted vendor on a local port: every answer mapped to its status or failure type,
Postmark's search before a possible resend, the webhook's error codes, the spend ledger's rows.
"""

from __future__ import annotations

import dataclasses
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import uvicorn
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities import vendor_http
from activities.contracts import (
    Company,
    Enrichment,
    EnrichmentRequest,
    EnrichmentStatus,
    OnboardingEmail,
    SalesAlert,
    SalesAlertPosted,
    Technographics,
    TechnographicsRequest,
    TechnographicsStatus,
)
from activities.mailroom import email_reference
from activities.peopledatalabs import PeopleDataLabsEnrichment, bare_domain, retry_after
from activities.postmark import PostmarkEmail, journey_email
from activities.sales_alert import alert_message, run_link
from activities.settings import VendorSettings
from activities.slack_webhook import SlackWebhookSalesAlert
from activities.spend import SpendLedger, endpoint_of, is_billed
from activities.wappalyzer import WappalyzerTechnographics
from activities.warehouse import Warehouse
from tests.helpers import outgoing

JOURNEY = "onboarding-u-42"
WEBHOOK_SECRET = "xyzzy-webhook-secret"


@dataclasses.dataclass
class Reply:
    status: int = 200
    json: Any = dataclasses.field(default_factory=dict)
    text: str | None = None
    headers: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


class ScriptedVendor:
    """Answers each request with the next scripted reply (else 200 ``{}``) and keeps them all."""

    def __init__(self) -> None:
        self.script: list[Reply] = []
        self.seen: list[Seen] = []
        app = Starlette(routes=[Route("/{path:path}", self._answer, methods=["GET", "POST"])])
        config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off")
        self._server = uvicorn.Server(config)
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    async def _answer(self, request: Request) -> Response:
        raw = await request.body()
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode()
        query, headers = dict(request.query_params), dict(request.headers)
        self.seen.append(Seen(request.method, request.url.path, query, headers, body))
        reply = self.script.pop(0) if self.script else Reply()
        if reply.text is not None:
            return PlainTextResponse(reply.text, reply.status, headers=reply.headers)
        return JSONResponse(reply.json, reply.status, headers=reply.headers)

    def __enter__(self) -> ScriptedVendor:
        thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )
        thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "vendor did not start"
            time.sleep(0.01)
        self._thread = thread
        return self

    def __exit__(self, *_: object) -> None:
        self._server.should_exit = True
        self._thread.join(5)


@pytest.fixture(scope="module")
def server() -> Iterator[ScriptedVendor]:
    with ScriptedVendor() as running:
        yield running


@pytest.fixture
def vendor(server: ScriptedVendor) -> Iterator[ScriptedVendor]:
    server.script.clear()
    server.seen.clear()
    yield server


@pytest.fixture
def settings(vendor: ScriptedVendor, tmp_path: Path) -> VendorSettings:
    return VendorSettings(
        peopledatalabs_base_url=vendor.url,
        peopledatalabs_api_key=SecretStr("pdl-key"),
        wappalyzer_base_url=vendor.url + "/",
        wappalyzer_api_key=SecretStr("wap-key"),
        postmark_base_url=vendor.url,
        postmark_server_token=SecretStr("pm-token"),
        postmark_message_stream="onboarding",
        postmark_search_grace_seconds=0,  # one search per retry: the scripts answer it
        slack_webhook_url=SecretStr(f"{vendor.url}/services/T0/B0/{WEBHOOK_SECRET}"),
        email_from="Onboarding <onboarding@example.com>",
        warehouse_url=f"sqlite:///{tmp_path / 'warehouse.db'}",
        _env_file=None,
    )


@pytest.fixture
def warehouse(settings: VendorSettings) -> Warehouse:
    return Warehouse(settings.warehouse_url)


@pytest_asyncio.fixture
async def http(warehouse: Warehouse) -> AsyncIterator[httpx.AsyncClient]:
    # Labelled and recorded as the worker's client is: the spend ledger as a response hook.
    hooks = {"response": [SpendLedger(warehouse).record_response]}
    async with httpx.AsyncClient(timeout=5, event_hooks=hooks) as client:
        yield client


def attempt(number: int = 1, workflow_id: str = JOURNEY) -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(
        env.info, workflow_id=workflow_id, workflow_run_id="run-1", attempt=number
    )
    return env


async def failure(fn: Any, arg: Any) -> ApplicationError:
    with pytest.raises(ApplicationError) as raised:
        await attempt().run(fn, arg)
    return raised.value


def ledger(warehouse: Warehouse) -> list[tuple[str, str, int | None, bool]]:
    return [(r["vendor"], r["endpoint"], r["status_code"], r["billed"]) for r in warehouse.calls()]


# --- People Data Labs -------------------------------------------------------------------------

PDL_MATCH = {
    "status": 200,
    "likelihood": 9,
    "data": {
        "full_name": "ada lovelace",
        "job_title": "cto",
        "job_company_name": "globex",
        "job_company_website": "https://www.Globex.example/about",
        "job_company_size": "1001-5000",
        "job_company_employee_count": 4500,
        "job_company_industry": "computer software",
    },
}


def pdl(
    settings: VendorSettings, http: httpx.AsyncClient, warehouse: Warehouse | None = None
) -> Callable[[EnrichmentRequest], Awaitable[Enrichment]]:
    return PeopleDataLabsEnrichment(http, settings, warehouse).enrich


async def test_pdl_maps_a_match_and_caches_its_company_for_a_colleague(
    vendor: ScriptedVendor, settings: VendorSettings, http: httpx.AsyncClient, warehouse: Warehouse
) -> None:
    vendor.script = [Reply(json=PDL_MATCH)]
    enrich = pdl(settings, http, warehouse)
    found = await attempt().run(enrich, EnrichmentRequest(email="ada@globex.example"))

    assert found.status == EnrichmentStatus.FOUND
    assert found.company == Company(
        name="globex",
        domain="globex.example",
        employees=4500,
        employees_range="1001-5000",
        industry="computer software",
    )
    assert found.payload == PDL_MATCH
    (call,) = vendor.seen
    assert (call.method, call.path, call.query) == (
        "GET",
        "/v5/person/enrich",
        {"email": "ada@globex.example"},
    )
    assert call.headers["x-api-key"] == "pdl-key"

    colleague = await attempt().run(enrich, EnrichmentRequest(email="lee@globex.example"))
    assert len(vendor.seen) == 1
    assert colleague.company == found.company
    assert colleague.payload is not None
    assert "full_name" not in colleague.payload["data"]  # the company part only
    assert colleague.payload["data"]["cache"]["domain"] == "globex.example"
    assert ledger(warehouse) == [
        ("peopledatalabs", "person/enrich", 200, True),
        ("peopledatalabs", "cache", None, False),
    ]


async def test_pdl_does_not_cache_a_company_that_is_not_the_email_domains(
    vendor: ScriptedVendor, settings: VendorSettings, http: httpx.AsyncClient, warehouse: Warehouse
) -> None:
    vendor.script = [Reply(json=PDL_MATCH), Reply(json=PDL_MATCH)]
    enrich = pdl(settings, http, warehouse)
    await attempt().run(enrich, EnrichmentRequest(email="ada@lovelace.example"))
    await attempt().run(enrich, EnrichmentRequest(email="sam@lovelace.example"))
    assert len(vendor.seen) == 2


async def test_pdl_person_without_a_company_has_no_company(
    vendor: ScriptedVendor, settings: VendorSettings, http: httpx.AsyncClient
) -> None:
    data = {"full_name": "ada", "job_company_employee_count": True}  # a bool is not a count
    vendor.script = [Reply(json={"status": 200, "likelihood": 6, "data": data})]
    found = await attempt().run(pdl(settings, http), EnrichmentRequest(email="ada@x.example"))
    assert (found.status, found.company) == (EnrichmentStatus.FOUND, None)


@pytest.mark.parametrize(
    ("status", "expected"),
    [(404, EnrichmentStatus.NOT_FOUND), (400, EnrichmentStatus.INVALID_EMAIL)],
)
async def test_pdl_miss_and_malformed_email_are_outcomes(
    vendor: ScriptedVendor,
    settings: VendorSettings,
    http: httpx.AsyncClient,
    warehouse: Warehouse,
    status: int,
    expected: EnrichmentStatus,
) -> None:
    vendor.script = [Reply(status, {"status": status, "error": {"type": "x", "message": "m"}})]
    found = await attempt().run(pdl(settings, http), EnrichmentRequest(email="ada@x.example"))
    assert found.status == expected
    assert ledger(warehouse) == [("peopledatalabs", "person/enrich", status, False)]


async def test_pdl_role_addresses_are_invalid_without_a_call(
    vendor: ScriptedVendor, settings: VendorSettings, http: httpx.AsyncClient
) -> None:
    found = await attempt().run(pdl(settings, http), EnrichmentRequest(email="info@globex.example"))
    assert found.status == EnrichmentStatus.INVALID_EMAIL
    assert vendor.seen == []


@pytest.mark.parametrize(
    ("status", "kind", "words"),
    [
        (402, vendor_http.NEEDS_OPERATOR, "out of credits"),
        (401, vendor_http.NEEDS_OPERATOR, "PEOPLEDATALABS_API_KEY"),
        (403, vendor_http.NEEDS_OPERATOR, "PEOPLEDATALABS_API_KEY"),
        (500, vendor_http.UNAVAILABLE, "unavailable"),
    ],
)
async def test_pdl_failures(
    vendor: ScriptedVendor,
    settings: VendorSettings,
    http: httpx.AsyncClient,
    status: int,
    kind: str,
    words: str,
) -> None:
    vendor.script = [Reply(status, {"status": status, "error": {"message": "for ada@x.example"}})]
    error = await failure(pdl(settings, http), EnrichmentRequest(email="ada@x.example"))
    assert (error.type, error.non_retryable) == (kind, False)
    assert words in str(error)
    assert "ada@" not in str(error) and "pdl-key" not in str(error)


@pytest.mark.parametrize(
    "headers",
    [
        {"x-ratelimit-reset": "ISO"},  # today's docs: a UTC time
        {"x-ratelimit-reset": "EPOCH"},  # older docs: epoch seconds
        {"x-ratelimit-reset": "42"},  # seconds from now
        {"retry-after": "42", "x-ratelimit-reset": "ISO"},
    ],
)
async def test_pdl_429_waits_for_the_window_to_reset(
    vendor: ScriptedVendor, settings: VendorSettings, http: httpx.AsyncClient, headers: Any
) -> None:
    reset = datetime.now(UTC) + timedelta(seconds=42)
    values = {"ISO": reset.strftime("%Y-%m-%dT%H:%M:%SZ"), "EPOCH": str(int(reset.timestamp()))}
    headers = {k: values.get(v, v) for k, v in headers.items()}
    vendor.script = [Reply(429, {"error": {"type": "rate_limit_error"}}, headers=headers)]
    error = await failure(pdl(settings, http), EnrichmentRequest(email="ada@x.example"))
    assert error.type == vendor_http.RATE_LIMITED
    assert error.next_retry_delay is not None
    assert 39 <= error.next_retry_delay.total_seconds() <= 43


def test_pdl_reset_formats_and_website_domains() -> None:
    now = datetime(2022, 2, 23, 20, 19, 0, tzinfo=UTC).timestamp()
    assert retry_after({"x-ratelimit-reset": "2022-02-23T20:19:55Z"}, now=now) == timedelta(
        seconds=55
    )
    assert retry_after({"x-ratelimit-reset": "2022-02-23T20:19:55"}, now=now) == timedelta(
        seconds=55
    )
    assert retry_after({"x-ratelimit-reset": "soon"}, now=now) is None
    assert bare_domain("globex.example") == "globex.example"
    assert bare_domain("http://WWW.globex.example:8080/x?y") == "globex.example"
    assert bare_domain("") is None and bare_domain(None) is None and bare_domain("n/a") is None


# --- Wappalyzer -------------------------------------------------------------------------------

STACK = [
    {
        "url": "https://shopbright.example",
        "technologies": [
            {"slug": "shopify", "name": "Shopify"},
            {"slug": "stripe", "name": "Stripe"},
            {"slug": "shopify", "name": "Shopify"},
        ],
    }
]


def wappalyzer(
    settings: VendorSettings, http: httpx.AsyncClient, warehouse: Warehouse | None = None
) -> Callable[[TechnographicsRequest], Awaitable[Technographics]]:
    return WappalyzerTechnographics(http, settings, warehouse).look_up


async def test_wappalyzer_finds_the_stack_and_caches_it(
    vendor: ScriptedVendor, settings: VendorSettings, http: httpx.AsyncClient, warehouse: Warehouse
) -> None:
    vendor.script = [Reply(json=STACK)]
    look_up = wappalyzer(settings, http, warehouse)
    found = await attempt().run(look_up, TechnographicsRequest(domain="ShopBright.example"))

    assert found.status == TechnographicsStatus.FOUND
    assert found.technologies == ["Shopify", "Stripe"]
    assert found.payload == {"results": STACK}
    (call,) = vendor.seen
    assert (call.path, call.query) == ("/v2/lookup/", {"urls": "https://shopbright.example"})
    assert call.headers["x-api-key"] == "wap-key"

    again = await attempt().run(look_up, TechnographicsRequest(domain="shopbright.example"))
    assert len(vendor.seen) == 1
    assert again.technologies == ["Shopify", "Stripe"]
    assert ledger(warehouse) == [
        ("wappalyzer", "lookup", 200, True),
        ("wappalyzer", "cache", None, False),
    ]


async def test_wappalyzer_pending_crawl_is_queued_and_never_cached(
    vendor: ScriptedVendor, settings: VendorSettings, http: httpx.AsyncClient, warehouse: Warehouse
) -> None:
    vendor.script = [Reply(json=[{"url": "https://new.example", "crawl": True}])] * 2
    look_up = wappalyzer(settings, http, warehouse)
    for _ in range(2):
        queued = await attempt().run(look_up, TechnographicsRequest(domain="new.example"))
        assert (queued.status, queued.technologies) == (TechnographicsStatus.QUEUED, [])
    assert len(vendor.seen) == 2


async def test_wappalyzer_never_looks_up_free_mail(
    vendor: ScriptedVendor, settings: VendorSettings, http: httpx.AsyncClient
) -> None:
    found = await attempt().run(
        wappalyzer(settings, http), TechnographicsRequest(domain="gmail.com")
    )
    assert found.technologies == [] and vendor.seen == []


@pytest.mark.parametrize(
    ("reply", "kind", "words"),
    [
        (
            Reply(json=[{"url": "https://x.example", "errors": ["Invalid URL https://x.example"]}]),
            vendor_http.REJECTED,
            "Invalid URL <url>",
        ),
        (Reply(403, {"message": "Forbidden"}), vendor_http.NEEDS_OPERATOR, "WAPPALYZER_API_KEY"),
        (Reply(403, {}), vendor_http.NEEDS_OPERATOR, "credits exhausted"),
        (Reply(429, {}, headers={"Retry-After": "7"}), vendor_http.RATE_LIMITED, "7s"),
        (Reply(502, {}), vendor_http.UNAVAILABLE, "unavailable"),
        (Reply(json={"not": "a list"}), vendor_http.UNAVAILABLE, "without a lookup result"),
    ],
)
async def test_wappalyzer_failures(
    vendor: ScriptedVendor,
    settings: VendorSettings,
    http: httpx.AsyncClient,
    reply: Reply,
    kind: str,
    words: str,
) -> None:
    vendor.script = [reply]
    error = await failure(wappalyzer(settings, http), TechnographicsRequest(domain="x.example"))
    assert error.type == kind
    assert error.non_retryable == (kind == vendor_http.REJECTED)
    assert words in str(error) and "://" not in str(error) and "wap-key" not in str(error)


# --- Postmark ---------------------------------------------------------------------------------

EMAIL = OnboardingEmail(
    number=2, total=3, to="sam@shopbright.example", first_name="Sam", technology="Shopify"
)
SENT = {
    "To": EMAIL.to,
    "SubmittedAt": "2024-01-01T00:00:00Z",
    "MessageID": "pm-1",
    "ErrorCode": 0,
    "Message": "OK",
}


async def test_postmark_sends_the_email_marked_with_its_journey_and_step(
    vendor: ScriptedVendor, settings: VendorSettings, http: httpx.AsyncClient
) -> None:
    vendor.script = [Reply(json=SENT)]
    sent = await attempt().run(PostmarkEmail(http, settings).send, outgoing(EMAIL))

    assert sent.message_id == "pm-1"
    (call,) = vendor.seen  # a first attempt does not search
    content = outgoing(EMAIL).content
    assert (call.method, call.path) == ("POST", "/email")
    assert call.body == {
        "From": "Onboarding <onboarding@example.com>",
        "To": "sam@shopbright.example",
        "Subject": content.subject,
        "HtmlBody": content.html,
        "TextBody": content.text,
        "Tag": "onboarding-email-2",
        "Metadata": {
            "journey_email": f"{JOURNEY}/email-2",
            "email_ref": email_reference(JOURNEY, 2),
        },
        "Headers": [
            {"Name": "List-Unsubscribe", "Value": "<https://journeys.example/unsubscribe/token>"},
            {"Name": "List-Unsubscribe-Post", "Value": "List-Unsubscribe=One-Click"},
        ],
        "MessageStream": "onboarding",
    }
    assert call.headers["x-postmark-server-token"] == "pm-token"
    assert call.headers["accept"] == call.headers["content-type"] == "application/json"


async def test_postmark_retry_finds_the_earlier_send_and_does_not_resend(
    vendor: ScriptedVendor, settings: VendorSettings, http: httpx.AsyncClient, warehouse: Warehouse
) -> None:
    found = {"TotalCount": 1, "Messages": [{"MessageID": "pm-first", "Metadata": {}}]}
    vendor.script = [Reply(json=found)]
    sent = await attempt(2).run(PostmarkEmail(http, settings).send, outgoing(EMAIL))

    assert sent.message_id == "pm-first"
    (search,) = vendor.seen
    assert (search.method, search.path) == ("GET", "/messages/outbound")
    assert search.query == {
        "count": "1",
        "offset": "0",
        "metadata_journey_email": f"{JOURNEY}/email-2",
    }
    assert ledger(warehouse) == [("postmark", "messages/outbound", 200, False)]


@pytest.mark.parametrize(("number", "attempted"), [(2, False), (1, True)])
async def test_postmark_sends_when_the_search_finds_nothing(
    vendor: ScriptedVendor,
    settings: VendorSettings,
    http: httpx.AsyncClient,
    warehouse: Warehouse,
    number: int,
    attempted: bool,
) -> None:
    vendor.script = [Reply(json={"TotalCount": 0, "Messages": []}), Reply(json=SENT)]
    email = EMAIL.model_copy(update={"attempted": attempted})
    sent = await attempt(number).run(PostmarkEmail(http, settings).send, outgoing(email))

    assert sent.message_id == "pm-1"
    assert [(c.method, c.path) for c in vendor.seen] == [
        ("GET", "/messages/outbound"),
        ("POST", "/email"),
    ]
    assert ledger(warehouse) == [
        ("postmark", "messages/outbound", 200, False),
        ("postmark", "email", 200, True),
    ]


async def test_postmark_marks_long_journey_ids_within_metadata_limits(
    vendor: ScriptedVendor, settings: VendorSettings, http: httpx.AsyncClient
) -> None:
    long_id = "onboarding-" + "u" * 128
    vendor.script = [Reply(json={"TotalCount": 0}), Reply(json=SENT)]
    await attempt(2, workflow_id=long_id).run(PostmarkEmail(http, settings).send, outgoing(EMAIL))

    marker = journey_email(long_id, 2)
    assert len(marker) <= 80 and marker == journey_email(long_id, 2) != journey_email(long_id, 3)
    assert vendor.seen[0].query["metadata_journey_email"] == marker
    assert vendor.seen[1].body["Metadata"]["journey_email"] == marker
    assert journey_email(JOURNEY, 1) == f"{JOURNEY}/email-1"


@pytest.mark.parametrize(
    ("reply", "kind", "words"),
    [
        (
            Reply(422, {"ErrorCode": 406, "Message": "sam@x.example is inactive"}),
            vendor_http.REJECTED,
            "inactive recipient",
        ),
        (
            Reply(422, {"ErrorCode": 300, "Message": "Invalid 'To' address: 'sam@x'"}),
            vendor_http.REJECTED,
            "invalid email request",
        ),
        (
            Reply(422, {"ErrorCode": 10, "Message": "Bad token"}),
            vendor_http.NEEDS_OPERATOR,
            "POSTMARK_SERVER_TOKEN",
        ),
        (
            Reply(401, {"ErrorCode": 10, "Message": "Bad token"}),
            vendor_http.NEEDS_OPERATOR,
            "POSTMARK_SERVER_TOKEN",
        ),
        (
            Reply(422, {"ErrorCode": 405, "Message": "No credits"}),
            vendor_http.NEEDS_OPERATOR,
            "credits",
        ),
        (
            Reply(429, {"ErrorCode": 429}, headers={"Retry-After": "3"}),
            vendor_http.RATE_LIMITED,
            "3s",
        ),
        (Reply(500, {"ErrorCode": 0}), vendor_http.UNAVAILABLE, "unavailable"),
        (Reply(503, text="down"), vendor_http.UNAVAILABLE, "unavailable"),
    ],
)
async def test_postmark_failures(
    vendor: ScriptedVendor,
    settings: VendorSettings,
    http: httpx.AsyncClient,
    warehouse: Warehouse,
    reply: Reply,
    kind: str,
    words: str,
) -> None:
    vendor.script = [reply]
    error = await failure(PostmarkEmail(http, settings).send, outgoing(EMAIL))
    assert error.type == kind
    assert error.non_retryable == (kind == vendor_http.REJECTED)
    assert words in str(error) and "@" not in str(error) and "pm-token" not in str(error)
    assert ledger(warehouse) == [("postmark", "email", reply.status, False)]


# --- Slack incoming webhook -------------------------------------------------------------------

ALERT = SalesAlert(
    user_id="u-42",
    first_name="Ada",
    email="ada@globex.example",
    company=Company(name="Globex", domain="globex.example", employees=4500),
)


async def test_webhook_posts_the_bots_message(
    vendor: ScriptedVendor, settings: VendorSettings, http: httpx.AsyncClient, warehouse: Warehouse
) -> None:
    vendor.script = [Reply(text="ok")]
    env = attempt()
    posted = await env.run(SlackWebhookSalesAlert(http, settings).post, ALERT)

    assert posted == SalesAlertPosted(channel="", ts="")
    (call,) = vendor.seen
    assert (call.method, call.path) == ("POST", f"/services/T0/B0/{WEBHOOK_SECRET}")
    link = run_link(settings.temporal_ui_url, env.info.namespace, JOURNEY, "run-1")
    bot = alert_message(ALERT, "", link)
    assert call.body == {"text": bot["text"], "blocks": bot["blocks"]}
    # The ledger names the call, never the webhook's secret path.
    assert ledger(warehouse) == [("slack-webhook", "webhook", 200, False)]


@pytest.mark.parametrize(
    ("reply", "kind", "words"),
    [
        (Reply(400, text="invalid_payload"), vendor_http.REJECTED, "invalid_payload"),
        (Reply(400, text="no_text"), vendor_http.REJECTED, "no_text"),
        (Reply(403, text="action_prohibited"), vendor_http.NEEDS_OPERATOR, "SLACK_WEBHOOK_URL"),
        (Reply(404, text="no_service"), vendor_http.NEEDS_OPERATOR, "SLACK_WEBHOOK_URL"),
        (Reply(404, text="channel_not_found"), vendor_http.NEEDS_OPERATOR, "channel_not_found"),
        (Reply(410, text="channel_is_archived"), vendor_http.NEEDS_OPERATOR, "archived"),
        (
            Reply(429, text="rate_limited", headers={"Retry-After": "9"}),
            vendor_http.RATE_LIMITED,
            "9s",
        ),
        (Reply(500, text="<html>oops</html>"), vendor_http.UNAVAILABLE, "HTTP 500"),
        (Reply(503, text="service_unavailable"), vendor_http.UNAVAILABLE, "service_unavailable"),
    ],
)
async def test_webhook_error_codes(
    vendor: ScriptedVendor,
    settings: VendorSettings,
    http: httpx.AsyncClient,
    reply: Reply,
    kind: str,
    words: str,
) -> None:
    vendor.script = [reply]
    error = await failure(SlackWebhookSalesAlert(http, settings).post, ALERT)
    assert error.type == kind
    assert error.non_retryable == (kind == vendor_http.REJECTED)
    assert words in str(error)
    assert WEBHOOK_SECRET not in str(error) and vendor.url not in str(error)


async def test_webhook_url_that_is_not_a_web_address_is_not_quoted(
    settings: VendorSettings, http: httpx.AsyncClient
) -> None:
    broken = settings.model_copy(update={"slack_webhook_url": SecretStr(f"hooks:{WEBHOOK_SECRET}")})
    error = await failure(SlackWebhookSalesAlert(http, broken).post, ALERT)
    assert error.type == vendor_http.NEEDS_OPERATOR
    assert WEBHOOK_SECRET not in str(error)


# --- billing rules ----------------------------------------------------------------------------


def test_billing_and_endpoints_of_the_new_vendors() -> None:
    assert is_billed("peopledatalabs", 200) and not is_billed("peopledatalabs", 404)
    assert is_billed("wappalyzer", 200, [{"crawl": True}]) and not is_billed("wappalyzer", 403)
    assert is_billed("postmark", 200, endpoint="email")
    assert not is_billed("postmark", 200, endpoint="messages/outbound")
    assert not is_billed("postmark", 422, endpoint="email")
    assert not is_billed("slack-webhook", 200, endpoint="webhook")
    secret = httpx.URL(f"https://hooks.slack.com/services/T0/B0/{WEBHOOK_SECRET}")
    assert endpoint_of("slack-webhook", secret) == "webhook"
    assert endpoint_of("wappalyzer", httpx.URL("https://api.wappalyzer.com/v2/lookup/")) == "lookup"
