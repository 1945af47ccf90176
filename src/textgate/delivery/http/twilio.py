"""Twilio's Programmable Messaging REST API, and its status callbacks.

A message is one POST to `{base_url}/2010-04-01/Accounts/{AccountSid}/Messages.json`, with
HTTP Basic auth (the account SID and auth token, or an API key SID and secret) and the form
fields `To`, `From` and/or `MessagingServiceSid`, `Body` and, when textgate's public URL is
known, `StatusCallback`. A 201 carries the message's `sid`; Twilio splits long messages
itself, so one SID stands for the whole message.

Errors: 429 and 5xx are transient (see `client`); other 4xx carry a Twilio error code
(21211 invalid 'To', 21610 unsubscribed recipient, 21408 region not enabled, ...), permanent
except the few that mean "not now" (`TRANSIENT_CODES`).

Status callbacks are form POSTs signed with `X-Twilio-Signature`: the base64 HMAC-SHA1,
keyed with the account's auth token, of the full URL Twilio called followed by each POST
parameter's name and value, sorted by name (`signature`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit, urlunsplit

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

DEFAULT_BASE_URL = "https://api.twilio.com"
API_VERSION = "2010-04-01"
CALLBACK_PATH = "/callbacks/twilio/"

#: 4xx error codes that mean "not now": rate limits and full queues.
TRANSIENT_CODES = frozenset(
    {
        14107,  # SMS send rate limit exceeded
        20429,  # too many requests
        21611,  # the 'From' number has too many messages queued
        30001,  # queue overflow
    }
)

#: MessageStatus of a status callback -> receipt state. "sent" means a carrier took it;
#: "failed" after Twilio took it means a carrier refused it (a rejection).
STATUSES: Mapping[str, ReceiptState] = {
    "delivered": ReceiptState.DELIVERED,
    "read": ReceiptState.DELIVERED,
    "undelivered": ReceiptState.UNDELIVERED,
    "partially_delivered": ReceiptState.UNDELIVERED,
    "canceled": ReceiptState.UNDELIVERED,
    "failed": ReceiptState.REJECTED,
    "accepted": ReceiptState.PENDING,
    "scheduled": ReceiptState.PENDING,
    "queued": ReceiptState.PENDING,
    "sending": ReceiptState.PENDING,
    "sent": ReceiptState.PENDING,
}

_ACCOUNT_SID = re.compile(r"AC[0-9a-fA-F]{32}")
_API_KEY_SID = re.compile(r"SK[0-9a-fA-F]{32}")
_SERVICE_SID = re.compile(r"MG[0-9a-fA-F]{32}")
_SENDER = re.compile(r"\+[1-9]\d{6,14}|\d{3,8}|[A-Za-z0-9 ]{1,11}")
_KEYS = (
    "account_sid",
    "auth_token",
    "api_key_sid",
    "api_key_secret",
    "from",
    "messaging_service_sid",
)


@dataclass(frozen=True, slots=True)
class TwilioConfig:
    name: str
    account_sid: str
    http: HttpOptions
    #: Signs the status callbacks; also the REST password unless an API key is set.
    auth_token: str = field(default="", repr=False)
    api_key_sid: str = ""
    api_key_secret: str = field(default="", repr=False)
    #: `From`: a Twilio number (E.164), a short code or an alphanumeric sender id.
    sender: str = ""
    messaging_service_sid: str = ""

    @property
    def credentials(self) -> tuple[str, str]:
        if self.api_key_sid:
            return self.api_key_sid, self.api_key_secret
        return self.account_sid, self.auth_token

    @property
    def status_callback(self) -> str | None:
        """The URL Twilio posts status callbacks to; None when textgate's is not known."""
        if not self.http.callback_base_url:
            return None
        return f"{self.http.callback_base_url}{CALLBACK_PATH}{quote(self.name, safe='')}"

    @classmethod
    def from_mapping(cls, name: str, data: Mapping[str, object]) -> TwilioConfig:
        """Reads a `[providers.NAME]` table; `SettingsError` naming the key that is wrong."""
        table = Table(
            name,
            data,
            kind="twilio",
            keys=_KEYS,
            secrets=("auth_token", "api_key_secret"),
        )
        account_sid = table.text("account_sid", required=True)
        if not _ACCOUNT_SID.fullmatch(account_sid):
            raise table.fail("account_sid must be AC followed by 32 hex digits")
        api_key_sid = table.text("api_key_sid")
        if api_key_sid and not _API_KEY_SID.fullmatch(api_key_sid):
            raise table.fail("api_key_sid must be SK followed by 32 hex digits")
        config = cls(
            name=name,
            account_sid=account_sid,
            http=table.http_options(DEFAULT_BASE_URL),
            auth_token=table.text("auth_token"),
            api_key_sid=api_key_sid,
            api_key_secret=table.text("api_key_secret"),
            sender=table.text("from", max_length=16),
            messaging_service_sid=table.text("messaging_service_sid"),
        )
        if bool(config.api_key_sid) != bool(config.api_key_secret):
            raise table.fail("api_key_sid and api_key_secret go together")
        if not config.auth_token and not config.api_key_sid:
            raise table.fail("auth_token (or api_key_sid and api_key_secret) is required")
        if not config.sender and not config.messaging_service_sid:
            raise table.fail("from or messaging_service_sid is required")
        if config.sender and not _SENDER.fullmatch(config.sender):
            raise table.fail(
                "from must be a number in E.164 (+...), a short code or an alphanumeric "
                "sender id of at most 11 characters"
            )
        if config.messaging_service_sid and not _SERVICE_SID.fullmatch(
            config.messaging_service_sid
        ):
            raise table.fail("messaging_service_sid must be MG followed by 32 hex digits")
        if config.http.callback_base_url and not config.auth_token:
            raise table.fail(
                "callback_base_url needs auth_token: Twilio signs its status callbacks with "
                "it, and textgate refuses callbacks it cannot check"
            )
        return config


class TwilioProvider:
    def __init__(self, config: TwilioConfig, *, client: httpx.AsyncClient | None = None) -> None:
        self.name = config.name
        self.config = config
        base = f"{config.http.base_url}/{API_VERSION}/Accounts/{config.account_sid}"
        self._messages_url = f"{base}/Messages.json"
        self._account_url = f"{base}.json"
        self._link = HttpLink(
            config.name, config.http, probe=self._probe, describe=describe, client=client
        )

    # -- Provider ---------------------------------------------------------------------

    async def start(self, sink: ReceiptSink) -> None:
        """Receipts come as status callbacks to the API (`api.callbacks`), not through here."""
        self._link.start()

    async def submit(self, message: Outgoing) -> Submitted:
        form = {"To": message.to, "Body": message.text}
        sender = message.sender or self.config.sender
        if sender:
            form["From"] = sender
        if self.config.messaging_service_sid:
            form["MessagingServiceSid"] = self.config.messaging_service_sid
        callback = self.config.status_callback
        if callback:
            form["StatusCallback"] = callback
        response = await self._link.send(
            "POST", self._messages_url, data=form, auth=self.config.credentials
        )
        if response.status_code in (200, 201):
            sid = json_object(response).get("sid")
            if not isinstance(sid, str) or not 1 <= len(sid) <= 64:
                raise TransientError(f"HTTP {response.status_code} without a message sid")
            return Submitted(provider_message_id=sid)
        raise self._refused(response)

    async def stop(self) -> None:
        await self._link.stop()

    def health(self) -> Health:
        return self._link.health(
            {"account": self.config.account_sid, "callbacks": self.config.status_callback or "off"}
        )

    # -- status callbacks -------------------------------------------------------------

    def callback_urls(self, path_and_query: str, seen_url: str) -> list[str]:
        """The URLs Twilio may have signed for a callback that reached us at
        `path_and_query`: under `callback_base_url` (what we told Twilio) or, without it,
        the URL as the request reached us."""
        base = self.config.http.callback_base_url
        return url_variants(f"{base}{path_and_query}" if base else seen_url)

    def check_signature(
        self, urls: Iterable[str], params: Sequence[tuple[str, str]], header: str | None
    ) -> bool:
        if not header or not self.config.auth_token:
            return False
        found = False
        for url in urls:
            expected = signature(self.config.auth_token, url, params)
            found |= hmac.compare_digest(expected.encode(), header.strip().encode())
        return found

    def receipt_of(self, params: Mapping[str, str]) -> Receipt | None:
        """The receipt a status callback carries; None without a sid or for another account."""
        sid = params.get("MessageSid") or params.get("SmsSid") or ""
        status = (params.get("MessageStatus") or params.get("SmsStatus") or "").lower()
        account = params.get("AccountSid")
        if not sid or not status or (account and account != self.config.account_sid):
            return None
        error = (params.get("ErrorCode") or "").strip()
        return Receipt(
            provider=self.name,
            provider_message_id=sid,
            state=STATUSES.get(status, ReceiptState.PENDING),
            error_code=error if error and error != "0" else None,
            raw={"stat": status},
        )

    # -- inside -----------------------------------------------------------------------

    def _refused(self, response: httpx.Response) -> Exception:
        code = json_object(response).get("code")
        text = describe(response)
        reason = (
            f"twilio {text}" if code is not None else f"twilio HTTP {response.status_code}: {text}"
        )
        if isinstance(code, int) and code in TRANSIENT_CODES:
            return TransientError(reason)
        if response.status_code == 404 and code == 20404:
            return self._link.credentials_refused(reason)  # no such account (or API key's)
        return PermanentError(reason)

    async def _probe(self, client: httpx.AsyncClient) -> httpx.Response:
        return await client.get(self._account_url, auth=self.config.credentials)


def signature(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """X-Twilio-Signature of a request to `url` (the whole URL, query included) with these
    POST parameters: base64(HMAC-SHA1(auth_token, url + name1 + value1 + ...)), parameters
    sorted by name (and a repeated name's values sorted)."""
    data = url + "".join(name + value for name, value in sorted(params))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def url_variants(url: str) -> list[str]:
    """`url` as given, without its port and with the scheme's default port: Twilio's
    libraries accept a signature over any of them, as the port Twilio saw may differ."""
    parts = urlsplit(url)
    variants = [url]
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    default = {"http": 80, "https": 443}.get(parts.scheme)
    if parts.port is not None:
        variants.append(urlunsplit(parts._replace(netloc=_netloc(parts.username, host, None))))
    elif default is not None:
        variants.append(urlunsplit(parts._replace(netloc=_netloc(parts.username, host, default))))
    return variants


def describe(response: httpx.Response) -> str:
    """A Twilio error answer as "<code>: <message>" (numbers masked), else the reason
    phrase."""
    body = json_object(response)
    code, message = body.get("code"), body.get("message")
    if code is None and not message:
        return response.reason_phrase or "no details"
    return scrub(f"{code if code is not None else response.status_code}: {message or ''}")


def _netloc(user: str | None, host: str, port: int | None) -> str:
    return (f"{user}@" if user else "") + host + (f":{port}" if port is not None else "")
