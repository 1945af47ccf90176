"""The web console's queries. Every one is scoped by the signed-in account's id."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from textgate.domain.states import MessageKind, MessageStatus
from textgate.store.tables import accounts, messages

#: States that count against the delivery rate (delivered counts for it).
FAILED_STATES = (
    MessageStatus.UNDELIVERED.value,
    MessageStatus.FAILED.value,
    MessageStatus.EXPIRED.value,
)


@dataclass(frozen=True, slots=True)
class Login:
    account_id: int
    password_hash: str | None


@dataclass(frozen=True, slots=True)
class MessageRow:
    id: int
    kind: MessageKind
    to_number: str
    body: str
    status: MessageStatus
    price_micros: int
    error: str | None
    created_at: int


@dataclass(frozen=True, slots=True)
class Dashboard:
    credits_micros: int
    today: int
    this_month: int
    delivered_month: int
    failed_month: int
    recent_failures: list[MessageRow]

    @property
    def delivery_rate(self) -> float | None:
        """Delivered over finished-with-an-outcome this month; None before any outcome."""
        done = self.delivered_month + self.failed_month
        return self.delivered_month / done if done else None


@dataclass(frozen=True, slots=True)
class MessageFilter:
    status: str | None = None
    #: Part of the recipient's number.
    number: str | None = None
    #: Part of the text or the number.
    search: str | None = None
    #: Created at or after this day (UTC), and on or before that one.
    day_from: date | None = None
    day_to: date | None = None


def login_of(conn: Connection, email: str) -> Login | None:
    query = sa.select(accounts.c.id, accounts.c.password_hash).where(
        sa.func.lower(accounts.c.email) == email.strip().lower()
    )
    row = conn.execute(query).first()
    return Login(account_id=row.id, password_hash=row.password_hash) if row else None


def _row(m: sa.RowMapping) -> MessageRow:
    return MessageRow(
        id=m["id"],
        kind=MessageKind(m["kind"]),
        to_number=m["to_number"],
        body=m["body"],
        status=MessageStatus(m["status"]),
        price_micros=m["price_micros"],
        error=m["error"],
        created_at=m["created_at"],
    )


_COLUMNS = (
    messages.c.id,
    messages.c.kind,
    messages.c.to_number,
    messages.c.body,
    messages.c.status,
    messages.c.price_micros,
    messages.c.error,
    messages.c.created_at,
)


def dashboard(conn: Connection, account_id: int, *, day_start: int, month_start: int) -> Dashboard:
    credits = conn.execute(
        sa.select(accounts.c.credits_micros).where(accounts.c.id == account_id)
    ).scalar_one()
    mine = messages.c.account_id == account_id
    counts = conn.execute(
        sa.select(
            sa.func.count().filter(messages.c.created_at >= day_start),
            sa.func.count(),
            sa.func.count().filter(messages.c.status == MessageStatus.DELIVERED.value),
            sa.func.count().filter(messages.c.status.in_(FAILED_STATES)),
        ).where(mine, messages.c.created_at >= month_start)
    ).one()
    failures = conn.execute(
        sa.select(*_COLUMNS)
        .where(mine, messages.c.status.in_(FAILED_STATES))
        .order_by(messages.c.id.desc())
        .limit(5)
    )
    return Dashboard(
        credits_micros=int(credits),
        today=int(counts[0]),
        this_month=int(counts[1]),
        delivered_month=int(counts[2]),
        failed_month=int(counts[3]),
        recent_failures=[_row(r._mapping) for r in failures],
    )


def list_messages(
    conn: Connection, account_id: int, where: MessageFilter, *, offset: int, limit: int
) -> list[MessageRow]:
    """A page of the account's messages, newest first (`limit` rows at most)."""
    query = sa.select(*_COLUMNS).where(messages.c.account_id == account_id)
    if where.status:
        query = query.where(messages.c.status == where.status)
    if where.number:
        query = query.where(messages.c.to_number.contains(where.number, autoescape=True))
    if where.search:
        needle = where.search.lower()
        query = query.where(
            sa.or_(
                messages.c.to_number.contains(needle, autoescape=True),
                sa.and_(
                    messages.c.kind != MessageKind.OTP.value,  # codes are never searched
                    sa.func.lower(messages.c.body).contains(needle, autoescape=True),
                ),
            )
        )
    if where.day_from is not None:
        query = query.where(messages.c.created_at >= _day_ms(where.day_from))
    if where.day_to is not None:
        query = query.where(messages.c.created_at < _day_ms(where.day_to + timedelta(days=1)))
    query = query.order_by(messages.c.id.desc()).offset(offset).limit(limit)
    return [_row(r._mapping) for r in conn.execute(query)]


def _day_ms(day: date) -> int:
    """The first millisecond of `day`, UTC."""
    return int(datetime.combine(day, time.min, tzinfo=UTC).timestamp() * 1000)
