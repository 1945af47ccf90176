"""The dispatch loop: claim due messages, hand them to providers, record what happened.

Several dispatchers (in one process or many, on one PostgreSQL database) never hold the same
message at once: claiming takes a lease with `FOR UPDATE SKIP LOCKED`, and outcomes are
recorded only under the lease (see `store.messages`). A dispatcher that dies mid-batch
leaves its messages to be claimed again when their lease ends: at-least-once delivery,
duplicates bounded by the messages that were in flight.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable

from textgate.delivery.base import Outgoing, PermanentError, TransientError
from textgate.delivery.router import NoRoute, Router
from textgate.domain.phones import mask_phone
from textgate.domain.retry import RetryPolicy
from textgate.domain.states import MessageKind
from textgate.domain.text import Encoding
from textgate.metrics import Metrics
from textgate.store import messages
from textgate.store.db import Database, now_ms
from textgate.store.records import Claimed

log = logging.getLogger("textgate.worker")


class Dispatcher:
    def __init__(
        self,
        db: Database,
        router: Router,
        *,
        policy: RetryPolicy,
        batch: int = 200,
        lease_seconds: float = 60.0,
        poll_interval: float = 0.2,
        clock: Callable[[], int] = now_ms,
        rand: Callable[[], float] = random.random,
        metrics: Metrics | None = None,
    ) -> None:
        self._metrics = metrics
        self._db = db
        self._router = router
        self._policy = policy
        self._batch = batch
        self._lease_ms = int(lease_seconds * 1000)
        self._poll = poll_interval
        self._clock = clock
        self._rand = rand
        self._wake = asyncio.Event()
        self.submitted = 0

    def wake(self) -> None:
        """New messages were queued in this process: look now instead of at the next poll."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        log.info("worker started", extra={"action": "worker_started"})
        while not stop.is_set():
            try:
                handled = await self.run_once()
            except Exception:
                log.exception("dispatch failed", extra={"action": "dispatch_failed"})
                handled = 0
                await asyncio.sleep(1.0)
            if handled < self._batch:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=self._poll)
                except TimeoutError:
                    pass
        log.info("worker stopped", extra={"action": "worker_stopped"})

    async def run_once(self) -> int:
        """Claims one batch, submits it, records the outcomes. Answers how many it took."""
        started = time.perf_counter()
        claimed = await self._db.write(
            messages.claim, now=self._clock(), lease_ms=self._lease_ms, limit=self._batch
        )
        if not claimed:
            return 0
        results = await asyncio.gather(*(self._submit(c) for c in claimed))
        submitted = [r for r in results if isinstance(r, messages.SubmitOutcome)]
        retries = [r for r in results if isinstance(r, messages.RetryOutcome)]
        failures = [r for r in results if isinstance(r, messages.FailOutcome)]
        await self._db.write(
            messages.record,
            now=self._clock(),
            submitted=submitted,
            retries=retries,
            failures=failures,
        )
        self.submitted += len(submitted)
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "batch dispatched",
                extra={
                    "action": "batch_dispatched",
                    "n": len(claimed),
                    "ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )
        if self._metrics is not None:
            for s in submitted:
                self._metrics.submitted.labels(s.provider).inc()
            self._metrics.retried.inc(len(retries))
            self._metrics.failed.inc(len(failures))
        return len(claimed)

    async def _submit(
        self, message: Claimed
    ) -> messages.SubmitOutcome | messages.RetryOutcome | messages.FailOutcome:
        try:
            provider = self._router.pick(message.to_number, message.region)
        except NoRoute as exc:
            return messages.FailOutcome(message.id, message.attempts, str(exc))
        outgoing = Outgoing(
            message_id=message.id,
            to=message.to_number,
            text=message.body,
            encoding=Encoding(message.encoding),
            segments=message.segments,
            attempt=message.attempts,
            secret=message.kind == MessageKind.OTP,
        )
        try:
            done = await provider.submit(outgoing)
        except PermanentError as exc:
            log.warning(
                "message failed",
                extra={
                    "action": "sms_failed",
                    "message_id": message.id,
                    "to": mask_phone(message.to_number),
                    "reason": exc.reason,
                },
            )
            return messages.FailOutcome(message.id, message.attempts, exc.reason, provider.name)
        except Exception as exc:
            reason = exc.reason if isinstance(exc, TransientError) else f"unexpected: {exc!r}"
            retry_after = exc.retry_after if isinstance(exc, TransientError) else None
            delay = self._policy.next_delay(
                message.attempts, retry_after=retry_after, rand=self._rand()
            )
            if delay is None:
                return messages.FailOutcome(
                    message.id, message.attempts, f"gave up after {message.attempts} attempts: "
                    f"{reason}", provider.name
                )
            log.info(
                "message will be retried",
                extra={"action": "sms_retry", "message_id": message.id, "reason": reason},
            )
            return messages.RetryOutcome(
                message.id, message.attempts, self._clock() + int(delay * 1000), reason
            )
        return messages.SubmitOutcome(
            message.id, message.attempts, provider.name, done.provider_message_id
        )
