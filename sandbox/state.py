"""Everything the sandbox remembers: what every vendor shares (``shared.py``) plus each fake
vendor's own memory, kept by the vendor's module.

Each vendor of ``activities/vendors.py`` is served by the sandbox module named after it, so adding
a vendor adds a row there and a module here, and nothing in this file.
"""

from __future__ import annotations

import importlib
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from activities.vendors import VENDORS, Vendor
from sandbox.clearbit import FakeClearbit
from sandbox.fake import FakeVendor
from sandbox.postmark import FakePostmark, PostmarkMessage
from sandbox.resend import AcceptedEmail, FakeResend
from sandbox.shared import SharedState
from sandbox.slack import FakeSlack, SlackMessage
from sandbox.slack_webhook import FakeSlackWebhook

F = TypeVar("F", bound=FakeVendor)


def fake_for(vendor: Vendor) -> type[FakeVendor]:
    """The ``FAKE`` class of ``sandbox/<vendor name>.py`` (``slack-webhook`` → ``slack_webhook``)."""
    module = vendor.name.replace("-", "_")
    fake = getattr(importlib.import_module(f"sandbox.{module}"), "FAKE", None)
    if not (isinstance(fake, type) and issubclass(fake, FakeVendor) and fake.name == vendor.name):
        raise TypeError(f"sandbox/{module}.py must set FAKE to its FakeVendor subclass")
    return fake


class SandboxState(SharedState):
    """The fake vendors' memory, shared by the HTTP app and the Python API tests drive."""

    def __init__(
        self,
        *,
        slack_channels: Iterable[str] | None = None,
        clearbit_queued_times: int | None = None,
        seed: int | None = None,
        rate_limits: Mapping[str, float] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``slack_channels``: the channels the bot is in; ``clearbit_queued_times``: the 202s a
        queued lookup answers first. ``rate_limits``: requests per second each vendor takes
        before it answers 429 (a vendor not named is unlimited), measured by ``clock``."""
        super().__init__(seed=seed, rate_limits=rate_limits, clock=clock)
        self.vendors: dict[str, FakeVendor] = {
            name: fake_for(vendor)(self) for name, vendor in VENDORS.items()
        }
        if clearbit_queued_times is not None:
            if clearbit_queued_times < 0:
                raise ValueError("clearbit_queued_times must be zero or more")
            self.fake(FakeClearbit).queued_times = clearbit_queued_times
        if slack_channels is not None:
            self.slack_channels = tuple(slack_channels)

    def fake(self, kind: type[F]) -> F:
        """The fake vendor of this class, e.g. ``state.fake(FakeResend)``."""
        fake = self.vendors[kind.name]
        assert isinstance(fake, kind)
        return fake

    def achieved(self) -> dict[str, int]:
        """Summed over the providers of a role: emails accepted by Resend and Postmark alike."""
        totals: Counter[str] = Counter()
        with self.lock:
            for fake in self.vendors.values():
                totals.update(fake.achieved())
        return dict(totals)

    def reset(self) -> None:
        """Forget calls, faults, scripts and what each vendor accepted; keep credentials and
        rate limits, with their buckets full again."""
        with self.lock:
            super().reset()
            for fake in self.vendors.values():
                fake.reset()

    # --- what the tests and tools read --------------------------------------------------------

    def sent_emails(self) -> list[AcceptedEmail]:
        return self.fake(FakeResend).sent_emails()

    def slack_messages(self) -> list[SlackMessage]:
        """Every sales alert Slack accepted, by the bot and by the incoming webhook, oldest first."""
        with self.lock:
            messages = [*self.fake(FakeSlack).messages(), *self.webhook_messages()]
        return sorted(messages, key=lambda message: message.ts_micros)

    def webhook_messages(self) -> list[SlackMessage]:
        """The sales alerts posted through the incoming webhook only."""
        return self.fake(FakeSlackWebhook).messages()

    def email_keys(self) -> list[str]:
        """The key (``<workflow id>/email-<n>``) of every email accepted, by either provider:
        Resend's idempotency key, Postmark's ``journey_email`` metadata."""
        return [email.idempotency_key or "" for email in self.sent_emails()] + [
            message.metadata.get("journey_email", "") for message in self.postmark_messages()
        ]

    def postmark_messages(self) -> list[PostmarkMessage]:
        """Every email Postmark accepted, searchable yet or not."""
        return self.fake(FakePostmark).messages()

    def post_slack_message(
        self,
        channel_id: str,
        text: str | None,
        blocks: list[Any],
        metadata: dict[str, Any] | None = None,
    ) -> str:
        """Post as if through the API (someone else's chatter); returns the message's ``ts``."""
        return self.fake(FakeSlack).post(channel_id, text, blocks, metadata)

    @property
    def slack_channels(self) -> tuple[str, ...]:
        """The channels the bot is in; set it to invite the bot or remove it."""
        return self.fake(FakeSlack).channels

    @slack_channels.setter
    def slack_channels(self, channels: Iterable[str]) -> None:
        self.fake(FakeSlack).channels = tuple(channels)

    def credentials(self) -> dict[str, str]:
        """The keys the sandbox expects, under the environment variable names a worker reads;
        a vendor whose address is its secret (the webhook) is left to ``control.base_urls``."""
        return {
            fake.vendor.key_env: fake.key
            for fake in self.vendors.values()
            if fake.vendor.key_env != fake.vendor.base_url_env
        }
