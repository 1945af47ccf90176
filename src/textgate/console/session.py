"""The console's session: a signed cookie holding the account id and a CSRF token.

The cookie is `base64url(json) "." base64url(HMAC-SHA256(key, json))`; it is HttpOnly,
SameSite=Lax, and Secure when the request came over HTTPS. It expires after `MAX_AGE`
seconds. Being stateless, a copy of a cookie stays valid until then even after log-out
(log-out only makes the browser forget it)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

COOKIE = "textgate_session"
MAX_AGE = 7 * 24 * 3600


@dataclass(frozen=True, slots=True)
class Session:
    csrf: str
    account_id: int | None = None
    issued: int = 0

    @classmethod
    def fresh(cls, account_id: int | None = None) -> Session:
        return cls(csrf=secrets.token_urlsafe(24), account_id=account_id, issued=int(time.time()))

    def csrf_ok(self, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf.encode(), (token or "").encode())


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionCodec:
    def __init__(self, key: bytes) -> None:
        # A key of its own for cookies, derived so it can never double as another secret.
        self._key = hmac.new(key, b"textgate console session", hashlib.sha256).digest()

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()

    def dump(self, session: Session) -> str:
        payload = json.dumps(
            {"a": session.account_id, "c": session.csrf, "t": session.issued},
            separators=(",", ":"),
        ).encode()
        return f"{_b64(payload)}.{_b64(self._sign(payload))}"

    def load(self, cookie: str | None, *, now: float | None = None) -> Session | None:
        """The session in a cookie, or None when it is missing, forged or expired."""
        if not cookie or len(cookie) > 1000:
            return None
        body, _, signature = cookie.partition(".")
        try:
            payload, tag = _unb64(body), _unb64(signature)
        except ValueError:
            return None
        if not hmac.compare_digest(tag, self._sign(payload)):
            return None
        try:
            data = json.loads(payload)
            account, csrf, issued = data["a"], data["c"], int(data["t"])
        except (ValueError, KeyError, TypeError):
            return None
        if not isinstance(csrf, str) or not (account is None or isinstance(account, int)):
            return None
        if issued + MAX_AGE < (time.time() if now is None else now):
            return None
        return Session(csrf=csrf, account_id=account, issued=issued)
