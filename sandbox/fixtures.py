"""The sandbox's world: which people and companies the fake vendors know, and how each journey ends.

The world is data, ``fixtures.json``: one fixture per email domain, each exercising one branch of
the onboarding journey. The sandbox answers from it, and the demo and the tests import it to build
signups and to know the outcome to expect, so the three can never disagree. What a vendor names
differently (a technology's Clearbit slug) or does differently (Clearbit queueing a lookup) sits
under that vendor's name, for its module to read.

Besides the table, a large population of synthetic companies (``company-0001.example`` to
``company-9999.example``) gives load tests many distinct companies; each is derived from its number
alone, so every run sees the same world.
"""

from __future__ import annotations

import functools
import json
import random
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from activities.vendors import VENDOR_NAMES

ROLE_LOCAL_PARTS = frozenset({"info", "admin", "noreply", "no-reply", "support", "sales"})
SYNTHETIC_COMPANIES = 9999

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
_SYNTHETIC = re.compile(r"^company-(\d{4})\.example$")
_GOLDEN_RATIO_CONJUGATE = 0.6180339887498949

VendorFields = Mapping[str, Mapping[str, Any]]


@dataclass(frozen=True)
class Technology:
    """One technology, by the name BuiltWith, Wappalyzer and the journey give it, with each
    vendor's naming."""

    name: str
    vendor_fields: VendorFields = field(default_factory=dict, hash=False, repr=False)

    def fields(self, vendor: str) -> Mapping[str, Any]:
        return self.vendor_fields.get(vendor, {})


@dataclass(frozen=True)
class Person:
    given_name: str
    family_name: str
    title: str | None = None
    time_zone: str | None = None

    @property
    def full_name(self) -> str:
        return f"{self.given_name} {self.family_name}"

    @property
    def local_part(self) -> str:
        decomposed = unicodedata.normalize("NFKD", self.full_name)
        ascii_name = decomposed.encode("ascii", "ignore").decode().lower()
        return ".".join(ascii_name.split())


@dataclass(frozen=True)
class Company:
    name: str
    legal_name: str | None
    domain: str | None
    sector: str | None
    industry: str | None
    employees: int | None
    employees_range: str | None
    city: str
    country_code: str
    founded_year: int | None
    description: str
    time_zone: str | None = None


@dataclass(frozen=True)
class Fixture:
    """One email domain the sandbox knows, and the journey outcome a signup from it reaches."""

    email_domain: str
    slug: str
    expected_outcome: str
    branch: str
    person: Person
    company: Company | None
    technologies: tuple[Technology, ...] = ()
    signup_company_domain: str | None = None
    vendor_fields: VendorFields = field(default_factory=dict, hash=False, repr=False)

    def fields(self, vendor: str) -> Mapping[str, Any]:
        """What ``vendor`` does differently for this domain (``{"queued": true}`` for Clearbit)."""
        return self.vendor_fields.get(vendor, {})

    @property
    def user_id(self) -> str:
        return f"demo-{self.slug}"

    @property
    def email(self) -> str:
        return f"{self.person.local_part}@{self.email_domain}"

    @property
    def technographics_domain(self) -> str | None:
        """The domain the technographics vendor is asked about: the company's, else the one the
        signup gave."""
        if self.company is not None and self.company.domain is not None:
            return self.company.domain
        if self.company is not None:
            return self.signup_company_domain
        return None


# --- reading fixtures.json --------------------------------------------------------------------


def _vendor_fields(data: Mapping[str, Any], plain: set[str], where: str) -> VendorFields:
    """The entries named after a vendor; any other unknown entry is a typo worth stopping for."""
    unknown = sorted(set(data) - plain - set(VENDOR_NAMES))
    if unknown:
        raise ValueError(f"fixtures.json: {where} has unknown fields {unknown}")
    return {name: dict(value) for name, value in data.items() if name in VENDOR_NAMES}


def _fixture(data: Mapping[str, Any]) -> Fixture:
    plain = set(Fixture.__dataclass_fields__) - {"vendor_fields"}
    company = data.get("company")
    return Fixture(
        email_domain=data["email_domain"],
        slug=data["slug"],
        expected_outcome=data["expected_outcome"],
        branch=data["branch"],
        person=Person(**data["person"]),
        company=Company(**company) if company is not None else None,
        technologies=tuple(TECHNOLOGIES[name] for name in data.get("technologies", ())),
        signup_company_domain=data.get("signup_company_domain"),
        vendor_fields=_vendor_fields(data, plain, data["email_domain"]),
    )


_WORLD: dict[str, Any] = json.loads(
    resources.files("sandbox").joinpath("fixtures.json").read_text(encoding="utf-8")
)
TECHNOLOGIES: dict[str, Technology] = {
    name: Technology(name, _vendor_fields(fields, set(), name))
    for name, fields in _WORLD["technologies"].items()
}
_FIXTURE_LIST = tuple(_fixture(data) for data in _WORLD["fixtures"])
FIXTURES: dict[str, Fixture] = {fixture.email_domain: fixture for fixture in _FIXTURE_LIST}
# Technographics vendors are asked about company domains, which differ from email domains for nomad.
TECHNOGRAPHICS: dict[str, Fixture] = {
    domain: fixture
    for fixture in _FIXTURE_LIST
    if (domain := fixture.technographics_domain) is not None
}


# --- synthetic companies, for load tests ------------------------------------------------------

_MIX: dict[str, Any] = _WORLD["synthetic"]
SYNTHETIC_ENTERPRISE_SHARE: float = _MIX["enterprise_share"]
# Of the companies that are not enterprises, those running a technology the journey integrates with.
SYNTHETIC_INTEGRATED_SHARE: float = _MIX["integrated_share"]
# The default JourneyConfig.integrated_technologies.
INTEGRATED_TECHNOLOGIES = tuple(TECHNOLOGIES[n] for n in _MIX["integrated_technologies"])
_OTHER_TECHNOLOGIES = tuple(TECHNOLOGIES[n] for n in _MIX["other_technologies"])
_ENTERPRISE_TECHNOLOGIES = tuple(TECHNOLOGIES[n] for n in _MIX["enterprise_technologies"])
# Clearbit's employeesRange buckets, by their lowest head count.
_EMPLOYEE_RANGES: tuple[tuple[int, str], ...] = tuple(
    (r["lowest"], r["range"]) for r in _MIX["employee_ranges"]
)


def synthetic_domain(n: int) -> str:
    """The email and company domain of synthetic company ``n`` (1 to 9999)."""
    if isinstance(n, bool) or not 1 <= n <= SYNTHETIC_COMPANIES:
        raise ValueError(f"synthetic companies are numbered 1 to {SYNTHETIC_COMPANIES}, got {n}")
    return f"company-{n:04d}.example"


def _employees_range(employees: int) -> str:
    return next(label for low, label in reversed(_EMPLOYEE_RANGES) if employees >= low)


@functools.lru_cache(maxsize=SYNTHETIC_COMPANIES)
def synthetic_fixture(n: int) -> Fixture:
    """Synthetic company ``n``: derived from ``n`` alone, so every run and process agrees."""
    domain = synthetic_domain(n)
    rng = random.Random(domain)
    # Which branch: the golden-ratio sequence spreads the mix evenly, so that any run of
    # consecutive numbers (the 200 companies a benchmark draws from) has the target shares.
    point = (n * _GOLDEN_RATIO_CONJUGATE) % 1.0
    enterprise = point < SYNTHETIC_ENTERPRISE_SHARE
    integrated = (
        not enterprise
        and point
        < SYNTHETIC_ENTERPRISE_SHARE + (1 - SYNTHETIC_ENTERPRISE_SHARE) * SYNTHETIC_INTEGRATED_SHARE
    )
    employees: int | None
    if enterprise:
        employees = round(101 * 200 ** rng.random())  # 101 to about 20,000
        employees_range = _employees_range(employees)
        if rng.random() < 0.2:
            # Some are known only by a range, as Initech is; its lowest count is still over 100.
            over_100 = [label for low, label in _EMPLOYEE_RANGES if low > 100]
            employees, employees_range = None, rng.choice(over_100)
        technologies = tuple(rng.sample(_ENTERPRISE_TECHNOLOGIES, rng.randint(1, 3)))
        outcome, branch = "sales_alerted", "synthetic enterprise"
    else:
        employees = rng.randint(1, 100)
        employees_range = _employees_range(employees)
        others = rng.sample(_OTHER_TECHNOLOGIES, rng.randint(0, 2))
        if integrated:
            technologies = (rng.choice(INTEGRATED_TECHNOLOGIES), *others)
            outcome, branch = "emails_completed", "synthetic small business, integrated"
        else:
            technologies = tuple(others)
            outcome, branch = "no_integration", "synthetic small business, nothing integrated"
    name = f"{rng.choice(_MIX['name_starts'])} {rng.choice(_MIX['name_ends'])}"
    industry = rng.choice(_MIX["industries"])
    place = rng.choice(_MIX["places"])
    return Fixture(
        email_domain=domain,
        slug=domain.removesuffix(".example"),
        expected_outcome=outcome,
        branch=branch,
        person=Person(
            rng.choice(_MIX["given_names"]),
            rng.choice(_MIX["family_names"]),
            rng.choice(_MIX["titles"]),
        ),
        company=Company(
            name=name,
            legal_name=f"{name} Inc." if rng.random() < 0.5 else None,
            domain=domain,
            sector=industry["sector"],
            industry=industry["industry"],
            employees=employees,
            employees_range=employees_range,
            city=place["city"],
            country_code=place["country_code"],
            founded_year=rng.randint(1950, 2024),
            description=f"{name} serves customers in {industry['industry'].lower()}.",
        ),
        technologies=technologies,
    )


# --- what the world answers ---------------------------------------------------------------------


def fixture_for_domain(domain: str) -> Fixture | None:
    """The fixture a domain belongs to: a hand-written one first (by its email domain, then by
    the domain technographics are looked up for), else a synthetic company; None for any other
    domain."""
    domain = domain.strip().lower()
    fixture = FIXTURES.get(domain) or TECHNOGRAPHICS.get(domain)
    if fixture is not None:
        return fixture
    match = _SYNTHETIC.match(domain)
    number = int(match.group(1)) if match else 0
    return synthetic_fixture(number) if 1 <= number <= SYNTHETIC_COMPANIES else None


def fixture_for_email(email: str) -> Fixture | None:
    """The fixture whose people have mail at this email's domain (an enrichment lookup)."""
    domain = email.strip().lower().rpartition("@")[2]
    fixture = fixture_for_domain(domain)
    # A company's shop domain (nomad's) is no mailbox: only the email domain finds its people.
    return fixture if fixture is not None and fixture.email_domain == domain else None


def is_valid_email(email: str) -> bool:
    return bool(_EMAIL.match(email.strip()))


def is_role_address(email: str) -> bool:
    """A shared mailbox such as ``info@``: Clearbit refuses it, it is no person to enrich."""
    local_part = email.strip().lower().rpartition("@")[0]
    return local_part.split("+", 1)[0] in ROLE_LOCAL_PARTS


def expected_outcome(email: str) -> str:
    """The outcome a journey for this email reaches against the sandbox with no faults."""
    if not is_valid_email(email) or is_role_address(email):
        return "invalid_email"
    fixture = fixture_for_email(email)
    return fixture.expected_outcome if fixture is not None else "not_enriched"


def sample_signups() -> list[dict[str, Any]]:
    """One signup per journey branch, including an unknown domain and a role address."""
    signups: list[dict[str, Any]] = []
    for fixture in _FIXTURE_LIST:
        signup: dict[str, Any] = {
            "user_id": fixture.user_id,
            "email": fixture.email,
            "first_name": fixture.person.given_name,
            "last_name": fixture.person.family_name,
        }
        if fixture.signup_company_domain is not None:
            signup["company_domain"] = fixture.signup_company_domain
        signups.append(signup)
    return [*signups, *(dict(other["signup"]) for other in _WORLD["other_signups"])]


def fixture_table() -> list[dict[str, Any]]:
    """The table as plain rows, for ``GET /_sandbox/fixtures``, the demo and the docs."""
    rows: list[dict[str, Any]] = []
    for fixture in _FIXTURE_LIST:
        company = fixture.company
        rows.append(
            {
                "email_domain": fixture.email_domain,
                "sample_email": fixture.email,
                "user_id": fixture.user_id,
                "branch": fixture.branch,
                "company": company.name if company else None,
                "company_domain": company.domain if company else None,
                "signup_company_domain": fixture.signup_company_domain,
                "employees": company.employees if company else None,
                "employees_range": company.employees_range if company else None,
                "industry": company.industry if company else None,
                "technographics_domain": fixture.technographics_domain,
                "technologies": [tech.name for tech in fixture.technologies],
                # What a vendor does differently here, e.g. clearbit_queued.
                **{
                    f"{vendor}_{name}": value
                    for vendor, fields in fixture.vendor_fields.items()
                    for name, value in fields.items()
                },
                "expected_outcome": fixture.expected_outcome,
            }
        )
    for other in _WORLD["other_signups"]:
        rows.append(
            {
                "email_domain": other["email_domain"],
                "sample_email": other["signup"]["email"],
                "user_id": other["signup"]["user_id"],
                "branch": other["branch"],
                "expected_outcome": other["expected_outcome"],
            }
        )
    rows.append(
        {
            "email_domain": f"{synthetic_domain(1)} to {synthetic_domain(SYNTHETIC_COMPANIES)}",
            "sample_email": synthetic_fixture(1).email,
            "branch": (
                f"synthetic companies for load tests: about {SYNTHETIC_ENTERPRISE_SHARE:.0%} "
                f"enterprise, {SYNTHETIC_INTEGRATED_SHARE:.0%} of the rest integrated"
            ),
            "expected_outcome": "sales_alerted, emails_completed or no_integration",
        }
    )
    return rows
