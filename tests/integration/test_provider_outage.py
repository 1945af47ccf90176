"""A provider that is down makes messages wait without spending their retry attempts: the
worker claims nothing while no provider is up, and puts back (attempt given back) the
messages whose route has no provider up while other routes' providers are."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from support import MakeAccount
from textgate.delivery.base import Health, Outgoing, ReceiptSink, Submitted
from textgate.delivery.router import Route, Router
from textgate.domain.retry import RetryPolicy
from textgate.services.container import Services
from textgate.store import messages
from textgate.store.db import now_ms
from textgate.store.records import Caller
from textgate.worker.dispatcher import Dispatcher

SERBIA = "+381690156360"
GERMANY = "+4915112345678"


class Switchable:
    """A provider whose health is set by the test; it counts how often it was asked."""

    def __init__(self, name: str, up: bool) -> None:
        self.name = name
        self.up = up
        self.asked = 0
        self.sent: list[Outgoing] = []

    async def start(self, sink: ReceiptSink) -> None:
        return None

    async def submit(self, message: Outgoing) -> Submitted:
        self.sent.append(message)
        return Submitted(provider_message_id=f"{self.name}-{message.message_id}")

    async def stop(self) -> None:
        return None

    def health(self) -> Health:
        self.asked += 1
        return Health(name=self.name, up=self.up, last_error=None if self.up else "bind refused")


def dispatcher(services: Services, routes: list[Route], *providers: Switchable) -> Dispatcher:
    return Dispatcher(
        services.db,
        Router({p.name: p for p in providers}, routes),
        policy=RetryPolicy(max_attempts=2, base_delay=0.01),
        poll_interval=0.01,
    )


async def until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 10
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


async def test_no_provider_up_claims_nothing_until_one_is(
    services: Services, make_account: MakeAccount
) -> None:
    user = await make_account()
    caller = Caller(account_id=user.account.id, key_id=user.key_id)
    queued = [await services.sender.send(caller, SERBIA, f"m{i}") for i in range(3)]
    carrier = Switchable("carrier", up=False)
    worker = dispatcher(services, [Route(providers=("carrier",), prefix="+")], carrier)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        await until(lambda: carrier.asked >= 20, "the worker to look twenty times")
        for q in queued:
            message = await services.db.read(
                messages.get, q.message_id, account_id=caller.account_id
            )
            assert message is not None and (message.status, message.attempts) == ("queued", 0)
        assert carrier.sent == []

        carrier.up = True
        # Submitted, then recorded: the counts are read once the outcomes are on disk.
        await until(lambda: worker.submitted == 3, "the messages to go and be recorded")
        counts = await services.db.read(messages.count_by_status, caller.account_id)
    finally:
        stop.set()
        worker.wake()
        await task
    assert counts == {"submitted": 3}
    assert {m.attempt for m in carrier.sent} == {1}


async def test_route_whose_providers_are_down_waits_while_others_go(
    services: Services, make_account: MakeAccount
) -> None:
    user = await make_account()
    caller = Caller(account_id=user.account.id, key_id=user.key_id)
    serbian = await services.sender.send(caller, SERBIA, "to Serbia")
    german = await services.sender.send(caller, GERMANY, "to Germany")
    down, up = Switchable("down", up=False), Switchable("up", up=True)
    routes = [Route(providers=("down",), prefix="+381"), Route(providers=("up",), prefix="+")]
    worker = dispatcher(services, routes, down, up)

    before = now_ms()
    assert await worker.run_once() == 2
    for _ in range(3):  # due again only after the wait: the attempts are never spent
        assert await worker.run_once() == 0

    waiting = await services.db.read(messages.get, serbian.message_id, account_id=caller.account_id)
    sent = await services.db.read(messages.get, german.message_id, account_id=caller.account_id)
    assert sent is not None and sent.status == "submitted" and sent.provider == "up"
    assert waiting is not None
    assert (waiting.status, waiting.attempts) == ("queued", 0)
    assert waiting.error == "waiting: down is down"
    next_attempt = await services.db.read(
        lambda conn: conn.exec_driver_sql(
            f"SELECT next_attempt_at FROM messages WHERE id = {serbian.message_id}"
        ).scalar_one()
    )
    assert next_attempt >= before + 750  # at least the shortest wait, less its jitter
    assert down.sent == [] and [m.to for m in up.sent] == [GERMANY]
