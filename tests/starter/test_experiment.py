"""The email experiment: ``EMAIL_EXPERIMENT`` is read or refused in one line naming the problem,
and a user's variant is stable (across calls, processes and restarts) and close to the weights."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Annotated

import pytest
from pydantic import BaseModel, BeforeValidator, ValidationError

from starter.experiment import Experiment, ExperimentError, Variant, parse_experiment

ROOT = Path(__file__).resolve().parents[2]
SUBJECT = "subject-2026-12: control=50, short-subject=50"
USERS = [f"user-{number}" for number in range(10_000)]


def test_an_experiment_is_read_with_its_weights_and_control() -> None:
    experiment = Experiment.parse(SUBJECT)
    assert experiment.name == "subject-2026-12"
    assert experiment.variants == (Variant("control", 50), Variant("short-subject", 50))
    assert experiment.control == "control"
    assert experiment.total_weight == 100
    assert str(experiment) == SUBJECT
    assert Experiment.parse(str(experiment)) == experiment


def test_the_control_is_the_variant_named_so_else_the_first() -> None:
    assert Experiment.parse("cta: button=30, control=50, link=20").control == "control"
    assert Experiment.parse("welcome-2026.1: long=1, short_intro=3").control == "long"


def test_blank_means_no_experiment() -> None:
    assert parse_experiment(None) is None
    assert parse_experiment("") is None
    assert parse_experiment("   ") is None
    experiment = Experiment.parse(SUBJECT)
    assert parse_experiment(experiment) is experiment
    assert parse_experiment(f"  {SUBJECT}\n") == experiment


@pytest.mark.parametrize(
    "text, message",
    [
        ("subject-2026-12", "'subject-2026-12' is not like 'subject-2026-12: control=50, "),
        (": control=50, b=50", "experiment name '' is not 1 to 64 letters"),
        ("subject: control=50", "experiment 'subject' needs at least two variants"),
        ("subject:", "experiment 'subject' needs at least two variants"),
        ("subject: control=50, short", "'short' is not a variant like 'control=50'"),
        ("subject: control=50, =50", "'=50' is not a variant like 'control=50'"),
        ("subject: control=50, short=half", "variant 'short': the weight 'half' is not a whole"),
        ("subject: control=50, short=2.5", "variant 'short': the weight '2.5' is not a whole"),
        ("subject: control=50, short=0", "variant 'short': the weight must be 1 or more, not 0"),
        ("subject: control=50, short=-5", "variant 'short': the weight must be 1 or more, not -5"),
        ("subject: control=50, control=50", "experiment 'subject' names 'control' twice"),
        ("subject: Short=1, short=1", "names 'Short' and 'short', which differ only in case"),
        ("new subject: a=1, b=1", "experiment name 'new subject' is not 1 to 64 letters"),
        ("subject: a=1, ../b=1", "variant name '../b' is not 1 to 64 letters"),
        ("subject: a=1, .hidden=1", "variant name '.hidden' is not 1 to 64 letters"),
        (f"{'x' * 65}: a=1, b=1", "experiment name 'xxxx"),
        ("subject: a=1, sh\nort=1", "variant name 'sh\\nort' is not"),
    ],
)
def test_a_bad_experiment_is_refused_in_one_line_naming_the_problem(
    text: str, message: str
) -> None:
    with pytest.raises(ExperimentError) as raised:
        parse_experiment(text)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)
    assert isinstance(raised.value, ValueError)  # so pydantic reports it as the setting's error


def test_the_assignment_is_the_documented_hash() -> None:
    # sha256("subject-2026-12:user-3") as a big-endian integer, modulo 100 (the total weight):
    # buckets 0-49 are control, 50-99 short-subject.
    experiment = Experiment.parse(SUBJECT)
    for user in ("user-1", "user-3", "user-42"):
        digest = hashlib.sha256(f"subject-2026-12:{user}".encode()).digest()
        bucket = int.from_bytes(digest, "big") % 100
        assert experiment.assign(user) == ("control" if bucket < 50 else "short-subject")


# Pinned: a change to the hashing would move users that are already in the experiment to the
# other variant mid-way; these must never change.
PINNED = {
    "user-1": "control",
    "user-2": "control",
    "user-3": "short-subject",
    "user-4": "control",
    "user-5": "short-subject",
    "user-6": "short-subject",
    "user-7": "short-subject",
    "user-8": "control",
}


def test_the_assignment_is_pinned_and_stable_across_calls() -> None:
    experiment = Experiment.parse(SUBJECT)
    assert {user: experiment.assign(user) for user in PINNED} == PINNED
    assert [experiment.assign(u) for u in USERS[:500]] == [
        experiment.assign(u) for u in USERS[:500]
    ]
    # Parsed again (a restarted starter), the same.
    again = Experiment.parse(" subject-2026-12 :control = 50,short-subject= 50 ")
    assert [again.assign(u) for u in USERS[:500]] == [experiment.assign(u) for u in USERS[:500]]


def test_the_assignment_is_the_same_in_another_process() -> None:
    # Another process with another string-hash seed (what a worker or a rerun would be).
    script = (
        "import json, sys\n"
        "from starter.experiment import Experiment\n"
        f"e = Experiment.parse({SUBJECT!r})\n"
        "print(json.dumps([e.assign(f'user-{n}') for n in range(500)]))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    experiment = Experiment.parse(SUBJECT)
    assert json.loads(out.stdout) == [experiment.assign(u) for u in USERS[:500]]


# A variant of weight w out of W gets Binomial(n, w/W) of n users if the hash spreads them
# evenly: a standard deviation of √(n·p·(1-p)), 50 users of 10,000 at 50/50 and 30 at 90/10. The
# users are fixed, so each check is deterministic; 4 standard deviations is a bound an even
# spread exceeds with probability 6e-5, while a biased bucketing (say, one bucket short) would
# be off by ~100 at 50/50 and fail.
def within_four_deviations(experiment: Experiment, users: list[str]) -> dict[str, int]:
    counts = Counter(experiment.assign(user) for user in users)
    n = len(users)
    for variant in experiment.variants:
        p = variant.weight / experiment.total_weight
        deviation = (n * p * (1 - p)) ** 0.5
        assert abs(counts[variant.name] - n * p) <= 4 * deviation, (variant, counts)
    return dict(counts)


def test_the_shares_follow_the_weights_over_ten_thousand_users() -> None:
    assert sum(within_four_deviations(Experiment.parse(SUBJECT), USERS).values()) == 10_000
    within_four_deviations(Experiment.parse("welcome-2026-01: control=90, long-intro=10"), USERS)
    within_four_deviations(Experiment.parse("cta-2027-02: control=50, button=30, link=20"), USERS)


def test_another_experiment_name_reshuffles_the_users() -> None:
    # Independent assignments agree for half the users at 50/50: 5,000 ± 4·50.
    first = Experiment.parse(SUBJECT)
    second = Experiment.parse("subject-2027-01: control=50, short-subject=50")
    same = sum(first.assign(u) == second.assign(u) for u in USERS)
    assert abs(same - 5_000) <= 200


def test_a_journey_input_carries_the_experiment_through_json() -> None:
    class Configuration(BaseModel):
        experiment: Annotated[Experiment | None, BeforeValidator(parse_experiment)] = None

    configuration = Configuration.model_validate({"experiment": SUBJECT})
    assert configuration.experiment == Experiment.parse(SUBJECT)
    assert Configuration.model_validate_json(configuration.model_dump_json()) == configuration
    assert Configuration.model_validate({"experiment": ""}).experiment is None
    with pytest.raises(ValidationError, match="experiment 'x' needs at least two variants"):
        Configuration.model_validate({"experiment": {"name": "x", "variants": []}})
