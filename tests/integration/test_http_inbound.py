"""Inbound SMS through Twilio and Vonage (SQLite and PostgreSQL): the loopback peers build
the signed webhooks the real services send for a message a handset sent to our number, and
textgate stores it, matched to the account that last messaged that number."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest
from http_delivery import PUBLIC_URL, eventually, for_provider, textgate
from http_peers import TwilioPeer, VonagePeer, twilio_signature

from support import hook_receiver
from textgate.settings import Settings
from textgate.store import inbound as inbound_store

TO = "+381690156360"
OUR_NUMBER = "+381601234567"
TWILIO_INBOUND = f"{PUBLIC_URL}/callbacks/twilio/tw/inbound"
SIGNING = "vonage-signature-secret"
TOKEN = "t0k3n-0123456789abcdef"
LONG_TEXT = ("Part one of a long reply. " * 6, "Part two, with ünïcode ✓ 😀. " * 5, "The end.")


@pytest.fixture
def twilio() -> Iterator[TwilioPeer]:
    with TwilioPeer() as peer:
        yield peer


@pytest.fixture
def vonage() -> Iterator[VonagePeer]:
    with VonagePeer() as peer:
        yield peer


async def test_a_signed_twilio_message_is_stored_for_the_account_that_messaged_the_number(
    database_url: str, settings_for: Callable[..., Settings], twilio: TwilioPeer
) -> None:
    settings = for_provider(
        settings_for, database_url, "tw", twilio.provider_table(callback_base_url=PUBLIC_URL)
    )
    async with textgate(settings) as gate:
        with hook_receiver() as receiver:
            await gate.svc.webhooks.set_url(gate.account.id, receiver.url)
            message_id = await gate.send(TO)
            await gate.wait_status(message_id, "submitted")

            params, headers = twilio.incoming(TWILIO_INBOUND, TO, "+15005550006", "STOP please")
            forged = twilio.incoming(TWILIO_INBOUND, TO, "+15005550006", "x", token="nope")[1]
            tampered = [(k, "forged" if k == "Body" else v) for k, v in params]
            for form, attempt in ((params, {}), (params, forged), (tampered, headers)):
                r = await gate.callback("POST", TWILIO_INBOUND, form, headers=attempt)
                assert r.status_code == 403, r.text
                assert r.json() == {"ok": False, "status": 403, "message": "Invalid signature"}
            # Signed for the inbound URL: the status callback route refuses it too.
            r = await gate.callback("POST", "/callbacks/twilio/tw", params, headers=headers)
            assert r.status_code == 403
            assert await gate.svc.db.read(inbound_store.recent) == []

            r = await gate.callback("POST", TWILIO_INBOUND, params, headers=headers)
            assert r.status_code == 200, r.text
            assert r.headers["content-type"].startswith("text/xml")
            assert r.text == '<?xml version="1.0" encoding="UTF-8"?><Response/>'

            await eventually(lambda: bool(receiver.events("message.received")), "the webhook")
            [stored] = await gate.svc.db.read(inbound_store.recent)

            r = await gate.callback("POST", "/callbacks/twilio/nope/inbound", params)
            assert r.status_code == 404 and r.json()["ok"] is False
    assert (stored.provider, stored.from_number, stored.to_number, stored.text) == (
        "tw",
        TO,
        "+15005550006",
        "STOP please",
    )
    assert stored.account_id == gate.account.id
    [event] = receiver.events("message.received")
    assert event["data"]["text"] == "STOP please"


async def test_a_twilio_message_for_another_account_is_not_stored(
    database_url: str, settings_for: Callable[..., Settings], twilio: TwilioPeer
) -> None:
    settings = for_provider(settings_for, database_url, "tw", twilio.provider_table())
    async with textgate(settings, worker=False) as gate:
        url = "http://textgate/callbacks/twilio/tw/inbound"
        params, headers = twilio.incoming(url, TO, "+15005550006", "hello")
        other = [(k, "AC" + "f" * 32 if k == "AccountSid" else v) for k, v in params]
        other_headers = {"X-Twilio-Signature": twilio_signature(twilio.auth_token, url, other)}
        r = await gate.callback("POST", url, other, headers=other_headers)
        assert r.status_code == 200, r.text
        assert await gate.svc.db.read(inbound_store.recent) == []

        # An API-only process stores what comes itself.
        r = await gate.callback("POST", url, params, headers=headers)
        assert r.status_code == 200, r.text
        [stored] = await gate.svc.db.read(inbound_store.recent)
    assert (stored.from_number, stored.text, stored.account_id) == (TO, "hello", None)


async def test_a_long_vonage_message_in_parts_out_of_order_is_stored_whole(
    database_url: str, settings_for: Callable[..., Settings], vonage: VonagePeer
) -> None:
    table = vonage.provider_table(callback_base_url=PUBLIC_URL, signature_secret=SIGNING)
    settings = for_provider(settings_for, database_url, "vg", table)
    route = "/callbacks/vonage/vg/inbound"
    async with textgate(settings) as gate:
        with hook_receiver() as receiver:
            await gate.svc.webhooks.set_url(gate.account.id, receiver.url)
            message_id = await gate.send(TO)
            await gate.wait_status(message_id, "submitted")
            parts = {
                n: vonage.inbound(TO, OUR_NUMBER, text, secret=SIGNING, concat=(0xBEEF, 3, n))
                for n, text in enumerate(LONG_TEXT, start=1)
            }

            unsigned = vonage.inbound(TO, OUR_NUMBER, "unsigned", concat=(0xBEEF, 3, 1))
            forged = vonage.inbound(TO, OUR_NUMBER, "x", secret="not-it", concat=(0xBEEF, 3, 1))
            tampered = {**parts[1], "text": "tampered"}
            for attempt in (unsigned, forged, tampered):
                r = await gate.callback("POST", route, attempt)
                assert r.status_code == 403, r.text
                assert r.json()["message"] == "Invalid signature or token"

            # Part 3 as a GET, part 1 as a form POST, part 2 (last to come) as JSON.
            r = await gate.callback("GET", route, parts[3])
            assert r.status_code == 200, r.text
            r = await gate.callback("POST", route, parts[1])
            assert r.status_code == 200, r.text
            r = await gate.callback("POST", route, parts[1])  # sent again: ignored
            assert r.status_code == 200, r.text
            assert await gate.svc.db.read(inbound_store.recent) == []
            r = await gate.http.post(
                route, content=json.dumps(parts[2]), headers={"Content-Type": "application/json"}
            )
            assert r.status_code == 200, r.text
            assert r.json() == {"ok": True, "status": 200, "message": "Message received"}

            await eventually(lambda: bool(receiver.events("message.received")), "the webhook")
            [stored] = await gate.svc.db.read(inbound_store.recent)
    assert (stored.provider, stored.from_number, stored.to_number) == ("vg", TO, OUR_NUMBER)
    assert stored.text == "".join(LONG_TEXT)
    assert stored.account_id == gate.account.id


async def test_vonage_inbound_with_a_callback_token_and_single_messages(
    database_url: str, settings_for: Callable[..., Settings], vonage: VonagePeer
) -> None:
    table = vonage.provider_table(callback_base_url=PUBLIC_URL, callback_token=TOKEN)
    settings = for_provider(settings_for, database_url, "vg", table)
    async with textgate(settings, worker=False) as gate:
        message = vonage.inbound(TO, OUR_NUMBER, "hello there")
        for path in (
            "/callbacks/vonage/vg/inbound",
            "/callbacks/vonage/vg/inbound/wrong-token-00000",
        ):
            r = await gate.callback("POST", path, message)
            assert r.status_code == 403, (path, r.text)
        r = await gate.callback("GET", "/callbacks/vonage/nope/inbound", message)
        assert r.status_code == 404
        assert await gate.svc.db.read(inbound_store.recent) == []

        binary = vonage.inbound(TO, OUR_NUMBER, "", kind="binary")
        r = await gate.callback("POST", f"/callbacks/vonage/vg/inbound/{TOKEN}", binary)
        assert r.json()["message"] == "Nothing to record"
        r = await gate.callback("GET", f"/callbacks/vonage/vg/inbound/{TOKEN}", message)
        assert r.status_code == 200, r.text
        [stored] = await gate.svc.db.read(inbound_store.recent)
    assert (stored.from_number, stored.to_number, stored.text) == (TO, OUR_NUMBER, "hello there")
    assert stored.account_id is None
