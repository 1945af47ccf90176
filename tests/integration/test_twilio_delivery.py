"""Delivery through Twilio's Messages API (SQLite and PostgreSQL): send-sms through the API,
the worker submits to an HTTP peer on 127.0.0.1 that speaks Twilio's API, and its signed
status callbacks come back to textgate's callback route."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from http_delivery import PUBLIC_URL, eventually, for_provider, textgate
from http_peers import ACCOUNT_SID, AUTH_TOKEN, TwilioPeer, twilio_error

from support import hook_receiver
from textgate.settings import Settings

TO = "+381690156360"
INVALID_TO = "+14155550101"


@pytest.fixture
def twilio() -> Iterator[TwilioPeer]:
    with TwilioPeer() as peer:
        yield peer


def settings_with(
    settings_for: Callable[..., Settings], database_url: str, peer: TwilioPeer, **table: object
) -> Settings:
    return for_provider(
        settings_for,
        database_url,
        "tw",
        peer.provider_table(callback_base_url=PUBLIC_URL, **table),
    )


async def test_a_message_goes_to_twilio_and_a_signed_callback_delivers_it(
    database_url: str, settings_for: Callable[..., Settings], twilio: TwilioPeer
) -> None:
    settings = settings_with(settings_for, database_url, twilio)
    async with textgate(settings) as gate:
        with hook_receiver() as receiver:
            await gate.svc.webhooks.set_url(gate.account.id, receiver.url)
            message_id = await gate.send(TO, "Hello from textgate")
            submitted = await gate.wait_status(message_id, "submitted")

            [request] = twilio.submits()
            assert request.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
            assert request.basic_auth == (ACCOUNT_SID, AUTH_TOKEN)
            assert request.headers["content-type"] == "application/x-www-form-urlencoded"
            assert request.form == {
                "To": TO,
                "From": "+15005550006",
                "Body": "Hello from textgate",
                "StatusCallback": f"{PUBLIC_URL}/callbacks/twilio/tw",
            }
            [sid] = twilio.messages
            assert (submitted.provider, submitted.provider_message_id) == ("tw", sid)

            # An intermediate status is kept in the history and changes nothing.
            url, params, headers = twilio.status_callback(sid, "sent")
            r = await gate.callback("POST", url, params, headers=headers)
            assert r.status_code == 200, r.text
            assert r.json() == {"ok": True, "status": 200, "message": "Receipt recorded"}
            assert (await gate.message(message_id)).status == "submitted"

            url, params, headers = twilio.status_callback(sid, "delivered")
            r = await gate.callback("POST", url, params, headers=headers)
            assert r.status_code == 200, r.text
            delivered = await gate.message(message_id)
            assert delivered.status == "delivered" and delivered.error is None

            await eventually(
                lambda: bool(receiver.events("message.delivered")), "the delivered webhook"
            )
    [event] = receiver.events("message.delivered")
    assert event["data"]["id"] == message_id
    assert event["data"]["provider_message_id"] == sid
    assert event["data"]["status"] == "delivered"


async def test_forged_or_unsigned_callbacks_are_refused_and_change_nothing(
    database_url: str, settings_for: Callable[..., Settings], twilio: TwilioPeer
) -> None:
    settings = settings_with(settings_for, database_url, twilio)
    async with textgate(settings) as gate:
        message_id = await gate.send(TO)
        await gate.wait_status(message_id, "submitted")
        [sid] = twilio.messages
        url, params, headers = twilio.status_callback(sid, "delivered")

        forged = twilio.status_callback(sid, "delivered", token="not-the-auth-token")[2]
        tampered = twilio.status_callback(sid, "undelivered")[2]  # signed for other params
        for attempt in (
            {},
            forged,
            tampered,
            {"X-Twilio-Signature": base64.b64encode(b"x" * 20).decode()},
            {"X-Twilio-Signature": "not base64 at all"},
        ):
            r = await gate.callback("POST", url, params, headers=attempt)
            assert r.status_code == 403, (attempt, r.text)
            assert r.json() == {"ok": False, "status": 403, "message": "Invalid signature"}

        # The signature covers the URL: the same request at another URL is refused.
        r = await gate.http.post("/callbacks/twilio/tw?extra=1", data=dict(params), headers=headers)
        assert r.status_code == 403

        message = await gate.message(message_id)
        assert (message.status, message.final_at) == ("submitted", None)

        # The real one still works afterwards.
        r = await gate.callback("POST", url, params, headers=headers)
        assert r.status_code == 200
        assert (await gate.message(message_id)).status == "delivered"

        r = await gate.callback("POST", "/callbacks/twilio/nope", params, headers=headers)
        assert r.status_code == 404
        assert r.json()["ok"] is False and r.json()["status"] == 404
        r = await gate.http.get("/callbacks/twilio/tw")
        assert r.status_code == 405 and r.json()["status"] == 405


async def test_an_undelivered_callback_keeps_twilios_error_code(
    database_url: str, settings_for: Callable[..., Settings], twilio: TwilioPeer
) -> None:
    settings = settings_with(settings_for, database_url, twilio)
    async with textgate(settings) as gate:
        first = await gate.send(TO)
        second = await gate.send("+381690156361")
        await gate.wait_status(first, "submitted")
        await gate.wait_status(second, "submitted")
        sids = {form["To"]: sid for sid, form in twilio.messages.items()}
        for to, status in ((TO, "undelivered"), ("+381690156361", "failed")):
            url, params, headers = twilio.status_callback(sids[to], status, error_code="30003")
            r = await gate.callback("POST", url, params, headers=headers)
            assert r.status_code == 200
        undelivered = await gate.message(first)
        rejected = await gate.message(second)
        before = await gate.balance()
    assert (undelivered.status, undelivered.error) == ("undelivered", "30003")
    # Twilio's "failed" after it took the message: a carrier refused it (paid, not refunded).
    assert (rejected.status, rejected.error) == ("undelivered", "rejected: 30003")
    assert before == 10_000_000 - 2 * undelivered.price_micros


async def test_429_with_retry_after_is_tried_again_after_that_long(
    database_url: str, settings_for: Callable[..., Settings], twilio: TwilioPeer
) -> None:
    twilio.script.append(twilio_error(429, 20429, "Too Many Requests", Retry_After="1"))
    settings = settings_with(settings_for, database_url, twilio)
    async with textgate(settings) as gate:
        started = time.time()
        message_id = await gate.send(TO)
        await eventually(lambda: len(twilio.submits()) == 1, "the first submit")
        waiting = await gate.wait_status(message_id, "queued")
        await asyncio.sleep(0.3)
        assert len(twilio.submits()) == 1, "not again before the Retry-After"
        submitted = await gate.wait_status(message_id, "submitted")
        provider = gate.svc.router.providers["tw"]
        up = provider.health().up
    first, second = twilio.submits()
    assert second.at - first.at >= 0.9
    assert waiting.attempts == 1 and waiting.error is not None
    assert "429" in waiting.error and "20429" in waiting.error
    assert submitted.attempts == 2 and submitted.submitted_at is not None
    assert submitted.submitted_at / 1000 - started >= 0.9
    assert up, "a 429 means the provider answers: it stays up"


async def test_a_permanent_error_fails_the_message_with_the_reason_and_refunds_it(
    database_url: str, settings_for: Callable[..., Settings], twilio: TwilioPeer
) -> None:
    twilio.refuse[INVALID_TO] = (
        400,
        21211,
        f"The 'To' number {INVALID_TO} is not a valid phone number.",
    )
    settings = settings_with(settings_for, database_url, twilio)
    async with textgate(settings) as gate:
        with hook_receiver() as receiver:
            await gate.svc.webhooks.set_url(gate.account.id, receiver.url)
            message_id = await gate.send(INVALID_TO)
            failed = await gate.wait_status(message_id, "failed")
            balance = await gate.balance()
            await eventually(lambda: bool(receiver.events("message.failed")), "the webhook")
    assert len(twilio.submits()) == 1, "a permanent error is not tried again"
    assert failed.error is not None and failed.error.startswith("twilio 21211: The 'To' number")
    assert INVALID_TO not in failed.error, "numbers in the provider's text are masked"
    assert balance == 10_000_000, "a failed message is credited back"
    [event] = receiver.events("message.failed")
    assert event["data"]["status"] == "failed" and event["data"]["error"] == failed.error


async def test_twilio_down_makes_the_provider_down_and_messages_wait(
    database_url: str, settings_for: Callable[..., Settings], twilio: TwilioPeer
) -> None:
    twilio.down()
    settings = settings_with(settings_for, database_url, twilio, down_after=2)
    async with textgate(settings) as gate:
        provider = gate.svc.router.providers["tw"]
        message_id = await gate.send(TO)
        await eventually(lambda: not provider.health().up, "the provider to be down")
        health = provider.health()
        ready = await gate.http.get("/ready")
        waiting = await gate.message(message_id)
        await asyncio.sleep(0.3)  # down: the worker sends it nothing, no attempt is spent
        still = await gate.message(message_id)

        twilio.up()
        submitted = await gate.wait_status(message_id, "submitted")
        back = provider.health()
    assert health.last_error is not None and health.last_error.startswith("connection failed")
    assert health.detail["failures_in_a_row"] == "2"
    assert ready.status_code == 503
    assert ready.json()["providers"][0]["up"] is False
    assert waiting.status == "queued" and waiting.attempts == 2
    assert (still.status, still.attempts) == ("queued", 2)
    assert submitted.attempts == 3
    assert back.up and back.detail["failures_in_a_row"] == "0"
    assert [r.path for r in twilio.seen if r.method == "GET"], "a probe brought it up"


async def test_callbacks_with_bad_bodies_are_refused_with_a_4xx(client: httpx.AsyncClient) -> None:
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    for path, content, headers, status in (
        ("/callbacks/twilio/tw", b"\xff\xfe", form, 400),
        ("/callbacks/twilio/tw", b"a=1&&=&b", form, 400),
        ("/callbacks/vonage/vg", b"[1, 2]", {"Content-Type": "application/json"}, 400),
        ("/callbacks/vonage/vg", b"{not json", {"Content-Type": "application/json"}, 400),
        ("/callbacks/vonage/vg", b"a=" + b"x" * 70_000, form, 413),
        ("/callbacks/twilio/console", b"MessageSid=SM1", form, 404),  # not a Twilio provider
        ("/callbacks/vonage/console", b"messageId=1", form, 404),
    ):
        r = await client.post(path, content=content, headers=headers)
        assert r.status_code == status, (path, content[:20], r.text)
        assert r.json()["ok"] is False and r.json()["status"] == status
