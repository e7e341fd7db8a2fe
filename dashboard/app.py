"""``onboarding dashboard``: the journey map, the funnel and the experiments, as server-rendered
pages (no script needed) and as JSON (``/map.json``, ``/funnel.json``, ``/experiments.json``).

Counts and rates only: no workflow ID, address or name ever reaches a page. The map's numbers come
from Temporal visibility (``counts.py``), the funnel's and the experiments' from the warehouse's
journeys table (the ``analytics`` package). On loopback it needs no sign-in unless the codec
server's authentication is configured; anywhere else it refuses to start without it.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import logging
import logging.config
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
import uvicorn
from jinja2 import Environment, FileSystemLoader
from markupsafe import Markup
from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from activities.warehouse import Warehouse
from analytics.experiments import (
    DEFAULT_MIN_SAMPLE,
    DEFAULT_WINDOW,
    experiment_names,
    experiment_report,
)
from analytics.funnel import STAGES as FUNNEL_STAGES
from analytics.funnel import funnel, to_dict
from common.codec_server import (
    Authenticator,
    CodecServerSettings,
    Unauthorized,
    check_settings,
    is_loopback,
)
from common.connection import connect_config
from common.durations import is_offset, parse_offset
from common.serving import ListenError, listen
from common.serving import log_config as serving_log_config
from dashboard.counts import (
    CACHE_SECONDS,
    CachedCounts,
    CountSource,
    CountsUnavailable,
    TemporalCounts,
    Window,
)
from dashboard.journey_map import Kind, Node, journey_map, render_svg, share_text
from dashboard.settings import DashboardSettings
from starter.experiment import parse_experiment
from starter.settings import JourneySettings

log = logging.getLogger("onboarding.dashboard")

HERE = Path(__file__).parent
DEFAULT_PORT = 8090
DEFAULT_WINDOW_CHOICE = Window.WEEK
DEFAULT_WEEKS = 8
MAX_WEEKS = 52
MAX_SAMPLE = 1_000_000
REALM = "onboarding dashboard"
# Pages reload themselves (no script): the map as often as its counts can change.
MAP_REFRESH_SECONDS = int(CACHE_SECONDS)
TABLE_REFRESH_SECONDS = 300
OPEN_PATHS = frozenset({"/healthz"})


class DashboardConfigError(Exception):
    """The dashboard cannot start; the message is one line saying what to fix."""


class BadRequest(Exception):
    """A query parameter the page cannot use; the message is one sentence."""


def ui_list_url(ui_url: str, namespace: str, query: str) -> str:
    """The Temporal Web UI's workflow list filtered by ``query``."""
    return (
        f"{ui_url.rstrip('/')}/namespaces/{quote(namespace, safe='')}/workflows"
        f"?query={quote(query, safe='')}"
    )


# --- formatting for the templates ---------------------------------------------------------

NONE = "\u2013"  # an en dash: nothing to show, or a range between two numbers


def percent(value: float | None, places: int = 1) -> str:
    return NONE if value is None else f"{value * 100:.{places}f}%"


def points(value: float | None) -> str:
    """A difference of two rates in percentage points: ``+3.2 pts``."""
    return NONE if value is None else f"{value * 100:+.1f} pts"


def interval(pair: list[float] | tuple[float, float] | None, difference: bool = False) -> str:
    if pair is None:
        return NONE
    low, high = pair
    if difference:
        return f"{low * 100:+.1f} to {high * 100:+.1f} pts"
    return f"{low * 100:.1f}{NONE}{high * 100:.1f}%"


def sparkline(weeks: list[dict[str, Any]], top: float) -> Markup:
    """A variant's weekly rates as a small line, on a scale shared by the variants (``top``).
    Settled weeks are solid; weeks still open (their conversions may still come in) are hollow
    dots on a dashed line; a week without exposed journeys is a gap."""
    width, height, pad = 168, 40, 4
    step = (width - 2 * pad) / max(1, len(weeks) - 1)
    scale = top if top > 0 else 1.0
    lines: list[str] = []
    dots: list[str] = []
    previous: tuple[float, float] | None = None
    for index, week in enumerate(weeks):
        rate = week.get("rate")
        if rate is None:
            previous = None
            continue
        x = pad + index * step
        y = height - pad - (height - 2 * pad) * min(rate, scale) / scale
        state = "settled" if week.get("settled") else "open"
        if previous is not None:
            lines.append(
                f'<line class="{state}" x1="{previous[0]:.1f}" y1="{previous[1]:.1f}" '
                f'x2="{x:.1f}" y2="{y:.1f}"/>'
            )
        previous = (x, y)
        label = f"{week['week']}: {percent(rate)} of {week.get('exposed', 0)} exposed"
        if state == "open":
            label += " (open: conversions may still come in)"
        dots.append(
            f'<circle class="{state}" cx="{x:.1f}" cy="{y:.1f}" r="2.6">'
            f"<title>{Markup.escape(label)}</title></circle>"
        )
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" class="sparkline" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="weekly conversion rate">'
        f'<line class="axis" x1="{pad}" y1="{height - pad}" x2="{width - pad}" '
        f'y2="{height - pad}"/>{"".join(lines)}{"".join(dots)}</svg>'
    )


def _templates() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(HERE / "templates"), autoescape=True, trim_blocks=True
    )
    environment.filters.update(
        percent=percent,
        points=points,
        interval=interval,
        number=lambda value: f"{value:,}",
        words=lambda value: str(value).replace("_", " "),
    )
    environment.globals.update(sparkline=sparkline, share_text=share_text)
    return environment


# --- authentication -----------------------------------------------------------------------


def bearer(authorization: str | None) -> str | None:
    """The header as the authenticator reads it: HTTP Basic's password is taken as the token,
    so a browser can sign in; anything else is passed on as it is."""
    scheme, _, credentials = (authorization or "").strip().partition(" ")
    if scheme.lower() != "basic":
        return authorization
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    _, _, password = decoded.partition(":")
    return f"Bearer {password}" if password else None


class RequireSignIn:
    """Every request but ``/healthz`` passes the authenticator: a bearer token, or HTTP Basic
    with the token (or an access token) as the password."""

    def __init__(self, app: ASGIApp, authenticator: Authenticator) -> None:
        self.app = app
        self.authenticator = authenticator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.authenticator.enabled or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        authorization = Headers(scope=scope).get("authorization")
        try:
            await run_in_threadpool(self.authenticator.check, bearer(authorization))
        except Unauthorized as exc:
            response = PlainTextResponse(f"{exc}\n", status_code=401)
            response.headers.append("WWW-Authenticate", f'Basic realm="{REALM}", charset="UTF-8"')
            response.headers.append("WWW-Authenticate", f'Bearer realm="{REALM}"')
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


# --- the app ------------------------------------------------------------------------------


def _choice(request: Request, name: str, default: str, allowed: Mapping[str, Any]) -> Any:
    value = request.query_params.get(name, default)
    if value not in allowed:
        raise BadRequest(f"{name} must be {', '.join(list(allowed)[:-1])} or {list(allowed)[-1]}.")
    return allowed[value]


def _min_sample(request: Request, default: int) -> int:
    text = request.query_params.get("min_sample", str(default))
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_SAMPLE:
        raise BadRequest(f"min_sample must be a whole number from 1 to {MAX_SAMPLE}.")
    return int(text)


def _within(request: Request, default: timedelta) -> timedelta:
    text = request.query_params.get("within")
    if text is None:
        return default
    if not is_offset(text) or not parse_offset(text):
        raise BadRequest("within must be a duration longer than 0s, like 14d or 36h.")
    return parse_offset(text)


def _weeks(request: Request) -> int:
    text = request.query_params.get("weeks", str(DEFAULT_WEEKS))
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_WEEKS:
        raise BadRequest(f"weeks must be a whole number from 1 to {MAX_WEEKS}.")
    return int(text)


@dataclass(frozen=True)
class Experiments:
    """How the experiments are judged: the configured experiment's control, the minimum sample
    below which nothing is declared, and the conversion window."""

    control: str | None = None
    configured: str | None = None  # the experiment EMAIL_EXPERIMENT names
    min_sample: int = DEFAULT_MIN_SAMPLE
    conversion_window: timedelta = DEFAULT_WINDOW


def create_app(
    counts: CountSource,
    *,
    namespace: str,
    emails: int,
    warehouse: sa.Engine,
    ui_url: str = "http://localhost:8233",
    authenticator: Authenticator | None = None,
    experiments: Experiments | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    cache_seconds: float = CACHE_SECONDS,
) -> Starlette:
    """The dashboard over ``counts`` (a Temporal client's, in production) and ``warehouse``, for
    journeys of ``emails`` emails, linking to the Web UI at ``ui_url``."""
    graph = journey_map(emails)
    cached = CachedCounts(
        counts, stages=graph.stages, outcomes=graph.outcomes, ttl=cache_seconds, now=now
    )
    judged = experiments or Experiments()
    templates = _templates()

    def link(query: str) -> str:
        return ui_list_url(ui_url, namespace, query)

    def page(request: Request, name: str, refresh: int, **context: Any) -> HTMLResponse:
        """The page ``name``, pointing to its JSON form with the same parameters."""
        path = "/map" if request.url.path == "/" else request.url.path
        json_link = f"{path}.json" + (f"?{request.url.query}" if request.url.query else "")
        html = templates.get_template(name).render(
            refresh=refresh, page=name, json_link=json_link, **context
        )
        return HTMLResponse(html)

    def guarded(
        endpoint: Callable[[Request], Awaitable[Response]], *, json: bool
    ) -> Callable[[Request], Awaitable[Response]]:
        """One line for a person (or a script) when a parameter or a source fails."""

        async def handle(request: Request) -> Response:
            try:
                return await endpoint(request)
            except BadRequest as exc:
                status, message = 400, str(exc)
            except CountsUnavailable as exc:
                status, message = 503, str(exc)
            except SQLAlchemyError as exc:
                log.warning("cannot read the warehouse: %s", type(exc).__name__)
                status = 503
                message = (
                    f"The warehouse cannot be read now ({type(exc).__name__}); check WAREHOUSE_URL."
                )
            if json:
                return JSONResponse({"error": message}, status_code=status)
            return PlainTextResponse(f"{message}\n", status_code=status)

        return handle

    async def map_counts(request: Request) -> Any:
        window = _choice(request, "window", DEFAULT_WINDOW_CHOICE, {w.value: w for w in Window})
        return await cached.map_counts(window)

    async def map_page(request: Request) -> Response:
        numbers = await map_counts(request)
        queries = numbers.queries

        def node_link(node: Node) -> str:
            if node.kind is Kind.START:
                return link(queries.running())
            if node.kind is Kind.STAGE:
                return link(queries.stage(node.value))
            return link(queries.outcome(node.value))

        svg = Markup(render_svg(graph, numbers, link=node_link))
        stage_nodes = [n for n in graph.nodes if n.kind is Kind.STAGE]
        outcome_nodes = [n for n in graph.nodes if n.kind is Kind.OUTCOME]
        return page(
            request,
            "map.html",
            MAP_REFRESH_SECONDS,
            svg=svg,
            counts=numbers,
            windows=list(Window),
            stage_nodes=stage_nodes,
            outcome_nodes=outcome_nodes,
            node_link=node_link,
            cache_seconds=int(cache_seconds),
        )

    async def map_json(request: Request) -> Response:
        numbers = await map_counts(request)
        return JSONResponse(numbers.to_dict(link))

    async def read_funnel(request: Request) -> dict[str, Any]:
        weeks = _weeks(request)
        cohorts = await run_in_threadpool(funnel, warehouse, weeks, now())
        return to_dict(cohorts)

    async def funnel_page(request: Request) -> Response:
        data = await read_funnel(request)
        return page(
            request,
            "funnel.html",
            TABLE_REFRESH_SECONDS,
            data=data,
            stages=FUNNEL_STAGES,
            weeks=len(data["cohorts"]),
            week_choices=[4, 8, 12, 26, 52],
        )

    async def funnel_json(request: Request) -> Response:
        return JSONResponse(await read_funnel(request))

    def read_experiments(
        name: str | None, weeks: int, min_sample: int, within: timedelta
    ) -> tuple[dict[str, Any], list[str]]:
        names = experiment_names(warehouse)
        chosen = name or (names[0] if names else None)
        report = experiment_report(
            warehouse,
            chosen,
            now=now(),
            control=judged.control if chosen == judged.configured else None,
            conversion_window=within,
            min_sample=min_sample,
            weeks=weeks,
        )
        return report.to_dict(), names

    async def experiment_data(request: Request) -> tuple[dict[str, Any], list[str]]:
        weeks = _weeks(request)
        min_sample = _min_sample(request, judged.min_sample)
        within = _within(request, judged.conversion_window)
        name = request.query_params.get("experiment") or None
        return await run_in_threadpool(read_experiments, name, weeks, min_sample, within)

    async def experiments_page(request: Request) -> Response:
        data, names = await experiment_data(request)
        rates = [
            week["rate"]
            for variant in data["variants"]
            for week in variant["weeks"]
            if week["rate"] is not None
        ]
        return page(
            request,
            "experiments.html",
            TABLE_REFRESH_SECONDS,
            data=data,
            names=names,
            top=max(rates, default=0.0),
            weeks=_weeks(request),
        )

    async def experiments_json(request: Request) -> Response:
        data, names = await experiment_data(request)
        return JSONResponse({**data, "experiments": names})

    async def healthz(_: Request) -> Response:
        return PlainTextResponse("ok\n")

    app = Starlette(
        routes=[
            Route("/", guarded(map_page, json=False)),
            Route("/map.json", guarded(map_json, json=True)),
            Route("/funnel", guarded(funnel_page, json=False)),
            Route("/funnel.json", guarded(funnel_json, json=True)),
            Route("/experiments", guarded(experiments_page, json=False)),
            Route("/experiments.json", guarded(experiments_json, json=True)),
            Route("/healthz", healthz),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ]
    )
    guard = authenticator or Authenticator.unauthenticated()
    app.add_middleware(RequireSignIn, authenticator=guard)
    app.state.authenticated = guard.enabled
    return app


# --- serving ------------------------------------------------------------------------------


def check_access(access: CodecServerSettings, host: str) -> None:
    """Refuse (DashboardConfigError) a bind beyond loopback without authentication, and the
    codec server's own configuration mistakes (a short token, half a JWT configuration)."""
    problems = check_settings(access, host="127.0.0.1", insecure_dev=True)
    if problems:
        raise DashboardConfigError(" ".join(problems))
    if not is_loopback(host) and not (access.has_static_token or access.has_jwt):
        raise DashboardConfigError(
            f"The dashboard serves {host} only with authentication: set CODEC_SERVER_TOKEN "
            "(or CODEC_JWKS_URL, CODEC_JWT_ISSUER and CODEC_JWT_AUDIENCE), or serve on 127.0.0.1."
        )


def experiments_of(journeys: JourneySettings) -> Experiments:
    experiment = parse_experiment(journeys.email_experiment)
    if experiment is None:
        return Experiments()
    return Experiments(control=experiment.control, configured=experiment.name)


def serve(
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    settings: DashboardSettings,
    access: CodecServerSettings,
    journeys: JourneySettings,
) -> None:
    """Run the dashboard in the foreground until Ctrl+C; raises DashboardConfigError to refuse."""
    check_access(access, host)
    try:
        sock = listen(host, port)
    except ListenError as exc:
        raise DashboardConfigError(str(exc)) from None
    authenticator = Authenticator(access)
    app = create_app(
        TemporalCounts(),
        namespace=str(connect_config()["namespace"]),
        emails=len(journeys.email_schedule),
        warehouse=Warehouse(settings.warehouse_url).engine,
        ui_url=settings.temporal_ui_url,
        authenticator=authenticator,
        experiments=experiments_of(journeys),
    )
    log_config = serving_log_config("onboarding")
    logging.config.dictConfig(log_config)
    shown = "127.0.0.1" if host in {"0.0.0.0", ""} else host
    address = f"[{shown}]" if ":" in shown else shown
    guarded = "sign-in required" if authenticator.enabled else "no sign-in (loopback only)"
    log.info(
        "Dashboard on http://%s:%d: the journey map at /, /funnel, /experiments (JSON: "
        "/map.json, /funnel.json, /experiments.json); %s.",
        address,
        sock.getsockname()[1],
        guarded,
    )
    # No access log: a page's address says nothing a person needs, and keeps query values out.
    server = uvicorn.Server(
        uvicorn.Config(app, log_config=log_config, access_log=False, timeout_graceful_shutdown=5)
    )
    # uvicorn re-raises the Ctrl+C it already handled; the shutdown was clean.
    with contextlib.suppress(KeyboardInterrupt):
        server.run(sockets=[sock])
