"""Cancelling a bulk job: its recipients not yet sent leave the queue and their price goes
back to the account, to the micro-credit, in one transaction.

"Not yet sent" is every recipient still `queued` (waiting, or waiting for a retry) and every
one `sending` whose lease has run out (its worker died: no one is handing it over). One
`sending` under a live lease is being handed to a provider right now: its attempt ends as
it will. Should that attempt end in a retry, `cancel_requeued` (run where retries are
recorded) takes it out of the queue there and then, so a cancelled job sends nothing later.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.engine import Connection

from textgate.store import sql

CANCELLED = "cancelled"
REASON = "bulk job cancelled"
#: Ids per statement in `cancel_requeued` (well under every driver's parameter limit).
_IDS_PER_STATEMENT = 500


class CancelRefusal(enum.Enum):
    #: No such job in this account.
    NOT_FOUND = "not_found"
    ALREADY_CANCELLED = "already_cancelled"
    #: Every recipient was already handed over (or failed): nothing left to cancel.
    FINISHED = "finished"


@dataclass(frozen=True, slots=True)
class Cancelled:
    job_id: int
    #: Recipients taken out of the queue.
    cancelled: int
    #: Micro-credits given back for them.
    refunded_micros: int
    #: Recipients being handed over right now (they finish their attempt).
    in_flight: int
    at: int


def cancel(
    conn: Connection, job_id: int, account_id: int, *, now: int
) -> Cancelled | CancelRefusal:
    lock = " FOR UPDATE" if conn.dialect.name == "postgresql" else ""
    row = sql.execute(
        conn,
        f"SELECT cancelled_at FROM bulk_jobs WHERE id = ? AND account_id = ?{lock}",
        (job_id, account_id),
    ).first()
    if row is None:
        return CancelRefusal.NOT_FOUND
    if row[0] is not None:
        return CancelRefusal.ALREADY_CANCELLED
    prices = [
        r[0]
        for r in sql.execute(
            conn,
            "UPDATE messages SET status = ?, error = ?, final_at = ?, updated_at = ?"
            " WHERE bulk_job_id = ?"
            " AND (status = 'queued' OR (status = 'sending' AND next_attempt_at <= ?))"
            " RETURNING price_micros",
            (CANCELLED, REASON, now, now, job_id, now),
        )
    ]
    in_flight = int(
        sql.execute(
            conn,
            "SELECT COUNT(*) FROM messages WHERE bulk_job_id = ? AND status = 'sending'",
            (job_id,),
        ).scalar_one()
    )
    if not prices and not in_flight:
        return CancelRefusal.FINISHED
    refund = sum(prices)
    sql.execute(
        conn,
        "UPDATE accounts SET credits_micros = credits_micros + ? WHERE id = ?",
        (refund, account_id),
    )
    sql.execute(
        conn,
        "UPDATE bulk_jobs SET cancelled_at = ?, refunded_micros = refunded_micros + ? WHERE id = ?",
        (now, refund, job_id),
    )
    return Cancelled(job_id, len(prices), refund, in_flight, now)


def cancel_requeued(conn: Connection, message_ids: Sequence[int], *, now: int) -> int:
    """Of messages just put back in the queue for a retry, cancels (and credits back) the
    ones whose bulk job was cancelled meanwhile; answers how many."""
    refunds: dict[int, int] = defaultdict(int)
    per_job: dict[int, int] = defaultdict(int)
    cancelled = 0
    for start in range(0, len(message_ids), _IDS_PER_STATEMENT):
        ids = message_ids[start : start + _IDS_PER_STATEMENT]
        rows = sql.execute(
            conn,
            "UPDATE messages SET status = ?, error = ?, final_at = ?, updated_at = ?"
            f" WHERE id IN ({sql.placeholders(len(ids))}) AND status = 'queued'"
            " AND bulk_job_id IS NOT NULL AND EXISTS (SELECT 1 FROM bulk_jobs"
            " WHERE bulk_jobs.id = messages.bulk_job_id AND bulk_jobs.cancelled_at IS NOT NULL)"
            " RETURNING account_id, bulk_job_id, price_micros",
            (CANCELLED, REASON, now, now, *ids),
        )
        for account_id, job_id, price in rows:
            refunds[account_id] += price
            per_job[job_id] += price
            cancelled += 1
    if refunds:
        sql.execute_many(
            conn,
            "UPDATE accounts SET credits_micros = credits_micros + ? WHERE id = ?",
            [(amount, account) for account, amount in sorted(refunds.items())],
        )
        sql.execute_many(
            conn,
            "UPDATE bulk_jobs SET refunded_micros = refunded_micros + ? WHERE id = ?",
            [(amount, job) for job, amount in sorted(per_job.items())],
        )
    return cancelled
