"""Webhooks from the SMS Gateway for Android app: each is checked (its HMAC signature and
timestamp), then `sms:delivered` / `sms:failed` are applied as receipts and `sms:received`
is stored as an inbound message (matched to the account it replies to by the inbound store).

As with the other providers' callbacks, the app is answered only once what it reported is
on disk (through the worker's receipts intake, or, in an API-only process, in a write of
its own), so a webhook that could not be written is sent again.
"""

from __future__ import annotations

import logging

from textgate.delivery.http.android import AndroidProvider, read_body
from textgate.errors import Forbidden, InvalidRequest, NotFound
from textgate.services.container import Services
from textgate.services.provider_callbacks import StoreSink, refused

log = logging.getLogger("textgate.services.callbacks")


async def android_event(
    svc: Services, name: str, body: bytes, signature: str | None, timestamp: str | None
) -> bool:
    """Applies one webhook; False when it reports nothing textgate records.

    `NotFound` for a provider name that is not an Android provider, `Forbidden` for a
    signature that is missing, wrong or stale, `InvalidRequest` for a body that is not a
    JSON object."""
    provider = svc.router.providers.get(name)
    if not isinstance(provider, AndroidProvider):
        raise NotFound(f"No Android provider named {name!r}")
    why = provider.check_signature(body, signature, timestamp)
    if why is not None:
        refused(name, why)
        raise Forbidden("Invalid signature")
    parsed = read_body(body)
    if parsed is None:
        raise InvalidRequest("The webhook body must be a JSON object")
    event = provider.event_of(parsed)
    if event.inbound is not None:
        await StoreSink(svc).inbound(event.inbound)
        return True
    if event.receipt is not None:
        await StoreSink(svc).receipt(event.receipt)
        return True
    log.info(
        "android webhook %s ignored",
        event.kind[:32],
        extra={"action": "callback_ignored", "provider": name},
    )
    return False
