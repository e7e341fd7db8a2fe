"""The dashboard against a real dev server (with its Web UI), a worker and the vendor sandbox:
journeys parked at several stages and ended at several outcomes, plus two at stages the code does
not know. Every count on the map equals the visibility count of its value, every node's link
carries exactly that value's query, headless Chromium shows those numbers on the page and opens the
Web UI lists with the matching journeys in them, and no page shows an address or a name.

The page's screenshot is kept in tests/dashboard/artifacts/."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from html import unescape
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from temporalio.client import Client

from activities.settings import VendorSettings
from activities.warehouse import Warehouse
from dashboard.app import create_app
from dashboard.counts import TemporalCounts
from sandbox import SandboxServer
from sandbox.fixtures import FIXTURES
from tests.conftest import RunningWorker, _worker
from tests.dashboard.support import (
    CHROMIUM,
    Seeder,
    chromium,
    dev_server_with_ui,
    seed,
    serving,
)
from workflows.models import Outcome, stage_labels

ARTIFACTS = Path(__file__).parent / "artifacts"
EMAILS = 3
JOURNEYS = "WorkflowType = 'OnboardingJourney'"
RUNNING = f"{JOURNEYS} AND ExecutionStatus = 'Running'"

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="needs Debian's chromium at /usr/bin/chromium (apt install chromium)",
)


def expected_query(key: str, since: str) -> str:
    """The visibility query of a node, written out here independently of the dashboard."""
    kind, _, value = key.partition(":")
    if kind == "start":
        return RUNNING
    ended = f"{JOURNEYS} AND ExecutionStatus != 'Running' AND CloseTime > '{since}'"
    if kind == "stage" and value != "other":
        return f"{RUNNING} AND JourneyStage = '{value}'"
    if kind == "outcome" and value != "other":
        return f"{ended} AND JourneyOutcome = '{value}'"
    if kind == "stage":
        known = ", ".join(f"'{label}'" for label in stage_labels(EMAILS))
        return f"{RUNNING} AND (JourneyStage IS NULL OR JourneyStage NOT IN ({known}))"
    known = ", ".join(f"'{outcome.value}'" for outcome in Outcome)
    return f"{ended} AND (JourneyOutcome IS NULL OR JourneyOutcome NOT IN ({known}))"


def node_links(page: str) -> dict[str, str]:
    """Each node's link on the page's map, by node key."""
    found = re.findall(r'<a class="node [^"]*" href="([^"]+)" data-key="([^"]+)"', page)
    return {unescape(key): unescape(href) for href, key in found}


def node_counts(dom: str) -> dict[str, str]:
    """The count line of each node, as the browser's DOM has it."""
    nodes = re.findall(r'data-key="([^"]+)">(.*?)</a>', dom, flags=re.S)
    counts = {}
    for key, inner in nodes:
        lines = re.findall(r'<text class="count"[^>]*>([^<]*)</text>', inner)
        counts[unescape(key)] = unescape(lines[0])
    return counts


def personal_data(names: list[str], emails: list[str]) -> list[str]:
    """What must never reach a page: the signups' addresses and names, and the people the
    sandbox's vendors know (the enrichment's answers)."""
    known = [
        part
        for fixture in FIXTURES.values()
        for part in (fixture.person.given_name, fixture.person.family_name)
    ]
    return [*emails, *names, *known]


@pytest.mark.timeout(600)
async def test_the_map_counts_what_visibility_counts(
    sandbox: SandboxServer, vendor_settings: VendorSettings, tmp_path: Path
) -> None:
    async with contextlib.AsyncExitStack() as stack:
        env, ui_url = await stack.enter_async_context(dev_server_with_ui())
        # Closed before the server stops: a worker left running would outlive its server.
        workers = await stack.enter_async_context(
            contextlib.aclosing(_worker(env.client, vendor_settings))
        )
        async for worker in workers:
            try:
                await exercise(worker, sandbox, ui_url, tmp_path)
            finally:
                sandbox.state.set_faults()  # the held journeys' calls may end


async def visibility_counts(client: Client, keys: list[str]) -> dict[str, int]:
    return {
        key: (await client.count_workflows(expected_query(key, "2000-01-01T00:00:00Z"))).count
        for key in keys
    }


async def exercise(
    worker: RunningWorker, sandbox: SandboxServer, ui_url: str, tmp_path: Path
) -> None:
    client = worker.client
    seeder = Seeder(worker)
    where = await seed(seeder, sandbox)
    expected = {key: len(ids) for key, ids in where.items()}
    expected["start:"] = sum(n for key, n in expected.items() if key.startswith("stage:"))
    # Visibility has caught up once every value counts what was seeded there.
    deadline = time.monotonic() + 60
    while (counts := await visibility_counts(client, list(expected))) != expected:
        assert time.monotonic() < deadline, f"visibility counts {counts}, not {expected}"
        await asyncio.sleep(0.3)
    warehouse = Warehouse(worker.settings.warehouse_url)
    app = create_app(
        TemporalCounts(client),
        namespace=client.namespace,
        emails=EMAILS,
        warehouse=warehouse.engine,
        ui_url=ui_url,
    )
    try:
        async with serving(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as http:
            await check_the_map(client, http, url, ui_url, where, expected, tmp_path)
            await check_no_personal_data(http, seeder, url, tmp_path)
    finally:
        warehouse.close()


async def check_the_map(
    client: Client,
    http: httpx.AsyncClient,
    url: str,
    ui_url: str,
    where: dict[str, list[str]],
    expected: dict[str, int],
    tmp_path: Path,
) -> None:
    data = (await http.get("/map.json?window=24h")).json()
    page = (await http.get("/?window=24h")).text
    since = data["since"]
    shown = {
        "start:": data["running"],
        **{f"stage:{value}": count for value, count in data["stages"].items()},
        **{f"outcome:{value}": count for value, count in data["outcomes"].items()},
    }
    assert set(shown) - {"start:"} == {
        *(f"stage:{label}" for label in [*stage_labels(EMAILS), "other"]),
        *(f"outcome:{outcome}" for outcome in [*(o.value for o in Outcome), "other"]),
    }
    links = node_links(page)
    assert set(links) == set(shown)
    for key, count in shown.items():
        query = expected_query(key, since)
        # The number on the map is the visibility count of its value...
        assert count == (await client.count_workflows(query)).count, key
        assert count == expected.get(key, 0), key
        # ...and its node opens the Web UI list of exactly that query.
        link = urlsplit(links[key])
        assert f"{link.scheme}://{link.netloc}" == ui_url
        assert link.path == f"/namespaces/{client.namespace}/workflows"
        assert parse_qs(link.query) == {"query": [query]}, key
    assert data["ended"] == sum(n for key, n in expected.items() if key.startswith("outcome:"))

    # What a browser shows: the same numbers, and a screenshot to look at.
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / ".gitignore").write_text("*\n")
    screenshot = ARTIFACTS / "journey-map.png"
    screenshot.unlink(missing_ok=True)
    profile = tmp_path / "chromium"
    await chromium(
        f"--screenshot={screenshot}",
        "--window-size=1400,1000",
        f"{url}/?window=24h",
        profile=profile,
    )
    assert screenshot.stat().st_size > 10_000
    print(f"journey map screenshot: {screenshot}")
    dom = await chromium("--dump-dom", f"{url}/?window=24h", profile=profile)
    counts = node_counts(dom)
    for key, count in shown.items():
        text = counts[key]
        unit = "running" if key == "start:" else "now" if key.startswith("stage:") else "ended"
        assert text.startswith(f"{count:,} {unit}"), (key, text)

    # The Web UI lists what the node says: the journeys seeded there, and no other.
    for key in ("stage:waiting_email_2", "stage:other", "outcome:converted", "outcome:other"):
        listed = await chromium(
            "--virtual-time-budget=10000", "--dump-dom", links[key], profile=profile
        )
        seeded = {workflow_id for ids in where.values() for workflow_id in ids}
        present = {workflow_id for workflow_id in seeded if workflow_id in listed}
        assert present == set(where[key]), key


async def check_no_personal_data(
    http: httpx.AsyncClient, seeder: Seeder, url: str, tmp_path: Path
) -> None:
    forbidden = personal_data(seeder.names, seeder.emails)
    pages = {
        path: (await http.get(path)).text
        for path in (
            "/",
            "/?window=7d",
            "/?window=30d",
            "/map.json",
            "/funnel",
            "/funnel.json",
            "/experiments",
            "/experiments.json",
        )
    }
    pages["browser"] = await chromium("--dump-dom", f"{url}/", profile=tmp_path / "chromium")
    # The real run's journeys are in the warehouse's funnel: it counts them, it names nobody.
    funnel = json.loads(pages["/funnel.json"])
    assert sum(cohort["started"] for cohort in funnel["cohorts"]) > 0
    for path, body in pages.items():
        # Whole words: "Sam" is a name, the "sam" of "min_sample" is not.
        found = [item for item in forbidden if re.search(rf"\b{re.escape(item)}\b", body, re.I)]
        assert not found, f"{path} shows {found}"
        assert not [workflow_id for workflow_id in seeder.ids if workflow_id in body], path
        assert not re.search(r"[\w.+-]+@[\w-]+\.[\w.]+", body), path
