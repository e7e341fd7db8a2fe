"""What each onboarding email says, by the technology the user's company runs."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape


@dataclass(frozen=True)
class EmailContent:
    subject: str
    text: str
    html: str


# One line per technology: how our integration helps, used across the sequence.
_PITCH = {
    "shopify": "connect your Shopify store and every order flows into your journeys",
    "woocommerce": "install our WooCommerce plugin and every order flows into your journeys",
    "stripe": "link Stripe and your subscriptions and invoices appear next to each customer",
    "hubspot": "sync HubSpot and your contacts and deals stay in step both ways",
}
_GENERIC_PITCH = "connect {technology} and your data flows in without any code"

# Subject and opening for each step of the sequence; emails beyond the last reuse it.
_STEPS = [
    ("Welcome, {name}: connect {technology} in two minutes", "Welcome aboard, {name}!"),
    ("{name}, your {technology} data is one click away", "Hi {name}, a quick nudge."),
    ("Last tip for {technology} users, {name}", "Hi {name}, one last tip."),
]


def onboarding_email(
    number: int, total: int, first_name: str | None, technology: str
) -> EmailContent:
    """Email ``number`` of ``total`` for a user whose company runs ``technology``."""
    name = first_name or "there"
    pitch = _PITCH.get(technology.lower(), _GENERIC_PITCH.format(technology=technology))
    subject_template, opening_template = _STEPS[min(number, len(_STEPS)) - 1]
    subject = subject_template.format(name=name, technology=technology)
    opening = opening_template.format(name=name)
    body = (
        f"We noticed your team uses {technology}: {pitch}.",
        f"This is email {number} of {total} in your onboarding.",
    )
    text = "\n\n".join((opening, *body))
    html = "".join(f"<p>{escape(line)}</p>" for line in (opening, *body))
    return EmailContent(subject=subject, text=text, html=html)
