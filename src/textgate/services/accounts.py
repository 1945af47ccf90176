"""Accounts, their API keys and credits: what the CLI and the console do to them."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Connection

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
        secret = keys.generate_api_key()
        credits = self.signup_credit_micros if credits_micros is None else credits_micros

        def work(conn: Connection) -> tuple[Account, ApiKey]:
            if accounts_store.find_account(conn, email) is not None:
                raise Conflict(f"An account for {email} already exists")
            account = accounts_store.create_account(
                conn,
                email,
                credits_micros=credits,
                is_operator=is_operator,
                password_hash=password_hash,
            )
            return account, self._store_key(conn, account.id, secret, "default")

        account, key = await self._db.write(work)
        return account, NewKey(key=key, secret=secret)

    async def find(self, email: str) -> Account:
        account = await self._db.read(accounts_store.find_account, email)
        if account is None:
            raise NotFound(f"No account for {email}")
        return account

    async def get(self, account_id: int) -> Account:
        account = await self._db.read(accounts_store.get_account, account_id)
        if account is None:
            raise NotFound(f"No account {account_id}")
        return account

    async def set_operator(self, email: str, is_operator: bool = True) -> Account:
        account = await self.find(email)
        await self._db.write(accounts_store.set_operator, account.id, is_operator)
        return await self.get(account.id)

    async def create_key(self, account_id: int, name: str = "") -> NewKey:
        secret = keys.generate_api_key()
        key = await self._db.write(self._store_key, account_id, secret, name)
        return NewKey(key=key, secret=secret)

    def _store_key(self, conn: Connection, account_id: int, secret: str, name: str) -> ApiKey:
        return accounts_store.create_key(
            conn,
            account_id,
            key_hash=keys.hash_key(self._pepper, secret),
            prefix=keys.display_prefix(secret),
            name=name[:100],
        )

    async def list_keys(self, account_id: int) -> list[ApiKey]:
        return await self._db.read(accounts_store.list_keys, account_id)

    async def revoke_key(self, key_id: int, *, account_id: int | None = None) -> None:
        if not await self._db.write(accounts_store.revoke_key, key_id, account_id=account_id):
            raise NotFound(f"No live API key {key_id}")

    async def add_credits(self, account_id: int, micros: int) -> int:
        def work(conn: Connection) -> int:
            if micros < 0 and accounts_store.balance(conn, account_id) < -micros:
                raise Conflict("The balance cannot go below zero")
            return accounts_store.add_credits(conn, account_id, micros)

        return await self._db.write(work)

    async def balance(self, account_id: int) -> int:
        return await self._db.read(accounts_store.balance, account_id)
