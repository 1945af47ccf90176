"""Console sessions: one row per signed-in browser, keyed by the SHA-256 of the random token
its cookie carries. A page's check is one read by primary key joined to the account;
signing out (here, or from another browser) deletes the row."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from textgate.store.records import Account
from textgate.store.tables import accounts, console_sessions

#: At most this many expired rows go in one global prune (a cheap, bounded statement).
PRUNE_BATCH = 1000


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    #: SHA-256 of the cookie's token.
    id: bytes
    account_id: int
    created_at: int
    last_seen_at: int
    expires_at: int
    user_agent: str
    client: str


@dataclass(frozen=True, slots=True)
class SignedIn:
    account: Account
    last_seen_at: int


def create(
    conn: Connection,
    session_id: bytes,
    account_id: int,
    *,
    at: int,
    expires_at: int,
    user_agent: str,
    client: str,
) -> int:
    """A new session of `account_id`; its expired ones go at the same time (how many)."""
    pruned = conn.execute(
        console_sessions.delete().where(
            console_sessions.c.account_id == account_id, console_sessions.c.expires_at <= at
        )
    ).rowcount
    conn.execute(
        console_sessions.insert().values(
            id=session_id,
            account_id=account_id,
            created_at=at,
            last_seen_at=at,
            expires_at=expires_at,
            user_agent=user_agent,
            client=client,
        )
    )
    return int(pruned)


def signed_in(conn: Connection, session_id: bytes, account_id: int, *, now: int) -> SignedIn | None:
    """The account of a live session, if the session is `account_id`'s."""
    query = (
        sa.select(
            accounts.c.id,
            accounts.c.email,
            accounts.c.credits_micros,
            accounts.c.is_operator,
            accounts.c.created_at,
            console_sessions.c.last_seen_at,
        )
        .select_from(
            console_sessions.join(accounts, accounts.c.id == console_sessions.c.account_id)
        )
        .where(
            console_sessions.c.id == session_id,
            console_sessions.c.account_id == account_id,
            console_sessions.c.expires_at > now,
        )
    )
    row = conn.execute(query).first()
    if row is None:
        return None
    m = row._mapping
    account = Account(
        id=m["id"],
        email=m["email"],
        credits_micros=m["credits_micros"],
        is_operator=bool(m["is_operator"]),
        created_at=m["created_at"],
    )
    return SignedIn(account=account, last_seen_at=m["last_seen_at"])


def touch(conn: Connection, session_id: bytes, *, at: int) -> None:
    conn.execute(
        console_sessions.update().where(console_sessions.c.id == session_id).values(last_seen_at=at)
    )


def delete(conn: Connection, session_id: bytes) -> bool:
    """Ends one session, whoever's it is (the caller holds its token)."""
    result = conn.execute(console_sessions.delete().where(console_sessions.c.id == session_id))
    return result.rowcount == 1


def delete_of_account(conn: Connection, session_id: bytes, account_id: int) -> bool:
    """Ends one session of `account_id`; False when it has no such session."""
    result = conn.execute(
        console_sessions.delete().where(
            console_sessions.c.id == session_id, console_sessions.c.account_id == account_id
        )
    )
    return result.rowcount == 1


def delete_others(conn: Connection, account_id: int, keep: bytes) -> int:
    """Ends every session of `account_id` but `keep`; how many ended."""
    result = conn.execute(
        console_sessions.delete().where(
            console_sessions.c.account_id == account_id, console_sessions.c.id != keep
        )
    )
    return int(result.rowcount)


def live(conn: Connection, account_id: int, *, now: int) -> list[ConsoleSession]:
    """The account's unexpired sessions, the most recently seen first."""
    query = (
        sa.select(console_sessions)
        .where(console_sessions.c.account_id == account_id, console_sessions.c.expires_at > now)
        .order_by(console_sessions.c.last_seen_at.desc(), console_sessions.c.created_at.desc())
    )
    return [
        ConsoleSession(
            id=bytes(m["id"]),
            account_id=m["account_id"],
            created_at=m["created_at"],
            last_seen_at=m["last_seen_at"],
            expires_at=m["expires_at"],
            user_agent=m["user_agent"],
            client=m["client"],
        )
        for m in conn.execute(query).mappings()
    ]


def prune(conn: Connection, *, now: int, limit: int = PRUNE_BATCH) -> int:
    """Deletes up to `limit` expired sessions of any account (by the index on expires_at)."""
    oldest = (
        sa.select(console_sessions.c.id)
        .where(console_sessions.c.expires_at <= now)
        .order_by(console_sessions.c.expires_at)
        .limit(limit)
    )
    result = conn.execute(console_sessions.delete().where(console_sessions.c.id.in_(oldest)))
    return int(result.rowcount)
