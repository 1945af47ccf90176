"""The console's session cookie: signed, holding the account id, the token of the account's
server-side session (`services.console_sessions`) and a CSRF token.

The cookie is `base64url(json) "." base64url(HMAC-SHA256(key, json))`; it is HttpOnly,
SameSite=Lax, and Secure when the request came over HTTPS. It expires after `MAX_AGE`
seconds. A signed-in cookie is only as good as its server-side session: log-out (or
"sign out" from another browser) deletes that, and copies of the cookie stop working."""

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
    #: The server-side session's token (signed in only); None when signed out.
    token: str | None = None

    @classmethod
    def fresh(cls, account_id: int | None = None, token: str | None = None) -> Session:
        return cls(
            csrf=secrets.token_urlsafe(24),
            account_id=account_id,
            issued=int(time.time()),
            token=token,
        )

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
            {"a": session.account_id, "c": session.csrf, "t": session.issued, "s": session.token},
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
            token = data.get("s")
        except (ValueError, KeyError, TypeError, AttributeError):
            return None
        if not isinstance(csrf, str) or not (account is None or isinstance(account, int)):
            return None
        if not (token is None or isinstance(token, str)):
            return None
        if issued + MAX_AGE < (time.time() if now is None else now):
            return None
        return Session(csrf=csrf, account_id=account, issued=issued, token=token)
