"""Group commit: many concurrent requests paid for and queued in one transaction.

Each request hands its `NewMessage` to the committer and waits. One task takes everything
that is waiting (up to `max_batch`), runs `messages.accept` in one write transaction and
answers each waiter. While a transaction is in flight, new requests gather for the next
one, so under load one fsync serves hundreds of messages, and every answer is given only
after its message is on disk.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from textgate.store import messages
from textgate.store.db import Database, now_ms
from textgate.store.records import Accepted, NewMessage

log = logging.getLogger("textgate.services.committer")

Outcome = Accepted | messages.Rejected


class Committer:
    def __init__(
        self,
        db: Database,
        *,
        max_batch: int = 512,
        linger: float = 0.0,
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        self._linger = linger
        self._db = db
        self._max_batch = max_batch
        self.on_commit = on_commit
        self._waiting: list[tuple[NewMessage, asyncio.Future[Outcome]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="textgate-committer")

    async def stop(self) -> None:
        """Commits what is waiting, then stops."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def accept(self, item: NewMessage) -> Outcome:
        if self._closing or self._task is None:
            raise RuntimeError("the committer is not running")
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        self._wake.set()
        return await future

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._linger and len(self._waiting) < self._max_batch:
                # Let requests already on their way join this transaction.
                await asyncio.sleep(self._linger)
            while self._waiting:
                batch = self._waiting[: self._max_batch]
                del self._waiting[: self._max_batch]
                await self._commit(batch)
            if self._closing:
                return

    async def _commit(self, batch: list[tuple[NewMessage, asyncio.Future[Outcome]]]) -> None:
        started = time.perf_counter()
        try:
            outcomes = await self._db.write(
                messages.accept, [item for item, _ in batch], now=now_ms()
            )
        except Exception as exc:
            if len(batch) > 1:
                # One bad message (or a passing fault) must not fail the others with it:
                # each goes again on its own, and only what fails alone is refused.
                log.warning(
                    "accept failed: the batch goes again a message at a time",
                    extra={"action": "accept_split", "n": len(batch), "error": type(exc).__name__},
                )
                for one in batch:
                    await self._commit([one])
                return
            log.exception("accept failed", extra={"action": "accept_failed", "n": len(batch)})
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "batch committed",
                extra={
                    "action": "batch_committed",
                    "n": len(batch),
                    "ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if not future.done():
                future.set_result(outcome)
        if self.on_commit is not None:
            self.on_commit()
