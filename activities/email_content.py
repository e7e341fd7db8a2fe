"""What each onboarding email says: Jinja2 templates that marketing edits (docs/emails.md), checked
when the worker starts so that a broken template, or one without its footer, never reaches a send."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    Template,
    TemplateNotFound,
    TemplateSyntaxError,
    select_autoescape,
)
from markupsafe import Markup, escape

DEFAULT_TEMPLATES = Path(__file__).resolve().parent / "templates" / "emails"

# Each step is three files: 1.subject.txt, 1.txt, 1.html; emails past the last step reuse it.
_STEP_PARTS = ("subject.txt", "txt", "html")
_STEP_FILE = re.compile(r"^([1-9][0-9]*)\.(?:subject\.txt|txt|html)$")
_SHARED = ("layout.txt", "layout.html", "technologies/default.txt", "technologies/default.html")
# An email experiment's variant overrides step files under variants/<variant>/, file by file.
_VARIANT_FILE = re.compile(
    r"^variants/([A-Za-z0-9._-]{1,64})/(?:[1-9][0-9]*)\.(?:subject\.txt|txt|html)$"
)

# What check() renders with: a name the HTML must escape, an address it must escape and break
# into lines, an unsubscribe URL with a character an attribute escapes, a technology without a block.
_SAMPLE_FIRST_NAMES = (None, "<Ana & Bo>")
_SAMPLE_URL = "https://onboarding.example/unsubscribe/CHECK?token=a&b=c"
_SAMPLE_ADDRESS = "Example & Co <Onboarding>\n1 Main Street\nSpringfield"
_UNKNOWN_TECHNOLOGY = "A Technology Without A Block"


@dataclass(frozen=True)
class EmailContent:
    subject: str
    text: str
    html: str


class EmailTemplatesError(Exception):
    """A template is missing or broken; the message is one line naming the file and the problem."""


def slug(technology: str) -> str:
    """The name of a technology's block: ``Google Analytics`` → ``google-analytics``."""
    return re.sub(r"[^a-z0-9]+", "-", str(technology).lower()).strip("-")


def line_breaks(value: str) -> Markup:
    """``value`` escaped, its lines joined with ``<br>``: a postal address in HTML."""
    return Markup("<br>\n").join(escape(line) for line in str(value).splitlines())


class EmailTemplates:
    """The emails' templates in ``directory`` (the packaged ones by default): per step a subject,
    a text and an HTML body extending ``layout.*``, which holds the footer, and a block per
    technology under ``technologies/``. Templates are read once; edits need a new instance."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory if directory is not None else DEFAULT_TEMPLATES
        self._environment = Environment(
            loader=FileSystemLoader(self.directory, encoding="utf-8"),
            autoescape=select_autoescape(enabled_extensions=("html",), default=False),
            undefined=StrictUndefined,
            keep_trailing_newline=True,  # a file ends where its author's last line does
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,  # no file checks per send: templates change with a restart
        )
        # Same inputs, same bytes: a retried send must not change its body, so nothing random.
        del self._environment.filters["random"], self._environment.globals["lipsum"]
        self._environment.filters["slug"] = slug
        self._environment.filters["line_breaks"] = line_breaks
        self._last_step: int | None = None
        self._names_read: set[str] | None = None

    def check(self, technologies: Iterable[str]) -> None:
        """Refuse templates that are missing, do not compile, fail to render for any step and
        technology (and one without a block), or drop the footer's unsubscribe link or postal
        address from either body."""
        names = self._names()
        for name in (*_SHARED, *(f"1.{part}" for part in _STEP_PARTS)):
            if name not in names:
                raise self._missing(name)
        for name in sorted(names):
            self._template(name)  # compiles every file, blocks no sample would include too
        last = self._last_step_number()
        # Every technology with the default copy; every variant's own copy once (its blocks
        # are the default's).
        cases: list[tuple[str, str | None]] = [
            (technology, None) for technology in (*technologies, _UNKNOWN_TECHNOLOGY)
        ]
        cases += [(_UNKNOWN_TECHNOLOGY, variant) for variant in self.variants()]
        for technology, variant in cases:
            for number in range(1, last + 1):
                for first_name in _SAMPLE_FIRST_NAMES:
                    content = self.render(
                        number=number,
                        total=last,
                        first_name=first_name,
                        technology=technology,
                        unsubscribe_url=_SAMPLE_URL,
                        postal_address=_SAMPLE_ADDRESS,
                        variant=variant,
                    )
                    _require_footer(number, content)
                    if "<Ana" in content.html:
                        html = self._pick(f"{min(number, last)}.html", variant)
                        raise EmailTemplatesError(
                            f"email template {html}: prints first_name unescaped; remove its |safe"
                        )

    def variants(self) -> list[str]:
        """The variants that have templates of their own."""
        return sorted({m.group(1) for name in self._names() if (m := _VARIANT_FILE.match(name))})

    def render(
        self,
        *,
        number: int,
        total: int,
        first_name: str | None,
        technology: str,
        unsubscribe_url: str,
        postal_address: str,
        variant: str | None = None,
    ) -> EmailContent:
        """Email ``number`` of ``total``; the same arguments always give the same bytes (a retried
        send reuses its idempotency key, which the email provider holds to one body). A variant's
        own file for a part replaces the default one; a part it lacks is the default's."""
        if not 1 <= number <= total:
            raise ValueError(f"email number {number} is not between 1 and {total}")
        step = min(number, self._last_step_number())
        variables: dict[str, Any] = {
            "first_name": first_name or "there",
            "technology": technology,
            "number": number,
            "total": total,
            "unsubscribe_url": unsubscribe_url,
            "postal_address": postal_address,
        }
        subject_file = self._pick(f"{step}.subject.txt", variant)
        subject = self._render(subject_file, variables).strip()
        if not subject:
            raise EmailTemplatesError(f"email template {subject_file}: the subject is empty")
        if "\n" in subject:
            raise EmailTemplatesError(
                f"email template {subject_file}: the subject spans several lines; keep it to one"
            )
        variables["subject"] = subject
        return EmailContent(
            subject=subject,
            text=self._render(self._pick(f"{step}.txt", variant), variables).strip(),
            html=self._render(self._pick(f"{step}.html", variant), variables).strip(),
        )

    def _pick(self, name: str, variant: str | None) -> str:
        if variant:
            own = f"variants/{variant}/{name}"
            if _VARIANT_FILE.match(own) and own in self._all_names():
                return own
        return name

    def _all_names(self) -> set[str]:
        if self._names_read is None:
            self._names_read = self._names()
        return self._names_read

    def _names(self) -> set[str]:
        if not self.directory.is_dir():
            raise EmailTemplatesError(f"email templates folder {self.directory} does not exist")
        return set(self._environment.list_templates(extensions=("txt", "html")))

    def _last_step_number(self) -> int:
        """The last step; steps are numbered from 1 without gaps, each with its three files."""
        if self._last_step is None:
            names = self._names()
            numbers = {int(m.group(1)) for name in names if (m := _STEP_FILE.match(name))}
            last = max(numbers, default=1)
            for number in range(1, last + 1):
                for part in _STEP_PARTS:
                    if f"{number}.{part}" not in names:
                        raise self._missing(f"{number}.{part}")
            self._last_step = last
        return self._last_step

    def _missing(self, name: str) -> EmailTemplatesError:
        return EmailTemplatesError(f"email template {name} is missing from {self.directory}")

    def _template(self, name: str) -> Template:
        try:
            return self._environment.get_template(name)
        except Exception as exc:
            raise EmailTemplatesError(self._describe(exc, name)) from None

    def _render(self, name: str, variables: dict[str, Any]) -> str:
        template = self._template(name)
        try:
            return template.render(variables)
        except Exception as exc:  # templates are edited by hand: any failure is theirs to fix
            raise EmailTemplatesError(self._describe(exc, name)) from None

    def _describe(self, exc: Exception, name: str) -> str:
        """One line: the template file (an included or extended one if it failed there), the line
        and the problem."""
        if isinstance(exc, TemplateSyntaxError):
            where = f"{exc.name or name} line {exc.lineno}"
            problem = exc.message or "syntax error"
        elif isinstance(exc, TemplateNotFound):
            return f"email template {exc.name} is missing from {self.directory}"
        elif isinstance(exc, UnicodeDecodeError):
            return f"email template {name} (or a file it includes) is not UTF-8 text"
        else:
            where, problem = self._failing_line(exc) or name, str(exc) or type(exc).__name__
        return " ".join(f"email template {where}: {problem}".split())

    def _failing_line(self, exc: Exception) -> str | None:
        """``file line N`` of the innermost template frame: Jinja rewrites the traceback of a
        render error to point into the template files."""
        found = None
        folder = self.directory.resolve()
        traceback = exc.__traceback__
        while traceback is not None:
            path = Path(traceback.tb_frame.f_code.co_filename)
            if path.is_absolute() or path.exists():
                path = path.resolve()
                if path.is_relative_to(folder):
                    found = f"{path.relative_to(folder).as_posix()} line {traceback.tb_lineno}"
            traceback = traceback.tb_next
        return found


def _require_footer(number: int, content: EmailContent) -> None:
    """The footer rule: both bodies carry the unsubscribe link and the sender's postal address."""
    address = _SAMPLE_ADDRESS.splitlines()
    link = re.compile(rf"""href\s*=\s*(["']){re.escape(escape(_SAMPLE_URL))}\1""")
    if _SAMPLE_URL not in content.text:
        problem = "lacks the unsubscribe link; keep 'Unsubscribe: {{ unsubscribe_url }}'"
        raise EmailTemplatesError(f"email template {number}.txt: {problem} (in layout.txt)")
    if not all(line in content.text for line in address):
        problem = "lacks the sender's postal address; keep {{ postal_address }}"
        raise EmailTemplatesError(f"email template {number}.txt: {problem} (in layout.txt)")
    if not link.search(content.html):
        problem = 'lacks the unsubscribe link; keep <a href="{{ unsubscribe_url }}">Unsubscribe</a>'
        raise EmailTemplatesError(f"email template {number}.html: {problem} (in layout.html)")
    if not all(escape(line) in content.html for line in address):
        problem = (
            "lacks the sender's postal address, escaped; keep {{ postal_address|line_breaks }}"
        )
        raise EmailTemplatesError(f"email template {number}.html: {problem} (in layout.html)")
