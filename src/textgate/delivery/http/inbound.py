"""Inbound SMS webhooks of the HTTP providers, read into `Inbound` messages.

Twilio posts an incoming message to the number's "A message comes in" webhook
(`/callbacks/twilio/{name}/inbound`), signed like its status callbacks, with `From`, `To`,
`Body`, `MessageSid`, `NumSegments` and `AccountSid`. Twilio joins a long message's parts
itself: `Body` is the whole text. It wants TwiML back: `TWIML_EMPTY` sends no reply.

Vonage sends an inbound SMS (GET or POST, form or JSON) to the number's or account's
inbound webhook (`/callbacks/vonage/{name}/inbound[/{token}]`), checked like its delivery
receipts, with `msisdn` (the sender), `to` (our number), `text`, `messageId`, `type`
(`text`, `unicode` or `binary`) and, for one part of a long message, `concat=true`,
`concat-ref`, `concat-total` and `concat-part` (joined by `inbox.PartsInbox`).
Numbers come as digits without "+": those that are international numbers are stored in
E.164, so a reply matches the number textgate sent to.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from textgate.delivery.base import Inbound
from textgate.delivery.http.twilio import TwilioProvider
from textgate.delivery.http.vonage import VonageProvider
from textgate.delivery.smpp import concat
from textgate.domain.phones import parse_phone
from textgate.errors import InvalidPhone

TWIML_EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


@dataclass(frozen=True, slots=True)
class VonageInbound:
    """One inbound SMS webhook of Vonage: the message (or part) and which part it is."""

    message: Inbound
    #: None for a message of its own (or concatenation info that makes no sense).
    part: concat.Concat | None


def twilio_message(provider: TwilioProvider, params: Mapping[str, str]) -> Inbound | None:
    """The message a (checked) incoming-message webhook carries; None without a sender or
    a body, or for another Twilio account."""
    sender = (params.get("From") or "").strip()
    text = params.get("Body")
    account = params.get("AccountSid")
    if not sender or text is None or (account and account != provider.config.account_sid):
        return None
    return Inbound(
        provider=provider.name,
        from_number=_number(sender),
        to=_number(params.get("To") or provider.config.sender),
        text=text,
    )


def vonage_message(provider: VonageProvider, params: Mapping[str, str]) -> VonageInbound | None:
    """The message a (checked) inbound SMS webhook carries; None without a sender, for a
    binary message, or for another API key."""
    sender = (params.get("msisdn") or "").strip()
    text = params.get("text")
    api_key = params.get("api-key")
    if (
        not sender
        or text is None
        or params.get("type") == "binary"
        or (api_key and api_key != provider.config.api_key)
    ):
        return None
    message = Inbound(
        provider=provider.name,
        from_number=_number(sender),
        to=_number(params.get("to") or provider.config.sender),
        text=text,
    )
    return VonageInbound(message, _concat(params))


def _concat(params: Mapping[str, str]) -> concat.Concat | None:
    """Which part of a long message this is; None for a message of its own, or when the
    numbers make no sense (the part is then taken as a message of its own)."""
    if (params.get("concat") or "").lower() != "true":
        return None
    try:
        reference, total, seq = (
            int(params.get(name, "")) for name in ("concat-ref", "concat-total", "concat-part")
        )
    except ValueError:
        return None
    if not 0 <= reference < 2**31 or not 1 <= seq <= total <= 255:
        return None
    return concat.Concat(reference, total, seq)


def _number(raw: str) -> str:
    """A number in E.164 when it is an international one ("381690156360" or
    "+381690156360"; Vonage sends international numbers as digits), else as given (a short
    code or a sender name)."""
    value = " ".join(raw.split())
    digits = value.isdigit() and len(value) >= 8 and not value.startswith("00")
    international = "+" + value if digits else value
    try:
        return parse_phone(international).e164
    except InvalidPhone:
        return international
