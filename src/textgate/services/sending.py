"""The send-sms use case: validate, price, pay and queue."""

from __future__ import annotations

from dataclasses import dataclass

from textgate.domain import phones, text
from textgate.domain.pricing import PriceTable
from textgate.domain.states import MessageKind, MessageStatus
from textgate.errors import AuthError, InsufficientCredits
from textgate.services.committer import Committer
from textgate.store import messages
from textgate.store.records import Caller, NewMessage


@dataclass(frozen=True, slots=True)
class Queued:
    message_id: int
    to: str
    content: str
    country_name: str
    price_micros: int
    timestamp: int
    segments: int
    encoding: text.Encoding
    status: MessageStatus = MessageStatus.QUEUED


class SendService:
    def __init__(self, committer: Committer, prices: PriceTable) -> None:
        self._committer = committer
        self._prices = prices

    def prepare(
        self, caller: Caller, phone_number: str, body: str, kind: MessageKind
    ) -> tuple[NewMessage, phones.Phone, text.TextInfo]:
        """Checks and prices a message; raises InvalidPhone / InvalidText."""
        phone = phones.parse_phone(phone_number)
        info = text.analyze(body)
        price = self._prices.price_micros(phone.region, info.segments)
        item = NewMessage(
            account_id=caller.account_id,
            api_key_id=caller.key_id,
            kind=kind,
            to_number=phone.e164,
            region=phone.region,
            body=body,
            encoding=info.encoding.value,
            segments=info.segments,
            price_micros=price,
        )
        return item, phone, info

    async def send(
        self, caller: Caller, phone_number: str, body: str, kind: MessageKind = MessageKind.SMS
    ) -> Queued:
        item, phone, info = self.prepare(caller, phone_number, body, kind)
        outcome = await self._committer.accept(item)
        if outcome is messages.Rejected.KEY_REVOKED:
            raise AuthError("Invalid API key", status=400, reason="the API key was revoked")
        if outcome is messages.Rejected.NO_CREDITS:
            raise InsufficientCredits(
                "Not enough credits to send this message",
                price=item.price_micros / 1_000_000,
            )
        assert not isinstance(outcome, messages.Rejected)
        return Queued(
            message_id=outcome.message_id,
            to=phone.e164,
            content=body,
            country_name=phone.country_name,
            price_micros=item.price_micros,
            timestamp=outcome.created_at,
            segments=info.segments,
            encoding=info.encoding,
        )
