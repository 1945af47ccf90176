"""The operators' queries: every account, not one. Only the operator pages call these."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from textgate.domain.states import MessageStatus
from textgate.store.tables import accounts, api_keys, messages


@dataclass(frozen=True, slots=True)
class AccountRow:
    id: int
    email: str
    credits_micros: int
    is_operator: bool
    created_at: int
    #: API keys not revoked.
    live_keys: int
    #: Messages accepted since the first of this month (UTC).
    messages_month: int
    #: Whether the account can log in to the console (has a password).
    has_password: bool


@dataclass(frozen=True, slots=True)
class QueueCounts:
    queued: int
    sending: int


def _live_keys() -> sa.ScalarSelect[int]:
    return (
        sa.select(sa.func.count())
        .where(api_keys.c.account_id == accounts.c.id, api_keys.c.revoked_at.is_(None))
        .scalar_subquery()
    )


def _month_counts(conn: Connection, ids: Sequence[int], month_start: int) -> dict[int, int]:
    if not ids:
        return {}
    query = (
        sa.select(messages.c.account_id, sa.func.count())
        .where(messages.c.account_id.in_(ids), messages.c.created_at >= month_start)
        .group_by(messages.c.account_id)
    )
    return {int(row[0]): int(row[1]) for row in conn.execute(query)}


def _rows(
    conn: Connection, query: sa.Select[tuple[object, ...]], month_start: int
) -> list[AccountRow]:
    found = [r._mapping for r in conn.execute(query)]
    counts = _month_counts(conn, [m["id"] for m in found], month_start)
    return [
        AccountRow(
            id=m["id"],
            email=m["email"],
            credits_micros=int(m["credits_micros"]),
            is_operator=bool(m["is_operator"]),
            created_at=int(m["created_at"]),
            live_keys=int(m["live_keys"]),
            messages_month=counts.get(m["id"], 0),
            has_password=m["password_hash"] is not None,
        )
        for m in found
    ]


def _select() -> sa.Select[tuple[object, ...]]:
    return sa.select(
        accounts.c.id,
        accounts.c.email,
        accounts.c.credits_micros,
        accounts.c.is_operator,
        accounts.c.created_at,
        accounts.c.password_hash,
        _live_keys().label("live_keys"),
    )


def list_accounts(
    conn: Connection, search: str | None, *, month_start: int, offset: int, limit: int
) -> list[AccountRow]:
    """A page of accounts in the order they were made (`limit` rows at most); `search` is
    part of the email, any case."""
    query = _select()
    if search:
        query = query.where(
            sa.func.lower(accounts.c.email).contains(search.lower(), autoescape=True)
        )
    query = query.order_by(accounts.c.id).offset(offset).limit(limit)
    return _rows(conn, query, month_start)


def get_account(conn: Connection, account_id: int, *, month_start: int) -> AccountRow | None:
    found = _rows(conn, _select().where(accounts.c.id == account_id), month_start)
    return found[0] if found else None


def count_accounts(conn: Connection) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(accounts)).scalar_one())


def queue_counts(conn: Connection) -> QueueCounts:
    """Messages waiting for a worker and messages a worker holds. Their filter is the
    queue index's own (`ix_messages_due`), so only pending rows are read."""
    status = messages.c.status
    row = conn.execute(
        sa.select(
            sa.func.count().filter(status == MessageStatus.QUEUED.value),
            sa.func.count().filter(status == MessageStatus.SENDING.value),
        ).where(status.in_((MessageStatus.QUEUED.value, MessageStatus.SENDING.value)))
    ).one()
    return QueueCounts(queued=int(row[0]), sending=int(row[1]))


def balance_of(conn: Connection, account_id: int) -> int | None:
    """The account's credits in micro-credits; None when there is no such account."""
    query = sa.select(accounts.c.credits_micros).where(accounts.c.id == account_id)
    found = conn.execute(query).scalar_one_or_none()
    return None if found is None else int(found)


def set_operator(conn: Connection, account_id: int, is_operator: bool) -> bool:
    """False when there is no such account."""
    result = conn.execute(
        accounts.update().where(accounts.c.id == account_id).values(is_operator=is_operator)
    )
    return result.rowcount == 1
