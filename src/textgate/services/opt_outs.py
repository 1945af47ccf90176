"""Opt-outs: numbers that asked an account to stop; its bulk jobs skip them (reason
"opted out"). Single messages and verification codes are not affected."""

from __future__ import annotations

from sqlalchemy.engine import Connection

from textgate.domain import phones
from textgate.store import opt_outs as opt_outs_store
from textgate.store.db import Database, now_ms


async def add(db: Database, account_id: int, phone_number: str) -> tuple[phones.Phone, bool]:
    """Records that `phone_number` opted out of the account's bulk messages; the bool says
    whether it is new. InvalidPhone for a number that is not valid."""
    phone = phones.parse_phone(phone_number)
    added = await db.write(opt_outs_store.add, account_id, phone.e164, now=now_ms())
    return phone, added


async def remove(db: Database, account_id: int, phone_number: str) -> tuple[phones.Phone, bool]:
    """Forgets an opt-out; the bool says whether there was one."""
    phone = phones.parse_phone(phone_number)
    removed = await db.write(opt_outs_store.remove, account_id, phone.e164)
    return phone, removed


async def numbers(db: Database, account_id: int) -> list[str]:
    return await db.read(opt_outs_store.list_numbers, account_id)


async def page(
    db: Database, account_id: int, page: int, *, size: int = 50
) -> tuple[list[opt_outs_store.OptOut], int]:
    """One page (from 1) of the account's opt-outs, by number, and how many there are."""

    def work(conn: Connection) -> tuple[list[opt_outs_store.OptOut], int]:
        rows = opt_outs_store.page(conn, account_id, offset=(page - 1) * size, limit=size)
        return rows, opt_outs_store.count(conn, account_id)

    return await db.read(work)
