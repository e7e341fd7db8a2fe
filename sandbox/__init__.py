"""A local stand-in for every vendor of ``activities/vendors.py`` (Clearbit, People Data Labs,
BuiltWith, Wappalyzer, Slack's bot and incoming webhook, Resend, Postmark) that speaks their wire
formats.

Newcomers run the whole journey with no API keys; tests use it as a real HTTP server. Each vendor
is one module (``clearbit.py``, ``slack_webhook.py``...) owning its memory, payloads and routes; what they share (the
call record, faults, rate limits, scripted answers) is ``shared.py``; the world they answer from is
``fixtures.json``.
"""

from activities.vendors import DOCUMENTED_RATE_LIMITS
from activities.vendors import VENDOR_NAMES as VENDORS
from sandbox.app import create_app
from sandbox.faults import Faults, ScriptedResponse
from sandbox.fixtures import (
    FIXTURES,
    Fixture,
    expected_outcome,
    fixture_for_domain,
    fixture_table,
    sample_signups,
    synthetic_domain,
    synthetic_fixture,
)
from sandbox.limits import parse_rate_limits
from sandbox.postmark import PostmarkMessage
from sandbox.resend import AcceptedEmail
from sandbox.server import SandboxServer, SandboxStartError, serve
from sandbox.shared import RecordedCall
from sandbox.slack import SlackMessage
from sandbox.state import SandboxState

__all__ = [
    "DOCUMENTED_RATE_LIMITS",
    "FIXTURES",
    "VENDORS",
    "AcceptedEmail",
    "Faults",
    "Fixture",
    "PostmarkMessage",
    "RecordedCall",
    "SandboxServer",
    "SandboxStartError",
    "SandboxState",
    "ScriptedResponse",
    "SlackMessage",
    "create_app",
    "expected_outcome",
    "fixture_for_domain",
    "fixture_table",
    "parse_rate_limits",
    "sample_signups",
    "serve",
    "synthetic_domain",
    "synthetic_fixture",
]
