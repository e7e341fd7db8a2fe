"""``onboarding preview-email``: one onboarding email rendered from the configured templates, to
read before the worker sends it (docs/emails.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from activities.email_content import EmailTemplates, EmailTemplatesError
from activities.settings import VendorSettings
from common.command_line import describe_settings_error, fail

PREVIEW_TOKEN = "PREVIEW-TOKEN"
ADDRESS_PLACEHOLDER = "[SENDER_POSTAL_ADDRESS is not set: the sender's postal address goes here]"


def preview_email_command(
    number: Annotated[int, typer.Option(help="Which email of the sequence, from 1.")],
    technology: Annotated[
        str, typer.Option(help="The technology the user's company runs, e.g. Shopify.")
    ],
    first_name: Annotated[
        str | None, typer.Option(help="The user's first name; without one the email says 'there'.")
    ] = None,
    total: Annotated[int, typer.Option(help="How many emails the sequence has.")] = 3,
    out: Annotated[
        Path | None,
        typer.Option(help="Write email-<n>.html and email-<n>.txt to this folder instead."),
    ] = None,
) -> None:
    """Render one onboarding email from the templates EMAIL_TEMPLATES_DIR points at."""
    if number < 1:
        raise fail(f"--number {number}: emails are numbered from 1", 2)
    if number > total:
        raise fail(f"--number {number} is beyond --total {total}", 2)
    try:
        settings = VendorSettings()
    except ValidationError as exc:
        raise fail(describe_settings_error(exc, VendorSettings), 2) from None
    address = settings.sender_postal_address
    if not address.strip():
        address = ADDRESS_PLACEHOLDER
        typer.echo(
            "note: SENDER_POSTAL_ADDRESS is empty, so the footer shows a placeholder; "
            "the worker will not start without it.",
            err=True,
        )
    templates = EmailTemplates(settings.email_templates_dir)
    try:
        templates.check([technology])  # what the worker refuses, the preview refuses too
        content = templates.render(
            number=number,
            total=total,
            first_name=first_name,
            technology=technology,
            unsubscribe_url=f"{settings.public_base_url.rstrip('/')}/unsubscribe/{PREVIEW_TOKEN}",
            postal_address=address,
        )
    except EmailTemplatesError as exc:
        raise fail(str(exc), 2) from None
    if out is None:
        typer.echo(f"Subject: {content.subject}")
        typer.echo(f"\n----- text (email-{number}.txt) -----\n")
        typer.echo(content.text)
        typer.echo(f"\n----- html (email-{number}.html) -----\n")
        typer.echo(content.html)
        return
    html_path, text_path = out / f"email-{number}.html", out / f"email-{number}.txt"
    try:
        out.mkdir(parents=True, exist_ok=True)
        html_path.write_text(content.html + "\n", encoding="utf-8")
        text_path.write_text(f"Subject: {content.subject}\n\n{content.text}\n", encoding="utf-8")
    except OSError as exc:
        raise fail(f"cannot write the preview to {out}: {exc.strerror or exc}", 2) from None
    typer.echo(str(html_path))
    typer.echo(str(text_path))
