"""The second provider of each role over real HTTP (People Data Labs, Wappalyzer, Postmark, the Slack
incoming webhook), and the fixtures answering the same through either provider of a role."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from activities.contracts import Company
from activities.vendors import VENDORS
from sandbox import FIXTURES, SandboxServer, SandboxState, synthetic_fixture
from sandbox.fixtures import INTEGRATED_TECHNOLOGIES, Fixture
from sandbox.peopledatalabs import LIKELIHOOD, FakePeopleDataLabs
from sandbox.postmark import FakePostmark
from sandbox.slack_webhook import FakeSlackWebhook
from workflows.models import Segment
from workflows.rules import integrated_technology, segment_of

PDL_AUTH = {"X-Api-Key": VENDORS["peopledatalabs"].sandbox_key}
WAPPALYZER_AUTH = {"x-api-key": VENDORS["wappalyzer"].sandbox_key}
POSTMARK_AUTH = {"X-Postmark-Server-Token": VENDORS["postmark"].sandbox_key}
WEBHOOK = VENDORS["slack-webhook"]
WEBHOOK_PATH = f"{WEBHOOK.sandbox_path}/{WEBHOOK.sandbox_key}"
ENTERPRISE_THRESHOLD = 100
INTEGRATED = [tech.name for tech in INTEGRATED_TECHNOLOGIES]


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(port=0, state=SandboxState(seed=1)) as running:
        yield running


@pytest.fixture
def http(server: SandboxServer) -> Iterator[httpx.Client]:
    server.state.reset()
    server.state.set_rate_limits({})
    with httpx.Client(base_url=server.url, timeout=5.0) as client:
        yield client
    # The search delay is a setting that a reset keeps.
    server.state.fake(FakePostmark).search_delay_seconds = 0.0


def pdl(http: httpx.Client, email: str, **kwargs: Any) -> httpx.Response:
    kwargs.setdefault("headers", PDL_AUTH)
    return http.get("/peopledatalabs/v5/person/enrich", params={"email": email}, **kwargs)


def wappalyzer(http: httpx.Client, *domains: str, **kwargs: Any) -> httpx.Response:
    kwargs.setdefault("headers", WAPPALYZER_AUTH)
    urls = ",".join(d if "://" in d else f"https://{d}" for d in domains)
    return http.get("/wappalyzer/v2/lookup/", params={"urls": urls}, **kwargs)


def postmark_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "From": "Onboarding <onboarding@example.com>",
        "To": "mei.chen@shopbright.example",
        "Subject": "Welcome to the product",
        "HtmlBody": "<p>Welcome!</p>",
        "TextBody": "Welcome!",
        "Tag": "onboarding-1",
        "Metadata": {"journey": "onboarding-demo-shopbright", "step": "email-1"},
        "Headers": [{"Name": "List-Unsubscribe", "Value": "<https://example.com/u>"}],
        "MessageStream": "outbound",
    }
    body.update(overrides)
    return body


def send(http: httpx.Client, body: dict[str, Any], **kwargs: Any) -> httpx.Response:
    kwargs.setdefault("headers", POSTMARK_AUTH)
    return http.post("/postmark/email", json=body, **kwargs)


def search(http: httpx.Client, **params: Any) -> httpx.Response:
    params = {"count": 10, "offset": 0, **params}
    return http.get("/postmark/messages/outbound", params=params, headers=POSTMARK_AUTH)


def webhook(http: httpx.Client, body: Any, path: str = WEBHOOK_PATH) -> httpx.Response:
    return http.post(path, json=body)


# --- People Data Labs ---------------------------------------------------------------------------


def test_pdl_finds_person_and_company_in_its_envelope(http: httpx.Client) -> None:
    response = pdl(http, "amara.okafor@globex.example")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == 200 and 1 <= body["likelihood"] <= 10
    data = body["data"]
    assert data["full_name"] == "amara okafor"
    assert (data["first_name"], data["last_name"]) == ("amara", "okafor")
    assert data["job_title"] == "vp operations"
    assert data["job_company_name"] == "globex corporation"
    assert data["job_company_website"] == "globex.example"
    assert data["job_company_size"] == "1001-5000"
    assert data["job_company_employee_count"] == 4500
    assert data["job_company_industry"] == "manufacturing"
    assert data["location_country"] == "united states"
    assert response.headers["x-call-credits-spent"] == "1"
    remaining = int(response.headers["x-totallimit-remaining"])
    assert int(pdl(http, "amara.okafor@globex.example").headers["x-totallimit-remaining"]) == (
        remaining - 1
    )


def test_pdl_takes_the_key_as_a_query_parameter(http: httpx.Client) -> None:
    response = http.get(
        "/peopledatalabs/v5/person/enrich",
        params={"email": "mei.chen@shopbright.example", "api_key": PDL_AUTH["X-Api-Key"]},
    )
    assert response.status_code == 200


def test_pdl_has_no_queue_and_some_records_no_head_count(http: httpx.Client) -> None:
    slowpoke = pdl(http, "lena.fischer@slowpoke.example")
    assert slowpoke.status_code == 200  # Clearbit queues it; PDL answers at once
    assert slowpoke.json()["data"]["job_company_size"] == "51-200"
    initech = pdl(http, "diego@initech.example").json()["data"]
    assert initech["job_company_size"] == "201-500"
    assert "job_company_employee_count" not in initech


def test_pdl_person_without_company_has_no_company_fields(http: httpx.Client) -> None:
    data = pdl(http, "sam.taylor@mailbox.example").json()["data"]
    assert data["full_name"] == "sam taylor"
    assert not [field for field in data if field.startswith("job_company_")]


def test_pdl_misses_are_404_and_not_billed(http: httpx.Client, server: SandboxServer) -> None:
    for email in ("jo.park@unheard-of.example", "info@globex.example"):
        response = pdl(http, email)
        assert response.status_code == 404
        assert response.json() == {
            "status": 404,
            "error": {
                "type": "not_found",
                "message": "No records were found matching your request.",
            },
        }
    assert http.get("/_sandbox/peopledatalabs/credits").json()["spent"] == 0


def test_pdl_min_likelihood_turns_a_weak_match_into_a_miss(http: httpx.Client) -> None:
    def ask(min_likelihood: int | str) -> int:
        params = {"email": "amara@globex.example", "min_likelihood": min_likelihood}
        return http.get(
            "/peopledatalabs/v5/person/enrich", params=params, headers=PDL_AUTH
        ).status_code

    assert ask(LIKELIHOOD) == 200
    assert ask(LIKELIHOOD + 1) == 404
    assert ask("eleven") == 400


def test_pdl_refuses_missing_or_malformed_email(http: httpx.Client) -> None:
    for email in ("", "not-an-email"):
        response = pdl(http, email)
        assert response.status_code == 400
        assert response.json()["error"]["type"] == "invalid_request_error"


def test_pdl_bad_or_missing_key_is_401(http: httpx.Client) -> None:
    for headers in ({"X-Api-Key": "wrong"}, {}):
        response = pdl(http, "amara@globex.example", headers=headers)
        assert response.status_code == 401
        assert response.json()["error"]["type"] == "authentication_error"


def test_pdl_out_of_credits_is_402_until_restored(
    http: httpx.Client, server: SandboxServer
) -> None:
    assert http.put("/_sandbox/peopledatalabs/credits", json={"remaining": 0}).status_code == 200
    refused = pdl(http, "amara@globex.example")
    assert refused.status_code == 402
    assert refused.json()["error"]["type"] == "payment_required"
    assert http.put("/_sandbox/peopledatalabs/credits", json={"remaining": -1}).status_code == 400
    server.state.fake(FakePeopleDataLabs).credits.set_remaining(5)
    assert pdl(http, "amara@globex.example").status_code == 200
    server.state.reset()
    assert http.get("/_sandbox/peopledatalabs/credits").json()["spent"] == 0


def test_pdl_rate_limit_reports_its_window_and_reset(http: httpx.Client) -> None:
    http.put("/_sandbox/rate-limits", json={"peopledatalabs": 1})
    assert pdl(http, "amara@globex.example").status_code == 200
    throttled = pdl(http, "amara@globex.example")
    assert throttled.status_code == 429
    assert throttled.json()["error"]["type"] == "rate_limit_error"
    assert throttled.headers["x-ratelimit-limit"] == "{'minute': 60}"
    assert throttled.headers["x-ratelimit-remaining"] == "{'minute': 0}"
    reset = datetime.strptime(throttled.headers["x-ratelimit-reset"], "%Y-%m-%dT%H:%M:%SZ")
    assert reset.replace(tzinfo=UTC).timestamp() >= int(time.time())


def test_pdl_company_enrichment(http: httpx.Client) -> None:
    response = http.get(
        "/peopledatalabs/v5/company/enrich",
        params={"website": "https://www.globex.example"},
        headers=PDL_AUTH,
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["website"], body["size"]) == (200, "globex.example", "1001-5000")
    assert body["employee_count"] == 4500
    missing = http.get(
        "/peopledatalabs/v5/company/enrich",
        params={"website": "unheard-of.example"},
        headers=PDL_AUTH,
    )
    assert missing.status_code == 404


# --- Wappalyzer ---------------------------------------------------------------------------------


def test_wappalyzer_lists_technologies_per_url(http: httpx.Client) -> None:
    response = wappalyzer(http, "shopbright.example")
    assert response.status_code == 200
    (item,) = response.json()
    assert item["url"] == "https://shopbright.example"
    assert [t["name"] for t in item["technologies"]] == ["Shopify", "Google Analytics", "Klaviyo"]
    shopify = item["technologies"][0]
    assert shopify["slug"] == "shopify"
    assert shopify["versions"] == []
    assert shopify["categories"] == [{"id": 6, "slug": "ecommerce", "name": "Ecommerce"}]
    assert isinstance(shopify["confirmedAt"], int)
    assert response.headers["wappalyzer-credits-spent"] == "1"
    assert int(response.headers["wappalyzer-credits-remaining"]) > 0


def test_wappalyzer_answers_each_url_its_own_way(http: httpx.Client) -> None:
    response = wappalyzer(http, "nomad-shop.example", "unheard-of.example", "ftp://globex.example")
    nomad, unknown, bad = response.json()
    assert [t["name"] for t in nomad["technologies"]] == ["WooCommerce"]
    assert unknown == {"url": "https://unheard-of.example", "technologies": []}
    assert bad["url"] == "ftp://globex.example" and bad["errors"]
    assert response.headers["wappalyzer-credits-spent"] == "2"
    too_many = wappalyzer(http, *(f"site{n}.example" for n in range(11)))
    assert too_many.status_code == 400
    assert http.get("/wappalyzer/v2/lookup/", headers=WAPPALYZER_AUTH).status_code == 400


def test_wappalyzer_crawls_a_new_site_first_then_answers(http: httpx.Client) -> None:
    answers = [wappalyzer(http, "slowpoke.example") for _ in range(3)]
    assert [a.json()[0].get("crawl") for a in answers] == [True, True, None]
    assert answers[0].json() == [{"url": "https://slowpoke.example", "crawl": True}]
    assert answers[0].headers["wappalyzer-credits-spent"] == "0"
    assert [t["name"] for t in answers[2].json()[0]["technologies"]] == ["HubSpot"]


def test_wappalyzer_bad_key_and_no_credits_are_both_403(
    http: httpx.Client, server: SandboxServer
) -> None:
    for headers in ({"x-api-key": "wrong"}, {}):
        assert wappalyzer(http, "shopbright.example", headers=headers).status_code == 403
    http.put("/_sandbox/wappalyzer/credits", json={"remaining": 0})
    refused = wappalyzer(http, "shopbright.example")
    assert refused.status_code == 403
    assert refused.json() == {"message": "Insufficient credits"}


def test_wappalyzer_rate_limit_is_429(http: httpx.Client) -> None:
    http.put("/_sandbox/rate-limits", json={"wappalyzer": 1})
    assert wappalyzer(http, "shopbright.example").status_code == 200
    throttled = wappalyzer(http, "shopbright.example")
    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "1"
    assert "wappalyzer-credits-spent" not in throttled.headers


# --- Postmark -----------------------------------------------------------------------------------


def test_postmark_sends_and_keeps_the_email(http: httpx.Client, server: SandboxServer) -> None:
    response = send(http, postmark_body())
    assert response.status_code == 200
    body = response.json()
    assert body["ErrorCode"] == 0 and body["Message"] == "OK"
    assert body["To"] == "mei.chen@shopbright.example"
    assert body["MessageID"] and body["SubmittedAt"]
    (message,) = server.state.postmark_messages()
    assert message.message_id == body["MessageID"]
    assert message.metadata == {"journey": "onboarding-demo-shopbright", "step": "email-1"}
    assert server.state.summary()["emails_accepted"] == 1
    listed = http.get("/_sandbox/postmark/messages").json()["messages"]
    assert [m["message_id"] for m in listed] == [body["MessageID"]]


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"To": None}, 300),
        ({"From": ""}, 300),
        ({"To": "not-an-address"}, 300),
        ({"HtmlBody": None, "TextBody": None}, 300),
        ({"Metadata": {"nested": {"no": 1}}}, 300),
        ({"Metadata": {"journey": "x" * 81}}, 300),
        ({"MessageStream": "broadcasts"}, 1235),
    ],
)
def test_postmark_refuses_an_invalid_email_with_its_error_code(
    http: httpx.Client, overrides: dict[str, Any], code: int
) -> None:
    response = send(http, postmark_body(**overrides))
    assert response.status_code == 422
    assert response.json()["ErrorCode"] == code
    assert http.get("/_sandbox/calls").json()["summary"]["emails_accepted"] == 0


def test_postmark_refuses_an_inactive_recipient(http: httpx.Client) -> None:
    http.put("/_sandbox/postmark", json={"inactive_recipients": ["Mei.Chen@shopbright.example"]})
    response = send(http, postmark_body())
    assert response.status_code == 422
    assert response.json()["ErrorCode"] == 406
    assert http.get("/_sandbox/calls").json()["summary"]["emails_accepted"] == 0


def test_postmark_bad_token_is_401_with_code_10(http: httpx.Client) -> None:
    for headers in ({"X-Postmark-Server-Token": "wrong"}, {}):
        response = send(http, postmark_body(), headers=headers)
        assert response.status_code == 401
        assert response.json()["ErrorCode"] == 10
    body = http.post("/postmark/email", content=b"{", headers=POSTMARK_AUTH).json()
    assert body["ErrorCode"] == 402


def test_postmark_rate_limit_is_429_and_sends_nothing(
    http: httpx.Client, server: SandboxServer
) -> None:
    http.put("/_sandbox/rate-limits", json={"postmark": 1})
    assert send(http, postmark_body()).status_code == 200
    throttled = send(http, postmark_body())
    assert throttled.status_code == 429
    assert throttled.json()["ErrorCode"] != 0
    assert len(server.state.postmark_messages()) == 1
    assert search(http).status_code == 200  # the search does not count against the limit


def test_postmark_search_filters_by_metadata_recipient_and_tag(http: httpx.Client) -> None:
    first = send(http, postmark_body()).json()["MessageID"]
    second = send(
        http,
        postmark_body(To="amara@globex.example", Tag="onboarding-2", Metadata={"journey": "j2"}),
    ).json()["MessageID"]
    found = search(http, metadata_journey="onboarding-demo-shopbright").json()
    assert found["TotalCount"] == 1
    (message,) = found["Messages"]
    assert message["MessageID"] == first
    assert message["Status"] == "Sent"
    assert message["Recipients"] == ["mei.chen@shopbright.example"]
    assert message["Metadata"]["step"] == "email-1"
    assert search(http, recipient="AMARA@globex.example").json()["Messages"][0]["MessageID"] == (
        second
    )
    assert search(http, tag="onboarding-2").json()["TotalCount"] == 1
    everything = search(http).json()
    assert [m["MessageID"] for m in everything["Messages"]] == [second, first]  # newest first
    assert search(http, count=1, offset=1).json()["Messages"][0]["MessageID"] == first


def test_postmark_search_needs_count_and_offset(http: httpx.Client) -> None:
    path = "/postmark/messages/outbound"
    for params in ({"offset": 0}, {"count": 10}, {"count": 501, "offset": 0}):
        response = http.get(path, params=params, headers=POSTMARK_AUTH)
        assert response.status_code == 422
        assert response.json()["ErrorCode"] != 0
    assert http.get(path, params={"count": 1, "offset": 0}).status_code == 401


def test_postmark_message_is_searchable_only_after_the_delay(
    http: httpx.Client, server: SandboxServer
) -> None:
    assert http.put("/_sandbox/postmark", json={"search_delay_seconds": 0.5}).status_code == 200
    assert http.get("/_sandbox/postmark").json()["search_delay_seconds"] == 0.5
    send(http, postmark_body())
    assert search(http, metadata_step="email-1").json()["TotalCount"] == 0
    time.sleep(0.6)
    assert search(http, metadata_step="email-1").json()["TotalCount"] == 1
    server.state.fake(FakePostmark).search_delay_seconds = 0.0
    assert http.put("/_sandbox/postmark", json={"search_delay_seconds": -1}).status_code == 400


def test_postmark_lost_answer_leaves_the_email_sent(
    http: httpx.Client, server: SandboxServer
) -> None:
    http.put("/_sandbox/postmark", json={"lose_answers": 1})
    lost = send(http, postmark_body())
    assert lost.status_code == 500
    (kept,) = server.state.postmark_messages()
    # The client saw a failure; a search tells it the email went out, so it must not resend.
    assert search(http, metadata_step="email-1").json()["Messages"][0]["MessageID"] == (
        kept.message_id
    )
    assert send(http, postmark_body()).status_code == 200
    assert len(server.state.postmark_messages()) == 2
    assert server.state.calls("postmark")[0]["error"] == "lost_answer"


def test_postmark_email_is_kept_before_the_latency(
    http: httpx.Client, server: SandboxServer
) -> None:
    server.state.set_faults(latency_seconds=0.6, vendors=["postmark"])
    with pytest.raises(httpx.ReadTimeout):
        send(http, postmark_body(), timeout=0.15)
    # The client gave up waiting; the email was sent all the same, as Resend's is.
    assert len(server.state.postmark_messages()) == 1


# --- Slack incoming webhook ---------------------------------------------------------------------


def test_webhook_posts_a_sales_alert_in_plain_text(
    http: httpx.Client, server: SandboxServer
) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Globex* signed up"}}]
    response = webhook(http, {"text": "Globex signed up", "blocks": blocks})
    assert response.status_code == 200
    assert response.text == "ok"
    assert response.headers["content-type"].startswith("text/plain")
    (message,) = server.state.webhook_messages()
    assert (message.text, message.vendor, list(message.blocks)) == (
        "Globex signed up",
        "slack-webhook",
        blocks,
    )
    listed = http.get("/_sandbox/slack-webhook/messages").json()["messages"]
    assert [m["ts"] for m in listed] == [message.ts]


def test_webhook_alerts_count_with_the_bots(http: httpx.Client, server: SandboxServer) -> None:
    http.post(
        "/slack/api/chat.postMessage",
        json={"channel": "#sales", "text": "by the bot"},
        headers={"Authorization": f"Bearer {VENDORS['slack'].sandbox_key}"},
    )
    http.post(WEBHOOK_PATH, data={"payload": '{"text": "by the webhook"}'})
    messages = server.state.slack_messages()
    assert [(m.vendor, m.text) for m in messages] == [
        ("slack", "by the bot"),
        ("slack-webhook", "by the webhook"),
    ]
    assert http.get("/_sandbox/calls").json()["summary"]["sales_alerts"] == 2


def test_webhook_errors_are_plain_text_codes(http: httpx.Client, server: SandboxServer) -> None:
    wrong = webhook(http, {"text": "hi"}, path=f"{WEBHOOK.sandbox_path}/not-the-secret")
    assert (wrong.status_code, wrong.text) == (404, "no_service")
    invalid = http.post(WEBHOOK_PATH, content=b"not json")
    assert (invalid.status_code, invalid.text) == (400, "invalid_payload")
    empty = webhook(http, {"text": ""})
    assert (empty.status_code, empty.text) == (400, "no_text")
    for status, code, answer in (
        ("prohibited", 403, "action_prohibited"),
        ("archived", 410, "channel_is_archived"),
        ("revoked", 404, "no_service"),
    ):
        assert http.put("/_sandbox/slack-webhook", json={"status": status}).status_code == 200
        refused = webhook(http, {"text": "hi"})
        assert (refused.status_code, refused.text) == (code, answer)
    assert http.put("/_sandbox/slack-webhook", json={"status": "gone"}).status_code == 400
    assert server.state.webhook_messages() == []
    server.state.reset()
    assert server.state.fake(FakeSlackWebhook).status == "active"


def test_webhook_rate_limit_has_retry_after(http: httpx.Client) -> None:
    http.put("/_sandbox/rate-limits", json={"slack-webhook": 1})
    assert webhook(http, {"text": "one"}).status_code == 200
    throttled = webhook(http, {"text": "two"})
    assert (throttled.status_code, throttled.text) == (429, "rate_limited")
    assert throttled.headers["Retry-After"] == "1"


def test_webhook_url_is_the_whole_secret_in_the_environment(
    http: httpx.Client, server: SandboxServer
) -> None:
    environment = server.base_urls()
    assert environment["SLACK_WEBHOOK_URL"] == f"{server.url}{WEBHOOK_PATH}"
    assert environment["PEOPLEDATALABS_BASE_URL"] == f"{server.url}/peopledatalabs"
    assert environment["POSTMARK_SERVER_TOKEN"] == POSTMARK_AUTH["X-Postmark-Server-Token"]
    assert httpx.post(environment["SLACK_WEBHOOK_URL"], json={"text": "hi"}).text == "ok"


# --- faults reach the new vendors, each in its own format ---------------------------------------


def test_injected_outage_fails_each_new_vendor_in_its_own_shape(http: httpx.Client) -> None:
    http.put("/_sandbox/faults", json={"error_rate": 1.0})
    people = pdl(http, "amara@globex.example")
    stack = wappalyzer(http, "shopbright.example")
    email = send(http, postmark_body())
    alert = webhook(http, {"text": "hi"})
    assert [r.status_code for r in (people, stack, email, alert)] == [503] * 4
    assert people.json()["error"]["type"] == "api_error"
    assert stack.json() == {"message": "Service Unavailable"}
    assert email.json()["ErrorCode"] != 0
    assert alert.text == "service_unavailable"
    assert http.get("/_sandbox/calls").json()["summary"]["emails_accepted"] == 0


def test_injected_rate_limit_throttles_each_new_vendor(http: httpx.Client) -> None:
    http.put("/_sandbox/faults", json={"rate_limit_rate": 1.0, "retry_after_seconds": 3})
    people = pdl(http, "amara@globex.example")
    assert people.status_code == 429
    assert (
        datetime.strptime(people.headers["x-ratelimit-reset"], "%Y-%m-%dT%H:%M:%SZ")
        .replace(tzinfo=UTC)
        .timestamp()
        >= int(time.time()) + 2
    )
    for response in (
        wappalyzer(http, "shopbright.example"),
        send(http, postmark_body()),
        webhook(http, {"text": "hi"}),
    ):
        assert response.status_code == 429
        assert response.headers["Retry-After"] == "3"


# --- the same world through either provider of a role ---------------------------------------------


def clearbit_company(http: httpx.Client, email: str) -> tuple[int, Company | None]:
    for _ in range(10):  # through Clearbit's queue
        response = http.get(
            "/clearbit/v2/combined/find",
            params={"email": email},
            headers={"Authorization": f"Bearer {VENDORS['clearbit'].sandbox_key}"},
        )
        if response.status_code != 202:
            break
    if response.status_code != 200 or response.json()["company"] is None:
        return response.status_code, None
    company = response.json()["company"]
    metrics = company["metrics"]
    return 200, Company(
        domain=company["domain"],
        employees=metrics["employees"],
        employees_range=metrics["employeesRange"],
    )


def pdl_company(http: httpx.Client, email: str) -> tuple[int, Company | None]:
    response = pdl(http, email)
    if response.status_code != 200 or "job_company_name" not in response.json()["data"]:
        return response.status_code, None
    data = response.json()["data"]
    return 200, Company(
        domain=data["job_company_website"],
        employees=data.get("job_company_employee_count"),
        employees_range=data["job_company_size"],
    )


def builtwith_stack(http: httpx.Client, domain: str) -> list[str]:
    params = {"KEY": VENDORS["builtwith"].sandbox_key, "LOOKUP": domain}
    body = http.get("/builtwith/v22/api.json", params=params).json()
    return [
        tech["Name"]
        for result in body["Results"]
        for path in result["Result"]["Paths"]
        for tech in path["Technologies"]
    ]


def wappalyzer_stack(http: httpx.Client, domain: str) -> list[str]:
    for _ in range(10):  # through Wappalyzer's crawl
        (item,) = wappalyzer(http, domain).json()
        if not item.get("crawl"):
            return [tech["name"] for tech in item["technologies"]]
    raise AssertionError(f"{domain} is still being crawled")


def journey_outcome(
    fixture: Fixture, status: int, company: Company | None, stack: list[str]
) -> str:
    """The branch the journey takes on these answers (the rule in workflows/rules.py)."""
    if status != 200:
        return "not_enriched"
    if company is None:
        return "no_company"
    if segment_of(company, ENTERPRISE_THRESHOLD) is Segment.ENTERPRISE:
        return "sales_alerted"
    return "emails_completed" if integrated_technology(stack, INTEGRATED) else "no_integration"


@pytest.mark.parametrize(
    "fixture",
    [*FIXTURES.values(), *(synthetic_fixture(n) for n in range(1, 41))],
    ids=lambda fixture: fixture.slug,
)
def test_either_provider_gives_the_same_segment_stack_and_outcome(
    http: httpx.Client, fixture: Fixture
) -> None:
    answers = {}
    for enrich, look_up in ((clearbit_company, builtwith_stack), (pdl_company, wappalyzer_stack)):
        status, company = enrich(http, fixture.email)
        domain = (company.domain if company else None) or fixture.signup_company_domain
        stack = look_up(http, domain) if company is not None and domain else []
        segment = segment_of(company, ENTERPRISE_THRESHOLD) if company else None
        integrated = integrated_technology(stack, INTEGRATED)
        answers[enrich.__name__] = (
            segment,
            integrated,
            journey_outcome(fixture, status, company, stack),
        )
    assert answers["clearbit_company"] == answers["pdl_company"]
    assert answers["pdl_company"][2] == fixture.expected_outcome


def test_fixtures_route_shows_what_the_new_vendors_do_differently(http: httpx.Client) -> None:
    rows = {row["email_domain"]: row for row in http.get("/_sandbox/fixtures").json()["fixtures"]}
    assert rows["slowpoke.example"]["wappalyzer_crawl"] is True
    assert rows["globex.example"]["peopledatalabs_job_company_size"] == "1001-5000"


def test_unknown_people_are_unknown_to_both_enrichment_providers(http: httpx.Client) -> None:
    assert clearbit_company(http, "jo.park@unheard-of.example")[0] == 404
    assert pdl_company(http, "jo.park@unheard-of.example")[0] == 404
