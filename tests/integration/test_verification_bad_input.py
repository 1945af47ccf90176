"""Bad input to send-code and verify-code: always a 4xx in the TextFlow shape, never a 500;
verify-code answers `valid: false` every time."""

from __future__ import annotations

import json
import random
from typing import Any

import httpx
import pytest

from support import MakeAccount, NewAccount
from textgate.domain import otp
from textgate.services.container import Services
from verify_support import SERBIA

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
async def user(make_account: MakeAccount) -> NewAccount:
    return await make_account("50")


def check_shape(r: httpx.Response, status: int, *words: str, valid: bool | None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(JSON)
    body: dict[str, Any] = r.json()
    assert body["status"] == status and isinstance(body["message"], str)
    if valid is not None:
        assert body["valid"] is valid
    else:
        assert "valid" not in body
    text = (body["message"] + " " + str(body.get("reason", ""))).lower()
    for word in words:
        assert word.lower() in text, body
    return body


def js(**fields: Any) -> bytes:
    return json.dumps(fields).encode()


COMMON = [
    (b"{not json", JSON, 400, ("not valid JSON",)),
    (b"[1, 2]", JSON, 400, ("JSON object",)),
    (b"", JSON, 400, ("empty",)),
    (b"<xml/>", "application/xml", 415, ("content type",)),
    (b"\xff\xfe=1", FORM, 400, ("form",)),
    (js(code="123456"), JSON, 400, ("phone_number",)),
    (js(phone_number=381690156360, code="123456"), JSON, 400, ("phone_number", "string")),
    (js(phone_number=[SERBIA], code="123456"), JSON, 400, ("phone_number", "string")),
    (js(phone_number=None, code="123456"), JSON, 400, ("phone_number",)),
    (b"phone_number=%2B381690156360&phone_number=%2B381690156361&code=1", FORM, 400, ("string",)),
]
BAD_PHONES = [
    "abc",
    "+999123",
    "0690156360",  # national format
    "tel:+381690156360",
    "+381690156360x12",
    "+" + "1" * 40,
    "",
    " ",
    "+381 69 015 6360 ext 1",
    "+٣٨١٦٩٠١٥٦٣٦٠",
]


@pytest.mark.parametrize(("content", "ctype", "status", "words"), COMMON)
async def test_send_code_bad_bodies(
    client: httpx.AsyncClient,
    user: NewAccount,
    content: bytes,
    ctype: str,
    status: int,
    words: tuple[str, ...],
) -> None:
    r = await client.post(
        "/api/send-code", content=content, headers={**user.headers, "Content-Type": ctype}
    )
    assert check_shape(r, status, *words, valid=None)["ok"] is False


@pytest.mark.parametrize(("content", "ctype", "status", "words"), COMMON)
async def test_verify_code_bad_bodies(
    client: httpx.AsyncClient,
    user: NewAccount,
    content: bytes,
    ctype: str,
    status: int,
    words: tuple[str, ...],
) -> None:
    r = await client.post(
        "/api/verify-code", content=content, headers={**user.headers, "Content-Type": ctype}
    )
    assert check_shape(r, status, *words, valid=False)["ok"] is False


@pytest.mark.parametrize("phone", BAD_PHONES)
async def test_unknown_number_formats(
    client: httpx.AsyncClient, user: NewAccount, phone: str
) -> None:
    r = await client.post("/api/send-code", json={"phone_number": phone}, headers=user.headers)
    check_shape(r, 400, "Invalid phone number", valid=None)
    r = await client.post(
        "/api/verify-code", json={"phone_number": phone, "code": "123456"}, headers=user.headers
    )
    check_shape(r, 400, "Invalid phone number", valid=False)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"seconds": 86_401}, otp.SECONDS_TOO_LONG),
        ({"seconds": "86401"}, otp.SECONDS_TOO_LONG),
        ({"seconds": "9" * 5000}, otp.SECONDS_TOO_LONG),
        ({"seconds": 10**40}, otp.SECONDS_TOO_LONG),
        ({"seconds": "abc"}, "seconds"),
        ({"seconds": "1e3"}, "seconds"),
        ({"seconds": 0}, "seconds"),
        ({"seconds": -60}, "seconds"),
        ({"seconds": 1.5}, "seconds"),
        ({"seconds": True}, "seconds"),
        ({"seconds": [600]}, "seconds"),
        ({"seconds": {"n": 600}}, "seconds"),
        ({"service_name": "x" * 111}, otp.BAD_SERVICE_NAME),
        ({"service_name": "Acme!"}, otp.BAD_SERVICE_NAME),
        ({"service_name": "<script>"}, otp.BAD_SERVICE_NAME),
        ({"service_name": "line\nbreak"}, otp.BAD_SERVICE_NAME),
        ({"service_name": 42}, "service_name"),
        ({"service_name": ["Acme"]}, "service_name"),
    ],
)
async def test_send_code_bad_fields(
    client: httpx.AsyncClient,
    user: NewAccount,
    services: Services,
    fields: dict[str, Any],
    message: str,
) -> None:
    r = await client.post(
        "/api/send-code", json={"phone_number": SERBIA, **fields}, headers=user.headers
    )
    body = check_shape(r, 400, message, valid=None)
    assert body["ok"] is False
    assert await services.accounts.balance(user.account.id) == 50_000_000  # nothing sent


async def test_bad_seconds_in_a_form(client: httpx.AsyncClient, user: NewAccount) -> None:
    r = await client.post(
        "/api/send-code",
        content="phone_number=%2B381690156360&seconds=ten&test=true",
        headers={**user.headers, "Content-Type": FORM},
    )
    check_shape(r, 400, "seconds", valid=None)


@pytest.mark.parametrize(
    ("code", "status", "words"),
    [
        (123456, 400, ("code", "string")),
        (None, 400, ("code",)),
        (["123456"], 400, ("code", "string")),
        ({"c": 1}, 400, ("code", "string")),
        (True, 400, ("code", "string")),
    ],
)
async def test_verify_code_wrong_types(
    client: httpx.AsyncClient, user: NewAccount, code: object, status: int, words: tuple[str, ...]
) -> None:
    r = await client.post(
        "/api/verify-code", json={"phone_number": SERBIA, "code": code}, headers=user.headers
    )
    assert check_shape(r, status, *words, valid=False)["ok"] is False


@pytest.mark.parametrize(
    "code", ["", "abc", "12", "12345678901", "9" * 10_000, "12 34 56", "١٢٣٤٥٦", "-12345", "1e5"]
)
async def test_malformed_codes_get_textflows_answer(
    client: httpx.AsyncClient, user: NewAccount, code: str
) -> None:
    r = await client.post(
        "/api/verify-code", json={"phone_number": SERBIA, "code": code}, headers=user.headers
    )
    assert check_shape(r, 400, "Invalid code", valid=False)["ok"] is True


def _values(rng: random.Random) -> Any:
    choices: list[Any] = [
        None,
        True,
        0,
        -1,
        2**63,
        1.5,
        "",
        " ",
        "600",
        SERBIA,
        "123456",
        "x" * rng.randint(0, 300),
        "".join(chr(rng.randint(0, 0x2FFF)) for _ in range(rng.randint(1, 20))),
        [],
        [SERBIA],
        {},
        {"a": [1, {"b": None}]},
    ]
    return rng.choice(choices)


async def test_random_bodies_never_give_a_500(client: httpx.AsyncClient, user: NewAccount) -> None:
    rng = random.Random(20261201)
    keys = ["phone_number", "code", "service_name", "seconds", "test"]
    for i in range(300):
        fields = {k: _values(rng) for k in keys if rng.random() < 0.7}
        route = "/api/send-code" if i % 2 else "/api/verify-code"
        if rng.random() < 0.3:
            content = "&".join(
                f"{k}={rng.choice(['', '1', 'abc', '%2B381690156360'])}" for k in fields
            )
            r = await client.post(
                route, content=content, headers={**user.headers, "Content-Type": FORM}
            )
        else:
            r = await client.post(route, json=fields, headers=user.headers)
        assert r.status_code < 500, (fields, r.text)
        body = r.json()
        assert body["status"] == r.status_code and isinstance(body["message"], str)
        if route == "/api/verify-code":
            assert isinstance(body["valid"], bool)


async def test_openapi_describes_valid_on_verify_code_errors(client: httpx.AsyncClient) -> None:
    """Every verify-code answer carries `valid` (TextFlow's clients read it unconditionally):
    the document says so for its errors too, so test_api_fuzz holds the server to it."""
    document = (await client.get("/schema/openapi.json")).json()
    schemas = document["components"]["schemas"]
    responses = document["paths"]["/api/verify-code"]["post"]["responses"]
    for status in ("200", "400", "401", "404", "409", "429"):
        ref = responses[status]["content"]["application/json"]["schema"]["$ref"]
        schema = schemas[ref.rsplit("/", 1)[1]]
        assert "valid" in schema["required"], (status, schema)
        assert {"valid_code", "expires", "attempts_left"} <= set(schema["properties"])
