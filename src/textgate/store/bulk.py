"""Bulk jobs: accepting one (every recipient paid for and queued in one transaction), its
progress, and how many of an account's bulk messages are still to be sent.

A job's recipients are ordinary message rows (kind `bulk`, priority 2, `bulk_job_id`), so
the worker claims them after verification codes and single messages, and a worker that dies
leaves them to the next one under the usual leases. Their counts by status are read off
the index on (bulk_job_id, status).
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from textgate.domain.bulk import JobState, Reason, Recipient, job_state, opted_out_positions
from textgate.domain.states import MessageKind, MessageStatus
from textgate.store import accounts as accounts_store
from textgate.store import messages as messages_store
from textgate.store import opt_outs, sql
from textgate.store.tables import bulk_jobs

#: Recipients per INSERT: big enough to amortise the statement, small enough to keep memory flat.
CHUNK = 5000

_COLUMNS = (
    "id, account_id, api_key_id, kind, priority, to_number, region, body, encoding, segments,"
    " price_micros, status, attempts, next_attempt_at, created_at, updated_at, bulk_job_id"
)
#: One statement inserts a chunk of recipients, given as a JSON array of [E.164, region,
#: price] (the job's constants bound once): the database expands it in C, twice as fast
#: here as an executemany binding 17 parameters a row.
_INSERT = {
    "sqlite": f"INSERT INTO messages ({_COLUMNS})"
    " SELECT ? + key, ?, ?, ?, ?, value ->> 0, value ->> 1, ?, ?, ?, value ->> 2, 'queued', 0,"
    " ?, ?, ?, ? FROM json_each(?)",
    "postgresql": f"INSERT INTO messages ({_COLUMNS})"
    " SELECT ?::bigint + ord - 1, ?::integer, ?::integer, ?::text, ?::smallint, value ->> 0,"
    " value ->> 1, ?::text, ?::text, ?::smallint, (value ->> 2)::bigint, 'queued', 0,"
    " ?::bigint, ?::bigint, ?::bigint, ?::bigint"
    " FROM json_array_elements(?::json) WITH ORDINALITY AS r(value, ord)",
}
_json = msgspec.json.Encoder()
_PENDING = "status IN ('queued', 'sending')"


@dataclass(frozen=True, slots=True)
class NewJob:
    """A bulk job the service has checked: its text, and what each recipient costs."""

    account_id: int
    api_key_id: int | None
    body: str
    encoding: str
    segments: int
    #: Micro-credits for one message to each region among the recipients.
    prices: Mapping[str, int]
    rejected_invalid: int
    rejected_duplicate: int
    #: The console preview's one-time token: a token starts at most one job of an account
    #: (the unique index on (account_id, console_token) holds it to that under a race).
    console_token: str | None = None


class Refusal(enum.Enum):
    #: The API key was revoked after the request was authenticated.
    KEY_REVOKED = "key_revoked"
    #: The balance does not cover the whole job.
    NO_CREDITS = "no_credits"
    #: Every valid number opted out: nothing to send.
    NOBODY_LEFT = "nobody_left"


@dataclass(frozen=True, slots=True)
class JobAccepted:
    job_id: int
    recipients: int
    price_micros: int
    created_at: int
    #: Positions, in the recipient list given, of the numbers that opted out.
    opted_out: list[int]


@dataclass(frozen=True, slots=True)
class JobRepeated:
    """The console token already started a job: nothing was charged or queued this time."""

    job_id: int


@dataclass(frozen=True, slots=True)
class JobRefused:
    refusal: Refusal
    price_micros: int = 0
    balance_micros: int = 0
    opted_out: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Job:
    id: int
    account_id: int
    body: str
    encoding: str
    segments: int
    recipients: int
    rejected: dict[Reason, int]
    price_micros: int
    refunded_micros: int
    created_at: int
    cancelled_at: int | None
    #: Messages by status (every status is present, most at 0).
    counts: dict[MessageStatus, int]
    #: When the last recipient left the queue (handed over, failed or cancelled).
    finished_at: int | None

    @property
    def pending(self) -> int:
        return self.counts[MessageStatus.QUEUED] + self.counts[MessageStatus.SENDING]

    @property
    def state(self) -> JobState:
        return job_state(pending=self.pending, cancelled=self.cancelled_at is not None)


def create_job(
    conn: Connection, job: NewJob, recipients: Sequence[Recipient], *, now: int
) -> JobAccepted | JobRefused | JobRepeated:
    """Pays for and queues one message per recipient (those that opted out excepted), all
    or nothing, in the caller's transaction. A console token that started a job already
    starts nothing. Starts with a token take the account's lock first (PostgreSQL: its row
    FOR UPDATE; on SQLite the writer's lock is held already), so a start that committed
    while this one waited is seen, even when it spent the balance; should two ever both
    pass the check, the unique index refuses the later (IntegrityError, all rolled back)."""
    if job.console_token is not None:
        _lock_balance(conn, job.account_id)
        started = job_of_token(conn, job.account_id, job.console_token)
        if started is not None:
            return JobRepeated(started)
    if job.api_key_id is not None and not accounts_store.live_key_ids(conn, {job.api_key_id}):
        return JobRefused(Refusal.KEY_REVOKED)
    opted = opt_outs.numbers(conn, job.account_id)
    skip = opted_out_positions(recipients, opted) if opted else []
    prices = job.prices
    price = sum(prices[region] for _, _, region in recipients)
    price -= sum(prices[recipients[i][2]] for i in skip)
    count = len(recipients) - len(skip)
    if count == 0:
        return JobRefused(Refusal.NOBODY_LEFT, opted_out=tuple(skip))
    balance = _lock_balance(conn, job.account_id)
    if price > balance:
        return JobRefused(Refusal.NO_CREDITS, price, balance, tuple(skip))

    sql.execute(
        conn,
        "UPDATE accounts SET credits_micros = credits_micros - ? WHERE id = ?",
        (price, job.account_id),
    )
    job_id = conn.execute(
        bulk_jobs.insert()
        .values(
            account_id=job.account_id,
            api_key_id=job.api_key_id,
            body=job.body,
            encoding=job.encoding,
            segments=job.segments,
            recipients=count,
            rejected_invalid=job.rejected_invalid,
            rejected_duplicate=job.rejected_duplicate,
            rejected_opted_out=len(skip),
            price_micros=price,
            created_at=now,
            console_token=job.console_token,
        )
        .returning(bulk_jobs.c.id)
    ).scalar_one()
    statement = _INSERT[conn.dialect.name]
    kind = MessageKind.BULK
    constants = (
        *(job.account_id, job.api_key_id, kind.value, kind.priority, job.body, job.encoding),
        *(job.segments, now, now, now, job_id),
    )
    next_id = messages_store.reserve_ids(conn, count)
    rows = _rows(recipients, set(skip), prices)
    while chunk := list(islice(rows, CHUNK)):
        sql.execute(conn, statement, (next_id, *constants, _json.encode(chunk).decode()))
        next_id += len(chunk)
    if job.api_key_id is not None:
        sql.execute(
            conn, "UPDATE api_keys SET last_used_at = ? WHERE id = ?", (now, job.api_key_id)
        )
    return JobAccepted(job_id, count, price, now, skip)


def job_of_token(conn: Connection, account_id: int, console_token: str) -> int | None:
    """The id of the account's job started with `console_token`, if there is one."""
    query = sa.select(bulk_jobs.c.id).where(
        bulk_jobs.c.account_id == account_id, bulk_jobs.c.console_token == console_token
    )
    found = conn.execute(query).scalar_one_or_none()
    return int(found) if found is not None else None


def _rows(
    recipients: Sequence[Recipient], skip: set[int], prices: Mapping[str, int]
) -> Iterator[tuple[str, str, int]]:
    """(E.164, region, price) of each recipient to queue, in order."""
    for position, (_, e164, region) in enumerate(recipients):
        if not skip or position not in skip:
            yield e164, region, prices[region]


def _lock_balance(conn: Connection, account_id: int) -> int:
    lock = " FOR UPDATE" if conn.dialect.name == "postgresql" else ""
    row = sql.execute(
        conn, f"SELECT credits_micros FROM accounts WHERE id = ?{lock}", (account_id,)
    ).first()
    return int(row[0]) if row is not None else 0


def get_job(conn: Connection, job_id: int, account_id: int) -> Job | None:
    """One bulk job of `account_id` with its counts; another account's is as absent as a
    missing one."""
    row = conn.execute(
        bulk_jobs.select().where(bulk_jobs.c.id == job_id, bulk_jobs.c.account_id == account_id)
    ).first()
    if row is None:
        return None
    counts = dict.fromkeys(MessageStatus, 0)
    for status, n in sql.execute(
        conn,
        "SELECT status, COUNT(*) FROM messages WHERE bulk_job_id = ? GROUP BY status",
        (job_id,),
    ):
        counts[MessageStatus(status)] = int(n)
    finished_at = None
    if counts[MessageStatus.QUEUED] + counts[MessageStatus.SENDING] == 0:
        finished_at = sql.execute(
            conn,
            "SELECT MAX(COALESCE(submitted_at, final_at)) FROM messages WHERE bulk_job_id = ?",
            (job_id,),
        ).scalar_one()
    m = row._mapping
    return Job(
        id=m["id"],
        account_id=m["account_id"],
        body=m["body"],
        encoding=m["encoding"],
        segments=m["segments"],
        recipients=m["recipients"],
        rejected={
            Reason.INVALID: m["rejected_invalid"],
            Reason.DUPLICATE: m["rejected_duplicate"],
            Reason.OPTED_OUT: m["rejected_opted_out"],
        },
        price_micros=m["price_micros"],
        refunded_micros=m["refunded_micros"],
        created_at=m["created_at"],
        cancelled_at=m["cancelled_at"],
        counts=counts,
        finished_at=int(finished_at) if finished_at is not None else None,
    )


def pending_count(conn: Connection, account_id: int) -> int:
    """Recipients of the account's bulk jobs not handed to a provider yet (TextFlow's
    bulk-count)."""
    return int(
        sql.execute(
            conn,
            "SELECT COUNT(*) FROM messages WHERE bulk_job_id IN"
            f" (SELECT id FROM bulk_jobs WHERE account_id = ?) AND {_PENDING}",
            (account_id,),
        ).scalar_one()
    )
