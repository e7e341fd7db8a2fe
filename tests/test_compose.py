"""Static checks of docker-compose.yml, the Dockerfile and .dockerignore.

There is no Docker engine where these tests run, so the compose file is checked the way
`docker compose config` would check it, plus what compose cannot know: that the worker is
given exactly the settings the product reads, with the product's own defaults.

The Compose JSON Schema in tests/data/compose-spec.json is an unchanged copy of
compose-spec/compose-spec, schema/compose-spec.json at commit
170098ba07d9f53c383a41bfd4c5166b0a4529a6 (see ../shared/vendor-specs/PROVENANCE.md,
where the shared copy of the same file lives).
"""

from __future__ import annotations

import json
import re
import tomllib
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from jsonschema import Draft7Validator
from sqlalchemy.engine import make_url

from activities.settings import VendorSettings
from common.encryption import EncryptionSettings, generate_key
from common.telemetry import MetricsSettings
from common.unsubscribe import generate_signing_key
from starter.settings import JourneySettings
from starter.webhook import WebhookSettings, check_secrets

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
PYPROJECT = ROOT / "pyproject.toml"
SCHEMA_CANDIDATES = (
    ROOT / "tests" / "data" / "compose-spec.json",
    ROOT.parent / "shared" / "vendor-specs" / "compose-spec.json",
)

WORKER = "worker"
WEBHOOK = "webhook"
WEBHOOK_PORT = 8000
DASHBOARD = "dashboard"
DASHBOARD_PORT = 8090
WAREHOUSE = "warehouse"
TEMPORAL = "temporal"
TEMPORAL_UI = "temporal-ui"
POSTGRES_PORT = 5432
PROMETHEUS = "prometheus"
GRAFANA = "grafana"
# Where the official images read their configuration.
PROMETHEUS_CONFIG = "/etc/prometheus/prometheus.yml"
GRAFANA_PROVISIONING = "/etc/grafana/provisioning"

SETTINGS_CLASSES: tuple[type[Any], ...] = (
    VendorSettings,
    JourneySettings,
    EncryptionSettings,
    MetricsSettings,
)
# The webhook is a starter: its own settings plus the journey rules it captures.
WEBHOOK_SETTINGS_CLASSES: tuple[type[Any], ...] = (
    JourneySettings,
    WebhookSettings,
    EncryptionSettings,
)
# What compose refuses to start without (`${NAME:?...}`).
WEBHOOK_SECRETS = ("SIGNUP_WEBHOOK_SECRET", "SEGMENT_SHARED_SECRET")
# What the worker's compose environment deliberately sets to something other than the
# product's default: the containers' own addresses, and a metrics endpoint for Prometheus.
COMPOSE_OVERRIDES = {"WAREHOUSE_URL", "TEMPORAL_UI_URL", "METRICS_PORT"}

# Client settings the Temporal SDK reads itself (temporalio.envconfig).
TEMPORAL_ENV_VARS = {
    "TEMPORAL_ADDRESS",
    "TEMPORAL_NAMESPACE",
    "TEMPORAL_API_KEY",
    "TEMPORAL_PROFILE",
    "TEMPORAL_CONFIG_FILE",
    "TEMPORAL_CODEC_ENDPOINT",
    "TEMPORAL_CODEC_AUTH",
}
TEMPORAL_ENV_PREFIXES = ("TEMPORAL_TLS", "TEMPORAL_GRPC_META_")

SECRET_NAME = re.compile(r"(API_KEY|TOKEN|SECRET)$")
CREDENTIAL_FIELD = re.compile(r"_(api_key|token)$")
# Shapes of real vendor credentials, and of long random tokens in general.
SECRET_VALUE = re.compile(
    r"xox[abprs]-[A-Za-z0-9-]+"  # Slack
    r"|\bre_[A-Za-z0-9_]{16,}"  # Resend
    r"|\bsk_(?:live|test)_[A-Za-z0-9]+"
    r"|(?<![A-Za-z0-9_])[A-Za-z0-9_-]{32,}"
)
IMAGE_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")

INTERPOLATION = re.compile(
    r"\$\$"
    r"|\$\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
)


# --- helpers ---------------------------------------------------------------------------


def interpolate(value: str, shell: Mapping[str, str]) -> str:
    """Resolve compose variable interpolation (``${VAR:-default}`` and friends)."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group("braced") or match.group("bare")
        op, arg = match.group("op"), match.group("arg") or ""
        present = name in shell
        current = shell.get(name, "")
        if op is None:
            return current
        colon = op.startswith(":")
        is_set = bool(current) if colon else present
        kind = op[-1]
        if kind == "-":
            return current if is_set else arg
        if kind == "+":
            return arg if is_set else ""
        if not is_set:  # "?": required
            raise ValueError(f"{name} is required: {arg}")
        return current

    return INTERPOLATION.sub(replace, value)


def environment(service: Mapping[str, Any]) -> dict[str, str]:
    """A service's environment as a mapping, whichever compose syntax it uses."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        pairs = (item.split("=", 1) for item in env)
        return {pair[0]: pair[1] if len(pair) == 2 else "" for pair in pairs}
    return {key: "" if value is None else str(value) for key, value in env.items()}


def depends_on(service: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return {name: {"condition": "service_started"} for name in deps}
    return {name: spec or {} for name, spec in deps.items()}


def host_port(spec: str | int | Mapping[str, Any]) -> tuple[str, str, str]:
    """(host ip, published port, protocol) of one `ports` entry."""
    if isinstance(spec, Mapping):
        return (
            str(spec.get("host_ip", "")),
            str(spec.get("published", "")),
            str(spec.get("protocol", "tcp")),
        )
    text, _, protocol = str(spec).partition("/")
    parts = text.rsplit(":", 2)
    if len(parts) == 1:  # container port only: an ephemeral host port, never a collision
        return ("", "", protocol or "tcp")
    host_ip = parts[0] if len(parts) == 3 else ""
    return (host_ip, parts[-2], protocol or "tcp")


def container_ports(service: Mapping[str, Any]) -> set[int]:
    ports: set[int] = set()
    for spec in service.get("ports") or []:
        if isinstance(spec, Mapping):
            ports.add(int(spec["target"]))
        else:
            ports.add(int(str(spec).partition("/")[0].rsplit(":", 1)[-1]))
    for spec in service.get("expose") or []:
        ports.add(int(str(spec).partition("/")[0]))
    return ports


def named_volumes(service: Mapping[str, Any]) -> Iterator[str]:
    for spec in service.get("volumes") or []:
        if isinstance(spec, Mapping):
            if spec.get("type", "volume") == "volume" and spec.get("source"):
                yield str(spec["source"])
            continue
        source, sep, _ = str(spec).partition(":")
        if sep and not source.startswith(("/", ".", "~", "$")):
            yield source


def bind_mounts(service: Mapping[str, Any]) -> dict[str, tuple[Path, bool]]:
    """A service's bind mounts: container path to (path here, read-only)."""
    mounts: dict[str, tuple[Path, bool]] = {}
    for spec in service.get("volumes") or []:
        if isinstance(spec, Mapping):
            if spec.get("type") == "bind":
                here = ROOT / normalise_path(str(spec["source"]))
                mounts[str(spec["target"])] = (here, bool(spec.get("read_only")))
            continue
        source, _, rest = str(spec).partition(":")
        if source.startswith(("/", ".", "~", "$")):
            target, _, mode = rest.partition(":")
            mounts[target] = (ROOT / normalise_path(source), "ro" in mode.split(","))
    return mounts


def path_here(service: Mapping[str, Any], container_path: str) -> Path | None:
    """The file here that a container sees at ``container_path``, through a bind mount."""
    for target, (source, _) in bind_mounts(service).items():
        if container_path == target or container_path.startswith(target.rstrip("/") + "/"):
            return source / container_path[len(target) :].lstrip("/")
    return None


def scrape_targets(config: Mapping[str, Any]) -> list[tuple[str, int]]:
    """(host, port) of every target in a Prometheus configuration, static or found by DNS."""
    targets: list[tuple[str, int]] = []
    for job in config.get("scrape_configs") or []:
        for static in job.get("static_configs") or []:
            for target in static.get("targets") or []:
                host, _, port = str(target).rpartition(":")
                targets.append((host, int(port)))
        for dns in job.get("dns_sd_configs") or []:
            targets += [(str(name), int(dns["port"])) for name in dns.get("names") or []]
    return targets


def setting_env_names(cls: type[Any]) -> set[str]:
    prefix = str(cls.model_config.get("env_prefix", ""))
    return {(prefix + (field.alias or name)).upper() for name, field in cls.model_fields.items()}


def known_worker_env(classes: tuple[type[Any], ...] = SETTINGS_CLASSES) -> set[str]:
    names: set[str] = set()
    for cls in classes:
        names |= setting_env_names(cls)
    return names | TEMPORAL_ENV_VARS


def credential_env_names() -> set[str]:
    return {
        name.upper()
        for cls in SETTINGS_CLASSES
        for name in cls.model_fields
        if CREDENTIAL_FIELD.search(name)
    }


def is_known_worker_env(name: str, classes: tuple[type[Any], ...] = SETTINGS_CLASSES) -> bool:
    return name in known_worker_env(classes) or name.startswith(TEMPORAL_ENV_PREFIXES)


def only_from_the_environment(name: str, value: str) -> bool:
    """Empty or required without a shell value, and the shell's value when there is one."""
    try:
        resolved = interpolate(value, {})
    except ValueError:  # `${NAME:?...}`: compose refuses to start without it
        resolved = ""
    return resolved == "" and interpolate(value, {name: "from-shell"}) == "from-shell"


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    instructions = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, args = line.partition(" ")
            instructions.append((keyword.upper(), args.strip()))
    return instructions


def normalise_path(path: str) -> str:
    return path.removeprefix("./").rstrip("/")


# --- fixtures --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict), "docker-compose.yml must be a YAML mapping"
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


@pytest.fixture(scope="module")
def worker_env(services: dict[str, dict[str, Any]]) -> dict[str, str]:
    return environment(services[WORKER])


@pytest.fixture(scope="module")
def webhook_env(services: dict[str, dict[str, Any]]) -> dict[str, str]:
    return environment(services[WEBHOOK])


@pytest.fixture(scope="module")
def pyproject() -> dict[str, Any]:
    return tomllib.loads(PYPROJECT.read_text())


# --- the compose file is valid compose -------------------------------------------------


def test_compose_file_validates_against_the_compose_spec(compose: dict[str, Any]) -> None:
    schema_path = next((path for path in SCHEMA_CANDIDATES if path.is_file()), None)
    if schema_path is None:
        pytest.skip(
            "compose-spec.json not found in tests/data/ or ../shared/vendor-specs/; "
            "restore it from compose-spec/compose-spec schema/compose-spec.json"
        )
    schema = json.loads(schema_path.read_text())
    Draft7Validator.check_schema(schema)
    errors = sorted(Draft7Validator(schema).iter_errors(compose), key=lambda e: e.json_path)
    assert not errors, "\n".join(f"{error.json_path}: {error.message}" for error in errors)


def test_the_expected_services_are_defined(services: dict[str, dict[str, Any]]) -> None:
    expected = {"postgresql", TEMPORAL, TEMPORAL_UI, WAREHOUSE, WORKER, WEBHOOK, DASHBOARD}
    assert set(services) >= expected | {PROMETHEUS, GRAFANA}


def test_every_dependency_is_a_service_and_health_waits_have_healthchecks(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, service in services.items():
        for dependency, spec in depends_on(service).items():
            assert dependency in services, f"{name} depends on unknown service {dependency}"
            assert dependency != name, f"{name} depends on itself"
            if spec.get("condition") == "service_healthy":
                assert "healthcheck" in services[dependency], (
                    f"{name} waits for {dependency} to be healthy, which has no healthcheck"
                )


def test_named_volumes_are_declared_and_used(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    declared = set(compose.get("volumes") or {})
    used = {volume for service in services.values() for volume in named_volumes(service)}
    assert used <= declared, f"undeclared named volumes: {sorted(used - declared)}"
    assert declared <= used, f"declared but unused volumes: {sorted(declared - used)}"
    for name in ("postgresql", WAREHOUSE):
        assert list(named_volumes(services[name])), f"{name} keeps its data in a named volume"


def test_published_ports_do_not_collide(services: dict[str, dict[str, Any]]) -> None:
    published = [
        host_port(spec) for service in services.values() for spec in service.get("ports") or []
    ]
    published = [port for port in published if port[1]]
    duplicates = [port for port, count in Counter(published).items() if count > 1]
    assert not duplicates, f"host ports published twice: {duplicates}"
    assert {port[1] for port in published} >= {"7233", "8080"}


def test_every_bind_mount_is_a_file_or_folder_here(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for target, (source, _) in bind_mounts(service).items():
            assert source.exists(), f"{name} mounts {source.relative_to(ROOT)} at {target}"


def test_databases_are_not_published_to_the_host(services: dict[str, dict[str, Any]]) -> None:
    # Their passwords are literal local-development defaults, so they stay on the network.
    for name in ("postgresql", WAREHOUSE):
        assert not services[name].get("ports"), f"{name} must not publish ports"


def test_images_are_pinned(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        if "image" not in service:
            continue
        image = str(service["image"])
        reference = image.rsplit("/", 1)[-1]
        assert ":" in reference or "@" in image, f"{name}: image {image} has no tag"
        assert not reference.endswith(":latest"), f"{name}: image {image} is not pinned"


# --- the worker's environment is the product's settings --------------------------------


def test_worker_is_built_here_and_runs_the_console_script(
    services: dict[str, dict[str, Any]], pyproject: dict[str, Any]
) -> None:
    worker = services[WORKER]
    assert worker["build"] in (".", {"context": "."})
    command = worker["command"]
    command = command.split() if isinstance(command, str) else command
    assert command == ["onboarding", "worker"]
    assert "onboarding" in pyproject["project"]["scripts"]
    assert worker.get("restart") == "unless-stopped"
    waits = depends_on(worker)
    assert waits[TEMPORAL]["condition"] in ("service_healthy", "service_started")
    assert waits[WAREHOUSE]["condition"] == "service_healthy"


def test_worker_environment_names_are_settings_the_product_reads(
    worker_env: dict[str, str],
) -> None:
    unknown = sorted(name for name in worker_env if not is_known_worker_env(name))
    assert not unknown, f"the product reads no setting named {unknown}"


def test_every_vendor_credential_is_passed_through_from_the_shell(
    worker_env: dict[str, str],
) -> None:
    credentials = credential_env_names()
    assert credentials, "expected *_api_key / *_token fields in the settings classes"
    missing = sorted(credentials - set(worker_env))
    assert not missing, f"vendor credentials not passed to the worker: {missing}"
    for name in credentials:
        assert interpolate(worker_env[name], {}) == "", f"{name} has a literal default"
        assert interpolate(worker_env[name], {name: "from-shell"}) == "from-shell", (
            f"{name} must be interpolated from the variable of the same name"
        )


def test_no_literal_secrets_in_the_compose_file(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for key, value in environment(service).items():
            if SECRET_NAME.search(key):
                assert only_from_the_environment(key, value), (
                    f"{name}.{key} must come only from the environment (${{{key}:-}} or "
                    f"${{{key}:?...}})"
                )
    for line_number, line in enumerate(COMPOSE_FILE.read_text().splitlines(), start=1):
        match = SECRET_VALUE.search(IMAGE_DIGEST.sub("", line))
        assert not match, f"docker-compose.yml:{line_number} looks like a secret: {match}"


def test_worker_without_user_settings_gets_the_product_defaults(
    worker_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # An empty value would override a default (an empty technology list, an empty sender),
    # so every interpolation must default to what the product itself defaults to.
    for cls in SETTINGS_CLASSES:
        for name in setting_env_names(cls):
            monkeypatch.delenv(name, raising=False)
    defaults = [cls(_env_file=None) for cls in SETTINGS_CLASSES]

    # Required settings (``${X:?...}``) have no default: the user must give them.
    required = {name for name, value in worker_env.items() if ":?" in value}
    shell = {name: generate_key("k1") for name in required}
    resolved = {name: interpolate(value, shell) for name, value in worker_env.items()}
    for name, value in resolved.items():
        monkeypatch.setenv(name, value)
    configured = [cls(_env_file=None) for cls in SETTINGS_CLASSES]

    for default, actual in zip(defaults, configured, strict=True):
        for field in type(default).model_fields:
            if field.upper() in required:
                continue
            if field.upper() in COMPOSE_OVERRIDES:
                assert str(getattr(actual, field)) == resolved[field.upper()]
            else:
                assert getattr(actual, field) == getattr(default, field), (
                    f"{field.upper()} without a user value differs from the product's default"
                )


def test_warehouse_url_points_at_the_warehouse_service(
    services: dict[str, dict[str, Any]], worker_env: dict[str, str]
) -> None:
    url = make_url(interpolate(worker_env["WAREHOUSE_URL"], {}))
    db = environment(services[WAREHOUSE])
    assert url.drivername == "postgresql+psycopg"
    assert url.host == WAREHOUSE
    assert (url.port or POSTGRES_PORT) == POSTGRES_PORT
    assert url.username == db["POSTGRES_USER"]
    assert url.password == db["POSTGRES_PASSWORD"]
    assert url.database == db.get("POSTGRES_DB", db["POSTGRES_USER"])


@pytest.mark.parametrize("client", [WORKER, WEBHOOK, TEMPORAL_UI])
def test_temporal_address_points_at_the_temporal_service(
    services: dict[str, dict[str, Any]], client: str
) -> None:
    address = interpolate(environment(services[client])["TEMPORAL_ADDRESS"], {})
    host, _, port = address.rpartition(":")
    assert host == TEMPORAL
    assert int(port) in container_ports(services[TEMPORAL])
    assert TEMPORAL in depends_on(services[client])


def test_ui_settings(services: dict[str, dict[str, Any]], worker_env: dict[str, str]) -> None:
    ui = services[TEMPORAL_UI]
    env = environment(ui)
    assert env["TEMPORAL_CORS_ORIGINS"] == "http://localhost:3000"
    assert "8080" in {host_port(spec)[1] for spec in ui["ports"]}
    assert interpolate(worker_env["TEMPORAL_UI_URL"], {}) == "http://localhost:8080"


# --- the webhook: same image, a starter's settings, secrets required ---------------------


def test_webhook_runs_the_worker_image_with_the_webhook_command(
    services: dict[str, dict[str, Any]],
) -> None:
    webhook = services[WEBHOOK]
    assert webhook["build"] == services[WORKER]["build"]
    command = webhook["command"]
    command = command.split() if isinstance(command, str) else command
    assert command == ["onboarding", "webhook", "--host", "0.0.0.0", "--port", str(WEBHOOK_PORT)]
    assert WEBHOOK_PORT in container_ports(webhook)
    assert str(WEBHOOK_PORT) in {host_port(spec)[1] for spec in webhook["ports"]}
    assert depends_on(webhook)[TEMPORAL]["condition"] == "service_healthy"
    # It records opt-outs, bounces and complaints in the warehouse's suppression list.
    assert depends_on(webhook)[WAREHOUSE]["condition"] == "service_healthy"
    assert "healthcheck" in webhook
    assert webhook.get("restart") == "unless-stopped"


def test_webhook_environment_names_are_settings_the_product_reads(
    webhook_env: dict[str, str],
) -> None:
    unknown = sorted(
        name for name in webhook_env if not is_known_worker_env(name, WEBHOOK_SETTINGS_CLASSES)
    )
    assert not unknown, f"the webhook reads no setting named {unknown}"


@pytest.mark.parametrize("name", WEBHOOK_SECRETS)
def test_webhook_secrets_are_required_from_the_shell(
    webhook_env: dict[str, str], name: str
) -> None:
    value = webhook_env[name]
    for shell in ({}, {name: ""}):
        with pytest.raises(ValueError, match=name):
            interpolate(value, shell)
    assert interpolate(value, {name: "from-shell"}) == "from-shell"


def test_webhook_starts_once_the_shell_provides_the_secrets(
    webhook_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    shell = {
        "SIGNUP_WEBHOOK_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "SEGMENT_SHARED_SECRET": "configured-in-segment",
        "ONBOARDING_ENCRYPTION_KEYS": generate_key("k1"),
        "UNSUBSCRIBE_SIGNING_KEYS": generate_signing_key("u1"),
    }
    for name in setting_env_names(WebhookSettings):
        monkeypatch.delenv(name, raising=False)
    for name, value in webhook_env.items():
        monkeypatch.setenv(name, interpolate(value, shell))
    settings = WebhookSettings(_env_file=None)
    assert check_secrets(settings) == []
    assert not settings.webhook_insecure_dev


def test_webhook_captures_the_same_journey_settings_as_the_worker(
    webhook_env: dict[str, str], worker_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    journey = setting_env_names(JourneySettings)
    # The three rules a person tunes; the rest default identically in both.
    for name in ("ENTERPRISE_EMPLOYEE_THRESHOLD", "INTEGRATED_TECHNOLOGIES", "EMAIL_SCHEDULE"):
        assert webhook_env.get(name) == worker_env[name], f"{name} differs from the worker's"
    for name in journey:
        monkeypatch.delenv(name, raising=False)
    default = JourneySettings(_env_file=None)
    for name in journey & set(webhook_env):
        monkeypatch.setenv(name, interpolate(webhook_env[name], {}))
    assert JourneySettings(_env_file=None) == default


# --- the search attributes: registered once before anything starts journeys --------------


def test_the_search_attributes_are_registered_before_journeys_start(
    services: dict[str, dict[str, Any]],
) -> None:
    setup = services["temporal-setup"]
    assert setup["build"] == services[WORKER]["build"]
    assert setup["command"] == ["onboarding", "register-search-attributes"]
    assert depends_on(setup)[TEMPORAL]["condition"] == "service_healthy"
    assert environment(setup)["TEMPORAL_ADDRESS"] == "temporal:7233"
    for name in (WORKER, WEBHOOK, DASHBOARD):
        condition = depends_on(services[name])["temporal-setup"]["condition"]
        assert condition == "service_completed_successfully", name


# --- the dashboard: same image, beyond loopback only with a sign-in -----------------------


def test_the_dashboard_runs_the_worker_image_and_requires_a_sign_in(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from common.codec_server import CodecServerSettings
    from dashboard.app import DashboardConfigError, check_access
    from dashboard.settings import DashboardSettings

    dashboard = services[DASHBOARD]
    assert dashboard["build"] == services[WORKER]["build"]
    port = str(DASHBOARD_PORT)
    assert dashboard["command"] == ["onboarding", "dashboard", "--host", "0.0.0.0", "--port", port]
    assert port in {host_port(spec)[1] for spec in dashboard["ports"]}
    assert depends_on(dashboard)[TEMPORAL]["condition"] == "service_healthy"
    assert "healthcheck" in dashboard
    env = environment(dashboard)
    classes = (DashboardSettings, CodecServerSettings, JourneySettings)
    unknown = sorted(name for name in env if not is_known_worker_env(name, classes))
    assert not unknown, f"the dashboard reads no setting named {unknown}"
    with pytest.raises(ValueError, match="CODEC_SERVER_TOKEN"):
        interpolate(env["CODEC_SERVER_TOKEN"], {})
    for name in setting_env_names(CodecServerSettings):
        monkeypatch.delenv(name, raising=False)
    token = "a-token-of-the-operators-choosing"
    for name, value in env.items():
        monkeypatch.setenv(name, interpolate(value, {"CODEC_SERVER_TOKEN": token}))
    check_access(CodecServerSettings(_env_file=None), "0.0.0.0")  # starts: it has a sign-in
    monkeypatch.delenv("CODEC_SERVER_TOKEN")
    with pytest.raises(DashboardConfigError):
        check_access(CodecServerSettings(_env_file=None), "0.0.0.0")
    assert env["TEMPORAL_UI_URL"].endswith(":8080")  # the compose Web UI's published port


# --- Prometheus and Grafana: the operators' dashboards -------------------------------------


@pytest.fixture(scope="module")
def prometheus_config(services: dict[str, dict[str, Any]]) -> dict[str, Any]:
    path = path_here(services[PROMETHEUS], PROMETHEUS_CONFIG)
    assert path is not None and path.is_file(), f"{PROMETHEUS} mounts no {PROMETHEUS_CONFIG}"
    config = yaml.safe_load(path.read_text())
    assert isinstance(config, dict)
    return config


@pytest.fixture(scope="module")
def grafana_provisioning(services: dict[str, dict[str, Any]]) -> Path:
    path = path_here(services[GRAFANA], GRAFANA_PROVISIONING)
    assert path is not None and path.is_dir(), f"{GRAFANA} mounts no {GRAFANA_PROVISIONING}"
    return path


@pytest.mark.parametrize(("name", "port"), [(PROMETHEUS, 9090), (GRAFANA, 3000)])
def test_the_dashboards_are_published_and_kept_running(
    services: dict[str, dict[str, Any]], name: str, port: int
) -> None:
    service = services[name]
    assert str(port) in {host_port(spec)[1] for spec in service["ports"]}
    assert port in container_ports(service)
    assert "healthcheck" in service
    assert service.get("restart") == "unless-stopped"


def test_their_configuration_is_mounted_read_only(services: dict[str, dict[str, Any]]) -> None:
    for name in (PROMETHEUS, GRAFANA):
        mounts = bind_mounts(services[name])
        assert mounts, f"{name} mounts no configuration"
        writable = [target for target, (_, read_only) in mounts.items() if not read_only]
        assert not writable, f"{name} may write to its configuration at {writable}"


def test_prometheus_scrapes_the_worker_metrics_port(
    prometheus_config: dict[str, Any], worker_env: dict[str, str]
) -> None:
    port = int(interpolate(worker_env.get("METRICS_PORT", "0"), {}) or 0)
    assert port, "the worker in compose serves no metrics (METRICS_PORT)"
    assert prometheus_config["global"]["scrape_interval"] == "15s"
    targets = scrape_targets(prometheus_config)
    assert targets, "Prometheus scrapes nothing"
    assert set(targets) == {(WORKER, port)}


def test_grafana_reads_the_prometheus_service(
    services: dict[str, dict[str, Any]], grafana_provisioning: Path
) -> None:
    grafana = services[GRAFANA]
    assert PROMETHEUS in depends_on(grafana)
    files = sorted((grafana_provisioning / "datasources").glob("*.yml"))
    sources = [
        source for path in files for source in yaml.safe_load(path.read_text())["datasources"]
    ]
    assert [source["type"] for source in sources] == ["prometheus"]
    url = urlsplit(sources[0]["url"])
    assert url.hostname == PROMETHEUS
    assert url.port in container_ports(services[PROMETHEUS])


def test_grafana_loads_the_dashboards_from_a_folder_compose_mounts(
    services: dict[str, dict[str, Any]], grafana_provisioning: Path
) -> None:
    grafana = services[GRAFANA]
    files = sorted((grafana_provisioning / "dashboards").glob("*.yml"))
    providers = [
        provider for path in files for provider in yaml.safe_load(path.read_text())["providers"]
    ]
    assert providers, "no dashboard provider is provisioned"
    for provider in providers:
        assert provider["type"] == "file"
        folder = path_here(grafana, provider["options"]["path"])
        assert folder is not None, f"{provider['options']['path']} is not mounted into {GRAFANA}"
        assert sorted(folder.glob("*.json")), f"{folder.relative_to(ROOT)} holds no dashboard"


def test_grafana_lets_anyone_view_and_takes_the_admin_password_from_the_shell(
    services: dict[str, dict[str, Any]],
) -> None:
    env = environment(services[GRAFANA])
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "true"
    assert env["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"
    password = env["GF_SECURITY_ADMIN_PASSWORD"]
    # Grafana's own default, for a local stack; documented at the top of the compose file.
    assert interpolate(password, {}) == "admin"
    assert interpolate(password, {"GRAFANA_ADMIN_PASSWORD": "from-shell"}) == "from-shell"
    assert "GRAFANA_ADMIN_PASSWORD" in COMPOSE_FILE.read_text().partition("\nservices:")[0]


# --- the image ---------------------------------------------------------------------------


def test_dockerfile_copies_every_package_and_what_pip_needs(pyproject: dict[str, Any]) -> None:
    sources: set[str] = set()
    for keyword, args in dockerfile_instructions():
        if keyword != "COPY":
            continue
        assert not args.startswith("["), "use the plain COPY form"
        tokens = [token for token in args.split() if not token.startswith("--")]
        sources |= {normalise_path(token) for token in tokens[:-1]}
    packages = pyproject["tool"]["setuptools"]["packages"]
    missing = sorted(set(packages) - sources)
    assert not missing, f"Dockerfile does not COPY packages {missing}"
    assert "pyproject.toml" in sources
    assert pyproject["project"]["readme"] in sources, "pip install needs the readme"

    ignored = {normalise_path(line) for line in DOCKERIGNORE.read_text().splitlines()}
    assert not sources & ignored, f".dockerignore excludes copied files {sources & ignored}"


def test_dockerfile_runs_the_worker_as_a_non_root_user() -> None:
    instructions = dockerfile_instructions()
    assert instructions[0] == ("FROM", "python:3.12-slim")
    users = [args for keyword, args in instructions if keyword == "USER"]
    assert users and users[-1] not in ("root", "0"), "the worker must not run as root"
    assert ("RUN", "pip install --no-cache-dir .") in [
        (keyword, args.split("&&")[0].strip()) for keyword, args in instructions
    ]
    assert instructions[-1] == ("CMD", '["onboarding", "worker"]')


def test_dockerignore_keeps_local_state_and_secrets_out_of_the_image() -> None:
    ignored = {normalise_path(line) for line in DOCKERIGNORE.read_text().splitlines()}
    for pattern in (".venv", ".git", ".env", "**/__pycache__", "**/*.db", ".demo"):
        assert pattern in ignored, f".dockerignore should exclude {pattern}"
