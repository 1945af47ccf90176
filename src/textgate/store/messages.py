"""Messages: accepting (pay and queue in one transaction), claiming, recording outcomes.

The messages table is the queue. A due message is `queued` (or `sending` with its lease run
out) and `next_attempt_at <= now`; claiming moves it to `sending` and sets `next_attempt_at`
to the end of the lease, so a worker that dies leaves rows that are due again once the lease
ends. `attempts` doubles as the lease token: an outcome is recorded only while the row still
carries the attempt number the worker claimed.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from textgate.domain.states import MessageKind, MessageStatus
from textgate.store import accounts as accounts_store
from textgate.store.records import Accepted, Claimed, Event, Message, NewMessage
from textgate.store.tables import accounts, message_events, messages

PENDING = (MessageStatus.QUEUED.value, MessageStatus.SENDING.value)


class Rejected(enum.Enum):
    #: The API key was revoked after the request was authenticated.
    KEY_REVOKED = "key_revoked"
    #: The account's balance does not cover the price.
    NO_CREDITS = "no_credits"


_debit = (
    accounts.update()
    .where(accounts.c.id == sa.bindparam("b_account"))
    .values(credits_micros=accounts.c.credits_micros - sa.bindparam("b_amount"))
)
_insert = messages.insert().returning(messages.c.id, sort_by_parameter_order=True)


async def accept(
    conn: AsyncConnection, items: Sequence[NewMessage], *, now: int
) -> list[Accepted | Rejected]:
    """Pays for and queues `items` in the caller's transaction, in order: each item is
    accepted while its account's balance covers it, else rejected with nothing queued."""
    key_ids = {item.api_key_id for item in items if item.api_key_id is not None}
    live = await accounts_store.live_key_ids(conn, key_ids)
    balances = await _lock_balances(conn, {item.account_id for item in items})

    outcomes: list[Accepted | Rejected | None] = []
    spent: dict[int, int] = {}
    rows: list[dict[str, object]] = []
    for item in items:
        if item.api_key_id is not None and item.api_key_id not in live:
            outcomes.append(Rejected.KEY_REVOKED)
            continue
        left = balances.get(item.account_id, 0) - spent.get(item.account_id, 0)
        if item.price_micros > left:
            outcomes.append(Rejected.NO_CREDITS)
            continue
        spent[item.account_id] = spent.get(item.account_id, 0) + item.price_micros
        outcomes.append(None)
        rows.append(_row(item, now))

    if spent:
        await conn.execute(
            _debit, [{"b_account": a, "b_amount": amount} for a, amount in spent.items()]
        )
    ids: list[int] = []
    if rows:
        ids = [row[0] for row in await conn.execute(_insert, rows)]
    await accounts_store.touch_keys(conn, live, now)

    new_ids = iter(ids)
    return [
        Accepted(message_id=next(new_ids), created_at=now) if outcome is None else outcome
        for outcome in outcomes
    ]


async def _lock_balances(conn: AsyncConnection, account_ids: set[int]) -> dict[int, int]:
    query = (
        sa.select(accounts.c.id, accounts.c.credits_micros)
        .where(accounts.c.id.in_(account_ids))
        .order_by(accounts.c.id)  # one lock order for every process: no deadlocks
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return {row.id: row.credits_micros for row in await conn.execute(query)}


def _row(item: NewMessage, now: int) -> dict[str, object]:
    return {
        "account_id": item.account_id,
        "api_key_id": item.api_key_id,
        "kind": item.kind.value,
        "priority": item.kind.priority,
        "to_number": item.to_number,
        "region": item.region,
        "body": item.body,
        "encoding": item.encoding,
        "segments": item.segments,
        "price_micros": item.price_micros,
        "status": MessageStatus.QUEUED.value,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
        "updated_at": now,
    }


def _message(row: sa.Row[tuple[object, ...]]) -> Message:
    m = row._mapping
    return Message(
        id=m["id"],
        account_id=m["account_id"],
        kind=MessageKind(m["kind"]),
        to_number=m["to_number"],
        region=m["region"],
        body=m["body"],
        encoding=m["encoding"],
        segments=m["segments"],
        price_micros=m["price_micros"],
        status=MessageStatus(m["status"]),
        attempts=m["attempts"],
        provider=m["provider"],
        provider_message_id=m["provider_message_id"],
        error=m["error"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        submitted_at=m["submitted_at"],
        final_at=m["final_at"],
    )


async def get(conn: AsyncConnection, message_id: int, *, account_id: int) -> Message | None:
    """One message of `account_id`; another account's message is as absent as a missing one."""
    query = messages.select().where(
        messages.c.id == message_id, messages.c.account_id == account_id
    )
    row = (await conn.execute(query)).first()
    return _message(row) if row else None


async def history(conn: AsyncConnection, message: Message) -> list[Event]:
    query = (
        sa.select(message_events.c.status, message_events.c.at, message_events.c.detail)
        .where(message_events.c.message_id == message.id)
        .order_by(message_events.c.id)
    )
    events = [Event(MessageStatus.QUEUED, message.created_at, None)]
    events += [Event(MessageStatus(r.status), r.at, r.detail) for r in await conn.execute(query)]
    return events


async def claim(conn: AsyncConnection, *, now: int, lease_ms: int, limit: int) -> list[Claimed]:
    """Takes up to `limit` due messages, most urgent first, under a lease."""
    due = (
        sa.select(messages.c.id)
        .where(messages.c.status.in_(PENDING), messages.c.next_attempt_at <= now)
        .order_by(messages.c.priority, messages.c.next_attempt_at)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    query = (
        messages.update()
        .where(messages.c.id.in_(due.scalar_subquery()))
        .values(
            status=MessageStatus.SENDING.value,
            next_attempt_at=now + lease_ms,
            attempts=messages.c.attempts + 1,
            updated_at=now,
        )
        .returning(
            messages.c.id,
            messages.c.kind,
            messages.c.to_number,
            messages.c.region,
            messages.c.body,
            messages.c.encoding,
            messages.c.segments,
            messages.c.attempts,
        )
    )
    claimed = [
        Claimed(
            id=r.id,
            kind=MessageKind(r.kind),
            to_number=r.to_number,
            region=r.region,
            body=r.body,
            encoding=r.encoding,
            segments=r.segments,
            attempts=r.attempts,
        )
        for r in await conn.execute(query)
    ]
    claimed.sort(key=lambda c: c.id)
    return claimed


@dataclass(frozen=True, slots=True)
class SubmitOutcome:
    message_id: int
    attempt: int
    provider: str
    provider_message_id: str


@dataclass(frozen=True, slots=True)
class RetryOutcome:
    message_id: int
    attempt: int
    next_attempt_at: int
    reason: str


@dataclass(frozen=True, slots=True)
class FailOutcome:
    message_id: int
    attempt: int
    reason: str
    provider: str | None = None


_held = sa.and_(
    messages.c.id == sa.bindparam("b_id"),
    messages.c.status == MessageStatus.SENDING.value,
    messages.c.attempts == sa.bindparam("b_attempt"),
)
_mark_submitted = (
    messages.update()
    .where(_held)
    .values(
        status=MessageStatus.SUBMITTED.value,
        provider=sa.bindparam("b_provider"),
        provider_message_id=sa.bindparam("b_pmid"),
        submitted_at=sa.bindparam("b_now"),
        updated_at=sa.bindparam("b_now"),
        error=None,
    )
)
_mark_retry = (
    messages.update()
    .where(_held)
    .values(
        status=MessageStatus.QUEUED.value,
        next_attempt_at=sa.bindparam("b_next"),
        error=sa.bindparam("b_reason"),
        updated_at=sa.bindparam("b_now"),
    )
)


async def record(
    conn: AsyncConnection,
    *,
    now: int,
    submitted: Sequence[SubmitOutcome] = (),
    retries: Sequence[RetryOutcome] = (),
    failures: Sequence[FailOutcome] = (),
) -> None:
    """Records what providers answered for claimed messages, with their events; a failed
    message's price goes back to its account in the same transaction."""
    events: list[dict[str, object]] = []
    if submitted:
        await conn.execute(
            _mark_submitted,
            [
                {
                    "b_id": s.message_id,
                    "b_attempt": s.attempt,
                    "b_provider": s.provider,
                    "b_pmid": s.provider_message_id,
                    "b_now": now,
                }
                for s in submitted
            ],
        )
        events += [_event(s.message_id, MessageStatus.SUBMITTED, now, s.provider) for s in submitted]
    if retries:
        await conn.execute(
            _mark_retry,
            [
                {
                    "b_id": r.message_id,
                    "b_attempt": r.attempt,
                    "b_next": r.next_attempt_at,
                    "b_reason": r.reason,
                    "b_now": now,
                }
                for r in retries
            ],
        )
        events += [_event(r.message_id, MessageStatus.QUEUED, now, r.reason) for r in retries]
    for f in failures:
        row = (
            await conn.execute(
                messages.update()
                .where(
                    messages.c.id == f.message_id,
                    messages.c.status == MessageStatus.SENDING.value,
                    messages.c.attempts == f.attempt,
                )
                .values(
                    status=MessageStatus.FAILED.value,
                    error=f.reason,
                    provider=f.provider,
                    final_at=now,
                    updated_at=now,
                )
                .returning(messages.c.account_id, messages.c.price_micros)
            )
        ).first()
        if row is not None:
            await accounts_store.add_credits(conn, row.account_id, row.price_micros)
            events.append(_event(f.message_id, MessageStatus.FAILED, now, f.reason))
    if events:
        await conn.execute(message_events.insert(), events)


def _event(message_id: int, status: MessageStatus, at: int, detail: str | None) -> dict[str, object]:
    return {"message_id": message_id, "status": status.value, "at": at, "detail": detail}


async def count_by_status(conn: AsyncConnection, account_id: int | None = None) -> dict[str, int]:
    query = sa.select(messages.c.status, sa.func.count()).group_by(messages.c.status)
    if account_id is not None:
        query = query.where(messages.c.account_id == account_id)
    return {row[0]: int(row[1]) for row in await conn.execute(query)}
