"""Bad input: each answered 4xx in the TextFlow shape with a message naming the problem."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from support import MakeAccount, NewAccount
from textgate.services.container import Services

SERBIA = "+381690156360"


def assert_shape(r: httpx.Response, status: int, *words: str) -> dict[str, object]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["ok"] is False and body["status"] == status
    assert isinstance(body["message"], str)
    for word in words:
        assert word.lower() in (body["message"] + str(body.get("reason", ""))).lower(), body
    return body  # type: ignore[no-any-return]


@pytest.fixture
async def user(make_account: MakeAccount) -> NewAccount:
    return await make_account("5")


@pytest.mark.parametrize(
    ("content", "ctype", "status", "words"),
    [
        (b"{not json", "application/json", 400, ("not valid JSON",)),
        (b"[1, 2]", "application/json", 400, ("JSON object",)),
        (b"", "application/json", 400, ("empty",)),
        (b'{"text": "hi"}', "application/json", 400, ("phone_number",)),
        (b'{"phone_number": "+381690156360"}', "application/json", 400, ("text",)),
        (
            b'{"phone_number": 381690156360, "text": "hi"}',
            "application/json",
            400,
            ("phone_number", "string"),
        ),
        (
            b'{"phone_number": "+381690156360", "text": ["hi"]}',
            "application/json",
            400,
            ("text", "string"),
        ),
        (b'{"phone_number": "+381690156360", "text": null}', "application/json", 400, ("text",)),
        (b"phone_number=%2B381690156360", "application/x-www-form-urlencoded", 400, ("text",)),
        (b"\xff\xfe=1", "application/x-www-form-urlencoded", 400, ("form",)),
        (b"<xml/>", "application/xml", 415, ("content type",)),
        (b"phone_number=1", "text/plain", 415, ("content type",)),
        (
            b'{"phone_number": "not a number", "text": "hi"}',
            "application/json",
            400,
            ("phone number is invalid",),
        ),
        (
            b'{"phone_number": "+999123", "text": "hi"}',
            "application/json",
            400,
            ("phone number is invalid",),
        ),
        (b'{"phone_number": "+381690156360", "text": ""}', "application/json", 400, ("empty",)),
    ],
)
async def test_send_sms_bad_bodies(
    client: httpx.AsyncClient,
    user: NewAccount,
    services: Services,
    content: bytes,
    ctype: str,
    status: int,
    words: tuple[str, ...],
) -> None:
    r = await client.post(
        "/api/send-sms", content=content, headers={**user.headers, "Content-Type": ctype}
    )
    assert_shape(r, status, *words)
    assert await services.accounts.balance(user.account.id) == 5_000_000


async def test_text_over_ten_segments(client: httpx.AsyncClient, user: NewAccount) -> None:
    r = await client.post(
        "/api/send-sms", json={"phone_number": SERBIA, "text": "a" * 1531}, headers=user.headers
    )
    assert_shape(r, 400, "segments")


async def test_body_over_limit(client: httpx.AsyncClient, user: NewAccount) -> None:
    r = await client.post(
        "/api/send-sms",
        content=b'{"phone_number": "+381690156360", "text": "' + b"a" * (2 << 20) + b'"}',
        headers={**user.headers, "Content-Type": "application/json"},
    )
    assert_shape(r, 413, "too large")


async def test_a_body_in_chunks_is_read_whole_and_held_to_the_limit(
    client: httpx.AsyncClient, user: NewAccount, services: Services
) -> None:
    """Without a content-length (chunked), the limit counts the bytes as they come."""

    async def chunks(parts: list[bytes]) -> AsyncIterator[bytes]:
        for part in parts:
            yield part

    whole = [b'{"phone_number": "+3816901', b'56360", "text": "in ', b'three parts"}']
    r = await client.post(
        "/api/send-sms",
        content=chunks(whole),
        headers={**user.headers, "Content-Type": "application/json"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["data"]["content"] == "in three parts"
    huge = [b'{"phone_number": "+381690156360", "text": "'] + [b"a" * (64 << 10)] * 20 + [b'"}']
    r = await client.post(
        "/api/send-sms",
        content=chunks(huge),
        headers={**user.headers, "Content-Type": "application/json"},
    )
    assert_shape(r, 413, "too large")
    assert await services.accounts.balance(user.account.id) == 5_000_000 - 150_000


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "missing"),
        ("Basic dXNlcjpwYXNz", "unknown"),
        ("Bearer", "Bearer <API key>"),
        ("Bearer not-a-key", "unknown"),
        ("Bearer tg_" + "A" * 43, "unknown"),
    ],
)
async def test_bad_keys(client: httpx.AsyncClient, header: str | None, reason: str) -> None:
    headers = {"Authorization": header} if header is not None else {}
    r = await client.post(
        "/api/send-sms", json={"phone_number": SERBIA, "text": "hi"}, headers=headers
    )
    body = assert_shape(r, 400, "Invalid API key")
    assert reason.lower() in str(body["reason"]).lower()
    b = await client.get("/api/balance", headers=headers)
    assert_shape(b, 401, "Invalid API key")
    m = await client.get("/api/messages/1", headers=headers)
    assert_shape(m, 401, "Invalid API key")


async def test_revoked_key(client: httpx.AsyncClient, user: NewAccount, services: Services) -> None:
    await services.accounts.revoke_key(user.key_id)
    r = await client.post(
        "/api/send-sms", json={"phone_number": SERBIA, "text": "hi"}, headers=user.headers
    )
    assert_shape(r, 400, "Invalid API key", "revoked")


async def test_unknown_route_and_method(client: httpx.AsyncClient, user: NewAccount) -> None:
    assert_shape(await client.get("/api/nope", headers=user.headers), 404, "not found")
    assert_shape(await client.get("/api/send-sms", headers=user.headers), 405, "not allowed")
    assert_shape(await client.get("/api/messages/abc", headers=user.headers), 404)
    assert_shape(await client.get(f"/api/messages/{2**64}", headers=user.headers), 404)
    assert_shape(await client.get("/api/messages/-1", headers=user.headers), 404)


@pytest.mark.parametrize(
    ("path", "content", "ctype"),
    [
        ("/api/send-sms", b'{"phone_number": "+381690156360", "text": "a\\u0000b"}', "json"),
        ("/api/send-sms", b"phone_number=%2B381690156360&text=a%00b", "form"),
        ("/api/bulk-sms", b'{"phone_numbers": ["+381690156360"], "text": "\\u0000"}', "json"),
    ],
)
async def test_nul_in_the_text_is_refused(
    client: httpx.AsyncClient,
    user: NewAccount,
    services: Services,
    path: str,
    content: bytes,
    ctype: str,
) -> None:
    """Found by test_api_fuzz: PostgreSQL cannot store U+0000 in text (it answered 500, and
    failed every message committed in the same batch); SQLite stored it. Now both refuse."""
    media = {"json": "application/json", "form": "application/x-www-form-urlencoded"}[ctype]
    r = await client.post(path, content=content, headers={**user.headers, "Content-Type": media})
    assert_shape(r, 400, "NUL")
    assert await services.accounts.balance(user.account.id) == 5_000_000
    ok = await client.post(
        "/api/send-sms", json={"phone_number": SERBIA, "text": "still fine"}, headers=user.headers
    )
    assert ok.status_code == 200, ok.text
