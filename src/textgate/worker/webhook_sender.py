"""The webhook sender: delivers the outbox's events (store.webhook_events) to each account's
webhook, retries them, and prunes old ones.

It runs beside the dispatcher in every worker process. Due events are claimed under a lease
(`FOR UPDATE SKIP LOCKED` on PostgreSQL), so several senders never hold one event at once;
the lease is longer than a delivery can take (`WebhookService.longest_send`), and an event
whose lease could run out before its delivery ends is not sent. A sender that dies leaves
its events to be claimed again when their lease ends: delivery is at-least-once, and an event
keeps its id across attempts so receivers can de-duplicate.

At most `concurrency` deliveries are in flight, and one account at most half of them, so a
receiver that is slow or down cannot hold up the others; claims take due events in turns
across accounts. An answer that is not a 2xx (or none within the timeout) is tried again
after the retry policy's wait (exponential, with jitter), until the attempts run out: then
the event is `failed` (the console can retry it). Outcomes are written in batches, a few
milliseconds apart, to keep write transactions few.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from textgate.domain import webhook_events as rules
from textgate.domain.retry import RetryPolicy
from textgate.domain.webhook_events import EventStatus
from textgate.metrics import Metrics
from textgate.services.webhooks import Delivery, WebhookService
from textgate.store import webhook_events as store
from textgate.store.db import Database, now_ms

log = logging.getLogger("textgate.worker.webhooks")

DAY_MS = 86_400_000
#: Seconds in-flight deliveries get to finish when the worker stops; then they are
#: cancelled (their events are sent again once their lease ends).
STOP_GRACE = 2.0
URL_REMOVED = "The webhook URL was removed"


class WebhookSender:
    def __init__(
        self,
        db: Database,
        webhooks: WebhookService,
        *,
        policy: RetryPolicy,
        concurrency: int = 20,
        lease_seconds: float = 60.0,
        poll_interval: float = 0.5,
        retention_days: int = 7,
        prune_interval: float = 3600.0,
        record_linger: float = 0.02,
        clock: Callable[[], int] = now_ms,
        rand: Callable[[], float] = random.random,
        metrics: Metrics | None = None,
    ) -> None:
        self._db = db
        self._webhooks = webhooks
        self._policy = policy
        self._concurrency = max(1, concurrency)
        self._per_account = max(1, (self._concurrency + 1) // 2)
        # Longer than any delivery, with room to record its outcome.
        longest = webhooks.longest_send
        self._lease_ms = int(max(lease_seconds, 3 * longest) * 1000)
        self._longest_ms = int(longest * 1000)
        self._poll = poll_interval
        self._retention_ms = retention_days * DAY_MS
        self._prune_interval = prune_interval
        self._linger = record_linger
        self._clock = clock
        self._rand = rand
        self._metrics = metrics
        self._in_flight: dict[int, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._outcomes: list[store.Outcome] = []
        self._has_outcomes = asyncio.Event()
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        self._closing = False
        #: Counters for tests.
        self.delivered = 0
        self.failed = 0

    def wake(self) -> None:
        """Look for due events now (events were made due in this process, or stop was set)."""
        self._wake.set()
        self._room.set()

    @property
    def in_flight(self) -> int:
        return sum(self._in_flight.values())

    async def run(self, stop: asyncio.Event) -> None:
        log.info("webhook sender started", extra={"action": "webhook_sender_started"})
        self._closing = False
        recorder = asyncio.create_task(self._record_loop(), name="textgate-webhook-outcomes")
        pruner = asyncio.create_task(self._prune_loop(), name="textgate-webhook-prune")
        try:
            while not stop.is_set():
                room = self._concurrency - self.in_flight
                if room <= 0:
                    self._room.clear()
                    await self._room.wait()
                    continue
                try:
                    claimed = await self._claim(room)
                except Exception:
                    log.exception("webhook claim failed", extra={"action": "webhook_claim_failed"})
                    await asyncio.sleep(1.0)
                    continue
                for event in claimed:
                    self._start(event)
                if len(claimed) < room:
                    self._wake.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), timeout=self._poll)
        finally:
            pruner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pruner
            if self._tasks:
                _, late = await asyncio.wait(set(self._tasks), timeout=STOP_GRACE)
                for task in late:
                    task.cancel()
                await asyncio.gather(*late, return_exceptions=True)
            self._closing = True
            self._has_outcomes.set()
            await recorder
            log.info("webhook sender stopped", extra={"action": "webhook_sender_stopped"})

    async def run_once(self) -> int:
        """Claims due events (up to `concurrency`), delivers them and records the outcomes;
        answers how many it took."""
        claimed = await self._claim(self._concurrency)
        for event in claimed:
            self._start(event)
        if self._tasks:
            await asyncio.gather(*self._tasks)
        await self._flush()
        return len(claimed)

    async def prune(self) -> int:
        """Deletes delivered and failed events older than the retention; answers how many."""
        before = self._clock() - self._retention_ms
        total = 0
        while True:
            n = await self._db.write(store.prune, before=before)
            total += n
            if n < store.PRUNE_CHUNK:
                break
        if total:
            log.info(
                "old webhook events deleted",
                extra={"action": "webhook_events_pruned", "n": total},
            )
        return total

    # -- inside -----------------------------------------------------------------------

    async def _claim(self, limit: int) -> list[store.ClaimedEvent]:
        return await self._db.write(
            store.claim,
            now=self._clock(),
            lease_ms=self._lease_ms,
            limit=limit,
            busy=dict(self._in_flight),
            per_account=self._per_account,
        )

    def _start(self, event: store.ClaimedEvent) -> None:
        self._in_flight[event.account_id] = self._in_flight.get(event.account_id, 0) + 1
        lease_end = self._clock() + self._lease_ms
        task = asyncio.create_task(self._deliver(event, lease_end))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, event: store.ClaimedEvent, lease_end: int) -> None:
        try:
            outcome = await self._attempt(event, lease_end)
        except Exception as exc:
            # A fault of ours, not the receiver's: an attempt all the same, so an event that
            # always fails this way still runs out of attempts.
            log.exception(
                "webhook delivery failed",
                extra={"action": "webhook_delivery_error", "event_id": event.id},
            )
            error = f"Not sent: {type(exc).__name__}"
            failed = Delivery(rules.event_id(event.id), event.type, None, 0, error)
            outcome = self._outcome(event, failed)
        finally:
            left = self._in_flight.get(event.account_id, 1) - 1
            if left > 0:
                self._in_flight[event.account_id] = left
            else:
                self._in_flight.pop(event.account_id, None)
            self._room.set()
        if outcome is not None:
            self._outcomes.append(outcome)
            self._has_outcomes.set()

    async def _attempt(self, event: store.ClaimedEvent, lease_end: int) -> store.Outcome | None:
        if event.url is None or event.secret_sealed is None:
            return store.Outcome(event.id, event.attempts, EventStatus.FAILED, error=URL_REMOVED)
        if self._clock() + self._longest_ms >= lease_end:
            return None  # another sender may take it before this delivery could end
        delivery = await self._webhooks.send(
            event.account_id,
            event.url,
            event.secret_sealed,
            event_id=rules.event_id(event.id),
            event_type=event.type,
            created=event.created_at // 1000,
            data=json.loads(event.payload),
        )
        return self._outcome(event, delivery)

    def _outcome(self, event: store.ClaimedEvent, delivery: Delivery) -> store.Outcome:
        extra = {
            "account_id": event.account_id,
            "event_id": delivery.event_id,
            "event": event.type,
            "attempt": event.attempts,
            "host": urlsplit(event.url or "").hostname or "?",
            "status": delivery.status,
            "elapsed_ms": delivery.elapsed_ms,
        }
        if delivery.ok:
            log.debug(
                "webhook event delivered", extra={"action": "webhook_event_delivered", **extra}
            )
            return store.Outcome(
                event.id, event.attempts, EventStatus.DELIVERED, status_code=delivery.status
            )
        delay = self._policy.next_delay(event.attempts, rand=self._rand())
        if delay is None:
            log.warning(
                "webhook event failed after %d attempts",
                event.attempts,
                extra={"action": "webhook_event_failed", "error": delivery.error, **extra},
            )
            return store.Outcome(
                event.id,
                event.attempts,
                EventStatus.FAILED,
                status_code=delivery.status,
                error=delivery.error,
            )
        log.info(
            "webhook event not delivered; next attempt in %.0f s",
            delay,
            extra={"action": "webhook_event_retry", "error": delivery.error, **extra},
        )
        return store.Outcome(
            event.id,
            event.attempts,
            EventStatus.PENDING,
            status_code=delivery.status,
            error=delivery.error,
            next_attempt_at=self._clock() + int(delay * 1000),
        )

    async def _record_loop(self) -> None:
        while True:
            await self._has_outcomes.wait()
            self._has_outcomes.clear()
            if not self._closing and self._linger > 0:
                await asyncio.sleep(self._linger)  # let a few more outcomes join
            await self._flush()
            if self._closing and not self._outcomes:
                return

    async def _flush(self) -> None:
        outcomes, self._outcomes = self._outcomes, []
        if not outcomes:
            return
        started = time.perf_counter()
        try:
            await self._db.write(store.record, outcomes, now=self._clock())
        except Exception:
            # Not recorded: the leases run out and the events are sent again.
            log.exception(
                "webhook outcomes not recorded",
                extra={"action": "webhook_record_failed", "n": len(outcomes)},
            )
            return
        delivered = sum(o.status is EventStatus.DELIVERED for o in outcomes)
        failed = sum(o.status is EventStatus.FAILED for o in outcomes)
        self.delivered += delivered
        self.failed += failed
        if self._metrics is not None:
            self._metrics.webhook_delivered.inc(delivered)
            self._metrics.webhook_retried.inc(len(outcomes) - delivered - failed)
            self._metrics.webhook_failed.inc(failed)
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "webhook outcomes recorded",
                extra={
                    "action": "webhook_outcomes_recorded",
                    "n": len(outcomes),
                    "ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )

    async def _prune_loop(self) -> None:
        while True:
            try:
                await self.prune()
            except Exception:
                log.exception(
                    "pruning webhook events failed", extra={"action": "webhook_prune_failed"}
                )
            await asyncio.sleep(self._prune_interval)
