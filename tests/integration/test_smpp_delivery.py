"""The full path over SMPP, on SQLite and PostgreSQL: API -> database -> worker -> SMPP
(the node-smpp peer, tests/peers/smsc) -> receipt -> database.

textgate runs in-process (`build` + `running(worker=True)`, the app over ASGI) with its
providers and routes pointing at the peer; the peer's records say what reached the SMSC."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest
from smsc import SmscControl, SmscProcess

from support import NewAccount
from textgate.app import build, create_app, running
from textgate.domain import money
from textgate.services.container import Services
from textgate.settings import Settings
from textgate.store import inbound as inbound_store
from textgate.store import messages, sql
from textgate.store import receipts as receipts_store
from textgate.store.records import Message

LONG_TEXT = "您的验证码是123456请勿告诉他人。 " * 8  # 160 UCS-2 units: three parts
PRICE = 150_000  # one Serbian segment


def serbian(n: int, block: int = 0) -> str:
    return f"+38164{block}{n:06d}"


@dataclass
class Gateway:
    svc: Services
    http: httpx.AsyncClient
    stack: contextlib.AsyncExitStack

    async def close(self) -> None:
        await self.stack.aclose()

    async def account(self, credits: str = "10000") -> NewAccount:
        account, key = await self.svc.accounts.create(
            f"user{time.monotonic_ns()}@example.com",
            credits_micros=money.to_micros(Decimal(credits)),
        )
        return NewAccount(account=account, key=key.secret, key_id=key.key.id)

    async def send(self, user: NewAccount, numbers: list[str], text: str = "") -> list[int]:
        """send-sms for each number, 64 requests at a time; the new message ids in order."""
        gate = asyncio.Semaphore(64)

        async def one(i: int, number: str) -> int:
            async with gate:
                r = await self.http.post(
                    "/api/send-sms",
                    json={"phone_number": number, "text": text or f"Message {i} for you"},
                    headers=user.headers,
                )
            assert r.status_code == 200, r.text
            return int(r.json()["data"]["id"])

        return list(await asyncio.gather(*(one(i, n) for i, n in enumerate(numbers))))

    async def counts(self, user: NewAccount) -> dict[str, int]:
        return await self.svc.db.read(messages.count_by_status, user.account.id)

    async def settled(
        self, user: NewAccount, n: int, timeout: float = 60.0, final: bool = True
    ) -> dict[str, int]:
        """Waits until `n` messages of `user` are final; AssertionError with the counts."""
        waiting = {"queued", "sending"} | ({"submitted"} if final else set())
        deadline = time.monotonic() + timeout
        while True:
            counts = await self.counts(user)
            if sum(v for k, v in counts.items() if k not in waiting) >= n:
                return counts
            if time.monotonic() > deadline:
                raise AssertionError(f"messages never settled: {counts}")
            await asyncio.sleep(0.05)

    async def message(self, user: NewAccount, message_id: int) -> Message:
        found = await self.svc.db.read(messages.get, message_id, account_id=user.account.id)
        assert found is not None
        return found

    async def rows(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        def run(conn: Any) -> list[tuple[Any, ...]]:
            return [tuple(r) for r in sql.execute(conn, query, params)]

        return await self.svc.db.read(run)


StartGateway = Callable[..., Awaitable[Gateway]]


@pytest.fixture
async def gateway(
    database_url: str,
    settings_for: Callable[..., Settings],
    smsc_peer: SmscProcess,
    smsc: SmscControl,
) -> AsyncIterator[StartGateway]:
    started: list[Gateway] = []

    async def start(provider: dict[str, Any] | None = None, **overrides: Any) -> Gateway:
        defaults = {
            "window": 20,
            "reconnect_max": 0.3,
            "bind_wait": 0.5,
            "throttled_retry_after": 0.2,
            "response_timeout": 5.0,
        }
        table = smsc_peer.provider_table(**(defaults | (provider or {})))
        settings = settings_for(
            database_url,
            providers={"carrier": table},
            routes=({"prefix": "+", "providers": ["carrier"]},),
            retry_base_delay=0.05,
            retry_max_delay=0.5,
            worker_poll_interval=0.02,
            **overrides,
        )
        stack = contextlib.AsyncExitStack()
        svc = build(settings)
        await stack.enter_async_context(running(svc, worker=True))
        transport = httpx.ASGITransport(app=create_app(settings, services=svc))
        http = await stack.enter_async_context(
            httpx.AsyncClient(transport=transport, base_url="http://textgate")
        )
        gw = Gateway(svc, http, stack)
        started.append(gw)
        return gw

    yield start
    for gw in reversed(started):
        await gw.close()


async def bound(gw: Gateway) -> None:
    deadline = time.monotonic() + 10
    while not gw.svc.router.providers["carrier"].health().up:
        assert time.monotonic() < deadline, "the provider never bound"
        await asyncio.sleep(0.01)


def accepted(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The submits the peer took (answered with a message id)."""
    return [r for r in records if r["message_id"] is not None]


async def test_a_thousand_messages_are_delivered_each_submitted_once(
    gateway: StartGateway, smsc: SmscControl
) -> None:
    gw = await gateway()
    user = await gw.account()
    numbers = [serbian(n) for n in range(1000)]

    ids = await gw.send(user, numbers)

    assert await gw.settled(user, 1000) == {"delivered": 1000}
    records = await smsc.submits()
    assert len(records) == 1000 and len(accepted(records)) == 1000
    assert sorted(r["destination_addr"] for r in records) == sorted(n[1:] for n in numbers)
    rows = await gw.rows(
        "SELECT id, to_number, provider, provider_message_id, attempts, final_at FROM messages"
    )
    assert sorted(r[0] for r in rows) == sorted(ids)
    peer_ids = {r["destination_addr"]: r["message_id"] for r in records}
    assert all(
        peer_ids[to[1:]] == pid and provider == "carrier" for _, to, provider, pid, _, _ in rows
    )
    assert {r[4] for r in rows} == {1} and all(r[5] is not None for r in rows)
    stats = await smsc.wait_stats(lambda s: s["receipts_acked"] == 1000)
    assert stats["receipts_nacked"] == 0
    assert await gw.rows("SELECT count(*) FROM message_parts") == [(0,)]
    assert await gw.svc.db.read(receipts_store.kept) == []


async def test_long_ucs2_message_goes_in_three_parts_and_is_delivered_with_all(
    gateway: StartGateway, smsc: SmscControl
) -> None:
    gw = await gateway()
    user = await gw.account()
    unlucky = serbian(2)
    await smsc.rules(receipt_stat={unlucky: "UNDELIV"})

    [good, bad] = await gw.send(user, [serbian(1), unlucky], LONG_TEXT)

    await gw.settled(user, 2)
    records = await smsc.submits()
    mine = [r for r in records if r["destination_addr"] == serbian(1)[1:]]
    assert [(r["udh"]["total"], r["udh"]["seq"]) for r in mine] == [(3, 1), (3, 2), (3, 3)]
    assert len({r["udh"]["ref"] for r in mine}) == 1
    assert {(r["data_coding"], r["esm_class"]) for r in mine} == {(8, 0x40)}
    assert "".join(r["text"] for r in mine) == LONG_TEXT
    parts = await gw.rows(
        "SELECT seq, part_id, state FROM message_parts WHERE message_id = ? ORDER BY seq", good
    )
    assert parts == [(i + 1, r["message_id"], "delivered") for i, r in enumerate(mine)]
    message = await gw.message(user, good)
    assert message.status == "delivered" and message.segments == 3
    assert message.provider_message_id == mine[0]["message_id"]
    failed = await gw.message(user, bad)
    assert (failed.status, failed.error) == ("undelivered", "001")
    await smsc.wait_stats(lambda s: s["receipts_acked"] == 6)


async def test_throttling_slows_the_sender_and_permanent_errors_fail_and_refund(
    gateway: StartGateway, smsc: SmscControl
) -> None:
    gw = await gateway(provider={"window": 1})  # one submit at a time: the order is plain
    user = await gw.account("10")
    throttled, refused = serbian(10), serbian(11)
    others = [serbian(n, block=1) for n in range(20)]
    await smsc.rules(throttle={throttled: 2}, reject={refused: 0x0B})

    ids = await gw.send(user, [throttled, refused, *others])

    counts = await gw.settled(user, 22)
    assert counts == {"delivered": 21, "failed": 1}
    slow = await gw.message(user, ids[0])
    assert (slow.status, slow.attempts) == ("delivered", 3)
    gone = await gw.message(user, ids[1])
    assert (gone.status, gone.error, gone.attempts) == ("failed", "ESME_RINVDSTADR", 1)
    # The refused message's price came back; the delivered ones are paid for.
    assert await gw.svc.accounts.balance(user.account.id) == 10_000_000 - 21 * PRICE
    records = await smsc.submits()
    tries = [r for r in records if r["destination_addr"] == throttled[1:]]
    assert [r["status"] for r in tries] == [0x58, 0x58, 0]
    # After each throttling answer the whole sender waited out the SMSC's hint (0.2 s):
    # the next submit, to whatever number, came no sooner.
    for answer, following in itertools.pairwise(records):
        if answer["status"] == 0x58:
            assert following["at_ms"] - answer["at_ms"] >= 190, (answer, following)
    by_number = Counter(r["destination_addr"] for r in accepted(records))
    assert set(by_number.values()) == {1} and refused[1:] not in by_number


async def test_dropped_link_mid_window_reconnects_and_every_message_is_delivered(
    gateway: StartGateway, smsc: SmscControl
) -> None:
    gw = await gateway(provider={"window": 10})
    user = await gw.account()
    await bound(gw)
    await smsc.rules(hold=True)
    numbers = [serbian(n, block=2) for n in range(60)]

    await gw.send(user, numbers)
    await smsc.wait_stats(lambda s: s["held"] == 10)  # the window is full and unanswered
    assert await smsc.drop() == 1
    await smsc.rules(hold=False)

    assert await gw.settled(user, 60) == {"delivered": 60}
    stats = await smsc.stats()
    assert stats["binds_ok"] >= 2
    records = await smsc.submits()
    assert len(records) >= 70  # the ten in flight went twice: once unanswered
    by_number = Counter(r["destination_addr"] for r in accepted(records))
    assert sorted(by_number) == sorted(n[1:] for n in numbers)
    assert set(by_number.values()) == {1}


async def test_wrong_password_messages_wait_then_all_go_after_a_restart(
    gateway: StartGateway, smsc: SmscControl
) -> None:
    gw = await gateway(provider={"password": "wrong"})
    user = await gw.account()

    ids = await gw.send(user, [serbian(n, block=3) for n in range(30)])
    await smsc.wait_stats(lambda s: s["binds_refused"] >= 3)  # time passes, binds fail

    ready = await gw.http.get("/ready")
    assert ready.status_code == 503
    [carrier] = ready.json()["providers"]
    assert carrier["name"] == "carrier" and carrier["up"] is False
    assert carrier["last_error"] == "bind refused: ESME_RINVPASWD"
    assert "wrong" not in ready.text
    rows = await gw.rows("SELECT status, attempts FROM messages")
    assert rows and set(rows) == {("queued", 0)}  # waiting, no attempt spent
    assert (await smsc.stats())["submits"] == 0
    await gw.close()

    fixed = await gateway()
    assert await fixed.settled(user, 30) == {"delivered": 30}
    ready = await fixed.http.get("/ready")
    assert ready.status_code == 200 and ready.json()["providers"][0]["up"] is True
    records = await smsc.submits()
    assert len(records) == len(accepted(records)) == 30
    assert {(await fixed.message(user, i)).attempts for i in ids} == {1}


async def test_receipt_before_the_submit_resp_is_still_matched(
    gateway: StartGateway, smsc: SmscControl
) -> None:
    gw = await gateway()
    user = await gw.account()
    await smsc.rules(receipt_first=True, receipt_delay_ms=300)

    ids = await gw.send(user, [serbian(n, block=4) for n in range(20)])

    assert await gw.settled(user, 20) == {"delivered": 20}
    assert gw.svc.receipts is not None and gw.svc.receipts.kept == 20
    for message_id in ids:
        message = await gw.message(user, message_id)
        # Kept, then applied in the transaction that recorded the submit.
        assert message.final_at == message.submitted_at
    assert await gw.svc.db.read(receipts_store.kept) == []


async def test_inbound_messages_are_stored_and_logged_masked(
    gateway: StartGateway, smsc: SmscControl, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="textgate")
    gw = await gateway()
    await bound(gw)

    await smsc.inbound("+381641234567", "TextGate", "STOP please")
    await smsc.inbound("+381641234568", "38160123", "你好 👋")

    deadline = time.monotonic() + 10
    while len(stored := await gw.svc.db.read(inbound_store.recent)) < 2:
        assert time.monotonic() < deadline, "inbound messages never stored"
        await asyncio.sleep(0.02)
    got = {(m.provider, m.from_number, m.to_number, m.text, m.account_id) for m in stored}
    assert got == {
        ("carrier", "+381641234567", "TextGate", "STOP please", None),
        ("carrier", "+381641234568", "38160123", "你好 👋", None),
    }
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "inbound_received" in logged
    for secret in ("381641234567", "381641234568", "STOP please", "38160123"):
        assert secret not in logged


async def test_ready_shows_the_smpp_provider(gateway: StartGateway, smsc: SmscControl) -> None:
    gw = await gateway(provider={"binds": 2})
    deadline = time.monotonic() + 10
    while gw.svc.router.providers["carrier"].health().detail["binds"] != "2/2":
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)

    ready = await gw.http.get("/ready")

    assert ready.status_code == 200
    [carrier] = ready.json()["providers"]
    assert carrier["up"] is True and carrier["in_flight"] == 0 and carrier["last_error"] is None
    assert carrier["detail"]["binds"] == "2/2"
