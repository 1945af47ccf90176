"""The one interface every provider implements, and the errors it may raise.

A provider takes an `Outgoing` message and hands it to the outside world (an SMSC over
SMPP, an HTTP API, a phone). It answers a `Submitted` with the provider's own id, or raises
`TransientError` (try again later) or `PermanentError` (this message will never go).
Receipts and inbound messages that arrive later are passed to the `ReceiptSink` the worker
gives the provider when it starts.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from textgate.domain.text import Encoding


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message, as the worker hands it to a provider."""

    message_id: int
    to: str  #: E.164 with the leading +
    text: str
    encoding: Encoding
    segments: int
    sender: str | None = None
    attempt: int = 1
    #: The text holds a secret (a verification code): never log or print it.
    secret: bool = False


@dataclass(frozen=True, slots=True)
class Submitted:
    """The provider took the message; `provider_message_id` correlates its receipts."""

    provider_message_id: str
    #: Extra ids when the provider split the message into parts with ids of their own.
    part_ids: tuple[str, ...] = ()


class ReceiptState(enum.StrEnum):
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    EXPIRED = "expired"
    REJECTED = "rejected"
    #: Intermediate states (accepted, enroute, unknown) that change nothing final.
    PENDING = "pending"


@dataclass(frozen=True, slots=True)
class Receipt:
    """A delivery report for one provider message id (or one part of a long message)."""

    provider: str
    provider_message_id: str
    state: ReceiptState
    error_code: str | None = None
    raw: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Inbound:
    """A message a handset sent to one of our numbers or sender ids."""

    provider: str
    from_number: str
    to: str
    text: str


class ProviderError(Exception):
    """Base of the errors a provider raises from `submit`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TransientError(ProviderError):
    """Try again later: throttled, queue full, link down, timeout, unknown failure."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        #: Seconds the provider asked us to wait, when it said so.
        self.retry_after = retry_after


class PermanentError(ProviderError):
    """This message will never be accepted (invalid destination, barred, bad content)."""


class ReceiptSink(Protocol):
    async def receipt(self, receipt: Receipt) -> None: ...

    async def inbound(self, message: Inbound) -> None: ...


@dataclass(frozen=True, slots=True)
class Health:
    """What readiness checks and the console show of a provider."""

    name: str
    up: bool
    in_flight: int = 0
    last_error: str | None = None
    detail: dict[str, str] = field(default_factory=dict)


@runtime_checkable
class Provider(Protocol):
    name: str

    async def start(self, sink: ReceiptSink) -> None:
        """Connect (bind, open sessions). Must return promptly even if the peer is down:
        a provider that is down raises `TransientError` from `submit` until it is up."""

    async def submit(self, message: Outgoing) -> Submitted: ...

    async def stop(self) -> None: ...

    def health(self) -> Health: ...


async def submit_all(
    provider: Provider, messages: Sequence[Outgoing]
) -> list[Submitted | BaseException]:
    """Submits `messages` concurrently; each answer is a `Submitted` or the exception raised.

    A provider may offer `submit_many(messages)` with the same contract, to take a batch
    more cheaply than one task a message (the console provider does)."""
    many = getattr(provider, "submit_many", None)
    if many is not None:
        return list(await many(messages))
    return list(
        await asyncio.gather(*(provider.submit(m) for m in messages), return_exceptions=True)
    )
