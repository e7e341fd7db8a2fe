"""The chaos run at a small size, as CI runs it: real processes, SIGKILLed workers, a restarted
Temporal server, unsubscribes, bounces and a complaint arriving mid-sequence, crashes right after
Slack stored an alert; nothing lost, nothing twice, no email after the webhook took an event."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(420)
def test_a_small_chaos_run_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    report_path = tmp_path / "report.json"
    command = [sys.executable, "-m", "chaos.run", "--journeys", "30", "--kills", "2"]
    command += ["--alert-crash-trials", "5", "--deadline", "150", "--json", str(report_path)]
    # 12 of the 30 journeys send emails: 3 unsubscribe, 3 bounce (twice each), 1 complains.
    command += ["--unsubscribe-rate", "0.25", "--bounce-rate", "0.25", "--complaint-rate", "0.1"]
    result = subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, timeout=400, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr[-4000:]
    report = json.loads(report_path.read_text())

    assert report["journeys"] == report["completed"] == 30
    assert report["lost"] == 0
    assert report["duplicated"] == 0
    assert report["stuck"] == 0
    assert report["wrong_outcome"] == 0
    assert report["doubled_alerts"] == 0
    # The disturbances really happened, and everything found the server again by itself.
    assert report["kills_detail"]["main_phase"] == 2
    assert report["kills"] > 2
    assert report["server_restarts"] == 1
    assert report["reconnect"]["workers_seconds"] is not None
    assert report["reconnect"]["webhook_seconds"] is not None
    trials = report["alert_crash_trials"]
    assert trials["trials"] == 5
    assert trials["crashed_after_post"] > 0
    assert trials["doubled_alerts"] == 0
    # Every outcome of the fixtures was reached.
    assert set(report["by_outcome"]) >= {
        "sales_alerted",
        "emails_completed",
        "no_integration",
        "no_company",
        "not_enriched",
        "invalid_email",
    }
    # The email events were all taken, honoured and, replayed, recognised; and nothing was
    # accepted after the webhook had answered one.
    events = report["email_events"]
    for kind, planned in (("unsubscribe", 3), ("bounce", 3), ("complaint", 1)):
        assert events[kind]["planned"] == events[kind]["sent"] == planned, kind
        assert events[kind]["honoured"] == planned, kind
    assert events["unsubscribe"]["stopped_journey"] >= 1
    assert events["bounce"]["stopped_journey"] >= 1
    assert events["bounce"]["replays"] == events["bounce"]["replays_duplicate"] == 3
    assert events["sent_after_suppression"] == 0
    assert events["replays_acted_on"] == 0
    kinds = ("unsubscribe", "bounce", "complaint")
    stopped = sum(events[kind]["stopped_journey"] for kind in kinds)
    reasons = ("unsubscribed", "bounced", "complained")
    assert sum(report["by_outcome"].get(reason, 0) for reason in reasons) == stopped
