"""The console's forms as the tests fill them in: CSRF tokens, sign-up, log-in, log-out.

Each helper posts what a browser would (the form's fields and the token of the page it came
from) and answers the server's response, so tests can assert on it."""

from __future__ import annotations

import html
import re

import httpx

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
#: The API key a page shows once: after sign-up, or after "Create key".
NEW_KEY = re.compile(r'id="new-key" type="text" readonly value="([^"]+)"')


def csrf_in(page: httpx.Response) -> str:
    """The CSRF token in a page's forms."""
    found = CSRF.search(page.text)
    assert found is not None, page.text
    return found.group(1)


async def csrf_of(client: httpx.AsyncClient, path: str) -> str:
    """The CSRF token of the page at `path` (fetched: it must answer 200)."""
    page = await client.get(path)
    assert page.status_code == 200, page.text
    return csrf_in(page)


async def post_form(
    client: httpx.AsyncClient, page: str, action: str, /, **fields: str
) -> httpx.Response:
    """Posts `fields` to `action` with the CSRF token of `page`, as its form would."""
    token = await csrf_of(client, page)
    return await client.post(action, data={"csrf": token, **fields})


def new_key(page: httpx.Response) -> str:
    """The API key `page` shows once."""
    found = NEW_KEY.search(page.text)
    assert found is not None, page.text
    return html.unescape(found.group(1))


async def sign_up(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD
) -> httpx.Response:
    """Posts the sign-up form (which signs in too); answers the response, unchecked."""
    return await post_form(
        client,
        "/console/signup",
        "/console/signup",
        email=email,
        password=password,
        password_again=password,
    )


async def open_account(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD
) -> dict[str, str]:
    """Signs `email` up (and in) through the console, asserting that it worked; answers the
    API headers of the account's first key."""
    r = await sign_up(client, email, password)
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {new_key(r)}"}


async def log_in(
    client: httpx.AsyncClient,
    email: str,
    password: str = PASSWORD,
    *,
    page: str = "/console/login",
) -> httpx.Response:
    """Posts the log-in form with the token of `page`; answers the response, unchecked."""
    return await post_form(client, page, "/console/login", email=email, password=password)


async def log_out(client: httpx.AsyncClient) -> None:
    """Logs out from the dashboard's form, asserting that it worked."""
    r = await post_form(client, "/console", "/console/logout")
    assert r.status_code == 303 and r.headers["location"] == "/console/login"
