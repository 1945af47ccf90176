"""The console's settings page (SQLite and PostgreSQL): webhook URL, secret and test events
to a real HTTP server on loopback, verification options used by the API's send-code,
opt-outs honoured by the API's bulk-sms, CSRF, and one account never seeing another's."""

from __future__ import annotations

import html
import json
import re
import socket
import time

import httpx
import pytest
import sqlalchemy as sa

from console_forms import csrf_of, open_account, post_form
from support import Hook, hook_receiver
from textgate import secrets as textgate_secrets
from textgate.domain import webhooks
from textgate.services import opt_outs
from textgate.services.container import Services
from textgate.services.webhooks import WebhookService
from textgate.store.tables import webhooks as webhooks_table

Client = httpx.AsyncClient
SERBIA = "+381690156360"
GERMANY = "+4915123456789"
NEW_SECRET = re.compile(r'id="new-secret" type="text" readonly value="([^"]+)"')


# --- console helpers -----------------------------------------------------------------------


async def post(client: Client, path: str, **fields: str) -> httpx.Response:
    """Posts a settings form: `fields` with the settings page's CSRF token."""
    return await post_form(client, "/console/settings", path, **fields)


def secret_in(page: httpx.Response) -> str:
    found = NEW_SECRET.search(page.text)
    assert found is not None, page.text
    return html.unescape(found.group(1))


def notice_of(r: httpx.Response) -> str:
    assert r.status_code == 303, r.text
    location = r.headers["location"]
    assert location.startswith("/console/settings?notice=")
    return location.split("notice=")[1].split("#")[0]


async def credit(services: Services, email: str, micros: int = 10_000_000) -> int:
    account = await services.accounts.find(email)
    await services.accounts.add_credits(account.id, micros)
    return account.id


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def assert_signed(received: Hook, secret: str) -> dict[str, object]:
    header = received.headers["x-textgate-signature"]
    t = webhooks.verify(secret, received.body, header, now=time.time())
    event: dict[str, object] = json.loads(received.body)
    assert event["created"] == t
    assert received.headers["x-textgate-event"] == event["type"]
    assert received.headers["x-textgate-event-id"] == event["id"]
    assert received.headers["content-type"] == "application/json"
    return event


# --- webhook -------------------------------------------------------------------------------


async def test_webhook_urls_are_checked(client: Client, services: Services) -> None:
    await open_account(client, "urls@example.com")
    account = await services.accounts.find("urls@example.com")
    for bad, words in (
        ("ftp://example.com/x", "http:// or https://"),
        ("https://user:pw@example.com/", "user name or password"),
        ("not a url", "spaces"),
        ("https://example.com:70000/", "not a valid URL"),
        ("", "Enter the webhook URL"),
        ("https://example.com/" + "a" * 2100, "longer than 2000"),
    ):
        r = await post(client, "/console/settings/webhook", url=bad)
        assert r.status_code == 400, (bad, r.status_code)
        assert r.headers["content-type"].startswith("text/html")
        assert words in html.unescape(r.text), bad
        assert 'id="webhook-error"' in r.text
    assert (await services.webhooks.webhook(account.id)).url is None
    first = await post(client, "/console/settings/webhook", url=" https://example.com/a ")
    assert first.status_code == 200 and "Your new signing secret" in first.text
    assert secret_in(first).startswith("whsec_")
    second = await post(client, "/console/settings/webhook", url="https://example.com/b")
    assert notice_of(second) == "webhook-saved"
    page = (await client.get("/console/settings")).text
    assert "https://example.com/b" in page and "new-secret" not in page
    assert (await services.webhooks.webhook(account.id)).url == "https://example.com/b"
    cleared = await post(client, "/console/settings/webhook/clear")
    assert notice_of(cleared) == "webhook-cleared"
    view = await services.webhooks.webhook(account.id)
    assert view.url is None and view.has_secret


async def test_the_test_event_arrives_signed_with_the_shown_secret(
    client: Client, services: Services
) -> None:
    await open_account(client, "hook@example.com")
    account = await services.accounts.find("hook@example.com")
    with hook_receiver() as hook:
        saved = await post(client, "/console/settings/webhook", url=hook.url)
        secret = secret_in(saved)
        r = await post(client, "/console/settings/webhook/test")
        assert r.status_code == 200, r.text
        assert "HTTP 200" in r.text and 'id="test-result"' in r.text
        [received] = hook.got
    assert received.path == "/hooks"
    event = assert_signed(received, secret)
    assert event["type"] == "test" and str(event["id"]).startswith("evt_")
    assert isinstance(event["data"], dict) and event["data"]["message"]
    assert str(event["id"]) in r.text
    # Kept sealed: the secret is in no column, and not shown on the page again.
    sealed = await services.db.read(
        lambda conn: conn.execute(
            sa.select(webhooks_table.c.secret_sealed).where(
                webhooks_table.c.account_id == account.id
            )
        ).scalar_one()
    )
    assert secret.encode() not in bytes(sealed)
    assert secret not in (await client.get("/console/settings")).text


async def test_rotation_changes_the_secret(client: Client, services: Services) -> None:
    await open_account(client, "rotate@example.com")
    with hook_receiver() as hook:
        old = secret_in(await post(client, "/console/settings/webhook", url=hook.url))
        rotated = await post(client, "/console/settings/webhook/rotate")
        assert rotated.status_code == 200
        new = secret_in(rotated)
        assert new != old and new.startswith("whsec_") and len(new) == len(old)
        assert (await post(client, "/console/settings/webhook/test")).status_code == 200
        [received] = hook.got
    assert_signed(received, new)
    with pytest.raises(webhooks.InvalidSignature):
        assert_signed(received, old)


async def test_a_receiver_that_is_down_or_failing_is_reported_not_a_500(
    client: Client, services: Services
) -> None:
    await open_account(client, "down@example.com")
    url = f"http://127.0.0.1:{closed_port()}/hook"
    await post(client, "/console/settings/webhook", url=url)
    down = await post(client, "/console/settings/webhook/test")
    assert down.status_code == 200, down.text
    assert "was not delivered" in down.text and "Could not connect" in down.text
    with hook_receiver(status=500) as failing:
        await post(client, "/console/settings/webhook", url=failing.url)
        r = await post(client, "/console/settings/webhook/test")
        assert r.status_code == 200 and "HTTP 500" in r.text and "not a 2xx" in r.text
        assert len(failing.got) == 1
    with (
        hook_receiver() as target,
        hook_receiver(status=302, headers={"Location": target.url}) as moved,
    ):
        await post(client, "/console/settings/webhook", url=moved.url)
        r = await post(client, "/console/settings/webhook/test")
        assert r.status_code == 200 and "HTTP 302" in r.text
        assert len(moved.got) == 1 and target.got == []  # redirects are not followed


async def test_a_receiver_that_does_not_answer_times_out(
    client: Client, services: Services
) -> None:
    settings = services.settings
    key = textgate_secrets.load_or_create(settings.code_key, settings.data_dir, "code.key")
    quick = WebhookService(
        services.db, webhooks.SecretBox(key), timeout=0.3, private_addresses=True
    )
    services.webhooks, previous = quick, services.webhooks
    try:
        await open_account(client, "slow@example.com")
        with hook_receiver(delay=2.0) as slow:
            await post(client, "/console/settings/webhook", url=slow.url)
            started = time.monotonic()
            r = await post(client, "/console/settings/webhook/test")
            assert time.monotonic() - started < 1.9
        assert r.status_code == 200 and "No answer within 0.3 seconds" in r.text
    finally:
        services.webhooks = previous
        await quick.aclose()


async def test_a_test_event_needs_a_url(client: Client) -> None:
    await open_account(client, "nourl@example.com")
    page = (await client.get("/console/settings")).text
    assert "No URL set" in page and "Send a test event" not in page
    r = await post(client, "/console/settings/webhook/test")
    assert r.status_code == 409 and "Set a webhook URL first" in r.text


# --- verification options ------------------------------------------------------------------


async def send_code(client: Client, auth: dict[str, str], phone: str) -> httpx.Response:
    return await client.post("/api/send-code", json={"phone_number": phone}, headers=auth)


async def test_verification_options_round_trip_and_rule_send_code(
    client: Client, services: Services
) -> None:
    auth = await open_account(client, "otp@example.com")
    account_id = await credit(services, "otp@example.com")
    r = await post(
        client,
        "/console/settings/verification",
        code_length="8",
        mask_codes="yes",
        allowed_countries=" rs, US ",
        prefix_hourly="2",
    )
    assert notice_of(r) == "verification-saved"
    page = (await client.get("/console/settings?notice=verification-saved")).text
    assert "The verification options are saved." in page
    assert '<option value="8" selected>' in page
    assert 'name="mask_codes" type="checkbox" value="yes" checked' in page
    assert 'value="RS,US"' in page and 'name="prefix_hourly"' in page and 'value="2"' in page
    options = await services.verifier.options(account_id)
    assert options.code_length == 8 and options.mask_codes
    assert options.allowed_countries == frozenset({"RS", "US"}) and options.prefix_hourly == 2

    sent = await send_code(client, auth, SERBIA)
    assert sent.status_code == 200, sent.text
    assert sent.json()["data"]["verification_code"] == "********"
    assert (await send_code(client, auth, GERMANY)).status_code == 403
    assert (await send_code(client, auth, "+381690156361")).status_code == 200
    third = await send_code(client, auth, "+381690156362")
    assert third.status_code == 429 and "+381" in third.json()["message"]

    back = await post(
        client,
        "/console/settings/verification",
        code_length="",
        allowed_countries="",
        prefix_hourly="",
    )
    assert notice_of(back) == "verification-saved"
    options = await services.verifier.options(account_id)
    assert options.code_length is None and not options.mask_codes
    assert options.allowed_countries is None and options.prefix_hourly is None
    germany = await send_code(client, auth, GERMANY)
    assert germany.status_code == 200, germany.text
    code = germany.json()["data"]["verification_code"]
    assert code.isdigit() and len(code) == services.settings.otp_code_length


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"code_length": "3"}, "4 to 10 digits"),
        ({"code_length": "11"}, "4 to 10 digits"),
        ({"code_length": "six"}, "number of digits"),
        ({"allowed_countries": "RS,XX"}, "Unknown country code"),
        ({"allowed_countries": ",,"}, "is empty"),
        ({"allowed_countries": "RS," * 400}, "too long"),
        ({"prefix_hourly": "0"}, "1 to 100"),
        ({"prefix_hourly": "101"}, "1 to 100"),
        ({"prefix_hourly": "-1"}, "whole number"),
        ({"prefix_hourly": "9" * 40}, "whole number"),
        ({"prefix_hourly": "1.5"}, "whole number"),
    ],
)
async def test_bad_verification_options_are_a_400_and_change_nothing(
    client: Client, services: Services, fields: dict[str, str], words: str
) -> None:
    await open_account(client, "badotp@example.com")
    account = await services.accounts.find("badotp@example.com")
    r = await post(client, "/console/settings/verification", mask_codes="yes", **fields)
    assert r.status_code == 400, r.text
    assert words in html.unescape(r.text) and 'id="verification-error"' in r.text
    options = await services.verifier.options(account.id)
    assert options == type(options)()  # still the defaults: nothing half-saved


# --- opt-outs ------------------------------------------------------------------------------


async def bulk_sms(client: Client, auth: dict[str, str], numbers: list[str]) -> httpx.Response:
    return await client.post(
        "/api/bulk-sms", json={"phone_numbers": numbers, "text": "Sale!"}, headers=auth
    )


async def test_opt_outs_added_and_removed_in_the_console_rule_the_api(
    client: Client, services: Services
) -> None:
    auth = await open_account(client, "optout@example.com")
    account_id = await credit(services, "optout@example.com")
    added = await post(client, "/console/settings/opt-outs", number="+381 69 015 6360")
    assert notice_of(added) == "opt-out-added"
    assert await opt_outs.numbers(services.db, account_id) == [SERBIA]
    page = await client.get("/console/settings")
    assert SERBIA in page.text and "1 number opted out" in page.text
    again = await post(client, "/console/settings/opt-outs", number=SERBIA)
    assert notice_of(again) == "opt-out-present"

    refused = await bulk_sms(client, auth, [SERBIA])
    assert refused.status_code == 400 and "opted out" in refused.json()["message"]
    assert refused.json()["rejected_by_reason"]["opted out"] == 1

    removed = await post(client, "/console/settings/opt-outs/remove", number=SERBIA)
    assert notice_of(removed) == "opt-out-removed"
    assert await opt_outs.numbers(services.db, account_id) == []
    accepted = await bulk_sms(client, auth, [SERBIA])
    assert accepted.status_code == 200 and accepted.json()["accepted"] == 1
    gone = await post(client, "/console/settings/opt-outs/remove", number=SERBIA)
    assert notice_of(gone) == "opt-out-absent"

    bad = await post(client, "/console/settings/opt-outs", number="12345")
    assert bad.status_code == 400 and 'id="opt-out-error"' in bad.text
    assert await opt_outs.numbers(services.db, account_id) == []


async def test_the_opt_out_list_has_pages(client: Client, services: Services) -> None:
    await open_account(client, "many@example.com")
    account = await services.accounts.find("many@example.com")
    numbers = [f"+38169{i:07d}" for i in range(55)]
    for number in numbers:
        await opt_outs.add(services.db, account.id, number)
    first = (await client.get("/console/settings")).text
    assert "55 numbers opted out" in first
    assert numbers[0] in first and numbers[49] in first and numbers[50] not in first
    assert 'href="/console/settings?page=2#opt-outs"' in first
    second = (await client.get("/console/settings", params={"page": "2"})).text
    assert numbers[50] in second and numbers[54] in second and numbers[49] not in second
    assert 'rel="next"' not in second and 'rel="prev"' in second
    for odd in ("0", "-3", "x", "99999999999999999999"):
        assert (await client.get("/console/settings", params={"page": odd})).status_code == 200


# --- security ------------------------------------------------------------------------------


async def test_another_accounts_settings_are_never_shown_or_touched(
    client: Client, services: Services
) -> None:
    await open_account(client, "first@example.com")
    first = await services.accounts.find("first@example.com")
    with hook_receiver() as hook:
        await post(client, "/console/settings/webhook", url=hook.url)
        await post(client, "/console/settings/opt-outs", number=SERBIA)
        await post(client, "/console/settings/verification", allowed_countries="RS")
        client.cookies.clear()
        await open_account(client, "second@example.com")
        page = (await client.get("/console/settings")).text
        assert hook.url not in page and SERBIA not in page and 'value="RS"' not in page
        assert "No URL set" in page and "No number opted out" in page
        assert (await post(client, "/console/settings/webhook/test")).status_code == 409
        assert hook.got == []  # nothing went to the other account's receiver
        removed = await post(client, "/console/settings/opt-outs/remove", number=SERBIA)
        assert notice_of(removed) == "opt-out-absent"
    assert await opt_outs.numbers(services.db, first.id) == [SERBIA]
    assert (await services.webhooks.webhook(first.id)).url == hook.url


ENDPOINTS = (
    ("/console/settings/webhook", {"url": "https://example.com/forged"}),
    ("/console/settings/webhook/clear", {}),
    ("/console/settings/webhook/rotate", {}),
    ("/console/settings/webhook/test", {}),
    ("/console/settings/verification", {"code_length": "9", "mask_codes": "yes"}),
    ("/console/settings/opt-outs", {"number": "+381690156361"}),
    ("/console/settings/opt-outs/remove", {"number": SERBIA}),
)


async def test_posts_without_the_csrf_token_are_refused(client: Client, services: Services) -> None:
    await open_account(client, "csrf@example.com")
    account = await services.accounts.find("csrf@example.com")
    secret = secret_in(await post(client, "/console/settings/webhook", url="https://a.example/"))
    await post(client, "/console/settings/opt-outs", number=SERBIA)
    sealed_before = await services.db.read(
        lambda conn: conn.execute(sa.select(webhooks_table.c.secret_sealed)).scalar_one()
    )
    for path, fields in ENDPOINTS:
        for token in (None, "forged"):
            data = fields if token is None else {**fields, "csrf": token}
            r = await client.post(path, data=data)
            assert r.status_code == 403, (path, token, r.status_code)
            assert r.headers["content-type"].startswith("text/html")
    assert (await services.webhooks.webhook(account.id)).url == "https://a.example/"
    assert await opt_outs.numbers(services.db, account.id) == [SERBIA]
    options = await services.verifier.options(account.id)
    assert options.code_length is None and not options.mask_codes
    sealed_after = await services.db.read(
        lambda conn: conn.execute(sa.select(webhooks_table.c.secret_sealed)).scalar_one()
    )
    assert bytes(sealed_after) == bytes(sealed_before) and secret


async def test_signed_out_visitors_are_sent_to_log_in(client: Client) -> None:
    r = await client.get("/console/settings")
    assert r.status_code == 303 and r.headers["location"] == "/console/login"
    await csrf_of(client, "/console/login")  # a session with a CSRF token, but no account
    token = await csrf_of(client, "/console/login")
    r = await client.post("/console/settings/webhook/rotate", data={"csrf": token})
    assert r.status_code == 303 and r.headers["location"] == "/console/login"


async def test_private_addresses_are_refused_unless_the_operator_allows_them(
    client: Client, services: Services
) -> None:
    """By default an account cannot aim the server at its own network."""
    settings = services.settings
    key = textgate_secrets.load_or_create(settings.code_key, settings.data_dir, "code.key")
    strict = WebhookService(services.db, webhooks.SecretBox(key))
    services.webhooks, previous = strict, services.webhooks
    try:
        await open_account(client, "ssrf@example.com")
        with hook_receiver() as hook:
            for url in (hook.url, hook.url.replace("127.0.0.1", "localhost")):
                await post(client, "/console/settings/webhook", url=url)
                r = await post(client, "/console/settings/webhook/test")
                assert r.status_code == 200, r.text
                assert "was not delivered" in r.text and "private address" in r.text
            assert hook.got == []
    finally:
        services.webhooks = previous
        await strict.aclose()
