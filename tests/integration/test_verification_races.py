"""Races on verification: concurrent guesses and concurrent sends cannot beat the limits."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
import pytest

from support import MakeAccount
from textgate.app import build, create_app, running
from textgate.services.container import Services
from textgate.settings import Settings
from textgate.store import messages
from verify_support import Clock, send_code, use_clock, verify_code, wrong

Client = httpx.AsyncClient


@pytest.fixture
def clock(services: Services) -> Clock:
    return use_clock(services)


async def test_100_concurrent_wrong_guesses_count_exactly_5(
    client: Client, make_account: MakeAccount, clock: Clock
) -> None:
    user = await make_account("10")
    r = await send_code(client, user.headers)
    code = r.json()["data"]["verification_code"]
    guesses = [g for g in (str(i).zfill(6) for i in range(1_000, 1_101)) if g != code][:100]
    assert len(guesses) == 100

    answers = await asyncio.gather(*(verify_code(client, user.headers, g) for g in guesses))
    statuses = Counter(a.status_code for a in answers)
    assert statuses == {400: 5, 429: 95}
    invalid = sorted(a.json()["attempts_left"] for a in answers if a.status_code == 400)
    assert invalid == [0, 1, 2, 3, 4]  # each counted once, none lost
    assert all(a.json()["valid"] is False for a in answers)

    right = await verify_code(client, user.headers, code)
    assert right.status_code == 429 and right.json()["valid"] is False


async def test_concurrent_right_codes_verify_once(
    client: Client, make_account: MakeAccount, clock: Clock
) -> None:
    user = await make_account("10")
    code = (await send_code(client, user.headers)).json()["data"]["verification_code"]
    answers = await asyncio.gather(*(verify_code(client, user.headers, code) for _ in range(20)))
    assert Counter(a.status_code for a in answers) == {200: 1, 409: 19}


async def test_50_concurrent_sends_to_one_number(
    client: Client, make_account: MakeAccount, services: Services, clock: Clock
) -> None:
    user = await make_account("100")

    async def burst(n: int) -> Counter[int]:
        answers = await asyncio.gather(*(send_code(client, user.headers) for _ in range(n)))
        for a in answers:
            if a.status_code == 429:
                assert a.json()["ok"] is False and int(a.headers["retry-after"]) >= 1
        return Counter(a.status_code for a in answers)

    assert await burst(50) == {200: 1, 429: 49}
    # 30 s apart: four more bursts within 10 minutes each get one code through...
    for _ in range(4):
        clock.advance(31)
        assert await burst(20) == {200: 1, 429: 19}
    # ...and then the number has had its 5 codes for this 10 minutes.
    clock.advance(31)
    assert await burst(20) == {429: 20}
    clock.advance(600 - 5 * 31)  # the first code leaves the window
    assert await burst(20) == {200: 1, 429: 19}

    # Exactly the accepted codes were paid for and queued.
    assert await services.db.read(messages.count_by_status, user.account.id) == {"queued": 6}
    assert await services.accounts.balance(user.account.id) == 100_000_000 - 6 * 150_000


async def test_two_api_processes_share_the_limits(
    settings: Settings, make_account: MakeAccount, services: Services, clock: Clock
) -> None:
    """Two independent service stacks on one database, as two API processes would be."""
    user = await make_account("100")
    other = build(settings)
    async with running(other, worker=False):
        use_clock(other).now = clock.now
        clients = [
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=create_app(settings, services=s)),
                base_url="http://t",
            )
            for s in (services, other)
        ]
        try:
            sends = await asyncio.gather(
                *(send_code(clients[i % 2], user.headers) for i in range(40))
            )
            assert Counter(a.status_code for a in sends) == {200: 1, 429: 39}
            [sent] = [a for a in sends if a.status_code == 200]
            code = sent.json()["data"]["verification_code"]
            guesses = await asyncio.gather(
                *(verify_code(clients[i % 2], user.headers, wrong(code)) for i in range(40))
            )
            assert Counter(a.status_code for a in guesses) == {400: 5, 429: 35}
        finally:
            for c in clients:
                await c.aclose()
