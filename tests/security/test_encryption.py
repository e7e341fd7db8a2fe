"""The payload codec on its own: round trip, key rotation, unknown keys, bad configuration."""

from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DefaultFailureConverterWithEncodedAttributes
from temporalio.exceptions import ApplicationError

from common.encryption import (
    ENCODING,
    KEY_ID_METADATA,
    KEYS_ENV,
    DecryptionError,
    EncryptionCodec,
    EncryptionConfigError,
    EncryptionSettings,
    UnknownKeyError,
    data_converter,
    generate_key,
    parse_keys,
)
from tests.helpers import ONBOARDING
from workflows.models import Signup

EMAIL = "ana.quillfeather@acme.example"


def a_signup() -> Signup:
    return Signup(user_id="u_1", email=EMAIL, first_name="Ana", last_name="Quillfeather")


def b64(n: int) -> str:
    return base64.b64encode(os.urandom(n)).decode()


async def test_round_trip_hides_everything_and_restores_it_exactly() -> None:
    converter = data_converter(generate_key("k1"))
    [payload] = await converter.encode([a_signup()])

    assert payload.metadata["encoding"] == ENCODING
    assert payload.metadata[KEY_ID_METADATA] == b"k1"
    assert set(payload.metadata) == {"encoding", KEY_ID_METADATA}  # json/plain is hidden too
    assert EMAIL.encode() not in payload.SerializeToString()
    assert b"Quillfeather" not in payload.SerializeToString()
    [back] = await converter.decode([payload], [Signup])
    assert back == a_signup()


async def test_each_payload_gets_its_own_nonce() -> None:
    codec = EncryptionCodec(parse_keys(generate_key("k1")))
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'"same"')
    first, second = await codec.encode([plain, plain])
    assert first.data[:12] != second.data[:12]
    assert first.data != second.data


async def test_a_tampered_payload_is_refused() -> None:
    codec = EncryptionCodec(parse_keys(generate_key("k1")))
    [sealed] = await codec.encode([Payload(metadata={"encoding": b"json/plain"}, data=b"1")])
    tampered = Payload()
    tampered.CopyFrom(sealed)
    tampered.data = sealed.data[:-1] + bytes([sealed.data[-1] ^ 1])
    with pytest.raises(DecryptionError, match="key 'k1'"):
        await codec.decode([tampered])


async def test_failure_messages_are_encrypted_too() -> None:
    converter = data_converter(generate_key("k1"))
    assert isinstance(converter.failure_converter, DefaultFailureConverterWithEncodedAttributes)
    failure = Failure()
    await converter.encode_failure(ApplicationError(f"no mailbox for {EMAIL}"), failure)
    assert EMAIL.encode() not in failure.SerializeToString()
    assert failure.message == "Encoded failure"
    error = await converter.decode_failure(failure)
    assert EMAIL in str(error)


async def test_a_payload_from_the_old_key_decrypts_after_rotation() -> None:
    old, new = generate_key("k1"), generate_key("k2")
    [sealed] = await data_converter(old).encode([a_signup()])

    rotated = data_converter(f"{new},{old}")
    [back] = await rotated.decode([sealed], [Signup])
    assert back == a_signup()
    [resealed] = await rotated.encode([a_signup()])
    assert resealed.metadata[KEY_ID_METADATA] == b"k2"  # the first key encrypts


async def test_a_payload_from_a_key_no_longer_configured_names_the_key() -> None:
    [sealed] = await data_converter(generate_key("k1")).encode([a_signup()])
    with pytest.raises(UnknownKeyError) as raised:
        await data_converter(generate_key("k2")).decode([sealed], [Signup])
    assert raised.value.key_id == "k1"
    assert "'k1'" in str(raised.value) and KEYS_ENV in str(raised.value)


async def test_payloads_written_before_encryption_stay_readable() -> None:
    [plain] = await pydantic_data_converter.encode([a_signup()])
    [back] = await data_converter(generate_key("k1")).decode([plain], [Signup])
    assert back == a_signup()


def test_without_keys_the_plain_pydantic_converter_is_used(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env
    monkeypatch.delenv(KEYS_ENV, raising=False)
    assert data_converter() is pydantic_data_converter
    assert data_converter("") is pydantic_data_converter


def test_the_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    first, second = generate_key("k2"), generate_key("k1")
    monkeypatch.setenv(KEYS_ENV, f" {first} , {second}\n")
    assert list(EncryptionSettings().keys()) == ["k2", "k1"]
    assert data_converter().payload_codec is not None


def test_a_generated_key_is_32_random_bytes_under_its_id() -> None:
    key_id, _, key = generate_key("prod-2026.01").partition(":")
    assert key_id == "prod-2026.01"
    assert len(base64.b64decode(key)) == 32
    assert generate_key("k") != generate_key("k")
    with pytest.raises(EncryptionConfigError, match="key id"):
        generate_key("has space")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (f"k1:{b64(32)},", "entry 2 of 2 is empty"),
        (b64(32), "entry 1 of 1 has no key id"),
        (f":{b64(32)}", "entry 1 of 1 has no key id"),
        (f"k1:{b64(32)},k1:{b64(32)}", "entry 2 of 2: key id 'k1' appears twice"),
        ("k1:not base64!", "entry 1 of 1 (key id 'k1') is not valid base64"),
        (f"k1:{b64(32)},k2:{b64(16)}", "entry 2 of 2 (key id 'k2') decodes to 16 bytes"),
        (f"bad/id:{b64(32)}", "key id 'bad/id' must be"),
    ],
)
def test_bad_key_configuration_is_one_line_naming_the_entry(value: str, message: str) -> None:
    with pytest.raises(EncryptionConfigError) as raised:
        parse_keys(value)
    text = str(raised.value)
    assert message in text
    assert text.startswith(KEYS_ENV)
    assert "\n" not in text
    # Key material never ends up in an error message.
    for part in value.replace(",", ":").split(":"):
        if len(part) > 20:
            assert part not in text


def test_the_worker_refuses_to_start_without_a_key(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != KEYS_ENV}
    result = subprocess.run(
        [ONBOARDING, "worker"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert f"{KEYS_ENV} is not set" in line
    assert "onboarding keygen" in line


def test_the_worker_refuses_a_bad_key_in_one_line(tmp_path: Path) -> None:
    env = {**os.environ, KEYS_ENV: f"k1:{b64(16)}"}
    result = subprocess.run(
        [ONBOARDING, "worker"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"error: {KEYS_ENV} entry 1 of 1 (key id 'k1') decodes to 16 bytes; "
        "AES-256 needs exactly 32"
    )


def test_keygen_prints_an_entry_that_parses(tmp_path: Path) -> None:
    result = subprocess.run(
        [ONBOARDING, "keygen", "k7"], cwd=tmp_path, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert list(parse_keys(result.stdout.strip())) == ["k7"]
    assert "first" in result.stderr
