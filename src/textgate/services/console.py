"""What the web console does: sign-up and log-in with a password, and its read-only views.

Passwords are hashed with argon2id (argon2-cffi's defaults), in a worker thread so a hash
never stalls the event loop. Failed log-ins are limited per email and client address
(`LoginLimiter`, in-process: with several API processes each counts its own)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from datetime import UTC, datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from textgate.domain.states import MessageStatus
from textgate.errors import InvalidRequest, NotFound, RateLimited
from textgate.services.accounts import AccountService, NewKey, check_email
from textgate.store import console as console_store
from textgate.store import messages as messages_store
from textgate.store.db import Database
from textgate.store.records import Account, Event, Message

log = logging.getLogger("textgate.console")

MIN_PASSWORD = 10
MAX_PASSWORD = 200
PAGE_SIZE = 25


class LoginFailed(Exception):
    """Wrong email or password (the console never says which)."""


class LoginLimiter:
    """At most `max_failures` failed log-ins per (email, client) within `window` seconds."""

    def __init__(self, max_failures: int = 5, window: float = 15 * 60) -> None:
        self.max_failures = max_failures
        self.window = window
        self._failures: dict[tuple[str, str], deque[float]] = {}

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        times = self._failures.get(key, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        return times

    def check(self, email: str, client: str) -> None:
        now = time.monotonic()
        key = (email.strip().lower(), client)
        times = self._recent(key, now)
        if not times:
            self._failures.pop(key, None)
        elif len(times) >= self.max_failures:
            raise RateLimited(
                "Too many failed log-ins: wait a few minutes and try again",
                retry_after=max(1, int(times[0] + self.window - now) + 1),
            )

    def failed(self, email: str, client: str) -> None:
        now = time.monotonic()
        key = (email.strip().lower(), client)
        if len(self._failures) > 100_000:  # a flood of made-up emails: start afresh
            self._failures.clear()
        self._failures[key] = self._recent(key, now)
        self._failures[key].append(now)

    def succeeded(self, email: str, client: str) -> None:
        self._failures.pop((email.strip().lower(), client), None)


def check_password(password: str) -> str:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidRequest(
            f"The password must be {MIN_PASSWORD} to {MAX_PASSWORD} characters long"
        )
    return password


def month_and_day_start(now_ms: int) -> tuple[int, int]:
    """Midnight UTC today and the first of this month, in ms."""
    now = datetime.fromtimestamp(now_ms / 1000, UTC)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    month = day.replace(day=1)
    return int(day.timestamp() * 1000), int(month.timestamp() * 1000)


class ConsoleService:
    def __init__(
        self, db: Database, accounts: AccountService, limiter: LoginLimiter | None = None
    ) -> None:
        self._db = db
        self._accounts = accounts
        self._hasher = PasswordHasher()
        self.limiter = limiter or LoginLimiter()
        #: Checked when the email is unknown, so that answer takes as long as a wrong password.
        self._dummy_hash = self._hasher.hash("not a password of anyone")

    async def sign_up(self, email: str, password: str) -> tuple[Account, NewKey]:
        email = check_email(email)
        check_password(password)
        hashed = await asyncio.to_thread(self._hasher.hash, password)
        account, key = await self._accounts.create(email, password_hash=hashed)
        log.info("console sign-up", extra={"action": "console_signup", "account": account.id})
        return account, key

    async def log_in(self, email: str, password: str, client: str) -> int:
        """The account id, or LoginFailed; RateLimited after too many failures."""
        self.limiter.check(email, client)
        found = await self._db.read(console_store.login_of, email)
        stored = found.password_hash if found is not None else None
        ok = await asyncio.to_thread(self._verify, stored or self._dummy_hash, password)
        if found is None or stored is None or not ok:
            self.limiter.failed(email, client)
            log.info("console log-in refused", extra={"action": "console_login_failed"})
            raise LoginFailed
        self.limiter.succeeded(email, client)
        log.info("console log-in", extra={"action": "console_login", "account": found.account_id})
        return found.account_id

    def _verify(self, stored: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False

    async def dashboard(self, account_id: int, now_ms: int) -> console_store.Dashboard:
        day, month = month_and_day_start(now_ms)
        return await self._db.read(
            console_store.dashboard, account_id, day_start=day, month_start=month
        )

    async def messages(
        self, account_id: int, where: console_store.MessageFilter, page: int
    ) -> tuple[list[console_store.MessageRow], bool]:
        """One page (from 1) of messages, and whether there is a next page."""
        if where.status and where.status not in {s.value for s in MessageStatus}:
            raise InvalidRequest(f"Unknown status {where.status!r}")
        rows = await self._db.read(
            console_store.list_messages,
            account_id,
            where,
            offset=(page - 1) * PAGE_SIZE,
            limit=PAGE_SIZE + 1,
        )
        return rows[:PAGE_SIZE], len(rows) > PAGE_SIZE

    async def message(self, account_id: int, message_id: int) -> tuple[Message, list[Event]]:
        found = None
        if 0 < message_id < 2**63:
            found = await self._db.read(messages_store.get_with_history, message_id, account_id)
        if found is None:
            raise NotFound(f"No message {message_id} in this account")
        return found
