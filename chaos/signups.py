"""Signups in: the run's signups, and their delivery to the webhook as signed Standard Webhooks
requests, sent again while the webhook answers 503 (Temporal away) as a patient sender would."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
from standardwebhooks.webhooks import Webhook

from chaos.checks import Journey
from sandbox import expected_outcome, sample_signups


def signups(tag: str, count: int) -> list[Journey]:
    """``count`` signups, round-robin over every sample (each branch, an unknown company and a
    role address), with their own user id and email address so each is its own journey."""
    samples = sample_signups()
    journeys = []
    for n in range(count):
        sample = dict(samples[n % len(samples)])
        local, _, domain = str(sample["email"]).partition("@")
        sample["user_id"] = f"chaos-{tag}-{n:04d}"
        sample["email"] = f"{local}+{tag}{n}@{domain}"
        journeys.append(Journey(sample["user_id"], sample, expected_outcome(sample["email"])))
    return journeys


def enterprise_signups(tag: str, count: int) -> list[Journey]:
    """``count`` signups from the company that gets a sales alert."""
    sample = next(s for s in sample_signups() if expected_outcome(s["email"]) == "sales_alerted")
    local, _, domain = str(sample["email"]).partition("@")
    return [
        Journey(
            f"chaos-{tag}-alert-{n:02d}",
            {**sample, "user_id": f"chaos-{tag}-alert-{n:02d}", "email": f"{local}+a{n}@{domain}"},
            "sales_alerted",
        )
        for n in range(count)
    ]


class Sender:
    """Delivers signups to the webhook at ``url``, signed with ``secret``."""

    def __init__(self, url: str, secret: str, on_event: Callable[[str], None]) -> None:
        self.url = url
        self.signer = Webhook(secret)
        self.on_event = on_event
        self.http = httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=3.0))
        self.answered_503 = 0
        self.connection_errors = 0

    async def deliver(self, journey: Journey, give_up_after: float = 300.0) -> None:
        """One delivery, sent again (signed afresh) while the webhook answers 503."""
        body = json.dumps(journey.signup)
        message_id = f"msg_{journey.user_id}"
        deadline = time.monotonic() + give_up_after
        while time.monotonic() < deadline:
            now = int(time.time())
            headers = {
                "content-type": "application/json",
                "webhook-id": message_id,
                "webhook-timestamp": str(now),
                "webhook-signature": self.signer.sign(
                    message_id, datetime.fromtimestamp(now, UTC), body
                ),
            }
            try:
                response = await self.http.post(self.url, content=body, headers=headers)
            except httpx.TransportError:
                self.connection_errors += 1
                await asyncio.sleep(0.5)
                continue
            if response.status_code in (200, 201, 202):
                journey.accepted = True
                return
            if response.status_code == 503:
                self.answered_503 += 1
                retry_after = float(response.headers.get("retry-after", "1") or 1)
                # A patient sender would wait the full Retry-After; the run has a clock to beat.
                await asyncio.sleep(min(retry_after, 1.0))
                continue
            journey.failure = f"the webhook refused the signup: HTTP {response.status_code}"
            self.on_event(f"[red]{journey.workflow_id}: {journey.failure} {response.text[:200]}")
            return
        journey.failure = "the webhook did not accept the signup in time"

    async def spread(
        self,
        journeys: list[Journey],
        window: float,
        concurrency: int,
        delivered: Callable[[], None],
    ) -> None:
        """Every delivery, evenly over ``window`` seconds, ``concurrency`` at a time at most;
        ``delivered()`` after each."""
        gate = asyncio.Semaphore(concurrency)
        begin = time.monotonic()
        spacing = window / max(len(journeys), 1)

        async def one(n: int, journey: Journey) -> None:
            await asyncio.sleep(max(0.0, begin + n * spacing - time.monotonic()))
            async with gate:
                await self.deliver(journey)
            delivered()

        await asyncio.gather(*(one(n, j) for n, j in enumerate(journeys)))

    async def close(self) -> None:
        await self.http.aclose()
