"""What senders really send: any JSON, and signups and Segment messages with odd field values."""

from __future__ import annotations

import os
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st


def examples(count: int) -> settings:
    """``count`` examples, times ``PROPERTY_EXAMPLES_SCALE`` for a longer hunt (.ci/schemathesis.sh)."""
    return settings(max_examples=count * int(os.environ.get("PROPERTY_EXAMPLES_SCALE", "1")))


# Any JSON document: what a body can be once it parses.
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)

# Text people type into forms: accents, other scripts, emoji with skin tones and ZWJ sequences,
# right-to-left marks, zero-width spaces, surrounding whitespace.
ODD_TEXT = [
    "",
    " ",
    "\t\n",
    "Ana",
    "  Ana  ",
    "José",
    "Zoë",
    "Ærøskøbing",
    "李小龙",
    "محمد",
    "\u200fשרה",
    "Ana\u200b",
    "👩🏽‍💻",
    "Ana 🎉",
    "🇸🇪🇬🇭",
    "O'Brien",
    "<script>alert(1)</script>",
    "Robert'); DROP TABLE signups;--",
    "\u0000",
    "A" * 200,
    "A" * 201,
    "🙂" * 200,
]
odd_text = st.sampled_from(ODD_TEXT) | st.text(max_size=40) | st.text(min_size=195, max_size=210)

_label = st.from_regex(r"\A[a-z0-9](?:[a-z0-9-]{0,10}[a-z0-9])?\Z")
_unicode_label = st.sampled_from(["bücher", "münchen", "пример", "例え", "😀", "ß", "straße", "Ⅸ"])
_tld = st.sampled_from(["com", "io", "example", "co.uk", "xn--p1ai", "рф", "COM"])
_ascii_domains = st.builds(
    lambda labels, tld: ".".join([*labels, tld]), st.lists(_label, min_size=1, max_size=3), _tld
)
_idn_domains = st.builds(lambda label, tld: f"{label}.{tld}", _unicode_label, _tld)
bare_domains = _ascii_domains | _idn_domains | st.sampled_from(["gmail.com", "mailbox.example"])

# How people write a company's domain into a form field.
_PREFIXES = [
    "",
    "www.",
    "WWW.",
    "www.www.",
    "http://",
    "https://",
    "HTTPS://www.",
    "https://https://",
]
_SUFFIXES = ["", "/", "/pricing?a=1", ":8080", ".", " ", "\n", "\n/", "/\n", "#x"]
_domains_as_typed = st.builds(
    lambda prefix, domain, suffix: f"{prefix}{domain}{suffix}",
    st.sampled_from(_PREFIXES),
    bare_domains,
    st.sampled_from(_SUFFIXES),
) | st.sampled_from(["not a domain", "localhost", "-bad-.com", "a..b.com", "a" * 64 + ".com"])

_local = st.from_regex(r"\A[a-z0-9](?:[a-z0-9._%-]{0,20}[a-z0-9])?\Z") | st.sampled_from(
    ["sam+trial", "Ana.Lopez", "josé", "o'brien", "a" * 64, "a" * 65, "info", "x..y", ".x"]
)
_email_shapes = st.sampled_from(
    [
        "{local}@{domain}",
        "  {local}@{domain}  ",
        "{LOCAL}@{DOMAIN}",
        "Ana <{local}@{domain}>",
        "{local}@@{domain}",
        "{local}",
        "{local}@{domain}.",
        "mailto:{local}@{domain}",
        '"{local}"@{domain}',
    ]
)
emails = (
    st.builds(
        lambda shape, local, domain: shape.format(
            local=local, domain=domain, LOCAL=local.upper(), DOMAIN=domain.upper()
        ),
        _email_shapes,
        _local,
        bare_domains,
    )
    | st.emails()
)

# People paste their email address into the domain field too.
domain_inputs = _domains_as_typed | emails

user_ids = (
    st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._:\-]{0,20}\Z")
    | st.sampled_from(
        ["u 1", "u/1", " u_1 ", "ana@globex.example", "-u", "a" * 128, "a" * 129, "ü", "u\n"]
    )
    | st.text(max_size=20)
)
timestamps = st.datetimes().map(lambda d: d.isoformat()) | st.sampled_from(
    ["2024-05-01T10:00:00.000Z", "2024-05-01", "yesterday", "1714557600", "2024-13-01T00:00:00Z"]
)


def _sometimes_wrong(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly the field's kind of value; sometimes null or any other JSON at all."""
    return st.one_of(values, values, values, st.none(), json_values)


_SIGNUP_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "user_id": _sometimes_wrong(user_ids),
    "email": _sometimes_wrong(emails),
    "first_name": _sometimes_wrong(odd_text),
    "last_name": _sometimes_wrong(odd_text),
    "company_domain": _sometimes_wrong(domain_inputs),
    "signed_up_at": _sometimes_wrong(timestamps | st.integers()),
    "source": _sometimes_wrong(odd_text),
}


@st.composite
def signup_like(draw: st.DrawFn) -> dict[str, Any]:
    """A dict shaped like a signup: some fields missing, odd values, extra fields."""
    fields = {}
    for name, values in _SIGNUP_FIELDS.items():
        # The two required fields are usually there, so most examples get past "missing".
        if draw(st.floats(0, 1)) < (0.9 if name in ("user_id", "email") else 0.5):
            fields[name] = draw(values)
    extra = draw(st.dictionaries(st.text(max_size=10), json_values, max_size=2))
    return {**extra, **fields}


valid_signup_fields = st.fixed_dictionaries(
    {
        "user_id": st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}\Z"),
        "email": emails,
    },
    optional={
        "first_name": odd_text,
        "last_name": odd_text,
        "company_domain": domain_inputs,
        "signed_up_at": timestamps,
        "source": odd_text,
    },
)

# Where Segment sources put a user's traits, in either spelling.
_TRAITS: dict[str, st.SearchStrategy[Any]] = {
    "email": _sometimes_wrong(emails),
    "first_name": _sometimes_wrong(odd_text),
    "firstName": _sometimes_wrong(odd_text),
    "lastName": _sometimes_wrong(odd_text),
    "company_domain": _sometimes_wrong(domain_inputs),
    "company": _sometimes_wrong(st.fixed_dictionaries({"domain": domain_inputs})),
    "website": _sometimes_wrong(domain_inputs),
}
traits = st.fixed_dictionaries({}, optional=_TRAITS).flatmap(
    lambda chosen: st.builds(
        lambda extra: {**extra, **chosen},
        st.dictionaries(st.text(max_size=8), json_scalars, max_size=2),
    )
)


@st.composite
def segment_like(draw: st.DrawFn) -> dict[str, Any]:
    """A Segment message: mostly the signup track event, with traits wherever sources put them."""
    message: dict[str, Any] = {
        "type": draw(
            st.sampled_from(["track", "track", "track", "identify", "page"]) | json_values
        ),
        "event": draw(st.sampled_from(["Signed Up", "Signed Up", "Order Completed"]) | json_values),
        "messageId": draw(st.text(max_size=20)),
    }
    optional: dict[str, st.SearchStrategy[Any]] = {
        "userId": st.one_of(
            user_ids, user_ids, st.integers(), st.booleans(), st.floats(), json_values
        ),
        "timestamp": _sometimes_wrong(timestamps),
        "properties": _sometimes_wrong(traits),
        "context": _sometimes_wrong(st.fixed_dictionaries({"traits": _sometimes_wrong(traits)})),
        "anonymousId": st.text(max_size=20),
    }
    for key, values in optional.items():
        if draw(st.booleans()):
            message[key] = draw(values)
    return message


# An address in every field a person could paste it into, with the whitespace forms leave around it.
padded_emails = st.builds(
    lambda before, address, after: f"{before}{address}{after}",
    st.sampled_from(["", " ", "\t", "\n "]),
    emails,
    st.sampled_from(["", " ", "\n"]),
)
addresses_everywhere = st.fixed_dictionaries(
    {"user_id": user_ids | padded_emails, "email": padded_emails},
    optional={
        name: padded_emails | _SIGNUP_FIELDS[name]
        for name in ("first_name", "last_name", "company_domain", "signed_up_at", "source")
    },
)
segment_addresses_everywhere = st.builds(
    lambda user_id, found, context: {
        "type": "track",
        "event": "Signed Up",
        "userId": user_id,
        "properties": found,
        "context": {"traits": context},
    },
    user_ids | padded_emails,
    st.fixed_dictionaries({}, optional={name: padded_emails for name in _TRAITS}),
    st.fixed_dictionaries({}, optional={name: padded_emails for name in _TRAITS}),
)


# --- email events: what the generated bodies become once they name an email the webhook knows ---

_RESEND_ACTED_ON = ("email.bounced", "email.complained")


def naming_an_email(path: str, body: object, reference: str) -> st.SearchStrategy[object]:
    """``body`` as generated, or (when its shape allows) naming the email ``reference`` with an
    event kind the webhook acts on. Only strings are replaced by strings and entries added to
    objects that are already objects, so a body the schema calls invalid stays invalid."""
    variants: list[object] = [body]
    if not isinstance(body, dict):
        return st.just(body)
    if path == "/email-events/resend":
        data = body.get("data")
        if isinstance(body.get("type"), str) and isinstance(data, dict):
            tags = data.get("tags")
            if isinstance(tags, dict):
                for kind in _RESEND_ACTED_ON:
                    named = {**data, "tags": {**tags, "email_ref": reference}}
                    variants.append({**body, "type": kind, "data": named})
    elif path == "/email-events/postmark":
        metadata = body.get("Metadata")
        if isinstance(body.get("RecordType"), str) and isinstance(metadata, dict):
            for record_type in ("Bounce", "SpamComplaint"):
                named_metadata = {**metadata, "email_ref": reference}
                variants.append({**body, "RecordType": record_type, "Metadata": named_metadata})
    return st.sampled_from(variants)
