"""Lists of named keys in one environment variable, ``key-id:base64,...``: the first key is the
one in use (it encrypts, it signs), every key is accepted, so a new key can be put first while
what the old one made is still around. Payload encryption and unsubscribe links both keep their
keys this way."""

from __future__ import annotations

import base64
import binascii
import os
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class KeyList:
    """How one variable's keys are written and checked; errors are ``error``, one line each,
    naming the entry and never its key."""

    env: str
    error: type[ValueError]
    key_id: re.Pattern[str]
    key_id_rule: str  # what the key id pattern asks, in words
    key_bytes: int
    exact: bool  # exactly key_bytes (an AES key), else at least (an HMAC key)
    why: str  # after "needs": what the size is for
    hint: str = ""  # how to make a key, appended where it helps

    def check_key_id(self, key_id: str, where: str) -> None:
        if not self.key_id.match(key_id):
            raise self.error(f"{where}: key id '{key_id}' must be {self.key_id_rule}")

    def parse(self, value: str) -> dict[str, bytes]:
        """``key-id:base64,...`` as an ordered mapping, the key in use first."""
        hint = f": {self.hint}" if self.hint else ""
        keys: dict[str, bytes] = {}
        entries = value.split(",")
        for number, raw in enumerate(entries, start=1):
            where = f"{self.env} entry {number} of {len(entries)}"
            entry = raw.strip()
            if not entry:
                raise self.error(f"{where} is empty: remove the stray comma")
            key_id, colon, encoded = entry.partition(":")
            key_id, encoded = key_id.strip(), encoded.strip()
            if not colon or not key_id:
                raise self.error(
                    f"{where} has no key id: write each entry as "
                    f"key-id:base64-of-{self.key_bytes}-bytes"
                )
            self.check_key_id(key_id, where)
            if key_id in keys:
                raise self.error(f"{where}: key id '{key_id}' appears twice")
            try:
                key = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                raise self.error(f"{where} (key id '{key_id}') is not valid base64{hint}") from None
            if len(key) < self.key_bytes or (self.exact and len(key) != self.key_bytes):
                size = "exactly" if self.exact else "at least"
                raise self.error(
                    f"{where} (key id '{key_id}') decodes to {len(key)} bytes; "
                    f"{self.why} needs {size} {self.key_bytes}{hint}"
                )
            keys[key_id] = key
        return keys

    def generate(self, key_id: str) -> str:
        """A new ``key-id:base64`` entry of random bytes."""
        self.check_key_id(key_id, "cannot create the key")
        return f"{key_id}:{base64.b64encode(os.urandom(self.key_bytes)).decode()}"
