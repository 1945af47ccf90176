"""The web console over ASGI (SQLite and PostgreSQL): sign-up, log-in, CSRF, ownership."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from console_forms import PASSWORD, csrf_of, log_in, log_out, new_key, sign_up
from support import MakeAccount
from textgate.console.session import COOKIE
from textgate.services.container import Services

Client = httpx.AsyncClient
SERBIA = "+381690156360"


async def test_sign_up_brings_the_credit_and_a_working_key(
    client: Client, services: Services
) -> None:
    r = await sign_up(client, "new@example.com")
    assert r.status_code == 200, r.text
    assert "Your new API key" in r.text
    key = new_key(r)
    account = await services.accounts.find("new@example.com")
    assert account.credits_micros == services.accounts.signup_credit_micros > 0
    balance = await client.get("/api/balance", headers={"Authorization": f"Bearer {key}"})
    assert balance.status_code == 200
    dashboard = await client.get("/console")
    assert dashboard.status_code == 200
    assert "new@example.com" in dashboard.text
    assert balance.json()["credits"] in dashboard.text


async def test_sign_up_refuses_a_taken_email_and_a_short_password(client: Client) -> None:
    assert (await sign_up(client, "dup@example.com")).status_code == 200
    await log_out(client)
    again = await sign_up(client, "DUP@example.com")
    assert again.status_code == 400 and "already exists" in again.text
    short = await sign_up(client, "short@example.com", "tiny")
    assert short.status_code == 400 and "10 to 200 characters" in short.text


async def test_log_out_and_log_in_again(client: Client) -> None:
    await sign_up(client, "back@example.com")
    await log_out(client)
    away = await client.get("/console")
    assert away.status_code == 303 and away.headers["location"] == "/console/login"
    r = await log_in(client, "Back@Example.com")
    assert r.status_code == 303 and r.headers["location"] == "/console"
    assert "back@example.com" in (await client.get("/console")).text


async def test_wrong_password_is_refused(client: Client) -> None:
    await sign_up(client, "wrong@example.com")
    await log_out(client)
    r = await log_in(client, "wrong@example.com", "not the password")
    assert r.status_code == 400 and "Wrong email or password" in r.text
    unknown = await log_in(client, "nobody@example.com")
    assert unknown.status_code == 400 and "Wrong email or password" in unknown.text
    assert (await client.get("/console")).status_code == 303


async def test_api_only_account_has_no_console_password(
    client: Client, make_account: MakeAccount
) -> None:
    user = await make_account()
    r = await log_in(client, user.account.email, "")
    assert r.status_code == 400


async def test_login_attempts_are_rate_limited(client: Client) -> None:
    await sign_up(client, "limited@example.com")
    await log_out(client)
    for _ in range(5):
        assert (await log_in(client, "limited@example.com", "guess guess")).status_code == 400
    blocked = await log_in(client, "limited@example.com")  # even the right password
    assert blocked.status_code == 429
    assert int(blocked.headers["retry-after"]) > 0
    assert "Too many" in blocked.text and blocked.headers["content-type"].startswith("text/html")
    other = await sign_up(client, "other@example.com")  # other emails are not blocked
    assert other.status_code == 200


async def test_forms_without_their_csrf_token_are_refused(
    client: Client, services: Services
) -> None:
    r = await client.post("/console/login", data={"email": "x@example.com", "password": PASSWORD})
    assert r.status_code == 403 and r.headers["content-type"].startswith("text/html")
    signup = await client.post(
        "/console/signup",
        data={"email": "csrf@example.com", "password": PASSWORD, "password_again": PASSWORD},
    )
    assert signup.status_code == 403
    await sign_up(client, "csrf@example.com")
    account = await services.accounts.find("csrf@example.com")
    forged = await client.post("/console/keys", data={"csrf": "made-up", "name": "x"})
    assert forged.status_code == 403
    assert len(await services.accounts.list_keys(account.id)) == 1
    logout = await client.post("/console/logout", data={})
    assert logout.status_code == 403
    assert (await client.get("/console")).status_code == 200  # still signed in


async def test_create_and_revoke_a_key(client: Client, services: Services) -> None:
    await sign_up(client, "keys@example.com")
    account = await services.accounts.find("keys@example.com")
    token = await csrf_of(client, "/console/keys")
    r = await client.post("/console/keys", data={"csrf": token, "name": "production"})
    assert r.status_code == 200
    secret = new_key(r)
    keys = await services.accounts.list_keys(account.id)
    assert [k.name for k in keys] == ["default", "production"]
    listing = (await client.get("/console/keys")).text
    assert secret not in listing and keys[1].prefix in listing  # shown once only
    auth = {"Authorization": f"Bearer {secret}"}
    assert (await client.get("/api/balance", headers=auth)).status_code == 200
    revoke = await client.post(f"/console/keys/{keys[1].id}/revoke", data={"csrf": token})
    assert revoke.status_code == 303
    keys = await services.accounts.list_keys(account.id)
    assert keys[1].revoked_at is not None and keys[0].revoked_at is None
    assert (await client.get("/api/balance", headers=auth)).status_code == 401


async def test_another_accounts_message_and_key_answer_404(
    client: Client, make_account: MakeAccount
) -> None:
    other = await make_account()
    sent = await client.post(
        "/api/send-sms", json={"phone_number": SERBIA, "text": "theirs"}, headers=other.headers
    )
    theirs = sent.json()["data"]["id"]
    await sign_up(client, "mine@example.com")
    r = await client.get(f"/console/messages/{theirs}")
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert "theirs" not in r.text
    assert (await client.get("/console/messages/99999999999999999999")).status_code == 404
    token = await csrf_of(client, "/console/keys")
    revoke = await client.post(f"/console/keys/{other.key_id}/revoke", data={"csrf": token})
    assert revoke.status_code == 404
    assert (await client.get("/api/balance", headers=other.headers)).status_code == 200
    log = await client.get("/console/messages")
    assert log.status_code == 200 and "theirs" not in log.text


async def test_message_log_filters_and_shows_history(client: Client, services: Services) -> None:
    r = await sign_up(client, "log@example.com")
    account = await services.accounts.find("log@example.com")
    await services.accounts.add_credits(account.id, 10_000_000)
    auth = {"Authorization": f"Bearer {new_key(r)}"}
    ids, stamps = [], []
    for number, text in ((SERBIA, "first hello"), ("+381690156361", "second 100%_sure")):
        sent = await client.post(
            "/api/send-sms", json={"phone_number": number, "text": text}, headers=auth
        )
        assert sent.status_code == 200, sent.text
        ids.append(sent.json()["data"]["id"])
        stamps.append(sent.json()["data"]["timestamp"])
    every = (await client.get("/console/messages")).text
    assert "first hello" in every and "second 100%_sure" in every
    by_number = (await client.get("/console/messages", params={"number": "6361"})).text
    assert "second" in by_number and "first hello" not in by_number
    by_text = (await client.get("/console/messages", params={"q": "%_"})).text
    assert "second" in by_text and "first hello" not in by_text
    by_status = await client.get("/console/messages", params={"status": "delivered"})
    assert "No messages match" in by_status.text
    bad = await client.get("/console/messages", params={"status": "bogus"})
    assert bad.status_code == 400
    first, last = (datetime.fromtimestamp(ms / 1000, UTC).date() for ms in (stamps[0], stamps[-1]))
    days = {"from": first.isoformat(), "to": last.isoformat()}
    by_day = await client.get("/console/messages", params=days)
    assert "first hello" in by_day.text and "second" in by_day.text
    assert f'value="{first.isoformat()}"' in by_day.text  # the form keeps the days
    after = {"from": (last + timedelta(days=1)).isoformat()}
    assert "No messages match" in (await client.get("/console/messages", params=after)).text
    before = {"to": (first - timedelta(days=1)).isoformat()}
    assert "No messages match" in (await client.get("/console/messages", params=before)).text
    bad_day = await client.get("/console/messages", params={"from": "30/11/2026"})
    assert bad_day.status_code == 400 and "must be a date" in bad_day.text
    board = (await client.get("/console")).text
    assert 'id="today">2<' in board and 'id="month">2<' in board and 'id="rate">—<' in board
    detail = await client.get(f"/console/messages/{ids[0]}")
    assert detail.status_code == 200
    assert "first hello" in detail.text and "Status history" in detail.text
    assert "queued" in detail.text


async def test_session_cookie_is_signed_httponly_and_samesite(client: Client) -> None:
    r = await sign_up(client, "cookie@example.com")
    cookie = r.headers["set-cookie"].lower()
    assert cookie.startswith(f"{COOKIE}=") and "httponly" in cookie
    assert "samesite=lax" in cookie and "path=/console" in cookie and "secure" not in cookie
    forwarded = await client.get("/console", headers={"X-Forwarded-Proto": "https"})
    assert "secure" in forwarded.headers["set-cookie"].lower()
    value = client.cookies[COOKIE]
    body, _, tag = value.partition(".")
    client.cookies.clear()
    tampered = body[:-2] + ("AA" if body[-2:] != "AA" else "BB")
    client.cookies.set(COOKIE, f"{tampered}.{tag}", domain="textgate", path="/console")
    assert (await client.get("/console")).status_code == 303


async def test_a_form_that_is_not_utf8_is_a_400_page(client: Client, services: Services) -> None:
    await sign_up(client, "bytes@example.com")
    token = await csrf_of(client, "/console/keys")
    boundary = "xyzzy"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n{token}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="name"\r\n\r\n'
        ).encode()
        + b"\xff\xfe not UTF-8\r\n"
        + f"--{boundary}--\r\n".encode()
    )
    r = await client.post(
        "/console/keys",
        content=body,
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )
    assert r.status_code == 400 and r.headers["content-type"].startswith("text/html")
    assert "UTF-8" in r.text
    account = await services.accounts.find("bytes@example.com")
    assert len(await services.accounts.list_keys(account.id)) == 1
