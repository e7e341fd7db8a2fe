"""The journey map: the journey's stages and outcomes as a graph laid out by hand, drawn as SVG.

The nodes come from the code's own lists (``stage_labels`` and ``Outcome``), so the map cannot
drift from the workflow: a stage or outcome without a hand-made place is still drawn, in the band
at the bottom, never dropped. Values the code does not know are counted in the two "other" nodes.

Columns run left to right as the journey does: signup, enrich, save, check the stack, save it,
then one column per email, its wait on the main row and its send half a column on, below it, so
the emails zigzag. Outcomes decided early hang above the step that decides them, the enterprise
branch below its step; what can happen at any step (pause, the send window, a stop by signal or
email event) sits in the band at the bottom.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from html import escape
from typing import Protocol

from workflows.models import PAUSED, Outcome, Stage, stage_labels

OTHER = "other"


class Kind(StrEnum):
    START = "start"
    STAGE = "stage"
    OUTCOME = "outcome"


class Row:
    """The map's rows, top to bottom; the band's rows follow ``BAND``."""

    EARLY = 0  # outcomes decided before the emails
    MAIN = 1  # the steps every journey takes
    BELOW = 2  # waits, the enterprise branch, the sends
    BRANCH = 3  # the enterprise branch's outcome
    BAND = 4  # at any step: held, stopped, other


@dataclass(frozen=True)
class Node:
    kind: Kind
    value: str  # the JourneyStage or JourneyOutcome value, or "other"; "" for the start
    column: float
    row: int
    tone: str  # how it is drawn: step, wait, good, early, stop, other, start

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.value}"

    @property
    def title(self) -> str:
        if self.kind is Kind.START:
            return "Signup"
        if self.value == OTHER:
            return "Other stage" if self.kind is Kind.STAGE else "Other ending"
        waiting = f"{Stage.WAITING_EMAIL}_"
        if self.value.startswith(waiting):
            return f"Waiting for email {self.value.removeprefix(waiting)}"
        if self.value == Stage.WAITING_SEND_WINDOW:
            return "Waiting for the send window"
        return self.value.replace("_", " ").capitalize()


@dataclass(frozen=True)
class Edge:
    source: str  # a node's key
    target: str
    label: str = ""
    wait: bool = False  # a wait and back: dashed, arrows at both ends
    leave: float = 0.0  # where it leaves the source, from its centre, in half widths
    arrive: float = 0.0  # where it meets the target, likewise


@dataclass(frozen=True)
class BandLabel:
    text: str
    column: float
    row: int


@dataclass(frozen=True)
class JourneyMap:
    emails: int
    columns: int
    rows: int
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    bands: tuple[BandLabel, ...]

    stages: tuple[str, ...]  # every stage value, in the journey's order, then "other"
    outcomes: tuple[str, ...]  # every outcome value, then "other"

    def node(self, key: str) -> Node:
        for node in self.nodes:
            if node.key == key:
                return node
        raise KeyError(key)


# The hand-made places: (column, row). Email columns follow SAVING_STACK's.
_STAGE_PLACES: dict[str, tuple[float, int]] = {
    Stage.ENRICHING: (1, Row.MAIN),
    Stage.WAITING_FOR_ENRICHMENT: (1, Row.BELOW),
    Stage.SAVING_ENRICHMENT: (2, Row.MAIN),
    Stage.ALERTING_SALES: (2, Row.BELOW),
    Stage.CHECKING_STACK: (3, Row.MAIN),
    Stage.WAITING_FOR_STACK: (3, Row.BELOW),
    Stage.SAVING_STACK: (4, Row.MAIN),
}
_FIRST_EMAIL_COLUMN = 5
_EARLY_OUTCOMES: dict[str, tuple[float, int]] = {
    Outcome.INVALID_EMAIL: (0, Row.EARLY),
    Outcome.NOT_ENRICHED: (1, Row.EARLY),
    Outcome.NO_COMPANY: (2, Row.EARLY),
    Outcome.NO_INTEGRATION: (3.5, Row.EARLY),
    Outcome.SALES_ALERTED: (2, Row.BRANCH),
}
# Held, or stopped, at any step: the band at the bottom, in this order.
_HELD = (PAUSED, Stage.WAITING_SEND_WINDOW.value)
_STOPPED = tuple(
    o.value for o in (Outcome.UNSUBSCRIBED, Outcome.CONVERTED, Outcome.BOUNCED, Outcome.COMPLAINED)
)
_GOOD = {Outcome.SALES_ALERTED, Outcome.EMAILS_COMPLETED, Outcome.CONVERTED}
_WAITS = {Stage.WAITING_FOR_ENRICHMENT, Stage.WAITING_FOR_STACK, Stage.WAITING_SEND_WINDOW, PAUSED}


def _email_place(label: str) -> tuple[float, int] | None:
    """``waiting_email_2`` and ``sending_email_2``: email 2's wait in its column, its send half a
    column on and a row below, so the emails zigzag: wait, send, next wait."""
    for stage, row, shift in (
        (Stage.WAITING_EMAIL, Row.MAIN, 0.0),
        (Stage.SENDING_EMAIL, Row.BELOW, 0.5),
    ):
        number = label.removeprefix(f"{stage}_")
        if number != label and number.isdigit():
            return _FIRST_EMAIL_COLUMN + int(number) - 1 + shift, row
    return None


def _stage_tone(label: str) -> str:
    if label == OTHER:
        return "other"
    waiting = label in _WAITS or label.startswith(f"{Stage.WAITING_EMAIL}_")
    return "wait" if waiting else "step"


def _outcome_tone(outcome: str) -> str:
    if outcome == OTHER:
        return "other"
    if outcome in _GOOD:
        return "good"
    return "stop" if outcome in _STOPPED else "early"


def _flow(count: int, first: int, row: int, columns: int) -> list[tuple[float, int]]:
    """``count`` places left to right from ``first``, onto the next row when a row is full."""
    places = []
    column = first
    for _ in range(count):
        if column >= columns:
            column, row = 0, row + 1
        places.append((float(column), row))
        column += 1
    return places


def journey_map(emails: int) -> JourneyMap:
    """The map of a journey that sends ``emails`` onboarding emails."""
    if emails < 1:
        raise ValueError("a journey sends at least one onboarding email")
    columns = _FIRST_EMAIL_COLUMN + emails + 1
    completed_column = float(_FIRST_EMAIL_COLUMN + emails)
    nodes: list[Node] = [Node(Kind.START, "", 0, Row.MAIN, "start")]
    unplaced: list[str] = []
    for label in stage_labels(emails):
        place = _STAGE_PLACES.get(label) or _email_place(label)
        if place is None:
            unplaced.append(label)  # PAUSED, the send window, and any stage without a place yet
        else:
            nodes.append(Node(Kind.STAGE, label, place[0], place[1], _stage_tone(label)))
    outcome_places = {**_EARLY_OUTCOMES, Outcome.EMAILS_COMPLETED: (completed_column, Row.MAIN)}
    unended: list[str] = []
    for outcome in Outcome:
        place = outcome_places.get(outcome)
        if place is None:
            unended.append(outcome.value)
        else:
            nodes.append(
                Node(Kind.OUTCOME, outcome.value, place[0], place[1], _outcome_tone(outcome))
            )

    # The band: the known ones in their order, then any newcomer, then "other".
    held = [*(s for s in _HELD if s in unplaced), *(s for s in unplaced if s not in _HELD), OTHER]
    stopped = [*(o for o in _STOPPED if o in unended), *(o for o in unended if o not in _STOPPED)]
    stopped.append(OTHER)
    held_places = _flow(len(held), 0, Row.BAND, columns)
    last_column, last_row = held_places[-1]
    stopped_first = int(last_column) + 2
    stopped_row = last_row
    if stopped_first + len(stopped) > columns:
        stopped_first, stopped_row = 0, last_row + 1
    stopped_places = _flow(len(stopped), stopped_first, stopped_row, columns)
    for label, (column, row) in zip(held, held_places, strict=True):
        nodes.append(Node(Kind.STAGE, label, column, row, _stage_tone(label)))
    for value, (column, row) in zip(stopped, stopped_places, strict=True):
        nodes.append(Node(Kind.OUTCOME, value, column, row, _outcome_tone(value)))

    bands = (
        BandLabel("Ended early", 0, Row.EARLY),
        BandLabel("Also running", 0, Row.BAND),
        BandLabel("Stopped, or ended another way", stopped_places[0][0], stopped_places[0][1]),
    )
    rows = max(node.row for node in nodes) + 1
    return JourneyMap(
        emails,
        columns,
        rows,
        tuple(nodes),
        _edges(emails),
        bands,
        stages=(*stage_labels(emails), OTHER),
        outcomes=(*(o.value for o in Outcome), OTHER),
    )


def _edges(emails: int) -> tuple[Edge, ...]:
    def stage(value: str) -> str:
        return f"{Kind.STAGE}:{value}"

    def outcome(value: str) -> str:
        return f"{Kind.OUTCOME}:{value}"

    edges = [
        Edge(f"{Kind.START}:", stage(Stage.ENRICHING)),
        Edge(stage(Stage.ENRICHING), stage(Stage.WAITING_FOR_ENRICHMENT), "queued", wait=True),
        Edge(stage(Stage.ENRICHING), outcome(Outcome.INVALID_EMAIL)),
        Edge(stage(Stage.ENRICHING), outcome(Outcome.NOT_ENRICHED)),
        Edge(stage(Stage.ENRICHING), stage(Stage.SAVING_ENRICHMENT)),
        Edge(stage(Stage.SAVING_ENRICHMENT), outcome(Outcome.NO_COMPANY)),
        Edge(stage(Stage.SAVING_ENRICHMENT), stage(Stage.ALERTING_SALES), "enterprise"),
        Edge(stage(Stage.ALERTING_SALES), outcome(Outcome.SALES_ALERTED)),
        Edge(stage(Stage.SAVING_ENRICHMENT), stage(Stage.CHECKING_STACK)),
        Edge(stage(Stage.CHECKING_STACK), stage(Stage.WAITING_FOR_STACK), "queued", wait=True),
        Edge(stage(Stage.CHECKING_STACK), outcome(Outcome.NO_INTEGRATION)),
        Edge(stage(Stage.CHECKING_STACK), stage(Stage.SAVING_STACK)),
        Edge(stage(Stage.SAVING_STACK), outcome(Outcome.NO_INTEGRATION)),
        Edge(stage(Stage.SAVING_STACK), stage(f"{Stage.WAITING_EMAIL}_1")),
    ]
    for number in range(1, emails + 1):
        waiting, sending = f"{Stage.WAITING_EMAIL}_{number}", f"{Stage.SENDING_EMAIL}_{number}"
        after = stage(f"{Stage.WAITING_EMAIL}_{number + 1}") if number < emails else None
        # The zigzag's short connectors: down from a wait's right, up from a send's right.
        edges.append(Edge(stage(waiting), stage(sending), leave=0.5, arrive=-0.5))
        edges.append(
            Edge(stage(sending), after or outcome(Outcome.EMAILS_COMPLETED), leave=0.5, arrive=-0.5)
        )
    return tuple(edges)


# --- drawing -------------------------------------------------------------------------------


class MapNumbers(Protocol):
    """What the map shows: journeys running, at each stage, and ended at each outcome."""

    @property
    def running(self) -> int: ...
    @property
    def ended(self) -> int: ...
    @property
    def stages(self) -> Mapping[str, int]: ...
    @property
    def outcomes(self) -> Mapping[str, int]: ...


PITCH = 148  # from one column's centre to the next
NODE_WIDTH = 132
NODE_HEIGHT = 62
MARGIN = 12
_ROW_Y = {Row.EARLY: 72, Row.MAIN: 188, Row.BELOW: 296, Row.BRANCH: 402}
_BAND_TOP = 522  # the first band row's centre
_BAND_PITCH = 100
_LINE = 14  # title line height
_TITLE_CHARACTERS = 17  # what a title line holds at the map's type size


def _x(column: float) -> float:
    return MARGIN + NODE_WIDTH / 2 + column * PITCH


def _y(row: int) -> float:
    return _ROW_Y.get(row, _BAND_TOP + (row - Row.BAND) * _BAND_PITCH)


def _lines(title: str) -> list[str]:
    """The title on one line, or on two of about equal length broken between words."""
    words = title.split()
    if len(title) <= _TITLE_CHARACTERS or len(words) < 2:
        return [title]
    splits = [(" ".join(words[:i]), " ".join(words[i:])) for i in range(1, len(words))]
    # The shortest longer line; of equals, the longer first line ("Waiting for" / "email 2").
    first, second = min(splits, key=lambda pair: (max(map(len, pair)), -len(pair[0])))
    return [first, second]


def _number(value: int) -> str:
    return f"{value:,}"


def share_text(count: int, ended: int) -> str:
    """``34%`` of the journeys that ended in the window; ``<1%`` for a few."""
    if not ended:
        return ""
    share = count / ended
    if 0 < share < 0.005:
        return "<1%"
    return f"{share:.0%}"


def _count(node: Node, counts: MapNumbers) -> int:
    if node.kind is Kind.START:
        return counts.running
    source = counts.stages if node.kind is Kind.STAGE else counts.outcomes
    return source.get(node.value, 0)


def _count_text(node: Node, counts: MapNumbers) -> str:
    count = _count(node, counts)
    if node.kind is Kind.START:
        return f"{_number(count)} running"
    if node.kind is Kind.STAGE:
        return f"{_number(count)} now"
    share = share_text(count, counts.ended)
    return f"{_number(count)} ended" + (f" · {share}" if share else "")


def _tooltip(node: Node, count_text: str) -> str:
    if node.kind is Kind.START:
        return f"All running journeys: {count_text}. Opens the list in the Temporal Web UI."
    what = "JourneyStage" if node.kind is Kind.STAGE else "JourneyOutcome"
    value = node.value
    if value == OTHER:
        value = "a value this version does not know, or none"
    return f"{what}: {value} · {count_text}. Opens the list in the Temporal Web UI."


def _route(edge: Edge, source: Node, target: Node) -> tuple[str, float, float]:
    """The edge's path from ``source`` to ``target``, and where a label beside it goes."""
    sx, sy, tx, ty = _x(source.column), _y(source.row), _x(target.column), _y(target.row)
    half_w, half_h = NODE_WIDTH / 2, NODE_HEIGHT / 2
    if source.row == target.row:  # along a row: side to side
        step = half_w if tx > sx else -half_w
        x1, x2 = sx + step, tx - step
        bend = (x2 - x1) / 2
        path = f"M{x1:.0f},{sy:.0f} C{x1 + bend:.0f},{sy:.0f} {x2 - bend:.0f},{ty:.0f} {x2:.0f},{ty:.0f}"
        return path, (x1 + x2) / 2, sy
    down = ty > sy  # across rows: top to bottom
    x1, x2 = sx + edge.leave * half_w, tx + edge.arrive * half_w
    y1, y2 = sy + (half_h if down else -half_h), ty + (-half_h if down else half_h)
    bend = (y2 - y1) / 2
    path = (
        f"M{x1:.0f},{y1:.0f} C{x1:.0f},{y1 + bend:.0f} {x2:.0f},{y2 - bend:.0f} {x2:.0f},{y2:.0f}"
    )
    return path, (x1 + x2) / 2, (y1 + y2) / 2


def _edge_svg(edge: Edge, source: Node, target: Node) -> str:
    path, label_x, label_y = _route(edge, source, target)
    markers = 'marker-end="url(#arrow)"'
    if edge.wait:
        markers += ' marker-start="url(#arrow)"'
    parts = [f'<path class="edge{" wait" if edge.wait else ""}" d="{path}" {markers}/>']
    if edge.label:  # beside a vertical edge: the gaps between columns are too narrow for words
        parts.append(
            f'<text class="edge-label" x="{label_x + 6:.0f}" y="{label_y + 4:.0f}">'
            f"{escape(edge.label)}</text>"
        )
    return "".join(parts)


def _node_svg(node: Node, count_text: str, href: str, *, empty: bool) -> str:
    x, y = _x(node.column), _y(node.row)
    left, top = x - NODE_WIDTH / 2, y - NODE_HEIGHT / 2
    lines = _lines(node.title)
    first = top + 19 if len(lines) == 2 else top + 25
    texts = "".join(
        f'<text class="title" x="{x:.0f}" y="{first + i * _LINE:.0f}">{escape(line)}</text>'
        for i, line in enumerate(lines)
    )
    classes = f"node {node.kind} tone-{node.tone}" + (" empty" if empty else "")
    return (
        f'<a class="{classes}" href="{escape(href)}" data-key="{escape(node.key)}">'
        f"<title>{escape(_tooltip(node, count_text))}</title>"
        f'<rect x="{left:.0f}" y="{top:.0f}" width="{NODE_WIDTH}" height="{NODE_HEIGHT}" rx="9"/>'
        f"{texts}"
        f'<text class="count" x="{x:.0f}" y="{top + NODE_HEIGHT - 12:.0f}">'
        f"{escape(count_text)}</text></a>"
    )


_DEFS = (
    "<defs>"
    '<marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
    'orient="auto-start-reverse"><path d="M0,1 L9,5 L0,9 z" class="arrowhead"/></marker>'
    "</defs>"
)


def render_svg(graph: JourneyMap, counts: MapNumbers, *, link: Callable[[Node], str]) -> str:
    """The map as an SVG element: each stage with the journeys there now, each outcome with the
    journeys that ended there and their share of all that ended; every node links to
    ``link(node)``."""
    width = 2 * MARGIN + NODE_WIDTH + (graph.columns - 1) * PITCH
    height = _y(graph.rows - 1) + NODE_HEIGHT / 2 + MARGIN
    keys = {node.key: node for node in graph.nodes}
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="journey-map" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" height="{height:.0f}" '
        'role="img" aria-labelledby="journey-map-title">'
        '<title id="journey-map-title">The onboarding journey: journeys at each stage now, '
        "and how many ended at each outcome</title>",
        _DEFS,
    ]
    band_top = _y(Row.BAND) - NODE_HEIGHT / 2 - 30
    parts.append(
        f'<line class="band-rule" x1="{MARGIN}" y1="{band_top:.0f}" '
        f'x2="{width - MARGIN:.0f}" y2="{band_top:.0f}"/>'
    )
    for band in graph.bands:
        x = _x(band.column) - NODE_WIDTH / 2
        y = _y(band.row) - NODE_HEIGHT / 2 - 10
        parts.append(f'<text class="band" x="{x:.0f}" y="{y:.0f}">{escape(band.text)}</text>')
    for edge in graph.edges:
        parts.append(_edge_svg(edge, keys[edge.source], keys[edge.target]))
    for node in graph.nodes:
        text = _count_text(node, counts)
        parts.append(_node_svg(node, text, link(node), empty=not _count(node, counts)))
    parts.append("</svg>")
    return "".join(parts)
