"""The dispatch loop: claim due messages, hand them to providers, record what happened.

Several dispatchers (in one process or many, on one PostgreSQL database) never hold the same
message at once: claiming takes a lease with `FOR UPDATE SKIP LOCKED`, and outcomes are
recorded only under the lease (see `store.messages`). A dispatcher that dies mid-batch
leaves its messages to be claimed again when their lease ends: at-least-once delivery,
duplicates bounded by the messages that were in flight.

Batches are pipelined: while one batch waits on its provider (an SMSC's window, an HTTP
API), the next is claimed, up to `concurrency` messages in flight.

A provider that is down (an SMSC that refuses the bind or cannot be reached) does not use up
the retry attempts of the messages waiting for it: while no provider is up, nothing is
claimed; a message whose route has no provider up (while others are) goes back to the queue
without spending an attempt, to be looked at again after as long as the provider has been
down (1 to 30 seconds, see `DOWN_DELAY`). So an outage of any length delays messages but
fails none; once the provider binds again they go. Only errors of a provider that was up
spend attempts (a link lost mid-submit, throttling, timeouts): those follow the retry
policy and fail the message when it runs out.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable

from textgate.delivery.base import (
    Outgoing,
    PermanentError,
    Provider,
    Submitted,
    TransientError,
    submit_all,
)
from textgate.delivery.router import NoRoute, Router
from textgate.domain.phones import mask_phone
from textgate.domain.retry import RetryPolicy
from textgate.domain.states import MessageKind
from textgate.domain.text import Encoding
from textgate.metrics import Metrics
from textgate.store import messages
from textgate.store.db import Database, now_ms
from textgate.store.records import Claimed
from textgate.worker.throttle import Throttle

log = logging.getLogger("textgate.worker")

Outcome = (
    messages.SubmitOutcome | messages.RetryOutcome | messages.FailOutcome | messages.DeferOutcome
)
#: Messages whose outcomes are recorded together, at most.
RECORD_EVERY = 100
#: Seconds a message whose providers are all down waits before it is looked at again:
#: as long as the provider has been down, within these bounds.
DOWN_DELAY = (1.0, 30.0)


class Dispatcher:
    def __init__(
        self,
        db: Database,
        router: Router,
        *,
        policy: RetryPolicy,
        batch: int = 200,
        concurrency: int = 1000,
        lease_seconds: float = 60.0,
        poll_interval: float = 0.2,
        linger: float = 0.0,
        clock: Callable[[], int] = now_ms,
        rand: Callable[[], float] = random.random,
        metrics: Metrics | None = None,
        throttle: Throttle | None = None,
        reveal: Callable[[Claimed], Claimed | None] | None = None,
    ) -> None:
        self._db = db
        self._router = router
        self._policy = policy
        self._batch = batch
        self._concurrency = max(concurrency, batch)
        self._throttle = throttle or Throttle({})
        #: Opens the sealed text of a verification SMS (None: it cannot be opened).
        self._reveal = reveal
        limit = self._throttle.in_flight_limit(lease_seconds)
        if limit is not None:  # no message may wait for its provider's cap past its lease
            self._batch = min(self._batch, limit)
            self._concurrency = min(self._concurrency, limit)
        self._lease_ms = int(lease_seconds * 1000)
        self._poll = poll_interval
        self._linger = linger
        self._clock = clock
        self._rand = rand
        self._metrics = metrics
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        self._in_flight = 0
        self._paused = False
        self._down_since: dict[int, float] = {}
        self.submitted = 0

    def wake(self) -> None:
        """New messages were queued in this process: look now instead of at the next poll."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        log.info("worker started", extra={"action": "worker_started"})
        batches: set[asyncio.Task[None]] = set()
        while not stop.is_set():
            room = self._concurrency - self._in_flight
            if room < self._batch:
                self._room.clear()
                await self._room.wait()
                continue
            if not self._any_provider_up():
                await asyncio.sleep(self._poll)  # claim nothing while no provider can take it
                continue
            try:
                claimed = await self._claim(self._batch)
                claimed_at = time.monotonic()
            except Exception:
                log.exception("claim failed", extra={"action": "claim_failed"})
                await asyncio.sleep(1.0)
                continue
            if claimed:
                self._in_flight += len(claimed)
                # In slices, each recorded as soon as its own submits are answered: the
                # first ones need not wait for the whole batch (nor their receipts be kept).
                for start in range(0, len(claimed), RECORD_EVERY):
                    task = asyncio.create_task(
                        self._dispatch(claimed[start : start + RECORD_EVERY])
                    )
                    batches.add(task)
                    task.add_done_callback(batches.discard)
            if len(claimed) < self._batch:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=self._poll)
                except TimeoutError:
                    pass
                if claimed and self._linger > 0:
                    # Messages keep coming: let more of them gather before the next claim.
                    await asyncio.sleep(max(0.0, claimed_at + self._linger - time.monotonic()))
        if batches:
            await asyncio.gather(*batches, return_exceptions=True)
        log.info("worker stopped", extra={"action": "worker_stopped"})

    async def run_once(self) -> int:
        """Claims one batch, submits it and records the outcomes; answers how many it took."""
        claimed = await self._claim(self._batch)
        if claimed:
            self._in_flight += len(claimed)
            await self._dispatch(claimed)
        return len(claimed)

    def _any_provider_up(self) -> bool:
        up = any(p.health().up for p in self._router.providers.values())
        if up == self._paused:
            self._paused = not up
            log.log(
                logging.WARNING if self.submitted else logging.INFO,
                "no provider is up: messages wait" if not up else "a provider is up",
                extra={"action": "worker_paused" if not up else "worker_resumed"},
            )
        return up

    async def _claim(self, limit: int) -> list[Claimed]:
        return await self._db.write(
            messages.claim, now=self._clock(), lease_ms=self._lease_ms, limit=limit
        )

    async def _dispatch(self, claimed: list[Claimed]) -> None:
        started = time.perf_counter()
        try:
            outcomes = await self._submit(claimed)
            await self._record(outcomes)
        except Exception:
            # Nothing recorded: the lease runs out and the messages are claimed again.
            log.exception("dispatch failed", extra={"action": "dispatch_failed"})
        finally:
            self._in_flight -= len(claimed)
            self._room.set()
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "batch dispatched",
                extra={
                    "action": "batch_dispatched",
                    "n": len(claimed),
                    "ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )

    async def _submit(self, claimed: list[Claimed]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        groups: dict[str, tuple[Provider, list[Claimed]]] = {}
        pick = self._router.picker()  # remembers routes and health for this batch
        up = {id(p): p.health().up for p in self._router.providers.values()}
        now = time.monotonic()
        for key, is_up in up.items():
            if is_up:
                self._down_since.pop(key, None)
            else:
                self._down_since.setdefault(key, now)
        for message in claimed:
            if message.kind is MessageKind.OTP and self._reveal is not None:
                opened = self._reveal(message)
                if opened is None:
                    reason = "the verification SMS could not be decrypted (code key differs)"
                    outcomes.append(messages.FailOutcome(message.id, message.attempts, reason))
                    continue
                message = opened
            try:
                provider = pick(message.to_number, message.region)
            except NoRoute as exc:
                outcomes.append(messages.FailOutcome(message.id, message.attempts, str(exc)))
                continue
            if not up.get(id(provider), True):
                low, high = DOWN_DELAY
                delay = min(high, max(low, now - self._down_since[id(provider)]))
                delay *= 0.75 + 0.5 * self._rand()
                outcomes.append(
                    messages.DeferOutcome(
                        message.id,
                        message.attempts,
                        self._clock() + int(delay * 1000),
                        f"waiting: {provider.name} is down",
                    )
                )
                continue
            groups.setdefault(provider.name, (provider, []))[1].append(message)

        async def run(provider: Provider, batch: list[Claimed]) -> list[Outcome]:
            answers = await self._throttle.paced(
                provider.name,
                [_outgoing(m) for m in batch],
                lambda part: submit_all(provider, part),
            )
            return [
                self._outcome(provider, m, answer) for m, answer in zip(batch, answers, strict=True)
            ]

        for answers in await asyncio.gather(*(run(p, b) for p, b in groups.values())):
            outcomes.extend(answers)
        return outcomes

    def _outcome(
        self, provider: Provider, message: Claimed, answer: Submitted | BaseException
    ) -> Outcome:
        if isinstance(answer, Submitted):
            return messages.SubmitOutcome(
                message.id,
                message.attempts,
                provider.name,
                answer.provider_message_id,
                answer.part_ids,
            )
        if isinstance(answer, PermanentError):
            log.warning(
                "message failed",
                extra={
                    "action": "sms_failed",
                    "message_id": message.id,
                    "to": mask_phone(message.to_number),
                    "reason": answer.reason,
                },
            )
            return messages.FailOutcome(message.id, message.attempts, answer.reason, provider.name)
        if isinstance(answer, TransientError):
            reason, retry_after = answer.reason, answer.retry_after
        else:
            reason, retry_after = f"unexpected: {answer!r}", None
            log.error(
                "provider raised an unexpected error",
                extra={"action": "provider_error", "provider": provider.name, "error": reason},
            )
        delay = self._policy.next_delay(
            message.attempts, retry_after=retry_after, rand=self._rand()
        )
        if delay is None:
            return messages.FailOutcome(
                message.id,
                message.attempts,
                f"gave up after {message.attempts} attempts: {reason}",
                provider.name,
            )
        log.info(
            "message will be retried",
            extra={"action": "sms_retry", "message_id": message.id, "reason": reason},
        )
        return messages.RetryOutcome(
            message.id, message.attempts, self._clock() + int(delay * 1000), reason
        )

    async def _record(self, outcomes: list[Outcome]) -> None:
        submitted = [o for o in outcomes if isinstance(o, messages.SubmitOutcome)]
        retries = [o for o in outcomes if isinstance(o, messages.RetryOutcome)]
        failures = [o for o in outcomes if isinstance(o, messages.FailOutcome)]
        deferred = [o for o in outcomes if isinstance(o, messages.DeferOutcome)]
        await self._db.write(
            messages.record,
            now=self._clock(),
            submitted=submitted,
            retries=retries,
            failures=failures,
            deferred=deferred,
        )
        self.submitted += len(submitted)
        if self._metrics is not None:
            counts: dict[str, int] = {}
            for s in submitted:
                counts[s.provider] = counts.get(s.provider, 0) + 1
            for name, n in counts.items():
                self._metrics.submitted.labels(name).inc(n)
            self._metrics.retried.inc(len(retries))
            self._metrics.failed.inc(len(failures))


_ENCODINGS = {e.value: e for e in Encoding}


def _outgoing(message: Claimed) -> Outgoing:
    return Outgoing(
        message_id=message.id,
        to=message.to_number,
        text=message.body,
        encoding=_ENCODINGS[message.encoding],
        segments=message.segments,
        attempt=message.attempts,
        secret=message.kind == MessageKind.OTP,
    )
