"""The codec server over a real socket: Temporal's /encode and /decode, bearer tokens (the static
one, and Web UI access tokens checked against a JWKS served locally), CORS for the Web UI, and
refusing to start unguarded."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads

from common.codec_server import (
    Authenticator,
    CodecServerConfigError,
    CodecServerSettings,
    CodecServerThread,
    build_app,
    check_settings,
    create_app,
)
from common.encryption import KEY_ID_METADATA, KEYS_ENV, EncryptionCodec, generate_key, parse_keys
from tests.helpers import ONBOARDING

TOKEN = secrets.token_urlsafe(32)
ISSUER = "https://login.example.com/"
AUDIENCE = "onboarding-codec"
UI_ORIGIN = "http://localhost:8233"
KEY_ID = "test-signing-key"


class Jwks:
    """An identity provider's JWKS endpoint on a free local port."""

    def __init__(self, public_jwk: dict[str, Any]) -> None:
        body = json.dumps({"keys": [public_jwk]}).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/.well-known/jwks.json"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Jwks:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


SIGNING_KEY = rsa_key()
OTHER_KEY = rsa_key()


def access_token(
    key: rsa.RSAPrivateKey = SIGNING_KEY,
    *,
    kid: str = KEY_ID,
    expires_in: float = 300,
    **claims: Any,
) -> str:
    now = int(time.time())
    body = {"iss": ISSUER, "aud": AUDIENCE, "sub": "ana", "iat": now, "exp": now + expires_in}
    body.update(claims)
    return jwt.encode(body, key, algorithm="RS256", headers={"kid": kid})


def settings(**overrides: Any) -> CodecServerSettings:
    values: dict[str, Any] = {
        "codec_server_token": None,
        "codec_jwks_url": None,
        "codec_jwt_issuer": None,
        "codec_jwt_audience": None,
        "codec_cors_origins": [UI_ORIGIN],
    }
    values.update(overrides)
    return CodecServerSettings(**values, _env_file=None)


@pytest.fixture(scope="module")
def keys() -> str:
    return generate_key("k1")


@pytest.fixture(scope="module")
def codec_url(keys: str) -> Iterator[str]:
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(SIGNING_KEY.public_key()))
    public.update(kid=KEY_ID, alg="RS256", use="sig")
    with Jwks(public) as jwks:
        configured = settings(
            codec_server_token=TOKEN,
            codec_jwks_url=jwks.url,
            codec_jwt_issuer=ISSUER,
            codec_jwt_audience=AUDIENCE,
        )
        app = create_app(
            EncryptionCodec(parse_keys(keys)),
            Authenticator(configured),
            configured.codec_cors_origins,
        )
        with CodecServerThread(app) as server:
            yield server.url


def body(*payloads: Payload) -> str:
    return json_format.MessageToJson(Payloads(payloads=payloads))


def post(url: str, path: str, content: str, token: str | None) -> httpx.Response:
    headers = {"Content-Type": "application/json", "X-Namespace": "default"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.post(f"{url}{path}", content=content, headers=headers, timeout=10)


PLAIN = Payload(metadata={"encoding": b"json/plain"}, data=b'{"email": "ana@acme.example"}')


def test_encode_then_decode_round_trips_in_temporal_json(codec_url: str) -> None:
    encoded = post(codec_url, "/encode", body(PLAIN), TOKEN)
    assert encoded.status_code == 200, encoded.text
    assert encoded.headers["content-type"] == "application/json"
    [sealed] = json_format.Parse(encoded.text, Payloads()).payloads
    assert sealed.metadata[KEY_ID_METADATA] == b"k1"
    assert b"ana@acme.example" not in sealed.data
    # The wire shape: {"payloads": [{"metadata": {k: base64}, "data": base64}]}.
    wire = encoded.json()
    assert set(wire) == {"payloads"}
    assert set(wire["payloads"][0]) == {"metadata", "data"}

    decoded = post(codec_url, "/decode", encoded.text, TOKEN)
    assert decoded.status_code == 200, decoded.text
    assert json_format.Parse(decoded.text, Payloads()).payloads == [PLAIN]


def test_only_the_last_path_segment_counts(codec_url: str) -> None:
    assert post(codec_url, "/default/encode", body(PLAIN), TOKEN).status_code == 200
    assert post(codec_url, "/elsewhere", body(PLAIN), TOKEN).status_code == 404


def test_a_bad_body_is_one_sentence(codec_url: str) -> None:
    answer = post(codec_url, "/decode", "not json", TOKEN)
    assert answer.status_code == 400
    assert "Payloads JSON" in answer.json()["error"]


def test_a_payload_from_an_unknown_key_names_the_key(codec_url: str) -> None:
    other = EncryptionCodec(parse_keys(generate_key("k0")))
    sealed = other.encrypt(PLAIN)
    answer = post(codec_url, "/decode", body(sealed), TOKEN)
    assert answer.status_code == 422
    assert "'k0'" in answer.json()["error"]


def test_a_web_ui_access_token_is_accepted(codec_url: str) -> None:
    assert post(codec_url, "/encode", body(PLAIN), access_token()).status_code == 200


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        # Made when the test runs, not when it is collected: a token made at collection would
        # expire before its test in a suite that takes longer than its lifetime.
        (lambda: None, "Send a bearer token"),
        (lambda: "wrong-" + TOKEN, "not valid"),
        (lambda: access_token(expires_in=-300), "expired"),
        (lambda: access_token(OTHER_KEY), "not signed by the configured identity provider"),
        (lambda: access_token(OTHER_KEY, kid="someone-else"), "not signed by the configured"),
        (lambda: access_token(aud="another-app"), "another audience"),
        (lambda: access_token(iss="https://evil.example/"), "another issuer"),
        (
            lambda: jwt.encode(
                {"iss": ISSUER, "aud": AUDIENCE}, SIGNING_KEY, "RS256", {"kid": KEY_ID}
            ),
            "exp",
        ),
    ],
    ids=[
        "no-token",
        "wrong-token",
        "expired",
        "other-key",
        "unknown-kid",
        "wrong-audience",
        "wrong-issuer",
        "no-expiry",
    ],
)
def test_rejected_tokens_get_401_with_one_sentence(
    codec_url: str, token: Callable[[], str | None], reason: str
) -> None:
    answer = post(codec_url, "/decode", body(PLAIN), token())
    assert answer.status_code == 401
    message = answer.json()["error"]
    assert reason in message
    assert message.endswith(".") and "\n" not in message
    assert answer.headers["www-authenticate"] == "Bearer"


def test_a_basic_authorization_header_is_refused(codec_url: str) -> None:
    answer = httpx.post(
        f"{codec_url}/decode", content=body(PLAIN), headers={"Authorization": f"Basic {TOKEN}"}
    )
    assert answer.status_code == 401


def test_the_web_ui_preflight_needs_no_token(codec_url: str) -> None:
    answer = httpx.options(
        f"{codec_url}/decode",
        headers={
            "Origin": UI_ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type,x-namespace",
        },
    )
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == UI_ORIGIN
    assert answer.headers["access-control-allow-credentials"] == "true"
    allowed = answer.headers["access-control-allow-headers"].lower()
    assert {"authorization", "content-type", "x-namespace"} <= set(
        allowed.replace(" ", "").split(",")
    )
    assert "POST" in answer.headers["access-control-allow-methods"]


def test_another_origin_is_not_allowed(codec_url: str) -> None:
    answer = httpx.options(
        f"{codec_url}/decode",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in answer.headers


def test_the_browser_can_read_the_answers_and_the_refusals(codec_url: str) -> None:
    for token in (TOKEN, None):
        answer = httpx.post(
            f"{codec_url}/decode",
            content=body(PLAIN),
            headers={
                "Origin": UI_ORIGIN,
                **({"Authorization": f"Bearer {token}"} if token else {}),
            },
        )
        assert answer.headers["access-control-allow-origin"] == UI_ORIGIN


@pytest.mark.parametrize(
    ("overrides", "host", "insecure", "problem"),
    [
        ({}, "127.0.0.1", False, "Set CODEC_SERVER_TOKEN"),
        ({}, "0.0.0.0", True, "--insecure-dev serves only on loopback"),
        ({"codec_server_token": "short"}, "127.0.0.1", False, "shorter than 16"),
        ({"codec_jwks_url": "https://idp.example/jwks"}, "127.0.0.1", False, "CODEC_JWT_ISSUER"),
        (
            {
                "codec_jwks_url": "http://idp.example/jwks",
                "codec_jwt_issuer": ISSUER,
                "codec_jwt_audience": AUDIENCE,
            },
            "127.0.0.1",
            False,
            "must be an https:// URL",
        ),
    ],
)
def test_it_refuses_to_start_unguarded(
    overrides: dict[str, Any], host: str, insecure: bool, problem: str
) -> None:
    problems = check_settings(settings(**overrides), host=host, insecure_dev=insecure)
    assert any(problem in p for p in problems), problems


def test_insecure_dev_on_loopback_starts_and_says_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, keys: str
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("CODEC_SERVER_TOKEN", "CODEC_JWKS_URL", "CODEC_JWT_ISSUER", "CODEC_JWT_AUDIENCE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(KEYS_ENV, keys)
    with pytest.raises(CodecServerConfigError, match="--insecure-dev"):
        build_app()
    app = build_app(insecure_dev=True)
    assert app.state.authenticated is False
    with CodecServerThread(app) as server:
        assert post(server.url, "/encode", body(PLAIN), None).status_code == 200

    monkeypatch.delenv(KEYS_ENV)
    with pytest.raises(CodecServerConfigError, match=f"{KEYS_ENV} is not set"):
        build_app(insecure_dev=True)


def test_the_command_says_plainly_that_it_runs_without_authentication(
    tmp_path: Path, keys: str
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODEC_")}
    env[KEYS_ENV] = keys
    refused = subprocess.run(
        [ONBOARDING, "codec-server", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert refused.returncode == 2
    assert refused.stderr.startswith("error: Set CODEC_SERVER_TOKEN")

    process = subprocess.Popen(
        [ONBOARDING, "codec-server", "--port", str(port), "--insecure-dev"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                answer = post(f"http://127.0.0.1:{port}", "/encode", body(PLAIN), None)
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
        assert answer.status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=20)
    assert "WITHOUT authentication" in output
    assert process.returncode == 0, output
