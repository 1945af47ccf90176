"""Delivery receipts: matched to their message (or to one part of a long message) and
applied, or kept until the submit they report on is recorded.

A receipt names the provider's id for what it reports on. It is matched by
(provider, provider_message_id) to a message, or by (provider, part_id) to a row of
`message_parts` (a long message the provider took as several submits). The message then
moves as `domain.receipts` says, only along `domain.states.can_move` (so a second receipt
for a message that is already final changes nothing). Final moves write no event rows: the
history shows them from the row's own `final_at` and `error`; intermediate receipts
(pending: accepted, en route) write one event and change nothing else.

A receipt can arrive before the worker has recorded the submit it reports on (the SMSC
sends it before, or right after, the submit_sm_resp). Such a receipt is kept in
`pending_receipts` and applied by `apply_pending`, which the worker calls in the same
transaction that marks the message submitted. On PostgreSQL a receipt and its submit can
be recorded by concurrent transactions, each blind to the other's rows: keeping receipts
(exclusive) and recording submits (shared) take turns on an advisory lock, and the keeper
looks for the messages again once it holds it, so whichever commits second sees the
other's rows. `sweep` is the safety net: it applies kept receipts whose message has since
appeared, and drops those older than the time limit (a receipt whose submit was never
recorded: the worker died after the SMSC took the message, and the message went again
under new ids).

On PostgreSQL, several processes may apply receipts for parts of the same long message at
once; the messages involved are locked (in id order) before their parts are read, so the
last part's receipt always sees the others.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

from textgate.domain import receipts as rules
from textgate.domain.states import MessageStatus, can_move
from textgate.store import sql, webhook_events

#: Ids in one IN list at most.
CHUNK = 1000
#: Receipts one `sweep` looks at, at most.
SWEEP_LIMIT = 5000
#: PostgreSQL advisory lock between keeping receipts and recording submits.
_KEEP_LOCK = 7270719

_MOVE = (
    "UPDATE messages SET status = ?, error = ?, final_at = ?, updated_at = ?"
    " WHERE id = ? AND status = ?"
)
_PART = "UPDATE message_parts SET state = ? WHERE id = ?"
_EVENT = "INSERT INTO message_events (message_id, status, at, detail) VALUES (?, ?, ?, ?)"
_KEEP = (
    "INSERT INTO pending_receipts (provider, provider_message_id, state, error_code,"
    " received_at) VALUES (?, ?, ?, ?, ?)"
)
_PENDING_COLUMNS = "id, provider, provider_message_id, state, error_code"
_STATUSES = {status.value: status for status in MessageStatus}


@dataclass(frozen=True, slots=True)
class Report:
    """A receipt as the store sees it."""

    provider: str
    provider_message_id: str
    #: One of `domain.receipts.STATES`.
    state: str
    error_code: str | None = None
    #: The provider's own word for an intermediate state ("ENROUTE"), for the history.
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class Applied:
    #: Messages moved to a final state.
    moved: int
    #: Receipts kept in `pending_receipts` until their submit is recorded.
    kept: int


def apply(conn: Connection, reports: Sequence[Report], *, now: int) -> Applied:
    """Applies `reports` in the caller's transaction, in order; keeps the final ones that
    match nothing yet (an unmatched intermediate receipt is dropped: it would change
    nothing)."""
    moved, unmatched = _apply(conn, reports, now)
    kept = [reports[i] for i in sorted(unmatched) if reports[i].state != rules.PENDING]
    if kept and conn.dialect.name == "postgresql":
        # A submit may be recorded right now by a transaction we cannot see, which cannot
        # see what we keep either. Take turns with such transactions (see apply_pending)
        # and look again: whichever commits second sees the other's rows.
        sql.execute(conn, f"SELECT pg_advisory_xact_lock({_KEEP_LOCK})")
        late_moved, still = _apply(conn, kept, now)
        moved += late_moved
        kept = [kept[i] for i in sorted(still)]
    if kept:
        sql.execute_many(
            conn,
            _KEEP,
            [(r.provider, r.provider_message_id, r.state, r.error_code, now) for r in kept],
        )
    return Applied(moved=moved, kept=len(kept))


def apply_pending(conn: Connection, keys: Iterable[tuple[str, str]], *, now: int) -> int:
    """Applies the kept receipts for these (provider, provider id) pairs, which the caller
    has just recorded as submitted; answers how many it applied."""
    if conn.dialect.name == "postgresql":
        # Shared among recording workers, exclusive with a transaction keeping receipts.
        sql.execute(conn, f"SELECT pg_advisory_xact_lock_shared({_KEEP_LOCK})")
    if sql.execute(conn, "SELECT 1 FROM pending_receipts LIMIT 1").first() is None:
        return 0  # the usual case: one cheap look, nothing else
    by_provider: dict[str, set[str]] = {}
    for provider, provider_id in keys:
        by_provider.setdefault(provider, set()).add(provider_id)
    rows: list[tuple[Any, ...]] = []
    for provider, ids in by_provider.items():
        for chunk in _chunks(sorted(ids)):
            where, params = _in(conn, "provider_message_id", chunk)
            rows += sql.execute(
                conn,
                f"SELECT {_PENDING_COLUMNS} FROM pending_receipts WHERE provider = ? AND {where}",
                (provider, *params),
            ).all()
    return _settle(conn, sorted(rows), now) if rows else 0


def sweep(conn: Connection, *, now: int, since: int, expire_before: int) -> tuple[int, int]:
    """Applies kept receipts (received since `since`) whose message has appeared, and drops
    those received before `expire_before`: (applied, dropped)."""
    rows = sql.execute(
        conn,
        f"SELECT {_PENDING_COLUMNS} FROM pending_receipts p WHERE p.received_at >= ? AND ("
        " EXISTS (SELECT 1 FROM messages m WHERE m.provider = p.provider"
        " AND m.provider_message_id = p.provider_message_id)"
        " OR EXISTS (SELECT 1 FROM message_parts mp WHERE mp.provider = p.provider"
        " AND mp.part_id = p.provider_message_id))"
        " ORDER BY p.id LIMIT ?",
        (since, SWEEP_LIMIT),
    ).all()
    applied = _settle(conn, rows, now) if rows else 0
    dropped = sql.execute(
        conn, "DELETE FROM pending_receipts WHERE received_at < ?", (expire_before,)
    ).rowcount
    return applied, int(dropped or 0)


def kept(conn: Connection) -> list[Report]:
    """The receipts waiting for their submit, oldest first."""
    rows = sql.execute(conn, f"SELECT {_PENDING_COLUMNS} FROM pending_receipts ORDER BY id")
    return [Report(r[1], r[2], r[3], r[4]) for r in rows]


def _settle(conn: Connection, rows: Sequence[Any], now: int) -> int:
    """Applies kept receipts (rows of `_PENDING_COLUMNS`) and forgets those that matched."""
    reports = [Report(r[1], r[2], r[3], r[4]) for r in rows]
    _, unmatched = _apply(conn, reports, now)
    done = [row[0] for i, row in enumerate(rows) if i not in unmatched]
    for chunk in _chunks(done):
        where, params = _in(conn, "id", chunk)
        sql.execute(conn, f"DELETE FROM pending_receipts WHERE {where}", params)
    return len(done)


@dataclass
class _Part:
    row_id: int
    message_id: int


def _apply(conn: Connection, reports: Sequence[Report], now: int) -> tuple[int, set[int]]:
    """Matches and applies; (messages moved, indexes of the reports that matched nothing)."""
    whole: dict[int, int] = {}  # report index -> message id
    parts: dict[int, _Part] = {}  # report index -> the part it reports on
    read: dict[int, str] = {}  # message id -> status as read
    unmatched: set[int] = set()
    by_provider: dict[str, list[int]] = {}
    for index, report in enumerate(reports):
        by_provider.setdefault(report.provider, []).append(index)
    for provider, indexes in by_provider.items():
        ids = sorted({reports[i].provider_message_id for i in indexes})
        found = _messages_by_provider_id(conn, provider, ids)
        # A long message's first part id is also its provider_message_id.
        maybe_parts = [pid for pid in ids if pid not in found or found[pid][2] > 1]
        found_parts = _parts_by_id(conn, provider, maybe_parts) if maybe_parts else {}
        for i in indexes:
            pid = reports[i].provider_message_id
            if pid in found_parts:
                parts[i] = found_parts[pid]
            elif pid in found:
                message_id, status, _ = found[pid]
                whole[i] = message_id
                read[message_id] = status
            else:
                unmatched.add(i)

    long_ids = sorted({part.message_id for part in parts.values()})
    part_states: dict[int, dict[int, str]] = {}  # message id -> {part row id: state}, in order
    if long_ids:
        involved = sorted(set(long_ids) | set(whole.values()))
        if conn.dialect.name == "postgresql":
            read.update(_statuses(conn, involved, lock=True))
        else:  # the writer holds the database: nothing can change under us
            read.update(_statuses(conn, [i for i in long_ids if i not in read], lock=False))
        part_states = _part_states(conn, long_ids)

    current = dict(read)
    errors: dict[int, str | None] = {}
    part_updates: dict[int, str] = {}
    events: list[tuple[int, str, int, str]] = []
    for index, report in enumerate(reports):
        if index in whole:
            message_id, state, code = whole[index], report.state, report.error_code
            if state == rules.PENDING:
                detail = f"receipt: {report.detail or state}"
                events.append((message_id, current[message_id], now, detail))
                continue
        elif index in parts:
            part = parts[index]
            states = part_states.get(part.message_id, {})
            if report.state == rules.PENDING or states.get(part.row_id) != rules.PENDING:
                continue  # an intermediate receipt, or the part already has its final one
            states[part.row_id] = part_updates[part.row_id] = report.state
            message_id = part.message_id
            combined = rules.combined(list(states.values()))
            if combined is None:
                continue  # other parts still to come
            state = combined
            code = report.error_code if report.state == combined else None
        else:
            continue
        target = rules.final_status(state)
        if target is None or message_id not in current:
            continue
        if can_move(_STATUSES[current[message_id]], target):
            current[message_id] = target.value
            errors[message_id] = rules.error_of(state, code)

    moves = [
        (current[mid], errors[mid], now, now, mid, read[mid])
        for mid in sorted(errors)  # one lock order for every process
        if current[mid] != read[mid]
    ]
    if moves:
        sql.execute_many(conn, _MOVE, moves)
        webhook_events.on_final(conn, [move[4] for move in moves], now=now)
    if part_updates:
        sql.execute_many(conn, _PART, [(state, row) for row, state in part_updates.items()])
    if events:
        sql.execute_many(conn, _EVENT, events)
    return len(moves), unmatched


def _messages_by_provider_id(
    conn: Connection, provider: str, ids: Sequence[str]
) -> dict[str, tuple[int, str, int]]:
    """provider id -> (message id, status, segments); the newest message wins where an
    SMSC has used an id twice."""
    found: dict[str, tuple[int, str, int]] = {}
    for chunk in _chunks(ids):
        where, params = _in(conn, "provider_message_id", chunk)
        rows = sql.execute(
            conn,
            "SELECT provider_message_id, id, status, segments FROM messages"
            f" WHERE provider = ? AND {where} ORDER BY id",
            (provider, *params),
        )
        for row in rows:
            found[row[0]] = (row[1], row[2], row[3])
    return found


def _parts_by_id(conn: Connection, provider: str, ids: Sequence[str]) -> dict[str, _Part]:
    found: dict[str, _Part] = {}
    for chunk in _chunks(ids):
        where, params = _in(conn, "part_id", chunk)
        rows = sql.execute(
            conn,
            f"SELECT part_id, id, message_id FROM message_parts WHERE provider = ? AND {where}"
            " ORDER BY id",
            (provider, *params),
        )
        for row in rows:
            found[row[0]] = _Part(row_id=row[1], message_id=row[2])
    return found


def _statuses(conn: Connection, ids: Sequence[int], *, lock: bool) -> dict[int, str]:
    found: dict[int, str] = {}
    for chunk in _chunks(ids):
        where, params = _in(conn, "id", chunk)
        suffix = " ORDER BY id FOR UPDATE" if lock else ""
        rows = sql.execute(conn, f"SELECT id, status FROM messages WHERE {where}{suffix}", params)
        found.update((row[0], row[1]) for row in rows)
    return found


def _part_states(conn: Connection, message_ids: Sequence[int]) -> dict[int, dict[int, str]]:
    states: dict[int, dict[int, str]] = {}
    for chunk in _chunks(message_ids):
        where, params = _in(conn, "message_id", chunk)
        rows = sql.execute(
            conn,
            f"SELECT message_id, id, state FROM message_parts WHERE {where}"
            " ORDER BY message_id, seq, id",
            params,
        )
        for message_id, row_id, state in rows:
            states.setdefault(message_id, {})[row_id] = state
    return states


def _in(conn: Connection, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
    """`column` is one of `values`: one array parameter on PostgreSQL (one prepared
    statement whatever the count), an IN list on SQLite."""
    if conn.dialect.name == "postgresql":
        return f"{column} = ANY(?)", [list(values)]
    return f"{column} IN ({sql.placeholders(len(values))})", list(values)


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]
