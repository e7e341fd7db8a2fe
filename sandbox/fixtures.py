"""The sandbox's world: which people and companies the fake vendors know, and how each journey ends.

One row per email domain, each exercising one branch of the onboarding journey. The sandbox answers
from this table, and the demo and the tests import it to build signups and to know the outcome to
expect, so the three can never disagree.
"""

from __future__ import annotations

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
    fixture = FIXTURES.get(email.strip().lower().rpartition("@")[2])
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


def builtwith_result(domain: str, *, with_meta: bool = True) -> dict[str, Any]:
    """One BuiltWith ``Results`` entry; an unknown domain gets empty ``Paths``."""
    fixture = TECHNOGRAPHICS.get(domain)
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
