"""Signed unsubscribe links: ``{PUBLIC_BASE_URL}/unsubscribe/{token}``, where the token names the
journey and proves the worker made it, so nobody can unsubscribe someone else by guessing.

A token is ``<key id>.<base64url(journey id)>.<base64url(HMAC-SHA256)>``: no email address and no
expiry (an old email's link must still work), the same for every email of a journey. Keys come
from ``UNSUBSCRIBE_SIGNING_KEYS``, comma-separated ``key-id:base64`` entries of at least 32 bytes:
the first signs, every one verifies, so a new key can go first while links signed with the old
one are still in inboxes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping

from common.key_lists import KeyList

KEYS_ENV = "UNSUBSCRIBE_SIGNING_KEYS"
KEY_BYTES = 32
# Inside the MAC, so a token signed for another purpose with the same key is never a link.
PURPOSE = b"unsubscribe"
# Workflow IDs the warehouse can hold; anything longer is not one of ours.
MAX_JOURNEY_ID_BYTES = 255
_MAC_BYTES = hashlib.sha256().digest_size
# Key ids take no '.', the token's separator.
_KEY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
_BASE64URL = re.compile(r"^[A-Za-z0-9_-]+$")
KEYGEN_HINT = f"create a key with `onboarding unsubscribe-keygen` and put it first in {KEYS_ENV}"
_MAX_TOKEN_CHARS = 32 + 1 + (MAX_JOURNEY_ID_BYTES * 4 + 2) // 3 + 1 + (_MAC_BYTES * 4 + 2) // 3


class SigningKeyError(ValueError):
    """``UNSUBSCRIBE_SIGNING_KEYS`` cannot be used; one line naming the entry, never its key."""


_KEYS = KeyList(
    env=KEYS_ENV,
    error=SigningKeyError,
    key_id=_KEY_ID,
    key_id_rule="1-32 letters, digits, '_' or '-', starting with a letter or digit",
    key_bytes=KEY_BYTES,
    exact=False,
    why="an HMAC-SHA256 key",
    hint=KEYGEN_HINT,
)


def parse_signing_keys(value: str) -> dict[str, bytes]:
    """``key-id:base64,...`` as an ordered mapping, the signing key first."""
    return _KEYS.parse(value)


def generate_signing_key(key_id: str) -> str:
    """A new ``key-id:base64`` entry for ``UNSUBSCRIBE_SIGNING_KEYS`` (32 random bytes)."""
    return _KEYS.generate(key_id)


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _decode(text: str) -> bytes | None:
    if not _BASE64URL.match(text):
        return None
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
    # One spelling per value: a token cannot be re-encoded into a second valid one.
    return raw if _encode(raw) == text else None


def _mac(key: bytes, purpose: bytes, journey_id: bytes) -> bytes:
    return hmac.new(key, purpose + b"\x00" + journey_id, hashlib.sha256).digest()


class UnsubscribeTokens:
    """Makes and checks the tokens of unsubscribe links."""

    def __init__(self, keys: Mapping[str, bytes]) -> None:
        if not keys:
            raise SigningKeyError(f"{KEYS_ENV} holds no key")
        for key_id, key in keys.items():
            _KEYS.check_key_id(key_id, KEYS_ENV)
            if len(key) < KEY_BYTES:
                raise SigningKeyError(
                    f"{KEYS_ENV}: key '{key_id}' is shorter than {KEY_BYTES} bytes"
                )
        self._keys = dict(keys)
        self._signing = next(iter(self._keys))

    def token(self, journey_id: str) -> str:
        """The journey's token: URL-safe, and the same every time for the same signing key."""
        raw = journey_id.encode()
        if not raw or len(raw) > MAX_JOURNEY_ID_BYTES:
            raise ValueError(f"a journey id must be 1 to {MAX_JOURNEY_ID_BYTES} bytes")
        mac = _mac(self._keys[self._signing], PURPOSE, raw)
        return f"{self._signing}.{_encode(raw)}.{_encode(mac)}"

    def journey_of(self, token: str) -> str | None:
        """The journey a genuine token names; None for anything else, whatever is wrong."""
        if not isinstance(token, str) or len(token) > _MAX_TOKEN_CHARS:
            return None
        parts = token.split(".")
        if len(parts) != 3:
            return None
        key = self._keys.get(parts[0])
        raw, mac = _decode(parts[1]), _decode(parts[2])
        if key is None or raw is None or mac is None or len(raw) > MAX_JOURNEY_ID_BYTES:
            return None
        if not hmac.compare_digest(mac, _mac(key, PURPOSE, raw)):
            return None
        try:
            return raw.decode()
        except UnicodeDecodeError:
            return None


def unsubscribe_url(public_base_url: str, token: str) -> str:
    """The link in an email's footer and its ``List-Unsubscribe`` header."""
    return f"{public_base_url.rstrip('/')}/unsubscribe/{token}"
