"""Accounts, their API keys and credits: what the CLI and the console do to them."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from textgate.domain import keys
from textgate.errors import Conflict, InvalidRequest, NotFound
from textgate.store import accounts as accounts_store
from textgate.store.db import Database
from textgate.store.records import Account, ApiKey


@dataclass(frozen=True, slots=True)
class NewKey:
    key: ApiKey
    #: The key itself: shown once, never stored.
    secret: str


def check_email(email: str) -> str:
    email = email.strip()
    local, at, domain = email.rpartition("@")
    if not at or not local or "." not in domain or len(email) > 320 or " " in email:
        raise InvalidRequest(f"Invalid email address: {email!r}")
    return email


class AccountService:
    def __init__(self, db: Database, pepper: bytes, signup_credit_micros: int) -> None:
        self._db = db
        self._pepper = pepper
        self.signup_credit_micros = signup_credit_micros

    async def create(
        self,
        email: str,
        *,
        credits_micros: int | None = None,
        is_operator: bool = False,
        password_hash: str | None = None,
    ) -> tuple[Account, NewKey]:
        """A new account with its first API key; it starts with the sign-up credit unless
        `credits_micros` says otherwise."""
        email = check_email(email)
        async with self._db.write() as conn:
            if await accounts_store.find_account(conn, email) is not None:
                raise Conflict(f"An account for {email} already exists")
            account = await accounts_store.create_account(
                conn,
                email,
                credits_micros=self.signup_credit_micros
                if credits_micros is None
                else credits_micros,
                is_operator=is_operator,
                password_hash=password_hash,
            )
            new_key = await self._create_key(conn, account.id, "default")
        return account, new_key

    async def find(self, email: str) -> Account:
        async with self._db.read() as conn:
            account = await accounts_store.find_account(conn, email)
        if account is None:
            raise NotFound(f"No account for {email}")
        return account

    async def get(self, account_id: int) -> Account:
        async with self._db.read() as conn:
            account = await accounts_store.get_account(conn, account_id)
        if account is None:
            raise NotFound(f"No account {account_id}")
        return account

    async def set_operator(self, email: str, is_operator: bool = True) -> Account:
        account = await self.find(email)
        async with self._db.write() as conn:
            await accounts_store.set_operator(conn, account.id, is_operator)
        return await self.get(account.id)

    async def create_key(self, account_id: int, name: str = "") -> NewKey:
        async with self._db.write() as conn:
            return await self._create_key(conn, account_id, name)

    async def _create_key(self, conn: AsyncConnection, account_id: int, name: str) -> NewKey:
        secret = keys.generate_api_key()
        key = await accounts_store.create_key(
            conn,
            account_id,
            key_hash=keys.hash_key(self._pepper, secret),
            prefix=keys.display_prefix(secret),
            name=name[:100],
        )
        return NewKey(key=key, secret=secret)

    async def list_keys(self, account_id: int) -> list[ApiKey]:
        async with self._db.read() as conn:
            return await accounts_store.list_keys(conn, account_id)

    async def revoke_key(self, key_id: int, *, account_id: int | None = None) -> None:
        async with self._db.write() as conn:
            if not await accounts_store.revoke_key(conn, key_id, account_id=account_id):
                raise NotFound(f"No live API key {key_id}")

    async def add_credits(self, account_id: int, micros: int) -> int:
        async with self._db.write() as conn:
            if micros < 0 and await accounts_store.balance(conn, account_id) < -micros:
                raise Conflict("The balance cannot go below zero")
            return await accounts_store.add_credits(conn, account_id, micros)

    async def balance(self, account_id: int) -> int:
        async with self._db.read() as conn:
            return await accounts_store.balance(conn, account_id)
