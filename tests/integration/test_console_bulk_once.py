"""Starting a bulk job from the console is idempotent (SQLite and PostgreSQL): a preview's
one-time token starts at most one job, however often and however concurrently its form is
posted; every post after the first leads to that job and charges nothing."""

from __future__ import annotations

import asyncio
import html
import logging
import re

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from console_forms import csrf_in, csrf_of, open_account
from support import MakeAccount
from textgate.domain import money
from textgate.services.container import Services
from textgate.store.records import Account
from textgate.store.tables import bulk_jobs

Client = httpx.AsyncClient
HIDDEN = re.compile(r'<input type="hidden" name="(numbers|text|start_token)" value="([^"]*)">')
#: Two Serbian numbers and one US number: 0.15 + 0.15 + 0.01.
CSV = "phone\n+381690156360\n+381690000001\n+12015550123\n"
PRICE = money.to_micros("0.31")


async def signed_up(client: Client, services: Services, email: str = "once@example.com") -> Account:
    await open_account(client, email)
    account = await services.accounts.find(email)
    await services.accounts.add_credits(account.id, money.to_micros("10"))
    return await services.accounts.get(account.id)


async def start_form(client: Client, csv: str = CSV) -> dict[str, str]:
    """The start form of a fresh preview of `csv`: csrf, numbers, text, start_token."""
    preview = await client.post(
        "/console/bulk/preview",
        data={"csrf": await csrf_of(client, "/console/bulk"), "text": "Sale today"},
        files={"file": ("numbers.csv", csv.encode(), "text/csv")},
    )
    assert preview.status_code == 200, preview.text
    fields = {name: html.unescape(value) for name, value in HIDDEN.findall(preview.text)}
    assert set(fields) == {"numbers", "text", "start_token"}
    return {"csrf": csrf_in(preview), **fields}


def job_of(r: httpx.Response) -> int:
    assert r.status_code == 303, r.text
    found = re.fullmatch(r"/console/bulk/(\d+)", r.headers["location"])
    assert found is not None, r.headers["location"]
    return int(found.group(1))


async def job_count(services: Services, account_id: int) -> int:
    def count(conn: Connection) -> int:
        query = sa.select(sa.func.count()).where(bulk_jobs.c.account_id == account_id)
        return int(conn.execute(query).scalar_one())

    return await services.db.read(count)


async def test_a_repost_leads_to_the_job_already_started(
    client: Client, services: Services
) -> None:
    account = await signed_up(client, services)
    form = await start_form(client)
    first = job_of(await client.post("/console/bulk/start", data=form))
    assert await services.accounts.balance(account.id) == account.credits_micros - PRICE
    again = await client.post("/console/bulk/start", data=form)
    assert job_of(again) == first
    # Whatever else the re-post says, the token's job is the answer: nothing is charged.
    changed = {**form, "numbers": '["+381690000002"]', "text": "Another"}
    assert job_of(await client.post("/console/bulk/start", data=changed)) == first
    assert await services.accounts.balance(account.id) == account.credits_micros - PRICE
    assert await job_count(services, account.id) == 1
    job = await services.bulk.job(account.id, first)
    assert job.recipients == 3 and job.body == "Sale today"
    # A new preview is a new token: a second job.
    second = job_of(await client.post("/console/bulk/start", data=await start_form(client)))
    assert second != first
    assert await job_count(services, account.id) == 2
    assert await services.accounts.balance(account.id) == account.credits_micros - 2 * PRICE


async def test_concurrent_starts_with_one_token_make_one_job(
    client: Client, services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    account = await signed_up(client, services)
    form = await start_form(client)
    caplog.set_level(logging.INFO, logger="textgate.services.bulk")
    answers = await asyncio.gather(
        *(client.post("/console/bulk/start", data=form) for _ in range(4))
    )
    jobs = {job_of(r) for r in answers}
    assert len(jobs) == 1
    assert await job_count(services, account.id) == 1
    assert await services.accounts.balance(account.id) == account.credits_micros - PRICE
    (job_id,) = jobs
    job = await services.bulk.job(account.id, job_id)
    assert job.recipients == 3 and job.pending == 3 and job.price_micros == PRICE
    actions = [getattr(r, "action", None) for r in caplog.records]
    assert actions.count("bulk_job_accepted") == 1
    assert actions.count("bulk_job_start_repeated") == 3


async def test_concurrent_starts_when_the_balance_pays_for_one_job(
    client: Client, services: Services
) -> None:
    """The later posts wait for the first and find its job: none of them is told the
    balance is short (the first spent it)."""
    account = await signed_up(client, services)
    form = await start_form(client)
    await services.accounts.add_credits(account.id, PRICE - account.credits_micros)
    answers = await asyncio.gather(
        *(client.post("/console/bulk/start", data=form) for _ in range(4))
    )
    assert len({job_of(r) for r in answers}) == 1
    assert await job_count(services, account.id) == 1
    assert await services.accounts.balance(account.id) == 0


async def test_a_refused_start_does_not_use_up_its_token(
    client: Client, services: Services
) -> None:
    account = await signed_up(client, services)
    form = await start_form(client)
    balance = account.credits_micros
    await services.accounts.add_credits(account.id, -balance)
    refused = await client.post("/console/bulk/start", data=form)
    assert refused.status_code == 402 and "Not enough credits" in refused.text
    assert await job_count(services, account.id) == 0
    await services.accounts.add_credits(account.id, balance)
    job_id = job_of(await client.post("/console/bulk/start", data=form))
    assert await services.accounts.balance(account.id) == balance - PRICE
    assert job_of(await client.post("/console/bulk/start", data=form)) == job_id


async def test_a_start_without_a_good_token_is_refused(client: Client, services: Services) -> None:
    account = await signed_up(client, services)
    form = await start_form(client)
    for token in (None, "", "short", "x" * 65, "no spaces in tokens!", "ü" * 32):
        data = {k: v for k, v in form.items() if k != "start_token"}
        if token is not None:
            data["start_token"] = token
        r = await client.post("/console/bulk/start", data=data)
        assert r.status_code == 400, (token, r.text)
        assert r.headers["content-type"].startswith("text/html")
        assert "upload the file again" in r.text
    assert await job_count(services, account.id) == 0
    assert await services.accounts.balance(account.id) == account.credits_micros


async def test_tokens_are_per_account_and_unique_in_the_table(
    client: Client, services: Services, make_account: MakeAccount
) -> None:
    account = await signed_up(client, services)
    other = await make_account()
    form = await start_form(client)
    token = form["start_token"]
    mine = job_of(await client.post("/console/bulk/start", data=form))

    def add_job(conn: Connection, account_id: int) -> None:
        conn.execute(
            bulk_jobs.insert().values(
                account_id=account_id,
                body="x",
                encoding="gsm7",
                segments=1,
                recipients=0,
                rejected_invalid=0,
                rejected_duplicate=0,
                rejected_opted_out=0,
                price_micros=0,
                created_at=0,
                console_token=token,
            )
        )

    # The same token in another account is another account's business.
    await services.db.write(add_job, other.account.id)
    # A second job of this account with the token: the unique index refuses it.
    with pytest.raises(sa.exc.IntegrityError):
        await services.db.write(add_job, account.id)
    assert await job_count(services, account.id) == 1
    assert job_of(await client.post("/console/bulk/start", data=form)) == mine
