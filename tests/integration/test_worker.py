"""The dispatch loop on real databases: claim, submit, record, retry, fail, lease expiry.

The provider here is a scripted one (the Provider interface's faithful fake): the worker's
rules are what is under test; real providers have their own tests against real peers."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Callable

import httpx

from support import MakeAccount
from textgate.delivery.base import (
    Health,
    Outgoing,
    PermanentError,
    ReceiptSink,
    Submitted,
    TransientError,
)
from textgate.delivery.console import ConsoleProvider
from textgate.delivery.router import Route, Router
from textgate.domain.retry import RetryPolicy
from textgate.services.container import Services
from textgate.store import messages
from textgate.worker.dispatcher import Dispatcher

SERBIA = "+381690156360"


class Scripted:
    """Answers each submit from a script: a function of (message, attempt)."""

    def __init__(self, answer: Callable[[Outgoing], Submitted]) -> None:
        self.name = "scripted"
        self.answer = answer
        self.calls: list[Outgoing] = []

    async def start(self, sink: ReceiptSink) -> None:
        return None

    async def submit(self, message: Outgoing) -> Submitted:
        self.calls.append(message)
        return self.answer(message)

    async def stop(self) -> None:
        return None

    def health(self) -> Health:
        return Health(name=self.name, up=True)


def dispatcher(
    services: Services, provider: object, clock: Callable[[], int] | None = None, **kw: object
) -> Dispatcher:
    router = Router({"p": provider}, [Route(providers=("p",), prefix="+")])  # type: ignore[dict-item]
    extra = {"clock": clock} if clock else {}
    return Dispatcher(
        services.db,
        router,
        policy=RetryPolicy(max_attempts=3, base_delay=10, jitter=0),
        rand=lambda: 0.5,
        **extra,  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


async def send(client: httpx.AsyncClient, headers: dict[str, str], n: int = 1) -> list[int]:
    ids = []
    for i in range(n):
        r = await client.post(
            "/api/send-sms", json={"phone_number": SERBIA, "text": f"m{i}"}, headers=headers
        )
        assert r.status_code == 200, r.text
        ids.append(r.json()["data"]["id"])
    return ids


async def test_console_provider_submits_and_history_shows_it(
    client: httpx.AsyncClient, services: Services, make_account: MakeAccount
) -> None:
    user = await make_account()
    ids = await send(client, user.headers, 3)
    out = io.StringIO()
    worker = dispatcher(services, ConsoleProvider(stream=out))
    assert await worker.run_once() == 3
    printed = out.getvalue().splitlines()
    assert len(printed) == 3 and all("NOT DELIVERED" in line for line in printed)
    assert all(SERBIA not in line for line in printed)  # numbers are masked
    r = await client.get(f"/api/messages/{ids[0]}", headers=user.headers)
    data = r.json()["data"]
    assert data["status"] == "submitted" and data["provider"] == "console"
    assert [e["status"] for e in data["history"]] == ["queued", "submitted"]
    assert await worker.run_once() == 0


async def test_transient_errors_retry_then_fail_and_refund(
    client: httpx.AsyncClient, services: Services, make_account: MakeAccount
) -> None:
    user = await make_account("1.00")
    [mid] = await send(client, user.headers)
    assert await services.accounts.balance(user.account.id) == 850_000

    def flaky(message: Outgoing) -> Submitted:
        raise TransientError("throttled")

    now = [10_000_000_000_000]
    worker = dispatcher(services, Scripted(flaky), clock=lambda: now[0])
    assert await worker.run_once() == 1  # attempt 1 → retry in 10 s
    assert await worker.run_once() == 0  # not due yet
    now[0] += 10_000
    assert await worker.run_once() == 1  # attempt 2 → retry in 20 s
    now[0] += 20_000
    assert await worker.run_once() == 1  # attempt 3 → out of attempts: failed
    found = await services.db.read(messages.get_with_history, mid, user.account.id)
    assert found is not None
    message, events = found
    assert message.status == "failed" and message.attempts == 3
    assert message.error is not None and "gave up after 3 attempts" in message.error
    assert [e.status.value for e in events] == ["queued", "queued", "queued", "failed"]
    assert await services.accounts.balance(user.account.id) == 1_000_000  # credited back


async def test_permanent_error_fails_at_once_with_reason(
    client: httpx.AsyncClient, services: Services, make_account: MakeAccount
) -> None:
    user = await make_account("1.00")
    [mid] = await send(client, user.headers)

    def refuse(message: Outgoing) -> Submitted:
        raise PermanentError("ESME_RINVDSTADR")

    worker = dispatcher(services, Scripted(refuse))
    assert await worker.run_once() == 1
    r = await client.get(f"/api/messages/{mid}", headers=user.headers)
    data = r.json()["data"]
    assert data["status"] == "failed" and data["error"] == "ESME_RINVDSTADR"
    assert data["attempts"] == 1
    assert await services.accounts.balance(user.account.id) == 1_000_000


async def test_expired_lease_is_claimed_again_and_late_outcome_ignored(
    client: httpx.AsyncClient, services: Services, make_account: MakeAccount
) -> None:
    user = await make_account()
    [mid] = await send(client, user.headers)
    now = [20_000_000_000_000]
    first = await services.db.write(messages.claim, now=now[0], lease_ms=60_000, limit=10)
    assert [c.id for c in first] == [mid]
    # the lease holds: nobody else gets it
    assert (
        await services.db.write(messages.claim, now=now[0] + 1_000, lease_ms=60_000, limit=10) == []
    )
    now[0] += 61_000  # the first worker died; its lease ran out
    provider = Scripted(lambda m: Submitted(provider_message_id=f"id-{m.message_id}"))
    worker = dispatcher(services, provider, clock=lambda: now[0])
    assert await worker.run_once() == 1
    assert provider.calls[0].attempt == 2
    # the first worker wakes up late: ignored
    await services.db.write(
        messages.record, now=now[0], failures=[messages.FailOutcome(mid, first[0].attempts, "late")]
    )
    message = await services.db.read(messages.get, mid, account_id=user.account.id)
    assert message is not None and message.status == "submitted"
    assert message.provider_message_id == f"id-{mid}"


async def test_otp_text_is_withheld_and_priority_order(
    services: Services, make_account: MakeAccount
) -> None:
    from textgate.domain.states import MessageKind

    user = await make_account()
    caller = await services.auth.authenticate(f"Bearer {user.key}")
    bulk = await services.sender.send(caller, SERBIA, "bulk", MessageKind.BULK)
    sms = await services.sender.send(caller, SERBIA, "sms", MessageKind.SMS)
    otp = await services.sender.send(caller, SERBIA, "code 123456", MessageKind.OTP)
    out = io.StringIO()
    worker = dispatcher(services, ConsoleProvider(stream=out), batch=1)
    for _ in range(3):
        assert await worker.run_once() == 1
    lines = out.getvalue().splitlines()
    assert [
        f"message {m.message_id} " in line for m, line in zip([otp, sms, bulk], lines, strict=True)
    ] == [True, True, True]
    assert "123456" not in out.getvalue()


async def test_linger_gathers_a_stream_of_messages_into_few_claims(
    client: httpx.AsyncClient, services: Services, make_account: MakeAccount
) -> None:
    """Under a steady stream, claims are at least `linger` apart: fewer, bigger batches."""
    account = await make_account("100000")
    provider = ConsoleProvider(stream=io.StringIO())
    d = dispatcher(services, provider, linger=0.2, poll_interval=0.05)
    sizes: list[int] = []
    claim = d._claim

    async def counted(limit: int) -> list[messages.Claimed]:
        taken = await claim(limit)
        if taken:
            sizes.append(len(taken))
        return taken

    d._claim = counted  # type: ignore[method-assign]
    stop = asyncio.Event()
    task = asyncio.create_task(d.run(stop))
    started = time.monotonic()
    sent = 0
    while time.monotonic() - started < 0.6:
        await send(client, account.headers)
        sent += 1
        d.wake()
    elapsed = time.monotonic() - started
    while d.submitted < sent and time.monotonic() - started < 10:
        await asyncio.sleep(0.02)
    stop.set()
    d.wake()
    await task
    assert d.submitted == sent == sum(sizes)
    assert len(sizes) <= elapsed / 0.2 + 2, sizes
