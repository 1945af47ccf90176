"""The console's Operators pages over ASGI (SQLite and PostgreSQL): every account, credits,
the price table, provider health, the 404 others get; and HTML 404s under /console."""

from __future__ import annotations

import contextlib
import html
import logging
import re
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from smsc import PASSWORD, SYSTEM_ID, SmscProcess, eventually

from console_forms import csrf_of, open_account
from support import MakeAccount
from textgate.app import build, create_app, running
from textgate.services.container import Services
from textgate.settings import Settings

Client = httpx.AsyncClient
SERBIA = "+381690156360"
OPERATOR_PASSWORD = "operator password 1"
ROW = re.compile(r'<tr id="account-(\d+)">')


async def signed_in(client: Client, services: Services, email: str, *, operator: bool) -> int:
    """Signs up `email` in the console (it stays signed in); makes it an operator if asked."""
    await open_account(client, email, OPERATOR_PASSWORD)
    if operator:
        await services.accounts.set_operator(email, True)
    return (await services.accounts.find(email)).id


def is_html(r: httpx.Response) -> bool:
    return r.headers["content-type"].startswith("text/html")


async def test_operator_sees_every_account_the_prices_and_the_providers(
    client: Client, services: Services, make_account: MakeAccount
) -> None:
    alice = await make_account("3.25", email="alice@example.com")
    bob = await make_account("1", email="bob@example.org")
    sent = await client.post(
        "/api/send-sms", json={"phone_number": SERBIA, "text": "hello"}, headers=alice.headers
    )
    assert sent.status_code == 200, sent.text
    await signed_in(client, services, "root@example.net", operator=True)

    dashboard = await client.get("/console")
    assert 'href="/console/operators"' in dashboard.text
    r = await client.get("/console/operators")
    assert r.status_code == 200 and is_html(r)
    page = r.text
    rows = {int(i) for i in ROW.findall(page)}
    assert {alice.account.id, bob.account.id} <= rows and len(rows) == 3
    alice_row = page[page.index(f'id="account-{alice.account.id}"') :].split("</tr>")[0]
    assert "alice@example.com" in alice_row and "3.10" in alice_row  # 3.25 - one Serbian SMS
    assert 'class="keys">1<' in alice_row and 'class="month">1<' in alice_row
    assert "bob@example.org" in page and "(3 in all)" in page

    # The price table the server loaded, default and per country.
    assert services.prices.default_micros == 50_000
    assert 'id="default-price">0.05<' in page
    serbia = page[page.index('id="price-RS"') :].split("</tr>")[0]
    assert "Serbia" in serbia and "0.15" in serbia
    assert page.count('<tr id="price-') == len(services.prices.by_region)

    # The default console provider: up, no cap; this process runs no worker.
    console = page[page.index('id="provider-console"') :].split("</tr>")[0]
    assert "console" in console and ">up<" in console and "none" in console
    assert 'id="queued">1<' in page  # the Serbian message waits: there is no worker here
    assert "runs no worker" in page

    only_alice = await client.get("/console/operators", params={"q": "ALICE@"})
    assert {int(i) for i in ROW.findall(only_alice.text)} == {alice.account.id}
    none = await client.get("/console/operators", params={"q": "%_"})
    assert ROW.findall(none.text) == [] and "No accounts match" in none.text


async def test_accounts_come_25_to_a_page(
    client: Client, services: Services, make_account: MakeAccount
) -> None:
    for n in range(30):
        await make_account("1", email=f"many{n:02d}@example.com")
    await signed_in(client, services, "root@example.net", operator=True)
    first = await client.get("/console/operators")
    assert len(ROW.findall(first.text)) == 25
    assert 'rel="next"' in first.text and 'rel="prev"' not in first.text
    second = await client.get("/console/operators", params={"page": "2"})
    assert len(ROW.findall(second.text)) == 6  # 30 + the operator
    assert 'rel="next"' not in second.text and 'rel="prev"' in second.text
    assert not set(ROW.findall(first.text)) & set(ROW.findall(second.text))
    searched = await client.get("/console/operators", params={"q": "many2", "page": "1"})
    assert len(ROW.findall(searched.text)) == 10  # many20 .. many29
    odd = await client.get("/console/operators", params={"page": "x"})
    assert odd.status_code == 200 and len(ROW.findall(odd.text)) == 25


async def test_everyone_else_gets_the_plain_404(
    client: Client, services: Services, make_account: MakeAccount
) -> None:
    target = await make_account("1")
    signed_out = await client.get("/console/operators")
    assert signed_out.status_code == 303 and signed_out.headers["location"] == "/console/login"

    await signed_in(client, services, "plain@example.com", operator=False)
    dashboard = await client.get("/console")
    assert "/console/operators" not in dashboard.text
    token = await csrf_of(client, "/console/keys")
    answers = [
        await client.get("/console/operators"),
        await client.get("/console/operators", params={"q": "a"}),
        await client.get(f"/console/operators/accounts/{target.account.id}"),
        await client.get("/console/operators/accounts/999999"),
        await client.post(
            f"/console/operators/accounts/{target.account.id}/credits",
            data={"csrf": token, "amount": "5"},
        ),
        await client.post(
            f"/console/operators/accounts/{target.account.id}/credits", data={"amount": "5"}
        ),
        await client.post(
            f"/console/operators/accounts/{target.account.id}/operator",
            data={"csrf": token, "operator": "1"},
        ),
    ]
    for r in answers:
        assert r.status_code == 404, (r.request.url, r.status_code)
        assert is_html(r) and "Not Found" in r.text
        assert "Operators" not in r.text and "Add credits" not in r.text
    assert await services.accounts.balance(target.account.id) == 1_000_000
    assert not (await services.accounts.get(target.account.id)).is_operator


async def test_adding_credits_changes_the_balance_exactly(
    client: Client,
    services: Services,
    make_account: MakeAccount,
    caplog: pytest.LogCaptureFixture,
) -> None:
    target = await make_account("10")
    operator_id = await signed_in(client, services, "root@example.net", operator=True)
    page = f"/console/operators/accounts/{target.account.id}"
    token = await csrf_of(client, page)
    with caplog.at_level(logging.INFO, logger="textgate.operators"):
        r = await client.post(f"{page}/credits", data={"csrf": token, "amount": " 2.500001 "})
    assert r.status_code == 303 and r.headers["location"] == f"{page}?done=credits"
    assert await services.accounts.balance(target.account.id) == 12_500_001
    shown = await client.get(r.headers["location"])
    assert shown.status_code == 200
    assert 'id="balance">12.500001<' in shown.text and "Credits added." in shown.text
    balance = await client.get("/api/balance", headers=target.headers)
    assert balance.status_code == 200 and balance.json()["credits"] == "12.500001"

    [record] = [r for r in caplog.records if getattr(r, "action", "") == "operator_credits_added"]
    assert record.__dict__["operator"] == operator_id
    assert record.__dict__["account"] == target.account.id
    assert record.__dict__["micros"] == 2_500_001
    assert target.key not in caplog.text

    listing = await client.get("/console/operators")
    row = listing.text[listing.text.index(f'id="account-{target.account.id}"') :]
    assert "12.500001" in row.split("</tr>")[0]


@pytest.mark.parametrize(
    "amount",
    [
        "",
        "abc",
        "-1",
        "0",
        "0.000000",
        "1e3",
        "1.0000001",
        "NaN",
        "Infinity",
        "1000001",
        "1,5",
        "+5",
        "١٢",
        "5" * 50,
        "1_000",
    ],
)
async def test_bad_amounts_are_refused_with_a_400_page(
    client: Client, services: Services, make_account: MakeAccount, amount: str
) -> None:
    target = await make_account("10")
    await signed_in(client, services, "root@example.net", operator=True)
    page = f"/console/operators/accounts/{target.account.id}"
    token = await csrf_of(client, page)
    r = await client.post(f"{page}/credits", data={"csrf": token, "amount": amount})
    assert r.status_code == 400 and is_html(r), r.text
    assert 'id="amount-error"' in r.text and 'aria-invalid="true"' in r.text
    assert await services.accounts.balance(target.account.id) == 10_000_000


async def test_the_largest_addition_and_the_balance_limit(
    client: Client, services: Services, make_account: MakeAccount
) -> None:
    target = await make_account("0")
    await signed_in(client, services, "root@example.net", operator=True)
    page = f"/console/operators/accounts/{target.account.id}"
    token = await csrf_of(client, page)
    most = await client.post(f"{page}/credits", data={"csrf": token, "amount": "1000000"})
    assert most.status_code == 303
    assert await services.accounts.balance(target.account.id) == 10**12
    await services.accounts.add_credits(target.account.id, 10**15 - 10**12)  # at the limit
    over = await client.post(f"{page}/credits", data={"csrf": token, "amount": "0.000001"})
    assert over.status_code == 400 and "at most" in over.text
    assert await services.accounts.balance(target.account.id) == 10**15


async def test_csrf_and_unknown_accounts(
    client: Client, services: Services, make_account: MakeAccount
) -> None:
    target = await make_account("1")
    await signed_in(client, services, "root@example.net", operator=True)
    page = f"/console/operators/accounts/{target.account.id}"
    token = await csrf_of(client, page)
    missing = await client.post(f"{page}/credits", data={"amount": "5"})
    assert missing.status_code == 403 and is_html(missing)
    forged = await client.post(f"{page}/credits", data={"csrf": "made-up", "amount": "5"})
    assert forged.status_code == 403
    role = await client.post(f"{page}/operator", data={"operator": "1"})
    assert role.status_code == 403
    assert await services.accounts.balance(target.account.id) == 1_000_000
    assert not (await services.accounts.get(target.account.id)).is_operator

    for path in ("/console/operators/accounts/999999", "/console/operators/accounts/" + "9" * 30):
        assert (await client.get(path)).status_code == 404
        r = await client.post(f"{path}/credits", data={"csrf": token, "amount": "5"})
        assert r.status_code == 404 and is_html(r)
    abc = await client.get("/console/operators/accounts/abc")
    assert abc.status_code == 404 and is_html(abc)


async def test_promote_and_demote(
    client: Client, services: Services, make_account: MakeAccount
) -> None:
    target = await make_account("1")
    me = await signed_in(client, services, "root@example.net", operator=True)
    page = f"/console/operators/accounts/{target.account.id}"
    token = await csrf_of(client, page)
    up = await client.post(f"{page}/operator", data={"csrf": token, "operator": "1"})
    assert up.status_code == 303 and up.headers["location"] == f"{page}?done=promoted"
    assert (await services.accounts.get(target.account.id)).is_operator
    down = await client.post(f"{page}/operator", data={"csrf": token, "operator": "0"})
    assert down.status_code == 303
    assert not (await services.accounts.get(target.account.id)).is_operator
    odd = await client.post(f"{page}/operator", data={"csrf": token, "operator": "yes"})
    assert odd.status_code == 400 and is_html(odd)
    myself = await client.post(
        f"/console/operators/accounts/{me}/operator", data={"csrf": token, "operator": "0"}
    )
    assert myself.status_code == 400 and "your own" in myself.text
    assert (await services.accounts.get(me)).is_operator


async def test_unknown_console_paths_are_html_and_api_paths_json(client: Client) -> None:
    for path in ("/console/nope", "/console/operators/nope", "/console/static/nope.css"):
        r = await client.get(path)
        assert r.status_code == 404 and is_html(r), path
        assert "<h1>Not found</h1>" in r.text
        assert "set-cookie" not in r.headers  # it neither reads nor replaces the session
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    wrong_method = await client.put("/console/keys")
    assert wrong_method.status_code == 405 and is_html(wrong_method)
    for path in ("/api/v1/nope", "/consolex", "/nope"):
        api = await client.get(path)
        assert api.status_code == 404 and api.headers["content-type"].startswith(
            "application/json"
        ), path
        assert api.json() == {"ok": False, "status": 404, "message": "Not found"}


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def smpp_console(
    database_url: str, settings_for: Callable[..., Settings], smsc_peer: SmscProcess
) -> AsyncIterator[tuple[Services, Client]]:
    """textgate with a worker and two SMPP providers: one bound to the peer, one whose
    SMSC does not answer."""
    common: dict[str, Any] = {
        "type": "smpp",
        "host": "127.0.0.1",
        "system_id": SYSTEM_ID,
        "password": PASSWORD,
        "reconnect_initial": 0.05,
        "reconnect_max": 0.3,
    }
    settings = settings_for(
        database_url,
        providers={
            "carrier": {**common, "port": smsc_peer.smpp_port, "throughput": 50},
            "backup": {**common, "port": closed_port()},
        },
        routes=(
            {"country": "RS", "providers": ["backup", "carrier"]},
            {"prefix": "+", "providers": ["carrier"]},
        ),
    )
    async with contextlib.AsyncExitStack() as stack:
        svc = build(settings)
        await stack.enter_async_context(running(svc, worker=True))
        transport = httpx.ASGITransport(app=create_app(settings, services=svc))
        http = await stack.enter_async_context(
            httpx.AsyncClient(transport=transport, base_url="http://textgate")
        )
        yield svc, http


async def test_provider_health_over_smpp(smpp_console: tuple[Services, Client]) -> None:
    services, client = smpp_console
    carrier = services.router.providers["carrier"]
    backup = services.router.providers["backup"]
    await eventually(lambda: carrier.health().up, what="the carrier to bind")
    await eventually(lambda: backup.health().last_error is not None, what="a refused connect")
    await signed_in(client, services, "root@example.net", operator=True)
    page = (await client.get("/console/operators")).text
    assert "runs no worker" not in page
    up = html.unescape(page[page.index('id="provider-carrier"') :].split("</tr>")[0])
    assert ">up<" in up and "smpp" in up and "50.0 / s" in up
    port = services.settings.providers["carrier"]["port"]
    assert "binds: 1/1" in up and f"smsc: 127.0.0.1:{port}" in up
    assert "RS, +" in up
    down = html.unescape(page[page.index('id="provider-backup"') :].split("</tr>")[0])
    assert ">down<" in down and "binds: 0/1" in down and "connect failed" in down
    assert "none" in down and "RS" in down
    assert PASSWORD not in page
