"""Console sessions kept on the server, so a browser can be signed out for good.

Each log-in (and sign-up) makes a new random token (32 bytes; never reused, so a token
planted before log-in is worthless after it). The cookie carries the token; the server keeps
only its SHA-256, with the account, when it was made and last seen, when it expires, the
browser's user agent and the client address. A signed-in page checks its row in one read;
`last_seen_at` is written at most once a minute per session. Log-out deletes the row, so a
copy of the cookie stops working with it. Expired rows go when their account next logs in,
and all of them, a batch at a time, at most once an hour per process.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.engine import Connection

from textgate.errors import NotFound
from textgate.store import console_sessions as store
from textgate.store.db import Database, now_ms
from textgate.store.records import Account

log = logging.getLogger("textgate.console")

TOKEN_BYTES = 32
#: `last_seen_at` is written at most this often per session.
TOUCH_EVERY_MS = 60_000
#: Seconds between two global prunes of expired sessions (per process).
PRUNE_EVERY = 3600.0
MAX_USER_AGENT = 200
MAX_CLIENT = 64
#: What a session is named by on the sessions page: the hex of its id (the token's SHA-256).
_HANDLE = re.compile(r"[0-9a-f]{64}")


def session_id(token: str) -> bytes:
    """The stored id of a session: the SHA-256 of its token."""
    return hashlib.sha256(token.encode()).digest()


@dataclass(frozen=True, slots=True)
class SessionView:
    """A live session as its account sees it."""

    #: The session's name in forms and URLs (hex of its id; it does not sign anyone in).
    handle: str
    created_at: int
    last_seen_at: int
    expires_at: int
    user_agent: str
    client: str
    #: The browser asking.
    current: bool


class ConsoleSessions:
    def __init__(
        self,
        db: Database,
        *,
        lifetime_ms: int,
        clock: Callable[[], int] = now_ms,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = db
        self.lifetime_ms = lifetime_ms
        self._clock = clock
        self._monotonic = monotonic
        self._next_prune = 0.0

    async def start(
        self, account_id: int, *, user_agent: str, client: str, replacing: str | None = None
    ) -> str:
        """A new session of `account_id`: its token, for the cookie. `replacing` (the token
        the browser had) ends with it."""
        token = secrets.token_urlsafe(TOKEN_BYTES)
        now = self._clock()
        prune_all = self._monotonic() >= self._next_prune
        if prune_all:
            self._next_prune = self._monotonic() + PRUNE_EVERY

        def work(conn: Connection) -> int:
            if replacing is not None:
                store.delete(conn, session_id(replacing))
            pruned = store.create(
                conn,
                session_id(token),
                account_id,
                at=now,
                expires_at=now + self.lifetime_ms,
                user_agent=user_agent[:MAX_USER_AGENT],
                client=client[:MAX_CLIENT],
            )
            if prune_all:
                pruned += store.prune(conn, now=now)
            return pruned

        pruned = await self._db.write(work)
        log.info(
            "console session started",
            extra={"action": "console_session_started", "account": account_id, "pruned": pruned},
        )
        return token

    async def account(self, token: str, account_id: int) -> Account | None:
        """The account signed in by `token`, if its session is live and `account_id`'s."""
        now = self._clock()
        sid = session_id(token)
        found = await self._db.read(store.signed_in, sid, account_id, now=now)
        if found is None:
            return None
        if now - found.last_seen_at >= TOUCH_EVERY_MS:
            await self._db.write(store.touch, sid, at=now)
        return found.account

    async def end(self, token: str) -> None:
        """Log-out: the session of `token` is gone (copies of its cookie too)."""
        if await self._db.write(store.delete, session_id(token)):
            log.info("console session ended", extra={"action": "console_session_ended"})

    async def live(self, account_id: int, current: str | None) -> list[SessionView]:
        """The account's unexpired sessions, the most recently seen first."""
        mine = session_id(current) if current is not None else None
        rows = await self._db.read(store.live, account_id, now=self._clock())
        return [
            SessionView(
                handle=row.id.hex(),
                created_at=row.created_at,
                last_seen_at=row.last_seen_at,
                expires_at=row.expires_at,
                user_agent=row.user_agent,
                client=row.client,
                current=row.id == mine,
            )
            for row in rows
        ]

    async def revoke(self, account_id: int, handle: str) -> None:
        """Signs out one session of the account; NotFound for another account's or none."""
        ended = _HANDLE.fullmatch(handle) is not None and await self._db.write(
            store.delete_of_account, bytes.fromhex(handle), account_id
        )
        if not ended:
            raise NotFound("No such session in this account")
        log.info(
            "console session revoked",
            extra={"action": "console_session_revoked", "account": account_id},
        )

    async def revoke_others(self, account_id: int, current: str) -> int:
        """Signs out every session of the account but `current`'s; how many."""
        ended = await self._db.write(store.delete_others, account_id, session_id(current))
        log.info(
            "console sessions revoked",
            extra={"action": "console_sessions_revoked", "account": account_id, "ended": ended},
        )
        return ended
