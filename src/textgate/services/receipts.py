"""Receipts intake: the `ReceiptSink` the worker gives its providers.

Receipts can come thousands a second, so they are written in batches: each `receipt` (and
`inbound`) call queues its item and waits; one task takes everything waiting (up to
`max_batch`), applies it in one write transaction (store.receipts, store.inbound) and
answers every waiter. A provider answers the SMSC only after that (SMPP: deliver_sm_resp),
so a receipt or inbound message the SMSC was told we have is on disk; when the write fails,
the provider answers with an error and the SMSC sends it again.

A batch that fails is written again one item a transaction, so one item the database
refuses does not hold up the others.

A second task sweeps `pending_receipts` every `sweep_interval` seconds: it applies kept
receipts whose message has since been recorded, and drops those older than `pending_ttl`
(see store.receipts for why both happen).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence

from sqlalchemy.engine import Connection

from textgate.delivery.base import Inbound, Receipt
from textgate.domain.phones import mask_phone
from textgate.metrics import Metrics
from textgate.store import inbound as inbound_store
from textgate.store import receipts as receipts_store
from textgate.store.db import Database, now_ms

log = logging.getLogger("textgate.services.receipts")

Item = receipts_store.Report | inbound_store.NewInbound
#: Kept receipts the sweep looks at: those received in this many ms (the races it mends
#: last milliseconds; older ones wait for their submit or their time limit).
SWEEP_WINDOW_MS = 10 * 60 * 1000
_ID_LENGTH = 100
_ERROR_LENGTH = 64


def write(conn: Connection, items: Sequence[Item], *, now: int) -> receipts_store.Applied:
    """One batch, in the caller's transaction."""
    reports = [i for i in items if isinstance(i, receipts_store.Report)]
    messages = [i for i in items if isinstance(i, inbound_store.NewInbound)]
    applied = receipts_store.apply(conn, reports, now=now)
    inbound_store.insert(conn, messages, now=now)
    return applied


def report_of(receipt: Receipt) -> receipts_store.Report:
    """A provider's receipt as the store takes it (ids and error codes cut to size)."""
    error = receipt.error_code[:_ERROR_LENGTH] if receipt.error_code else None
    return receipts_store.Report(
        provider=receipt.provider,
        provider_message_id=receipt.provider_message_id[:_ID_LENGTH],
        state=receipt.state.value,
        error_code=error,
        detail=receipt.raw.get("stat") or receipt.raw.get("message_state"),
    )


class ReceiptIntake:
    def __init__(
        self,
        db: Database,
        *,
        max_batch: int = 2000,
        pending_ttl: float = 3600.0,
        sweep_interval: float = 5.0,
        metrics: Metrics | None = None,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self._db = db
        self._max_batch = max_batch
        self._pending_ttl_ms = int(pending_ttl * 1000)
        self._sweep_interval = sweep_interval
        self._metrics = metrics
        self._clock = clock
        self._waiting: list[tuple[Item, asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._closing = False
        #: Counters for tests and the bench.
        self.receipts = 0
        self.inbound_messages = 0
        self.kept = 0

    def start(self) -> None:
        self._closing = False
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="textgate-receipts")
        if self._sweeper is None and self._sweep_interval > 0:
            self._sweeper = asyncio.create_task(self._sweep_loop(), name="textgate-receipts-sweep")

    async def stop(self) -> None:
        """Writes what is waiting, then stops."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None

    # -- ReceiptSink ------------------------------------------------------------------

    async def receipt(self, receipt: Receipt) -> None:
        await self._enqueue(report_of(receipt))

    async def inbound(self, message: Inbound) -> None:
        log.info(
            "inbound message from %s to %s",
            mask_phone(message.from_number),
            mask_phone(message.to),
            extra={
                "action": "inbound_received",
                "provider": message.provider,
                "chars": len(message.text),
            },
        )
        await self._enqueue(
            inbound_store.NewInbound(
                provider=message.provider,
                from_number=message.from_number,
                to_number=message.to,
                text=message.text,
            )
        )

    # -- inside -----------------------------------------------------------------------

    async def _enqueue(self, item: Item) -> None:
        if self._task is None or self._task.done():
            raise RuntimeError("the receipts intake is not running")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        self._wake.set()
        await future

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._waiting:
                batch = self._waiting[: self._max_batch]
                del self._waiting[: self._max_batch]
                await self._write(batch)
            if self._closing and not self._waiting:
                return

    async def _write(self, batch: list[tuple[Item, asyncio.Future[None]]]) -> None:
        started = time.perf_counter()
        items = [item for item, _ in batch]
        try:
            applied = await self._db.write(write, items, now=self._clock())
        except Exception as exc:
            if len(batch) > 1:
                log.warning(
                    "receipt batch failed; writing its items one by one: %r",
                    exc,
                    extra={"action": "receipts_batch_failed", "n": len(batch)},
                )
                for one in batch:
                    await self._write([one])
                return
            log.exception("receipt not written", extra={"action": "receipt_failed"})
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        self._count(items, applied)
        for _, future in batch:
            if not future.done():
                future.set_result(None)
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "receipts written",
                extra={
                    "action": "receipts_written",
                    "n": len(batch),
                    "moved": applied.moved,
                    "kept": applied.kept,
                    "ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )

    def _count(self, items: Sequence[Item], applied: receipts_store.Applied) -> None:
        reports = [i for i in items if isinstance(i, receipts_store.Report)]
        self.receipts += len(reports)
        self.inbound_messages += len(items) - len(reports)
        self.kept += applied.kept
        if self._metrics is not None:
            counts: dict[str, int] = {}
            for report in reports:
                counts[report.state] = counts.get(report.state, 0) + 1
            for state, n in counts.items():
                self._metrics.receipts.labels(state).inc(n)
            if len(items) > len(reports):
                self._metrics.inbound.inc(len(items) - len(reports))

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(self._sweep_interval)
            try:
                await self.sweep()
            except Exception:
                log.exception("receipt sweep failed", extra={"action": "receipts_sweep_failed"})

    async def sweep(self) -> tuple[int, int]:
        """Applies kept receipts whose message has appeared, drops expired ones:
        (applied, dropped)."""
        now = self._clock()
        applied, dropped = await self._db.write(
            receipts_store.sweep,
            now=now,
            since=now - SWEEP_WINDOW_MS,
            expire_before=now - self._pending_ttl_ms,
        )
        if applied or dropped:
            log.info(
                "kept receipts: %d applied late, %d dropped after %ds",
                applied,
                dropped,
                self._pending_ttl_ms // 1000,
                extra={"action": "receipts_swept", "applied": applied, "dropped": dropped},
            )
        return applied, dropped
