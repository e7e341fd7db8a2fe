"""The vendors, one row each: the one place that says which role a vendor plays, which activity
and task queue carry its calls, its documented rate limit, its placeholder price, where it is
configured and the key the local sandbox expects. Every other list of vendors derives from it."""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from activities.contracts import (
    ENRICH_SIGNUP,
    LOOK_UP_TECHNOGRAPHICS,
    POST_SALES_ALERT,
    SEND_ONBOARDING_EMAIL,
    vendor_task_queue,
)


@dataclass(frozen=True)
class Vendor:
    name: str
    """Its name in settings, metrics and the spend ledger (``VENDOR_RATE_LIMITS=clearbit=10``)."""
    title: str
    """Its name in the journey's path and in what a person reads."""
    role: str
    activity: str
    """The activity that calls it; the journey knows only this name."""
    rate_limit: float
    """Requests per second, as the vendor documents them."""
    price: float
    """Dollars per billed call: a placeholder to set from your own contract."""
    key_env: str
    """The environment variable holding its credential."""
    base_url_env: str
    """The environment variable holding its address."""
    sandbox_path: str
    """Where the local sandbox serves its wire format, below the sandbox's URL."""
    sandbox_key: str
    """The credential the local sandbox expects."""

    def task_queue(self, journey_task_queue: str) -> str:
        """The queue its calls run on, held to its rate limit across every worker."""
        return vendor_task_queue(journey_task_queue, self.activity)


_TABLE = (
    # Clearbit: 600 requests a minute.
    Vendor(
        name="clearbit",
        title="Clearbit",
        role="enrichment",
        activity=ENRICH_SIGNUP,
        rate_limit=10.0,
        price=0.10,
        key_env="CLEARBIT_API_KEY",
        base_url_env="CLEARBIT_BASE_URL",
        sandbox_path="/clearbit",
        sandbox_key="sk_sandbox",
    ),
    # BuiltWith: about 10 a second with 8 at once; 8/s keeps both.
    Vendor(
        name="builtwith",
        title="BuiltWith",
        role="technographics",
        activity=LOOK_UP_TECHNOGRAPHICS,
        rate_limit=8.0,
        price=0.02,
        key_env="BUILTWITH_API_KEY",
        base_url_env="BUILTWITH_BASE_URL",
        sandbox_path="/builtwith",
        sandbox_key="sandbox-builtwith",
    ),
    # Slack: about one message a second per channel; the Web API is not billed per call.
    Vendor(
        name="slack",
        title="Slack",
        role="sales alert",
        activity=POST_SALES_ALERT,
        rate_limit=1.0,
        price=0.0,
        key_env="SLACK_BOT_TOKEN",
        base_url_env="SLACK_BASE_URL",
        sandbox_path="/slack/api",
        sandbox_key="xoxb-sandbox",
    ),
    # Resend: 2 requests a second by default.
    Vendor(
        name="resend",
        title="Resend",
        role="onboarding email",
        activity=SEND_ONBOARDING_EMAIL,
        rate_limit=2.0,
        price=0.001,
        key_env="RESEND_API_KEY",
        base_url_env="RESEND_BASE_URL",
        sandbox_path="/resend",
        sandbox_key="re_sandbox",
    ),
)

VENDORS = MappingProxyType({vendor.name: vendor for vendor in _TABLE})
VENDOR_NAMES = tuple(VENDORS)
DOCUMENTED_RATE_LIMITS = MappingProxyType({v.name: v.rate_limit for v in _TABLE})
PLACEHOLDER_PRICES = MappingProxyType({v.name: v.price for v in _TABLE})
BY_ACTIVITY = MappingProxyType({v.activity: v for v in _TABLE})
