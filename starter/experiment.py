"""The email experiment (``EMAIL_EXPERIMENT``): its name, its variants and their weights, and
which variant each journey gets.

``subject-2026-12: control=50, short-subject=50`` names the experiment, then each variant with
its weight. The control is the variant named ``control``, else the first one. A journey's variant
is a pure function of the experiment's name and the user's ID, so a restart, a rerun or a second
starter gives the same user the same variant (docs/experiments.md).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

EXAMPLE = "subject-2026-12: control=50, short-subject=50"
# Letters, digits, '.', '_' and '-', up to 64 (the journeys table's columns), not starting with
# '.' or '-': a variant's name is also the folder of its templates.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_NAME_RULE = "1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"


class ExperimentError(ValueError):
    """An experiment that cannot be run as written; the message is one line naming why."""


def _quoted(text: str) -> str:
    # repr keeps a stray newline or control character on the one line of the message.
    return repr(text.strip())


def _check_name(kind: str, name: str) -> str:
    if not _NAME.fullmatch(name):
        raise ExperimentError(f"{kind} name {_quoted(name)} is not {_NAME_RULE}")
    return name


@dataclass(frozen=True)
class Variant:
    name: str
    weight: int


@dataclass(frozen=True)
class Experiment:
    """An experiment and its weighted variants; build one with ``Experiment.parse``."""

    name: str
    variants: tuple[Variant, ...]

    def __post_init__(self) -> None:
        _check_name("experiment", self.name)
        if len(self.variants) < 2:
            raise ExperimentError(f"experiment {self.name!r} needs at least two variants")
        seen: dict[str, str] = {}
        for variant in self.variants:
            _check_name("variant", variant.name)
            # Case-blind: on some file systems two such template folders would be one.
            earlier = seen.get(variant.name.lower())
            if earlier == variant.name:
                raise ExperimentError(f"experiment {self.name!r} names {earlier!r} twice")
            if earlier is not None:
                raise ExperimentError(
                    f"experiment {self.name!r} names {earlier!r} and {variant.name!r}, "
                    "which differ only in case"
                )
            seen[variant.name.lower()] = variant.name
            if isinstance(variant.weight, bool) or not isinstance(variant.weight, int):
                raise ExperimentError(
                    f"variant {variant.name!r}: the weight must be a whole number"
                )
            if variant.weight < 1:
                raise ExperimentError(
                    f"variant {variant.name!r}: the weight must be 1 or more, not {variant.weight}"
                )

    @classmethod
    def parse(cls, text: str) -> Experiment:
        """Read ``"subject-2026-12: control=50, short-subject=50"``."""
        name, colon, rest = text.partition(":")
        if not colon:
            raise ExperimentError(f"{_quoted(text)} is not like {EXAMPLE!r}")
        variants = []
        for entry in rest.split(","):
            if not entry.strip():
                continue
            variant, equals, weight = entry.partition("=")
            if not equals or not variant.strip():
                raise ExperimentError(f"{_quoted(entry)} is not a variant like 'control=50'")
            try:
                number = int(weight.strip())
            except ValueError:
                raise ExperimentError(
                    f"variant {_quoted(variant)}: the weight {_quoted(weight)} is not a whole number"
                ) from None
            variants.append(Variant(variant.strip(), number))
        return cls(name.strip(), tuple(variants))

    @property
    def control(self) -> str:
        """The variant the others are compared with: ``control`` if named, else the first."""
        named = [v.name for v in self.variants if v.name.lower() == "control"]
        return named[0] if named else self.variants[0].name

    @property
    def total_weight(self) -> int:
        return sum(v.weight for v in self.variants)

    def assign(self, user_id: str) -> str:
        """The user's variant: SHA-256 of ``"<experiment>:<user_id>"`` (UTF-8), read as a
        big-endian integer, modulo the total weight, is a bucket; the variants own consecutive
        runs of buckets, as many as their weight, in the order written. No clock, no randomness:
        the same user always gets the same variant of the same experiment, and another
        experiment's name shuffles users afresh."""
        digest = hashlib.sha256(f"{self.name}:{user_id}".encode()).digest()
        bucket = int.from_bytes(digest, "big") % self.total_weight
        for variant in self.variants:
            if bucket < variant.weight:
                return variant.name
            bucket -= variant.weight
        raise AssertionError("the buckets cover the total weight")  # pragma: no cover

    def __str__(self) -> str:
        return f"{self.name}: " + ", ".join(f"{v.name}={v.weight}" for v in self.variants)


def parse_experiment(value: object) -> Experiment | None:
    """``EMAIL_EXPERIMENT`` as a setting (usable as a pydantic ``BeforeValidator``): None when
    unset or blank; the text form; or the serialized form ``{"name": ..., "variants":
    [{"name": ..., "weight": ...}]}`` that a journey's input carries."""
    if value is None or isinstance(value, Experiment):
        return value
    if isinstance(value, str):
        return Experiment.parse(value) if value.strip() else None
    if isinstance(value, dict):
        try:
            variants = tuple(Variant(v["name"], v["weight"]) for v in value["variants"])
            return Experiment(value["name"], variants)
        except (KeyError, TypeError):
            pass
    raise ExperimentError(f"an experiment is written like {EXAMPLE!r}")
