"""``onboarding codec-server``: Temporal's remote codec endpoints, so the Web UI and the
``temporal`` CLI can show the journeys' encrypted payloads to the people allowed to see them.

``POST .../encode`` and ``POST .../decode`` take and return Temporal's ``Payloads`` in protobuf
JSON (``{"payloads": [{"metadata": {k: base64}, "data": base64}]}``); only the last path segment
counts, so the endpoints can be mounted under a prefix. Every request needs a bearer token: the
static ``CODEC_SERVER_TOKEN`` (the CLI, scripts) or the Web UI user's access token, verified as a
JWT against ``CODEC_JWKS_URL``, ``CODEC_JWT_ISSUER`` and ``CODEC_JWT_AUDIENCE``. CORS lets the
Web UI (``CODEC_CORS_ORIGINS``) call it from the browser.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import logging
import socket
import threading
import time
from typing import Annotated, Any
from urllib.parse import urlsplit

import jwt
import uvicorn
from google.protobuf import json_format
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from temporalio.api.common.v1 import Payloads

from common.encryption import (
    KEYGEN_HINT,
    KEYS_ENV,
    DecryptionError,
    EncryptionCodec,
    EncryptionConfigError,
    EncryptionSettings,
)
from common.serving import ListenError, listen

log = logging.getLogger("onboarding.codec_server")

DEFAULT_PORT = 8081
MIN_TOKEN_LENGTH = 16
# Asymmetric only: an identity provider's public keys can never verify an HMAC-signed token.
JWT_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"]
JWT_LEEWAY_SECONDS = 30
CORS_HEADERS = ["Authorization", "Content-Type", "X-Namespace"]
LOOPBACK_NAMES = {"localhost"}


class CodecServerConfigError(Exception):
    """The codec server cannot start; the message is one line saying what to fix."""


class Unauthorized(Exception):
    """The request's bearer token is missing or not accepted; the message is one sentence."""


class CodecServerSettings(BaseSettings):
    """Who may use the codec server, and which browser origins may call it."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    codec_server_token: SecretStr | None = None
    codec_jwks_url: str | None = None
    codec_jwt_issuer: str | None = None
    codec_jwt_audience: str | None = None
    codec_cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["http://localhost:8233"]
    )

    @field_validator("codec_cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [origin.strip().rstrip("/") for origin in value.split(",") if origin.strip()]
        return value

    @property
    def jwt_settings(self) -> dict[str, str | None]:
        return {
            "CODEC_JWKS_URL": self.codec_jwks_url,
            "CODEC_JWT_ISSUER": self.codec_jwt_issuer,
            "CODEC_JWT_AUDIENCE": self.codec_jwt_audience,
        }

    @property
    def has_static_token(self) -> bool:
        return bool(self.codec_server_token and self.codec_server_token.get_secret_value())

    @property
    def has_jwt(self) -> bool:
        return all(self.jwt_settings.values())


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_settings(settings: CodecServerSettings, *, host: str, insecure_dev: bool) -> list[str]:
    """Why the codec server must not start with these settings; empty when it may."""
    problems: list[str] = []
    jwt_values = settings.jwt_settings
    missing = [name for name, value in jwt_values.items() if not value]
    if len(missing) < len(jwt_values) and missing:
        problems.append(
            f"Set {', '.join(missing)} too: Web UI access tokens are verified against the JWKS "
            "URL, issuer and audience together."
        )
    if settings.codec_jwks_url:
        url = urlsplit(settings.codec_jwks_url)
        if url.scheme != "https" and not (url.scheme == "http" and is_loopback(url.hostname or "")):
            problems.append("CODEC_JWKS_URL must be an https:// URL (http only on loopback).")
    token = settings.codec_server_token.get_secret_value() if settings.codec_server_token else ""
    if token and len(token) < MIN_TOKEN_LENGTH:
        problems.append(
            f"CODEC_SERVER_TOKEN is shorter than {MIN_TOKEN_LENGTH} characters; create one with: "
            'python3 -c "import secrets; print(secrets.token_urlsafe(32))"'
        )
    if not settings.has_static_token and not any(jwt_values.values()):
        if not insecure_dev:
            problems.append(
                "Set CODEC_SERVER_TOKEN (for the CLI) and/or CODEC_JWKS_URL, CODEC_JWT_ISSUER and "
                "CODEC_JWT_AUDIENCE (for Web UI access tokens) so every request is authenticated, "
                "or pass --insecure-dev to run without authentication on loopback."
            )
        elif not is_loopback(host):
            problems.append(
                f"--insecure-dev serves only on loopback (127.0.0.1, ::1, localhost), not on {host}."
            )
    return problems


class Authenticator:
    """Accepts the static token or a JWT from the configured identity provider; with neither
    configured (``--insecure-dev``), accepts every request."""

    def __init__(self, settings: CodecServerSettings) -> None:
        self._static = (
            settings.codec_server_token.get_secret_value().encode()
            if settings.codec_server_token and settings.has_static_token
            else None
        )
        self._jwks = (
            jwt.PyJWKClient(settings.codec_jwks_url, cache_keys=True, timeout=10)
            if settings.has_jwt and settings.codec_jwks_url
            else None
        )
        self._issuer = settings.codec_jwt_issuer
        self._audience = settings.codec_jwt_audience

    @classmethod
    def unauthenticated(cls) -> Authenticator:
        """Accepts every request, whatever the environment says (the demo, on loopback)."""
        return cls(
            CodecServerSettings(
                codec_server_token=None,
                codec_jwks_url=None,
                codec_jwt_issuer=None,
                codec_jwt_audience=None,
                _env_file=None,
            )
        )

    @property
    def enabled(self) -> bool:
        return self._static is not None or self._jwks is not None

    def check(self, authorization: str | None) -> None:
        """Return when the ``Authorization`` header is accepted; raise Unauthorized otherwise.

        Blocking (the JWKS may be fetched): call it from a thread.
        """
        if not self.enabled:
            return
        scheme, _, token = (authorization or "").strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("Send a bearer token in the Authorization header.")
        if self._static is not None and hmac.compare_digest(token.encode(), self._static):
            return
        if self._jwks is None:
            raise Unauthorized("The bearer token is not valid.")
        self._check_jwt(token)

    def _check_jwt(self, token: str) -> None:
        assert self._jwks is not None
        try:
            signing_key = self._jwks.get_signing_key_from_jwt(token)
            jwt.decode(
                token,
                signing_key.key,
                algorithms=JWT_ALGORITHMS,
                audience=self._audience,
                issuer=self._issuer,
                leeway=JWT_LEEWAY_SECONDS,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.PyJWKClientConnectionError:
            log.warning("cannot fetch the signing keys from CODEC_JWKS_URL")
            raise Unauthorized(
                "The access token cannot be checked now: the identity provider's keys are "
                "unreachable."
            ) from None
        except jwt.ExpiredSignatureError:
            raise Unauthorized("The access token has expired.") from None
        except jwt.InvalidAudienceError:
            raise Unauthorized("The access token is meant for another audience.") from None
        except jwt.InvalidIssuerError:
            raise Unauthorized("The access token comes from another issuer.") from None
        except jwt.MissingRequiredClaimError as exc:
            raise Unauthorized(f"The access token lacks the '{exc.claim}' claim.") from None
        except (jwt.InvalidSignatureError, jwt.PyJWKClientError, jwt.PyJWKError):
            raise Unauthorized(
                "The access token is not signed by the configured identity provider."
            ) from None
        except jwt.InvalidTokenError:
            raise Unauthorized("The bearer token is not valid.") from None


def _error(status: int, message: str, **headers: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers or None)


def create_app(
    codec: EncryptionCodec, authenticator: Authenticator, cors_origins: list[str]
) -> Starlette:
    """The codec endpoints behind the bearer-token check, with CORS for the Web UI."""

    async def endpoint(request: Request) -> Response:
        action = request.url.path.rstrip("/").rsplit("/", 1)[-1]
        if action not in ("encode", "decode"):
            return _error(404, "Not found: POST to .../encode or .../decode.")
        try:
            await run_in_threadpool(authenticator.check, request.headers.get("authorization"))
        except Unauthorized as exc:
            return _error(401, str(exc), **{"WWW-Authenticate": "Bearer"})
        try:
            payloads = json_format.Parse(await request.body(), Payloads())
        except (json_format.ParseError, UnicodeDecodeError):
            return _error(400, 'The body is not Temporal\'s Payloads JSON: {"payloads": [...]}.')
        try:
            if action == "encode":
                result = await codec.encode(payloads.payloads)
            else:
                result = await codec.decode(payloads.payloads)
        except DecryptionError as exc:
            return _error(422, f"{exc}.")
        log.info(
            "%s %d payloads for namespace %s",
            action,
            len(result),
            request.headers.get("x-namespace", "-"),
        )
        return Response(
            json_format.MessageToJson(Payloads(payloads=result), indent=None),
            media_type="application/json",
        )

    app = Starlette(
        routes=[Route("/{path:path}", endpoint, methods=["POST"])],
        middleware=[
            Middleware(
                CORSMiddleware,
                allow_origins=cors_origins,
                allow_methods=["POST"],
                allow_headers=CORS_HEADERS,
                allow_credentials=True,
                max_age=600,
            )
        ],
    )
    app.state.authenticated = authenticator.enabled
    app.state.cors_origins = list(cors_origins)
    return app


def build_app(*, host: str = "127.0.0.1", insecure_dev: bool = False) -> Starlette:
    """The app from the environment; raises CodecServerConfigError to refuse."""
    try:
        settings = CodecServerSettings()
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        field = ".".join(str(part) for part in first["loc"]).upper()
        raise CodecServerConfigError(f"{field} is invalid: {first['msg']}") from None
    problems = check_settings(settings, host=host, insecure_dev=insecure_dev)
    if problems:
        raise CodecServerConfigError(" ".join(problems))
    try:
        keys = EncryptionSettings().keys()
    except EncryptionConfigError as exc:
        raise CodecServerConfigError(str(exc)) from None
    if not keys:
        raise CodecServerConfigError(
            f"{KEYS_ENV} is not set: the codec server needs the workers' keys; {KEYGEN_HINT}."
        )
    return create_app(EncryptionCodec(keys), Authenticator(settings), settings.codec_cors_origins)


def describe(app: Starlette, url: str) -> str:
    """The line a person reads when the codec server starts: where, for whom, and how guarded."""
    line = (
        f"Codec server on {url} (POST /encode, /decode; CORS for "
        f"{', '.join(app.state.cors_origins) or 'no origin'})"
    )
    if app.state.authenticated:
        return line + "; bearer token required."
    return (
        line + "; WITHOUT authentication (--insecure-dev): anyone on this machine can decrypt "
        "the journeys' payloads. Loopback only; never expose it."
    )


def _bind(host: str, port: int) -> socket.socket:
    try:
        return listen(host, port)
    except ListenError as exc:
        raise CodecServerConfigError(str(exc)) from exc


def _url(sock: socket.socket, host: str) -> str:
    port = sock.getsockname()[1]
    shown = "127.0.0.1" if host in {"0.0.0.0", ""} else host
    return f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"


class CodecServerThread:
    """The codec server on a real port in a background thread (the demo, the tests).

    ``with CodecServerThread(app, port=0) as server:`` gives ``server.url``.
    """

    def __init__(self, app: Starlette, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.url = ""
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> CodecServerThread:
        sock = _bind(self.host, self.port)
        # log_config=None leaves the host process's logging alone; no access log: no payloads.
        server = uvicorn.Server(
            uvicorn.Config(self.app, log_config=None, access_log=False, lifespan="off")
        )
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="codec-server", daemon=True
        )
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                thread.join(5)
                sock.close()
                raise CodecServerConfigError("The codec server did not start.")
            time.sleep(0.005)
        self.url = _url(sock, self.host)
        self._server, self._thread = server, thread
        return self

    def __exit__(self, *exc: object) -> None:
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.should_exit = True
        thread.join(10)
        if thread.is_alive():
            server.force_exit = True
            thread.join(5)
        self._server = self._thread = None


def serve(host: str = "127.0.0.1", port: int = DEFAULT_PORT, insecure_dev: bool = False) -> None:
    """Run the codec server in the foreground until Ctrl+C; raises CodecServerConfigError to
    refuse."""
    app = build_app(host=host, insecure_dev=insecure_dev)
    sock = _bind(host, port)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    log.log(
        logging.INFO if app.state.authenticated else logging.WARNING,
        describe(app, _url(sock, host)),
    )
    server = uvicorn.Server(
        uvicorn.Config(app, log_config=None, access_log=False, timeout_graceful_shutdown=5)
    )
    # uvicorn re-raises the Ctrl+C it already handled; the shutdown was clean.
    with contextlib.suppress(KeyboardInterrupt):
        server.run(sockets=[sock])
