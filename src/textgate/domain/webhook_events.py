"""Status webhooks: the events an account's webhook receives, and when they are retried.

Events are written to an outbox in the same transaction as the change they report (see
`store.webhook_events`) and POSTed by the worker until the receiver answers a 2xx, at least
once: an event keeps its id (`evt_<n>`) across attempts, so a receiver de-duplicates by the
`X-Textgate-Event-Id` header (or the body's `id`).
"""

from __future__ import annotations

import enum

from textgate.domain.retry import RetryPolicy


class EventType(enum.StrEnum):
    #: A provider took the message (status `submitted`).
    SENT = "message.sent"
    #: A delivery receipt said the handset has it.
    DELIVERED = "message.delivered"
    #: It failed for good: never handed over (`failed`, credited back), or a receipt said it
    #: did not arrive (`undelivered`, rejections included, or `expired`).
    FAILED = "message.failed"
    #: A handset replied to one of the account's messages.
    RECEIVED = "message.received"


class EventStatus(enum.StrEnum):
    #: Waiting for its (next) attempt, or being sent by a worker under a lease.
    PENDING = "pending"
    #: The receiver answered a 2xx.
    DELIVERED = "delivered"
    #: Every attempt failed (or the account's webhook URL was removed).
    FAILED = "failed"


#: Seconds after the first failed attempt, doubling after each, at most `RETRY_MAX_DELAY`.
RETRY_BASE_DELAY = 30.0
RETRY_MAX_DELAY = 4 * 3600.0
RETRY_JITTER = 0.2
#: With the default 15 attempts, the last one comes about a day after the first.
DEFAULT_MAX_ATTEMPTS = 15


def retry_policy(max_attempts: int = DEFAULT_MAX_ATTEMPTS) -> RetryPolicy:
    """30 s, 1 min, 2 min, ... doubling up to 4 h between attempts, each ±20 %."""
    return RetryPolicy(
        max_attempts=max_attempts,
        base_delay=RETRY_BASE_DELAY,
        max_delay=RETRY_MAX_DELAY,
        jitter=RETRY_JITTER,
    )


def schedule(policy: RetryPolicy) -> list[float]:
    """The nominal waits (no jitter) between the attempts `policy` allows."""
    waits = []
    for attempt in range(1, policy.max_attempts):
        wait = policy.next_delay(attempt)
        assert wait is not None
        waits.append(wait)
    return waits


def event_id(row_id: int) -> str:
    """The id receivers see; the same on every attempt."""
    return f"evt_{row_id}"
