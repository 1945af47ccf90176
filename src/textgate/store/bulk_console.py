"""The console's bulk queries: a page of an account's jobs with their progress, and what a
preview needs to know of the account. Every one is scoped by the account's id."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from textgate.domain.bulk import JobState, job_state
from textgate.domain.states import MessageStatus
from textgate.store import opt_outs
from textgate.store.tables import accounts, bulk_jobs, messages


@dataclass(frozen=True, slots=True)
class JobRow:
    id: int
    body: str
    recipients: int
    price_micros: int
    refunded_micros: int
    created_at: int
    cancelled_at: int | None
    #: Messages by status (every status is present, most at 0).
    counts: dict[MessageStatus, int]

    @property
    def pending(self) -> int:
        return self.counts[MessageStatus.QUEUED] + self.counts[MessageStatus.SENDING]

    @property
    def state(self) -> JobState:
        return job_state(pending=self.pending, cancelled=self.cancelled_at is not None)


@dataclass(frozen=True, slots=True)
class AccountFacts:
    """What a preview prices against: the balance, and the numbers that opted out."""

    credits_micros: int
    opted_out: set[str]


def list_jobs(conn: Connection, account_id: int, *, offset: int, limit: int) -> list[JobRow]:
    """A page of the account's bulk jobs, newest first (`limit` rows at most)."""
    rows = conn.execute(
        sa.select(bulk_jobs)
        .where(bulk_jobs.c.account_id == account_id)
        .order_by(bulk_jobs.c.id.desc())
        .offset(offset)
        .limit(limit)
    ).all()
    counts: dict[int, dict[MessageStatus, int]] = defaultdict(
        lambda: dict.fromkeys(MessageStatus, 0)
    )
    if rows:
        by_status = conn.execute(
            sa.select(messages.c.bulk_job_id, messages.c.status, sa.func.count())
            .where(messages.c.bulk_job_id.in_([r.id for r in rows]))
            .group_by(messages.c.bulk_job_id, messages.c.status)
        )
        for job_id, status, n in by_status:
            counts[job_id][MessageStatus(status)] = int(n)
    return [
        JobRow(
            id=r.id,
            body=r.body,
            recipients=r.recipients,
            price_micros=r.price_micros,
            refunded_micros=r.refunded_micros,
            created_at=r.created_at,
            cancelled_at=r.cancelled_at,
            counts=counts[r.id],
        )
        for r in rows
    ]


def account_facts(conn: Connection, account_id: int) -> AccountFacts:
    credits = conn.execute(
        sa.select(accounts.c.credits_micros).where(accounts.c.id == account_id)
    ).scalar_one()
    return AccountFacts(credits_micros=int(credits), opted_out=opt_outs.numbers(conn, account_id))
