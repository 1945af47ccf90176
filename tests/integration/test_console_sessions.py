"""Console sessions on the server (SQLite and PostgreSQL): log-out ends a session for every
copy of its cookie, a log-in always gets a new token, the sessions page signs browsers out
one at a time or all but this one, another account's session is a 404, CSRF is checked,
and expired sessions neither work nor stay."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from console_forms import csrf_of, log_in, open_account
from textgate.app import create_app
from textgate.console.session import COOKIE
from textgate.services.console_sessions import (
    MAX_USER_AGENT,
    TOUCH_EVERY_MS,
    ConsoleSessions,
    session_id,
)
from textgate.services.container import Services
from textgate.settings import Settings
from textgate.store.db import now_ms
from textgate.store.tables import console_sessions

Client = httpx.AsyncClient
Browsers = Callable[..., Client]
SIGN_OUT = re.compile(r'action="/console/sessions/([0-9a-f]{64})/sign-out"')
DAY_MS = 86_400_000


@pytest.fixture
async def browsers(settings: Settings, services: Services) -> AsyncIterator[Browsers]:
    """Factory: HTTP clients of one app, each a browser of its own (its own cookie jar),
    with the client address and user agent given."""
    app = create_app(settings, services=services)
    made: list[Client] = []

    def browser(address: str = "127.0.0.1", agent: str = "TestBrowser/1.0") -> Client:
        transport = httpx.ASGITransport(app=app, client=(address, 40000))
        client = Client(
            transport=transport, base_url="http://textgate", headers={"User-Agent": agent}
        )
        made.append(client)
        return client

    yield browser
    for client in made:
        await client.aclose()


async def log_in_as(client: Client, email: str, form_page: str = "/console/login") -> None:
    """Logs `email` in with the CSRF token of `form_page`, asserting that it worked."""
    r = await log_in(client, email, page=form_page)
    assert r.status_code == 303 and r.headers["location"] == "/console", r.text


async def signed_in(client: Client) -> bool:
    """Whether the client's cookie opens the dashboard (else it is sent to log in)."""
    r = await client.get("/console")
    if r.status_code == 303:
        assert r.headers["location"] == "/console/login"
        return False
    assert r.status_code == 200, r.text
    return True


def with_cookie(cookie: str, into: Client) -> Client:
    """`into` with `cookie` as its session cookie."""
    into.cookies.set(COOKIE, cookie, domain="textgate.local", path="/console")
    return into


def copy_of(client: Client, into: Client) -> Client:
    """`into` with a copy of `client`'s session cookie."""
    return with_cookie(client.cookies[COOKIE], into)


async def handles(client: Client) -> list[str]:
    page = await client.get("/console/sessions")
    assert page.status_code == 200, page.text
    return SIGN_OUT.findall(page.text)


async def own_handle(client: Client) -> str:
    """The handle of the client's own session, marked on its sessions page."""
    page = await client.get("/console/sessions")
    found = re.search(
        r'class="current-session">.*?action="/console/sessions/([0-9a-f]{64})/sign-out"',
        page.text,
        re.S,
    )
    assert found is not None, page.text
    return found.group(1)


async def rows_of(services: Services) -> int:
    def count(conn: Connection) -> int:
        query = sa.select(sa.func.count()).select_from(console_sessions)
        return int(conn.execute(query).scalar_one())

    return await services.db.read(count)


async def test_a_copied_cookie_stops_working_at_log_out(
    browsers: Browsers, services: Services
) -> None:
    mine = browsers()
    await open_account(mine, "copy@example.com")
    stolen = mine.cookies[COOKIE]
    assert await signed_in(with_cookie(stolen, browsers("203.0.113.9")))  # while it lives
    assert await rows_of(services) == 1
    token = await csrf_of(mine, "/console")
    r = await mine.post("/console/logout", data={"csrf": token})
    assert r.status_code == 303 and r.headers["location"] == "/console/login"
    assert await rows_of(services) == 0
    assert not await signed_in(mine)
    thief = with_cookie(stolen, browsers("203.0.113.9"))
    assert not await signed_in(thief)
    assert thief.cookies[COOKIE] != stolen  # answered with a signed-out cookie
    # Nor can it post (its CSRF token still matches the cookie's).
    account = await services.accounts.find("copy@example.com")
    keys_before = len(await services.accounts.list_keys(account.id))
    forged = await with_cookie(stolen, browsers()).post(
        "/console/keys", data={"csrf": token, "name": "stolen"}
    )
    assert forged.status_code == 303 and forged.headers["location"] == "/console/login"
    assert len(await services.accounts.list_keys(account.id)) == keys_before
    # The log-in page is shown to a cookie whose session is over (no redirect loop).
    page = await with_cookie(stolen, browsers()).get("/console/login")
    assert page.status_code == 200 and 'name="password"' in page.text


async def test_every_log_in_is_a_new_session_and_ends_the_one_before(
    browsers: Browsers, services: Services
) -> None:
    first = browsers()
    await open_account(first, "fix@example.com")
    before = copy_of(first, browsers())
    assert await signed_in(before)
    await log_in_as(first, "fix@example.com", "/console")  # again, from the same browser
    assert first.cookies[COOKIE] != before.cookies[COOKIE]
    assert await signed_in(first)
    assert not await signed_in(before)  # the token it had is gone with its session
    assert await rows_of(services) == 1
    # A cookie planted before log-in (signed out) gets a token of the server's making.
    planted = browsers()
    await csrf_of(planted, "/console/login")
    victim = copy_of(planted, browsers())
    await log_in_as(victim, "fix@example.com")
    assert not await signed_in(planted)
    assert await signed_in(victim)


async def test_the_sessions_page_lists_them_and_signs_out_others(
    browsers: Browsers, services: Services
) -> None:
    laptop = browsers("192.0.2.1", "Laptop <b>Browser</b>/1.0")
    await open_account(laptop, "many@example.com")
    phone = browsers("192.0.2.2", "Phone/2.0")
    tablet = browsers("2001:db8::3", "T" * 500)
    await log_in_as(phone, "many@example.com")
    await log_in_as(tablet, "many@example.com")
    page = await laptop.get("/console/sessions")
    assert page.status_code == 200
    text = page.text
    assert len(SIGN_OUT.findall(text)) == 3
    assert text.count("(this one)</strong>") == 1
    assert "192.0.2.2" in text and "2001:db8::3" in text and "Phone/2.0" in text
    assert "Laptop &lt;b&gt;Browser&lt;/b&gt;/1.0" in text  # escaped
    assert "T" * MAX_USER_AGENT in text and "T" * (MAX_USER_AGENT + 1) not in text
    assert re.search(r'class="current-session">\s*<td>[^<]*<strong class="this-one">', text)
    assert "Sign out all other sessions (2)" in text

    # One session: the phone's.
    phone_handle = await own_handle(phone)
    token = await csrf_of(laptop, "/console/sessions")
    r = await laptop.post(f"/console/sessions/{phone_handle}/sign-out", data={"csrf": token})
    assert r.status_code == 303 and r.headers["location"] == "/console/sessions?notice=ended"
    assert not await signed_in(phone)
    assert await signed_in(tablet) and await signed_in(laptop)
    assert "That session is signed out." in (await laptop.get(r.headers["location"])).text

    # All the others: the tablet's; the laptop's stays.
    r = await laptop.post("/console/sessions/sign-out-others", data={"csrf": token})
    assert r.status_code == 303 and r.headers["location"].endswith("notice=others-ended")
    assert not await signed_in(tablet)
    assert await signed_in(laptop)
    assert len(await handles(laptop)) == 1
    after = (await laptop.get("/console/sessions")).text
    assert "No other session is signed in." in after and 'id="sign-out-others"' not in after


async def test_another_accounts_session_is_a_404(browsers: Browsers, services: Services) -> None:
    mine, theirs = browsers(), browsers()
    await open_account(mine, "me@example.com")
    await open_account(theirs, "them@example.com")
    (their_handle,) = await handles(theirs)
    token = await csrf_of(mine, "/console/sessions")
    for handle in (their_handle, "0" * 64, "not-a-session", their_handle.upper(), "ab" * 40):
        r = await mine.post(f"/console/sessions/{handle}/sign-out", data={"csrf": token})
        assert r.status_code == 404, (handle, r.text)
        assert r.headers["content-type"].startswith("text/html")
    assert await signed_in(theirs)
    r = await mine.post("/console/sessions/sign-out-others", data={"csrf": token})
    assert r.status_code == 303
    assert await signed_in(theirs) and await signed_in(mine)
    assert await handles(mine) == [await own_handle(mine)]
    assert await handles(theirs) == [their_handle]


async def test_sign_outs_without_csrf_are_refused(browsers: Browsers, services: Services) -> None:
    mine, other = browsers(), browsers()
    await open_account(mine, "csrf-s@example.com")
    await log_in_as(other, "csrf-s@example.com")
    other_handle = await own_handle(other)
    for data in ({}, {"csrf": "made-up"}):
        r = await mine.post("/console/sessions/sign-out-others", data=data)
        assert r.status_code == 403 and r.headers["content-type"].startswith("text/html")
        for handle in await handles(mine):
            r = await mine.post(f"/console/sessions/{handle}/sign-out", data=data)
            assert r.status_code == 403
    assert await signed_in(mine) and await signed_in(other)
    # Not signed in: the log-in page, before any form is read.
    stranger = browsers()
    r = await stranger.post(f"/console/sessions/{other_handle}/sign-out", data={})
    assert r.status_code == 303 and r.headers["location"] == "/console/login"
    assert await signed_in(other)


async def test_expired_sessions_do_not_work_and_are_pruned(
    browsers: Browsers, services: Services
) -> None:
    old, current = browsers(), browsers()
    await open_account(old, "exp@example.com")
    await log_in_as(current, "exp@example.com")
    handle = await own_handle(old)
    assert handle in await handles(current)

    def expire(conn: Connection, sid: bytes) -> None:
        conn.execute(
            console_sessions.update()
            .where(console_sessions.c.id == sid)
            .values(expires_at=now_ms() - 1)
        )

    await services.db.write(expire, bytes.fromhex(handle))
    assert not await signed_in(old)
    assert handle not in await handles(current)  # not listed once expired
    assert await rows_of(services) == 2  # still stored until the account's next log-in
    await log_in_as(browsers(), "exp@example.com")
    assert await rows_of(services) == 2  # the expired one went, the new one came
    assert len(await handles(current)) == 2
    assert await signed_in(current)


async def test_last_seen_is_written_at_most_once_a_minute(services: Services) -> None:
    account, _ = await services.accounts.create("seen@example.com")
    clock = [1_800_000_000_000]
    sessions = ConsoleSessions(services.db, lifetime_ms=DAY_MS, clock=lambda: clock[0])
    token = await sessions.start(account.id, user_agent="UA", client="192.0.2.7")
    start = clock[0]

    async def last_seen() -> int:
        (view,) = await sessions.live(account.id, token)
        assert view.current and view.client == "192.0.2.7" and view.user_agent == "UA"
        return view.last_seen_at

    clock[0] = start + TOUCH_EVERY_MS - 1
    assert await sessions.account(token, account.id) is not None
    assert await last_seen() == start
    clock[0] = start + TOUCH_EVERY_MS
    assert await sessions.account(token, account.id) is not None
    assert await last_seen() == start + TOUCH_EVERY_MS
    # Another account's id with this token, a made-up token, the end of its life: no one.
    assert await sessions.account(token, account.id + 1) is None
    assert await sessions.account("made-up", account.id) is None
    clock[0] = start + DAY_MS
    assert await sessions.account(token, account.id) is None
    assert await sessions.live(account.id, token) == []


async def test_expired_sessions_of_every_account_go_now_and_then(services: Services) -> None:
    one, _ = await services.accounts.create("one@example.com")
    two, _ = await services.accounts.create("two@example.com")
    clock, ticks = [1_800_000_000_000], [0.0]
    sessions = ConsoleSessions(
        services.db, lifetime_ms=DAY_MS, clock=lambda: clock[0], monotonic=lambda: ticks[0]
    )
    await sessions.start(one.id, user_agent="", client="")  # a global prune (the first)
    await sessions.start(two.id, user_agent="", client="")
    clock[0] += 2 * DAY_MS  # both expired
    ticks[0] += 10.0  # not an hour: only the account's own expired sessions go
    await sessions.start(one.id, user_agent="", client="")
    assert await rows_of(services) == 2  # one's new session, two's expired one
    ticks[0] += 3600.0
    await sessions.start(one.id, user_agent="", client="")
    assert await rows_of(services) == 2  # two's expired one went too: one's two live ones
    assert len(await sessions.live(one.id, None)) == 2
    assert await sessions.live(two.id, None) == []


async def test_a_cookie_from_before_server_sessions_is_signed_out(
    browsers: Browsers, services: Services
) -> None:
    """A signed cookie with an account id but no session token (as cookies were before
    server-side sessions) opens nothing."""
    from textgate import secrets as key_files
    from textgate.console.session import Session, SessionCodec

    client = browsers()
    await open_account(client, "legacy@example.com")
    account = await services.accounts.find("legacy@example.com")
    codec = SessionCodec(key_files.load_or_create(None, services.settings.data_dir, "session.key"))
    legacy = codec.dump(Session.fresh(account.id))
    other = browsers()
    other.cookies.set(COOKIE, legacy, domain="textgate.local", path="/console")
    assert not await signed_in(other)
    # The same codec with this session's token does sign in: the key is the app's.
    loaded = codec.load(client.cookies[COOKIE])
    assert loaded is not None and loaded.token is not None
    assert session_id(loaded.token) in {bytes.fromhex(h) for h in await handles(client)}
