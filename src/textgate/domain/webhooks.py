"""Webhooks: their URLs, their secrets, and the signature every delivery carries.

Each POST carries `X-Textgate-Signature: t=<unix seconds>,v1=<hex>` where the hex is
HMAC-SHA256 keyed with the account's whole secret (`whsec_...`, as UTF-8) over
`f"{t}.{body}"` (the raw request body). A receiver checks it with `verify` (in constant
time, within a tolerance window against replays); a header may carry several `v1` values,
and one matching is enough.

Secrets are kept sealed at rest (`SecretBox`): AES-GCM under a key derived from the server's
code key with a label of its own, the account id as associated data, so a sealed secret
cannot be opened for another account or with another key.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from textgate.errors import InvalidRequest

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
MAX_URL = 2000
#: How far (seconds) a signature's time may be from the receiver's clock, either way.
DEFAULT_TOLERANCE = 300
SIGNATURE_HEADER = "X-Textgate-Signature"
EVENT_HEADER = "X-Textgate-Event"
EVENT_ID_HEADER = "X-Textgate-Event-Id"
SCHEME = "v1"

_NONCE_BYTES = 12


class InvalidSignature(Exception):
    """A delivery whose signature header is missing, malformed, stale or wrong."""


def new_secret() -> str:
    """`whsec_` and 32 random bytes, URL-safe base64."""
    return SECRET_PREFIX + secrets.token_urlsafe(SECRET_BYTES)


def new_event_id() -> str:
    return "evt_" + secrets.token_hex(12)


def check_url(raw: str) -> str:
    """A webhook URL as given (surrounding spaces removed): http or https, a host, no user
    name or password, at most `MAX_URL` characters; else InvalidRequest naming the fault."""
    url = raw.strip()
    if not url:
        raise InvalidRequest("Enter the webhook URL", field="url")
    if len(url) > MAX_URL:
        raise InvalidRequest(f"The webhook URL is longer than {MAX_URL} characters", field="url")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise InvalidRequest("The webhook URL may not contain spaces", field="url")
    try:
        parts = urlsplit(url)
        _ = parts.port  # a port that is not a number in range raises ValueError
    except ValueError:
        raise InvalidRequest("The webhook URL is not a valid URL", field="url") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise InvalidRequest("The webhook URL must start with http:// or https://", field="url")
    if "@" in parts.netloc:
        raise InvalidRequest("The webhook URL may not carry a user name or password", field="url")
    if not parts.hostname:
        raise InvalidRequest("The webhook URL has no host name", field="url")
    return url


def _mac(secret: str, timestamp: int, body: bytes) -> str:
    message = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The value of the signature header for `body` sent at `timestamp` (unix seconds)."""
    return f"t={timestamp},{SCHEME}={_mac(secret, timestamp, body)}"


def verify(
    secret: str,
    body: bytes,
    header: str | None,
    *,
    now: float,
    tolerance: int = DEFAULT_TOLERANCE,
) -> int:
    """Checks a delivery's signature header against the raw body; answers its timestamp.
    InvalidSignature when the header is missing or malformed, its time is more than
    `tolerance` seconds from `now`, or no `v1` signature matches."""
    if not header:
        raise InvalidSignature("no signature header")
    timestamp: int | None = None
    candidates: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            if not value.isascii() or not value.isdigit() or len(value) > 12:
                raise InvalidSignature("the timestamp is not a number")
            timestamp = int(value)
        elif key == SCHEME:
            candidates.append(value)
    if timestamp is None:
        raise InvalidSignature("no timestamp in the signature header")
    if not candidates:
        raise InvalidSignature(f"no {SCHEME} signature in the header")
    if abs(now - timestamp) > tolerance:
        raise InvalidSignature("the timestamp is outside the tolerance window")
    expected = _mac(secret, timestamp, body).encode()
    matched = False
    for candidate in candidates:  # every one compared: no early exit to time
        matched |= hmac.compare_digest(expected, candidate.encode())
    if not matched:
        raise InvalidSignature("no signature matches")
    return timestamp


class SecretBox:
    """Seals webhook secrets for storage, under a key derived from the server's code key."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("the key must hold at least 32 bytes")
        self._aead = AESGCM(hmac.new(key, b"textgate webhook secret v1", hashlib.sha256).digest())

    @staticmethod
    def _context(account_id: int) -> bytes:
        return f"webhook\x00{account_id}".encode()

    def seal(self, account_id: int, secret: str) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, secret.encode(), self._context(account_id))

    def open(self, account_id: int, sealed: bytes) -> str | None:
        """The secret, or None when it cannot be opened (another key, another account)."""
        nonce, body = sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:]
        try:
            return self._aead.decrypt(nonce, body, self._context(account_id)).decode()
        except (InvalidTag, ValueError):
            return None
