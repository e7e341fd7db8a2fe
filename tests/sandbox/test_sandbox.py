"""The vendor sandbox over real HTTP: each vendor's wire format, idempotency, faults and scripts."""

from __future__ import annotations

import base64
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from activities.vendors import VENDORS
from sandbox import (
    FIXTURES,
    SandboxServer,
    SandboxStartError,
    SandboxState,
    expected_outcome,
    sample_signups,
)
from workflows.models import Outcome, Signup

REPO = Path(__file__).resolve().parents[2]
CLEARBIT_AUTH = {"Authorization": "Bearer sk_sandbox"}
SLACK_AUTH = {"Authorization": "Bearer xoxb-sandbox"}
RESEND_AUTH = {"Authorization": "Bearer re_sandbox"}
SLACK_TS = re.compile(r"^\d{10}\.\d{6}$")  # defs_ts in Slack's published spec


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(port=0, state=SandboxState(seed=1)) as running:
        yield running


@pytest.fixture
def http(server: SandboxServer) -> Iterator[httpx.Client]:
    server.state.reset()
    with httpx.Client(base_url=server.url, timeout=5.0) as client:
        yield client


def find(http: httpx.Client, email: str, **kwargs: Any) -> httpx.Response:
    kwargs.setdefault("headers", CLEARBIT_AUTH)
    return http.get("/clearbit/v2/combined/find", params={"email": email}, **kwargs)


def builtwith(http: httpx.Client, lookup: str, key: str = "sandbox-builtwith") -> httpx.Response:
    return http.get("/builtwith/v22/api.json", params={"KEY": key, "LOOKUP": lookup})


def post_slack(http: httpx.Client, body: dict[str, Any], **kwargs: Any) -> httpx.Response:
    kwargs.setdefault("headers", SLACK_AUTH)
    return http.post("/slack/api/chat.postMessage", json=body, **kwargs)


def email_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "from": "Onboarding <onboarding@example.com>",
        "to": ["mei.chen@shopbright.example"],
        "subject": "Welcome to the product",
        "html": "<p>Welcome!</p>",
        "tags": [{"name": "journey", "value": "onboarding-demo-shopbright"}],
    }
    body.update(overrides)
    return body


def send(
    http: httpx.Client, body: dict[str, Any], key: str | None = None, **kwargs: Any
) -> httpx.Response:
    headers = dict(RESEND_AUTH)
    if key is not None:
        headers["Idempotency-Key"] = key
    return http.post("/resend/emails", json=body, headers=headers, **kwargs)


# --- fixtures -------------------------------------------------------------------------------


def test_fixture_outcomes_are_journey_outcomes() -> None:
    outcomes = {o.value for o in Outcome}
    assert {f.expected_outcome for f in FIXTURES.values()} <= outcomes


def test_sample_signups_cover_every_branch_and_are_valid_signups() -> None:
    signups = [Signup.model_validate(s) for s in sample_signups()]
    assert len({s.user_id for s in signups}) == len(signups)
    reached = {expected_outcome(s.email) for s in signups}
    assert reached == {
        "sales_alerted",
        "emails_completed",
        "no_integration",
        "no_company",
        "not_enriched",
        "invalid_email",
    }
    nomad = next(s for s in signups if s.user_id == "demo-nomad")
    assert nomad.company_domain == "nomad-shop.example"


def test_fixtures_route_lists_the_table(http: httpx.Client) -> None:
    body = http.get("/_sandbox/fixtures").json()
    rows = {row["email_domain"]: row for row in body["fixtures"]}
    assert rows["shopbright.example"]["technologies"] == ["Shopify", "Google Analytics", "Klaviyo"]
    assert rows["slowpoke.example"]["clearbit_queued"] is True
    assert len(body["sample_signups"]) == len(FIXTURES) + 2


# --- Clearbit -------------------------------------------------------------------------------


def test_clearbit_finds_person_and_company(http: httpx.Client) -> None:
    response = find(http, "amara.okafor@globex.example")
    assert response.status_code == 200
    person, company = response.json()["person"], response.json()["company"]
    assert person["name"] == {
        "fullName": "Amara Okafor",
        "givenName": "Amara",
        "familyName": "Okafor",
    }
    assert person["email"] == "amara.okafor@globex.example"
    assert person["employment"]["domain"] == "globex.example"
    assert company["name"] == "Globex Corporation"
    assert company["domain"] == "globex.example"
    assert company["metrics"]["employees"] == 4500
    assert company["metrics"]["employeesRange"] == "1K-5K"
    assert company["category"]["industry"] == "Manufacturing"
    assert company["tech"] == ["salesforce", "marketo"]
    assert company["geo"]["city"] == "Cypress Creek"


def test_clearbit_accepts_basic_auth_with_key_as_user(http: httpx.Client) -> None:
    response = find(http, "diego@initech.example", headers={}, auth=("sk_sandbox", ""))
    assert response.status_code == 200
    metrics = response.json()["company"]["metrics"]
    assert metrics["employees"] is None
    assert metrics["employeesRange"] == "251-1K"


def test_clearbit_auth_failures(http: httpx.Client) -> None:
    missing = find(http, "a@globex.example", headers={})
    wrong = find(http, "a@globex.example", headers={"Authorization": "Bearer sk_wrong"})
    wrong_basic = find(
        http,
        "a@globex.example",
        headers={"Authorization": "Basic " + base64.b64encode(b"sk_wrong:").decode()},
    )
    assert missing.status_code == wrong.status_code == wrong_basic.status_code == 401
    assert missing.json()["error"]["type"] == "auth_required"
    assert wrong.json()["error"]["type"] == "invalid_api_key"
    assert wrong_basic.json()["error"]["type"] == "invalid_api_key"
    assert statuses(http, "clearbit") == [401, 401, 401]


def test_clearbit_unknown_role_and_malformed_emails(http: httpx.Client) -> None:
    unknown = find(http, "jo@unheard-of.example")
    assert unknown.status_code == 404
    assert unknown.json()["error"]["type"] == "unknown_record"
    for email in ("info@globex.example", "No-Reply@shopbright.example", "not-an-email", ""):
        invalid = find(http, email)
        assert invalid.status_code == 422, email
        assert invalid.json()["error"]["type"] == "email_invalid"


def test_clearbit_free_mail_person_has_no_company(http: httpx.Client) -> None:
    body = find(http, "sam.taylor@mailbox.example").json()
    assert body["person"]["name"]["fullName"] == "Sam Taylor"
    assert body["company"] is None


def test_clearbit_company_without_domain(http: httpx.Client) -> None:
    company = find(http, "kofi@nomad-domain.example").json()["company"]
    assert company["name"] == "Nomad Goods"
    assert company["domain"] is None
    assert company["metrics"]["employees"] == 15


def test_clearbit_queued_lookup_answers_202_then_200_per_email(http: httpx.Client) -> None:
    statuses = [find(http, "lena@slowpoke.example").status_code for _ in range(3)]
    assert statuses == [202, 202, 200]
    assert find(http, "lena@slowpoke.example").json()["company"]["name"] == "Slowpoke Analytics"
    queued = find(http, "other@slowpoke.example")
    assert queued.status_code == 202
    assert queued.content == b""


# --- BuiltWith ------------------------------------------------------------------------------


def test_builtwith_technologies_and_credits(http: httpx.Client) -> None:
    response = builtwith(http, "shopbright.example,unheard-of.example")
    assert response.status_code == 200
    body = response.json()
    assert body["Errors"] == []
    known, unknown = body["Results"]
    assert known["Lookup"] == "shopbright.example"
    assert known["Meta"]["CompanyName"] == "Shopbright"
    (path,) = known["Result"]["Paths"]
    assert path["Domain"] == "shopbright.example"
    names = [t["Name"] for t in path["Technologies"]]
    assert names == ["Shopify", "Google Analytics", "Klaviyo"]
    shopify = path["Technologies"][0]
    assert shopify["Tag"] == "shop"
    assert shopify["Categories"]
    assert shopify["FirstDetected"] < shopify["LastDetected"]
    assert unknown["Lookup"] == "unheard-of.example"
    assert unknown["Result"]["Paths"] == []
    assert response.headers["X-API-CREDITS-USED"] == "2"
    assert int(response.headers["X-API-CREDITS-REMAINING"]) == (
        int(response.headers["X-API-CREDITS-AVAILABLE"]) - 2
    )


def test_builtwith_knows_the_signup_domain_of_a_domainless_company(http: httpx.Client) -> None:
    result = builtwith(http, "https://www.nomad-shop.example/").json()["Results"][0]
    assert result["Lookup"] == "nomad-shop.example"
    assert [t["Name"] for t in result["Result"]["Paths"][0]["Technologies"]] == ["WooCommerce"]


def test_builtwith_rejects_wrong_key_and_missing_lookup(http: httpx.Client) -> None:
    wrong = builtwith(http, "shopbright.example", key="nope")
    assert wrong.status_code == 401
    assert wrong.json()["Errors"][0]["Message"] == "API key invalid"
    assert builtwith(http, "").status_code == 400


# --- Slack ----------------------------------------------------------------------------------


def test_slack_posts_a_sales_alert(http: httpx.Client) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Globex* signed up"}}]
    first = post_slack(http, {"channel": "#sales", "text": "Globex signed up", "blocks": blocks})
    second = post_slack(http, {"channel": "C0SALES", "text": "Initech signed up"})
    assert first.status_code == second.status_code == 200
    body = first.json()
    assert body["ok"] is True
    assert body["channel"] == "C0SALES"
    assert SLACK_TS.match(body["ts"])
    assert body["message"]["text"] == "Globex signed up"
    assert body["message"]["blocks"] == blocks
    assert body["ts"] != second.json()["ts"]
    assert http.get("/_sandbox/calls").json()["summary"]["sales_alerts"] == 2


@pytest.mark.parametrize(
    ("headers", "body", "error"),
    [
        ({}, {"channel": "#sales", "text": "hi"}, "not_authed"),
        (
            {"Authorization": "Bearer xoxb-wrong"},
            {"channel": "#sales", "text": "hi"},
            "invalid_auth",
        ),
        (SLACK_AUTH, {"channel": "#random", "text": "hi"}, "channel_not_found"),
        (SLACK_AUTH, {"channel": "#sales"}, "no_text"),
        (SLACK_AUTH, {"channel": "#sales", "text": "x" * 40_001}, "msg_too_long"),
        (
            SLACK_AUTH,
            {"channel": "#sales", "blocks": [{"type": "divider"}] * 51},
            "invalid_blocks",
        ),
    ],
)
def test_slack_logical_errors_are_http_200(
    http: httpx.Client, headers: dict[str, str], body: dict[str, Any], error: str
) -> None:
    response = post_slack(http, body, headers=headers)
    assert response.status_code == 200
    assert response.json() == {"ok": False, "error": error}
    assert http.get("/_sandbox/calls").json()["summary"]["sales_alerts"] == 0


# --- Resend ---------------------------------------------------------------------------------


def test_resend_sends_an_email(http: httpx.Client, server: SandboxServer) -> None:
    response = send(http, email_body(to="mei.chen@shopbright.example", text="Welcome!"))
    assert response.status_code == 200
    email_id = response.json()["id"]
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}", email_id)
    (sent,) = server.state.sent_emails()
    assert sent.id == email_id
    assert sent.to == ("mei.chen@shopbright.example",)
    assert sent.tags == (("journey", "onboarding-demo-shopbright"),)


def test_resend_rejects_a_wrong_key(http: httpx.Client) -> None:
    response = http.post(
        "/resend/emails", json=email_body(), headers={"Authorization": "Bearer re_wrong"}
    )
    assert response.status_code == 401
    assert response.json() == {
        "statusCode": 401,
        "message": "API key is invalid",
        "name": "validation_error",
    }


@pytest.mark.parametrize(
    "overrides",
    [
        {"from": None},
        {"to": []},
        {"to": "not-an-email"},
        {"to": [f"u{i}@shopbright.example" for i in range(51)]},
        {"subject": ""},
        {"html": None},
        {"tags": [{"name": "user", "value": "mei@shopbright.example"}]},
    ],
)
def test_resend_validates_the_email(http: httpx.Client, overrides: dict[str, Any]) -> None:
    response = send(http, email_body(**overrides), key="journey-1-email-1")
    assert response.status_code == 422
    body = response.json()
    assert body["statusCode"] == 422
    assert body["name"] == "validation_error"
    assert body["message"]
    assert http.get("/_sandbox/calls").json()["summary"]["emails_accepted"] == 0


def test_resend_rejects_an_overlong_idempotency_key(http: httpx.Client) -> None:
    response = send(http, email_body(), key="k" * 257)
    assert response.status_code == 400
    assert response.json()["name"] == "invalid_idempotency_key"
    assert send(http, email_body(), key="k" * 256).status_code == 200


def test_resend_replays_a_repeated_key_without_sending(http: httpx.Client) -> None:
    first = send(http, email_body(), key="onboarding-demo-shopbright/email-1")
    # Key order differs: the same request all the same.
    replay = send(
        http, dict(reversed(email_body().items())), key="onboarding-demo-shopbright/email-1"
    )
    assert replay.status_code == 200
    assert replay.json() == first.json()
    body = http.get("/_sandbox/calls", params={"vendor": "resend"}).json()
    assert [c["duplicate"] for c in body["calls"]] == [False, True]
    assert body["summary"]["emails_accepted"] == 1
    assert body["summary"]["duplicates_caught"] == 1


def test_resend_refuses_a_reused_key_with_another_body(http: httpx.Client) -> None:
    send(http, email_body(), key="journey-2-email-1")
    response = send(http, email_body(subject="Something else"), key="journey-2-email-1")
    assert response.status_code == 409
    assert response.json()["name"] == "invalid_idempotent_request"


def test_resend_refuses_a_key_still_in_flight(http: httpx.Client, server: SandboxServer) -> None:
    server.state.set_faults(latency_seconds=0.6, vendors=["resend"])
    answers: list[httpx.Response] = []
    first = threading.Thread(target=lambda: answers.append(send(http, email_body(), key="j3-e1")))
    first.start()
    wait_for(lambda: server.state.summary()["emails_accepted"] == 1)
    concurrent = send(http, email_body(), key="j3-e1")
    first.join()
    assert concurrent.status_code == 409
    assert concurrent.json()["name"] == "concurrent_idempotent_requests"
    replay = send(http, email_body(), key="j3-e1")
    assert replay.status_code == 200
    assert replay.json() == answers[0].json()


def test_resend_email_is_accepted_before_the_latency(
    http: httpx.Client, server: SandboxServer
) -> None:
    server.state.set_faults(latency_seconds=0.6, vendors=["resend"])
    with pytest.raises(httpx.ReadTimeout):
        send(http, email_body(), key="j4-e1", timeout=0.15)
    # The client gave up, the email was sent all the same.
    (accepted,) = server.state.sent_emails()
    assert accepted.idempotency_key == "j4-e1"
    server.state.clear_faults()
    wait_for(lambda: send(http, email_body(), key="j4-e1").status_code == 200)
    retry = server.state.calls("resend")[-1]
    assert retry["duplicate"]
    assert server.state.summary()["emails_accepted"] == 1
    assert server.state.sent_emails()[0].id == accepted.id


# --- faults ---------------------------------------------------------------------------------


def test_error_rate_one_fails_every_vendor_in_its_own_shape(http: httpx.Client) -> None:
    assert http.put("/_sandbox/faults", json={"error_rate": 1.0}).status_code == 200
    clearbit = find(http, "amara@globex.example")
    built = builtwith(http, "shopbright.example")
    slack = post_slack(http, {"channel": "#sales", "text": "hi"})
    resend = send(http, email_body(), key="j5-e1")
    assert [r.status_code for r in (clearbit, built, slack, resend)] == [503] * 4
    assert clearbit.json()["error"]["type"] == "service_unavailable"
    assert built.json()["Errors"][0]["Message"]
    assert slack.json()["ok"] is False
    assert resend.json()["statusCode"] == 503
    calls = http.get("/_sandbox/calls").json()
    assert {c["fault"] for c in calls["calls"]} == {"error"}
    assert calls["summary"]["emails_accepted"] == 0


def test_rate_limit_rate_one_throttles_with_retry_after(http: httpx.Client) -> None:
    http.put("/_sandbox/faults", json={"rate_limit_rate": 1.0, "retry_after_seconds": 3})
    clearbit = find(http, "amara@globex.example")
    assert clearbit.status_code == 429
    assert clearbit.headers["Retry-After"] == "3"
    assert int(clearbit.headers["X-RateLimit-Reset"]) >= int(time.time()) + 2
    for response in (
        builtwith(http, "shopbright.example"),
        post_slack(http, {"channel": "#sales", "text": "hi"}),
        send(http, email_body()),
    ):
        assert response.status_code == 429
        assert response.headers["Retry-After"] == "3"


def test_faults_can_target_one_vendor_and_be_read_back(http: httpx.Client) -> None:
    http.put("/_sandbox/faults", json={"error_rate": 1.0, "vendors": ["clearbit"]})
    assert http.get("/_sandbox/faults").json()["vendors"] == ["clearbit"]
    assert find(http, "amara@globex.example").status_code == 503
    assert post_slack(http, {"channel": "#sales", "text": "hi"}).status_code == 200
    assert http.put("/_sandbox/faults", json={"error_rate": 2}).status_code == 400
    assert http.put("/_sandbox/faults", json={"vendors": ["mailchimp"]}).status_code == 400


def test_auth_is_checked_before_injected_failures(http: httpx.Client) -> None:
    http.put("/_sandbox/faults", json={"error_rate": 1.0})
    assert find(http, "amara@globex.example", headers={}).status_code == 401


def test_slow_requests_are_delayed(http: httpx.Client) -> None:
    http.put("/_sandbox/faults", json={"slow_rate": 1.0, "slow_seconds": 0.3})
    started = time.monotonic()
    assert find(http, "amara@globex.example").status_code == 200
    assert time.monotonic() - started >= 0.3
    assert http.get("/_sandbox/calls").json()["calls"][0]["fault"] == "slow"


def test_fault_dice_follow_the_seed() -> None:
    def rolls(state: SandboxState) -> list[str | None]:
        state.set_faults(error_rate=0.5, rate_limit_rate=0.5)
        return [state.roll_faults("clearbit").kind for _ in range(40)]

    assert rolls(SandboxState(seed=42)) == rolls(SandboxState(seed=42))
    assert set(rolls(SandboxState(seed=42))) == {"error", "rate_limit", None}


# --- scripts and reset ----------------------------------------------------------------------


def test_scripted_responses_are_served_in_order_before_auth(http: httpx.Client) -> None:
    script = {
        "vendor": "clearbit",
        "responses": [
            {"status": 500, "json": {"error": {"type": "internal", "message": "boom"}}},
            {"status": 402, "json": {"error": {"type": "over_quota", "message": "pay"}}},
            {"status": 429, "headers": {"X-RateLimit-Reset": "1700000000"}},
        ],
    }
    assert http.post("/_sandbox/script", json=script).json() == {"vendor": "clearbit", "pending": 3}
    answers = [find(http, "amara@globex.example", headers={}) for _ in range(4)]
    assert [a.status_code for a in answers] == [500, 402, 429, 401]
    assert answers[1].json()["error"]["type"] == "over_quota"
    assert answers[2].headers["X-RateLimit-Reset"] == "1700000000"
    assert answers[2].content == b""
    faults = [c["fault"] for c in http.get("/_sandbox/calls").json()["calls"]]
    assert faults == ["scripted", "scripted", "scripted", None]


def test_scripts_from_python_and_bad_scripts(http: httpx.Client, server: SandboxServer) -> None:
    server.state.script("slack", [{"status": 200, "json": {"ok": False, "error": "is_archived"}}])
    assert post_slack(http, {"channel": "#sales", "text": "hi"}).json()["error"] == "is_archived"
    assert post_slack(http, {"channel": "#sales", "text": "hi"}).json()["ok"] is True
    bad = http.post("/_sandbox/script", json={"vendor": "mailchimp", "responses": []})
    assert bad.status_code == 400
    no_status = http.post("/_sandbox/script", json={"vendor": "slack", "responses": [{}]})
    assert no_status.status_code == 400


def test_reset_forgets_everything(http: httpx.Client, server: SandboxServer) -> None:
    first = send(http, email_body(), key="j6-e1").json()
    find(http, "lena@slowpoke.example")
    find(http, "lena@slowpoke.example")
    http.put("/_sandbox/faults", json={"latency_seconds": 0.01})
    server.state.script("builtwith", [{"status": 500}])

    assert http.delete("/_sandbox/calls").status_code == 200

    body = http.get("/_sandbox/calls").json()
    assert body["calls"] == []
    assert body["summary"]["emails_accepted"] == 0
    assert http.get("/_sandbox/faults").json()["latency_seconds"] == 0
    assert builtwith(http, "shopbright.example").status_code == 200
    assert find(http, "lena@slowpoke.example").status_code == 202
    assert send(http, email_body(), key="j6-e1").json() != first


def test_calls_can_be_filtered_by_vendor(http: httpx.Client, server: SandboxServer) -> None:
    find(http, "amara@globex.example")
    post_slack(http, {"channel": "#sales", "text": "hi"})
    body = http.get("/_sandbox/calls", params={"vendor": "slack"}).json()
    (call,) = body["calls"]
    assert call["vendor"] == "slack"
    assert call["lookup"] == "#sales"
    assert call["path"] == "/slack/api/chat.postMessage"
    assert call["request_body"] == {"channel": "#sales", "text": "hi"}
    assert body["summary"]["clearbit"] == {"calls": 1, "by_status": {"200": 1}}
    assert server.state.calls("slack") == body["calls"]
    assert http.get("/_sandbox/calls", params={"vendor": "nope"}).status_code == 400


# --- the server -----------------------------------------------------------------------------


def test_base_urls_point_into_the_sandbox(server: SandboxServer) -> None:
    urls = server.base_urls()
    assert urls["CLEARBIT_BASE_URL"] == f"{server.url}/clearbit"
    assert urls["SLACK_BASE_URL"] == f"{server.url}/slack/api"
    assert urls["RESEND_API_KEY"] == server.state.vendors["resend"].key


def test_server_stops_cleanly_and_refuses_a_taken_port() -> None:
    with SandboxServer(port=0) as running:
        port = running.port
        assert port is not None
        assert httpx.get(f"{running.url}/_sandbox/health").json() == {"ok": True}
        with pytest.raises(SandboxStartError, match="choose another port"):
            SandboxServer(port=port).start()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass


def test_serve_logs_its_url_and_no_personal_data(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-c", f"from sandbox import serve; serve(port={port})"],
        cwd=REPO,
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: _answers(f"{url}/_sandbox/health"), timeout=10)
        find_response = httpx.get(
            f"{url}/clearbit/v2/combined/find",
            params={"email": "amara.okafor@globex.example"},
            headers=CLEARBIT_AUTH,
        )
        assert find_response.status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=10)
    assert process.returncode == 0
    log = out + err
    assert url in log
    assert "amara" not in log


# --- helpers --------------------------------------------------------------------------------


def statuses(http: httpx.Client, vendor: str) -> list[int]:
    rows = http.get("/_sandbox/calls", params={"vendor": vendor}).json()["calls"]
    return [row["status"] for row in rows]


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=0.5).status_code == 200
    except httpx.TransportError:
        return False


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def test_every_vendor_of_the_table_has_its_fake_under_its_path() -> None:
    state = SandboxState()
    assert list(state.vendors) == list(VENDORS)
    for name, fake in state.vendors.items():
        assert fake.key == VENDORS[name].sandbox_key
        paths = [route.path for route in fake.routes()]
        assert paths and all(p.startswith(VENDORS[name].sandbox_path + "/") for p in paths)
