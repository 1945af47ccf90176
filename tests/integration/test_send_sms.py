"""send-sms, balance and messages/{id} on SQLite and PostgreSQL, in-process."""

from __future__ import annotations

import asyncio
import dataclasses
from decimal import Decimal

import httpx

from support import MakeAccount
from textgate.domain.states import MessageKind
from textgate.services.container import Services
from textgate.store.records import Accepted, NewMessage

Client = httpx.AsyncClient
SERBIA = "+381690156360"


async def test_send_sms_answers_textflow_shape(client: Client, make_account: MakeAccount) -> None:
    user = await make_account("1.00")
    r = await client.post(
        "/api/send-sms",
        json={"phone_number": SERBIA, "text": "Dummy message text..."},
        headers=user.headers,
    )
    assert r.status_code == 200
    body = r.json()
    assert body["ok"] is True and body["status"] == 200
    assert body["message"] == "Message sent successfully"
    data = body["data"]
    assert data["to"] == SERBIA
    assert data["content"] == "Dummy message text..."
    assert data["country_code"] == "Serbia"
    assert data["price"] == 0.15 and isinstance(data["price"], float)
    assert isinstance(data["timestamp"], int) and data["timestamp"] > 1_600_000_000_000
    assert isinstance(data["id"], int)
    assert data["status"] == "queued" and data["segments"] == 1


async def test_form_body_and_normalised_number(client: Client, make_account: MakeAccount) -> None:
    user = await make_account()
    r = await client.post(
        "/api/send-sms",
        content="phone_number=%2B381+69+015+6360&text=hello+there",
        headers={**user.headers, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["data"]["to"] == SERBIA
    assert r.json()["data"]["content"] == "hello there"


async def test_price_is_debited_per_segment(
    client: Client, make_account: MakeAccount, services: Services
) -> None:
    user = await make_account("1.00")
    long_text = "x" * 161  # two GSM-7 parts
    r = await client.post(
        "/api/send-sms", json={"phone_number": SERBIA, "text": long_text}, headers=user.headers
    )
    assert r.json()["data"]["segments"] == 2
    assert r.json()["data"]["price"] == 0.30
    balance = await client.get("/api/balance", headers=user.headers)
    assert balance.json()["credits"] == "0.70"
    assert await services.accounts.balance(user.account.id) == 700_000


async def test_balance_shape(client: Client, make_account: MakeAccount) -> None:
    user = await make_account("0.11437")
    r = await client.get("/api/balance", headers=user.headers)
    assert r.status_code == 200
    body = r.json()
    assert body["ok"] is True and body["credits"] == "0.11437" and body["packages"] == {}
    assert isinstance(body["credits"], str)


async def test_new_account_gets_two_sms_of_credit(services: Services) -> None:
    account, _ = await services.accounts.create("fresh@example.com")
    default = services.prices.default_micros
    assert account.credits_micros == 2 * default


async def test_not_enough_credits_queues_nothing(
    client: Client, make_account: MakeAccount, services: Services
) -> None:
    user = await make_account("0.10")  # Serbia costs 0.15
    r = await client.post(
        "/api/send-sms", json={"phone_number": SERBIA, "text": "hi"}, headers=user.headers
    )
    assert r.status_code == 402
    assert r.json()["ok"] is False and "credits" in r.json()["message"]
    assert await services.accounts.balance(user.account.id) == 100_000
    from textgate.store import messages

    assert await services.db.read(messages.count_by_status, user.account.id) == {}


async def test_message_with_history(client: Client, make_account: MakeAccount) -> None:
    user = await make_account()
    sent = await client.post(
        "/api/send-sms", json={"phone_number": SERBIA, "text": "hi"}, headers=user.headers
    )
    message_id = sent.json()["data"]["id"]
    r = await client.get(f"/api/messages/{message_id}", headers=user.headers)
    assert r.status_code == 200
    data = r.json()["data"]
    assert data["id"] == message_id and data["status"] == "queued" and data["to"] == SERBIA
    assert [e["status"] for e in data["history"]] == ["queued"]
    assert Decimal(str(data["price"])) == Decimal("0.15")


async def test_another_accounts_message_is_not_found(
    client: Client, make_account: MakeAccount
) -> None:
    alice, bob = await make_account(), await make_account()
    sent = await client.post(
        "/api/send-sms", json={"phone_number": SERBIA, "text": "hi"}, headers=alice.headers
    )
    message_id = sent.json()["data"]["id"]
    r = await client.get(f"/api/messages/{message_id}", headers=bob.headers)
    assert r.status_code == 404
    assert r.json() == {
        "ok": False,
        "status": 404,
        "message": f"No message {message_id} in this account",
    }
    missing = await client.get("/api/messages/999999", headers=alice.headers)
    assert missing.status_code == 404


async def test_revoked_key_is_refused_at_once(
    client: Client, make_account: MakeAccount, services: Services
) -> None:
    user = await make_account()
    ok = await client.post(
        "/api/send-sms", json={"phone_number": SERBIA, "text": "hi"}, headers=user.headers
    )
    assert ok.status_code == 200  # the key is now in the auth cache
    await services.accounts.revoke_key(user.key_id)
    r = await client.post(
        "/api/send-sms", json={"phone_number": SERBIA, "text": "hi"}, headers=user.headers
    )
    assert r.status_code == 400 and r.json()["message"] == "Invalid API key"
    b = await client.get("/api/balance", headers=user.headers)
    assert b.status_code == 401 and b.json()["ok"] is False


async def test_openapi_describes_every_route(client: Client) -> None:
    r = await client.get("/schema/openapi.json")
    assert r.status_code == 200
    paths = r.json()["paths"]
    for path in ("/api/send-sms", "/api/balance", "/api/messages/{message_id}"):
        assert path in paths, path
    send = paths["/api/send-sms"]["post"]
    assert set(send["requestBody"]["content"]) == {
        "application/json",
        "application/x-www-form-urlencoded",
    }
    assert "200" in send["responses"] and "400" in send["responses"]


async def test_openapi_lists_only_the_errors_each_route_answers(client: Client) -> None:
    paths = (await client.get("/schema/openapi.json")).json()["paths"]

    def statuses(path: str, method: str) -> set[str]:
        return set(paths[path][method]["responses"])

    # TextFlow answers a bad key on send-sms and the bulk routes with 400, never 401.
    assert statuses("/api/send-sms", "post") == {"200", "400", "402", "413", "415"}
    assert statuses("/api/bulk-sms", "post") == {"200", "400", "402", "413", "415"}
    assert statuses("/api/bulk-count", "get") == {"200", "400"}
    assert statuses("/api/balance", "get") == {"200", "401"}
    assert statuses("/api/messages/{message_id}", "get") == {"200", "401", "404"}
    assert statuses("/api/bulk/{job_id}", "get") == {"200", "401", "404"}
    assert statuses("/api/bulk/{job_id}/cancel", "post") == {"200", "401", "404", "409"}
    assert {"402", "403", "429"} <= statuses("/api/send-code", "post")
    assert "402" not in statuses("/api/verify-code", "post")


async def test_openapi_has_no_made_up_examples(client: Client) -> None:
    """Generated examples (`"status": 5263`, random text) contradicted the contract."""
    document = (await client.get("/schema/openapi.json")).json()
    for name, schema in document["components"]["schemas"].items():
        assert "examples" not in schema, name
        for prop, value in schema.get("properties", {}).items():
            assert "examples" not in value, (name, prop)


async def test_a_message_that_breaks_its_batch_fails_alone(
    services: Services, make_account: MakeAccount
) -> None:
    """The group commit takes many messages in one transaction: one that the database
    refuses must not take the others down with it."""
    user = await make_account("100")
    good = NewMessage(
        account_id=user.account.id,
        api_key_id=user.key_id,
        kind=MessageKind.SMS,
        to_number="+381690156360",
        region="RS",
        body="fine",
        encoding="gsm7",
        segments=1,
        price_micros=150_000,
    )
    unstorable = dataclasses.replace(good, segments=2**70)  # no integer column holds it
    batch = [good] * 5 + [unstorable] + [good] * 2
    results = await asyncio.gather(
        *(services.committer.accept(m) for m in batch), return_exceptions=True
    )
    assert isinstance(results[5], Exception)
    assert all(isinstance(r, Accepted) for i, r in enumerate(results) if i != 5), results
    assert await services.accounts.balance(user.account.id) == 100_000_000 - 7 * 150_000
