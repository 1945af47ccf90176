"""Inbound SMS that HTTP providers post to textgate: Twilio's incoming-message webhook and
Vonage's inbound SMS webhook. Each is checked like that provider's receipts (Twilio's
signature; Vonage's signature and/or token), read into an `Inbound` and stored like an
SMPP one: matched to the account that last messaged that number, with a
`message.received` webhook event (store.inbound).

The provider is answered only once the message is on disk (through the worker's receipts
intake or, in an API-only process, a write of its own), so one that could not be written
is sent again. A Vonage part of a long message waits in the provider's `inbox` for the
rest; the webhook of the part that completes it is answered once the whole is on disk.
"""

from __future__ import annotations

import logging

from textgate.delivery.http import inbound
from textgate.services.container import Services
from textgate.services.provider_callbacks import (
    Callback,
    StoreSink,
    checked_twilio,
    checked_vonage,
)

log = logging.getLogger("textgate.services.callbacks")


async def twilio_inbound(svc: Services, name: str, call: Callback, signature: str | None) -> bool:
    """Stores a message from Twilio's incoming-message webhook; False when it carries none
    of ours.

    `NotFound` for a provider name that is not a Twilio provider, `Forbidden` for a
    signature that is missing or wrong."""
    provider = checked_twilio(svc, name, call, signature)
    message = inbound.twilio_message(provider, dict(call.params))
    if message is None:
        return _ignored(name)
    await StoreSink(svc).inbound(message)
    return True


async def vonage_inbound(svc: Services, name: str, call: Callback, token: str | None) -> bool:
    """Stores a message (or holds a part of one) from Vonage's inbound SMS webhook; False
    when it carries none of ours.

    `NotFound` for a provider name that is not a Vonage provider, `Forbidden` when the
    request's signature or token does not check out."""
    provider, params = checked_vonage(svc, name, call, token)
    found = inbound.vonage_message(provider, params)
    if found is None:
        return _ignored(name)
    await provider.inbox.accept(StoreSink(svc), found.message, found.part)
    return True


def _ignored(name: str) -> bool:
    log.info(
        "inbound webhook without a message of ours ignored",
        extra={"action": "callback_ignored", "provider": name},
    )
    return False
