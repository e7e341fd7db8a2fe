"""The dashboard's pages and JSON over injected counts and a seeded warehouse: the same numbers
in both forms, one line for a bad parameter or an unreachable source, and who may see it."""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from pydantic import SecretStr
from typer import Typer
from typer.testing import CliRunner

from activities.warehouse import Warehouse
from analytics.experiments import experiment_report
from analytics.funnel import funnel, to_dict
from cli.dashboard import dashboard_command
from common.codec_server import Authenticator, CodecServerSettings
from dashboard.app import (
    DashboardConfigError,
    Experiments,
    bearer,
    check_access,
    create_app,
    ui_list_url,
)
from dashboard.counts import CountsUnavailable, Queries, Window
from dashboard.journey_map import OTHER
from tests.dashboard.support import EXPERIMENT, NOW, TableCounts, seed_journeys
from workflows.models import Outcome, stage_labels

TOKEN = "dashboard-token-0123456789"
UI = "http://ui.example:8233"


def access(**settings: str | None) -> CodecServerSettings:
    values: dict[str, object] = {
        "codec_server_token": None,
        "codec_jwks_url": None,
        "codec_jwt_issuer": None,
        "codec_jwt_audience": None,
    }
    values.update(settings)
    if values["codec_server_token"] is not None:
        values["codec_server_token"] = SecretStr(str(values["codec_server_token"]))
    return CodecServerSettings(**values, _env_file=None)  # type: ignore[arg-type]


@pytest.fixture
def warehouse(tmp_path: Path) -> Iterator[Warehouse]:
    warehouse = Warehouse(f"sqlite:///{tmp_path / 'warehouse.db'}")
    seed_journeys(warehouse, now=NOW, weeks=6, per_week=30)
    yield warehouse
    warehouse.close()


def counted() -> TableCounts:
    """Distinct counts for every value of a 3-email journey, over the last 7 days."""
    stages = stage_labels(3)
    outcomes = [o.value for o in Outcome]
    queries = Queries(stages, outcomes, since=NOW - Window.WEEK.duration)
    answers = {queries.running(): 1000, queries.ended(): 500}
    answers.update({queries.stage(s): 10 + i for i, s in enumerate(stages)})
    answers.update({queries.outcome(o): 20 + i for i, o in enumerate(outcomes)})
    return TableCounts(answers)


def client(
    warehouse: sa.Engine,
    counts: object | None = None,
    authenticator: Authenticator | None = None,
) -> httpx.AsyncClient:
    app = create_app(
        counts or counted(),  # type: ignore[arg-type]
        namespace="journeys-prod",
        emails=3,
        warehouse=warehouse,
        ui_url=UI,
        authenticator=authenticator,
        experiments=Experiments(min_sample=20),
        now=lambda: NOW,
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dash")


async def test_the_map_and_its_json_show_the_same_numbers(warehouse: Warehouse) -> None:
    async with client(warehouse.engine) as http:
        data = (await http.get("/map.json")).json()
        page = (await http.get("/")).text
    assert data["window"] == "7d"
    assert data["running"] == 1000 and data["ended"] == 500
    assert data["stages"]["enriching"] == 10
    known = sum(v for k, v in data["stages"].items() if k != OTHER)
    assert data["stages"][OTHER] == 1000 - known
    assert data["outcomes"][OTHER] == 500 - sum(
        v for k, v in data["outcomes"].items() if k != OTHER
    )
    for value, count in data["stages"].items():
        assert f"{count:,} now" in page, value
    for value, count in data["outcomes"].items():
        assert f"{count:,} ended" in page, value
    assert 'http-equiv="refresh"' in page
    assert "<script" not in page


async def test_many_requests_at_once_cost_one_set_of_counts(warehouse: Warehouse) -> None:
    counts = counted()
    async with client(warehouse.engine, counts) as http:
        pages = await asyncio.gather(*(http.get("/") for _ in range(8)), http.get("/map.json"))
    assert all(page.status_code == 200 for page in pages)
    # One count per stage and outcome of a 3-email journey, and one total each.
    assert len(counts.asked) == len(set(counts.asked)) == 2 + len(stage_labels(3)) + len(Outcome)


async def test_every_link_opens_the_web_ui_list_of_its_query(warehouse: Warehouse) -> None:
    async with client(warehouse.engine) as http:
        data = (await http.get("/map.json?window=24h")).json()
        page = (await http.get("/?window=24h")).text
    queries = Queries(stage_labels(3), [o.value for o in Outcome], NOW - Window.DAY.duration)
    link = data["links"]["stages"]["waiting_email_2"]
    assert link == ui_list_url(UI, "journeys-prod", queries.stage("waiting_email_2"))
    assert link.startswith(f"{UI}/namespaces/journeys-prod/workflows?query=WorkflowType%20%3D%20")
    assert data["links"]["outcomes"][OTHER] == ui_list_url(
        UI, "journeys-prod", queries.outcome(OTHER)
    )
    hrefs = set(re.findall(r'href="([^"]+)"', page))
    for value in data["stages"]:
        assert data["links"]["stages"][value].replace("&", "&amp;") in hrefs, value


async def test_the_funnel_is_served_as_the_analytics_count_it(warehouse: Warehouse) -> None:
    async with client(warehouse.engine) as http:
        data = (await http.get("/funnel.json?weeks=6")).json()
        page = (await http.get("/funnel?weeks=6")).text
    assert data == to_dict(funnel(warehouse, 6, NOW))
    assert len(data["cohorts"]) == 6
    for cohort in data["cohorts"]:
        assert cohort["week"] in page
        assert f'<span class="count">{cohort["started"]}</span>' in page


async def test_the_experiment_has_one_entry_per_variant(warehouse: Warehouse) -> None:
    async with client(warehouse.engine) as http:
        data = (await http.get("/experiments.json")).json()
        page = (await http.get("/experiments")).text
    report = experiment_report(warehouse, now=NOW, min_sample=20).to_dict()
    assert {k: v for k, v in data.items() if k != "experiments"} == report
    assert data["experiments"] == [EXPERIMENT]
    assert [v["variant"] for v in data["variants"]] == ["control", "short-subject"]
    assert "at least <strong>20</strong> exposed journeys" in page
    assert page.count('class="sparkline"') == 2
    for variant in data["variants"]:
        assert f"verdict-{variant['verdict']}" in page


async def test_the_experiment_is_judged_as_asked(warehouse: Warehouse) -> None:
    async with client(warehouse.engine) as http:
        data = (await http.get("/experiments.json?min_sample=5&within=2d&weeks=4")).json()
        page = (await http.get("/experiments?min_sample=5&within=2d&weeks=4")).text
    report = experiment_report(
        warehouse, now=NOW, min_sample=5, conversion_window=timedelta(days=2), weeks=4
    )
    assert {k: v for k, v in data.items() if k != "experiments"} == report.to_dict()
    assert "at least <strong>5</strong> exposed journeys" in page
    assert "within <strong>2&nbsp;days</strong>" in page
    assert 'href="/experiments.json?min_sample=5&amp;within=2d&amp;weeks=4"' in page


async def test_an_empty_warehouse_reads_as_no_journeys(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    async with client(engine) as http:
        assert (await http.get("/experiments.json")).json()["variants"] == []
        assert "No journey has been in an email experiment" in (await http.get("/experiments")).text
        cohorts = (await http.get("/funnel.json")).json()["cohorts"]
    assert len(cohorts) == 8 and all(c["started"] == 0 for c in cohorts)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/?window=5d", "window must be 24h, 7d or 30d."),
        ("/map.json?window=week", "window must be 24h, 7d or 30d."),
        ("/funnel?weeks=0", "weeks must be a whole number from 1 to 52."),
        ("/funnel.json?weeks=eight", "weeks must be a whole number from 1 to 52."),
        ("/funnel?weeks=%C2%B2", "weeks must be a whole number from 1 to 52."),
        ("/experiments?weeks=53", "weeks must be a whole number from 1 to 52."),
        ("/experiments.json?min_sample=0", "min_sample must be a whole number from 1 to 1000000."),
        ("/experiments?within=0s", "within must be a duration longer than 0s, like 14d or 36h."),
        (
            "/experiments.json?within=2w",
            "within must be a duration longer than 0s, like 14d or 36h.",
        ),
    ],
)
async def test_a_bad_parameter_is_one_line(warehouse: Warehouse, path: str, message: str) -> None:
    async with client(warehouse.engine) as http:
        response = await http.get(path)
    assert response.status_code == 400
    if path.split("?")[0].endswith(".json"):
        assert response.json() == {"error": message}
    else:
        assert response.text == f"{message}\n"


async def test_an_unreachable_source_is_one_line(warehouse: Warehouse, tmp_path: Path) -> None:
    class Unreachable:
        async def count(self, query: str) -> int:
            raise CountsUnavailable("Cannot reach Temporal at localhost:7233.")

    broken = sa.create_engine(f"sqlite:///{tmp_path / 'missing' / 'warehouse.db'}")
    async with client(broken, Unreachable()) as http:
        assert (await http.get("/")).text == "Cannot reach Temporal at localhost:7233.\n"
        response = await http.get("/funnel.json")
    assert response.status_code == 503
    assert response.json()["error"].startswith("The warehouse cannot be read now")


async def test_no_journey_id_reaches_a_page(warehouse: Warehouse) -> None:
    async with client(warehouse.engine) as http:
        for path in (
            "/",
            "/map.json",
            "/funnel",
            "/funnel.json",
            "/experiments",
            "/experiments.json",
        ):
            body = (await http.get(path)).text
            assert "onboarding-seeded-" not in body, path
            assert "@" not in body, path


# --- who may see it ---------------------------------------------------------------------------


def test_loopback_needs_no_authentication() -> None:
    for host in ("127.0.0.1", "::1", "localhost"):
        check_access(access(), host)


@pytest.mark.parametrize("host", ["0.0.0.0", "10.0.0.5", "::"])
def test_beyond_loopback_it_refuses_without_authentication(host: str) -> None:
    with pytest.raises(DashboardConfigError, match="set CODEC_SERVER_TOKEN") as refused:
        check_access(access(), host)
    assert "\n" not in str(refused.value)
    check_access(access(codec_server_token=TOKEN), host)
    check_access(
        access(
            codec_jwks_url="https://idp.example/jwks.json",
            codec_jwt_issuer="https://idp.example/",
            codec_jwt_audience="dashboard",
        ),
        host,
    )


def test_the_codec_servers_own_checks_apply() -> None:
    with pytest.raises(DashboardConfigError, match="shorter than 16"):
        check_access(access(codec_server_token="short"), "127.0.0.1")
    with pytest.raises(DashboardConfigError, match="CODEC_JWT_ISSUER"):
        check_access(access(codec_jwks_url="https://idp.example/jwks.json"), "127.0.0.1")


def test_the_command_refuses_in_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no .env
    for name in ("CODEC_SERVER_TOKEN", "CODEC_JWKS_URL", "CODEC_JWT_ISSUER", "CODEC_JWT_AUDIENCE"):
        monkeypatch.delenv(name, raising=False)
    app = Typer()
    app.command()(dashboard_command)
    result = CliRunner().invoke(app, ["--host", "0.0.0.0", "--port", "0"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: The dashboard serves 0.0.0.0 only with authentication")


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_basic_passwords_are_read_as_bearer_tokens() -> None:
    assert bearer(basic("anyone", TOKEN)) == f"Bearer {TOKEN}"
    assert bearer(f"Bearer {TOKEN}") == f"Bearer {TOKEN}"
    assert bearer("Basic not-base64!") is None
    assert bearer(basic("anyone", "")) is None
    assert bearer(None) is None


async def test_with_a_token_every_page_needs_it(warehouse: Warehouse) -> None:
    guard = Authenticator(access(codec_server_token=TOKEN))
    async with client(warehouse.engine, authenticator=guard) as http:
        for path in ("/", "/map.json", "/funnel", "/experiments.json", "/static/dashboard.css"):
            refused = await http.get(path)
            assert refused.status_code == 401, path
            challenges = refused.headers.get_list("www-authenticate")
            assert challenges == [
                'Basic realm="onboarding dashboard", charset="UTF-8"',
                'Bearer realm="onboarding dashboard"',
            ]
            assert refused.text.count("\n") == 1
            wrong = await http.get(path, headers={"Authorization": f"Bearer {TOKEN}x"})
            assert wrong.status_code == 401
            assert (await http.get(path, auth=("ops", f"{TOKEN}x"))).status_code == 401
            bearer_ok = await http.get(path, headers={"Authorization": f"Bearer {TOKEN}"})
            assert bearer_ok.status_code == 200, path
            assert (await http.get(path, auth=("ops", TOKEN))).status_code == 200, path
        # A load balancer's health check needs no token, and learns nothing.
        assert (await http.get("/healthz")).text == "ok\n"
