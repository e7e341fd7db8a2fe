"""Rate limits the sandbox enforces like the vendors do, over real HTTP: a token bucket per vendor,
each vendor's own 429, and nothing processed past the limit."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from activities.vendors import DOCUMENTED_RATE_LIMITS
from sandbox import SandboxServer, SandboxState, parse_rate_limits

CLEARBIT_AUTH = {"Authorization": "Bearer sk_sandbox"}
SLACK_AUTH = {"Authorization": "Bearer xoxb-sandbox"}
RESEND_AUTH = {"Authorization": "Bearer re_sandbox"}


class Clock:
    """A monotonic clock that moves only when told, so a burst is exactly a burst."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="module")
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="module")
def server(clock: Clock) -> Iterator[SandboxServer]:
    with SandboxServer(port=0, state=SandboxState(clock=clock)) as running:
        yield running


@pytest.fixture
def http(server: SandboxServer) -> Iterator[httpx.Client]:
    server.state.reset()
    server.state.clear_faults()
    server.state.set_rate_limits({})
    with httpx.Client(base_url=server.url, timeout=5.0) as client:
        yield client


def find(http: httpx.Client, email: str = "amara.okafor@globex.example") -> httpx.Response:
    return http.get("/clearbit/v2/combined/find", params={"email": email}, headers=CLEARBIT_AUTH)


def builtwith(http: httpx.Client, lookup: str = "shopbright.example") -> httpx.Response:
    return http.get(
        "/builtwith/v22/api.json", params={"KEY": "sandbox-builtwith", "LOOKUP": lookup}
    )


def send(http: httpx.Client, key: str, **headers: str) -> httpx.Response:
    body: dict[str, Any] = {
        "from": "Onboarding <onboarding@example.com>",
        "to": ["mei.chen@shopbright.example"],
        "subject": "Welcome",
        "html": "<p>Welcome!</p>",
    }
    return http.post(
        "/resend/emails",
        json=body,
        headers={**RESEND_AUTH, "Idempotency-Key": key, **headers},
    )


# --- each vendor's 429, past exactly the burst ---------------------------------------------------


def test_clearbit_burst_past_the_limit_gets_clearbits_429(
    http: httpx.Client, server: SandboxServer
) -> None:
    http.put("/_sandbox/rate-limits", json={"clearbit": 3})
    responses = [find(http) for _ in range(5)]
    assert [r.status_code for r in responses] == [200, 200, 200, 429, 429]
    throttled = responses[-1]
    assert throttled.json() == {
        "error": {"type": "rate_limit", "message": "Rate limit exceeded; try again later."}
    }
    assert throttled.headers["Retry-After"] == "1"
    assert throttled.headers["X-RateLimit-Limit"] == "180"  # per minute, as Clearbit counts
    assert throttled.headers["X-RateLimit-Remaining"] == "0"
    assert int(throttled.headers["X-RateLimit-Reset"]) >= int(time.time())
    assert server.state.rate_limited("clearbit") == 2
    assert server.state.rate_limited("builtwith") == 0


def test_builtwith_burst_is_throttled_and_spends_no_credits(http: httpx.Client) -> None:
    http.put("/_sandbox/rate-limits", json={"builtwith": 2})
    responses = [builtwith(http) for _ in range(4)]
    assert [r.status_code for r in responses] == [200, 200, 429, 429]
    assert responses[-1].json()["Errors"][0]["Message"] == "Too many requests"
    assert responses[-1].headers["Retry-After"] == "1"
    assert "X-API-CREDITS-USED" not in responses[-1].headers
    assert builtwith(http).status_code == 429
    assert http.get("/_sandbox/calls").json()["summary"]["rate_limited"]["builtwith"] == 3


def test_slack_limits_posts_not_reads_and_throttled_alerts_are_not_stored(
    http: httpx.Client, server: SandboxServer
) -> None:
    http.put("/_sandbox/rate-limits", json={"slack": 2})
    posts = [
        http.post(
            "/slack/api/chat.postMessage",
            json={"channel": "#sales", "text": "hi"},
            headers=SLACK_AUTH,
        )
        for _ in range(2)
    ]
    # Slack's reads have looser tiers of their own: a retried alert's look-up is never 429.
    listed = http.get("/slack/api/conversations.list", headers=SLACK_AUTH)
    history = http.get(
        "/slack/api/conversations.history", params={"channel": "C0SALES"}, headers=SLACK_AUTH
    )
    again = http.post(
        "/slack/api/chat.postMessage", json={"channel": "#sales", "text": "hi"}, headers=SLACK_AUTH
    )
    assert [r.status_code for r in (*posts, listed, history, again)] == [200, 200, 200, 200, 429]
    assert again.json() == {"ok": False, "error": "ratelimited"}
    assert again.headers["Retry-After"] == "1"
    assert len(server.state.slack_messages()) == 2


def test_resend_burst_sends_only_the_limit_and_a_throttled_key_stays_unused(
    http: httpx.Client, server: SandboxServer, clock: Clock
) -> None:
    http.put("/_sandbox/rate-limits", json={"resend": 2})
    responses = [send(http, f"journey-1/email-{n}") for n in range(1, 5)]
    assert [r.status_code for r in responses] == [200, 200, 429, 429]
    throttled = responses[-1]
    assert throttled.json() == {
        "statusCode": 429,
        "message": "Too many requests. You can only make 2 requests per second.",
        "name": "rate_limit_exceeded",
    }
    assert throttled.headers["retry-after"] == "1"
    assert throttled.headers["ratelimit-limit"] == "2"
    assert throttled.headers["ratelimit-remaining"] == "0"
    assert [e.idempotency_key for e in server.state.sent_emails()] == [
        "journey-1/email-1",
        "journey-1/email-2",
    ]
    assert server.state.summary()["emails_accepted"] == 2
    # The throttled send was never seen: its retry is a first send, not a replay.
    clock.advance(1.0)
    retry = send(http, "journey-1/email-3")
    assert retry.status_code == 200
    assert server.state.summary()["duplicates_caught"] == 0
    assert len(server.state.sent_emails()) == 3


def test_the_bucket_refills_at_the_limit_and_holds_at_most_a_burst(
    http: httpx.Client, clock: Clock
) -> None:
    http.put("/_sandbox/rate-limits", json={"clearbit": 4})
    assert [find(http).status_code for _ in range(5)] == [200] * 4 + [429]
    clock.advance(0.5)  # two requests' worth
    assert [find(http).status_code for _ in range(3)] == [200, 200, 429]
    clock.advance(60)  # a long quiet spell still leaves room for one burst only
    assert [find(http).status_code for _ in range(5)] == [200] * 4 + [429]


def test_retry_after_is_the_whole_seconds_until_a_token() -> None:
    clock = Clock()
    state = SandboxState(rate_limits={"slack": 0.25}, clock=clock)
    assert state.throttle("slack") is None
    throttle = state.throttle("slack")
    assert throttle is not None
    assert (throttle.retry_after_seconds, throttle.limit_per_second) == (4, 0.25)
    clock.advance(4)
    assert state.throttle("slack") is None
    assert state.throttle("resend") is None  # not limited


def test_auth_failures_spend_nothing(http: httpx.Client) -> None:
    http.put("/_sandbox/rate-limits", json={"clearbit": 1})
    wrong = {"Authorization": "Bearer sk_wrong"}
    for _ in range(3):
        answer = http.get(
            "/clearbit/v2/combined/find", params={"email": "a@b.example"}, headers=wrong
        )
        assert answer.status_code == 401
    assert find(http).status_code == 200
    assert find(http).status_code == 429


def test_enforced_and_injected_429s_are_told_apart(
    http: httpx.Client, server: SandboxServer
) -> None:
    http.put("/_sandbox/faults", json={"rate_limit_rate": 1.0, "vendors": ["builtwith"]})
    http.put("/_sandbox/rate-limits", json={"clearbit": 1})
    assert find(http).status_code == 200
    assert find(http).status_code == 429
    assert builtwith(http).status_code == 429
    calls = {(c["vendor"], c["status"]): c for c in server.state.calls()}
    enforced, injected = calls[("clearbit", 429)], calls[("builtwith", 429)]
    assert (enforced["throttled"], enforced["fault"]) == (True, None)
    assert (injected["throttled"], injected["fault"]) == (False, "rate_limit")
    assert server.state.rate_limited() == 1


def test_the_limits_run_on_real_time() -> None:
    with (
        SandboxServer(port=0, state=SandboxState(rate_limits={"clearbit": 4})) as running,
        httpx.Client(base_url=running.url, timeout=5.0) as client,
    ):
        first = [find(client).status_code for _ in range(4)]
        assert first == [200] * 4  # the bucket starts full
        # Refill brings a token back every 0.25 s; a 429 comes long before ten more.
        assert 429 in [find(client).status_code for _ in range(10)]
        time.sleep(0.3)
        assert find(client).status_code == 200
        assert running.state.rate_limited("clearbit") >= 1


def test_reset_keeps_the_limits_with_a_full_bucket(
    http: httpx.Client, server: SandboxServer
) -> None:
    http.put("/_sandbox/rate-limits", json={"clearbit": 1})
    assert [find(http).status_code for _ in range(2)] == [200, 429]
    assert http.delete("/_sandbox/calls").status_code == 200
    assert server.state.rate_limited() == 0
    assert http.get("/_sandbox/rate-limits").json() == {"clearbit": 1.0}
    assert find(http).status_code == 200


# --- configuring the limits ---------------------------------------------------------------------


def test_control_endpoint_sets_reads_and_clears_the_limits(http: httpx.Client) -> None:
    assert http.get("/_sandbox/rate-limits").json() == {}
    put = http.put("/_sandbox/rate-limits", json={"clearbit": 10, "slack": 0.5})
    assert put.status_code == 200
    assert put.json() == {"clearbit": 10.0, "slack": 0.5}
    assert http.get("/_sandbox/rate-limits").json() == {"clearbit": 10.0, "slack": 0.5}
    assert http.put("/_sandbox/rate-limits", json={}).json() == {}
    assert http.get("/_sandbox/rate-limits").json() == {}
    assert "/_sandbox/rate-limits" in http.get("/").json()["control"]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"mailchimp": 1}, "unknown vendors ['mailchimp']"),
        ({"slack": 0}, "the slack limit must be a positive number"),
        ({"slack": -2}, "the slack limit must be a positive number"),
        ({"slack": "fast"}, "got 'fast'"),
        ({"slack": True}, "the slack limit must be a positive number"),
        ({"slack": None}, "the slack limit must be a positive number"),
        ([1, 2], "JSON object"),
    ],
)
def test_control_endpoint_refuses_bad_limits_in_one_line(
    http: httpx.Client, body: Any, says: str
) -> None:
    http.put("/_sandbox/rate-limits", json={"resend": 2})
    response = http.put("/_sandbox/rate-limits", json=body)
    assert response.status_code == 400
    message = response.json()["error"]
    assert says in message
    assert "\n" not in message
    assert http.get("/_sandbox/rate-limits").json() == {"resend": 2.0}


def test_rate_limits_at_construction_and_documented_ones() -> None:
    assert DOCUMENTED_RATE_LIMITS == {
        "clearbit": 10.0,
        "builtwith": 8.0,
        "slack": 1.0,
        "resend": 2.0,
        "peopledatalabs": 100 / 60,
        "wappalyzer": 5.0,
        "postmark": 10.0,
        "slack-webhook": 1.0,
    }
    state = SandboxState(rate_limits=DOCUMENTED_RATE_LIMITS)
    assert state.rate_limits == DOCUMENTED_RATE_LIMITS
    assert SandboxState().rate_limits == {}
    with pytest.raises(ValueError, match="unknown vendors"):
        SandboxState(rate_limits={"stripe": 1})


def test_parse_rate_limits_option() -> None:
    assert parse_rate_limits("documented") == DOCUMENTED_RATE_LIMITS
    assert parse_rate_limits("none") == {}
    assert parse_rate_limits(" clearbit=10, slack=1 ") == {"clearbit": 10.0, "slack": 1.0}
    for bad, says in (
        ("clearbit", "not vendor=requests-per-second"),
        ("clearbit=ten", "got 'ten'"),
        ("clearbit=0", "positive"),
        ("clearbit=inf", "positive"),
        ("twilio=3", "unknown vendors"),
        ("slack=1,slack=2", "given twice"),
    ):
        with pytest.raises(ValueError, match=says):
            parse_rate_limits(bad)


def test_sandbox_command_takes_rate_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    import sandbox.server
    from cli.main import app

    served: list[dict[str, Any]] = []
    monkeypatch.setattr(sandbox.server, "serve", lambda **kwargs: served.append(kwargs))
    runner = CliRunner()
    assert runner.invoke(app, ["sandbox", "--rate-limits", "documented"]).exit_code == 0
    assert runner.invoke(app, ["sandbox", "--rate-limits", "resend=5"]).exit_code == 0
    assert runner.invoke(app, ["sandbox"]).exit_code == 0
    assert [s["rate_limits"] for s in served] == [dict(DOCUMENTED_RATE_LIMITS), {"resend": 5.0}, {}]
    refused = runner.invoke(app, ["sandbox", "--rate-limits", "resend=fast"])
    assert refused.exit_code == 2
    assert "--rate-limits:" in refused.output and "got 'fast'" in refused.output
    assert len(served) == 3
