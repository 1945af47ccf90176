"""Webhooks from the SMS Gateway for Android app: each is checked (its HMAC signature and
timestamp), then `sms:delivered` / `sms:failed` are applied as receipts and `sms:received`
is stored as an inbound message (matched to the account it replies to by the inbound store).

As with the other providers' callbacks, the app is answered only once what it reported is
on disk (through the worker's receipts intake, or, in an API-only process, in a write of
its own), so a webhook that could not be written is sent again.
"""

from __future__ import annotations

import logging

from textgate.delivery.base import Inbound, Receipt
from textgate.delivery.http.android import AndroidProvider, read_body
from textgate.domain.phones import mask_phone
from textgate.errors import Forbidden, InvalidRequest, NotFound
from textgate.services import receipts
from textgate.services.container import Services
from textgate.store import inbound as inbound_store
from textgate.store.db import now_ms

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
        log.warning(
            "callback refused: %s", why, extra={"action": "callback_refused", "provider": name}
        )
        raise Forbidden("Invalid signature")
    parsed = read_body(body)
    if parsed is None:
        raise InvalidRequest("The webhook body must be a JSON object")
    event = provider.event_of(parsed)
    if event.inbound is not None:
        await _inbound(svc, event.inbound)
        return True
    if event.receipt is not None:
        await _receipt(svc, event.receipt)
        return True
    log.info(
        "android webhook %s ignored",
        event.kind[:32],
        extra={"action": "callback_ignored", "provider": name},
    )
    return False


async def _receipt(svc: Services, receipt: Receipt) -> None:
    if svc.receipts is not None:
        await svc.receipts.receipt(receipt)
        return
    await svc.db.write(receipts.write, [receipts.report_of(receipt)], now=now_ms())
    svc.metrics.receipts.labels(receipt.state.value).inc()


async def _inbound(svc: Services, message: Inbound) -> None:
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
