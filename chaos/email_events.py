"""Email events in, mid-sequence: the one-click unsubscribe a mail client posts to the URL of an
email's ``List-Unsubscribe`` header, and the bounce or complaint the email's provider reports
(Resend signed the Svix way, Postmark with basic credentials), naming the email's ``email_ref``.

Each is sent a while after the journey's email 1 was accepted, and sent again while the webhook
answers 503 or cannot be reached, a bounded number of times, as a mail client or a provider
would. A bounce is then delivered a second time, as a provider replays an event whose answer it
missed. When each was sent and answered is kept on the journey's ``EmailEvent`` for ``checks``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import random
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from standardwebhooks.webhooks import Webhook

from activities.mailroom import ONE_CLICK, idempotency_key
from activities.suppression import REFERENCE_FIELD
from chaos.checks import EmailEvent, Journey
from devstack.stack import DevStack
from sandbox import SandboxState

UNSUBSCRIBE, BOUNCE, COMPLAINT = "unsubscribe", "bounce", "complaint"
# A mail client or a provider tries again, but not forever: 40 tries a second apart outlast the
# server restart and the webhook's reconnect.
MAX_ATTEMPTS = 40
RETRY_PAUSE_SECONDS = 1.0
# The replay of a bounce follows its first delivery by up to this long.
REPLAY_PAUSE_SECONDS = 2.0
POLL_SECONDS = 0.1
Delivery = Callable[[], tuple[bytes, dict[str, str]]]


def plan_email_events(
    journeys: Iterable[Journey], rng: random.Random, rates: dict[str, float], latest: float
) -> None:
    """Give a share of the journeys that will send emails an event each (``rates``: kind → share;
    a share above zero gives at least one journey), sent 0 to ``latest`` seconds after the
    journey's email 1 was accepted. The subsets do not overlap."""
    emailing = [j for j in journeys if j.expected == "emails_completed"]
    remaining = rng.sample(emailing, len(emailing))
    for kind, rate in rates.items():
        count = min(len(remaining), max(1, round(rate * len(emailing))) if rate > 0 else 0)
        for journey in remaining[:count]:
            journey.email_event = EmailEvent(kind, delay=rng.uniform(0.0, latest))
        remaining = remaining[count:]


@dataclass(frozen=True)
class FirstEmail:
    """A journey's email 1 as its provider received it."""

    provider: str
    message_id: str
    reference: str
    unsubscribe_url: str | None
    unsubscribe_post: str | None
    subject: str


class Inbox:
    """Each journey's email 1 as the sandbox recorded it, read incrementally (its lists only grow
    during a run)."""

    def __init__(self, state: SandboxState) -> None:
        self._state = state
        self._resend_seen = 0
        self._postmark_seen = 0
        self._found: dict[str, FirstEmail] = {}

    def _scan(self) -> None:
        resend = self._state.sent_emails()
        for email in resend[self._resend_seen :]:
            tags = dict(email.tags)
            self._keep(
                email.idempotency_key,
                FirstEmail(
                    "resend",
                    email.id,
                    tags.get(REFERENCE_FIELD, ""),
                    _url(email.header("List-Unsubscribe")),
                    email.header("List-Unsubscribe-Post"),
                    email.subject,
                ),
            )
        self._resend_seen = len(resend)
        postmark = self._state.postmark_messages()
        for message in postmark[self._postmark_seen :]:
            self._keep(
                message.metadata.get("journey_email"),
                FirstEmail(
                    "postmark",
                    message.message_id,
                    message.metadata.get(REFERENCE_FIELD, ""),
                    _url(message.header("List-Unsubscribe")),
                    message.header("List-Unsubscribe-Post"),
                    message.subject,
                ),
            )
        self._postmark_seen = len(postmark)

    def _keep(self, key: str | None, email: FirstEmail) -> None:
        if key and key.endswith("/email-1"):
            self._found.setdefault(key, email)

    async def first_email(self, journey: Journey, until: float) -> FirstEmail | None:
        """The journey's email 1 once a provider accepted it; None if not by ``until``."""
        key = idempotency_key(journey.workflow_id, 1)
        while time.monotonic() < until:
            self._scan()
            if key in self._found:
                return self._found[key]
            await asyncio.sleep(POLL_SECONDS)
        return None


def _url(header: str | None) -> str | None:
    """The https (here http) URL of a ``List-Unsubscribe`` header: ``<url>``, maybe among others."""
    for part in (header or "").split(","):
        part = part.strip().removeprefix("<").removesuffix(">")
        if part.startswith(("http://", "https://")):
            return part
    return None


class EmailEventSender:
    """Plays each journey's email event against the stack's webhook."""

    def __init__(self, stack: DevStack, record: Callable[[str], None]) -> None:
        self._url = stack.webhook_url
        self._resend = Webhook(stack.resend_secret)
        credentials = f"{stack.postmark_user}:{stack.postmark_password}".encode()
        self._postmark_auth = "Basic " + base64.b64encode(credentials).decode()
        self._inbox = Inbox(stack.sandbox.state)
        self._record = record
        self.http = httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=3.0))
        self.answered_503 = 0
        self.connection_errors = 0

    async def play(self, journey: Journey, until: float, rng: random.Random) -> None:
        """Wait for the journey's email 1, then for the event's delay, then deliver it (twice for
        a bounce)."""
        event = journey.email_event
        assert event is not None
        first = await self._inbox.first_email(journey, until)
        if first is None:
            event.failure = "its email 1 was never accepted"
            return
        event.provider = first.provider
        await asyncio.sleep(event.delay)
        if event.kind == UNSUBSCRIBE:
            if first.unsubscribe_url is None:
                event.failure = "email 1 carried no List-Unsubscribe URL"
                return
            body = (first.unsubscribe_post or ONE_CLICK).encode()
            form = {"content-type": "application/x-www-form-urlencoded"}
            await self._deliver(journey, first.unsubscribe_url, lambda: (body, form))
            return
        if first.provider == "postmark":
            url, delivery = f"{self._url}/email-events/postmark", self._postmark(journey, first)
        else:
            url, delivery = f"{self._url}/email-events/resend", self._resend_event(journey, first)
        if await self._deliver(journey, url, delivery) and event.kind == BOUNCE:
            await asyncio.sleep(rng.uniform(0.0, REPLAY_PAUSE_SECONDS))
            await self._deliver(journey, url, delivery, replay=True)

    async def _deliver(
        self, journey: Journey, url: str, delivery: Delivery, replay: bool = False
    ) -> bool:
        """POST until a 200, on 503 and connection errors at most ``MAX_ATTEMPTS`` times."""
        event = journey.email_event
        assert event is not None
        what = f"{journey.workflow_id}: {event.kind}" + (" replayed" if replay else "")
        for _ in range(MAX_ATTEMPTS):
            body, headers = delivery()  # signed afresh: the signature's timestamp moves on
            if event.first_sent_at is None:
                event.first_sent_at = time.time()
            if not replay:
                event.attempts += 1
            try:
                response = await self.http.post(url, content=body, headers=headers)
            except httpx.TransportError:
                self.connection_errors += 1
                await asyncio.sleep(RETRY_PAUSE_SECONDS)
                continue
            if response.status_code == 200:
                result = _result(response)
                if replay:
                    event.replays += 1
                    event.replay_results.append(result)
                else:
                    event.answered_at = time.time()
                    event.result = result
                self._record(f"{what} ({event.provider}) answered 200: {result}")
                return True
            if response.status_code == 503:
                self.answered_503 += 1
                retry_after = float(response.headers.get("retry-after", "1") or 1)
                await asyncio.sleep(min(retry_after, RETRY_PAUSE_SECONDS))
                continue
            event.failure = f"the webhook answered HTTP {response.status_code}"
            self._record(f"[red]{what}: {event.failure} {response.text[:200]}")
            return False
        event.failure = f"no 200 in {MAX_ATTEMPTS} attempts"
        self._record(f"[red]{what}: {event.failure}")
        return False

    def _resend_event(self, journey: Journey, first: FirstEmail) -> Delivery:
        """Resend's event about email 1, by the Svix message id its every retry keeps."""
        event = journey.email_event
        assert event is not None
        now = _now()
        data: dict[str, object] = {
            "email_id": first.message_id,
            "from": "Onboarding <onboarding@example.com>",
            "to": [journey.email],
            "subject": first.subject,
            "created_at": now,
            "tags": {"journey": "onboarding", REFERENCE_FIELD: first.reference},
        }
        if event.kind == BOUNCE:
            data["bounce"] = {
                "message": "The recipient's mailbox does not exist.",
                "subType": "General",
                "type": "Permanent",
            }
        kind = "email.bounced" if event.kind == BOUNCE else "email.complained"
        body = json.dumps({"type": kind, "created_at": now, "data": data})
        message_id = f"msg_{uuid.uuid5(uuid.NAMESPACE_URL, journey.workflow_id + kind).hex}"

        def signed() -> tuple[bytes, dict[str, str]]:
            at = datetime.now(UTC)
            return body.encode(), {
                "content-type": "application/json",
                "svix-id": message_id,
                "svix-timestamp": str(int(at.timestamp())),
                "svix-signature": self._resend.sign(message_id, at, body),
            }

        return signed

    def _postmark(self, journey: Journey, first: FirstEmail) -> Delivery:
        """Postmark's bounce (HardBounce) or spam complaint about email 1, with its own ID."""
        event = journey.email_event
        assert event is not None
        bounce = event.kind == BOUNCE
        body = json.dumps(
            {
                "RecordType": "Bounce" if bounce else "SpamComplaint",
                "MessageStream": "outbound",
                "ID": int(
                    hashlib.sha256(f"{journey.workflow_id}/{event.kind}".encode()).hexdigest()[:12],
                    16,
                ),
                "Type": "HardBounce" if bounce else "SpamComplaint",
                "TypeCode": 1 if bounce else 512,
                "MessageID": first.message_id,
                "Metadata": {REFERENCE_FIELD: first.reference},
                "Email": journey.email,
                "From": "onboarding@example.com",
                "BouncedAt": _now(),
                "Inactive": True,
                "Description": "The server was unable to deliver your message.",
            }
        ).encode()
        headers = {"content-type": "application/json", "authorization": self._postmark_auth}
        return lambda: (body, headers)

    async def close(self) -> None:
        await self.http.aclose()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _result(response: httpx.Response) -> str:
    """What the webhook said it did: a provider event's ``result``; the unsubscribe page's 200."""
    if response.headers.get("content-type", "").startswith("application/json"):
        try:
            return str(response.json().get("result", "?"))
        except ValueError:
            return "?"
    return "unsubscribed"
