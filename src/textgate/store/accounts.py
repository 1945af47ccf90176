"""Accounts, API keys and credits."""

from __future__ import annotations

import hmac

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from textgate.store.db import now_ms
from textgate.store.records import Account, ApiKey, Caller
from textgate.store.tables import accounts, api_keys


def _account(row: sa.Row[tuple[object, ...]]) -> Account:
    m = row._mapping
    return Account(
        id=m["id"],
        email=m["email"],
        credits_micros=m["credits_micros"],
        is_operator=bool(m["is_operator"]),
        created_at=m["created_at"],
    )


def _key(row: sa.Row[tuple[object, ...]]) -> ApiKey:
    m = row._mapping
    return ApiKey(
        id=m["id"],
        account_id=m["account_id"],
        prefix=m["prefix"],
        name=m["name"],
        created_at=m["created_at"],
        last_used_at=m["last_used_at"],
        revoked_at=m["revoked_at"],
    )


def create_account(
    conn: Connection,
    email: str,
    *,
    credits_micros: int,
    is_operator: bool = False,
    password_hash: str | None = None,
) -> Account:
    row = (
        conn.execute(
            accounts.insert()
            .values(
                email=email,
                credits_micros=credits_micros,
                is_operator=is_operator,
                password_hash=password_hash,
                created_at=now_ms(),
            )
            .returning(*accounts.c)
        )
    ).one()
    return _account(row)


def get_account(conn: Connection, account_id: int) -> Account | None:
    row = (conn.execute(accounts.select().where(accounts.c.id == account_id))).first()
    return _account(row) if row else None


def find_account(conn: Connection, email: str) -> Account | None:
    query = accounts.select().where(sa.func.lower(accounts.c.email) == email.lower())
    row = (conn.execute(query)).first()
    return _account(row) if row else None


def set_operator(conn: Connection, account_id: int, is_operator: bool) -> None:
    conn.execute(
        accounts.update().where(accounts.c.id == account_id).values(is_operator=is_operator)
    )


def add_credits(conn: Connection, account_id: int, micros: int) -> int:
    """Adds (or, negative, takes) credits; answers the new balance. Never below zero:
    a debit larger than the balance raises (the check constraint refuses it)."""
    row = (
        conn.execute(
            accounts.update()
            .where(accounts.c.id == account_id)
            .values(credits_micros=accounts.c.credits_micros + micros)
            .returning(accounts.c.credits_micros)
        )
    ).one()
    return int(row[0])


def balance(conn: Connection, account_id: int) -> int:
    query = sa.select(accounts.c.credits_micros).where(accounts.c.id == account_id)
    return int((conn.execute(query)).scalar_one())


def create_key(
    conn: Connection, account_id: int, *, key_hash: bytes, prefix: str, name: str = ""
) -> ApiKey:
    row = (
        conn.execute(
            api_keys.insert()
            .values(
                account_id=account_id,
                key_hash=key_hash,
                prefix=prefix,
                name=name,
                created_at=now_ms(),
            )
            .returning(*api_keys.c)
        )
    ).one()
    return _key(row)


def list_keys(conn: Connection, account_id: int) -> list[ApiKey]:
    query = api_keys.select().where(api_keys.c.account_id == account_id).order_by(api_keys.c.id)
    return [_key(row) for row in conn.execute(query)]


def revoke_key(conn: Connection, key_id: int, *, account_id: int | None = None) -> bool:
    """Revokes a key (of `account_id`, when given). False if there was no such live key."""
    query = (
        api_keys.update()
        .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=now_ms())
    )
    if account_id is not None:
        query = query.where(api_keys.c.account_id == account_id)
    result = conn.execute(query)
    return result.rowcount == 1


def caller_for_key(conn: Connection, prefix: str, key_hash: bytes) -> Caller | None:
    """The account behind a live key. The database finds candidates by the key's public
    prefix (shown in key lists anyway); the secret part is checked by comparing keyed hashes
    in constant time, so no timing depends on how much of a guess was right."""
    query = sa.select(api_keys.c.id, api_keys.c.account_id, api_keys.c.key_hash).where(
        api_keys.c.prefix == prefix, api_keys.c.revoked_at.is_(None)
    )
    found: Caller | None = None
    for row in conn.execute(query):
        if hmac.compare_digest(row.key_hash, key_hash):
            found = Caller(account_id=row.account_id, key_id=row.id)
    return found


def live_key_ids(conn: Connection, key_ids: set[int]) -> set[int]:
    if not key_ids:
        return set()
    query = sa.select(api_keys.c.id).where(
        api_keys.c.id.in_(key_ids), api_keys.c.revoked_at.is_(None)
    )
    return {row[0] for row in conn.execute(query)}


def touch_keys(conn: Connection, key_ids: set[int], at: int) -> None:
    if key_ids:
        conn.execute(api_keys.update().where(api_keys.c.id.in_(key_ids)).values(last_used_at=at))
