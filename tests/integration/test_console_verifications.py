"""The console's verification log (SQLite and PostgreSQL): every code sent through the API,
its state, filters and pages, no code ever shown, and no other account's codes."""

from __future__ import annotations

import asyncio
import re

import httpx

from console_forms import open_account
from textgate.services.container import Services
from verify_support import send_code, use_clock, verify_code, wrong

Client = httpx.AsyncClient
ROW = re.compile(
    r"<tr>\s*<td>(?P<phone>\+\d+)</td>\s*<td>(?P<sent>[^<]*)</td>\s*<td>(?P<expires>[^<]*)</td>"
    r"\s*<td>(?P<attempts>[^<]*)</td>\s*<td><span class=\"status v-[a-z-]+\">(?P<state>[a-z-]+)"
)


async def sign_up(client: Client, services: Services, email: str) -> dict[str, str]:
    """Signs up (and in) through the console, with credit for many codes; answers the API
    headers of the account's first key."""
    auth = await open_account(client, email)
    account = await services.accounts.find(email)
    await services.accounts.add_credits(account.id, 20_000_000)
    return auth


def rows(page: httpx.Response) -> list[dict[str, str]]:
    assert page.status_code == 200, page.text
    return [m.groupdict() for m in ROW.finditer(page.text)]


def states(page: httpx.Response) -> dict[str, list[str]]:
    """Each number's codes' states, newest first."""
    found: dict[str, list[str]] = {}
    for row in rows(page):
        found.setdefault(row["phone"], []).append(row["state"])
    return found


def shows(page: httpx.Response, code: str) -> bool:
    """Whether the code appears as a whole number anywhere on the page."""
    return re.search(rf"(?<!\d){code}(?!\d)", page.text) is not None


async def test_the_log_shows_each_code_and_its_state_but_never_the_code(
    client: Client, services: Services
) -> None:
    auth = await sign_up(client, services, "log@example.com")
    clock = use_clock(services)
    codes: dict[str, str] = {}

    async def sent(phone: str, **fields: object) -> str:
        r = await send_code(client, auth, phone, **fields)
        assert r.status_code == 200, r.text
        code: str = r.json()["data"]["verification_code"]
        codes[phone] = code
        return code

    pending, verified, expired, locked, replaced = (f"+38169015636{i}" for i in range(5))
    await sent(pending)
    code = await sent(verified)
    assert (await verify_code(client, auth, code, verified)).json()["valid"] is True
    await sent(expired, seconds=1)
    code = await sent(locked)
    for _ in range(services.settings.otp_max_attempts):
        assert (await verify_code(client, auth, wrong(code), locked)).json()["valid"] is False
    first = await sent(replaced)
    clock.advance(31)  # past the least gap between two codes to one number
    second = await sent(replaced)
    sms = await client.post(
        "/api/send-sms", json={"phone_number": "+381690156399", "text": "not a code"}, headers=auth
    )
    assert sms.status_code == 200
    await asyncio.sleep(1.1)  # the one-second code runs out on the page's (real) clock

    page = await client.get("/console/verifications")
    assert states(page) == {
        pending: ["pending"],
        verified: ["verified"],
        expired: ["expired"],
        locked: ["locked-out"],
        replaced: ["pending", "replaced"],
    }
    newest_first = [replaced, replaced, locked, expired, verified, pending]
    assert [r["phone"] for r in rows(page)] == newest_first
    by_phone = {r["phone"]: r for r in rows(page)}
    assert by_phone[locked]["attempts"] == str(services.settings.otp_max_attempts)
    assert by_phone[pending]["attempts"] == "0" and by_phone[pending]["expires"].endswith("UTC")
    assert rows(page)[1]["expires"] == "—" and rows(page)[1]["attempts"] == "—"
    assert "+381690156399" not in page.text  # a plain SMS is not a code
    assert "never shown here" in page.text
    for code in [*codes.values(), first, second]:
        assert not shows(page, code), code


async def test_filter_by_number_and_pages(client: Client, services: Services) -> None:
    auth = await sign_up(client, services, "pages@example.com")
    numbers = [f"+38169{i:07d}" for i in range(27)]
    for number in numbers:
        assert (await send_code(client, auth, number)).status_code == 200
    first = await client.get("/console/verifications")
    assert [r["phone"] for r in rows(first)] == numbers[::-1][:25]
    assert 'href="/console/verifications?page=2"' in first.text and 'rel="prev"' not in first.text
    second = await client.get("/console/verifications", params={"page": "2"})
    assert [r["phone"] for r in rows(second)] == [numbers[1], numbers[0]]
    assert 'rel="next"' not in second.text
    one = await client.get("/console/verifications", params={"number": "+381 69 000 0012"})
    assert [r["phone"] for r in rows(one)] == [numbers[12]]
    assert 'value="+381690000012"' in one.text
    some = await client.get("/console/verifications", params={"number": "00002"})
    assert [r["phone"] for r in rows(some)] == [*numbers[26:19:-1], numbers[2]]
    none = await client.get("/console/verifications", params={"number": "%_"})
    assert rows(none) == [] and "No verification codes to numbers matching" in none.text
    for odd in ("0", "-1", "abc", "9" * 30):
        assert (await client.get("/console/verifications", params={"page": odd})).status_code == 200
    long = await client.get("/console/verifications", params={"number": "1" * 5000})
    assert long.status_code == 200


async def test_another_accounts_codes_are_never_shown(client: Client, services: Services) -> None:
    theirs = await sign_up(client, services, "theirs@example.com")
    assert (await send_code(client, theirs, "+14155550100")).status_code == 200
    client.cookies.clear()
    mine = await sign_up(client, services, "mine@example.com")
    assert (await send_code(client, mine, "+381690156360")).status_code == 200
    page = await client.get("/console/verifications")
    assert [r["phone"] for r in rows(page)] == ["+381690156360"]
    assert "+14155550100" not in page.text
    filtered = await client.get("/console/verifications", params={"number": "4155550100"})
    assert rows(filtered) == []


async def test_a_masked_account_is_told_so(client: Client, services: Services) -> None:
    auth = await sign_up(client, services, "masked@example.com")
    account = await services.accounts.find("masked@example.com")
    await services.verifier.set_options(account.id, mask_codes=True)
    sent = await send_code(client, auth, "+381690156360")
    assert sent.json()["data"]["verification_code"] == "******"
    page = await client.get("/console/verifications")
    assert "masks codes" in page.text and len(rows(page)) == 1


async def test_signed_out_visitors_are_sent_to_log_in(client: Client) -> None:
    r = await client.get("/console/verifications")
    assert r.status_code == 303 and r.headers["location"] == "/console/login"
