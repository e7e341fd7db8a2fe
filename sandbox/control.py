"""The sandbox's own endpoints under ``/_sandbox``: inspect calls, inject faults, enforce rate
limits, script answers; each fake vendor adds its own (the emails Resend accepted...)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from activities.vendors import VENDOR_NAMES, VENDORS
from sandbox.fake import read_json
from sandbox.faults import Faults
from sandbox.fixtures import fixture_table, sample_signups
from sandbox.state import SandboxState


def _bad_request(message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=400)


def _unknown_vendor(vendor: object) -> JSONResponse:
    return _bad_request(f"unknown vendor '{vendor}'; choose from {list(VENDOR_NAMES)}")


def _titles() -> str:
    """``Clearbit, BuiltWith, Slack and Resend``."""
    *others, last = (vendor.title for vendor in VENDORS.values())
    return f"{', '.join(others)} and {last}" if others else last


def routes(state: SandboxState) -> list[Route]:
    vendor_routes = [route for fake in state.vendors.values() for route in fake.control_routes()]

    async def index(request: Request) -> JSONResponse:
        base = str(request.base_url).rstrip("/")
        return JSONResponse(
            {
                "sandbox": f"fake {_titles()} for onboarding journeys",
                "environment": base_urls(base, state),
                "control": [
                    "/_sandbox/calls",
                    "/_sandbox/faults",
                    "/_sandbox/rate-limits",
                    "/_sandbox/script",
                    "/_sandbox/fixtures",
                    *(route.path for route in vendor_routes),
                ],
            }
        )

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    async def list_calls(request: Request) -> JSONResponse:
        vendor = request.query_params.get("vendor")
        if vendor is not None and vendor not in VENDOR_NAMES:
            return _unknown_vendor(vendor)
        return JSONResponse({"calls": state.calls(vendor), "summary": state.summary()})

    async def reset(request: Request) -> JSONResponse:
        state.reset()
        return JSONResponse({"ok": True})

    async def get_faults(request: Request) -> JSONResponse:
        return JSONResponse(state.faults.to_dict())

    async def put_faults(request: Request) -> JSONResponse:
        body = await read_json(request)
        if not isinstance(body, dict):
            return _bad_request('send the faults as a JSON object, e.g. {"error_rate": 0.2}')
        try:
            faults = state.apply_faults(Faults.from_dict(body))
        except (TypeError, ValueError) as exc:
            return _bad_request(str(exc))
        return JSONResponse(faults.to_dict())

    async def clear_faults(request: Request) -> JSONResponse:
        state.clear_faults()
        return JSONResponse(state.faults.to_dict())

    async def get_rate_limits(request: Request) -> JSONResponse:
        return JSONResponse(state.rate_limits)

    async def put_rate_limits(request: Request) -> JSONResponse:
        body = await read_json(request)
        if not isinstance(body, dict):
            return _bad_request(
                'send requests per second per vendor as a JSON object, e.g. {"resend": 2}; '
                "{} lifts every limit"
            )
        try:
            return JSONResponse(state.set_rate_limits(body))
        except ValueError as exc:
            return _bad_request(str(exc))

    async def post_script(request: Request) -> JSONResponse:
        body = await read_json(request)
        if not isinstance(body, dict) or not isinstance(body.get("responses"), list):
            return _bad_request('send {"vendor": "...", "responses": [{"status": 500}, ...]}')
        vendor = body.get("vendor")
        if vendor not in VENDOR_NAMES:
            return _unknown_vendor(vendor)
        if not all(isinstance(r, dict) for r in body["responses"]):
            return _bad_request("each response must be an object with at least a status")
        try:
            state.script(vendor, body["responses"])
        except (TypeError, ValueError) as exc:
            return _bad_request(str(exc))
        return JSONResponse({"vendor": vendor, "pending": state.scripts_pending(vendor)})

    async def fixtures(request: Request) -> JSONResponse:
        return JSONResponse({"fixtures": fixture_table(), "sample_signups": sample_signups()})

    return [
        Route("/", index, methods=["GET"]),
        Route("/_sandbox/health", health, methods=["GET"]),
        Route("/_sandbox/calls", list_calls, methods=["GET"]),
        Route("/_sandbox/calls", reset, methods=["DELETE"]),
        Route("/_sandbox/faults", get_faults, methods=["GET"]),
        Route("/_sandbox/faults", put_faults, methods=["PUT"]),
        Route("/_sandbox/faults", clear_faults, methods=["DELETE"]),
        Route("/_sandbox/rate-limits", get_rate_limits, methods=["GET"]),
        Route("/_sandbox/rate-limits", put_rate_limits, methods=["PUT"]),
        Route("/_sandbox/script", post_script, methods=["POST"]),
        Route("/_sandbox/fixtures", fixtures, methods=["GET"]),
        *vendor_routes,
    ]


def base_urls(url: str, state: SandboxState) -> dict[str, str]:
    """Every environment variable a worker needs to talk to the sandbox at ``url``: each
    vendor's address and credential (the webhook's URL, which is both)."""
    return {k: v for fake in state.vendors.values() for k, v in fake.environment(url).items()}
