"""Personal data never reaches Temporal in plain text: every payload this project writes (journey
inputs and results, activity inputs and results, signals, queries, updates, summaries, failure
messages and stack traces) is encrypted with AES-256-GCM before it leaves the process.

Keys come from ``ONBOARDING_ENCRYPTION_KEYS``: comma-separated ``key-id:base64-of-32-bytes``
entries. The first key encrypts; every key decrypts, so a new key can be put first while journeys
encrypted with the old one are still in flight. Each encrypted payload names its key id in its
metadata, so a missing key is reported by name.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import PydanticPayloadConverter, pydantic_data_converter
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
)

from common.key_lists import KeyList

KEYS_ENV = "ONBOARDING_ENCRYPTION_KEYS"
ENCODING = b"binary/encrypted"
KEY_ID_METADATA = "encryption-key-id"
KEY_BYTES = 32
NONCE_BYTES = 12
KEYGEN_HINT = (
    'create a key with `onboarding keygen k1` (or python -c "from common.encryption import '
    "generate_key; print(generate_key('k1'))\") and set "
    f"{KEYS_ENV}=<its output>"
)

_KEY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class EncryptionConfigError(ValueError):
    """``ONBOARDING_ENCRYPTION_KEYS`` cannot be used; the message is one line saying what to fix."""


class DecryptionError(Exception):
    """An encrypted payload cannot be decrypted with the configured keys."""


class UnknownKeyError(DecryptionError):
    """A payload was encrypted with a key id that is not configured."""

    def __init__(self, key_id: str) -> None:
        self.key_id = key_id
        super().__init__(
            f"A payload is encrypted with key '{key_id}', which {KEYS_ENV} does not hold: "
            f"add '{key_id}:<its key>' back to {KEYS_ENV} (after the key that encrypts) to read it"
        )


_KEYS = KeyList(
    env=KEYS_ENV,
    error=EncryptionConfigError,
    key_id=_KEY_ID,
    key_id_rule="1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
    key_bytes=KEY_BYTES,
    exact=True,
    why="AES-256",
)


def parse_keys(value: str) -> dict[str, bytes]:
    """``key-id:base64,...`` as an ordered mapping, the encrypting key first.

    Raises EncryptionConfigError naming the entry and what is wrong, never echoing key material.
    """
    return _KEYS.parse(value)


def generate_key(key_id: str) -> str:
    """A new ``key-id:base64`` entry for ``ONBOARDING_ENCRYPTION_KEYS`` (32 random bytes)."""
    return _KEYS.generate(key_id)


class EncryptionSettings(BaseSettings):
    """``ONBOARDING_ENCRYPTION_KEYS`` from the environment (or ``.env``)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    onboarding_encryption_keys: SecretStr | None = None

    def keys(self) -> dict[str, bytes]:
        """The configured keys, the encrypting one first; empty when none are set."""
        value = self.onboarding_encryption_keys
        if value is None or not value.get_secret_value().strip():
            return {}
        return parse_keys(value.get_secret_value())


@dataclass(frozen=True)
class _Key:
    key_id: str
    cipher: AESGCM


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM over each whole serialized payload (its metadata too), a random 96-bit nonce
    per payload, the key id in the clear in the metadata and bound in as associated data."""

    def __init__(self, keys: Mapping[str, bytes]) -> None:
        if not keys:
            raise EncryptionConfigError(f"{KEYS_ENV} holds no key")
        self._keys = {key_id: _Key(key_id, AESGCM(key)) for key_id, key in keys.items()}
        self._encrypting = next(iter(self._keys.values()))

    @property
    def encrypting_key_id(self) -> str:
        return self._encrypting.key_id

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(payload) for payload in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(payload) for payload in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        key = self._encrypting
        nonce = os.urandom(NONCE_BYTES)
        sealed = key.cipher.encrypt(nonce, payload.SerializeToString(), key.key_id.encode())
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID_METADATA: key.key_id.encode()},
            data=nonce + sealed,
        )

    def decrypt(self, payload: Payload) -> Payload:
        # Payloads written before encryption was switched on stay readable.
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        key_id = payload.metadata.get(KEY_ID_METADATA, b"").decode(errors="replace")
        key = self._keys.get(key_id)
        if key is None:
            raise UnknownKeyError(key_id)
        nonce, sealed = payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:]
        try:
            plain = key.cipher.decrypt(nonce, sealed, key_id.encode())
        except InvalidTag:
            raise DecryptionError(
                f"A payload encrypted with key '{key_id}' does not decrypt with the key configured "
                f"under that id: the key was changed, or the payload was tampered with"
            ) from None
        decrypted = Payload()
        decrypted.ParseFromString(plain)
        return decrypted


def codec(keys: str | None = None) -> EncryptionCodec | None:
    """The codec for ``keys`` (None: ``ONBOARDING_ENCRYPTION_KEYS``), or None when no key is set."""
    if keys is None:
        parsed = EncryptionSettings().keys()
    else:
        parsed = parse_keys(keys) if keys.strip() else {}
    return EncryptionCodec(parsed) if parsed else None


def data_converter(keys: str | None = None) -> DataConverter:
    """The pydantic converter, encrypting every payload and failure message when keys are
    configured (``keys``, else ``ONBOARDING_ENCRYPTION_KEYS``); the plain one otherwise."""
    payload_codec = codec(keys)
    if payload_codec is None:
        return pydantic_data_converter
    return DataConverter(
        payload_converter_class=PydanticPayloadConverter,
        payload_codec=payload_codec,
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
