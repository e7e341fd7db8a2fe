"""Record the golden histories: one real run of every branch of the journey, and of the live
controls, on Temporal's time-skipping server with the real activities against the sandbox.

Every golden history must replay against the journey's code (``tests/workflows/test_replay.py``).
Re-record them on purpose with ``make golden``. Before the first release that is all a change
needs; from the first release on, a change to the journey's commands is guarded with
``workflow.patched`` and the new histories are added beside the old ones
(docs/changing-the-journey.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.settings import VendorSettings, provider_overrides
from activities.suppression import Reason, SuppressionList, parse_hash_key
from activities.warehouse import Warehouse
from devstack.processes import executable
from devstack.stack import LOCAL_EMAIL_SETTINGS
from sandbox.fixtures import sample_signups
from sandbox.server import SandboxServer
from worker.main import register_search_attributes, run_worker
from workflows.journey import OnboardingJourney
from workflows.models import JourneyConfig, JourneyInput, JourneyState, RescheduleRequest, Signup
from workflows.send_window import SendWindow

HISTORIES = Path(__file__).parent / "histories"
TASK_QUEUE = "onboarding-golden"
Handle = WorkflowHandle[OnboardingJourney, JourneyState]


async def _until(handle: Handle, emails_sent: int) -> None:
    for _ in range(400):
        state = await handle.query(OnboardingJourney.state)
        if state.emails_sent == emails_sent and state.stage == "waiting_email":
            return
        await asyncio.sleep(0.05)
    raise RuntimeError(f"{handle.id} never waited after email {emails_sent}")


async def _unsubscribe_after_first_email(env: WorkflowEnvironment, handle: Handle) -> None:
    await _until(handle, 1)
    await handle.signal(OnboardingJourney.unsubscribe)


async def _convert_after_second_email(env: WorkflowEnvironment, handle: Handle) -> None:
    await _until(handle, 1)
    await env.sleep(timedelta(days=2, minutes=1))
    await _until(handle, 2)
    await handle.signal(OnboardingJourney.convert)


async def _pause_and_resume(env: WorkflowEnvironment, handle: Handle) -> None:
    await _until(handle, 1)
    await handle.signal(OnboardingJourney.pause)
    await env.sleep(timedelta(days=1))
    await handle.signal(OnboardingJourney.resume)


async def _bounce_after_first_email(env: WorkflowEnvironment, handle: Handle) -> None:
    await _until(handle, 1)
    await handle.signal(OnboardingJourney.bounced)


async def _reschedule(env: WorkflowEnvironment, handle: Handle) -> None:
    await _until(handle, 1)
    send_at = await env.get_current_time() + timedelta(hours=3)
    await handle.execute_update(OnboardingJourney.reschedule, RescheduleRequest(send_at=send_at))


Steer = Callable[[WorkflowEnvironment, Handle], Awaitable[None]]
SHOPBRIGHT = next(s for s in sample_signups() if s["email"].endswith("@shopbright.example"))
CONTROLS: dict[str, Steer] = {
    "unsubscribed-after-email-1": _unsubscribe_after_first_email,
    "converted-after-email-2": _convert_after_second_email,
    "paused-and-resumed": _pause_and_resume,
    "rescheduled-email-2": _reschedule,
    "bounced-after-email-1": _bounce_after_first_email,
}
# A reader whose address is on the suppression list before the journey starts.
SUPPRESSED = {**SHOPBRIGHT, "email": "suppressed.reader@shopbright.example"}


# The other vendor of every role, and the enrichment waterfall: the branches whose commands
# differ with the providers (a queued stack lookup, a miss asked of the next provider).
ALTERNATIVES = "peopledatalabs,clearbit,wappalyzer,postmark,slack-webhook"
ALTERNATIVE_BRANCHES = ("slowpoke", "unheard-of", "globex", "shopbright")


def alternative_scenarios() -> list[tuple[str, dict[str, Any], Steer | None]]:
    first_of: dict[str, dict[str, Any]] = {}
    for fields in sample_signups():
        first_of.setdefault(fields["email"].rpartition("@")[2], fields)
    return [
        (f"providers-{domain}", first_of[f"{domain}.example"], None)
        for domain in ALTERNATIVE_BRANCHES
    ]


def scenarios() -> list[tuple[str, dict[str, Any], Steer | None]]:
    """Every sample signup's branch, then the live controls on an emailed journey."""
    runs: list[tuple[str, dict[str, Any], Steer | None]] = [
        (f"branch-{fields['user_id'].removeprefix('demo-')}", fields, None)
        for fields in sample_signups()
    ]
    runs += [
        (name, {**SHOPBRIGHT, "user_id": f"golden-{name}"}, steer)
        for name, steer in CONTROLS.items()
    ]
    runs += [
        ("held-by-send-window", SHOPBRIGHT, None),
        ("suppressed-address", SUPPRESSED, None),
    ]
    return runs


def held_config(now: datetime) -> JourneyConfig:
    """A send window that opens two hours after ``now`` (UTC): email 1 waits for it."""
    opens = now.astimezone(UTC) + timedelta(hours=2)
    return JourneyConfig(
        send_window=SendWindow.parse(f"{opens:%H}:00-{opens + timedelta(hours=2):%H}:00")
    )


async def record(out: Path, test_server: str) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter, test_server_existing_path=test_server
    )
    written: list[Path] = []
    async with env:
        await register_search_attributes(env.client)
        with SandboxServer(port=0) as sandbox, tempfile.TemporaryDirectory() as tmp:
            email: dict[str, Any] = {
                k.lower(): v
                for k, v in LOCAL_EMAIL_SETTINGS.items()
                if k.lower() in VendorSettings.model_fields
            }
            settings = VendorSettings(
                **{k.lower(): v for k, v in sandbox.base_urls().items()},  # type: ignore[arg-type]
                **email,
                warehouse_url=f"sqlite:///{tmp}/warehouse.db",
                _env_file=None,
            )
            SuppressionList(
                Warehouse(settings.warehouse_url),
                parse_hash_key(settings.suppression_hash_key.get_secret_value()),
            ).suppress(SUPPRESSED["email"], Reason.UNSUBSCRIBED, "golden")
            alternatives = settings.model_copy(update=provider_overrides(ALTERNATIVES))
            for chosen, runs in ((settings, scenarios()), (alternatives, alternative_scenarios())):
                stop = asyncio.Event()
                worker = asyncio.create_task(
                    run_worker(env.client, chosen, stop, task_queue=TASK_QUEUE)
                )
                for name, fields, steer in runs:
                    written.append(await _record_one(env, env.client, out, name, fields, steer))
                stop.set()
                await worker
    return written


async def _record_one(
    env: WorkflowEnvironment,
    client: Client,
    out: Path,
    name: str,
    fields: dict[str, Any],
    steer: Steer | None,
) -> Path:
    signup = Signup.model_validate({**fields, "user_id": f"golden-{name}"})
    config = (
        held_config(await env.get_current_time())
        if name == "held-by-send-window"
        else JourneyConfig()
    )
    handle = await client.start_workflow(
        OnboardingJourney.run,
        JourneyInput(signup=signup, config=config),
        id=f"onboarding-{signup.user_id}",
        task_queue=TASK_QUEUE,
    )
    if steer is not None:
        await steer(env, handle)
    await handle.result()
    history = await handle.fetch_history()
    path = out / f"{name}.json"
    path.write_text(json.dumps(json.loads(history.to_json()), indent=1) + "\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HISTORIES)
    args = parser.parse_args()
    test_server = executable("temporal-test-server")
    for path in asyncio.run(record(args.out, test_server)):
        print(f"recorded {path}")


if __name__ == "__main__":
    main()
