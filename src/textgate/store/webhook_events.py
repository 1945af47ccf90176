"""The webhook outbox: events written with the changes they report, claimed by senders.

Producing: each function takes the ids of messages (or inbound messages) a transaction has
just changed and writes, in that same transaction and in ONE statement per batch, an event
for each one whose account has a webhook URL (`INSERT ... SELECT ... JOIN webhooks`): no
event is lost and none exists for a change that rolled back, and a batch whose accounts have
no webhook costs one statement that finds nothing. The event's `data` is built by the
database from the row as it is now (`json_object` on SQLite, `json_build_object` on
PostgreSQL).

Sending: due events are claimed under a lease like messages (`FOR UPDATE SKIP LOCKED` on
PostgreSQL, `attempts` as the lease token), so several senders never hold one event at once;
outcomes are recorded only under the lease.
"""

from __future__ import annotations

import collections
import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

from textgate.domain.webhook_events import EventStatus, EventType
from textgate.store import sql

PENDING = EventStatus.PENDING.value
DELIVERED = EventStatus.DELIVERED.value
FAILED = EventStatus.FAILED.value
#: Rows one prune statement deletes at most (each chunk is its own short transaction).
PRUNE_CHUNK = 5000
#: Candidates looked at per event claimed (the rest are left for fairness between accounts).
CLAIM_LOOKAHEAD = 4
#: Looks a claim takes at most, each leaving out the accounts that got their share.
CLAIM_ROUNDS = 3

_INSERT = (
    "INSERT INTO webhook_events (account_id, type, message_id, to_number, payload, created_at,"
    " attempts, next_attempt_at, status)"
)
_MESSAGE_DATA = (
    ("id", "m.id"),
    ("to", "m.to_number"),
    ("kind", "m.kind"),
    ("status", "m.status"),
    ("provider", "m.provider"),
    ("provider_message_id", "m.provider_message_id"),
    ("error", "m.error"),
    ("segments", "m.segments"),
    ("price", "{price}"),
    ("job_id", "m.bulk_job_id"),
    ("created_at", "m.created_at"),
    ("submitted_at", "m.submitted_at"),
    ("final_at", "m.final_at"),
)
_INBOUND_DATA = (
    ("id", "i.id"),
    ("from", "i.from_number"),
    ("to", "i.to_number"),
    ("text", "i.text"),
    ("provider", "i.provider"),
    ("received_at", "i.received_at"),
    ("in_reply_to", "CAST(? AS BIGINT)"),
)
_FINAL_STATUSES = "('delivered', 'undelivered', 'expired', 'failed')"
#: Tested once per statement, before any row is looked at: while no account has a webhook
#: URL, producing events costs next to nothing.
_ANY_URL = "EXISTS (SELECT 1 FROM webhooks WHERE url IS NOT NULL)"


def _is_pg(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


@functools.cache
def _json(dialect: str, pairs: tuple[tuple[str, str], ...]) -> str:
    if dialect == "postgresql":
        price = "m.price_micros::float8 / 1000000"
        fields = ", ".join(f"'{k}', {v.format(price=price)}" for k, v in pairs)
        return f"json_build_object({fields})::text"
    price = "m.price_micros / 1000000.0"
    fields = ", ".join(f"'{k}', {v.format(price=price)}" for k, v in pairs)
    return f"json_object({fields})"


def _ids(
    conn: Connection, column: str, ids: Sequence[int], *, unless_no_url: bool = False
) -> tuple[str, Any]:
    """`column` is one of `ids`, as one statement whatever their number: an array on
    PostgreSQL, a JSON array on SQLite (an IN list would make a statement per length).

    `unless_no_url`: and some account has a webhook URL, tested first (SQLite would read the
    whole list before a constant test; PostgreSQL tests it once, first, anyway)."""
    if _is_pg(conn):
        where = f"{column} = ANY(?)"
        return (f"{_ANY_URL} AND {where}" if unless_no_url else where), list(ids)
    array = "[" + ",".join(map(str, ids)) + "]"  # ints: faster than json.dumps
    if unless_no_url:
        return f"{column} IN (SELECT value FROM json_each(CASE WHEN {_ANY_URL} THEN ? END))", array
    return f"{column} IN (SELECT value FROM json_each(?))", array


@functools.cache
def _sent_sql(dialect: str, where: str) -> str:
    return (
        f"{_INSERT} SELECT m.account_id, '{EventType.SENT.value}', m.id, m.to_number,"
        f" {_json(dialect, _MESSAGE_DATA)}, CAST(? AS BIGINT), 0, CAST(? AS BIGINT), '{PENDING}'"
        " FROM messages m JOIN webhooks w ON w.account_id = m.account_id"
        f" WHERE {where} AND w.url IS NOT NULL AND m.status = 'submitted'"
        " AND m.submitted_at = ?"
        " ORDER BY m.id"
    )


@functools.cache
def _final_sql(dialect: str, where: str) -> str:
    kind = (
        f"CASE m.status WHEN 'delivered' THEN '{EventType.DELIVERED.value}'"
        f" ELSE '{EventType.FAILED.value}' END"
    )
    return (
        f"{_INSERT} SELECT m.account_id, {kind}, m.id, NULL,"
        f" {_json(dialect, _MESSAGE_DATA)}, CAST(? AS BIGINT), 0, CAST(? AS BIGINT), '{PENDING}'"
        " FROM messages m JOIN webhooks w ON w.account_id = m.account_id"
        f" WHERE {where} AND w.url IS NOT NULL AND m.final_at = ?"
        f" AND m.status IN {_FINAL_STATUSES} ORDER BY m.id"
    )


def on_sent(conn: Connection, message_ids: Sequence[int], *, now: int) -> int:
    """`message.sent` for the messages just recorded as submitted (at `now`); answers how
    many events were written."""
    if not message_ids:
        return 0
    where, param = _ids(conn, "m.id", message_ids, unless_no_url=True)
    result = sql.execute(conn, _sent_sql(conn.dialect.name, where), (now, now, param, now))
    return int(result.rowcount or 0)


def on_final(conn: Connection, message_ids: Sequence[int], *, now: int) -> int:
    """`message.delivered` or `message.failed` for the messages just moved to a final state
    (at `now`): delivered, or failed, undelivered, expired. Cancelled messages (a bulk job
    cancelled) send nothing."""
    if not message_ids:
        return 0
    where, param = _ids(conn, "m.id", message_ids, unless_no_url=True)
    result = sql.execute(conn, _final_sql(conn.dialect.name, where), (now, now, param, now))
    return int(result.rowcount or 0)


@dataclass(frozen=True, slots=True)
class ReplyTo:
    account_id: int
    message_id: int


def reply_owners(conn: Connection, numbers: Iterable[str]) -> dict[str, ReplyTo]:
    """number -> the account (and message) that last sent it a message, of those with a
    `message.sent` event still kept: a reply from the number is for that account."""
    wanted = sorted(set(numbers))
    if not wanted:
        return {}
    found: dict[str, ReplyTo] = {}
    params: list[Any]
    if _is_pg(conn):
        where, params = "to_number = ANY(?)", [wanted]
    else:
        where, params = f"to_number IN ({sql.placeholders(len(wanted))})", list(wanted)
    rows = sql.execute(
        conn,
        "SELECT to_number, account_id, message_id FROM webhook_events"
        f" WHERE to_number IS NOT NULL AND {where} ORDER BY id",
        params,
    )
    for number, account_id, message_id in rows:
        found[number] = ReplyTo(account_id, message_id)  # the latest one wins
    return found


@functools.cache
def _received_sql(dialect: str) -> str:
    return (
        f"INSERT INTO webhook_events (account_id, type, message_id, payload, created_at,"
        " attempts, next_attempt_at, status)"
        f" SELECT i.account_id, '{EventType.RECEIVED.value}', CAST(? AS BIGINT),"
        f" {_json(dialect, _INBOUND_DATA)}, CAST(? AS BIGINT), 0, CAST(? AS BIGINT), '{PENDING}'"
        " FROM inbound_messages i JOIN webhooks w ON w.account_id = i.account_id"
        " WHERE i.id = ? AND w.url IS NOT NULL"
    )


def on_received(conn: Connection, inbound: Sequence[tuple[int, int | None]], *, now: int) -> None:
    """`message.received` for inbound messages just stored with an account: (inbound id,
    the id of the message it replies to, if known)."""
    if inbound:
        sql.execute_many(
            conn,
            _received_sql(conn.dialect.name),
            [(reply_to, reply_to, now, now, row_id) for row_id, reply_to in inbound],
        )


# -- sending ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClaimedEvent:
    id: int
    account_id: int
    type: str
    #: The event's `data`, JSON text.
    payload: str
    created_at: int
    #: Attempts so far, this one included: the lease token.
    attempts: int
    #: Where it goes; None when the account's URL was removed since.
    url: str | None
    secret_sealed: bytes | None


def _fair(rows: Sequence[tuple[int, int]], limit: int, left: dict[int, int]) -> list[int]:
    """Ids from `rows` (id, account, most urgent first), taken in turns across accounts, each
    account at most what `left` allows it (counted down here)."""
    queues: dict[int, list[int]] = {}
    for row_id, account_id in rows:
        queues.setdefault(account_id, []).append(row_id)
    chosen: list[int] = []
    while len(chosen) < limit and queues:
        for account_id in list(queues):
            queue = queues[account_id]
            if left[account_id] <= 0 or not queue:
                del queues[account_id]
                continue
            chosen.append(queue.pop(0))
            left[account_id] -= 1
            if len(chosen) >= limit:
                break
    return chosen


def claim(
    conn: Connection,
    *,
    now: int,
    lease_ms: int,
    limit: int,
    busy: Mapping[int, int] | None = None,
    per_account: int | None = None,
) -> list[ClaimedEvent]:
    """Takes up to `limit` due events under a lease, oldest due first, in turns across
    accounts; an account holds at most `per_account` at once, counting the `busy` ones
    (account -> events this sender has in flight). When the most urgent events belong to
    accounts that have their share, the next look leaves those accounts out."""
    per_account = per_account or limit
    left: dict[int, int] = collections.defaultdict(lambda: per_account)
    left.update({a: per_account - n for a, n in (busy or {}).items()})
    lock = " FOR UPDATE SKIP LOCKED" if _is_pg(conn) else ""
    taken: list[Any] = []
    for _ in range(CLAIM_ROUNDS):
        want = limit - len(taken)
        full = sorted(a for a, n in left.items() if n <= 0)
        params: list[Any] = [now]
        skip = ""
        if full:
            where, param = _ids(conn, "account_id", full)
            skip = f" AND NOT ({where})"
            params.append(param)
        params.append(want * CLAIM_LOOKAHEAD)
        rows = sql.execute(
            conn,
            "SELECT id, account_id FROM webhook_events"
            f" WHERE status = '{PENDING}' AND next_attempt_at <= ?{skip}"
            f" ORDER BY next_attempt_at, id LIMIT ?{lock}",
            params,
        ).all()
        chosen = _fair([(r[0], r[1]) for r in rows], want, left)
        if chosen:
            where, param = _ids(conn, "id", chosen)
            taken += sql.execute(
                conn,
                "UPDATE webhook_events SET attempts = attempts + 1, next_attempt_at = ?"
                f" WHERE {where} RETURNING id, account_id, type, payload, created_at, attempts",
                (now + lease_ms, param),
            ).all()
        if len(taken) >= limit or len(rows) < want * CLAIM_LOOKAHEAD:
            break  # enough, or every due event was looked at
    if not taken:
        return []
    where, param = _ids(conn, "account_id", sorted({r[1] for r in taken}))
    hooks = {
        r[0]: (r[1], bytes(r[2]))
        for r in sql.execute(
            conn, f"SELECT account_id, url, secret_sealed FROM webhooks WHERE {where}", (param,)
        )
    }
    claimed = []
    for r in sorted(taken, key=lambda r: r[0]):
        url, sealed = hooks.get(r[1], (None, None))
        claimed.append(ClaimedEvent(r[0], r[1], r[2], r[3], r[4], r[5], url, sealed))
    return claimed


@dataclass(frozen=True, slots=True)
class Outcome:
    event_id: int
    #: The attempt it is the outcome of (the lease token).
    attempt: int
    #: delivered, failed (for good), or pending (try again at `next_attempt_at`).
    status: EventStatus
    status_code: int | None = None
    error: str | None = None
    next_attempt_at: int | None = None


_HELD = f"WHERE id = ? AND status = '{PENDING}' AND attempts = ?"
_MARK_DELIVERED = (
    f"UPDATE webhook_events SET status = '{DELIVERED}', delivered_at = ?,"
    f" last_status_code = ?, last_error = NULL {_HELD}"
)
_MARK_RETRY = (
    f"UPDATE webhook_events SET next_attempt_at = ?, last_status_code = ?, last_error = ? {_HELD}"
)
_MARK_FAILED = (
    f"UPDATE webhook_events SET status = '{FAILED}', last_status_code = ?, last_error = ? {_HELD}"
)


def record(conn: Connection, outcomes: Sequence[Outcome], *, now: int) -> None:
    """Records delivery outcomes, each only while its lease holds."""
    delivered = [o for o in outcomes if o.status is EventStatus.DELIVERED]
    retries = [o for o in outcomes if o.status is EventStatus.PENDING]
    failed = [o for o in outcomes if o.status is EventStatus.FAILED]
    if delivered:
        sql.execute_many(
            conn,
            _MARK_DELIVERED,
            [(now, o.status_code, o.event_id, o.attempt) for o in delivered],
        )
    if retries:
        sql.execute_many(
            conn,
            _MARK_RETRY,
            [(o.next_attempt_at, o.status_code, o.error, o.event_id, o.attempt) for o in retries],
        )
    if failed:
        sql.execute_many(
            conn,
            _MARK_FAILED,
            [(o.status_code, o.error, o.event_id, o.attempt) for o in failed],
        )


def prune(conn: Connection, *, before: int, limit: int = PRUNE_CHUNK) -> int:
    """Deletes up to `limit` delivered or failed events created before `before`."""
    result = sql.execute(
        conn,
        "DELETE FROM webhook_events WHERE id IN (SELECT id FROM webhook_events"
        f" WHERE created_at < ? AND status <> '{PENDING}' LIMIT ?)",
        (before, limit),
    )
    return int(result.rowcount or 0)


# -- the console ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EventRow:
    id: int
    type: str
    created_at: int
    status: EventStatus
    attempts: int
    next_attempt_at: int
    last_status_code: int | None
    last_error: str | None
    delivered_at: int | None


_ROW_COLUMNS = (
    "id, type, created_at, status, attempts, next_attempt_at, last_status_code, last_error,"
    " delivered_at"
)


def recent(conn: Connection, account_id: int, *, limit: int = 25) -> list[EventRow]:
    """The account's newest events, newest first."""
    rows = sql.execute(
        conn,
        f"SELECT {_ROW_COLUMNS} FROM webhook_events WHERE account_id = ? ORDER BY id DESC LIMIT ?",
        (account_id, limit),
    )
    return [
        EventRow(r[0], r[1], r[2], EventStatus(r[3]), r[4], r[5], r[6], r[7], r[8]) for r in rows
    ]


def retry(conn: Connection, account_id: int, event_id: int, *, now: int) -> bool | None:
    """A failed event of the account becomes due now, for one more attempt. None: the
    account has no such event; False: it is not failed."""
    result = sql.execute(
        conn,
        f"UPDATE webhook_events SET status = '{PENDING}', next_attempt_at = ?"
        f" WHERE id = ? AND account_id = ? AND status = '{FAILED}'",
        (now, event_id, account_id),
    )
    if result.rowcount == 1:
        return True
    found = sql.execute(
        conn,
        "SELECT 1 FROM webhook_events WHERE id = ? AND account_id = ?",
        (event_id, account_id),
    ).first()
    return None if found is None else False
