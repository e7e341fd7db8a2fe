"""A local stand-in for Clearbit, BuiltWith, Slack and Resend that speaks their wire formats.

Newcomers run the whole journey with no API keys; tests use it as a real HTTP server.
"""

from activities.vendors import DOCUMENTED_RATE_LIMITS
from sandbox.app import create_app
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
from sandbox.server import SandboxServer, SandboxStartError, serve
from sandbox.state import (
    VENDORS,
    AcceptedEmail,
    Faults,
    RecordedCall,
    SandboxState,
    ScriptedResponse,
    SlackMessage,
)

__all__ = [
    "DOCUMENTED_RATE_LIMITS",
    "FIXTURES",
    "VENDORS",
    "AcceptedEmail",
    "Faults",
    "Fixture",
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
    "sample_signups",
    "serve",
    "synthetic_domain",
    "synthetic_fixture",
]
