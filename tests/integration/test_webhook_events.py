"""Status webhooks on SQLite and PostgreSQL: events written with the changes they report
(submits, failures, receipts, replies), delivered signed to a real HTTP receiver on
127.0.0.1, retried with the same id, given up on after the attempts, claimed by one sender
at a time, pruned; and nothing at all for accounts without a webhook."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Connection

from support import MakeAccount, NewAccount, hook_receiver
from textgate.app import build, create_app, running
from textgate.delivery.base import (
    Health,
    Inbound,
    Outgoing,
    PermanentError,
    Receipt,
    ReceiptSink,
    ReceiptState,
    Submitted,
)
from textgate.delivery.router import Route, Router
from textgate.domain import webhooks as signing
from textgate.domain.retry import RetryPolicy
from textgate.metrics import Metrics
from textgate.services.container import Services
from textgate.services.receipts import ReceiptIntake
from textgate.settings import Settings
from textgate.store import inbound as inbound_store
from textgate.store import messages, sql
from textgate.store import webhook_events as events_store
from textgate.store.db import Database, now_ms
from textgate.store.records import Caller
from textgate.worker.dispatcher import Dispatcher
from textgate.worker.webhook_sender import WebhookSender

SERBIA = "+381690156360"
MESSAGE_KEYS = {
    "id",
    "to",
    "kind",
    "status",
    "provider",
    "provider_message_id",
    "error",
    "segments",
    "price",
    "job_id",
    "created_at",
    "submitted_at",
    "final_at",
}


# --- helpers -------------------------------------------------------------------------------


def sender(
    svc: Services,
    *,
    attempts: int = 3,
    db: Database | None = None,
    metrics: Metrics | None = None,
    **kw: Any,
) -> WebhookSender:
    """A sender whose retries come 10 ms apart."""
    return WebhookSender(
        db or svc.db,
        svc.webhooks,
        policy=RetryPolicy(max_attempts=attempts, base_delay=0.01, max_delay=0.01, jitter=0),
        poll_interval=0.02,
        record_linger=0.005,
        metrics=metrics,
        **kw,
    )


async def drain(s: WebhookSender, timeout: float = 10.0) -> None:
    """Runs the sender until no event is pending (retries included)."""
    deadline = time.monotonic() + timeout
    while await pending(s) > 0:
        assert time.monotonic() < deadline, "events still pending"
        if await s.run_once() == 0:
            await asyncio.sleep(0.01)


async def pending(s: WebhookSender) -> int:
    return int(
        await s._db.read(
            lambda c: sql.execute(
                c, "SELECT count(*) FROM webhook_events WHERE status = 'pending'"
            ).scalar_one()
        )
    )


def rows(conn: Connection, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in sql.execute(conn, query, params)]


async def event_rows(svc: Services, account_id: int | None = None) -> list[tuple[Any, ...]]:
    where, params = ("WHERE account_id = ?", (account_id,)) if account_id is not None else ("", ())
    return await svc.db.read(
        rows,
        "SELECT id, type, status, attempts, last_status_code, last_error, message_id"
        f" FROM webhook_events {where} ORDER BY id",
        params,
    )


async def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def queue(svc: Services, user: NewAccount, to: str = SERBIA, text: str = "hi") -> int:
    caller = Caller(account_id=user.account.id, key_id=user.key_id)
    return (await svc.sender.send(caller, to, text)).message_id


async def submit_as(svc: Services, ids: dict[int, str]) -> None:
    """Claims the queued messages and records those in `ids` as submitted by `carrier`."""
    claimed = await svc.db.write(messages.claim, now=now_ms(), lease_ms=60_000, limit=1000)
    outcomes = [
        messages.SubmitOutcome(c.id, c.attempts, "carrier", ids[c.id])
        for c in claimed
        if c.id in ids
    ]
    await svc.db.write(messages.record, now=now_ms(), submitted=outcomes)


def checked(secret: str, hook: Any) -> dict[str, Any]:
    """The event, once its signature is checked with the account's secret."""
    signing.verify(secret, hook.body, hook.headers["x-textgate-signature"], now=time.time())
    event: dict[str, Any] = hook.event
    assert hook.headers["x-textgate-event"] == event["type"]
    assert hook.headers["x-textgate-event-id"] == event["id"]
    return event


def counted(metrics: Metrics, outcome: str) -> float | None:
    return metrics.registry.get_sample_value(f"textgate_webhook_events_{outcome}_total")


def in_order(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Events by id (the order they were made; deliveries run side by side)."""
    return sorted(events, key=lambda e: int(e["id"].removeprefix("evt_")))


class Scripted:
    def __init__(self, answer: Callable[[Outgoing], Submitted]) -> None:
        self.name = "scripted"
        self.answer = answer

    async def start(self, sink: ReceiptSink) -> None:
        return None

    async def submit(self, message: Outgoing) -> Submitted:
        return self.answer(message)

    async def stop(self) -> None:
        return None

    def health(self) -> Health:
        return Health(name=self.name, up=True)


def dispatcher(svc: Services, provider: object) -> Dispatcher:
    router = Router({"p": provider}, [Route(providers=("p",), prefix="+")])  # type: ignore[dict-item]
    return Dispatcher(svc.db, router, policy=RetryPolicy(max_attempts=2, base_delay=10))


# --- the worker, end to end ----------------------------------------------------------------


@pytest.fixture
async def worker(settings: Settings) -> AsyncIterator[Services]:
    """The services with the worker running (dispatcher, receipts, webhook sender)."""
    svc = build(settings)
    async with running(svc, worker=True):
        yield svc


async def test_a_message_sent_through_the_api_reaches_the_webhook_signed(
    worker: Services, settings: Settings
) -> None:
    account, key = await worker.accounts.create("hook@example.com", credits_micros=10_000_000)
    headers = {"Authorization": f"Bearer {key.secret}"}
    app = create_app(settings, services=worker)
    with hook_receiver() as receiver:
        secret = await worker.webhooks.set_url(account.id, receiver.url)
        assert secret is not None
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://textgate"
        ) as http:
            r = await http.post(
                "/api/send-sms", json={"phone_number": SERBIA, "text": "Hello"}, headers=headers
            )
            assert r.status_code == 200, r.text
            message_id = r.json()["data"]["id"]
            bulk = await http.post(
                "/api/bulk-sms",
                json={"phone_numbers": ["+381690156361", "+381690156362"], "text": "Sale"},
                headers=headers,
            )
            assert bulk.status_code == 200, bulk.text
            job_id = bulk.json()["job_id"]

        await eventually(lambda: len(receiver.got) >= 3)
        by_message = {h.event["data"]["id"]: h for h in receiver.got}
        event = checked(secret, by_message[message_id])
        assert event["type"] == "message.sent"
        assert event["id"].startswith("evt_") and isinstance(event["created"], int)
        data = event["data"]
        assert set(data) == MESSAGE_KEYS
        assert data["to"] == SERBIA and data["status"] == "submitted"
        assert data["provider"] == "console" and data["kind"] == "sms"
        assert data["price"] == 0.15 and data["segments"] == 1 and data["error"] is None
        assert data["job_id"] is None and data["submitted_at"] >= data["created_at"]
        bulk_events = [checked(secret, h).get("data") for h in receiver.got]
        jobs = {d["to"]: d["job_id"] for d in bulk_events if d is not None and d["kind"] == "bulk"}
        assert jobs == {"+381690156361": job_id, "+381690156362": job_id}

        # Recorded as delivered, once.
        await eventually(lambda: counted(worker.metrics, "delivered") == 3)
        found = await event_rows(worker, account.id)
        assert len(found) == 3 and {r[2:5] for r in found} == {("delivered", 1, 200)}
        assert len(receiver.got) == 3


# --- receipts, failures, replies -----------------------------------------------------------


async def test_receipts_make_delivered_and_failed_events(
    services: Services, make_account: MakeAccount
) -> None:
    user = await make_account()
    with hook_receiver() as receiver:
        secret = await services.webhooks.set_url(user.account.id, receiver.url)
        assert secret is not None
        ids = [await queue(services, user, f"+38169015636{n}") for n in range(5)]
        await submit_as(services, {mid: f"S{n}" for n, mid in enumerate(ids)})
        intake = ReceiptIntake(services.db)
        intake.start()
        await intake.receipt(Receipt("carrier", "S0", ReceiptState.DELIVERED))
        await intake.receipt(Receipt("carrier", "S1", ReceiptState.UNDELIVERED, "001"))
        await intake.receipt(Receipt("carrier", "S2", ReceiptState.EXPIRED, "004"))
        await intake.receipt(Receipt("carrier", "S3", ReceiptState.REJECTED, "002"))
        await intake.receipt(Receipt("carrier", "S4", ReceiptState.PENDING))  # nothing final
        await intake.receipt(Receipt("carrier", "S0", ReceiptState.UNDELIVERED))  # too late
        await intake.stop()

        await drain(sender(services))

        got = in_order([checked(secret, h) for h in receiver.got])
    assert [e["type"] for e in got] == ["message.sent"] * 5 + [
        "message.delivered",
        "message.failed",
        "message.failed",
        "message.failed",
    ]
    finals = [(e["data"]["id"], e["data"]["status"], e["data"]["error"]) for e in got[5:]]
    assert finals == [
        (ids[0], "delivered", None),
        (ids[1], "undelivered", "001"),
        (ids[2], "expired", "004"),
        (ids[3], "undelivered", "rejected: 002"),
    ]
    assert all(e["data"]["final_at"] is not None for e in got[5:])
    assert all(e["data"]["provider_message_id"] == "S0" for e in got if e["data"]["id"] == ids[0])


async def test_a_permanent_provider_failure_makes_message_failed(
    services: Services, make_account: MakeAccount
) -> None:
    user = await make_account()

    def refuse(message: Outgoing) -> Submitted:
        raise PermanentError("ESME_RINVDSTADR")

    with hook_receiver() as receiver:
        secret = await services.webhooks.set_url(user.account.id, receiver.url)
        assert secret is not None
        mid = await queue(services, user)
        assert await dispatcher(services, Scripted(refuse)).run_once() == 1
        await drain(sender(services))
        [event] = [checked(secret, h) for h in receiver.got]
    assert event["type"] == "message.failed"
    data = event["data"]
    assert (data["id"], data["status"], data["error"]) == (mid, "failed", "ESME_RINVDSTADR")
    assert data["provider"] == "scripted" and data["submitted_at"] is None


async def test_a_reply_makes_message_received_for_the_account_that_sent(
    services: Services, make_account: MakeAccount
) -> None:
    user = await make_account()
    other = await make_account()
    with hook_receiver() as receiver, hook_receiver() as elsewhere:
        secret = await services.webhooks.set_url(user.account.id, receiver.url)
        await services.webhooks.set_url(other.account.id, elsewhere.url)
        assert secret is not None
        first = await queue(services, user)
        await submit_as(services, {first: "A"})
        latest = await queue(services, user)
        await submit_as(services, {latest: "B"})
        intake = ReceiptIntake(services.db)
        intake.start()
        await intake.inbound(Inbound("carrier", SERBIA, "TextGate", "Yes please 👍"))
        await intake.inbound(Inbound("carrier", "+381690000000", "TextGate", "who?"))
        await intake.stop()

        await drain(sender(services))
        events = [checked(secret, h) for h in receiver.got]
        assert elsewhere.got == []
    [reply] = [e for e in events if e["type"] == "message.received"]
    stored = await services.db.read(inbound_store.recent)
    mine = next(m for m in stored if m.from_number == SERBIA)
    stranger = next(m for m in stored if m.from_number != SERBIA)
    assert mine.account_id == user.account.id and stranger.account_id is None
    assert reply["data"] == {
        "id": mine.id,
        "from": SERBIA,
        "to": "TextGate",
        "text": "Yes please 👍",
        "provider": "carrier",
        "received_at": mine.received_at,
        "in_reply_to": latest,
    }


async def test_accounts_without_a_webhook_get_no_events_at_all(
    services: Services, make_account: MakeAccount
) -> None:
    never = await make_account()
    cleared = await make_account()
    control = await make_account()
    with hook_receiver() as receiver:
        await services.webhooks.set_url(cleared.account.id, receiver.url)
        await services.webhooks.clear_url(cleared.account.id)
        await services.webhooks.set_url(control.account.id, receiver.url)
        numbers = [
            (never, "+381690000001"),
            (cleared, "+381690000002"),
            (control, "+381690000003"),
        ]
        # Each account's first message is submitted (then a receipt comes), its second one
        # fails at the provider, and its number replies.
        firsts = [await queue(services, user, to) for user, to in numbers]
        submitted = {mid: f"P{mid}" for mid in firsts}
        await submit_as(services, submitted)
        for user, to in numbers:
            await queue(services, user, to)
        assert await dispatcher(services, Scripted(_refuse)).run_once() == 3
        intake = ReceiptIntake(services.db)
        intake.start()
        for pid in submitted.values():
            await intake.receipt(Receipt("carrier", pid, ReceiptState.DELIVERED))
        for _, to in numbers:
            await intake.inbound(Inbound("carrier", to, "TextGate", "reply"))
        await intake.stop()

        for user in (never, cleared):
            assert await event_rows(services, user.account.id) == []
        mine = await event_rows(services, control.account.id)
        assert [r[1] for r in mine] == [
            "message.sent",
            "message.failed",
            "message.delivered",
            "message.received",
        ]
        await drain(sender(services))
        assert len(receiver.got) == 4
    assert len(await event_rows(services)) == 4


def _refuse(message: Outgoing) -> Submitted:
    raise PermanentError("ESME_RINVDSTADR")


# --- retries, giving up, leases --------------------------------------------------------------


async def test_a_500_then_a_200_gets_the_same_event_id_twice_and_ends_delivered(
    services: Services, make_account: MakeAccount
) -> None:
    user = await make_account()
    metrics = Metrics()
    with hook_receiver(statuses=[500]) as receiver:
        secret = await services.webhooks.set_url(user.account.id, receiver.url)
        assert secret is not None
        mid = await queue(services, user)
        await submit_as(services, {mid: "X1"})
        s = sender(services, metrics=metrics)

        assert await s.run_once() == 1
        [row] = await event_rows(services, user.account.id)
        assert row[2:6] == ("pending", 1, 500, None)
        await drain(s)

        first, second = (checked(secret, h) for h in receiver.got)
    assert first["id"] == second["id"] == f"evt_{row[0]}"
    assert first["data"] == second["data"] and first["created"] == second["created"]
    [row] = await event_rows(services, user.account.id)
    assert row[2:6] == ("delivered", 2, 200, None)
    assert counted(metrics, "retried") == 1
    assert counted(metrics, "delivered") == 1


async def test_a_receiver_down_for_good_ends_failed_after_the_attempts(
    services: Services, make_account: MakeAccount
) -> None:
    user = await make_account()
    with hook_receiver() as receiver:
        url = receiver.url  # closed once the block ends: nothing listens there any more
    await services.webhooks.set_url(user.account.id, url)
    mid = await queue(services, user)
    await submit_as(services, {mid: "D1"})
    metrics = Metrics()
    s = sender(services, attempts=4, metrics=metrics)

    await drain(s)

    [row] = await event_rows(services, user.account.id)
    assert row[2:5] == ("failed", 4, None)
    assert row[5] is not None and "connect" in row[5].lower()
    assert counted(metrics, "failed") == 1
    assert counted(metrics, "retried") == 3
    assert s.failed == 1 and await s.run_once() == 0  # nothing more is tried


async def test_an_event_whose_url_was_removed_fails_without_a_request(
    services: Services, make_account: MakeAccount
) -> None:
    user = await make_account()
    with hook_receiver() as receiver:
        await services.webhooks.set_url(user.account.id, receiver.url)
        mid = await queue(services, user)
        await submit_as(services, {mid: "R1"})
        await services.webhooks.clear_url(user.account.id)
        await drain(sender(services))
        assert receiver.got == []
    [row] = await event_rows(services, user.account.id)
    assert row[2:6] == ("failed", 1, None, "The webhook URL was removed")


async def test_an_event_that_cannot_be_sent_still_runs_out_of_attempts(
    services: Services, make_account: MakeAccount
) -> None:
    user = await make_account()
    with hook_receiver() as receiver:
        await services.webhooks.set_url(user.account.id, receiver.url)
        mid = await queue(services, user)
        await submit_as(services, {mid: "C1"})
        await services.db.write(
            lambda conn: sql.execute(conn, "UPDATE webhook_events SET payload = '{broken'")
        )
        await drain(sender(services, attempts=2))
        assert receiver.got == []
    [row] = await event_rows(services, user.account.id)
    assert row[2:6] == ("failed", 2, None, "Not sent: JSONDecodeError")


async def test_a_claimed_event_is_not_claimed_again_until_its_lease_ends(
    services: Services, make_account: MakeAccount
) -> None:
    user = await make_account()
    await services.webhooks.set_url(user.account.id, "http://127.0.0.1:9/hooks")
    mid = await queue(services, user)
    await submit_as(services, {mid: "L1"})
    now = now_ms()

    first = await services.db.write(events_store.claim, now=now, lease_ms=60_000, limit=10)
    assert [(e.attempts, e.url) for e in first] == [(1, "http://127.0.0.1:9/hooks")]
    again = await services.db.write(events_store.claim, now=now + 59_000, lease_ms=60_000, limit=10)
    assert again == []
    later = await services.db.write(events_store.claim, now=now + 61_000, lease_ms=60_000, limit=10)
    assert [(e.id, e.attempts) for e in later] == [(first[0].id, 2)]

    # The first holder's outcome comes too late: ignored.
    late = events_store.Outcome(first[0].id, 1, events_store.EventStatus.DELIVERED, 200)
    await services.db.write(events_store.record, [late], now=now + 62_000)
    [row] = await event_rows(services, user.account.id)
    assert row[2:4] == ("pending", 2)


async def test_claims_take_turns_across_accounts(
    services: Services, make_account: MakeAccount
) -> None:
    busy_user = await make_account("100")
    quiet_user = await make_account()
    for user in (busy_user, quiet_user):
        await services.webhooks.set_url(user.account.id, "http://127.0.0.1:9/hooks")
    flood = {await queue(services, busy_user, f"+3816900{n:05d}"): f"F{n}" for n in range(20)}
    await submit_as(services, flood)
    quiet = await queue(services, quiet_user)
    await submit_as(services, {quiet: "Q"})
    now = now_ms() + 1

    claimed = await services.db.write(
        events_store.claim, now=now, lease_ms=60_000, limit=4, per_account=2
    )
    by_account = [e.account_id for e in claimed]
    assert by_account.count(quiet_user.account.id) == 1
    assert by_account.count(busy_user.account.id) == 2  # its share, no more
    # With its share in flight, the busy account gets nothing more.
    more = await services.db.write(
        events_store.claim,
        now=now,
        lease_ms=60_000,
        limit=4,
        busy={busy_user.account.id: 2},
        per_account=2,
    )
    assert more == []


async def test_two_senders_deliver_each_event_exactly_once(
    services: Services, make_account: MakeAccount, database_url: str
) -> None:
    """Two senders, each on its own database connections (as two worker processes)."""
    user = await make_account("1000")
    n = 120
    with hook_receiver(delay=0.005) as receiver:
        await services.webhooks.set_url(user.account.id, receiver.url)
        ids = [await queue(services, user, f"+3816900{i:05d}") for i in range(n)]
        await submit_as(services, {mid: f"T{mid}" for mid in ids})
        other_db = Database(database_url)
        first, second = (
            sender(services, concurrency=10),
            sender(services, db=other_db, concurrency=10),
        )
        stop = asyncio.Event()
        runs = [asyncio.create_task(s.run(stop)) for s in (first, second)]
        try:
            await eventually(lambda: len(receiver.got) >= n, timeout=30)
            deadline = time.monotonic() + 10
            while await pending(first) > 0:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.02)
        finally:
            stop.set()
            for s in (first, second):
                s.wake()
            await asyncio.gather(*runs)
            await other_db.dispose()
        await asyncio.sleep(0.1)
        delivered_ids = [h.event_id for h in receiver.got]
    assert len(delivered_ids) == len(set(delivered_ids)) == n
    assert first.delivered > 0 and second.delivered > 0, (first.delivered, second.delivered)
    assert first.delivered + second.delivered == n
    found = await event_rows(services, user.account.id)
    assert {(r[2], r[3]) for r in found} == {("delivered", 1)}


async def test_old_delivered_and_failed_events_are_pruned(
    services: Services, make_account: MakeAccount
) -> None:
    user = await make_account()
    await services.webhooks.set_url(user.account.id, "http://127.0.0.1:9/hooks")
    ids = [await queue(services, user, f"+38169000000{n}") for n in range(4)]
    await submit_as(services, {mid: f"O{mid}" for mid in ids})
    events = await event_rows(services, user.account.id)
    eight_days_ago = now_ms() - 8 * 86_400_000

    def age(conn: Connection) -> None:
        statuses = ["delivered", "failed", "pending", "delivered"]
        for (row_id, *_), status in zip(events, statuses, strict=True):
            sql.execute(
                conn,
                "UPDATE webhook_events SET status = ?, created_at = ? WHERE id = ?",
                (status, eight_days_ago if row_id != events[-1][0] else now_ms(), row_id),
            )

    await services.db.write(age)

    assert await sender(services, retention_days=7).prune() == 2
    left = await event_rows(services, user.account.id)
    assert [(r[0], r[2]) for r in left] == [(events[2][0], "pending"), (events[3][0], "delivered")]
