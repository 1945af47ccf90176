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
from sqlalchemy.engine import Connection

from textgate.domain import receipts as receipt_rules
from textgate.domain.states import MessageKind, MessageStatus
from textgate.store import accounts as accounts_store
from textgate.store import bulk_cancel, receipts, sql, webhook_events
from textgate.store.records import Accepted, Claimed, Event, Message, NewMessage
from textgate.store.tables import message_events, messages

PENDING = (MessageStatus.QUEUED.value, MessageStatus.SENDING.value)
QUEUED = MessageStatus.QUEUED.value
SENDING = MessageStatus.SENDING.value
SUBMITTED = MessageStatus.SUBMITTED.value
FAILED = MessageStatus.FAILED.value
PART_PENDING = receipt_rules.PENDING


_KINDS = {kind.value: kind for kind in MessageKind}  # a dict lookup is 10x an Enum call


class Rejected(enum.Enum):
    #: The API key was revoked after the request was authenticated.
    KEY_REVOKED = "key_revoked"
    #: The account's balance does not cover the price.
    NO_CREDITS = "no_credits"


_COLUMNS = (
    "id, account_id, api_key_id, kind, priority, to_number, region, body, encoding, segments,"
    " price_micros, status, attempts, next_attempt_at, created_at, updated_at"
)
_INSERT = f"INSERT INTO messages ({_COLUMNS}) VALUES ({sql.placeholders(16)})"
_DEBIT = "UPDATE accounts SET credits_micros = credits_micros - ? WHERE id = ?"


def accept(conn: Connection, items: Sequence[NewMessage], *, now: int) -> list[Accepted | Rejected]:
    """Pays for and queues `items` in the caller's transaction, in order: each item is
    accepted while its account's balance covers it, else rejected with nothing queued."""
    key_ids = {item.api_key_id for item in items if item.api_key_id is not None}
    live = _live_keys(conn, key_ids)
    balances = _lock_balances(conn, {item.account_id for item in items})

    outcomes: list[Accepted | Rejected | None] = []
    spent: dict[int, int] = {}
    paid: list[NewMessage] = []
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
        paid.append(item)

    if spent:
        sql.execute_many(conn, _DEBIT, [(amount, account) for account, amount in spent.items()])
    first_id = reserve_ids(conn, len(paid)) if paid else 0
    if paid:
        sql.execute_many(
            conn,
            _INSERT,
            [
                (
                    first_id + i,
                    m.account_id,
                    m.api_key_id,
                    m.kind.value,
                    m.kind.priority,
                    m.to_number,
                    m.region,
                    m.body,
                    m.encoding,
                    m.segments,
                    m.price_micros,
                    QUEUED,
                    0,
                    now,
                    now,
                    now,
                )
                for i, m in enumerate(paid)
            ],
        )
    if live:
        ids = sorted(live)
        sql.execute(
            conn,
            f"UPDATE api_keys SET last_used_at = ? WHERE id IN ({sql.placeholders(len(ids))})",
            (now, *ids),
        )

    new_ids = iter(range(first_id, first_id + len(paid)))
    return [
        Accepted(message_id=next(new_ids), created_at=now) if outcome is None else outcome
        for outcome in outcomes
    ]


def reserve_ids(conn: Connection, n: int) -> int:
    """The first of `n` consecutive new message ids, taken inside the write transaction.

    SQLite: the writer holds the database lock (BEGIN IMMEDIATE), so max(id)+1 on are ours.
    PostgreSQL: the sequence is advanced by `n` at once (setval under an advisory
    transaction lock, so concurrent reservations never overlap)."""
    if conn.dialect.name == "sqlite":
        top = sql.execute(conn, "SELECT COALESCE(MAX(id), 0) FROM messages").scalar_one()
        return int(top) + 1
    sql.execute(conn, "SELECT pg_advisory_xact_lock(7270718)")
    last = sql.execute(
        conn,
        "SELECT setval(pg_get_serial_sequence('messages', 'id'),"
        " nextval(pg_get_serial_sequence('messages', 'id')) + ? - 1)",
        (n,),
    ).scalar_one()
    return int(last) - n + 1


def _live_keys(conn: Connection, key_ids: set[int]) -> set[int]:
    if not key_ids:
        return set()
    ids = sorted(key_ids)
    rows = sql.execute(
        conn,
        "SELECT id FROM api_keys WHERE revoked_at IS NULL"
        f" AND id IN ({sql.placeholders(len(ids))})",
        ids,
    )
    return {row[0] for row in rows}


def _lock_balances(conn: Connection, account_ids: set[int]) -> dict[int, int]:
    ids = sorted(account_ids)  # one lock order for every process: no deadlocks
    lock = " FOR UPDATE" if conn.dialect.name == "postgresql" else ""
    rows = sql.execute(
        conn,
        f"SELECT id, credits_micros FROM accounts WHERE id IN ({sql.placeholders(len(ids))})"
        f" ORDER BY id{lock}",
        ids,
    )
    return {row[0]: row[1] for row in rows}


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


def get(conn: Connection, message_id: int, *, account_id: int) -> Message | None:
    """One message of `account_id`; another account's message is as absent as a missing one."""
    query = messages.select().where(
        messages.c.id == message_id, messages.c.account_id == account_id
    )
    row = (conn.execute(query)).first()
    return _message(row) if row else None


def history(conn: Connection, message: Message) -> list[Event]:
    """The message's status history, oldest first.

    The common steps are read off the row's own timestamps (queued at `created_at`,
    submitted at `submitted_at`, the final state at `final_at`), so the hot path writes no
    event rows; `message_events` holds the rest: retries, failures, receipts' details."""
    query = (
        sa.select(message_events.c.status, message_events.c.at, message_events.c.detail)
        .where(message_events.c.message_id == message.id)
        .order_by(message_events.c.id)
    )
    recorded = [Event(MessageStatus(r.status), r.at, r.detail) for r in conn.execute(query)]
    events = [Event(MessageStatus.QUEUED, message.created_at, None), *recorded]
    if message.submitted_at is not None:
        events.append(Event(MessageStatus.SUBMITTED, message.submitted_at, message.provider))
    if message.final_at is not None and not any(e.status == message.status for e in recorded):
        events.append(Event(message.status, message.final_at, message.error))
    return sorted(events, key=lambda e: e.at)


def get_with_history(
    conn: Connection, message_id: int, account_id: int
) -> tuple[Message, list[Event]] | None:
    message = get(conn, message_id, account_id=account_id)
    return (message, history(conn, message)) if message is not None else None


def claim(conn: Connection, *, now: int, lease_ms: int, limit: int) -> list[Claimed]:
    """Takes up to `limit` due messages, most urgent first, under a lease."""
    skip_locked = " FOR UPDATE SKIP LOCKED" if conn.dialect.name == "postgresql" else ""
    rows = sql.execute(
        conn,
        "UPDATE messages SET status = ?, next_attempt_at = ?, attempts = attempts + 1,"
        " updated_at = ? WHERE id IN (SELECT id FROM messages"
        " WHERE status IN ('queued', 'sending') AND next_attempt_at <= ?"
        f" ORDER BY priority, next_attempt_at LIMIT ?{skip_locked})"
        " RETURNING id, kind, to_number, region, body, encoding, segments, attempts",
        (SENDING, now + lease_ms, now, now, limit),
    ).all()
    claimed = [
        Claimed(
            id=r[0],
            kind=_KINDS[r[1]],
            to_number=r[2],
            region=r[3],
            body=r[4],
            encoding=r[5],
            segments=r[6],
            attempts=r[7],
        )
        for r in rows
    ]
    claimed.sort(key=lambda c: c.id)
    return claimed


@dataclass(frozen=True, slots=True)
class SubmitOutcome:
    message_id: int
    attempt: int
    provider: str
    provider_message_id: str
    #: Every part's id when the provider sent the message as several (empty for one).
    part_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RetryOutcome:
    message_id: int
    attempt: int
    next_attempt_at: int
    reason: str


@dataclass(frozen=True, slots=True)
class DeferOutcome:
    """No provider of the message's route is up: back to the queue without spending an
    attempt (the claim's increment is taken back)."""

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


#: Outcomes are recorded only under the lease: same attempt, still `sending`.
_HELD = "WHERE id = ? AND status = 'sending' AND attempts = ?"
_MARK_SUBMITTED = (
    "UPDATE messages SET status = ?, provider = ?, provider_message_id = ?, submitted_at = ?,"
    f" updated_at = ?, error = NULL {_HELD}"
)
_MARK_RETRY = (
    f"UPDATE messages SET status = ?, next_attempt_at = ?, error = ?, updated_at = ? {_HELD}"
)
_MARK_DEFERRED = (
    "UPDATE messages SET status = ?, next_attempt_at = ?, attempts = attempts - 1, error = ?,"
    f" updated_at = ? {_HELD}"
)
_MARK_FAILED = (
    "UPDATE messages SET status = ?, error = ?, provider = ?, final_at = ?, updated_at = ?"
    f" {_HELD} RETURNING account_id, price_micros"
)
_EVENT = "INSERT INTO message_events (message_id, status, at, detail) VALUES (?, ?, ?, ?)"
_PART = (
    "INSERT INTO message_parts (message_id, provider, part_id, seq, state) VALUES (?, ?, ?, ?, ?)"
)


def record(
    conn: Connection,
    *,
    now: int,
    submitted: Sequence[SubmitOutcome] = (),
    retries: Sequence[RetryOutcome] = (),
    failures: Sequence[FailOutcome] = (),
    deferred: Sequence[DeferOutcome] = (),
) -> None:
    """Records what providers answered for claimed messages; a failed message's price goes
    back to its account in the same transaction. Receipts that came before their submit
    was recorded are applied here too (see store.receipts), and the webhook events of
    what changed are written (see store.webhook_events)."""
    if submitted:
        sql.execute_many(
            conn,
            _MARK_SUBMITTED,
            [
                (SUBMITTED, s.provider, s.provider_message_id, now, now, s.message_id, s.attempt)
                for s in submitted
            ],
        )
        webhook_events.on_sent(conn, [s.message_id for s in submitted], now=now)
        long = [s for s in submitted if s.part_ids]
        if long:
            _record_parts(conn, long)
        keys = [(s.provider, p) for s in submitted for p in s.part_ids or (s.provider_message_id,)]
        receipts.apply_pending(conn, keys, now=now)
    if deferred:
        sql.execute_many(
            conn,
            _MARK_DEFERRED,
            [(QUEUED, d.next_attempt_at, d.reason, now, d.message_id, d.attempt) for d in deferred],
        )
    events: list[tuple[int, str, int, str | None]] = []
    if retries:
        sql.execute_many(
            conn,
            _MARK_RETRY,
            [(QUEUED, r.next_attempt_at, r.reason, now, r.message_id, r.attempt) for r in retries],
        )
        events += [(r.message_id, QUEUED, now, r.reason) for r in retries]
    if retries or deferred:
        # Back in the queue: unless their bulk job was cancelled while they were in flight.
        requeued = [r.message_id for r in retries] + [d.message_id for d in deferred]
        bulk_cancel.cancel_requeued(conn, requeued, now=now)
    failed: list[int] = []
    for f in failures:
        row = sql.execute(
            conn, _MARK_FAILED, (FAILED, f.reason, f.provider, now, now, f.message_id, f.attempt)
        ).first()
        if row is not None:
            accounts_store.add_credits(conn, row[0], row[1])
            events.append((f.message_id, FAILED, now, f.reason))
            failed.append(f.message_id)
    webhook_events.on_final(conn, failed, now=now)
    if events:
        sql.execute_many(conn, _EVENT, events)


def _record_parts(conn: Connection, submitted: Sequence[SubmitOutcome]) -> None:
    """Rows for the parts of long messages, for those whose submit was recorded just now
    (a worker that lost its lease records nothing, parts included)."""
    ids = sorted({s.message_id for s in submitted})
    rows = sql.execute(
        conn,
        "SELECT id, provider, provider_message_id FROM messages"
        f" WHERE status = 'submitted' AND id IN ({sql.placeholders(len(ids))})",
        ids,
    )
    held = {(r[0], r[1], r[2]) for r in rows}
    parts = [
        (s.message_id, s.provider, part_id, seq, PART_PENDING)
        for s in submitted
        if (s.message_id, s.provider, s.provider_message_id) in held
        for seq, part_id in enumerate(s.part_ids, start=1)
    ]
    if parts:
        sql.execute_many(conn, _PART, parts)


def count_by_status(conn: Connection, account_id: int | None = None) -> dict[str, int]:
    query = sa.select(messages.c.status, sa.func.count()).group_by(messages.c.status)
    if account_id is not None:
        query = query.where(messages.c.account_id == account_id)
    return {row[0]: int(row[1]) for row in conn.execute(query)}
