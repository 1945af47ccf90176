"""Receipts that HTTP providers post to textgate: Twilio's status callbacks and Vonage's
delivery receipts. Each is checked (Twilio's signature; Vonage's signature and/or token),
read into a `Receipt` and applied like an SMPP receipt.

Where the worker runs in this process, receipts go through its intake (batched with the
rest); an API-only process (`serve --no-worker`) writes each in its own transaction. Either
way the provider is answered only once the receipt is on disk, so one that could not be
written is sent again.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from textgate.delivery.base import Inbound, Receipt
from textgate.delivery.http import TwilioProvider, VonageProvider
from textgate.domain.phones import mask_phone
from textgate.errors import Forbidden, NotFound
from textgate.services import receipts
from textgate.services.container import Services
from textgate.store import inbound as inbound_store
from textgate.store.db import now_ms

log = logging.getLogger("textgate.services.callbacks")


@dataclass(frozen=True, slots=True)
class Callback:
    """One callback request, as the route read it."""

    #: The path and query as the request reached us (percent-encoding kept).
    path_and_query: str
    #: The whole URL as it reached us (scheme and host from the request).
    url: str
    #: Its parameters, in order (query for a GET, the body for a POST).
    params: Sequence[tuple[str, str]]


async def twilio_status(svc: Services, name: str, call: Callback, signature: str | None) -> bool:
    """Applies a Twilio status callback; False when it reports on nothing of ours.

    `NotFound` for a provider name that is not a Twilio provider, `Forbidden` for a
    signature that is missing or wrong."""
    provider = checked_twilio(svc, name, call, signature)
    return await _apply(svc, provider.receipt_of(dict(call.params)), name)


async def vonage_receipt(svc: Services, name: str, call: Callback, token: str | None) -> bool:
    """Applies a Vonage delivery receipt; False when it reports on nothing of ours.

    `NotFound` for a provider name that is not a Vonage provider, `Forbidden` when the
    request's signature or token does not check out."""
    provider, params = checked_vonage(svc, name, call, token)
    return await _apply(svc, provider.receipt_of(params), name)


def checked_twilio(
    svc: Services, name: str, call: Callback, signature: str | None
) -> TwilioProvider:
    """The Twilio provider `name`, once the callback's signature checks out: `NotFound` for a
    name that is not a Twilio provider, `Forbidden` for a signature missing or wrong."""
    provider = svc.router.providers.get(name)
    if not isinstance(provider, TwilioProvider):
        raise NotFound(f"No Twilio provider named {name!r}")
    urls = provider.callback_urls(call.path_and_query, call.url)
    if not provider.check_signature(urls, call.params, signature):
        refused(name, "wrong or missing X-Twilio-Signature")
        raise Forbidden("Invalid signature")
    return provider


def checked_vonage(
    svc: Services, name: str, call: Callback, token: str | None
) -> tuple[VonageProvider, dict[str, str]]:
    """The Vonage provider `name` and the callback's parameters, once its signature and/or
    token check out: `NotFound` for a name that is not a Vonage provider, `Forbidden` else."""
    provider = svc.router.providers.get(name)
    if not isinstance(provider, VonageProvider):
        raise NotFound(f"No Vonage provider named {name!r}")
    params = dict(call.params)
    why = provider.check_receipt(params, token)
    if why is not None:
        refused(name, why)
        raise Forbidden("Invalid signature or token")
    return provider, params


class StoreSink:
    """Where a callback's receipt or inbound message goes: the worker's receipts intake when
    this process runs one (batched with the rest), else a write of its own."""

    def __init__(self, svc: Services) -> None:
        self._svc = svc

    async def receipt(self, receipt: Receipt) -> None:
        svc = self._svc
        if svc.receipts is not None:
            await svc.receipts.receipt(receipt)
            return
        await svc.db.write(receipts.write, [receipts.report_of(receipt)], now=now_ms())
        svc.metrics.receipts.labels(receipt.state.value).inc()

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


async def _apply(svc: Services, receipt: Receipt | None, name: str) -> bool:
    if receipt is None:
        log.info(
            "callback without a receipt of ours ignored",
            extra={"action": "callback_ignored", "provider": name},
        )
        return False
    await StoreSink(svc).receipt(receipt)
    log.debug(
        "receipt from a callback",
        extra={"action": "callback_receipt", "provider": name, "state": receipt.state.value},
    )
    return True


def refused(name: str, why: str) -> None:
    log.warning(
        "callback refused: %s",
        why,
        extra={"action": "callback_refused", "provider": name},
    )


def pairs(mapping: Mapping[str, object]) -> list[tuple[str, str]]:
    """A JSON object's fields as parameters (values as text; nested values skipped)."""
    found: list[tuple[str, str]] = []
    for key, value in mapping.items():
        if isinstance(value, bool):
            found.append((key, "true" if value else "false"))
        elif isinstance(value, str | int | float):
            found.append((key, str(value)))
    return found
