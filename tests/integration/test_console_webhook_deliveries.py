"""The console's recent webhook deliveries (SQLite and PostgreSQL): the account's events with
their status, attempts and last answer, and "Retry now" for a failed one (POST with CSRF;
another account's event is a 404)."""

from __future__ import annotations

import html
from typing import Any

import httpx

from console_forms import csrf_of, open_account, post_form
from support import MakeAccount, hook_receiver
from textgate.domain.retry import RetryPolicy
from textgate.services.container import Services
from textgate.store import messages, sql
from textgate.store.db import now_ms
from textgate.store.records import Caller
from textgate.worker.webhook_sender import WebhookSender

Client = httpx.AsyncClient
SERBIA = "+381690156360"


async def sign_up(client: Client, services: Services, email: str) -> Caller:
    await open_account(client, email)
    account = await services.accounts.find(email)
    await services.accounts.add_credits(account.id, 10_000_000)
    [key] = await services.accounts.list_keys(account.id)
    return Caller(account_id=account.id, key_id=key.id)


async def sent(services: Services, caller: Caller, n: int = 1) -> list[int]:
    """`n` messages queued and recorded as submitted: their message.sent events are made."""
    ids = [(await services.sender.send(caller, SERBIA, "hi")).message_id for _ in range(n)]
    claimed = await services.db.write(messages.claim, now=now_ms(), lease_ms=60_000, limit=100)
    outcomes = [messages.SubmitOutcome(c.id, c.attempts, "carrier", f"P{c.id}") for c in claimed]
    await services.db.write(messages.record, now=now_ms(), submitted=outcomes)
    return ids


def one_attempt(services: Services) -> WebhookSender:
    return WebhookSender(
        services.db,
        services.webhooks,
        policy=RetryPolicy(max_attempts=1),
        record_linger=0,
    )


async def events_of(services: Services, account_id: int) -> list[tuple[Any, ...]]:
    return await services.db.read(
        lambda conn: [
            tuple(r)
            for r in sql.execute(
                conn,
                "SELECT id, status, attempts, last_status_code FROM webhook_events"
                " WHERE account_id = ? ORDER BY id",
                (account_id,),
            )
        ]
    )


async def test_failed_deliveries_are_listed_and_retried_now(
    client: Client, services: Services
) -> None:
    caller = await sign_up(client, services, "deliveries@example.com")
    empty = await client.get("/console/settings")
    assert "Recent deliveries" in empty.text and "No events yet." in empty.text
    with hook_receiver(statuses=[500]) as receiver:
        await services.webhooks.set_url(caller.account_id, receiver.url)
        await sent(services, caller)
        assert await one_attempt(services).run_once() == 1
        [(event_id, status, attempts, code)] = await events_of(services, caller.account_id)
        assert (status, attempts, code) == ("failed", 1, 500)

        page = await client.get("/console/settings")
        assert page.status_code == 200
        row = page.text.split(f'id="event-{event_id}"')[1].split("</tr>")[0]
        assert "message.sent" in row and f"evt_{event_id}" in row
        assert "s-failed" in row and "HTTP 500" in row
        action = f"/console/settings/webhook/events/{event_id}/retry"
        assert f'action="{action}"' in row and "Retry now" in row

        forged = await client.post(action, data={"csrf": "made-up"})
        assert forged.status_code == 403
        assert (await events_of(services, caller.account_id))[0][1] == "failed"

        retried = await post_form(client, "/console/settings", action)
        assert retried.status_code == 303
        assert retried.headers["location"] == (
            "/console/settings?notice=webhook-retried#deliveries"
        )
        assert (await events_of(services, caller.account_id))[0][1:3] == ("pending", 1)

        assert await one_attempt(services).run_once() == 1  # the receiver answers 200 now
        assert len(receiver.got) == 2
        assert receiver.got[0].event_id == receiver.got[1].event_id == f"evt_{event_id}"
    assert (await events_of(services, caller.account_id))[0][1:] == ("delivered", 2, 200)
    page = await client.get("/console/settings?notice=webhook-retried")
    row = page.text.split(f'id="event-{event_id}"')[1].split("</tr>")[0]
    assert "s-delivered" in row and "HTTP 200" in row and "Retry now" not in row
    assert "The event is sent again now." in page.text

    again = await post_form(client, "/console/settings", action)
    assert again.status_code == 409
    assert "Only a failed event can be retried" in html.unescape(again.text)


async def test_another_accounts_event_is_a_404_and_never_shown(
    client: Client, services: Services, make_account: MakeAccount
) -> None:
    other = await make_account()
    with hook_receiver(statuses=[500]) as receiver:
        await services.webhooks.set_url(other.account.id, receiver.url)
        await sent(services, other_caller := Caller(other.account.id, other.key_id))
        assert await one_attempt(services).run_once() == 1
    [(theirs, status, _, _)] = await events_of(services, other_caller.account_id)
    assert status == "failed"

    await sign_up(client, services, "mine@example.com")
    page = await client.get("/console/settings")
    assert f"evt_{theirs}" not in page.text and "No events yet." in page.text
    token = await csrf_of(client, "/console/settings")
    for event_id in (theirs, theirs + 1000, 99999999999999999999):
        r = await client.post(
            f"/console/settings/webhook/events/{event_id}/retry", data={"csrf": token}
        )
        assert r.status_code == 404, (event_id, r.status_code)
        assert r.headers["content-type"].startswith("text/html")
    assert (await events_of(services, other_caller.account_id))[0][1] == "failed"
