"""What the console shows of an account's webhook events, and retrying a failed one."""

from __future__ import annotations

from textgate.errors import Conflict, NotFound
from textgate.store import webhook_events as store
from textgate.store.db import Database, now_ms

#: Events the settings page lists.
RECENT = 25
#: Ids beyond this are no event's (and would overflow the column).
_MAX_ID = 2**63


async def recent(db: Database, account_id: int, limit: int = RECENT) -> list[store.EventRow]:
    """The account's newest events, newest first."""
    return await db.read(store.recent, account_id, limit=limit)


async def retry_now(db: Database, account_id: int, event_id: int) -> None:
    """A failed event of the account is sent again at once, for one more attempt.
    NotFound for another account's event (as for none); Conflict when it is not failed."""
    if not 0 < event_id < _MAX_ID:
        raise NotFound(f"No webhook event {event_id}")
    done = await db.write(store.retry, account_id, event_id, now=now_ms())
    if done is None:
        raise NotFound(f"No webhook event {event_id}")
    if not done:
        raise Conflict("Only a failed event can be retried: this one is delivered or waiting")
