"""Delivery through the user's own Android phone, via the SMS Gateway for Android app
(SQLite and PostgreSQL): send-sms through the API, the worker submits to an HTTP peer on
127.0.0.1 that speaks the app's API, and the phone's signed webhooks (delivered, failed,
received) come back to textgate's callback route."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator

import pytest
from android_peer import PASSWORD, SIGNING_KEY, USERNAME, AndroidPeer, android_signature
from http_delivery import PUBLIC_URL, eventually, for_provider, textgate
from http_peers import Answer

from support import hook_receiver
from textgate.delivery.http.android import AndroidProvider, webhook_id
from textgate.settings import Settings
from textgate.store import inbound as inbound_store

TO = "+381690156360"
ROUTE = "/callbacks/android/phone"


@pytest.fixture
def phone() -> Iterator[AndroidPeer]:
    with AndroidPeer() as peer:
        yield peer


def settings_with(
    settings_for: Callable[..., Settings], database_url: str, peer: AndroidPeer, **table: object
) -> Settings:
    table.setdefault("callback_base_url", PUBLIC_URL)
    table.setdefault("signing_key", SIGNING_KEY)
    kept = {key: value for key, value in table.items() if value is not None}
    return for_provider(settings_for, database_url, "phone", peer.provider_table(**kept))


async def test_a_message_goes_to_the_phone_and_a_signed_webhook_delivers_it(
    database_url: str, settings_for: Callable[..., Settings], phone: AndroidPeer
) -> None:
    settings = settings_with(settings_for, database_url, phone, sim_number=2, ttl=3600)
    async with textgate(settings) as gate:
        provider = gate.svc.router.providers["phone"]
        assert isinstance(provider, AndroidProvider)
        with hook_receiver() as receiver:
            await gate.svc.webhooks.set_url(gate.account.id, receiver.url)
            message_id = await gate.send(TO, "Hello from textgate")
            submitted = await gate.wait_status(message_id, "submitted")
            [request] = phone.submits()
            assert request.basic_auth == (USERNAME, PASSWORD)
            assert request.headers["content-type"] == "application/json"
            assert json.loads(request.body) == {
                "textMessage": {"text": "Hello from textgate"},
                "phoneNumbers": [TO],
                "withDeliveryReport": True,
                "simNumber": 2,
                "ttl": 3600,
            }
            [sent_id] = phone.message_ids()
            assert submitted.provider_message_id == sent_id

            body, headers = phone.webhook(
                "sms:sent", {"messageId": sent_id, "phoneNumber": TO, "sentAt": "now"}
            )
            r = await gate.http.post(ROUTE, content=body, headers=headers)
            assert r.status_code == 200, r.text
            assert (await gate.message(message_id)).status == "submitted"

            body, headers = phone.delivered(sent_id)
            r = await gate.http.post(ROUTE, content=body, headers=headers)
            assert r.json() == {"ok": True, "status": 200, "message": "Receipt recorded"}
            assert (await gate.message(message_id)).status == "delivered"
            assert await provider.state_of(sent_id) == "delivered"
            await eventually(lambda: bool(receiver.events("message.delivered")), "the webhook")
        await eventually(lambda: provider.webhooks_registered, "the webhooks to be registered")
    [event] = receiver.events("message.delivered")
    assert event["data"]["id"] == message_id and event["data"]["provider_message_id"] == sent_id
    hooks = phone.webhooks
    assert sorted(hooks) == sorted(
        webhook_id("phone", e) for e in ("sms:sent", "sms:delivered", "sms:failed", "sms:received")
    )
    assert {h["url"] for h in hooks.values()} == {f"{PUBLIC_URL}{ROUTE}"}


async def test_forged_unsigned_and_stale_webhooks_are_refused(
    database_url: str, settings_for: Callable[..., Settings], phone: AndroidPeer
) -> None:
    settings = settings_with(settings_for, database_url, phone)
    async with textgate(settings) as gate:
        message_id = await gate.send(TO)
        await gate.wait_status(message_id, "submitted")
        [sent_id] = phone.message_ids()
        good_body, good_headers = phone.delivered(sent_id)
        forged = [
            phone.delivered(sent_id, key="another key"),
            phone.delivered(sent_id, key=None),
            phone.delivered(sent_id, timestamp=int(time.time()) - 3600),
            (good_body.replace(b"sms:delivered", b"sms:failed  "), good_headers),
            (good_body, {**good_headers, "X-Timestamp": str(int(good_headers["X-Timestamp"]) + 1)}),
        ]
        for body, headers in forged:
            r = await gate.http.post(ROUTE, content=body, headers=headers)
            assert r.status_code == 403, (headers, r.text)
            assert r.json() == {"ok": False, "status": 403, "message": "Invalid signature"}
        message = await gate.message(message_id)
        assert (message.status, message.final_at) == ("submitted", None)

        r = await gate.http.post(
            "/callbacks/android/elsewhere", content=good_body, headers=good_headers
        )
        assert r.status_code == 404 and r.json()["status"] == 404

        r = await gate.http.post(ROUTE, content=good_body, headers=good_headers)
        assert r.status_code == 200, r.text
        assert (await gate.message(message_id)).status == "delivered"


async def test_a_failed_webhook_makes_the_message_undelivered_with_the_reason(
    database_url: str, settings_for: Callable[..., Settings], phone: AndroidPeer
) -> None:
    settings = settings_with(settings_for, database_url, phone)
    async with textgate(settings) as gate:
        message_id = await gate.send(TO)
        submitted = await gate.wait_status(message_id, "submitted")
        [sent_id] = phone.message_ids()
        body, headers = phone.failed(sent_id, "RESULT_ERROR_GENERIC_FAILURE")
        r = await gate.http.post(ROUTE, content=body, headers=headers)
        assert r.status_code == 200, r.text
        failed = await gate.message(message_id)
        balance = await gate.balance()
    assert (failed.status, failed.error) == ("undelivered", "RESULT_ERROR_GENERIC_FAILURE")
    # Handed over, so paid for like any message that did not arrive (the receipt rules).
    assert balance == 10_000_000 - submitted.price_micros


async def test_a_reply_the_phone_receives_is_stored_for_the_account(
    database_url: str, settings_for: Callable[..., Settings], phone: AndroidPeer
) -> None:
    settings = settings_with(settings_for, database_url, phone, phone_number="+381641234567")
    async with textgate(settings) as gate:
        with hook_receiver() as receiver:
            await gate.svc.webhooks.set_url(gate.account.id, receiver.url)
            message_id = await gate.send(TO)
            await gate.wait_status(message_id, "submitted")
            body, headers = phone.received(TO, "STOP please")
            r = await gate.http.post(ROUTE, content=body, headers=headers)
            assert r.status_code == 200, r.text
            forged_body, forged_headers = phone.received(TO, "forged", key="nope")
            r = await gate.http.post(ROUTE, content=forged_body, headers=forged_headers)
            assert r.status_code == 403
            await eventually(lambda: bool(receiver.events("message.received")), "the webhook")
            [stored] = await gate.svc.db.read(inbound_store.recent)
    assert (stored.provider, stored.from_number, stored.to_number, stored.text) == (
        "phone",
        TO,
        "+381641234567",
        "STOP please",
    )
    assert stored.account_id == gate.account.id


async def test_a_bad_number_fails_at_once_and_throttling_is_retried(
    database_url: str, settings_for: Callable[..., Settings], phone: AndroidPeer
) -> None:
    phone.script.append(Answer(429, {"message": "Too many requests"}, {"Retry-After": "0"}))
    settings = settings_with(settings_for, database_url, phone)
    async with textgate(settings) as gate:
        throttled = await gate.send(TO)
        sent = await gate.wait_status(throttled, "submitted")
        phone.script.append(Answer(400, {"message": "invalid phone number +381690156361"}))
        refused = await gate.send("+381690156361")
        failed = await gate.wait_status(refused, "failed")
        balance = await gate.balance()
    assert sent.attempts == 2
    assert failed.error is not None
    assert failed.error.startswith("android HTTP 400: invalid phone number +381")
    assert "690156361" not in failed.error, "numbers in reasons are masked"
    assert failed.attempts == 1
    assert balance == 10_000_000 - sent.price_micros


async def test_an_unreachable_phone_is_down_and_messages_wait(
    database_url: str, settings_for: Callable[..., Settings], phone: AndroidPeer
) -> None:
    settings = settings_with(settings_for, database_url, phone, down_after=1)
    async with textgate(settings) as gate:
        provider = gate.svc.router.providers["phone"]
        await eventually(lambda: provider.health().detail["webhooks"] == "registered", "hooks")
        phone.down()
        message_id = await gate.send(TO)
        await eventually(lambda: not provider.health().up, "the provider to be down")
        await asyncio.sleep(0.3)
        waiting = await gate.message(message_id)
        phone.up()
        submitted = await gate.wait_status(message_id, "submitted")
    assert (waiting.status, waiting.attempts) == ("queued", 1)
    assert submitted.attempts == 2


async def test_refused_credentials_take_the_phone_down_until_they_work(
    database_url: str, settings_for: Callable[..., Settings], phone: AndroidPeer
) -> None:
    settings = settings_with(settings_for, database_url, phone, callback_base_url=None)
    phone.password = "changed-in-the-app"
    async with textgate(settings) as gate:
        provider = gate.svc.router.providers["phone"]
        message_id = await gate.send(TO)
        await eventually(lambda: not provider.health().up, "the provider to be down")
        await asyncio.sleep(0.3)
        waiting = await gate.message(message_id)
        last_error = provider.health().last_error
        phone.password = PASSWORD
        submitted = await gate.wait_status(message_id, "submitted")
    assert (waiting.status, waiting.attempts) == ("queued", 1)
    assert last_error is not None and "credentials refused" in last_error
    assert submitted.attempts == 2


async def test_a_process_without_the_worker_stores_webhooks_itself(
    database_url: str, settings_for: Callable[..., Settings], phone: AndroidPeer
) -> None:
    """`serve --no-worker` runs no receipts intake: the callback route writes what came."""
    settings = settings_with(settings_for, database_url, phone)
    async with textgate(settings, worker=False) as gate:
        assert gate.svc.receipts is None
        body, headers = phone.received("+381641234567", "hello")
        r = await gate.http.post(ROUTE, content=body, headers=headers)
        assert r.status_code == 200, r.text
        [stored] = await gate.svc.db.read(inbound_store.recent)

        stamp = str(int(time.time()))
        junk = b"not json"
        signed = {"X-Timestamp": stamp, "X-Signature": android_signature(SIGNING_KEY, junk, stamp)}
        r = await gate.http.post(ROUTE, content=junk, headers=signed)
        assert r.status_code == 400 and r.json()["ok"] is False
    assert (stored.from_number, stored.text, stored.account_id) == ("+381641234567", "hello", None)
