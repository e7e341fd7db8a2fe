"""Keys and converters for the tests: one test key for the whole session, and the clients that
can read what workers encrypted with it."""

from __future__ import annotations

from collections.abc import Sequence

from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import PydanticPayloadConverter
from temporalio.converter import DataConverter, PayloadCodec

from common.encryption import EncryptionCodec, generate_key, parse_keys

# The key every `onboarding` process the tests start encrypts with (conftest exports it).
TEST_ENCRYPTION_KEYS = generate_key("test-1")


class DecryptingOnly(PayloadCodec):
    """Reads encrypted and plain payloads, writes plain ones: the shared test clients can read
    what an encrypting `onboarding worker` process wrote, while tests that inspect raw history
    bytes of their own in-process workers keep seeing plain payloads."""

    def __init__(self, keys: str) -> None:
        self._codec = EncryptionCodec(parse_keys(keys))

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return list(payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return await self._codec.decode(payloads)


def reading_converter(keys: str = TEST_ENCRYPTION_KEYS) -> DataConverter:
    """The pydantic converter that can also decrypt payloads encrypted with ``keys``."""
    return DataConverter(
        payload_converter_class=PydanticPayloadConverter, payload_codec=DecryptingOnly(keys)
    )
