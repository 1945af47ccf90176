"""Message states and the moves allowed between them."""

from __future__ import annotations

import enum


class MessageStatus(enum.StrEnum):
    #: Accepted and paid for; waiting for a worker.
    QUEUED = "queued"
    #: Claimed by a worker under a lease; being handed to a provider.
    SENDING = "sending"
    #: The provider accepted it and gave us its id.
    SUBMITTED = "submitted"
    #: The handset received it (delivery receipt).
    DELIVERED = "delivered"
    #: The network gave up on it (delivery receipt).
    UNDELIVERED = "undelivered"
    #: It could not be handed over: a permanent error, or retries ran out.
    FAILED = "failed"
    #: Its validity ran out before delivery (delivery receipt).
    EXPIRED = "expired"
    #: Cancelled before it was sent (bulk job cancel).
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATES

    @property
    def is_pending(self) -> bool:
        """Not yet handed to a provider: it still waits in the queue."""
        return self in (MessageStatus.QUEUED, MessageStatus.SENDING)


FINAL_STATES = frozenset(
    {
        MessageStatus.DELIVERED,
        MessageStatus.UNDELIVERED,
        MessageStatus.FAILED,
        MessageStatus.EXPIRED,
        MessageStatus.CANCELLED,
    }
)

#: States that end with the credit given back to the account.
REFUNDED_STATES = frozenset({MessageStatus.FAILED, MessageStatus.CANCELLED})

_ALLOWED: dict[MessageStatus, frozenset[MessageStatus]] = {
    MessageStatus.QUEUED: frozenset(
        {MessageStatus.SENDING, MessageStatus.CANCELLED, MessageStatus.FAILED}
    ),
    MessageStatus.SENDING: frozenset(
        {
            MessageStatus.SENDING,  # a lease ran out and another worker took it
            MessageStatus.QUEUED,  # a transient error: back to the queue with a delay
            MessageStatus.SUBMITTED,
            MessageStatus.FAILED,
            MessageStatus.CANCELLED,
            # a receipt may overtake the submit acknowledgement
            MessageStatus.DELIVERED,
            MessageStatus.UNDELIVERED,
            MessageStatus.EXPIRED,
        }
    ),
    MessageStatus.SUBMITTED: frozenset(
        {
            MessageStatus.DELIVERED,
            MessageStatus.UNDELIVERED,
            MessageStatus.EXPIRED,
            MessageStatus.FAILED,
        }
    ),
}


def can_move(old: MessageStatus, new: MessageStatus) -> bool:
    """Whether a message in state `old` may move to `new`."""
    return new in _ALLOWED.get(old, frozenset())


class MessageKind(enum.StrEnum):
    #: A one-time verification code (send-code): sent first.
    OTP = "otp"
    #: A single send-sms.
    SMS = "sms"
    #: One recipient of a bulk job: sent after the others.
    BULK = "bulk"

    @property
    def priority(self) -> int:
        """Lower goes first when workers claim due messages."""
        return _PRIORITY[self]


_PRIORITY = {MessageKind.OTP: 0, MessageKind.SMS: 1, MessageKind.BULK: 2}
