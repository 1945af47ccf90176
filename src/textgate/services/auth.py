"""Turns an `Authorization: Bearer <key>` header into the calling account."""

from __future__ import annotations

import enum
import time

from textgate.domain import keys
from textgate.store import accounts as accounts_store
from textgate.store.db import Database
from textgate.store.records import Caller


class KeyProblem(enum.StrEnum):
    MISSING = "the Authorization header is missing"
    MALFORMED = "the Authorization header must be `Bearer <API key>`"
    UNKNOWN = "the API key is unknown or revoked"


class AuthFailed(Exception):
    def __init__(self, problem: KeyProblem) -> None:
        super().__init__(problem.value)
        self.problem = problem


class Authenticator:
    """Checks keys by their keyed hash (HMAC-SHA256 under the server pepper), compared in
    constant time (see `store.accounts.caller_for_key`).

    `cached=True` may answer from a short-lived in-process cache of known keys; callers that
    use it must re-check the key in their write transaction (the send paths do), so a revoked
    key is still refused at once. Unknown keys are never cached."""

    CACHE_SECONDS = 30.0
    CACHE_MAX = 10_000

    def __init__(self, db: Database, pepper: bytes) -> None:
        self._db = db
        self._pepper = pepper
        self._cache: dict[bytes, tuple[Caller, float]] = {}

    def hash(self, key: str) -> bytes:
        return keys.hash_key(self._pepper, key)

    async def authenticate(self, header: str | None, *, cached: bool = False) -> Caller:
        if not header:
            raise AuthFailed(KeyProblem.MISSING)
        scheme, _, key = header.strip().partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key or not keys.is_well_formed(key):
            raise AuthFailed(KeyProblem.MALFORMED if not key else KeyProblem.UNKNOWN)
        digest = self.hash(key)
        now = time.monotonic()
        if cached:
            hit = self._cache.get(digest)
            if hit is not None and hit[1] > now:
                return hit[0]
        caller = await self._db.read(
            accounts_store.caller_for_key, keys.display_prefix(key), digest
        )
        if caller is None:
            self._cache.pop(digest, None)
            raise AuthFailed(KeyProblem.UNKNOWN)
        if len(self._cache) >= self.CACHE_MAX:
            self._cache.clear()
        self._cache[digest] = (caller, now + self.CACHE_SECONDS)
        return caller

    def forget(self, caller: Caller) -> None:
        """Drops a key from the cache (it was found revoked)."""
        for digest, (cached, _) in list(self._cache.items()):
            if cached.key_id == caller.key_id:
                del self._cache[digest]
