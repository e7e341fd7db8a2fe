"""The journey's custom search attributes: what the Web UI and ``onboarding journeys`` filter on.

None of them holds personal data: stages, segments, counts and outcomes only.
"""

from __future__ import annotations

from typing import Any

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

from workflows.models import Stage

JOURNEY_STAGE = SearchAttributeKey.for_keyword("JourneyStage")
JOURNEY_SEGMENT = SearchAttributeKey.for_keyword("JourneySegment")
COMPANY_EMPLOYEES = SearchAttributeKey.for_int("CompanyEmployees")
EMAILS_SENT = SearchAttributeKey.for_int("EmailsSent")
JOURNEY_OUTCOME = SearchAttributeKey.for_keyword("JourneyOutcome")
# The email experiment and this journey's variant of it: "subject-2026-12:short-subject".
JOURNEY_VARIANT = SearchAttributeKey.for_keyword("JourneyVariant")

ALL = (
    JOURNEY_STAGE,
    JOURNEY_SEGMENT,
    COMPANY_EMPLOYEES,
    EMAILS_SENT,
    JOURNEY_OUTCOME,
    JOURNEY_VARIANT,
)

# Where every journey begins. A start that sets it saves the journey its first upsert: Temporal
# writes a start's attributes with the start's own visibility record (and does not bill them).
FIRST_STAGE = Stage.ENRICHING.value


def variant_label(experiment: str, variant: str) -> str:
    return f"{experiment}:{variant}"


def at_start(experiment: str | None = None, variant: str | None = None) -> TypedSearchAttributes:
    """The search attributes a journey is started with."""
    pairs: list[SearchAttributePair[Any]] = [SearchAttributePair(JOURNEY_STAGE, FIRST_STAGE)]
    if experiment and variant:
        pairs.append(SearchAttributePair(JOURNEY_VARIANT, variant_label(experiment, variant)))
    return TypedSearchAttributes(pairs)


def cli_flags() -> list[str]:
    """``--search-attribute Name=Type`` for ``temporal server start-dev``."""
    kinds = {"KEYWORD": "Keyword", "INT": "Int"}
    flags: list[str] = []
    for key in ALL:
        flags += ["--search-attribute", f"{key.name}={kinds[key.indexed_value_type.name]}"]
    return flags


def create_commands(namespace: str = "default") -> list[str]:
    """The ``temporal operator search-attribute create`` commands that register them on a cluster."""
    kinds = {"KEYWORD": "Keyword", "INT": "Int"}
    return [
        f"temporal operator search-attribute create --namespace {namespace} "
        f"--name {key.name} --type {kinds[key.indexed_value_type.name]}"
        for key in ALL
    ]
