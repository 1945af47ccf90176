"""The bulk use case: one text to a list of numbers, as one job that is checked, priced,
paid for and queued all at once (or not at all), then followed and perhaps cancelled.

Sorting a list is CPU work (each number is parsed and checked against its country's rules:
about 10 µs each here), so it runs off the event loop; a big list is parsed on worker
processes side by side (`NumberParser`), then the job is written in one transaction that
keeps the loop free too (`Database.write_long`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import signal
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.exc import IntegrityError

from textgate.domain import bulk, money, text
from textgate.domain.pricing import PriceTable
from textgate.errors import AuthError, Conflict, InsufficientCredits, InvalidRequest, NotFound
from textgate.store import bulk as bulk_store
from textgate.store import bulk_cancel
from textgate.store.db import Database, now_ms

log = logging.getLogger("textgate.services.bulk")

#: Lists shorter than this are parsed on one thread: starting processes would cost more.
PARALLEL_FROM = 20_000
FIELD = "phone_numbers"


class Sender(Protocol):
    """Who starts a job: an API caller (`records.Caller`), or a console user (no key)."""

    @property
    def account_id(self) -> int: ...

    @property
    def key_id(self) -> int | None: ...


@dataclass(frozen=True, slots=True)
class Started:
    job_id: int
    account_id: int
    accepted: int
    rejected: bulk.Tally
    price_micros: int
    segments: int
    encoding: text.Encoding
    created_at: int


@dataclass(frozen=True, slots=True)
class AlreadyStarted:
    """A console start whose one-time token had started a job: that job (nothing charged)."""

    job_id: int


def rejection_fields(tally: bulk.Tally) -> dict[str, Any]:
    """What an answer says of the refused numbers: exact counts, the first few listed."""
    return {
        "rejected": tally.total,
        "rejected_by_reason": {reason.value: n for reason, n in tally.counts.items()},
        "rejections": [
            {
                "index": r.index,
                "phone_number": r.phone_number,
                "reason": r.reason.value,
                **({"detail": r.detail} if r.detail else {}),
            }
            for r in tally.samples
        ],
    }


class NumberParser:
    """Parses numbers (`domain.bulk.parse_many`): a big list on `processes` worker
    processes at once, started on first need and kept; a small one where it is called."""

    def __init__(self, processes: int) -> None:
        self._processes = processes
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def parse(self, numbers: Sequence[str]) -> list[bulk.Parsed]:
        """Blocking: call it off the event loop."""
        if self._processes < 2 or len(numbers) < PARALLEL_FROM:
            return bulk.parse_many(numbers)
        pool = self._started()
        size = -(-len(numbers) // self._processes)
        parts = [numbers[i : i + size] for i in range(0, len(numbers), size)]
        try:
            return [p for part in pool.map(bulk.parse_many, parts) for p in part]
        except concurrent.futures.process.BrokenProcessPool:
            log.warning("parser processes died", extra={"action": "bulk_parser_broken"})
            with self._lock:
                if self._pool is pool:
                    self._pool = None
            pool.shutdown(wait=False)
            return bulk.parse_many(numbers)

    def _started(self) -> concurrent.futures.ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                # The platform's default start method: on Linux a fork, which starts in
                # milliseconds and shares this process's memory (phonenumbers' data
                # included) until written. The children only run `parse_many`.
                self._pool = concurrent.futures.ProcessPoolExecutor(
                    self._processes, initializer=_parser_process, initargs=(os.getpid(),)
                )
            return self._pool

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def _parser_process(parent: int) -> None:
    """Set-up of a parser process: signals are the parent's to handle (a Ctrl-C reaches
    the whole process group; the parent's wake-up socket is not ours to write to), and it
    ends when the parent does, however the parent ended."""
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(0)

    threading.Thread(target=watch, name="textgate-parser-watch", daemon=True).start()


class BulkService:
    def __init__(
        self, db: Database, prices: PriceTable, *, max_recipients: int, parse_processes: int
    ) -> None:
        self._db = db
        self._prices = prices
        self.max_recipients = max_recipients
        self._parser = NumberParser(parse_processes)

    async def start(self, caller: Sender, numbers: Sequence[str], body: str) -> Started:
        """Checks, prices, pays for and queues a job; raises InvalidRequest (nothing to send,
        too many numbers, bad text), InsufficientCredits or AuthError (key revoked)."""
        started = await self._start(caller, numbers, body, None)
        assert isinstance(started, Started)  # without a token a start is never a repeat
        return started

    async def start_once(
        self, caller: Sender, numbers: Sequence[str], body: str, token: str
    ) -> Started | AlreadyStarted:
        """`start` for the console: the preview's one-time `token` starts at most one job of
        the account. Posted again (a double click, a reload), it answers the job it started
        and charges nothing; two posts at once make one job (`bulk_store.create_job`)."""
        before = await self._db.read(bulk_store.job_of_token, caller.account_id, token)
        if before is not None:
            return self._repeated(caller, before)
        try:
            return await self._start(caller, numbers, body, token)
        except IntegrityError:  # the unique index on the token, if its check was passed
            found = await self._db.read(bulk_store.job_of_token, caller.account_id, token)
            if found is None:
                raise
            return self._repeated(caller, found)

    def _repeated(self, caller: Sender, job_id: int) -> AlreadyStarted:
        log.info(
            "bulk job start repeated",
            extra={
                "action": "bulk_job_start_repeated",
                "job_id": job_id,
                "account_id": caller.account_id,
            },
        )
        return AlreadyStarted(job_id)

    async def _start(
        self, caller: Sender, numbers: Sequence[str], body: str, token: str | None
    ) -> Started | AlreadyStarted:
        if not numbers:
            raise InvalidRequest(f"Field {FIELD} is empty: give at least one number", field=FIELD)
        if len(numbers) > self.max_recipients:
            raise InvalidRequest(
                f"Field {FIELD} has {len(numbers)} numbers; one request takes at most "
                f"{self.max_recipients}",
                field=FIELD,
            )
        info = text.analyze(body)
        began = time.perf_counter()
        sorted_out = await self.sort_out(numbers)
        recipients, tally = sorted_out.recipients, sorted_out.rejected
        if not recipients:
            raise InvalidRequest(
                f"No valid phone number in {FIELD}", field=FIELD, **rejection_fields(tally)
            )
        regions = {region for _, _, region in recipients}
        job = bulk_store.NewJob(
            account_id=caller.account_id,
            api_key_id=caller.key_id,
            body=body,
            encoding=info.encoding.value,
            segments=info.segments,
            prices={r: self._prices.price_micros(r, info.segments) for r in regions},
            rejected_invalid=tally.counts[bulk.Reason.INVALID],
            rejected_duplicate=tally.counts[bulk.Reason.DUPLICATE],
            console_token=token,
        )
        outcome = await self._db.write_long(bulk_store.create_job, job, recipients, now=now_ms())
        if isinstance(outcome, bulk_store.JobRepeated):
            return self._repeated(caller, outcome.job_id)
        for position in outcome.opted_out:
            index = recipients[position][0]
            tally.add(index, numbers[index], bulk.Reason.OPTED_OUT)
        if isinstance(outcome, bulk_store.JobRefused):
            raise _refusal(outcome, tally)
        log.info(
            "bulk job accepted",
            extra={
                "action": "bulk_job_accepted",
                "job_id": outcome.job_id,
                "account_id": caller.account_id,
                "recipients": outcome.recipients,
                "rejected": tally.total,
                "ms": round((time.perf_counter() - began) * 1000, 1),
            },
        )
        return Started(
            job_id=outcome.job_id,
            account_id=caller.account_id,
            accepted=outcome.recipients,
            rejected=tally,
            price_micros=outcome.price_micros,
            segments=info.segments,
            encoding=info.encoding,
            created_at=outcome.created_at,
        )

    async def sort_out(self, numbers: Sequence[str]) -> bulk.Sorted:
        """`numbers` split into recipients and refused ones (invalid, duplicate), off the
        event loop; opt-outs are the store's to find (`start`, the console's preview)."""
        return await asyncio.to_thread(self._sort_out, numbers)

    def _sort_out(self, numbers: Sequence[str]) -> bulk.Sorted:
        unique = bulk.distinct(numbers)
        parsed = dict(zip(unique, self._parser.parse(unique), strict=True))
        return bulk.sort_out(numbers, parsed)

    async def job(self, account_id: int, job_id: int) -> bulk_store.Job:
        job = (
            await self._db.read(bulk_store.get_job, job_id, account_id) if _is_id(job_id) else None
        )
        if job is None:
            raise NotFound(f"No bulk job {job_id} in this account")
        return job

    async def cancel(self, account_id: int, job_id: int) -> bulk_cancel.Cancelled:
        """Takes the job's unsent recipients out of the queue and credits them back."""
        outcome = (
            await self._db.write_long(bulk_cancel.cancel, job_id, account_id, now=now_ms())
            if _is_id(job_id)
            else bulk_cancel.CancelRefusal.NOT_FOUND
        )
        if outcome is bulk_cancel.CancelRefusal.NOT_FOUND:
            raise NotFound(f"No bulk job {job_id} in this account")
        if outcome is bulk_cancel.CancelRefusal.ALREADY_CANCELLED:
            raise Conflict(f"Bulk job {job_id} was already cancelled")
        if outcome is bulk_cancel.CancelRefusal.FINISHED:
            raise Conflict(f"Bulk job {job_id} has finished: every recipient was sent")
        assert isinstance(outcome, bulk_cancel.Cancelled)
        log.info(
            "bulk job cancelled",
            extra={
                "action": "bulk_job_cancelled",
                "job_id": job_id,
                "account_id": account_id,
                "cancelled": outcome.cancelled,
                "refunded_micros": outcome.refunded_micros,
            },
        )
        return outcome

    async def pending(self, account_id: int) -> int:
        """Recipients of the account's bulk jobs not sent yet (TextFlow's bulk-count)."""
        return await self._db.read(bulk_store.pending_count, account_id)

    def close(self) -> None:
        self._parser.close()


def _is_id(job_id: int) -> bool:
    """Whether `job_id` could be a job's id (a 64-bit key): others are not even looked up."""
    return 0 < job_id < 1 << 63


def _refusal(refused: bulk_store.JobRefused, tally: bulk.Tally) -> Exception:
    if refused.refusal is bulk_store.Refusal.KEY_REVOKED:
        return AuthError("Invalid API key", status=400, reason="the API key was revoked")
    if refused.refusal is bulk_store.Refusal.NOBODY_LEFT:
        return InvalidRequest(
            f"Every valid number in {FIELD} opted out: nothing to send",
            field=FIELD,
            **rejection_fields(tally),
        )
    price, balance = refused.price_micros, refused.balance_micros
    missing = price - balance
    return InsufficientCredits(
        f"Not enough credits for this bulk job: it costs {money.format_credits(price)}"
        f" credits, the balance is {money.format_credits(balance)},"
        f" {money.format_credits(missing)} missing",
        price=float(money.from_micros(price)),
        credits=money.format_credits(balance),
        missing=money.format_credits(missing),
    )
