"""Receipts applied to messages on SQLite and PostgreSQL: final states, long messages,
receipts that come before their submit is recorded, the sweep, inbound messages and the
intake's batching."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy.engine import Connection

from support import MakeAccount, NewAccount
from textgate.delivery.base import Inbound, Receipt, ReceiptState
from textgate.services.container import Services
from textgate.services.receipts import ReceiptIntake
from textgate.store import inbound as inbound_store
from textgate.store import messages, sql
from textgate.store import receipts as receipts_store
from textgate.store.db import now_ms
from textgate.store.records import Caller, Message

SERBIA = "+381690156360"
LONG_TEXT = "您的验证码是123456请勿告诉他人。 " * 8  # three UCS-2 parts
Report = receipts_store.Report


async def queue(services: Services, user: NewAccount, text: str = "hello") -> int:
    caller = Caller(account_id=user.account.id, key_id=user.key_id)
    return (await services.sender.send(caller, SERBIA, text)).message_id


async def submit(
    services: Services, message_id: int, first_id: str, part_ids: tuple[str, ...] = ()
) -> None:
    """Claims the queued messages and records `message_id` as submitted under `first_id`."""
    claimed = await services.db.write(messages.claim, now=now_ms(), lease_ms=60_000, limit=100)
    [mine] = [c for c in claimed if c.id == message_id]
    outcome = messages.SubmitOutcome(mine.id, mine.attempts, "carrier", first_id, part_ids)
    await services.db.write(messages.record, now=now_ms(), submitted=[outcome])


async def apply(services: Services, *reports: Report) -> receipts_store.Applied:
    return await services.db.write(receipts_store.apply, list(reports), now=now_ms())


async def get(services: Services, user: NewAccount, message_id: int) -> Message:
    message = await services.db.read(messages.get, message_id, account_id=user.account.id)
    assert message is not None
    return message


def rows(conn: Connection, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in sql.execute(conn, query, params)]


async def parts_of(services: Services, message_id: int) -> list[tuple[Any, ...]]:
    return await services.db.read(
        rows,
        "SELECT seq, part_id, state FROM message_parts WHERE message_id = ? ORDER BY seq",
        (message_id,),
    )


def report(pid: str, state: str = "delivered", code: str | None = None, **kw: Any) -> Report:
    return Report("carrier", pid, state, code, **kw)


async def test_receipts_move_messages_to_their_final_state(
    services: Services, make_account: MakeAccount
) -> None:
    user = await make_account("1.00")
    ids = []
    for n in range(4):
        ids.append(await queue(services, user, f"m{n}"))
        await submit(services, ids[-1], f"S{n}")

    applied = await apply(
        services,
        report("S0"),
        report("S1", "undelivered", "001"),
        report("S2", "expired", "004"),
        report("S3", "rejected", "002"),
    )

    assert applied == receipts_store.Applied(moved=4, kept=0)
    found = [await get(services, user, mid) for mid in ids]
    assert [(m.status, m.error) for m in found] == [
        ("delivered", None),
        ("undelivered", "001"),
        ("expired", "004"),
        ("undelivered", "rejected: 002"),
    ]
    assert all(m.final_at is not None and m.final_at >= m.submitted_at for m in found)  # type: ignore[operator]
    # Receipts settle what was paid for: nothing is credited back.
    assert await services.accounts.balance(user.account.id) == 1_000_000 - 4 * 150_000
    history = await services.db.read(messages.get_with_history, ids[1], user.account.id)
    assert history is not None
    assert [(e.status.value, e.detail) for e in history[1]][-1] == ("undelivered", "001")


async def test_final_messages_ignore_later_receipts(
    services: Services, make_account: MakeAccount
) -> None:
    user = await make_account()
    mid = await queue(services, user)
    await submit(services, mid, "A1")
    await apply(services, report("A1"))
    first = await get(services, user, mid)

    applied = await apply(services, report("A1", "undelivered", "009"), report("A1"))

    assert applied.moved == 0 and applied.kept == 0
    assert await get(services, user, mid) == first


async def test_intermediate_receipt_adds_an_event_only(
    services: Services, make_account: MakeAccount
) -> None:
    user = await make_account()
    mid = await queue(services, user)
    await submit(services, mid, "B1")

    applied = await apply(services, report("B1", "pending", detail="ENROUTE"))

    assert applied.moved == 0
    found = await services.db.read(messages.get_with_history, mid, user.account.id)
    assert found is not None
    message, events = found
    assert message.status == "submitted" and message.final_at is None
    assert ("submitted", "receipt: ENROUTE") in [(e.status.value, e.detail) for e in events]


async def test_single_part_message_has_no_part_rows(
    services: Services, make_account: MakeAccount
) -> None:
    user = await make_account()
    mid = await queue(services, user)
    await submit(services, mid, "C1")
    assert await parts_of(services, mid) == []


async def test_long_message_is_delivered_when_all_parts_are(
    services: Services, make_account: MakeAccount
) -> None:
    user = await make_account()
    mid = await queue(services, user, LONG_TEXT)
    await submit(services, mid, "P1", ("P1", "P2", "P3"))
    assert await parts_of(services, mid) == [
        (1, "P1", "pending"),
        (2, "P2", "pending"),
        (3, "P3", "pending"),
    ]

    await apply(services, report("P3"), report("P2", "pending"))
    assert (await get(services, user, mid)).status == "submitted"
    await apply(services, report("P2"))
    assert (await get(services, user, mid)).status == "submitted"
    applied = await apply(services, report("P1"))

    assert applied.moved == 1
    message = await get(services, user, mid)
    assert message.status == "delivered" and message.error is None
    assert [state for _, _, state in await parts_of(services, mid)] == ["delivered"] * 3


async def test_long_message_is_undelivered_as_soon_as_one_part_is(
    services: Services, make_account: MakeAccount
) -> None:
    user = await make_account()
    mid = await queue(services, user, LONG_TEXT)
    await submit(services, mid, "Q1", ("Q1", "Q2", "Q3"))

    await apply(services, report("Q2", "undelivered", "005"))
    message = await get(services, user, mid)
    assert (message.status, message.error) == ("undelivered", "005")

    await apply(services, report("Q1"), report("Q3"))
    assert (await get(services, user, mid)).status == "undelivered"
    assert [s for _, _, s in await parts_of(services, mid)] == [
        "delivered",
        "undelivered",
        "delivered",
    ]


async def test_receipts_before_the_submit_are_kept_then_applied_with_it(
    services: Services, make_account: MakeAccount
) -> None:
    user = await make_account()
    short = await queue(services, user)
    long = await queue(services, user, LONG_TEXT)

    applied = await apply(
        services,
        report("E1", "expired", "003"),
        report("L2"),
        report("L1"),
        report("L3"),
        report("X9", "pending"),  # intermediate and unmatched: nothing to keep
    )
    assert applied == receipts_store.Applied(moved=0, kept=4)
    assert [r.provider_message_id for r in await services.db.read(receipts_store.kept)] == [
        "E1",
        "L2",
        "L1",
        "L3",
    ]

    claimed = await services.db.write(messages.claim, now=now_ms(), lease_ms=60_000, limit=10)
    attempt = {c.id: c.attempts for c in claimed}
    await services.db.write(
        messages.record,
        now=now_ms(),
        submitted=[
            messages.SubmitOutcome(short, attempt[short], "carrier", "E1"),
            messages.SubmitOutcome(long, attempt[long], "carrier", "L1", ("L1", "L2", "L3")),
        ],
    )

    first, second = await get(services, user, short), await get(services, user, long)
    assert (first.status, first.error) == ("expired", "003")
    assert second.status == "delivered"
    # Applied in the very transaction that recorded the submit.
    assert first.final_at == first.submitted_at and second.final_at == second.submitted_at
    assert await services.db.read(receipts_store.kept) == []


async def test_lost_lease_records_neither_submit_nor_parts(
    services: Services, make_account: MakeAccount
) -> None:
    user = await make_account()
    mid = await queue(services, user, LONG_TEXT)
    [claimed] = await services.db.write(messages.claim, now=now_ms(), lease_ms=60_000, limit=1)
    late = messages.SubmitOutcome(mid, claimed.attempts - 1, "carrier", "Z1", ("Z1", "Z2", "Z3"))

    await services.db.write(messages.record, now=now_ms(), submitted=[late])

    assert (await get(services, user, mid)).status == "sending"
    assert await parts_of(services, mid) == []


async def test_sweep_applies_late_matches_and_drops_old_receipts(
    services: Services, make_account: MakeAccount
) -> None:
    user = await make_account()
    mid = await queue(services, user)
    now = now_ms()
    await apply(services, report("W1"), report("OLD", "undelivered"))
    # The submit is recorded by a transaction that did not see the kept receipt (the
    # PostgreSQL race): only the sweep can apply it.
    [claimed] = await services.db.write(messages.claim, now=now, lease_ms=60_000, limit=1)

    def mark_submitted(conn: Connection) -> None:
        sql.execute(
            conn,
            "UPDATE messages SET status = 'submitted', provider = 'carrier',"
            " provider_message_id = 'W1', submitted_at = ? WHERE id = ?",
            (now, claimed.id),
        )
        sql.execute(
            conn, "UPDATE pending_receipts SET received_at = 0 WHERE provider_message_id = 'OLD'"
        )

    await services.db.write(mark_submitted)

    intake = ReceiptIntake(services.db, pending_ttl=60)
    assert await intake.sweep() == (1, 1)
    assert (await get(services, user, mid)).status == "delivered"
    assert await services.db.read(receipts_store.kept) == []
    assert await intake.sweep() == (0, 0)


async def test_intake_batches_receipts_and_stores_inbound(
    services: Services, make_account: MakeAccount
) -> None:
    user = await make_account("100")
    ids = [await queue(services, user, f"m{i}") for i in range(50)]
    claimed = await services.db.write(messages.claim, now=now_ms(), lease_ms=60_000, limit=100)
    await services.db.write(
        messages.record,
        now=now_ms(),
        submitted=[
            messages.SubmitOutcome(c.id, c.attempts, "carrier", f"I{c.id}") for c in claimed
        ],
    )
    intake = ReceiptIntake(services.db, max_batch=16, sweep_interval=0)
    intake.start()
    try:
        await asyncio.gather(
            *(intake.receipt(Receipt("carrier", f"I{mid}", ReceiptState.DELIVERED)) for mid in ids),
            intake.inbound(Inbound("carrier", "+381641234567", "TextGate", "STOP\0now")),
        )
    finally:
        await intake.stop()

    assert intake.receipts == 50 and intake.inbound_messages == 1
    counts = await services.db.read(messages.count_by_status, user.account.id)
    assert counts == {"delivered": 50}
    [stored] = await services.db.read(inbound_store.recent)
    assert (stored.provider, stored.from_number, stored.to_number) == (
        "carrier",
        "+381641234567",
        "TextGate",
    )
    assert stored.text == "STOP\ufffdnow" and stored.account_id is None


async def test_an_item_the_database_refuses_does_not_hold_up_the_others(
    services: Services, make_account: MakeAccount
) -> None:
    user = await make_account()
    mid = await queue(services, user)
    await submit(services, mid, "G1")
    intake = ReceiptIntake(services.db, sweep_interval=0)
    intake.start()
    # An account that does not exist breaks the foreign key: this item cannot be written.
    poison = inbound_store.NewInbound("carrier", "+381641234567", "TextGate", "x", account_id=999)
    try:
        results = await asyncio.gather(
            intake._enqueue(poison),
            intake.receipt(Receipt("carrier", "G1", ReceiptState.DELIVERED)),
            return_exceptions=True,
        )
    finally:
        await intake.stop()

    assert isinstance(results[0], Exception) and results[1] is None
    assert (await get(services, user, mid)).status == "delivered"
