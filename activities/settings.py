"""Where the vendors and the warehouse are, and the credentials to reach them."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, SecretStr
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from activities.contracts import (
    ENRICH_SIGNUP,
    LOOK_UP_TECHNOGRAPHICS,
    POST_SALES_ALERT,
    SEND_ONBOARDING_EMAIL,
)
from activities.vendors import DOCUMENTED_RATE_LIMITS, PLACEHOLDER_PRICES, PROVIDERS, VENDORS
from activities.vendors import VENDOR_NAMES as VENDOR_NAMES
from common.durations import parse_duration


def _per_vendor(example: str) -> Callable[[object], object]:
    """A parser of ``"clearbit=0.10,builtwith=0.02"`` (or a mapping), naming known vendors only."""

    def parse(value: object) -> object:
        entries: dict[str, object] = {}
        if isinstance(value, str):
            for entry in value.split(","):
                if not entry.strip():
                    continue
                vendor, sep, number = entry.partition("=")
                if not sep or not vendor.strip():
                    raise ValueError(f"'{entry.strip()}' is not like {example}")
                entries[vendor.strip().lower()] = number.strip()
        elif isinstance(value, dict):
            entries = {str(k).lower(): v for k, v in value.items()}
        else:
            return value
        unknown = sorted(set(entries) - set(VENDOR_NAMES))
        if unknown:
            raise ValueError(
                f"unknown vendor {unknown[0]!r}; choose from {', '.join(VENDOR_NAMES)}"
            )
        return entries

    return parse


# A queue held to r tasks a second may run up to this far ahead of its schedule after a quiet
# spell: the server hands out a short burst at once, then one task every 1/r s.
SERVER_BURST_SECONDS = 1.0
# Below the fastest safe rate, for the time between the server's dispatch and the vendor's count.
QUEUE_RATE_MARGIN = 0.9


def queue_rate(vendor_limit: float) -> float:
    """The rate to hold a vendor's queue to so that no dispatch pattern the server allows, its
    burst included, trips a vendor that takes ``vendor_limit`` requests a second and a burst of
    as many (at least one).

    The vendor takes ``k + 1`` requests within ``(k + 1 - burst) / limit`` seconds at the least;
    the server may hand out ``k + 1`` tasks within ``k / rate - SERVER_BURST_SECONDS``. The
    tightest ``k`` is the vendor's whole burst (``k = floor(burst)``), which gives the rate.
    """
    burst = max(vendor_limit, 1.0)
    k = math.floor(burst)
    fastest = k * vendor_limit / (SERVER_BURST_SECONDS * vendor_limit + k + 1 - burst)
    return QUEUE_RATE_MARGIN * fastest


DEFAULT_QUEUE_RATES = {
    vendor: queue_rate(limit) for vendor, limit in DOCUMENTED_RATE_LIMITS.items()
}


def _providers_of(activity_name: str, *, many: bool) -> Callable[[object], object]:
    """A parser of a role's provider setting (``peopledatalabs,clearbit`` where a role takes a
    list), naming that role's providers only."""
    names = [vendor.name for vendor in PROVIDERS[activity_name]]

    def parse(value: object) -> object:
        chosen = value.split(",") if isinstance(value, str) else value
        if not isinstance(chosen, list | tuple):
            return value
        chosen = [str(name).strip().lower() for name in chosen if str(name).strip()]
        if not chosen:
            raise ValueError(f"name a provider: {', '.join(names)}")
        for name in chosen:
            if name not in names:
                raise ValueError(f"unknown provider {name!r}; choose from {', '.join(names)}")
        if len(set(chosen)) < len(chosen):
            raise ValueError("a provider is named twice")
        if not many and len(chosen) > 1:
            raise ValueError(f"one provider only; choose from {', '.join(names)}")
        return chosen if many else chosen[0]

    return parse


# What a new account can do instead of a provider that no longer issues keys.
NO_NEW_KEYS = {
    "clearbit": (
        "Clearbit issues no API keys to accounts created since 2024 (it is part of HubSpot); "
        "a new team sets ENRICHMENT_PROVIDERS=peopledatalabs and PEOPLEDATALABS_API_KEY"
    ),
}

# Each role's setting, by the activity that carries the role.
PROVIDER_SETTINGS = {
    ENRICH_SIGNUP: "enrichment_providers",
    LOOK_UP_TECHNOGRAPHICS: "technographics_provider",
    SEND_ONBOARDING_EMAIL: "email_provider",
    POST_SALES_ALERT: "sales_alert_provider",
}


def provider_overrides(names: str) -> dict[str, Any]:
    """The provider settings a list like ``peopledatalabs,wappalyzer,postmark`` makes, each name
    going to its role (enrichment providers in the order given); roles left out keep theirs."""
    chosen: dict[str, list[str]] = {}
    for name in (part.strip().lower() for part in names.split(",")):
        if not name:
            continue
        if name not in VENDORS:
            raise ValueError(f"unknown provider {name!r}; choose from {', '.join(VENDOR_NAMES)}")
        chosen.setdefault(VENDORS[name].activity, []).append(name)
    overrides: dict[str, Any] = {}
    for activity_name, picked in chosen.items():
        if activity_name != ENRICH_SIGNUP and len(picked) > 1:
            raise ValueError(f"one provider per role: {' and '.join(picked)} play the same role")
        setting = PROVIDER_SETTINGS[activity_name]
        overrides[setting] = picked if activity_name == ENRICH_SIGNUP else picked[0]
    return overrides


CacheTtl = Annotated[timedelta, BeforeValidator(parse_duration)]
# A vendor left out keeps its placeholder price, as one left out of the limits keeps its limit.
VendorPrices = Annotated[
    dict[str, float],
    NoDecode,
    BeforeValidator(_per_vendor("clearbit=0.10")),
    AfterValidator(lambda prices: {**PLACEHOLDER_PRICES, **prices}),
]
VendorRates = Annotated[
    dict[str, Annotated[float, Field(gt=0)]],
    NoDecode,
    BeforeValidator(_per_vendor("clearbit=10")),
]


class VendorSettings(BaseSettings):
    """Vendor endpoints and keys from the environment, defaulting to the real vendors."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    clearbit_base_url: str = "https://person.clearbit.com"
    clearbit_api_key: SecretStr = SecretStr("")
    builtwith_base_url: str = "https://api.builtwith.com"
    builtwith_api_key: SecretStr = SecretStr("")
    slack_base_url: str = "https://slack.com/api"
    slack_bot_token: SecretStr = SecretStr("")
    slack_sales_channel: str = "#sales"
    resend_base_url: str = "https://api.resend.com"
    resend_api_key: SecretStr = SecretStr("")
    peopledatalabs_base_url: str = "https://api.peopledatalabs.com"
    peopledatalabs_api_key: SecretStr = SecretStr("")
    wappalyzer_base_url: str = "https://api.wappalyzer.com"
    wappalyzer_api_key: SecretStr = SecretStr("")
    postmark_base_url: str = "https://api.postmarkapp.com"
    postmark_server_token: SecretStr = SecretStr("")
    postmark_message_stream: str = Field(
        default="outbound", description="The Postmark message stream the emails go out on."
    )
    postmark_search_grace_seconds: float = Field(
        default=5.0,
        ge=0,
        le=60,
        description=(
            "How long a retried Postmark send that finds no earlier send waits before it "
            "searches once more and then sends (at most a third of VENDOR_CALL_TIMEOUT): "
            "Postmark may not have indexed a message it just accepted. 0 searches once."
        ),
    )
    slack_webhook_url: SecretStr = Field(
        default=SecretStr(""),
        description="A Slack incoming webhook's URL (the whole URL is the secret).",
    )
    enrichment_providers: Annotated[
        list[str], NoDecode, BeforeValidator(_providers_of(ENRICH_SIGNUP, many=True))
    ] = Field(
        default_factory=lambda: ["clearbit"],
        description=(
            "Enrichment providers in the order they are asked: the next is asked only when "
            "the one before has no match (clearbit, peopledatalabs)."
        ),
    )
    technographics_provider: Annotated[
        str, BeforeValidator(_providers_of(LOOK_UP_TECHNOGRAPHICS, many=False))
    ] = Field(default="builtwith", description="builtwith or wappalyzer.")
    email_provider: Annotated[
        str, BeforeValidator(_providers_of(SEND_ONBOARDING_EMAIL, many=False))
    ] = Field(default="resend", description="resend or postmark.")
    sales_alert_provider: Annotated[
        str, BeforeValidator(_providers_of(POST_SALES_ALERT, many=False))
    ] = Field(
        default="slack",
        description="slack (the bot, chat.postMessage) or slack-webhook (an incoming webhook).",
    )
    email_from: str = "Onboarding <onboarding@example.com>"
    sender_postal_address: str = Field(
        default="",
        description=(
            "The sender's postal address, shown in every email's footer (CAN-SPAM); "
            "the worker refuses to start without it."
        ),
    )
    public_base_url: str = Field(
        default="http://localhost:8000",
        description="The webhook's public address: unsubscribe links are built from it.",
    )
    email_templates_dir: Path | None = Field(
        default=None,
        description="A folder of email templates to use instead of the packaged ones.",
    )
    unsubscribe_signing_keys: SecretStr = Field(
        default=SecretStr(""),
        description=(
            "Keys that sign unsubscribe links, key-id:base64 entries, the signing key first; "
            "the webhook verifies with every key."
        ),
    )
    suppression_hash_key: SecretStr = Field(
        default=SecretStr(""),
        description=(
            "Base64 key of the keyed hash the suppression list stores addresses as; never "
            "change it (the list would forget every address)."
        ),
    )
    warehouse_url: str = "sqlite:///onboarding-warehouse.db"
    temporal_ui_url: str = Field(
        default="http://localhost:8233", description="Web UI base, for links in sales alerts."
    )
    http_timeout_seconds: float = Field(default=20.0, gt=0)
    enrichment_cache_ttl: CacheTtl = Field(
        default=timedelta(days=30),
        ge=timedelta(0),
        description="How long a cached company answer is reused; 0s turns the cache off.",
    )
    vendor_prices: VendorPrices = Field(
        default_factory=lambda: dict(PLACEHOLDER_PRICES),
        description="Dollars per billed call, by vendor.",
    )
    vendor_rate_limits: VendorRates = Field(
        default_factory=lambda: dict(DOCUMENTED_RATE_LIMITS),
        description=(
            "Each vendor's limit in requests per second (your plan's, where it is not the "
            "documented one); the server holds each vendor's queue, across all workers, to a "
            "rate that cannot exceed it (queue_rate)."
        ),
    )
    vendor_dispatch_hold_seconds: float = Field(
        default=0.25,
        ge=0,
        le=5,
        description=(
            "Each activity on a vendor queue starts no earlier than this long (at most the "
            "queue's interval, 1 / its rate) after the server dispatched it, so a worker's "
            "delays do not bunch calls up at the vendor; 0 starts at once."
        ),
    )
    http_max_connections: int = Field(
        default=100, ge=1, description="Connections the worker's vendor client opens at most."
    )
    http_max_keepalive_connections: int = Field(
        default=20, ge=0, description="Idle connections kept open for reuse."
    )

    def providers(self, activity_name: str) -> list[str]:
        """The providers configured for the role ``activity_name`` carries, in order."""
        chosen: str | list[str] = getattr(self, PROVIDER_SETTINGS[activity_name])
        return [chosen] if isinstance(chosen, str) else list(chosen)

    def has_credential(self, provider: str) -> bool:
        """Whether the credential ``provider`` needs is set."""
        value = getattr(self, VENDORS[provider].key_env.lower())
        return bool(value.get_secret_value().strip())

    def missing_credential(self) -> str | None:
        """A one-line reason to refuse to start when a chosen provider lacks its credential."""
        for activity_name in PROVIDERS:
            for provider in self.providers(activity_name):
                if not self.has_credential(provider):
                    line = f"{VENDORS[provider].key_env} is not set, and {provider} is chosen"
                    if provider in NO_NEW_KEYS:
                        line += f"; {NO_NEW_KEYS[provider]}"
                    return line
        return None

    def rate_limit(self, vendor: str) -> float:
        """Tasks per second for ``vendor``'s queue: safe under its configured (else documented)
        limit."""
        return queue_rate(self.vendor_rate_limits.get(vendor, DOCUMENTED_RATE_LIMITS[vendor]))
