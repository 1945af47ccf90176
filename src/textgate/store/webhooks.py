"""Each account's webhook: its URL and its sealed signing secret (one row per account)."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from textgate.store.tables import accounts, webhooks


@dataclass(frozen=True, slots=True)
class Webhook:
    account_id: int
    #: None: no events are sent (the secret is kept for when a URL is set again).
    url: str | None
    secret_sealed: bytes
    created_at: int
    updated_at: int


def lock_account(conn: Connection, account_id: int) -> bool:
    """Serialises webhook changes of one account (PostgreSQL: the account row FOR UPDATE;
    SQLite: the writer lock is already held); False if there is no such account."""
    query = sa.select(accounts.c.id).where(accounts.c.id == account_id).with_for_update()
    return conn.execute(query).first() is not None


def get(conn: Connection, account_id: int) -> Webhook | None:
    row = conn.execute(sa.select(webhooks).where(webhooks.c.account_id == account_id)).first()
    if row is None:
        return None
    m = row._mapping
    return Webhook(
        account_id=m["account_id"],
        url=m["url"],
        secret_sealed=bytes(m["secret_sealed"]),
        created_at=m["created_at"],
        updated_at=m["updated_at"],
    )


def create(
    conn: Connection, account_id: int, *, url: str | None, secret_sealed: bytes, at: int
) -> None:
    conn.execute(
        webhooks.insert().values(
            account_id=account_id,
            url=url,
            secret_sealed=secret_sealed,
            created_at=at,
            updated_at=at,
        )
    )


def set_url(conn: Connection, account_id: int, url: str | None, *, at: int) -> bool:
    """Sets (or, None, clears) the URL; False when the account has no webhook row."""
    result = conn.execute(
        webhooks.update().where(webhooks.c.account_id == account_id).values(url=url, updated_at=at)
    )
    return result.rowcount == 1


def set_secret(conn: Connection, account_id: int, secret_sealed: bytes, *, at: int) -> bool:
    """Replaces the secret; False when the account has no webhook row."""
    result = conn.execute(
        webhooks.update()
        .where(webhooks.c.account_id == account_id)
        .values(secret_sealed=secret_sealed, updated_at=at)
    )
    return result.rowcount == 1
