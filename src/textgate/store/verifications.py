"""Verification codes, the log of codes sent, and per-account verification options.

Every function runs inside the caller's write transaction. Whoever checks limits and then
writes takes `lock_account` first (PostgreSQL: the account row FOR UPDATE; SQLite: the
writer lock is already held), and a check of a code reads its row with `FOR UPDATE`, so
concurrent requests cannot both pass a limit that only one of them may pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from textgate.domain.otp import AccountOptions
from textgate.store import sql
from textgate.store.tables import account_settings, verifications


@dataclass(frozen=True, slots=True)
class Verification:
    id: int
    account_id: int
    phone: str
    code_hash: bytes
    code_sealed: bytes | None
    attempts: int
    message_id: int | None
    created_at: int
    expires_at: int
    verified_at: int | None


@dataclass(frozen=True, slots=True)
class NewVerification:
    account_id: int
    phone: str
    code_hash: bytes
    code_sealed: bytes | None
    message_id: int
    created_at: int
    expires_at: int


def _for_update(conn: Connection) -> str:
    return " FOR UPDATE" if conn.dialect.name == "postgresql" else ""


def lock_account(conn: Connection, account_id: int) -> bool:
    """Serialises send-code for one account (PostgreSQL); False if there is no such account."""
    row = sql.execute(
        conn, f"SELECT id FROM accounts WHERE id = ?{_for_update(conn)}", (account_id,)
    ).first()
    return row is not None


def get_for_update(conn: Connection, account_id: int, phone: str) -> Verification | None:
    """The live code of `account_id` for `phone`, locked until the transaction ends."""
    row = sql.execute(
        conn,
        "SELECT id, account_id, phone, code_hash, code_sealed, attempts, message_id, created_at,"
        " expires_at, verified_at FROM verifications WHERE account_id = ? AND phone = ?"
        f"{_for_update(conn)}",
        (account_id, phone),
    ).first()
    if row is None:
        return None
    return Verification(
        id=row[0],
        account_id=row[1],
        phone=row[2],
        code_hash=bytes(row[3]),
        code_sealed=bytes(row[4]) if row[4] is not None else None,
        attempts=row[5],
        message_id=row[6],
        created_at=row[7],
        expires_at=row[8],
        verified_at=row[9],
    )


def replace(conn: Connection, new: NewVerification) -> None:
    """Makes `new` the one live code for its account and number (a previous one is gone)."""
    values = {
        "code_hash": new.code_hash,
        "code_sealed": new.code_sealed,
        "attempts": 0,
        "message_id": new.message_id,
        "created_at": new.created_at,
        "expires_at": new.expires_at,
        "verified_at": None,
    }
    updated = conn.execute(
        verifications.update()
        .where(verifications.c.account_id == new.account_id, verifications.c.phone == new.phone)
        .values(**values)
    )
    if updated.rowcount == 0:
        conn.execute(
            verifications.insert().values(account_id=new.account_id, phone=new.phone, **values)
        )


def count_wrong(conn: Connection, verification_id: int) -> int:
    """Counts one wrong code; answers the attempts now spent."""
    row = conn.execute(
        verifications.update()
        .where(verifications.c.id == verification_id)
        .values(attempts=verifications.c.attempts + 1)
        .returning(verifications.c.attempts)
    ).one()
    return int(row[0])


def mark_verified(conn: Connection, verification_id: int, at: int) -> None:
    conn.execute(
        verifications.update()
        .where(verifications.c.id == verification_id, verifications.c.verified_at.is_(None))
        .values(verified_at=at)
    )


def latest_sends(conn: Connection, account_id: int, phone: str, limit: int) -> list[int]:
    """When the last `limit` codes went to `phone` from this account, newest first."""
    rows = sql.execute(
        conn,
        "SELECT sent_at FROM verification_sends WHERE account_id = ? AND phone = ?"
        " ORDER BY sent_at DESC LIMIT ?",
        (account_id, phone, limit),
    )
    return [int(r[0]) for r in rows]


def nth_latest_to_prefix(
    conn: Connection, account_id: int, calling_code: int, n: int
) -> int | None:
    """When the `n`-th most recent code to numbers under `calling_code` went (None: fewer)."""
    row = sql.execute(
        conn,
        "SELECT sent_at FROM verification_sends WHERE account_id = ? AND calling_code = ?"
        " ORDER BY sent_at DESC LIMIT 1 OFFSET ?",
        (account_id, calling_code, n - 1),
    ).first()
    return int(row[0]) if row is not None else None


def record_send(conn: Connection, account_id: int, phone: str, calling_code: int, at: int) -> None:
    sql.execute(
        conn,
        "INSERT INTO verification_sends (account_id, phone, calling_code, sent_at)"
        " VALUES (?, ?, ?, ?)",
        (account_id, phone, calling_code, at),
    )


def forget_sends(conn: Connection, account_id: int, before: int) -> None:
    """Drops the account's send log older than `before` (no limit looks that far back)."""
    sql.execute(
        conn,
        "DELETE FROM verification_sends WHERE account_id = ? AND sent_at < ?",
        (account_id, before),
    )


def get_options(conn: Connection, account_id: int) -> AccountOptions:
    row = conn.execute(
        sa.select(account_settings).where(account_settings.c.account_id == account_id)
    ).first()
    if row is None:
        return AccountOptions()
    m = row._mapping
    countries = m["allowed_countries"]
    return AccountOptions(
        code_length=m["code_length"],
        mask_codes=bool(m["mask_codes"]),
        allowed_countries=frozenset(countries.split(",")) if countries else None,
        prefix_hourly=m["otp_prefix_hourly"],
    )


def put_options(conn: Connection, account_id: int, options: AccountOptions, at: int) -> None:
    values = {
        "code_length": options.code_length,
        "mask_codes": options.mask_codes,
        "allowed_countries": (
            ",".join(sorted(options.allowed_countries))
            if options.allowed_countries is not None
            else None
        ),
        "otp_prefix_hourly": options.prefix_hourly,
        "updated_at": at,
    }
    updated = conn.execute(
        account_settings.update()
        .where(account_settings.c.account_id == account_id)
        .values(**values)
    )
    if updated.rowcount == 0:
        conn.execute(account_settings.insert().values(account_id=account_id, **values))
