"""The journey map is drawn from the code's own stages and outcomes: every one has a place, none
overlaps another, the SVG is well-formed, and every node links to its own list."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

import pytest

from dashboard import journey_map as jm
from dashboard.journey_map import OTHER, Kind, Node, journey_map, render_svg
from workflows.models import PAUSED, Outcome, Stage, stage_labels

SVG = "{http://www.w3.org/2000/svg}"


@dataclass
class Numbers:
    running: int = 0
    ended: int = 0
    stages: dict[str, int] = field(default_factory=dict)
    outcomes: dict[str, int] = field(default_factory=dict)


def numbered(emails: int) -> Numbers:
    """A distinct count for every node, so a number on the map names the node it belongs to."""
    graph = journey_map(emails)
    stages = {value: 100 + i for i, value in enumerate(graph.stages)}
    outcomes = {value: 500 + i for i, value in enumerate(graph.outcomes)}
    return Numbers(sum(stages.values()), sum(outcomes.values()), stages, outcomes)


def link(node: Node) -> str:
    return f"https://ui.example/list?node={node.key}"


@pytest.mark.parametrize("emails", [1, 3, 6])
def test_every_stage_and_outcome_has_a_node(emails: int) -> None:
    graph = journey_map(emails)
    assert graph.stages == (*stage_labels(emails), OTHER)
    assert graph.outcomes == (*(o.value for o in Outcome), OTHER)
    assert {n.value for n in graph.nodes if n.kind is Kind.STAGE} == set(graph.stages)
    assert {n.value for n in graph.nodes if n.kind is Kind.OUTCOME} == set(graph.outcomes)
    assert all(Stage.DONE.value not in value for value in graph.stages)


def test_every_current_member_has_a_hand_made_place() -> None:
    """A stage or outcome added to the workflow is drawn anyway (in the band at the bottom);
    this fails so that someone gives it its proper place in dashboard/journey_map.py."""
    band = {
        (node.kind, node.value)
        for node in journey_map(3).nodes
        if node.row >= jm.Row.BAND and node.value != OTHER
    }
    expected = {(Kind.STAGE, PAUSED), (Kind.STAGE, Stage.WAITING_SEND_WINDOW.value)} | {
        (Kind.OUTCOME, o.value)
        for o in (Outcome.UNSUBSCRIBED, Outcome.CONVERTED, Outcome.BOUNCED, Outcome.COMPLAINED)
    }
    assert band == expected, f"give these a place in dashboard/journey_map.py: {band - expected}"


def test_a_newcomer_without_a_place_is_drawn_in_the_band(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jm, "stage_labels", lambda emails: [*stage_labels(emails), "reviewing"])
    graph = journey_map(3)
    node = graph.node("stage:reviewing")
    assert node.row >= jm.Row.BAND
    assert graph.stages[-2:] == ("reviewing", OTHER)


@pytest.mark.parametrize("emails", [1, 2, 3, 4, 6])
def test_no_node_overlaps_another(emails: int) -> None:
    graph = journey_map(emails)
    boxes = [(jm._x(n.column), jm._y(n.row), n.key) for n in graph.nodes]
    for (x1, y1, a), (x2, y2, b) in itertools.combinations(boxes, 2):
        apart = abs(x1 - x2) >= jm.NODE_WIDTH + 8 or abs(y1 - y2) >= jm.NODE_HEIGHT + 8
        assert apart, f"{a} and {b} overlap"


def test_every_title_fits_its_box() -> None:
    for node in journey_map(3).nodes:
        lines = jm._lines(node.title)
        assert len(lines) <= 2
        assert all(len(line) <= jm._TITLE_CHARACTERS for line in lines), node.title


def test_every_edge_joins_two_nodes() -> None:
    graph = journey_map(3)
    keys = {node.key for node in graph.nodes}
    for edge in graph.edges:
        assert {edge.source, edge.target} <= keys
    # The main line, from the signup to the last email.
    targets = {(e.source, e.target) for e in graph.edges}
    assert ("stage:saving_stack", "stage:waiting_email_1") in targets
    assert ("stage:sending_email_3", "outcome:emails_completed") in targets
    assert ("stage:saving_enrichment", "stage:alerting_sales") in targets


def parsed(emails: int = 3, numbers: Numbers | None = None) -> tuple[ET.Element, Numbers]:
    numbers = numbers or numbered(emails)
    svg = render_svg(journey_map(emails), numbers, link=link)
    return ET.fromstring(svg), numbers  # raises on XML that is not well-formed


def nodes_of(root: ET.Element) -> dict[str, ET.Element]:
    return {a.get("data-key", ""): a for a in root.iter(f"{SVG}a")}


def texts(element: ET.Element) -> list[str]:
    return [t.text or "" for t in element.iter(f"{SVG}text")]


def test_the_svg_is_well_formed_and_every_node_links_to_its_list() -> None:
    root, _ = parsed()
    assert root.tag == f"{SVG}svg"
    anchors = nodes_of(root)
    assert set(anchors) == {node.key for node in journey_map(3).nodes}
    for key, anchor in anchors.items():
        assert anchor.get("href") == f"https://ui.example/list?node={key}"


def test_each_node_shows_its_own_number() -> None:
    root, numbers = parsed()
    anchors = nodes_of(root)
    for value, count in numbers.stages.items():
        assert f"{count:,} now" in texts(anchors[f"stage:{value}"])
    for value, count in numbers.outcomes.items():
        share = jm.share_text(count, numbers.ended)
        assert f"{count:,} ended · {share}" in texts(anchors[f"outcome:{value}"])
    assert f"{numbers.running:,} running" in texts(anchors["start:"])


def test_other_is_shown_even_at_zero_and_with_its_counts() -> None:
    numbers = Numbers(
        running=7, ended=4, stages={"enriching": 2, OTHER: 5}, outcomes={"converted": 1, OTHER: 3}
    )
    anchors = nodes_of(parsed(3, numbers)[0])
    assert "5 now" in texts(anchors["stage:other"])
    assert "3 ended · 75%" in texts(anchors["outcome:other"])
    assert "0 now" in texts(anchors["stage:paused"])
    assert "empty" in (anchors["stage:paused"].get("class") or "")
    assert "Other stage" in texts(anchors["stage:other"])
    assert "Other ending" in texts(anchors["outcome:other"])


def test_nothing_ended_shows_no_share() -> None:
    anchors = nodes_of(parsed(3, Numbers())[0])
    assert "0 ended" in texts(anchors["outcome:converted"])


def test_links_are_escaped() -> None:
    svg = render_svg(journey_map(1), Numbers(), link=lambda node: "https://ui.example/?a=1&b='2'")
    root = ET.fromstring(svg)
    assert {a.get("href") for a in root.iter(f"{SVG}a")} == {"https://ui.example/?a=1&b='2'"}


@pytest.mark.parametrize(
    ("count", "ended", "text"), [(1, 3, "33%"), (1, 400, "<1%"), (0, 5, "0%"), (2, 0, "")]
)
def test_share_text(count: int, ended: int, text: str) -> None:
    assert jm.share_text(count, ended) == text


def test_a_journey_sends_at_least_one_email() -> None:
    with pytest.raises(ValueError, match="at least one"):
        journey_map(0)
