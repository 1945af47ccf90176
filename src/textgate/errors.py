"""The one exception tree of textgate.

    TextgateError                 every error we raise on purpose; carries an HTTP status
    ├── InvalidRequest            400: the body or a field is wrong (names the field)
    │   ├── InvalidPhone          400: not a valid E.164 phone number
    │   └── InvalidText           400: empty, or longer than the segment limit
    ├── PayloadTooLarge           413: the body is over the size limit
    ├── UnsupportedMediaType      415: neither JSON nor a form
    ├── AuthError                 400/401: missing, malformed, unknown or revoked API key
    ├── InsufficientCredits       402: the account cannot pay for the message
    ├── Forbidden                 403: the account may not do this (e.g. a blocked country)
    ├── NotFound                  404: no such thing in the caller's account
    ├── Conflict                  409: the state forbids it (e.g. cancelling a finished job)
    └── RateLimited               429: too many requests; `retry_after` seconds

The API maps each to the TextFlow response shape in one handler (`textgate.api.errors`).
Domain code raises the plain subclasses; routes may choose TextFlow's exact wording.
"""

from __future__ import annotations

from typing import Any


class TextgateError(Exception):
    status: int = 400

    def __init__(self, message: str, *, status: int | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        #: Extra keys merged into the response body (e.g. `valid: False`, `retry_after`).
        self.extra = extra


class InvalidRequest(TextgateError):
    status = 400


class InvalidPhone(InvalidRequest):
    pass


class InvalidText(InvalidRequest):
    pass


class PayloadTooLarge(TextgateError):
    status = 413


class UnsupportedMediaType(TextgateError):
    status = 415


class AuthError(TextgateError):
    status = 401


class InsufficientCredits(TextgateError):
    status = 402


class Forbidden(TextgateError):
    status = 403


class NotFound(TextgateError):
    status = 404


class Conflict(TextgateError):
    status = 409


class RateLimited(TextgateError):
    status = 429

    def __init__(self, message: str, *, retry_after: float, **extra: Any) -> None:
        super().__init__(message, retry_after=max(1, round(retry_after)), **extra)
        self.retry_after = max(1, round(retry_after))
