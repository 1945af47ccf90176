"""What a delivery receipt does to a message: the rules, without the store.

A receipt's state (the values of `delivery.base.ReceiptState`) names where the provider says
the message (or one part of a long message) ended:

    delivered    -> delivered
    undelivered  -> undelivered
    expired      -> expired
    rejected     -> undelivered, with the error "rejected[: <code>]"
    pending      -> nothing final (accepted, en route, unknown)

A rejection comes from the network after the SMSC took the message, so the message was
handed over and is paid for like any other that did not arrive: it is `undelivered`, not
`failed` (failed messages are the ones that never left us, and get their credit back).

A long message sent as several parts (each with its own SMSC id and receipt) is delivered
when every part is, and undelivered or expired as soon as any part is.
"""

from __future__ import annotations

from collections.abc import Sequence

from textgate.domain.states import MessageStatus

DELIVERED = "delivered"
UNDELIVERED = "undelivered"
EXPIRED = "expired"
REJECTED = "rejected"
PENDING = "pending"

#: Every state a receipt (or a part of a long message) may be in.
STATES = frozenset({DELIVERED, UNDELIVERED, EXPIRED, REJECTED, PENDING})

_FINAL = {
    DELIVERED: MessageStatus.DELIVERED,
    UNDELIVERED: MessageStatus.UNDELIVERED,
    EXPIRED: MessageStatus.EXPIRED,
    REJECTED: MessageStatus.UNDELIVERED,
}


def final_status(state: str) -> MessageStatus | None:
    """The message status a receipt in `state` moves its message to; None for a state that
    settles nothing (pending) or one we do not know."""
    return _FINAL.get(state)


def error_of(state: str, error_code: str | None) -> str | None:
    """The message's `error` after a receipt: the receipt's error code (None when it gave
    none); a rejection says so."""
    if state == REJECTED:
        return f"rejected: {error_code}" if error_code else "rejected"
    return error_code


def combined(parts: Sequence[str]) -> str | None:
    """The receipt state of a long message from its parts' states, in part order: the first
    part that did not arrive decides at once; delivered once all are; None while waiting."""
    for state in parts:
        if state in (UNDELIVERED, EXPIRED, REJECTED):
            return state
    if parts and all(state == DELIVERED for state in parts):
        return DELIVERED
    return None
