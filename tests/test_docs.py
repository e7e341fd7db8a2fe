"""The documentation stays true to the code.

- docs/configuration.md names every environment variable the product's settings read, and none
  that nothing reads;
- every relative link in the README, the changelog and docs/ leads to a file (and heading) that
  exists;
- the README stays a front door: at most 10 KB, the two commands, every top-level folder in its
  layout.
"""

from __future__ import annotations

import fnmatch
import importlib
import inspect
import pkgutil
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from pydantic import AliasChoices, AliasPath
from pydantic_settings import BaseSettings

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
CONFIGURATION = DOCS / "configuration.md"
README_MAX_BYTES = 10 * 1024

# Variables the page may name that no settings class holds: Temporal's own environment
# configuration (temporalio.envconfig, through common/connection.py) and the OpenTelemetry SDK's
# (common/telemetry.py and the OTLP exporter).
READ_ELSEWHERE = frozenset(
    {
        "TEMPORAL_ADDRESS",
        "TEMPORAL_NAMESPACE",
        "TEMPORAL_API_KEY",
        "TEMPORAL_TLS",
        "TEMPORAL_TLS_CLIENT_CERT_PATH",
        "TEMPORAL_TLS_CLIENT_KEY_PATH",
        "TEMPORAL_TLS_SERVER_CA_CERT_PATH",
        "TEMPORAL_TLS_SERVER_NAME",
        "TEMPORAL_PROFILE",
        "TEMPORAL_CONFIG_FILE",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_EXPORTER_OTLP_HEADERS",
        "OTEL_EXPORTER_OTLP_TIMEOUT",
        "OTEL_TRACES_EXPORTER",
        "OTEL_SERVICE_NAME",
    }
)

_VARIABLE = re.compile(r"`([A-Z][A-Z0-9_]*)`")
# os.environ.get("NAME"), os.getenv("NAME"), os.environ["NAME"]: a variable read by its name.
_READ_BY_NAME = re.compile(
    r"os\.(?:environ\.get|getenv)\(\s*[\"']([A-Z][A-Z0-9_]*)[\"']"
    r"|os\.environ\[\s*[\"']([A-Z][A-Z0-9_]*)[\"']\s*\]"
)
_FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
_CODE_SPAN = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


# --- the product's settings ------------------------------------------------------------------


def product_packages() -> list[str]:
    """The packages the product installs (pyproject's ``[tool.setuptools] packages``)."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages: list[str] = pyproject["tool"]["setuptools"]["packages"]
    return packages


def product_modules() -> Iterator[ModuleType]:
    for name in product_packages():
        package = importlib.import_module(name)
        yield package
        for info in pkgutil.walk_packages(package.__path__, f"{name}."):
            if info.name.rsplit(".", 1)[-1] == "__main__":
                continue  # running it is what importing it does
            yield importlib.import_module(info.name)


def settings_classes() -> list[type[BaseSettings]]:
    """Every pydantic-settings class the product defines, once, where it is defined."""
    found: dict[str, type[BaseSettings]] = {}
    for module in product_modules():
        for value in vars(module).values():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseSettings)
                and value.__module__ == module.__name__
            ):
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return [found[name] for name in sorted(found)]


def env_names(settings: type[BaseSettings]) -> dict[str, str]:
    """Each environment variable ``settings`` reads, to the field that reads it: the prefix plus
    the field's name, or the field's validation aliases (which take no prefix)."""
    config = settings.model_config
    prefix = str(config.get("env_prefix") or "")
    case_sensitive = bool(config.get("case_sensitive"))
    names: dict[str, str] = {}
    for field_name, field in settings.model_fields.items():
        alias = field.validation_alias
        candidates: list[str]
        if isinstance(alias, str):
            candidates = [alias]
        elif isinstance(alias, AliasChoices):
            candidates = [
                str(choice.path[0]) if isinstance(choice, AliasPath) else choice
                for choice in alias.choices
            ]
        elif isinstance(alias, AliasPath):
            candidates = [str(alias.path[0])]
        else:
            candidates = [prefix + field_name]
        for candidate in candidates:
            env = candidate if case_sensitive else candidate.upper()
            names[env] = f"{settings.__module__}.{settings.__qualname__}.{field_name}"
    return names


def settings_variables() -> dict[str, str]:
    variables: dict[str, str] = {}
    for settings in settings_classes():
        variables.update(env_names(settings))
    return variables


def read_by_name() -> dict[str, str]:
    """Variables the product's code reads from the environment by a literal name, to where."""
    found: dict[str, str] = {}
    for package in product_packages():
        for path in sorted((ROOT / package).rglob("*.py")):
            for match in _READ_BY_NAME.finditer(path.read_text(encoding="utf-8")):
                found.setdefault(match.group(1) or match.group(2), str(path.relative_to(ROOT)))
    return found


def documented_variables(page: Path) -> set[str]:
    """The variables named (in backticks) in the first column of the page's tables."""
    names: set[str] = set()
    for line in _FENCE.sub("", page.read_text(encoding="utf-8")).splitlines():
        if line.lstrip().startswith("|"):
            first_cell = line.strip().strip("|").split("|")[0]
            names.update(_VARIABLE.findall(first_cell))
    return names


def test_the_product_has_settings_to_document() -> None:
    variables = settings_variables()
    # A discovery that found nothing would make the page checks below pass vacuously.
    assert {"ONBOARDING_ENCRYPTION_KEYS", "EMAIL_SCHEDULE", "WORKER_MAX_CACHED_WORKFLOWS"} <= set(
        variables
    )


def test_the_configuration_page_names_every_setting() -> None:
    documented = documented_variables(CONFIGURATION)
    missing = {
        name: field for name, field in settings_variables().items() if name not in documented
    }
    assert not missing, "docs/configuration.md lacks a table row for: " + ", ".join(
        f"{name} ({field})" for name, field in sorted(missing.items())
    )


def test_the_configuration_page_names_only_variables_the_product_reads() -> None:
    known = set(settings_variables()) | READ_ELSEWHERE
    unknown = sorted(documented_variables(CONFIGURATION) - known)
    assert not unknown, (
        "docs/configuration.md names variables no settings field reads (remove them, or add them "
        f"to READ_ELSEWHERE if something else reads them): {', '.join(unknown)}"
    )


def test_every_variable_read_by_name_is_on_the_page_and_known() -> None:
    documented = documented_variables(CONFIGURATION)
    read = read_by_name()
    undocumented = {name: where for name, where in read.items() if name not in documented}
    assert not undocumented, "docs/configuration.md lacks: " + ", ".join(
        f"{name} (read in {where})" for name, where in sorted(undocumented.items())
    )
    unlisted = sorted(set(read) - READ_ELSEWHERE - set(settings_variables()))
    assert not unlisted, f"add to READ_ELSEWHERE: {', '.join(unlisted)}"


# --- links -----------------------------------------------------------------------------------


def markdown_pages() -> list[Path]:
    pages = [README, *sorted(DOCS.rglob("*.md"))]
    changelog = ROOT / "CHANGELOG.md"
    if changelog.exists():
        pages.append(changelog)
    return pages


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "").strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    for heading in _HEADING.findall(_FENCE.sub("", page.read_text(encoding="utf-8"))):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def relative_links(page: Path) -> list[str]:
    text = _CODE_SPAN.sub("", _FENCE.sub("", page.read_text(encoding="utf-8")))
    return [target for target in _LINK.findall(text) if not _SCHEME.match(target)]


def broken_links(page: Path) -> list[str]:
    broken = []
    for target in relative_links(page):
        path_part, _, anchor = target.partition("#")
        destination = (page.parent / path_part).resolve() if path_part else page
        if not destination.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and destination.suffix == ".md" and anchor not in anchors(destination):
            broken.append(f"{target} (no such heading)")
    return broken


def test_the_docs_have_pages() -> None:
    assert CONFIGURATION.exists()
    assert len(markdown_pages()) > 2


@pytest.mark.parametrize("page", markdown_pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_leads_somewhere(page: Path) -> None:
    assert broken_links(page) == []


# --- the README as the front door ------------------------------------------------------------


def test_the_readme_is_short_and_gives_the_two_commands() -> None:
    size = len(README.read_bytes())
    assert size <= README_MAX_BYTES, f"README.md is {size} bytes: move reference to docs/"
    text = README.read_text(encoding="utf-8")
    assert "make demo" in text and "make test" in text


def ignored_by_git(name: str) -> bool:
    patterns = [
        line.strip().rstrip("/")
        for line in (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    return any(fnmatch.fnmatch(name, pattern) for pattern in patterns)


def test_the_readme_layout_lists_every_top_level_folder() -> None:
    text = README.read_text(encoding="utf-8")
    layout = text.partition("## Layout")[2].partition("\n## ")[0]
    assert layout, "README.md has no '## Layout' section"
    folders = sorted(
        path.name
        for path in ROOT.iterdir()
        if path.is_dir() and not path.name.startswith(".") and not ignored_by_git(path.name)
    )
    missing = [name for name in folders if not re.search(rf"^{re.escape(name)}/", layout, re.M)]
    assert not missing, f"README.md's layout lacks: {', '.join(missing)}"
