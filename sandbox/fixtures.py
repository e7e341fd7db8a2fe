"""The sandbox's world: which people and companies the fake vendors know, and how each journey ends.

One row per email domain, each exercising one branch of the onboarding journey. The sandbox answers
from this table, and the demo and the tests import it to build signups and to know the outcome to
expect, so the three can never disagree.

Besides the table, a large population of synthetic companies (``company-0001.example`` to
``company-9999.example``) gives load tests many distinct companies; each is derived from its number
alone, so every run sees the same world.
"""

from __future__ import annotations

import functools
import random
import re
import unicodedata
import uuid
from dataclasses import dataclass
from typing import Any

# Fixed detection times keep every response byte-for-byte reproducible between runs.
FIRST_DETECTED_MS = 1_561_939_200_000  # 2019-07-01
LAST_DETECTED_MS = 1_748_736_000_000  # 2025-06-01
INDEXED_AT = "2025-06-01T00:00:00.000Z"

ROLE_LOCAL_PARTS = frozenset({"info", "admin", "noreply", "no-reply", "support", "sales"})
UNKNOWN_DOMAIN = "unheard-of.example"

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")


@dataclass(frozen=True)
class Technology:
    """One technology as BuiltWith names it, and as Clearbit's ``tech`` slug names it."""

    name: str
    tag: str
    categories: tuple[str, ...]
    clearbit_slug: str
    clearbit_category: str


@dataclass(frozen=True)
class Person:
    given_name: str
    family_name: str
    title: str | None = None

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
    queued: bool = False
    signup_company_domain: str | None = None

    @property
    def user_id(self) -> str:
        return f"demo-{self.slug}"

    @property
    def email(self) -> str:
        return f"{self.person.local_part}@{self.email_domain}"

    @property
    def technographics_domain(self) -> str | None:
        """The domain BuiltWith is asked about: the company's, else the one the signup gave."""
        if self.company is not None and self.company.domain is not None:
            return self.company.domain
        if self.company is not None:
            return self.signup_company_domain
        return None


def _tech(name: str, tag: str, categories: tuple[str, ...], slug: str, category: str) -> Technology:
    return Technology(name, tag, categories, slug, category)


SHOPIFY = _tech("Shopify", "shop", ("Hosted Solution",), "shopify", "ecommerce")
WOOCOMMERCE = _tech(
    "WooCommerce", "shop", ("WordPress Plugins", "Non Platform"), "woo_commerce", "ecommerce"
)
STRIPE = _tech("Stripe", "payment", ("Payment Processor",), "stripe", "payment")
HUBSPOT = _tech(
    "HubSpot", "analytics", ("Marketing Automation", "CRM"), "hubspot", "marketing_automation"
)
GOOGLE_ANALYTICS = _tech(
    "Google Analytics", "analytics", ("Audience Measurement",), "google_analytics", "analytics"
)
KLAVIYO = _tech("Klaviyo", "widgets", ("Email Marketing",), "klaviyo", "email_marketing_platform")
REACT = _tech("React", "javascript", ("JavaScript Library",), "react", "javascript_framework")
WORDPRESS = _tech("WordPress", "cms", ("Open Source", "Blog"), "wordpress", "cms")
SALESFORCE = _tech("Salesforce", "widgets", ("CRM",), "salesforce", "crm")
MARKETO = _tech(
    "Marketo", "analytics", ("Marketing Automation",), "marketo", "marketing_automation"
)
ZENDESK = _tech("Zendesk", "widgets", ("Customer Support",), "zendesk", "customer_support")


_FIXTURE_LIST = (
    Fixture(
        email_domain="globex.example",
        slug="globex",
        expected_outcome="sales_alerted",
        branch="enterprise by employee count",
        person=Person("Amara", "Okafor", "VP Operations"),
        company=Company(
            name="Globex Corporation",
            legal_name="Globex Corporation Inc.",
            domain="globex.example",
            sector="Industrials",
            industry="Manufacturing",
            employees=4500,
            employees_range="1K-5K",
            city="Cypress Creek",
            country_code="US",
            founded_year=1989,
            description="Globex makes industrial equipment for customers on five continents.",
        ),
        technologies=(SALESFORCE, MARKETO),
    ),
    Fixture(
        email_domain="initech.example",
        slug="initech",
        expected_outcome="sales_alerted",
        branch="enterprise by employee range (no exact count)",
        person=Person("Diego", "Ramírez", "Director of Engineering"),
        company=Company(
            name="Initech",
            legal_name=None,
            domain="initech.example",
            sector="Information Technology",
            industry="Software",
            employees=None,
            employees_range="251-1K",
            city="Austin",
            country_code="US",
            founded_year=1996,
            description="Initech builds software for banks.",
        ),
        technologies=(ZENDESK, GOOGLE_ANALYTICS),
    ),
    Fixture(
        email_domain="shopbright.example",
        slug="shopbright",
        expected_outcome="emails_completed",
        branch="small business on Shopify",
        person=Person("Mei", "Chen", "Founder"),
        company=Company(
            name="Shopbright",
            legal_name="Shopbright Ltd",
            domain="shopbright.example",
            sector="Consumer Discretionary",
            industry="Retail",
            employees=25,
            employees_range="11-50",
            city="Leeds",
            country_code="GB",
            founded_year=2018,
            description="Shopbright sells handmade lamps online.",
        ),
        technologies=(SHOPIFY, GOOGLE_ANALYTICS, KLAVIYO),
    ),
    Fixture(
        email_domain="hooli-labs.example",
        slug="hooli-labs",
        expected_outcome="emails_completed",
        branch="unknown size, integrated on Stripe",
        person=Person("Priya", "Raman", "CTO"),
        company=Company(
            name="Hooli Labs",
            legal_name=None,
            domain="hooli-labs.example",
            sector="Information Technology",
            industry="Internet Software & Services",
            employees=None,
            employees_range=None,
            city="Palo Alto",
            country_code="US",
            founded_year=None,
            description="Hooli Labs prototypes consumer apps.",
        ),
        technologies=(STRIPE, REACT),
    ),
    Fixture(
        email_domain="plainpaper.example",
        slug="plainpaper",
        expected_outcome="no_integration",
        branch="small business with no integrated technology",
        person=Person("Tom", "Lindqvist", "Owner"),
        company=Company(
            name="Plain Paper Co",
            legal_name="Plain Paper Company AB",
            domain="plainpaper.example",
            sector="Industrials",
            industry="Commercial Printing",
            employees=40,
            employees_range="11-50",
            city="Malmö",
            country_code="SE",
            founded_year=2009,
            description="Plain Paper Co prints stationery on recycled paper.",
        ),
        technologies=(WORDPRESS, GOOGLE_ANALYTICS),
    ),
    Fixture(
        email_domain="mailbox.example",
        slug="mailbox",
        expected_outcome="no_company",
        branch="free-mail address: a person but no company",
        person=Person("Sam", "Taylor"),
        company=None,
    ),
    Fixture(
        email_domain="slowpoke.example",
        slug="slowpoke",
        expected_outcome="emails_completed",
        branch="enrichment queued first, then found; HubSpot",
        person=Person("Lena", "Fischer", "Head of Growth"),
        company=Company(
            name="Slowpoke Analytics",
            legal_name="Slowpoke Analytics GmbH",
            domain="slowpoke.example",
            sector="Information Technology",
            industry="Internet Software & Services",
            employees=60,
            employees_range="51-250",
            city="Berlin",
            country_code="DE",
            founded_year=2015,
            description="Slowpoke Analytics measures what shoppers do in store.",
        ),
        technologies=(HUBSPOT,),
        queued=True,
    ),
    Fixture(
        email_domain="nomad-domain.example",
        slug="nomad",
        expected_outcome="emails_completed",
        branch="company without a domain: falls back to the signup's company_domain",
        person=Person("Kofi", "Mensah", "Co-founder"),
        company=Company(
            name="Nomad Goods",
            legal_name=None,
            domain=None,
            sector="Consumer Discretionary",
            industry="Specialty Retail",
            employees=15,
            employees_range="11-50",
            city="Accra",
            country_code="GH",
            founded_year=2021,
            description="Nomad Goods sells travel gear.",
        ),
        technologies=(WOOCOMMERCE,),
        signup_company_domain="nomad-shop.example",
    ),
)

FIXTURES: dict[str, Fixture] = {fixture.email_domain: fixture for fixture in _FIXTURE_LIST}

# BuiltWith is asked about company domains, which differ from email domains for nomad.
TECHNOGRAPHICS: dict[str, Fixture] = {
    domain: fixture
    for fixture in _FIXTURE_LIST
    if (domain := fixture.technographics_domain) is not None
}


# --- synthetic companies, for load tests ------------------------------------------------------

SYNTHETIC_COMPANIES = 9999
SYNTHETIC_ENTERPRISE_SHARE = 0.15
# Of the companies that are not enterprises, those running a technology the journey integrates with.
SYNTHETIC_INTEGRATED_SHARE = 0.60
# The default JourneyConfig.integrated_technologies.
INTEGRATED_TECHNOLOGIES = (SHOPIFY, WOOCOMMERCE, STRIPE, HUBSPOT)
_OTHER_TECHNOLOGIES = (GOOGLE_ANALYTICS, KLAVIYO, REACT, WORDPRESS, ZENDESK)
_ENTERPRISE_TECHNOLOGIES = (SALESFORCE, MARKETO, ZENDESK, GOOGLE_ANALYTICS, REACT)
_GOLDEN_RATIO_CONJUGATE = 0.6180339887498949
_SYNTHETIC = re.compile(r"^company-(\d{4})\.example$")

_GIVEN_NAMES = (
    "Alex", "Ana", "Ben", "Chloe", "Dev", "Elif", "Femi", "Grace", "Hiro", "Ines", "Jonas",
    "Kira", "Luca", "Maya", "Nadia", "Omar", "Paula", "Quinn", "Rosa", "Sven", "Tara", "Uma",
    "Viktor", "Wen", "Yara", "Zoe",
)  # fmt: skip
_FAMILY_NAMES = (
    "Adams", "Berg", "Costa", "Dubois", "Eriksen", "Fong", "Garcia", "Haddad", "Ivanova",
    "Jensen", "Kowalski", "Lopez", "Moreau", "Nakamura", "Okoye", "Patel", "Quist", "Rossi",
    "Schmidt", "Tanaka", "Usman", "Virtanen", "Weber", "Yilmaz", "Zhang",
)  # fmt: skip
_TITLES = (
    "Founder", "CEO", "CTO", "Head of Growth", "Marketing Manager", "Operations Lead",
    "Product Manager", "Engineer", None,
)  # fmt: skip
_NAME_STARTS = (
    "Amber", "Blue", "Bright", "Cedar", "Copper", "Ever", "Fern", "Granite", "Harbor", "Iron",
    "Juniper", "Kite", "Lumen", "Maple", "North", "Oak", "Pine", "Quartz", "River", "Stone",
    "Tide", "Vale", "Willow",
)  # fmt: skip
_NAME_ENDS = (
    "Works", "Labs", "Goods", "Supply", "Studio", "Systems", "Foods", "Outfitters", "Health",
    "Logistics", "Analytics", "Digital",
)  # fmt: skip
_INDUSTRIES = (
    ("Consumer Discretionary", "Retail"),
    ("Consumer Discretionary", "Specialty Retail"),
    ("Consumer Staples", "Food Products"),
    ("Information Technology", "Software"),
    ("Information Technology", "Internet Software & Services"),
    ("Industrials", "Manufacturing"),
    ("Industrials", "Commercial Printing"),
    ("Health Care", "Health Care Providers & Services"),
    ("Financials", "Diversified Financial Services"),
)
_PLACES = (
    ("Amsterdam", "NL"), ("Austin", "US"), ("Berlin", "DE"), ("Bristol", "GB"),
    ("Lagos", "NG"), ("Lisbon", "PT"), ("Melbourne", "AU"), ("Montreal", "CA"),
    ("Osaka", "JP"), ("São Paulo", "BR"), ("Stockholm", "SE"), ("Toronto", "CA"),
)  # fmt: skip
# Clearbit's employeesRange buckets, by their lowest head count.
_EMPLOYEE_RANGES = (
    (1, "1-10"), (11, "11-50"), (51, "51-250"), (251, "251-1K"), (1000, "1K-5K"),
    (5000, "5K-10K"), (10000, "10K-50K"),
)  # fmt: skip


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
            employees, employees_range = None, rng.choice(_EMPLOYEE_RANGES[3:])[1]
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
    name = f"{rng.choice(_NAME_STARTS)} {rng.choice(_NAME_ENDS)}"
    sector, industry = rng.choice(_INDUSTRIES)
    city, country_code = rng.choice(_PLACES)
    return Fixture(
        email_domain=domain,
        slug=domain.removesuffix(".example"),
        expected_outcome=outcome,
        branch=branch,
        person=Person(rng.choice(_GIVEN_NAMES), rng.choice(_FAMILY_NAMES), rng.choice(_TITLES)),
        company=Company(
            name=name,
            legal_name=f"{name} Inc." if rng.random() < 0.5 else None,
            domain=domain,
            sector=sector,
            industry=industry,
            employees=employees,
            employees_range=employees_range,
            city=city,
            country_code=country_code,
            founded_year=rng.randint(1950, 2024),
            description=f"{name} serves customers in {industry.lower()}.",
        ),
        technologies=technologies,
    )


def fixture_for_domain(domain: str) -> Fixture | None:
    """The fixture a domain belongs to: a hand-written one first (by its email domain, then by
    the domain BuiltWith is asked about), else a synthetic company; None for any other domain."""
    domain = domain.strip().lower()
    fixture = FIXTURES.get(domain) or TECHNOGRAPHICS.get(domain)
    if fixture is not None:
        return fixture
    match = _SYNTHETIC.match(domain)
    number = int(match.group(1)) if match else 0
    return synthetic_fixture(number) if 1 <= number <= SYNTHETIC_COMPANIES else None


def fixture_for_email(email: str) -> Fixture | None:
    """The fixture whose people have mail at this email's domain (Clearbit's lookup)."""
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
    signups.append(
        {
            "user_id": "demo-unknown",
            "email": f"jo.park@{UNKNOWN_DOMAIN}",
            "first_name": "Jo",
            "last_name": "Park",
        }
    )
    signups.append(
        {
            "user_id": "demo-role",
            "email": "info@globex.example",
            "first_name": None,
            "last_name": None,
        }
    )
    return signups


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
                "clearbit_queued": fixture.queued,
                "expected_outcome": fixture.expected_outcome,
            }
        )
    rows.append(
        {
            "email_domain": "any other domain",
            "sample_email": f"jo.park@{UNKNOWN_DOMAIN}",
            "user_id": "demo-unknown",
            "branch": "Clearbit knows nobody there (404)",
            "expected_outcome": "not_enriched",
        }
    )
    rows.append(
        {
            "email_domain": "role address (info@, admin@, noreply@, no-reply@, support@, sales@)",
            "sample_email": "info@globex.example",
            "user_id": "demo-role",
            "branch": "Clearbit refuses a role address (422)",
            "expected_outcome": "invalid_email",
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


def _stable_id(*parts: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_DNS, ".".join(parts)))


def clearbit_person(email: str, fixture: Fixture) -> dict[str, Any]:
    """A Clearbit person record for ``email``, named after the fixture's sample person."""
    person, company = fixture.person, fixture.company
    return {
        "id": _stable_id("person", email.lower()),
        "name": {
            "fullName": person.full_name,
            "givenName": person.given_name,
            "familyName": person.family_name,
        },
        "email": email,
        "location": f"{company.city}, {company.country_code}" if company else None,
        "timeZone": None,
        "utcOffset": None,
        "geo": {
            "city": company.city if company else None,
            "state": None,
            "stateCode": None,
            "country": None,
            "countryCode": company.country_code if company else None,
            "lat": None,
            "lng": None,
        },
        "bio": None,
        "site": None,
        "avatar": None,
        "employment": {
            "domain": company.domain if company else None,
            "name": company.name if company else None,
            "title": person.title,
            "role": None,
            "subRole": None,
            "seniority": None,
        },
        "facebook": {"handle": None},
        "github": {"handle": None, "id": None, "avatar": None, "company": None},
        "twitter": {"handle": None, "id": None, "followers": None},
        "linkedin": {"handle": None},
        "gravatar": {"handle": None, "urls": [], "avatar": None, "avatars": []},
        "fuzzy": False,
        "emailProvider": company is None,
        "indexedAt": INDEXED_AT,
        "phone": None,
        "activeAt": None,
        "inactiveAt": None,
    }


def clearbit_company(fixture: Fixture) -> dict[str, Any] | None:
    """A Clearbit company record, or None for a free-mail person."""
    company = fixture.company
    if company is None:
        return None
    return {
        "id": _stable_id("company", fixture.email_domain),
        "name": company.name,
        "legalName": company.legal_name,
        "domain": company.domain,
        "domainAliases": [],
        "site": {"phoneNumbers": [], "emailAddresses": []},
        "category": {
            "sector": company.sector,
            "industryGroup": None,
            "industry": company.industry,
            "subIndustry": None,
            "sicCode": None,
            "naicsCode": None,
        },
        "tags": [],
        "description": company.description,
        "foundedYear": company.founded_year,
        "location": f"{company.city}, {company.country_code}",
        "timeZone": None,
        "utcOffset": None,
        "geo": {
            "streetNumber": None,
            "streetName": None,
            "subPremise": None,
            "city": company.city,
            "postalCode": None,
            "state": None,
            "stateCode": None,
            "country": None,
            "countryCode": company.country_code,
            "lat": None,
            "lng": None,
        },
        "logo": None,
        "facebook": {"handle": None, "likes": None},
        "linkedin": {"handle": None},
        "twitter": {"handle": None, "id": None, "followers": None},
        "crunchbase": {"handle": None},
        "emailProvider": False,
        "type": "private",
        "ticker": None,
        "identifiers": {"usEIN": None},
        "phone": None,
        "metrics": {
            "alexaUsRank": None,
            "alexaGlobalRank": None,
            "trafficRank": None,
            "employees": company.employees,
            "employeesRange": company.employees_range,
            "marketCap": None,
            "raised": None,
            "annualRevenue": None,
            "estimatedAnnualRevenue": None,
            "fiscalYearEnd": None,
        },
        "indexedAt": INDEXED_AT,
        "tech": [tech.clearbit_slug for tech in fixture.technologies],
        "techCategories": sorted({tech.clearbit_category for tech in fixture.technologies}),
        "parent": {"domain": None},
        "ultimateParent": {"domain": None},
    }


def builtwith_result(
    domain: str, fixture: Fixture | None, *, with_meta: bool = True
) -> dict[str, Any]:
    """One BuiltWith ``Results`` entry for ``domain``, from ``fixture_for_domain(domain)``; a
    domain that is not the fixture's company site (or no fixture) gets empty ``Paths``."""
    if fixture is not None and fixture.technographics_domain != domain:
        fixture = None
    paths: list[dict[str, Any]] = []
    if fixture is not None and fixture.technologies:
        paths.append(
            {
                "Domain": domain,
                "Url": "",
                "SubDomain": "",
                "FirstIndexed": FIRST_DETECTED_MS,
                "LastIndexed": LAST_DETECTED_MS,
                "Technologies": [
                    {
                        "Name": tech.name,
                        "Description": None,
                        "Link": None,
                        "Tag": tech.tag,
                        "Categories": list(tech.categories),
                        "IsPremium": "no",
                        "FirstDetected": FIRST_DETECTED_MS,
                        "LastDetected": LAST_DETECTED_MS,
                    }
                    for tech in fixture.technologies
                ],
            }
        )
    company_name = fixture.company.name if fixture is not None and fixture.company else None
    meta = {"CompanyName": company_name, "Vertical": None, "Social": None, "Emails": None}
    return {
        "Lookup": domain,
        "Result": {"IsDB": "True" if paths else "False", "Spend": 0, "Paths": paths},
        "Meta": meta if with_meta else None,
        "Attributes": None,
        "FirstIndexed": FIRST_DETECTED_MS if paths else None,
        "LastIndexed": LAST_DETECTED_MS if paths else None,
    }
