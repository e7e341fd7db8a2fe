"""The dashboard's screenshots in docs/images/, from a real run:
``.venv/bin/python -m tests.dashboard.screenshots``.

A dev server with its Web UI, the vendor sandbox and a worker; journeys that end at each early
outcome, finish their emails, convert or unsubscribe, and journeys parked at several stages (what
the end-to-end test starts, and some more). The funnel and the experiment count the warehouse
those journeys write to, seeded beforehand with eight earlier weeks of synthetic journeys (labels
and counts only, as the journeys table holds them) so that they have weeks to show. Then headless
Chromium, 1400 pixels wide. Look at each image before committing it.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from activities.settings import VendorSettings
from activities.warehouse import Warehouse
from dashboard.app import Experiments, create_app
from dashboard.counts import TemporalCounts
from devstack.stack import LOCAL_EMAIL_SETTINGS
from sandbox import SandboxServer
from tests.conftest import _worker
from tests.dashboard.support import (
    CHROMIUM,
    FAST,
    SLOW,
    Seeder,
    at_stage,
    chromium,
    dev_server_with_ui,
    seed,
    seed_journeys,
    serving,
)

IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
# Each page, and the height that shows it whole at 1400 pixels wide.
PAGES = {
    "dashboard-map.png": ("/?window=7d", 756),
    "dashboard-funnel.png": ("/funnel?weeks=8", 700),
    "dashboard-experiments.png": ("/experiments", 830),
}
VARIANTS = {"control": 0.22, "short-subject": 0.3, "emoji-subject": 0.26}


async def more_journeys(seeder: Seeder) -> None:
    """Some more of the common ends, and more journeys waiting for their next email."""
    ends = {
        "ana.{}@shopbright.example": 9,
        "ben.{}@plainpaper.example": 4,
        "cy.{}@globex.example": 3,
        "dee.{}@initech.example": 2,
        "eli.{}@mailbox.example": 2,
        "fay.{}@unheard-of.example": 3,
    }
    handles = [await seeder.journey(email, FAST) for email, n in ends.items() for _ in range(n)]
    await asyncio.gather(*(handle.result() for handle in handles))
    waiting = [await seeder.journey("gus.{}@shopbright.example", SLOW) for _ in range(4)]
    for handle in waiting:
        await at_stage(handle, "waiting_email_2")


async def main() -> int:
    if not CHROMIUM.exists():
        print("needs Debian's chromium at /usr/bin/chromium (apt install chromium)")
        return 1
    IMAGES.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder, SandboxServer(port=0) as sandbox:
        warehouse_url = f"sqlite:///{Path(folder) / 'warehouse.db'}"
        warehouse = Warehouse(warehouse_url)
        seed_journeys(
            warehouse,
            now=datetime.now(UTC),
            weeks=9,
            per_week=420,
            variants=VARIANTS,
            fading="emoji-subject",
            seed=3,  # a history in which emoji-subject's falling rate shows as "falling"
        )
        settings = VendorSettings(
            **{key.lower(): value for key, value in sandbox.base_urls().items()},
            warehouse_url=warehouse_url,
            http_timeout_seconds=5,
            **{
                name.lower(): value
                for name, value in LOCAL_EMAIL_SETTINGS.items()
                if name.lower() in VendorSettings.model_fields
            },
            _env_file=None,
        )
        async with contextlib.AsyncExitStack() as stack:
            env, ui_url = await stack.enter_async_context(dev_server_with_ui())
            workers = await stack.enter_async_context(
                contextlib.aclosing(_worker(env.client, settings))
            )
            async for worker in workers:
                seeder = Seeder(worker)
                await more_journeys(seeder)
                await seed(seeder, sandbox)
                app = create_app(
                    TemporalCounts(env.client),
                    namespace=env.client.namespace,
                    emails=3,
                    warehouse=warehouse.engine,
                    ui_url=ui_url,
                    experiments=Experiments(min_sample=100),
                )
                async with serving(app) as url:
                    for name, (path, height) in PAGES.items():
                        await chromium(
                            f"--screenshot={IMAGES / name}",
                            f"--window-size=1400,{height}",
                            f"{url}{path}",
                            profile=Path(folder) / "chromium",
                        )
                        print(f"{IMAGES / name}")
                sandbox.state.set_faults()
        warehouse.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
