"""The user's own Android phone, through the "SMS Gateway for Android" app (sms-gate.app).

The app serves the same API two ways: on the phone itself (local server mode,
`http://<phone-ip>:8080`) or through the project's cloud (`https://api.sms-gate.app/3rdparty/v1`,
or a private server), with HTTP Basic auth (the username and password the app shows).

A message is one JSON POST to `{base_url}/message`: `textMessage.text`, `phoneNumbers` (one
number), `withDeliveryReport`, and, when configured, `simNumber` and `ttl`. The answer (202)
is the message's state: its `id` (which the webhooks name) and a `state` per recipient
(`Pending`, `Processed`, `Sent`, `Delivered`, `Failed`). The phone splits long messages
itself, so one id stands for the whole message. `GET {base_url}/message/{id}` reads the
state again (`state_of`).

Errors: 429 and 5xx are transient, 401 takes the phone down (see `client`); 404 means there
is no gateway API at `base_url` (a wrong URL, or another server on the port): down too; any
other 4xx (a 400: a number or field the app refuses) fails the message with the app's reason.

A phone sends slowly (Android and carriers throttle SMS): `max_in_flight` defaults to
`DEFAULT_MAX_IN_FLIGHT`, and the worker paces a phone at `DEFAULT_THROUGHPUT` unless its table
sets `throughput` (see `worker.throttle.DEFAULT_CAPS`).

Webhooks: with `callback_base_url` set, the provider registers one webhook per event in
`EVENTS` with the app (`POST {base_url}/webhooks`, fixed ids so registering again replaces
them), pointing at `/callbacks/android/{name}`. The app signs each webhook: `X-Signature` is
the hex HMAC-SHA256, keyed with the app's signing key (Settings -> Webhooks -> Signing Key,
copied into `signing_key`), of the raw body followed by `X-Timestamp` (Unix seconds); the
timestamp must be within `SIGNATURE_WINDOW` of now (`check_signature`). `sms:delivered` and
`sms:failed` become receipts, `sms:received` an inbound message (`event_of`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from textgate.delivery.base import (
    Health,
    Inbound,
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
from textgate.domain.phones import parse_phone
from textgate.errors import InvalidPhone

log = logging.getLogger("textgate.delivery.http")

#: The app's public cloud server.
CLOUD_BASE_URL = "https://api.sms-gate.app/3rdparty/v1"
CALLBACK_PATH = "/callbacks/android/"
#: Requests in flight to one phone at once, unless `max_in_flight` says otherwise.
DEFAULT_MAX_IN_FLIGHT = 2
#: Messages a second the worker sends to a phone unless its table sets `throughput`.
DEFAULT_THROUGHPUT = 1.0
#: A signed webhook's X-Timestamp may be this many seconds from now, either way.
SIGNATURE_WINDOW = 300.0
#: The webhook events textgate registers and reads.
EVENTS = ("sms:sent", "sms:delivered", "sms:failed", "sms:received")

#: A webhook event about one of our messages -> receipt state (`sms:sent`: the carrier took
#: it, nothing final yet).
EVENT_STATES: Mapping[str, ReceiptState] = {
    "sms:delivered": ReceiptState.DELIVERED,
    "sms:failed": ReceiptState.UNDELIVERED,
    "sms:sent": ReceiptState.PENDING,
}

#: A message state in the app's answers -> receipt state.
MESSAGE_STATES: Mapping[str, ReceiptState] = {
    "Delivered": ReceiptState.DELIVERED,
    "Failed": ReceiptState.UNDELIVERED,
    "Pending": ReceiptState.PENDING,
    "Processed": ReceiptState.PENDING,
    "Sent": ReceiptState.PENDING,
}

_ID_LENGTH = 100
_KEYS = ("username", "password", "sim_number", "ttl", "signing_key", "phone_number")


@dataclass(frozen=True, slots=True)
class AndroidConfig:
    name: str
    username: str
    password: str = field(repr=False)
    http: HttpOptions
    #: Which SIM sends (1-3); 0 = the app's own choice.
    sim_number: int = 0
    #: Seconds the app keeps trying before it gives a message up; 0 = no limit.
    ttl: int = 0
    #: The app's webhook signing key ("" = webhooks are refused).
    signing_key: str = field(default="", repr=False)
    #: The phone's own number, recorded as where inbound messages went ("" = unknown).
    phone_number: str = ""

    @property
    def callback_url(self) -> str | None:
        """Where the app's webhooks go; None when textgate's URL is not known."""
        if not self.http.callback_base_url:
            return None
        return f"{self.http.callback_base_url}{CALLBACK_PATH}{quote(self.name, safe='')}"

    @classmethod
    def from_mapping(cls, name: str, data: Mapping[str, object]) -> AndroidConfig:
        """Reads a `[providers.NAME]` table; `SettingsError` naming the key that is wrong."""
        table = Table(name, data, kind="android", keys=_KEYS, secrets=("password", "signing_key"))
        if not table.has("base_url"):
            raise table.fail(
                f"base_url is required: http://<phone-ip>:8080 (local server) or {CLOUD_BASE_URL}"
            )
        http = table.http_options("")
        if not table.has("max_in_flight"):
            http = dataclasses.replace(http, max_in_flight=DEFAULT_MAX_IN_FLIGHT)
        phone_number = table.text("phone_number", max_length=32)
        if phone_number:
            try:
                phone_number = parse_phone(phone_number).e164
            except InvalidPhone:
                raise table.fail("phone_number must be a number in E.164 (+...)") from None
        config = cls(
            name=name,
            username=table.text("username", required=True, max_length=128),
            password=table.text("password", required=True, max_length=256),
            http=http,
            sim_number=table.integer("sim_number", 0, low=0, high=3),
            ttl=table.integer("ttl", 0, low=0, high=30 * 86_400),
            signing_key=table.text("signing_key", max_length=256),
            phone_number=phone_number,
        )
        if config.http.callback_base_url and not config.signing_key:
            raise table.fail(
                "callback_base_url needs signing_key (the app's Settings -> Webhooks -> "
                "Signing Key): textgate refuses webhooks it cannot tell from forged ones"
            )
        return config


@dataclass(frozen=True, slots=True)
class Event:
    """What one webhook carries for textgate: a receipt, an inbound message, or neither."""

    kind: str
    receipt: Receipt | None = None
    inbound: Inbound | None = None


class AndroidProvider:
    def __init__(self, config: AndroidConfig, *, client: httpx.AsyncClient | None = None) -> None:
        self.name = config.name
        self.config = config
        self._message_url = f"{config.http.base_url}/message"
        self._webhooks_url = f"{config.http.base_url}/webhooks"
        self._link = HttpLink(
            config.name, config.http, probe=self._probe, describe=describe, client=client
        )
        self._registering: asyncio.Task[None] | None = None
        #: True once every webhook in `EVENTS` is registered with the app.
        self.webhooks_registered = False

    @property
    def _auth(self) -> tuple[str, str]:
        return self.config.username, self.config.password

    # -- Provider ---------------------------------------------------------------------

    async def start(self, sink: ReceiptSink) -> None:
        """Receipts and inbound messages come as webhooks to the API (`api.callbacks`), not
        through here. Registers those webhooks in the background (the phone may be off)."""
        self._link.start()
        if self.config.callback_url and self._registering is None:
            self._registering = asyncio.create_task(
                self._register_loop(), name=f"http:{self.name}:webhooks"
            )

    async def submit(self, message: Outgoing) -> Submitted:
        body: dict[str, Any] = {
            "textMessage": {"text": message.text},
            "phoneNumbers": [message.to],
            "withDeliveryReport": True,
        }
        if self.config.sim_number:
            body["simNumber"] = self.config.sim_number
        if self.config.ttl:
            body["ttl"] = self.config.ttl
        response = await self._link.send("POST", self._message_url, json=body, auth=self._auth)
        if not response.is_success:
            raise self._refused(response)
        answer = json_object(response)
        message_id = answer.get("id")
        if not isinstance(message_id, str) or not 1 <= len(message_id) <= _ID_LENGTH:
            raise TransientError(f"android HTTP {response.status_code} without a message id")
        if _state(answer) is ReceiptState.UNDELIVERED:
            raise PermanentError(f"android: failed at once: {_error(answer)}")
        return Submitted(provider_message_id=message_id)

    async def stop(self) -> None:
        if self._registering is not None:
            self._registering.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._registering
            self._registering = None
        await self._link.stop()

    def health(self) -> Health:
        if not self.config.callback_url:
            webhooks = "off"
        else:
            webhooks = "registered" if self.webhooks_registered else "not registered yet"
        return self._link.health(
            {"sim": str(self.config.sim_number or "default"), "webhooks": webhooks}
        )

    async def state_of(self, provider_message_id: str) -> ReceiptState:
        """The message's state as the app reports it now (`GET /message/{id}`)."""
        url = f"{self._message_url}/{quote(provider_message_id, safe='')}"
        response = await self._link.send("GET", url, auth=self._auth)
        if not response.is_success:
            raise self._refused(response, sending=False)
        state = _state(json_object(response))
        if state is None:
            raise TransientError("android: a message state without a state")
        return state

    async def register_webhooks(self) -> None:
        """Registers (or replaces) one webhook per event in `EVENTS` with the app."""
        url = self.config.callback_url
        if url is None:
            return
        for event in EVENTS:
            hook = {"id": webhook_id(self.name, event), "url": url, "event": event}
            response = await self._link.send("POST", self._webhooks_url, json=hook, auth=self._auth)
            if not response.is_success:
                raise self._refused(response, sending=False)
        self.webhooks_registered = True
        log.info(
            "webhooks registered with the phone",
            extra={"action": "android_webhooks_registered", "provider": self.name},
        )

    # -- webhooks ---------------------------------------------------------------------

    def check_signature(
        self,
        body: bytes,
        signature: str | None,
        timestamp: str | None,
        *,
        now: float | None = None,
    ) -> str | None:
        """Why a webhook cannot be trusted; None when it can."""
        if not self.config.signing_key:
            return "signing_key is not configured"
        if not signature or not timestamp:
            return "no X-Signature or X-Timestamp"
        try:
            signed_at = int(timestamp)
        except ValueError:
            return "X-Timestamp is not a number"
        expected = sign(self.config.signing_key, body, timestamp)
        if not hmac.compare_digest(signature.strip().lower().encode(), expected.encode()):
            return "wrong signature"
        if abs((time.time() if now is None else now) - signed_at) > SIGNATURE_WINDOW:
            return "X-Timestamp outside the window"
        return None

    def event_of(self, body: Mapping[str, Any]) -> Event:
        """What a (checked) webhook body means for textgate."""
        kind = body.get("event")
        payload = body.get("payload")
        if not isinstance(kind, str) or not isinstance(payload, dict):
            return Event(kind=str(kind or ""))
        if kind == "sms:received":
            return Event(kind=kind, inbound=self._inbound_of(payload))
        state = EVENT_STATES.get(kind)
        message_id = payload.get("messageId")
        if state is None or not isinstance(message_id, str) or not message_id:
            return Event(kind=kind)
        reason = payload.get("reason")
        error = (
            scrub(reason) if state is ReceiptState.UNDELIVERED and isinstance(reason, str) else ""
        )
        return Event(
            kind=kind,
            receipt=Receipt(
                provider=self.name,
                provider_message_id=message_id,
                state=state,
                error_code=error or None,
                raw={"stat": kind},
            ),
        )

    # -- inside -----------------------------------------------------------------------

    def _inbound_of(self, payload: Mapping[str, Any]) -> Inbound | None:
        sender = payload.get("phoneNumber") or payload.get("sender")
        text = payload.get("message")
        if not isinstance(sender, str) or not sender.strip() or not isinstance(text, str):
            return None
        recipient = payload.get("recipient")
        to = _number(recipient) if isinstance(recipient, str) and recipient.strip() else ""
        return Inbound(
            provider=self.name,
            from_number=_number(sender),
            to=to or self.config.phone_number,
            text=text,
        )

    def _refused(self, response: httpx.Response, *, sending: bool = True) -> Exception:
        """A refusal as an error; a 404 to a send means no gateway API at `base_url`."""
        reason = f"android HTTP {response.status_code}: {describe(response)}"
        if response.status_code == 404 and sending:
            return self._link.credentials_refused(f"no SMS Gateway API at base_url ({reason})")
        return PermanentError(reason)

    async def _register_loop(self) -> None:
        try:
            while not self.webhooks_registered:
                try:
                    await self.register_webhooks()
                except (TransientError, PermanentError) as exc:
                    log.warning(
                        "webhooks not registered with the phone: %s",
                        exc.reason,
                        extra={"action": "android_webhooks_failed", "provider": self.name},
                    )
                    await asyncio.sleep(self.config.http.probe_interval)
        finally:
            self._registering = None

    async def _probe(self, client: httpx.AsyncClient) -> httpx.Response:
        return await client.get(self._webhooks_url, auth=self._auth)


def sign(key: str, body: bytes, timestamp: str) -> str:
    """The app's X-Signature: hex HMAC-SHA256, keyed with the signing key, of the raw body
    followed by the X-Timestamp value."""
    return hmac.new(key.encode(), body + timestamp.encode(), hashlib.sha256).hexdigest()


def webhook_id(provider: str, event: str) -> str:
    """The id textgate registers a provider's webhook for `event` under (so registering
    again replaces it)."""
    return f"textgate-{provider}-{event.replace(':', '-')}"


def read_body(raw: bytes) -> dict[str, Any] | None:
    """A webhook body as a JSON object; None when it is not one."""
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


def describe(response: httpx.Response) -> str:
    """The app's error answer: its `message` (or `error`), else the reason phrase."""
    body = json_object(response)
    for key in ("message", "error"):
        text = body.get(key)
        if isinstance(text, str) and text.strip():
            return scrub(text)
    return response.reason_phrase or "no details"


def _state(answer: Mapping[str, Any]) -> ReceiptState | None:
    state = answer.get("state")
    return MESSAGE_STATES.get(state) if isinstance(state, str) else None


def _error(answer: Mapping[str, Any]) -> str:
    recipients = answer.get("recipients")
    if isinstance(recipients, list):
        for recipient in recipients:
            if isinstance(recipient, dict) and isinstance(recipient.get("error"), str):
                return scrub(recipient["error"])
    return "no reason given"


def _number(raw: str) -> str:
    """A number the phone reports, in E.164 when it is an international one (else as given:
    a national number or a sender name)."""
    try:
        return parse_phone(raw).e164
    except InvalidPhone:
        return " ".join(raw.split())
