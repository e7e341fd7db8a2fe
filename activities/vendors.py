"""The vendors, one row each: the one place that says which role a vendor plays, which activity
and task queue carry its calls, its documented rate limit, its placeholder price, where it is
configured and the key the local sandbox expects. Every other list of vendors derives from it.

Each role has more than one provider; which one serves a role is the worker's configuration
(``ENRICHMENT_PROVIDERS``, ``TECHNOGRAPHICS_PROVIDER``, ``EMAIL_PROVIDER``,
``SALES_ALERT_PROVIDER``), never the journey's."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from activities.contracts import (
    ENRICH_SIGNUP,
    LOOK_UP_TECHNOGRAPHICS,
    POST_SALES_ALERT,
    SEND_ONBOARDING_EMAIL,
    provider_task_queue,
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
    """Requests per second, as the vendor documents them (where it publishes no figure, a
    cautious placeholder: set your plan's with ``VENDOR_RATE_LIMITS``)."""
    price: float
    """Dollars per billed call: a placeholder to set from your own contract."""
    key_env: str
    """The environment variable holding its credential (for a Slack incoming webhook, whose
    whole URL is the secret, the URL's)."""
    base_url_env: str
    """The environment variable holding its address."""
    sandbox_path: str
    """Where the local sandbox serves its wire format, below the sandbox's URL."""
    sandbox_key: str
    """The credential the local sandbox expects."""

    def task_queue(self, journey_task_queue: str) -> str:
        """The queue of the calls pinned to this provider (a retry of a call it began, a later
        step of the enrichment waterfall), held to its rate limit across every worker."""
        return provider_task_queue(journey_task_queue, self.activity, self.name)


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
    # People Data Labs: 100 requests a minute on the free plan; bills a match, not a miss.
    Vendor(
        name="peopledatalabs",
        title="People Data Labs",
        role="enrichment",
        activity=ENRICH_SIGNUP,
        rate_limit=100 / 60,
        price=0.28,
        key_env="PEOPLEDATALABS_API_KEY",
        base_url_env="PEOPLEDATALABS_BASE_URL",
        sandbox_path="/peopledatalabs",
        sandbox_key="pdl_sandbox",
    ),
    # Wappalyzer: bills a credit per lookup; publishes no rate limit (a cautious placeholder).
    Vendor(
        name="wappalyzer",
        title="Wappalyzer",
        role="technographics",
        activity=LOOK_UP_TECHNOGRAPHICS,
        rate_limit=5.0,
        price=0.02,
        key_env="WAPPALYZER_API_KEY",
        base_url_env="WAPPALYZER_BASE_URL",
        sandbox_path="/wappalyzer",
        sandbox_key="wap_sandbox",
    ),
    # Postmark: bills per email sent; publishes no rate limit (a cautious placeholder).
    Vendor(
        name="postmark",
        title="Postmark",
        role="onboarding email",
        activity=SEND_ONBOARDING_EMAIL,
        rate_limit=10.0,
        price=0.0015,
        key_env="POSTMARK_SERVER_TOKEN",
        base_url_env="POSTMARK_BASE_URL",
        sandbox_path="/postmark",
        sandbox_key="pm_sandbox",
    ),
    # A Slack incoming webhook: about one message a second; not billed. Its URL is its secret.
    Vendor(
        name="slack-webhook",
        title="Slack (incoming webhook)",
        role="sales alert",
        activity=POST_SALES_ALERT,
        rate_limit=1.0,
        price=0.0,
        key_env="SLACK_WEBHOOK_URL",
        base_url_env="SLACK_WEBHOOK_URL",
        sandbox_path="/slack-webhook/services/T0SANDBOX/B0SANDBOX",
        sandbox_key="sandbox-webhook-secret",
    ),
)

VENDORS = MappingProxyType({vendor.name: vendor for vendor in _TABLE})
VENDOR_NAMES = tuple(VENDORS)
DOCUMENTED_RATE_LIMITS = MappingProxyType({v.name: v.rate_limit for v in _TABLE})
PLACEHOLDER_PRICES = MappingProxyType({v.name: v.price for v in _TABLE})
# Each role's providers, by the activity that carries the role, in the table's order.
PROVIDERS = MappingProxyType(
    {
        activity: tuple(v for v in _TABLE if v.activity == activity)
        for activity in dict.fromkeys(v.activity for v in _TABLE)
    }
)
# The provider each role has when nothing is configured.
DEFAULT_PROVIDERS = MappingProxyType(
    {activity: vendors[0] for activity, vendors in PROVIDERS.items()}
)


def title_of(name: str) -> str:
    """What a person reads for provider ``name`` (its own name when the table lacks it)."""
    vendor = VENDORS.get(name)
    return vendor.title if vendor else name


def failed_provider(details: Sequence[Any]) -> str | None:
    """The provider a role's failure names (its first detail), None when it names none."""
    first = details[0] if details else None
    return first if isinstance(first, str) and first in VENDORS else None
