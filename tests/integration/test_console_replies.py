"""The console's replies page (SQLite and PostgreSQL): the inbound messages matched to the
signed-in account, newest first, filtered by number, in pages; never another account's."""

from __future__ import annotations

import html
import re

import httpx

from console_forms import open_account
from support import MakeAccount
from textgate.delivery.base import Inbound
from textgate.services.container import Services
from textgate.services.receipts import ReceiptIntake
from textgate.store import inbound, messages
from textgate.store.db import now_ms

Client = httpx.AsyncClient
ROW = re.compile(
    r"<tr>\s*<td>(?P<received>[^<]*)</td>\s*<td>(?P<sender>[^<]*)</td>\s*<td>(?P<to>[^<]*)</td>"
    r"\s*<td>(?P<text>[^<]*)</td>\s*<td>(?P<provider>[^<]*)</td>\s*</tr>"
)
MINE = "+381690156360"
ALSO_MINE = "+381690156361"
THEIRS = "+381690156370"


def rows(page: httpx.Response) -> list[dict[str, str]]:
    assert page.status_code == 200, page.text
    return [
        {k: html.unescape(v) for k, v in m.groupdict().items()} for m in ROW.finditer(page.text)
    ]


async def sent_to(client: Client, services: Services, auth: dict[str, str], *to: str) -> None:
    """Sends an SMS to each number through the API and records the provider's acceptance, as
    the worker would: the `message.sent` events that replies are matched by."""
    for number in to:
        r = await client.post(
            "/api/send-sms", json={"phone_number": number, "text": "Reply YES"}, headers=auth
        )
        assert r.status_code == 200, r.text
    claimed = await services.db.write(messages.claim, now=now_ms(), lease_ms=60_000, limit=100)
    assert len(claimed) == len(to)
    outcomes = [messages.SubmitOutcome(c.id, c.attempts, "carrier", f"p{c.id}") for c in claimed]
    await services.db.write(messages.record, now=now_ms(), submitted=outcomes)


async def receive(services: Services, *replies: tuple[str, str]) -> None:
    """Stores (from, text) messages to our sender id, as the provider's intake does."""
    items = [inbound.NewInbound("carrier", sender, "TextGate", text) for sender, text in replies]
    await services.db.write(inbound.insert, items, now=now_ms())


async def sign_up_with_webhook(client: Client, services: Services, email: str) -> dict[str, str]:
    auth = await open_account(client, email)
    account = await services.accounts.find(email)
    await services.accounts.add_credits(account.id, 20_000_000)
    await services.webhooks.set_url(account.id, "https://hooks.example.com/textgate")
    return auth


async def test_the_accounts_replies_appear_newest_first_and_no_one_elses(
    client: Client, services: Services, make_account: MakeAccount
) -> None:
    auth = await sign_up_with_webhook(client, services, "replies@example.com")
    other = await make_account()
    await services.webhooks.set_url(other.account.id, "https://hooks.example.com/other")
    await sent_to(client, services, auth, MINE)
    await sent_to(client, services, other.headers, THEIRS)

    await receive(services, (MINE, "Yes <please>"), (THEIRS, "their secret"))
    intake = ReceiptIntake(services.db)  # the way a provider's replies arrive
    intake.start()
    await intake.inbound(Inbound("carrier", MINE, "TextGate", "And again"))
    await intake.inbound(Inbound("carrier", "+381690000000", "TextGate", "who is this?"))
    await intake.stop()

    page = await client.get("/console/replies")
    assert [(r["sender"], r["to"], r["text"], r["provider"]) for r in rows(page)] == [
        (MINE, "TextGate", "And again", "carrier"),
        (MINE, "TextGate", "Yes <please>", "carrier"),
    ]
    assert all(r["received"].endswith(" UTC") for r in rows(page))
    assert "Yes &lt;please&gt;" in page.text  # escaped, never markup
    assert "their secret" not in page.text and THEIRS not in page.text
    assert "who is this?" not in page.text
    assert 'href="/console/replies" aria-current="page"' in page.text

    # The other account's reply is stored as its own, and is not found here by its number.
    stored = {m.text: m.account_id for m in await services.db.read(inbound.recent)}
    assert stored["their secret"] == other.account.id
    assert rows(await client.get("/console/replies?number=6370")) == []


async def test_replies_filter_by_number_and_come_in_pages(
    client: Client, services: Services
) -> None:
    auth = await sign_up_with_webhook(client, services, "pages@example.com")
    await sent_to(client, services, auth, MINE, ALSO_MINE)
    await receive(services, *((MINE, f"reply {i}") for i in range(30)))
    await receive(services, (ALSO_MINE, "from the other number"))

    first = rows(await client.get("/console/replies"))
    assert len(first) == 25
    assert first[0]["text"] == "from the other number" and first[1]["text"] == "reply 29"
    page = await client.get("/console/replies?page=2")
    second = rows(page)
    assert [r["text"] for r in second] == [f"reply {i}" for i in range(5, -1, -1)]
    assert (
        'href="/console/replies?page=1" rel="prev"' in page.text and 'rel="next"' not in page.text
    )

    filtered = await client.get("/console/replies?number=%2B381 69-015 6361")
    assert [r["text"] for r in rows(filtered)] == ["from the other number"]
    assert 'value="+3816901566361"' not in filtered.text  # the filter is kept cleaned
    assert 'value="+381690156361"' in filtered.text

    paged = await client.get("/console/replies?number=6360&page=2")
    assert [r["text"] for r in rows(paged)] == [f"reply {i}" for i in range(4, -1, -1)]
    assert 'href="/console/replies?number=6360&amp;page=1"' in paged.text
    assert rows(await client.get("/console/replies?number=999999")) == []
    assert (await client.get("/console/replies?page=nope")).status_code == 200


async def test_the_replies_page_needs_a_sign_in(client: Client) -> None:
    r = await client.get("/console/replies", follow_redirects=False)
    assert r.status_code in (302, 303), r.text
    assert r.headers["location"].startswith("/console/login")
