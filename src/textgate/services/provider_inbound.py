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

from textgate.delivery.base import Inbound, Receipt
from textgate.delivery.http import TwilioProvider, VonageProvider, inbound
from textgate.domain.phones import mask_phone
from textgate.errors import Forbidden, NotFound
from textgate.services import receipts
from textgate.services.container import Services
from textgate.services.provider_callbacks import Callback
from textgate.store import inbound as inbound_store
from textgate.store.db import now_ms

log = logging.getLogger("textgate.services.callbacks")


class StoreSink:
    """The receipts intake when this process runs one, else a write per message."""

    def __init__(self, svc: Services) -> None:
        self._svc = svc

    async def receipt(self, receipt: Receipt) -> None:
        raise NotImplementedError("inbound webhooks carry no receipts")

    async def inbound(self, message: Inbound) -> None:
        svc = self._svc
        if svc.receipts is not None:
            await svc.receipts.inbound(message)
            return
        log.info(
            "inbound message from %s to %s",
            mask_phone(message.from_number),
            mask_phone(message.to),
            extra={"action": "inbound_received", "provider": message.provider},
        )
        item = inbound_store.NewInbound(
            provider=message.provider,
            from_number=message.from_number,
            to_number=message.to,
            text=message.text,
        )
        await svc.db.write(receipts.write, [item], now=now_ms())
        svc.metrics.inbound.inc()


async def twilio_inbound(svc: Services, name: str, call: Callback, signature: str | None) -> bool:
    """Stores a message from Twilio's incoming-message webhook; False when it carries none
    of ours.

    `NotFound` for a provider name that is not a Twilio provider, `Forbidden` for a
    signature that is missing or wrong."""
    provider = svc.router.providers.get(name)
    if not isinstance(provider, TwilioProvider):
        raise NotFound(f"No Twilio provider named {name!r}")
    urls = provider.callback_urls(call.path_and_query, call.url)
    if not provider.check_signature(urls, call.params, signature):
        _refused(name, "wrong or missing X-Twilio-Signature")
        raise Forbidden("Invalid signature")
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
    provider = svc.router.providers.get(name)
    if not isinstance(provider, VonageProvider):
        raise NotFound(f"No Vonage provider named {name!r}")
    params = dict(call.params)
    why = provider.check_receipt(params, token)
    if why is not None:
        _refused(name, why)
        raise Forbidden("Invalid signature or token")
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


def _refused(name: str, why: str) -> None:
    log.warning("callback refused: %s", why, extra={"action": "callback_refused", "provider": name})
