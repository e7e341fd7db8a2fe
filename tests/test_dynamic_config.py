"""The Temporal dynamic config that Compose mounts gives every vendor queue (each role's and each
provider's) one partition, so the
vendors' rate limits hold on a cluster as they do on the dev server."""

from __future__ import annotations

from pathlib import Path

import yaml

from activities.contracts import ONE_PARTITION_DEV_SERVER_FLAGS, VENDOR_ROLES, vendor_task_queue
from activities.vendors import VENDORS
from workflows.models import TASK_QUEUE

ROOT = Path(__file__).resolve().parent.parent


def test_every_vendor_queue_has_one_partition() -> None:
    config = yaml.safe_load((ROOT / "deploy" / "temporal-dynamicconfig.yaml").read_text())
    queues = {vendor_task_queue(TASK_QUEUE, name) for name in VENDOR_ROLES}
    queues |= {vendor.task_queue(TASK_QUEUE) for vendor in VENDORS.values()}
    assert len(queues) == 4 + len(VENDORS) and TASK_QUEUE not in queues
    for key in ("matching.numTaskqueueReadPartitions", "matching.numTaskqueueWritePartitions"):
        constrained = {e["constraints"]["taskQueueName"]: e["value"] for e in config[key]}
        assert constrained == dict.fromkeys(queues, 1), key
    assert config["matching.minTaskThrottlingBurstSize"] == [{"value": 1}]


def test_compose_mounts_it_and_the_dev_server_flags_match() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    temporal = compose["services"]["temporal"]
    mounted = temporal["environment"]["DYNAMIC_CONFIG_FILE_PATH"]
    assert any(
        v.startswith("./deploy/temporal-dynamicconfig.yaml:") and v.split(":")[1].endswith(mounted)
        for v in temporal["volumes"]
    )
    flags = dict(v.split("=") for v in ONE_PARTITION_DEV_SERVER_FLAGS[1::2])
    assert flags == {
        "matching.numTaskqueueReadPartitions": "1",
        "matching.numTaskqueueWritePartitions": "1",
        "matching.minTaskThrottlingBurstSize": "1",
    }
