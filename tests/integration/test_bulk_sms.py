"""bulk-sms, bulk-count, a job's progress and cancel over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from support import MakeAccount, NewAccount
from textgate.services import opt_outs
from textgate.services.container import Services
from textgate.store import messages

Client = httpx.AsyncClient
SERBIA = "+381690156360"  # 0.15 a message
USA = "+12015550123"  # 0.01 a message


def serbian(n: int, start: int = 0) -> list[str]:
    return [f"+38169{i:07d}" for i in range(start, start + n)]


async def bulk(
    client: Client, user: NewAccount, numbers: Any, text: Any = "Sale!"
) -> httpx.Response:
    return await client.post(
        "/api/bulk-sms", json={"phone_numbers": numbers, "text": text}, headers=user.headers
    )


def assert_error(r: httpx.Response, status: int, *words: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    assert body["ok"] is False and body["status"] == status
    for word in words:
        assert word.lower() in body["message"].lower(), body
    return body


async def test_bulk_sms_answers_textflow_shape(
    client: Client, make_account: MakeAccount, services: Services
) -> None:
    user = await make_account("1.00")
    r = await bulk(client, user, [SERBIA, USA, "+381 69 015 6361"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["ok"] is True and body["status"] == 200
    assert body["message"] == "Bulk SMS sending started"
    assert body["userId"] == user.account.id
    assert isinstance(body["job_id"], int)
    assert body["accepted"] == 3 and body["rejected"] == 0 and body["rejections"] == []
    assert body["price"] == 0.31 and isinstance(body["price"], float)
    assert await services.accounts.balance(user.account.id) == 690_000
    counts = await services.db.read(messages.count_by_status, user.account.id)
    assert counts == {"queued": 3}


async def test_mixed_numbers_counts_and_reasons_are_exact(
    client: Client, make_account: MakeAccount, services: Services
) -> None:
    user = await make_account("10")
    await opt_outs.add(services.db, user.account.id, "+381690000003")
    numbers = [
        "+381690000001",  # 0 valid
        "+381 69 000 0001",  # 1 duplicate of 0
        "not a number",  # 2 invalid
        "+381690000003",  # 3 opted out
        "+999123",  # 4 invalid
        "+381690000002",  # 5 valid
        "00381690000002",  # 6 duplicate of 5
        "+381690000003",  # 7 duplicate (of an opted-out number)
        "",  # 8 invalid
        USA,  # 9 valid
    ]
    r = await bulk(client, user, numbers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["accepted"] == 3 and body["rejected"] == 7
    assert body["rejected_by_reason"] == {"invalid": 3, "duplicate": 3, "opted out": 1}
    assert [(x["index"], x["phone_number"], x["reason"]) for x in body["rejections"]] == [
        (1, "+381 69 000 0001", "duplicate"),
        (2, "not a number", "invalid"),
        (3, "+381690000003", "opted out"),
        (4, "+999123", "invalid"),
        (6, "00381690000002", "duplicate"),
        (7, "+381690000003", "duplicate"),
        (8, "", "invalid"),
    ]
    assert body["rejections"][1]["detail"] == "The phone number must not contain letters."
    assert body["price"] == 0.31  # 2 x 0.15 + 0.01: nothing for the refused
    assert await services.accounts.balance(user.account.id) == 9_690_000

    job = (await client.get(f"/api/bulk/{body['job_id']}", headers=user.headers)).json()["data"]
    assert job["recipients"] == 3 and job["pending"] == 3 and job["state"] == "running"
    assert job["rejected"] == {"invalid": 3, "duplicate": 3, "opted out": 1}
    assert job["counts"]["queued"] == 3 and job["counts"]["submitted"] == 0


async def test_rejections_listed_up_to_a_cap(client: Client, make_account: MakeAccount) -> None:
    user = await make_account("10")
    r = await bulk(client, user, [f"junk {i}" for i in range(300)] + [SERBIA])
    body = r.json()
    assert body["accepted"] == 1 and body["rejected"] == 300
    assert body["rejected_by_reason"]["invalid"] == 300
    assert [x["index"] for x in body["rejections"]] == list(range(100))


async def test_not_enough_credits_queues_nothing_and_says_what_is_missing(
    client: Client, make_account: MakeAccount, services: Services
) -> None:
    user = await make_account("1.00")
    r = await bulk(client, user, serbian(10))  # 1.50
    body = assert_error(r, 402, "not enough credits")
    assert "0.50 missing" in body["message"] and body["missing"] == "0.50"
    assert body["price"] == 1.5 and body["credits"] == "1.00"
    assert await services.accounts.balance(user.account.id) == 1_000_000
    assert await services.db.read(messages.count_by_status, user.account.id) == {}
    count = await client.post("/api/bulk-count", headers=user.headers)
    assert count.json()["count"] == 0
    # exactly enough is enough
    ok = await bulk(
        client, user, [*serbian(6), USA, USA, *serbian(1, start=100)]
    )  # 7 x 0.15 + 0.01
    assert ok.status_code == 402
    exact = await bulk(client, user, [*serbian(6), USA])  # 0.91
    assert exact.status_code == 200 and exact.json()["accepted"] == 7
    assert await services.accounts.balance(user.account.id) == 90_000


async def test_nothing_valid_is_a_400_with_the_reasons(
    client: Client, make_account: MakeAccount, services: Services
) -> None:
    user = await make_account("1.00")
    body = assert_error(await bulk(client, user, ["x", "+1"]), 400, "no valid phone number")
    assert body["rejected_by_reason"] == {"invalid": 2, "duplicate": 0, "opted out": 0}
    await opt_outs.add(services.db, user.account.id, SERBIA)
    body = assert_error(await bulk(client, user, [SERBIA, SERBIA]), 400, "opted out")
    assert body["rejected_by_reason"] == {"invalid": 0, "duplicate": 1, "opted out": 1}
    assert await services.accounts.balance(user.account.id) == 1_000_000


async def test_opt_out_removed_sends_again(
    client: Client, make_account: MakeAccount, services: Services
) -> None:
    user = await make_account("1.00")
    phone, added = await opt_outs.add(services.db, user.account.id, "+381 69 015 6360")
    assert phone.e164 == SERBIA and added
    assert (await opt_outs.add(services.db, user.account.id, SERBIA))[1] is False
    assert await opt_outs.numbers(services.db, user.account.id) == [SERBIA]
    other = await make_account("1.00")  # opt-outs are per account
    assert (await bulk(client, other, [SERBIA])).json()["accepted"] == 1
    assert (await opt_outs.remove(services.db, user.account.id, SERBIA))[1] is True
    assert (await opt_outs.remove(services.db, user.account.id, SERBIA))[1] is False
    assert (await bulk(client, user, [SERBIA])).json()["accepted"] == 1


async def test_form_body_with_repeated_keys(client: Client, make_account: MakeAccount) -> None:
    user = await make_account("1.00")
    form = {**user.headers, "Content-Type": "application/x-www-form-urlencoded"}
    r = await client.post(
        "/api/bulk-sms",
        content="phone_numbers%5B%5D=%2B381690156360&phone_numbers%5B%5D=%2B12015550123&text=hi",
        headers=form,
    )
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 2
    one = await client.post(
        "/api/bulk-sms", content="phone_numbers=%2B381690156360&text=hi", headers=form
    )
    assert one.status_code == 200 and one.json()["accepted"] == 1


async def test_body_over_the_single_message_limit_is_taken(
    client: Client, make_account: MakeAccount, services: Services
) -> None:
    """bulk-sms takes bodies up to bulk_max_body_bytes (16 MB), not max_body_bytes (1 MB)."""
    user = await make_account("100")
    numbers = serbian(100) * 700  # 70,000 numbers, ~1.2 MB of JSON
    content = json.dumps({"phone_numbers": numbers, "text": "hi"})
    assert len(content) > services.settings.max_body_bytes
    r = await client.post(
        "/api/bulk-sms",
        content=content,
        headers={**user.headers, "Content-Type": "application/json"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 100 and r.json()["rejected_by_reason"]["duplicate"] == 69_900


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        ({"phone_numbers": SERBIA, "text": "hi"}, ("phone_numbers", "list of strings")),
        ({"phone_numbers": {"a": SERBIA}, "text": "hi"}, ("phone_numbers", "list of strings")),
        ({"phone_numbers": 381690156360, "text": "hi"}, ("phone_numbers", "list of strings")),
        ({"phone_numbers": [], "text": "hi"}, ("phone_numbers", "empty")),
        ({"phone_numbers": [SERBIA, 5], "text": "hi"}, ("phone_numbers", "item 1")),
        ({"phone_numbers": [None], "text": "hi"}, ("phone_numbers", "item 0")),
        ({"phone_numbers": [[SERBIA]], "text": "hi"}, ("phone_numbers", "string")),
        ({"text": "hi"}, ("missing", "phone_numbers")),
        ({"phone_numbers": [SERBIA]}, ("missing", "text")),
        ({"phone_numbers": [SERBIA], "text": ""}, ("empty",)),
        ({"phone_numbers": [SERBIA], "text": ["hi"]}, ("text", "string")),
        ({"phone_numbers": [SERBIA], "text": "x" * 1531}, ("too long",)),
        ({"phone_numbers": ["+1"] * 100_001, "text": "hi"}, ("100001", "at most 100000")),
    ],
)
async def test_bad_bulk_input_is_400_in_the_shape(
    client: Client,
    make_account: MakeAccount,
    services: Services,
    payload: dict[str, Any],
    words: tuple[str, ...],
) -> None:
    user = await make_account("10")
    r = await client.post("/api/bulk-sms", json=payload, headers=user.headers)
    assert_error(r, 400, *words)
    assert await services.accounts.balance(user.account.id) == 10_000_000
    assert await services.db.read(messages.count_by_status, user.account.id) == {}


async def test_bad_key_answers_textflow_wording(client: Client) -> None:
    bad = {"Authorization": "Bearer tg_nope"}
    r = await client.post(
        "/api/bulk-sms", json={"phone_numbers": [SERBIA], "text": "hi"}, headers=bad
    )
    assert r.json() == {
        "ok": False,
        "status": 400,
        "message": "Invalid API key",
        "reason": "the API key is unknown or revoked",
    }
    assert_error(await client.post("/api/bulk-count", headers=bad), 400, "Invalid API key")
    assert_error(await client.get("/api/bulk/1", headers=bad), 401, "Invalid API key")
    assert_error(await client.post("/api/bulk/1/cancel", headers=bad), 401, "Invalid API key")


async def test_bulk_count_get_and_post(client: Client, make_account: MakeAccount) -> None:
    user = await make_account("10")
    for method in ("GET", "POST"):
        r = await client.request(method, "/api/bulk-count", headers=user.headers)
        assert r.json() == {
            "ok": True,
            "status": 200,
            "message": "Bulk messages successfully counted",
            "count": 0,
        }
    await bulk(client, user, serbian(5))
    await bulk(client, user, serbian(3, start=10))
    await client.post(
        "/api/send-sms", json={"phone_number": SERBIA, "text": "x"}, headers=user.headers
    )
    r = await client.post("/api/bulk-count", headers=user.headers, json={"ignored": True})
    assert r.json()["count"] == 8  # single messages are not bulk


async def test_unknown_and_other_accounts_jobs_are_404(
    client: Client, make_account: MakeAccount
) -> None:
    alice, bob = await make_account("10"), await make_account("10")
    job_id = (await bulk(client, alice, serbian(3))).json()["job_id"]
    cases = [(bob, f"/api/bulk/{job_id}"), (alice, "/api/bulk/999999")]
    cases += [(alice, "/api/bulk/0"), (alice, f"/api/bulk/{1 << 64}")]
    for user, path in cases:
        missing = path.rsplit("/", 1)[-1]
        body = assert_error(await client.get(path, headers=user.headers), 404)
        assert body["message"] == f"No bulk job {missing} in this account"
        assert_error(await client.post(f"{path}/cancel", headers=user.headers), 404)
    assert (await client.post("/api/bulk-count", headers=bob.headers)).json()["count"] == 0
    still = await client.get(f"/api/bulk/{job_id}", headers=alice.headers)
    assert still.json()["data"]["counts"]["queued"] == 3  # bob's cancel did nothing


async def test_cancel_refunds_to_the_micro_credit_and_only_once(
    client: Client, make_account: MakeAccount, services: Services
) -> None:
    user = await make_account("1.00")
    job_id = (await bulk(client, user, [SERBIA, USA])).json()["job_id"]  # 0.16
    r = await client.post(f"/api/bulk/{job_id}/cancel", headers=user.headers)
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert data["cancelled"] == 2 and data["in_flight"] == 0
    assert data["refunded"] == 0.16 and data["refunded_credits"] == "0.16"
    assert await services.accounts.balance(user.account.id) == 1_000_000
    job = (await client.get(f"/api/bulk/{job_id}", headers=user.headers)).json()["data"]
    assert job["state"] == "cancelled" and job["counts"]["cancelled"] == 2
    assert job["pending"] == 0 and job["refunded"] == 0.16 and job["price"] == 0.16
    assert job["finished_at"] == job["cancelled_at"] == data["cancelled_at"]
    again = assert_error(await client.post(f"/api/bulk/{job_id}/cancel", headers=user.headers), 409)
    assert again["message"] == f"Bulk job {job_id} was already cancelled"
    assert await services.accounts.balance(user.account.id) == 1_000_000


async def test_openapi_describes_the_bulk_routes(client: Client) -> None:
    paths = (await client.get("/schema/openapi.json")).json()["paths"]
    assert set(paths["/api/bulk-count"]) == {"get", "post"}
    body = paths["/api/bulk-sms"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["properties"]["phone_numbers"]["type"] == "array"
    for path in ("/api/bulk/{job_id}", "/api/bulk/{job_id}/cancel"):
        assert path in paths
