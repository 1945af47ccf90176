"""Delivery through Vonage's SMS API (SQLite and PostgreSQL): send-sms through the API, the
worker submits to an HTTP peer on 127.0.0.1 that speaks Vonage's API, and its delivery
receipts (signed, or carrying the callback token) come back to textgate's callback route."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator

import pytest
from http_delivery import PUBLIC_URL, eventually, for_provider, textgate
from http_peers import VONAGE_KEY, VONAGE_SECRET, VonagePeer, vonage_answer, vonage_signature

from support import hook_receiver
from textgate.delivery.base import Inbound, Receipt
from textgate.domain.retry import RetryPolicy
from textgate.settings import Settings
from textgate.worker.dispatcher import Dispatcher

TO = "+381690156360"
SIGNING = "vonage-signature-secret"
TOKEN = "t0k3n-0123456789abcdef"


@pytest.fixture
def vonage() -> Iterator[VonagePeer]:
    with VonagePeer() as peer:
        yield peer


def settings_with(
    settings_for: Callable[..., Settings],
    database_url: str,
    peer: VonagePeer,
    *,
    signed: bool = True,
    **table: object,
) -> Settings:
    if signed:
        table.setdefault("signature_secret", SIGNING)
    return for_provider(
        settings_for, database_url, "vg", peer.provider_table(callback_base_url=PUBLIC_URL, **table)
    )


async def test_a_message_goes_to_vonage_and_a_signed_receipt_delivers_it(
    database_url: str, settings_for: Callable[..., Settings], vonage: VonagePeer
) -> None:
    settings = settings_with(settings_for, database_url, vonage)
    async with textgate(settings) as gate:
        with hook_receiver() as receiver:
            await gate.svc.webhooks.set_url(gate.account.id, receiver.url)
            message_id = await gate.send(TO, "Hello from textgate")
            submitted = await gate.wait_status(message_id, "submitted")
            [request] = vonage.submits()
            assert request.headers["content-type"] == "application/x-www-form-urlencoded"
            assert request.form == {
                "api_key": VONAGE_KEY,
                "api_secret": VONAGE_SECRET,
                "from": "TextGate",
                "to": TO.removeprefix("+"),
                "text": "Hello from textgate",
                "type": "text",
                "client-ref": f"textgate-{message_id}",
                "callback": f"{PUBLIC_URL}/callbacks/vonage/vg",
            }
            [part] = vonage.message_ids()
            assert (submitted.provider_message_id, submitted.segments) == (part, 1)

            accepted = vonage.receipt(part, "accepted", secret=SIGNING)
            r = await gate.callback("GET", "/callbacks/vonage/vg", accepted)
            assert r.status_code == 200, r.text
            assert (await gate.message(message_id)).status == "submitted"

            delivered = vonage.receipt(part, "delivered", secret=SIGNING)
            r = await gate.callback("GET", "/callbacks/vonage/vg", delivered)
            assert r.json() == {"ok": True, "status": 200, "message": "Receipt recorded"}
            assert (await gate.message(message_id)).status == "delivered"
            await eventually(lambda: bool(receiver.events("message.delivered")), "the webhook")
    [event] = receiver.events("message.delivered")
    assert event["data"]["id"] == message_id and event["data"]["provider_message_id"] == part


async def test_unsigned_forged_stale_and_other_accounts_receipts_change_nothing(
    database_url: str, settings_for: Callable[..., Settings], vonage: VonagePeer
) -> None:
    settings = settings_with(settings_for, database_url, vonage, signature_method="sha256")
    async with textgate(settings) as gate:
        message_id = await gate.send(TO)
        await gate.wait_status(message_id, "submitted")
        [part] = vonage.message_ids()
        good = vonage.receipt(part, "delivered", secret=SIGNING, method="sha256")
        refused = [
            vonage.receipt(part, "delivered"),  # unsigned
            vonage.receipt(part, "delivered", secret="another secret", method="sha256"),
            vonage.receipt(part, "delivered", secret=SIGNING, method="md5hash"),
            {**good, "status": "failed"},  # changed after signing
            vonage.receipt(
                part,
                "delivered",
                secret=SIGNING,
                method="sha256",
                timestamp=int(time.time()) - 2 * 86_400,
            ),
        ]
        for params in refused:
            for method in ("GET", "POST"):
                r = await gate.callback(method, "/callbacks/vonage/vg", params)
                assert r.status_code == 403, (params, r.text)
                assert r.json() == {
                    "ok": False,
                    "status": 403,
                    "message": "Invalid signature or token",
                }
        message = await gate.message(message_id)
        assert (message.status, message.final_at) == ("submitted", None)

        r = await gate.callback("GET", "/callbacks/vonage/elsewhere", good)
        assert r.status_code == 404 and r.json()["status"] == 404

        # Signed right, but for another API key: not ours, answered and ignored.
        other = {**good, "api-key": "ffffffff"}
        other["sig"] = _resign(other, "sha256")
        r = await gate.callback("POST", "/callbacks/vonage/vg", other)
        assert r.json()["message"] == "Nothing to record"
        assert (await gate.message(message_id)).status == "submitted"

        r = await gate.callback("POST", "/callbacks/vonage/vg", good)  # as a form POST
        assert r.status_code == 200
        assert (await gate.message(message_id)).status == "delivered"


def _resign(params: dict[str, str], method: str) -> str:
    return vonage_signature(SIGNING, params, method)


async def test_receipts_with_the_callback_token_as_json(
    database_url: str, settings_for: Callable[..., Settings], vonage: VonagePeer
) -> None:
    settings = settings_with(settings_for, database_url, vonage, signed=False, callback_token=TOKEN)
    async with textgate(settings) as gate:
        message_id = await gate.send(TO)
        await gate.wait_status(message_id, "submitted")
        [request] = vonage.submits()
        assert request.form["callback"] == f"{PUBLIC_URL}/callbacks/vonage/vg/{TOKEN}"
        [part] = vonage.message_ids()
        receipt = vonage.receipt(part, "expired", err_code="5")
        for path in ("/callbacks/vonage/vg", "/callbacks/vonage/vg/wrong-token-0123456789"):
            r = await gate.http.post(path, json=receipt)
            assert r.status_code == 403, r.text
        r = await gate.http.post(request.form["callback"].removeprefix(PUBLIC_URL), json=receipt)
        assert r.status_code == 200, r.text
        expired = await gate.message(message_id)
    assert (expired.status, expired.error) == ("expired", "5")


async def test_unicode_text_goes_as_type_unicode(
    database_url: str, settings_for: Callable[..., Settings], vonage: VonagePeer
) -> None:
    text = "你好 textgate 👋"
    settings = settings_with(settings_for, database_url, vonage)
    async with textgate(settings) as gate:
        message_id = await gate.send(TO, text)
        submitted = await gate.wait_status(message_id, "submitted")
    [request] = vonage.submits()
    assert (request.form["type"], request.form["text"]) == ("unicode", text)
    assert submitted.encoding == "ucs2" and submitted.segments == 1


async def test_a_long_message_goes_in_parts_each_with_its_receipt(
    database_url: str, settings_for: Callable[..., Settings], vonage: VonagePeer
) -> None:
    long_text = "Long message. " * 25  # 350 GSM characters: 3 parts of 153
    settings = settings_with(settings_for, database_url, vonage)
    async with textgate(settings) as gate:
        delivered_id = await gate.send(TO, long_text)
        failed_id = await gate.send("+381690156361", "Ћирилица " * 10)  # 90 UCS-2: 2 parts
        first = await gate.wait_status(delivered_id, "submitted")
        second = await gate.wait_status(failed_id, "submitted")
        by_to: dict[str, list[str]] = {}
        for part in vonage.message_ids():
            by_to.setdefault(vonage.parts[part]["to"], []).append(part)
        long_parts, unicode_parts = by_to[TO[1:]], by_to["381690156361"]

        for part in long_parts[:2]:
            r = await gate.callback(
                "GET", "/callbacks/vonage/vg", vonage.receipt(part, "delivered", secret=SIGNING)
            )
            assert r.status_code == 200
        waiting = await gate.message(delivered_id)
        r = await gate.callback(
            "GET",
            "/callbacks/vonage/vg",
            vonage.receipt(long_parts[2], "delivered", secret=SIGNING),
        )
        assert r.status_code == 200
        delivered = await gate.message(delivered_id)

        r = await gate.callback(
            "GET",
            "/callbacks/vonage/vg",
            vonage.receipt(unicode_parts[1], "failed", err_code="6", secret=SIGNING),
        )
        assert r.status_code == 200
        undelivered = await gate.message(failed_id)
    assert (first.segments, len(long_parts), first.provider_message_id) == (3, 3, long_parts[0])
    assert (second.segments, len(unicode_parts)) == (2, 2)
    assert vonage.submits()[1].form["type"] == "unicode"
    assert waiting.status == "submitted", "delivered only once every part is"
    assert delivered.status == "delivered"
    assert (undelivered.status, undelivered.error) == ("undelivered", "6")


async def test_throttled_is_retried_and_a_barred_number_fails_and_is_refunded(
    database_url: str, settings_for: Callable[..., Settings], vonage: VonagePeer
) -> None:
    vonage.script.append(vonage_answer("1", text="Throughput Rate Exceeded"))
    vonage.refuse["381690156361"] = "7"
    settings = settings_with(settings_for, database_url, vonage)
    async with textgate(settings) as gate:
        throttled = await gate.send(TO)
        sent = await gate.wait_status(throttled, "submitted")
        barred = await gate.send("+381690156361")
        failed = await gate.wait_status(barred, "failed")
        balance = await gate.balance()
    assert sent.attempts == 2
    assert failed.error == "vonage 7: Refused"
    assert failed.attempts == 1 and len(vonage.submits()) == 3
    assert balance == 10_000_000 - sent.price_micros


async def test_refused_credentials_make_the_provider_down_until_they_work(
    database_url: str, settings_for: Callable[..., Settings], vonage: VonagePeer
) -> None:
    settings = settings_with(settings_for, database_url, vonage)
    vonage.api_secret = "rotated"  # the account's secret changed under textgate
    async with textgate(settings) as gate:
        provider = gate.svc.router.providers["vg"]
        message_id = await gate.send(TO)
        await eventually(lambda: not provider.health().up, "the provider to be down")
        await asyncio.sleep(0.3)
        waiting = await gate.message(message_id)
        last_error = provider.health().last_error
        vonage.api_secret = VONAGE_SECRET  # put right again
        submitted = await gate.wait_status(message_id, "submitted")
    assert (waiting.status, waiting.attempts) == ("queued", 1)
    assert last_error is not None and "credentials refused" in last_error
    assert submitted.attempts == 2


async def test_vonage_down_makes_the_provider_down_and_messages_wait(
    database_url: str, settings_for: Callable[..., Settings], vonage: VonagePeer
) -> None:
    settings = settings_with(settings_for, database_url, vonage, down_after=1)
    async with textgate(settings) as gate:
        provider = gate.svc.router.providers["vg"]
        vonage.down()
        message_id = await gate.send(TO)
        await eventually(lambda: not provider.health().up, "the provider to be down")
        await asyncio.sleep(0.3)
        waiting = await gate.message(message_id)
        vonage.up()
        submitted = await gate.wait_status(message_id, "submitted")
    assert (waiting.status, waiting.attempts) == ("queued", 1)
    assert submitted.attempts == 2


async def test_a_process_without_the_worker_applies_receipts_itself(
    database_url: str, settings_for: Callable[..., Settings], vonage: VonagePeer
) -> None:
    """`serve --no-worker` runs no receipts intake: the callback route writes the receipt."""
    settings = settings_with(settings_for, database_url, vonage)
    async with textgate(settings, worker=False) as gate:
        assert gate.svc.receipts is None and gate.svc.dispatcher is None
        message_id = await gate.send(TO)
        provider = gate.svc.router.providers["vg"]
        await provider.start(_NoSink())
        try:  # a worker elsewhere submits it
            worker = Dispatcher(gate.svc.db, gate.svc.router, policy=RetryPolicy())
            assert await worker.run_once() == 1
        finally:
            await provider.stop()
        [part] = vonage.message_ids()
        receipt = vonage.receipt(part, "delivered", secret=SIGNING)
        r = await gate.callback("GET", "/callbacks/vonage/vg", receipt)
        assert r.status_code == 200, r.text
        delivered = await gate.message(message_id)
    assert (delivered.status, delivered.provider_message_id) == ("delivered", part)


class _NoSink:
    async def receipt(self, receipt: Receipt) -> None:
        raise AssertionError("HTTP providers hand no receipts to the worker's sink")

    async def inbound(self, message: Inbound) -> None:
        raise AssertionError("HTTP providers hand no inbound messages to the worker's sink")
