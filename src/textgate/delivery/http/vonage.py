"""Vonage's SMS API (formerly Nexmo), and its delivery receipts.

A message is one form POST to `{base_url}/sms/json` with `api_key`, `api_secret`, `from`,
`to` (digits, no "+"), `text`, `type` (`unicode` for UCS-2 text, else `text`) and, when
textgate's public URL is known, `callback` (where its delivery receipts go). The answer
lists `messages`, one per part of a long message, each with a `status` ("0": accepted) and
a `message-id`: a long message is `Submitted` with every part's id, and each part gets its
own delivery receipt. A part refused makes the whole message an error (the parts accepted
are reported in the reason): the code of the first refused part decides, as `STATUSES`
says.

Delivery receipts come as GET or POST (form or JSON) to `/callbacks/vonage/{name}`. They
are trusted when signed (`signature_secret`: the `sig` parameter, see `signature`) and/or
when the URL carries the provider's `callback_token` (`/callbacks/vonage/{name}/{token}`).
Inbound SMS are checked the same way (`inbound`); the parts of a long one wait in the
provider's `inbox`, swept while the provider runs and handed over when it stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import hashlib
import hmac
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from textgate.delivery.base import (
    Health,
    Outgoing,
    PermanentError,
    Receipt,
    ReceiptSink,
    ReceiptState,
    Submitted,
    TransientError,
)
from textgate.delivery.http.client import HttpLink, json_object, scrub
from textgate.delivery.http.config import HttpOptions, Table
from textgate.delivery.http.inbox import PartsInbox
from textgate.domain.text import Encoding

DEFAULT_BASE_URL = "https://rest.nexmo.com"
CALLBACK_PATH = "/callbacks/vonage/"
SIGNATURE_METHODS = frozenset({"md5hash", "md5", "sha1", "sha256", "sha512"})


class Kind(enum.StrEnum):
    """What a status code of the SMS API's answer means for the message."""

    #: Try again later (the retry policy bounds it).
    TRANSIENT = "transient"
    #: This message will never go: it fails at once and is credited back.
    PERMANENT = "permanent"
    #: Our credentials or account were refused: the provider is down, messages wait.
    ACCOUNT = "account"


#: The SMS API's documented status codes (codes not listed are transient: the retry
#: policy bounds them).
STATUSES: Mapping[str, tuple[Kind, str]] = {
    "1": (Kind.TRANSIENT, "throttled"),
    "2": (Kind.PERMANENT, "missing parameters"),
    "3": (Kind.PERMANENT, "invalid parameters"),
    "4": (Kind.ACCOUNT, "invalid credentials"),
    "5": (Kind.TRANSIENT, "internal error"),
    "6": (Kind.PERMANENT, "invalid message"),
    "7": (Kind.PERMANENT, "number barred"),
    "8": (Kind.ACCOUNT, "partner account barred"),
    "9": (Kind.TRANSIENT, "partner quota violation (not enough credit)"),
    "10": (Kind.TRANSIENT, "too many existing binds"),
    "11": (Kind.ACCOUNT, "account not enabled for HTTP"),
    "12": (Kind.PERMANENT, "message too long"),
    "14": (Kind.ACCOUNT, "invalid signature"),
    "15": (Kind.PERMANENT, "invalid sender address"),
    "22": (Kind.PERMANENT, "invalid network code"),
    "23": (Kind.PERMANENT, "invalid callback URL"),
    "29": (Kind.PERMANENT, "non-whitelisted destination"),
    "32": (Kind.ACCOUNT, "signature and API secret disallowed"),
    "33": (Kind.PERMANENT, "number de-activated"),
}

#: A delivery receipt's `status` -> receipt state.
RECEIPT_STATES: Mapping[str, ReceiptState] = {
    "delivered": ReceiptState.DELIVERED,
    "expired": ReceiptState.EXPIRED,
    "failed": ReceiptState.UNDELIVERED,
    "rejected": ReceiptState.REJECTED,
    "accepted": ReceiptState.PENDING,
    "buffered": ReceiptState.PENDING,
    "unknown": ReceiptState.PENDING,
}

_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,128}")
_SENDER = re.compile(r"\+?\d{3,15}|[A-Za-z0-9 ]{1,11}")
_KEYS = (
    "api_key",
    "api_secret",
    "from",
    "signature_secret",
    "signature_method",
    "signature_max_age",
    "callback_token",
)


@dataclass(frozen=True, slots=True)
class VonageConfig:
    name: str
    api_key: str
    api_secret: str = field(repr=False)
    sender: str
    http: HttpOptions
    #: Checks the `sig` of signed receipts ("" = receipts are not signed).
    signature_secret: str = field(default="", repr=False)
    signature_method: str = "md5hash"
    #: Oldest signed receipt accepted, in seconds (by its `timestamp`).
    signature_max_age: float = 86_400.0
    #: A secret in the callback URL's path ("" = none).
    callback_token: str = field(default="", repr=False)

    @property
    def callback_url(self) -> str | None:
        """Where receipts go, sent with each message; None when textgate's URL is not known."""
        if not self.http.callback_base_url:
            return None
        url = f"{self.http.callback_base_url}{CALLBACK_PATH}{quote(self.name, safe='')}"
        return f"{url}/{self.callback_token}" if self.callback_token else url

    @classmethod
    def from_mapping(cls, name: str, data: Mapping[str, object]) -> VonageConfig:
        """Reads a `[providers.NAME]` table; `SettingsError` naming the key that is wrong."""
        table = Table(
            name,
            data,
            kind="vonage",
            keys=_KEYS,
            secrets=("api_secret", "signature_secret", "callback_token"),
        )
        config = cls(
            name=name,
            api_key=table.text("api_key", required=True, max_length=64),
            api_secret=table.text("api_secret", required=True, max_length=128),
            sender=table.text("from", required=True, max_length=16),
            http=table.http_options(DEFAULT_BASE_URL),
            signature_secret=table.text("signature_secret", max_length=256),
            signature_method=table.choice("signature_method", SIGNATURE_METHODS, "md5hash"),
            signature_max_age=table.number("signature_max_age", 86_400.0, low=1.0),
            callback_token=table.text("callback_token", max_length=128),
        )
        if not _SENDER.fullmatch(config.sender):
            raise table.fail(
                "from must be a number (digits, an optional +) or an alphanumeric sender id "
                "of at most 11 characters"
            )
        if config.callback_token and not _TOKEN.fullmatch(config.callback_token):
            raise table.fail("callback_token must be 16 to 128 of A-Z, a-z, 0-9, _ and -")
        if table.has("signature_method") and not config.signature_secret:
            raise table.fail("signature_method needs signature_secret")
        if (
            config.http.callback_base_url
            and not config.signature_secret
            and not config.callback_token
        ):
            raise table.fail(
                "callback_base_url needs signature_secret or callback_token: textgate refuses "
                "delivery receipts it cannot tell from forged ones"
            )
        return config


class VonageProvider:
    def __init__(self, config: VonageConfig, *, client: httpx.AsyncClient | None = None) -> None:
        self.name = config.name
        self.config = config
        self._sms_url = f"{config.http.base_url}/sms/json"
        self._balance_url = f"{config.http.base_url}/account/get-balance"
        self._link = HttpLink(
            config.name, config.http, probe=self._probe, describe=describe, client=client
        )
        #: Parts of long inbound messages waiting for the rest (see `inbox`).
        self.inbox = PartsInbox(config.name)
        self._sink: ReceiptSink | None = None
        self._sweeper: asyncio.Task[None] | None = None

    # -- Provider ---------------------------------------------------------------------

    async def start(self, sink: ReceiptSink) -> None:
        """Receipts and inbound messages come as webhooks to the API (`api.callbacks`), not
        through here; `sink` gets the long inbound messages whose parts time out."""
        self._link.start()
        self._sink = sink
        if self._sweeper is None:
            self._sweeper = asyncio.create_task(
                self.inbox.sweep(sink), name=f"textgate-{self.name}-inbox"
            )

    async def submit(self, message: Outgoing) -> Submitted:
        sender = message.sender or self.config.sender
        form = {
            "api_key": self.config.api_key,
            "api_secret": self.config.api_secret,
            "from": sender.removeprefix("+"),
            "to": message.to.removeprefix("+"),
            "text": message.text,
            "type": "unicode" if message.encoding is Encoding.UCS2 else "text",
            "client-ref": f"textgate-{message.message_id}",
        }
        callback = self.config.callback_url
        if callback:
            form["callback"] = callback
        response = await self._link.send("POST", self._sms_url, data=form)
        if response.status_code != 200:
            raise PermanentError(f"vonage HTTP {response.status_code}: {describe(response)}")
        parts = json_object(response).get("messages")
        if not isinstance(parts, list) or not parts or not all(isinstance(p, dict) for p in parts):
            raise TransientError("vonage: HTTP 200 without a list of messages")
        refused = [p for p in parts if str(p.get("status", "")) != "0"]
        if refused:
            raise self._refused(refused[0], accepted=len(parts) - len(refused), of=len(parts))
        ids = [p.get("message-id") for p in parts]
        if not all(isinstance(i, str) and 1 <= len(i) <= 64 for i in ids):
            raise TransientError("vonage: an accepted part without a message-id")
        names = [str(i) for i in ids]
        return Submitted(names[0], part_ids=tuple(names) if len(names) > 1 else ())

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        if self._sink is not None:
            await self.inbox.flush(self._sink)
        await self._link.stop()

    def health(self) -> Health:
        return self._link.health({"callbacks": "on" if self.config.callback_url else "off"})

    # -- delivery receipts ------------------------------------------------------------

    def check_receipt(
        self, params: Mapping[str, str], token: str | None, *, now: float | None = None
    ) -> str | None:
        """Why a receipt request cannot be trusted; None when it can."""
        config = self.config
        if not config.signature_secret and not config.callback_token:
            return "neither signature_secret nor callback_token is configured"
        if config.callback_token and not hmac.compare_digest(
            (token or "").encode(), config.callback_token.encode()
        ):
            return "wrong or missing token"
        if config.signature_secret:
            sig = params.get("sig", "")
            expected = signature(config.signature_secret, params, config.signature_method)
            if not hmac.compare_digest(sig.lower().encode(), expected.encode()):
                return "wrong or missing signature"
            try:
                signed_at = int(params.get("timestamp", ""))
            except ValueError:
                return "signed without a timestamp"
            if abs((time.time() if now is None else now) - signed_at) > config.signature_max_age:
                return "signature too old"
        return None

    def receipt_of(self, params: Mapping[str, str]) -> Receipt | None:
        """The receipt a delivery receipt request carries; None without an id or status, or
        for another API key."""
        message_id = params.get("messageId") or params.get("message-id") or ""
        status = (params.get("status") or "").lower()
        api_key = params.get("api-key")
        if not message_id or not status or (api_key and api_key != self.config.api_key):
            return None
        error = (params.get("err-code") or "").strip()
        return Receipt(
            provider=self.name,
            provider_message_id=message_id,
            state=RECEIPT_STATES.get(status, ReceiptState.PENDING),
            error_code=error if error.strip("0") else None,
            raw={"stat": status},
        )

    # -- inside -----------------------------------------------------------------------

    def _refused(self, part: Mapping[str, Any], *, accepted: int, of: int) -> Exception:
        code = str(part.get("status", ""))
        kind, meaning = STATUSES.get(code, (Kind.TRANSIENT, "unknown status"))
        text = part.get("error-text")
        reason = scrub(f"vonage {code}: {text if isinstance(text, str) and text else meaning}")
        if of > 1:
            reason += f" ({accepted} of {of} parts accepted)"
        if kind is Kind.ACCOUNT:
            return self._link.credentials_refused(reason)
        if kind is Kind.PERMANENT:
            return PermanentError(reason)
        return TransientError(reason)

    async def _probe(self, client: httpx.AsyncClient) -> httpx.Response:
        return await client.get(
            self._balance_url, auth=(self.config.api_key, self.config.api_secret)
        )


def signature(secret: str, params: Mapping[str, str], method: str = "md5hash") -> str:
    """The `sig` Vonage puts on a signed request: every other parameter sorted by name as
    "&name=value" ("&" and "=" in values made "_"), then the MD5 of that and the secret
    (`md5hash`) or its HMAC keyed with the secret (`md5`, `sha1`, `sha256`, `sha512`), in
    lower-case hex."""
    data = "".join(
        f"&{name}={params[name].replace('&', '_').replace('=', '_')}"
        for name in sorted(params)
        if name != "sig"
    )
    if method == "md5hash":
        return hashlib.md5((data + secret).encode(), usedforsecurity=False).hexdigest()
    return hmac.new(secret.encode(), data.encode(), method).hexdigest()


def describe(response: httpx.Response) -> str:
    """A Vonage error answer: the first part's status and error text, or the body's title,
    else the reason phrase."""
    body = json_object(response)
    parts = body.get("messages")
    if isinstance(parts, list) and parts and isinstance(parts[0], dict):
        part = parts[0]
        return scrub(f"{part.get('status', '?')}: {part.get('error-text', '')}")
    title = body.get("title") or body.get("error-code-label")
    if isinstance(title, str) and title:
        return scrub(title)
    return response.reason_phrase or "no details"
