"""Opt-outs: numbers (E.164) an account must not send bulk messages to."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from textgate.store import sql
from textgate.store.tables import opt_outs


def add(conn: Connection, account_id: int, phone_number: str, *, now: int) -> bool:
    """Records an opt-out; False if the number had already opted out."""
    if is_opted_out(conn, account_id, phone_number):
        return False
    conn.execute(
        opt_outs.insert().values(account_id=account_id, phone_number=phone_number, created_at=now)
    )
    return True


def remove(conn: Connection, account_id: int, phone_number: str) -> bool:
    """Forgets an opt-out; False if there was none."""
    result = conn.execute(
        opt_outs.delete().where(
            opt_outs.c.account_id == account_id, opt_outs.c.phone_number == phone_number
        )
    )
    return result.rowcount == 1


def is_opted_out(conn: Connection, account_id: int, phone_number: str) -> bool:
    query = sa.select(opt_outs.c.phone_number).where(
        opt_outs.c.account_id == account_id, opt_outs.c.phone_number == phone_number
    )
    return conn.execute(query).first() is not None


def list_numbers(conn: Connection, account_id: int) -> list[str]:
    query = (
        sa.select(opt_outs.c.phone_number)
        .where(opt_outs.c.account_id == account_id)
        .order_by(opt_outs.c.phone_number)
    )
    return [row[0] for row in conn.execute(query)]


def numbers(conn: Connection, account_id: int) -> set[str]:
    """The account's opted-out numbers, for checking a whole bulk list against."""
    rows = sql.execute(
        conn, "SELECT phone_number FROM opt_outs WHERE account_id = ?", (account_id,)
    )
    return {row[0] for row in rows}


@dataclass(frozen=True, slots=True)
class OptOut:
    phone_number: str
    created_at: int


def page(conn: Connection, account_id: int, *, offset: int, limit: int) -> list[OptOut]:
    """A page of the account's opt-outs, by number."""
    query = (
        sa.select(opt_outs.c.phone_number, opt_outs.c.created_at)
        .where(opt_outs.c.account_id == account_id)
        .order_by(opt_outs.c.phone_number)
        .offset(offset)
        .limit(limit)
    )
    return [OptOut(row.phone_number, row.created_at) for row in conn.execute(query)]


def count(conn: Connection, account_id: int) -> int:
    query = sa.select(sa.func.count()).where(opt_outs.c.account_id == account_id)
    return int(conn.execute(query).scalar_one())
