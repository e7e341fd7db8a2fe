"""The onboarding emails' templates: the packaged ones pass the worker's start-up check and render
every step, the check refuses broken or footer-less copies naming the file, and
``onboarding preview-email`` shows an email."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from activities.email_content import DEFAULT_TEMPLATES, EmailTemplates, EmailTemplatesError

URL = "https://onboarding.example/unsubscribe/TOKEN?a=1&b=2"
ADDRESS = "Shopbright & Sons <Legal>\n1 Main Street\nSpringfield"
TECHNOLOGIES = ["Shopify", "WooCommerce", "Stripe", "HubSpot"]


def render(
    templates: EmailTemplates,
    number: int,
    *,
    total: int = 3,
    first_name: str | None = "Ana",
    technology: str = "Shopify",
) -> tuple[str, str, str]:
    content = templates.render(
        number=number,
        total=total,
        first_name=first_name,
        technology=technology,
        unsubscribe_url=URL,
        postal_address=ADDRESS,
    )
    return content.subject, content.text, content.html


def test_the_packaged_templates_pass_the_check() -> None:
    EmailTemplates().check(TECHNOLOGIES)
    assert EmailTemplates(None).directory == DEFAULT_TEMPLATES


@pytest.mark.parametrize("number", [1, 2, 3])
def test_each_step_speaks_to_shopify_users_by_name(number: int) -> None:
    subject, text, html = render(EmailTemplates(), number)
    assert "Ana" in subject and "\n" not in subject
    for body in (text, html):
        assert "Ana" in body
        assert "connect your Shopify store" in body
        assert f"email {number} of 3" in body


@pytest.mark.parametrize("number", [1, 2, 3])
def test_an_unknown_technology_and_no_first_name_get_the_default_block(number: int) -> None:
    subject, text, html = render(EmailTemplates(), number, first_name=None, technology="Segment")
    assert "there" in subject and "None" not in subject
    for body in (text, html):
        assert "Hi there" in body or "Welcome aboard, there" in body
        assert "connect Segment and your data flows in without any code" in body
        assert "None" not in body


def test_the_footer_is_in_both_bodies_and_escaped_in_html() -> None:
    _, text, html = render(EmailTemplates(), 1)
    assert f"Unsubscribe: {URL}" in text
    assert ADDRESS in text
    assert '<a href="https://onboarding.example/unsubscribe/TOKEN?a=1&amp;b=2"' in html
    assert ">Unsubscribe</a>" in html
    assert "Shopbright &amp; Sons &lt;Legal&gt;<br>\n1 Main Street<br>\nSpringfield" in html
    assert '<html lang="en">' in html and "<script" not in html


def test_html_escapes_the_first_name() -> None:
    _, text, html = render(EmailTemplates(), 1, first_name="<script>alert(1)</script>")
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)</script>" in text  # plain text is not HTML


def test_an_email_beyond_the_last_step_reuses_the_last_step() -> None:
    templates = EmailTemplates()
    subject, text, _ = render(templates, 5, total=5)
    last_subject, _, _ = render(templates, 3, total=5)
    assert subject == last_subject
    assert "one last tip" in text and "email 5 of 5" in text


def test_an_email_number_outside_the_sequence_is_refused() -> None:
    with pytest.raises(ValueError, match="between 1 and 3"):
        render(EmailTemplates(), 0)


# --- an edited copy that the worker must refuse at start-up ----------------------------------


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    folder = tmp_path / "emails"
    shutil.copytree(DEFAULT_TEMPLATES, folder)
    EmailTemplates(folder).check(TECHNOLOGIES)  # the copy itself is fine
    return folder


def refusal(folder: Path) -> str:
    with pytest.raises(EmailTemplatesError) as raised:
        EmailTemplates(folder).check(TECHNOLOGIES)
    message = str(raised.value)
    assert "\n" not in message
    return message


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_a_syntax_error_is_refused_naming_the_file_and_line(copy: Path) -> None:
    edit(copy / "2.html", "{{ number }}", "{{ number }")
    message = refusal(copy)
    assert message.startswith("email template 2.html line 5:")


def test_a_layout_without_the_footer_is_refused(copy: Path) -> None:
    edit(copy / "layout.html", "{{ postal_address|line_breaks }}", "")
    assert "postal address" in refusal(copy) and "layout.html" in refusal(copy)
    edit(copy / "layout.txt", "Unsubscribe: {{ unsubscribe_url }}", "")
    assert "unsubscribe link" in refusal(copy) and "layout.txt" in refusal(copy)


def test_a_footer_printing_the_address_unescaped_is_refused(copy: Path) -> None:
    edit(copy / "layout.html", "{{ postal_address|line_breaks }}", "{{ postal_address|safe }}")
    assert "layout.html" in refusal(copy)


def test_rendering_is_deterministic(copy: Path) -> None:
    # A retried send reuses its idempotency key: the provider refuses another body for it.
    assert render(EmailTemplates(), 2) == render(EmailTemplates(), 2)
    edit(copy / "2.txt", "a quick nudge.", "a quick nudge. {{ ['Hi', 'Hey']|random }}")
    assert refusal(copy) == "email template 2.txt line 3: No filter named 'random'."


def test_a_missing_step_file_is_refused(copy: Path) -> None:
    (copy / "1.txt").unlink()
    assert refusal(copy) == f"email template 1.txt is missing from {copy}"


def test_a_gap_in_the_steps_is_refused(copy: Path) -> None:
    (copy / "2.html").unlink()
    assert "email template 2.html is missing" in refusal(copy)


def test_a_missing_default_technology_block_is_refused(copy: Path) -> None:
    (copy / "technologies" / "default.txt").unlink()
    assert "email template technologies/default.txt is missing" in refusal(copy)


def test_an_undefined_variable_is_refused_naming_the_file_and_line(copy: Path) -> None:
    edit(copy / "technologies" / "stripe.txt", "{{ technology }}", "{{ company_name }}")
    message = refusal(copy)
    assert message == "email template technologies/stripe.txt line 1: 'company_name' is undefined"


def test_a_multi_line_or_empty_subject_is_refused(copy: Path) -> None:
    (copy / "3.subject.txt").write_text("Last tip\nfor you\n", encoding="utf-8")
    assert "3.subject.txt" in refusal(copy)
    (copy / "3.subject.txt").write_text("{# nothing #}\n", encoding="utf-8")
    assert refusal(copy) == "email template 3.subject.txt: the subject is empty"


# --- onboarding preview-email ----------------------------------------------------------------


@pytest.fixture
def preview_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMAIL_TEMPLATES_DIR", str(DEFAULT_TEMPLATES))
    monkeypatch.setenv("SENDER_POSTAL_ADDRESS", "Onboarding & Co\n1 Main Street")
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://onboarding.example/")


def preview(*args: str) -> tuple[int, str, str]:
    from cli.main import app

    result = CliRunner().invoke(app, ["preview-email", *args])
    return result.exit_code, result.stdout, result.stderr


def test_preview_prints_the_subject_text_and_html(preview_env: None) -> None:
    code, out, err = preview("--number", "2", "--technology", "Shopify", "--first-name", "Ana")
    assert (code, err) == (0, "")
    assert out.startswith("Subject: Ana, your Shopify data is one click away\n")
    assert "Unsubscribe: https://onboarding.example/unsubscribe/PREVIEW-TOKEN" in out
    assert "Onboarding &amp; Co<br>" in out
    assert out.index("----- text") < out.index("----- html") < out.index("<!DOCTYPE html>")


def test_preview_writes_the_html_and_text_files(preview_env: None, tmp_path: Path) -> None:
    out = tmp_path / "preview"
    code, printed, _ = preview("--number", "3", "--technology", "Stripe", "--out", str(out))
    assert code == 0
    html, text = out / "email-3.html", out / "email-3.txt"
    assert printed.split() == [str(html), str(text)]
    assert text.read_text(encoding="utf-8").startswith(
        "Subject: Last tip for Stripe users, there\n"
    )
    assert 'href="https://onboarding.example/unsubscribe/PREVIEW-TOKEN"' in html.read_text(
        encoding="utf-8"
    )


def test_preview_without_a_postal_address_shows_a_placeholder(
    preview_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENDER_POSTAL_ADDRESS", "")
    code, out, err = preview("--number", "1", "--technology", "Shopify")
    assert code == 0
    assert "SENDER_POSTAL_ADDRESS is not set" in out
    assert "SENDER_POSTAL_ADDRESS is empty" in err


def test_preview_refuses_email_zero_in_one_line(preview_env: None) -> None:
    code, out, err = preview("--number", "0", "--technology", "Shopify")
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and err.startswith("error: --number 0")


def test_preview_reports_broken_templates_in_one_line(
    preview_env: None, copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (copy / "1.html").unlink()
    monkeypatch.setenv("EMAIL_TEMPLATES_DIR", str(copy))
    code, _, err = preview("--number", "1", "--technology", "Shopify")
    assert (code, err) == (2, f"error: email template 1.html is missing from {copy}\n")


def variant(templates: EmailTemplates, number: int, name: str | None) -> tuple[str, str, str]:
    content = templates.render(
        number=number,
        total=3,
        first_name="Ana",
        technology="Shopify",
        unsubscribe_url=URL,
        postal_address=ADDRESS,
        variant=name,
    )
    return content.subject, content.text, content.html


def test_a_variant_replaces_only_the_files_it_has() -> None:
    """short-subject has its own subjects; its bodies are the default ones."""
    templates = EmailTemplates()
    assert templates.variants() == ["short-subject"]
    own_subject, own_text, _ = variant(templates, 1, "short-subject")
    default_subject, default_text, _ = variant(templates, 1, None)
    assert own_subject == "Shopify + us, in two minutes" != default_subject
    assert own_text == default_text


def test_a_variant_without_templates_gets_the_default_ones() -> None:
    templates = EmailTemplates()
    assert variant(templates, 2, "control") == variant(templates, 2, None)
    # A name that is no folder name never reaches the file system.
    assert variant(templates, 2, "../emails") == variant(templates, 2, None)


def test_a_variant_without_the_footer_is_refused(copy: Path) -> None:
    folder = copy / "variants" / "plain"
    folder.mkdir(parents=True)
    (folder / "2.html").write_text("<p>Hello {{ first_name }}</p>\n", encoding="utf-8")
    message = refusal(copy)
    assert "unsubscribe" in message and "2" in message
