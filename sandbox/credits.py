"""An account's credits at a vendor that bills per lookup, and the control route that spends them
all, so a test can see how the journey meets "out of credits" in each vendor's own words."""

from __future__ import annotations

import threading

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sandbox.fake import read_json


class Credits:
    """What the account has left and what calls spent; every change takes the shared lock."""

    def __init__(self, lock: threading.RLock, allowance: int) -> None:
        self._lock = lock
        self.allowance = allowance
        """What the account starts with, and has again after a reset."""
        self.remaining = allowance
        self.spent = 0

    @property
    def exhausted(self) -> bool:
        with self._lock:
            return self.remaining <= 0

    def spend(self, credits: int) -> int:
        """Spend ``credits`` (no more than are left); returns what remains."""
        with self._lock:
            spent = min(credits, max(self.remaining, 0))
            self.remaining -= spent
            self.spent += spent
            return self.remaining

    def set_remaining(self, remaining: int) -> None:
        """Give the account exactly ``remaining`` credits: 0 runs it out, as a month of use does."""
        if isinstance(remaining, bool) or not isinstance(remaining, int) or remaining < 0:
            raise ValueError("remaining must be a whole number of credits, zero or more")
        with self._lock:
            self.remaining = remaining

    def reset(self) -> None:
        with self._lock:
            self.remaining, self.spent = self.allowance, 0

    def to_dict(self) -> dict[str, int]:
        with self._lock:
            return {"remaining": self.remaining, "spent": self.spent}


def credits_route(vendor: str, credits: Credits) -> Route:
    """``GET``/``PUT /_sandbox/<vendor>/credits``: read them, or set ``{"remaining": 0}``."""

    async def endpoint(request: Request) -> JSONResponse:
        if request.method == "PUT":
            body = await read_json(request)
            if not isinstance(body, dict) or set(body) != {"remaining"}:
                return JSONResponse(
                    {"error": 'send {"remaining": <credits>}; {"remaining": 0} runs them out'},
                    status_code=400,
                )
            try:
                credits.set_remaining(body["remaining"])
            except ValueError as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(credits.to_dict())

    return Route(f"/_sandbox/{vendor}/credits", endpoint, methods=["GET", "PUT"])
