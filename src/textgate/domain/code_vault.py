"""Keeping verification codes at rest: a keyed hash to check them, a sealed copy to show.

From the server's code key two keys are derived (HMAC-SHA256 of a label), one per use:

- the check key: `digest` is HMAC-SHA256 over the account, the number and the code, so a
  stored digest is worthless without the server key (a 6-digit code cannot be brute-forced
  offline) and cannot be moved to another account or number; `matches` compares in
  constant time.
- the seal key: `seal` encrypts the code with AES-GCM (a random 96-bit nonce, the account
  and number as associated data) for TextFlow's `valid_code`; accounts that mask their
  codes get no sealed copy at all.
- the text key: `seal_text` encrypts the text of a verification SMS for its message row
  (the queue), and the worker opens it with `open_text` just before handing it to a
  provider. So the code is in no table in plain text, not even while it waits to be sent.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_NONCE_BYTES = 12
#: How a sealed message text starts; what follows is URL-safe base64 of nonce + ciphertext.
TEXT_PREFIX = "sealed:v1:"


def _derive(key: bytes, label: bytes) -> bytes:
    return hmac.new(key, label, hashlib.sha256).digest()


def _context(account_id: int, phone: str) -> bytes:
    return f"{account_id}\x00{phone}".encode()


class CodeVault:
    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("the code key must hold at least 32 bytes")
        self._check_key = _derive(key, b"textgate otp check v1")
        self._seal = AESGCM(_derive(key, b"textgate otp seal v1"))
        self._text = AESGCM(_derive(key, b"textgate otp text v1"))

    def digest(self, account_id: int, phone: str, code: str) -> bytes:
        """The 32 bytes stored to check `code` later."""
        message = _context(account_id, phone) + b"\x00" + code.encode()
        return hmac.new(self._check_key, message, hashlib.sha256).digest()

    def matches(self, stored: bytes, account_id: int, phone: str, code: str) -> bool:
        return hmac.compare_digest(stored, self.digest(account_id, phone, code))

    def seal(self, account_id: int, phone: str, code: str) -> bytes:
        """The code encrypted and authenticated: nonce followed by ciphertext and tag."""
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + self._seal.encrypt(nonce, code.encode(), _context(account_id, phone))

    def open(self, sealed: bytes, account_id: int, phone: str) -> str | None:
        """The sealed code, or None when it cannot be opened (another key, another row)."""
        nonce, body = sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:]
        try:
            return self._seal.decrypt(nonce, body, _context(account_id, phone)).decode()
        except (InvalidTag, ValueError):
            return None

    def seal_text(self, phone: str, text: str) -> str:
        """A message text (which holds a code) as it is kept in the queue."""
        nonce = os.urandom(_NONCE_BYTES)
        sealed = nonce + self._text.encrypt(nonce, text.encode(), phone.encode())
        return TEXT_PREFIX + base64.urlsafe_b64encode(sealed).decode("ascii")

    def open_text(self, phone: str, body: str) -> str | None:
        """The text `seal_text` sealed for `phone`; None when it cannot be opened."""
        if not body.startswith(TEXT_PREFIX):
            return None
        try:
            raw = base64.urlsafe_b64decode(body[len(TEXT_PREFIX) :])
            nonce, sealed = raw[:_NONCE_BYTES], raw[_NONCE_BYTES:]
            return self._text.decrypt(nonce, sealed, phone.encode()).decode()
        except (InvalidTag, ValueError):  # binascii.Error is a ValueError
            return None
