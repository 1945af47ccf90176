"""The Android (SMS Gateway for Android) provider without a network: the webhook signature
check, event and state mapping, answers and errors, config checks. Answers come from
`httpx.MockTransport`, handed to the provider as its client."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from textgate.delivery.base import (
    Outgoing,
    PermanentError,
    ReceiptState,
    Submitted,
    TransientError,
)
from textgate.delivery.http import android
from textgate.delivery.http.android import AndroidConfig, AndroidProvider
from textgate.delivery.registry import build_provider
from textgate.domain.text import Encoding
from textgate.settings import SettingsError

KEY = "signing-key-123"
TO = "+381690156360"
BASE = "http://192.168.1.20:8080"

Handler = Callable[[httpx.Request], httpx.Response]


def table(**overrides: object) -> dict[str, object]:
    """A provider table; a None override leaves the key out."""
    base: dict[str, object] = {
        "type": "android",
        "base_url": BASE,
        "username": "sms",
        "password": "secret-pass",
        "signing_key": KEY,
        **overrides,
    }
    return {key: value for key, value in base.items() if value is not None}


def provider_with(handler: Handler, **overrides: object) -> AndroidProvider:
    config = AndroidConfig.from_mapping("phone", table(**overrides))
    return AndroidProvider(config, client=httpx.AsyncClient(transport=httpx.MockTransport(handler)))


def message() -> Outgoing:
    text = "Your code is 123456"
    return Outgoing(7, to=TO, text=text, encoding=Encoding.GSM7, segments=1, secret=True)


def state(message_id: str, value: str, error: str | None = None) -> dict[str, Any]:
    recipient = {"phoneNumber": TO, "state": value, "error": error}
    return {"id": message_id, "state": value, "recipients": [recipient], "isHashed": False}


# --- the webhook signature ------------------------------------------------------------------


def documented(key: str, payload: str, timestamp: str) -> str:
    # The app's docs (webhooks.md, "Python"): HMAC-SHA256 of payload + timestamp, hex.
    return hmac.new(key.encode(), (payload + timestamp).encode(), hashlib.sha256).hexdigest()


def test_the_signature_is_the_documented_hmac_of_body_and_timestamp() -> None:
    body = '{"event":"sms:delivered","payload":{"messageId":"m1"}}'
    assert android.sign(KEY, body.encode(), "1732978800") == documented(KEY, body, "1732978800")


def test_webhooks_need_a_good_fresh_signature() -> None:
    provider = provider_with(lambda r: httpx.Response(500))
    body = b'{"event":"sms:delivered","payload":{"messageId":"m1"}}'
    now = 1_732_978_800.0
    stamp = str(int(now))
    good = documented(KEY, body.decode(), stamp)
    assert provider.check_signature(body, good, stamp, now=now) is None
    assert provider.check_signature(body, good.upper(), stamp, now=now) is None
    assert provider.check_signature(body, good, stamp, now=now + 299) is None
    assert provider.check_signature(body, good, stamp, now=now - 299) is None
    refused = {
        "wrong signature": [
            (body + b" ", good, stamp),
            (body, documented("other", body.decode(), stamp), stamp),
            (body, good, str(int(now) + 1)),
        ],
        "no X-Signature": [(body, None, stamp), (body, good, None), (body, "", stamp)],
        "not a number": [(body, good, "yesterday")],
    }
    for why, cases in refused.items():
        for raw, signature, timestamp in cases:
            found = provider.check_signature(raw, signature, timestamp, now=now)
            assert found is not None and why in found, (raw, signature, timestamp)
    stale = provider.check_signature(body, good, stamp, now=now + 301)
    assert stale == "X-Timestamp outside the window"
    unsigned = provider_with(lambda r: httpx.Response(500), signing_key=None)
    assert unsigned.check_signature(body, good, stamp, now=now) == "signing_key is not configured"


# --- events and states ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "want"),
    [
        ("sms:delivered", ReceiptState.DELIVERED),
        ("sms:failed", ReceiptState.UNDELIVERED),
        ("sms:sent", ReceiptState.PENDING),
    ],
)
def test_events_about_our_messages_become_receipts(event: str, want: ReceiptState) -> None:
    provider = provider_with(lambda r: httpx.Response(500))
    payload = {"messageId": "m1", "phoneNumber": TO, "reason": f"Invalid number {TO}"}
    found = provider.event_of({"event": event, "payload": payload})
    assert found.inbound is None and found.receipt is not None
    receipt = found.receipt
    assert (receipt.provider, receipt.provider_message_id, receipt.state) == ("phone", "m1", want)
    if want is ReceiptState.UNDELIVERED:
        assert receipt.error_code == "Invalid number +381*******60"
    else:
        assert receipt.error_code is None


def test_a_received_sms_becomes_an_inbound_message() -> None:
    provider = provider_with(lambda r: httpx.Response(500), phone_number="+381641234567")
    payload = {"messageId": "x", "message": "Hi", "phoneNumber": "+381 69 0156360"}
    found = provider.event_of({"event": "sms:received", "payload": payload})
    assert found.receipt is None and found.inbound is not None
    inbound = found.inbound
    assert (inbound.from_number, inbound.to, inbound.text) == (TO, "+381641234567", "Hi")
    national = {"message": "Hi", "phoneNumber": "6505551212", "recipient": "+381641234599"}
    other = provider.event_of({"event": "sms:received", "payload": national}).inbound
    assert other is not None and (other.from_number, other.to) == ("6505551212", "+381641234599")


@pytest.mark.parametrize(
    "body",
    [
        {"event": "system:ping", "payload": {"health": {}}},
        {"event": "sms:delivered", "payload": {"phoneNumber": TO}},
        {"event": "sms:delivered", "payload": "m1"},
        {"event": "sms:received", "payload": {"phoneNumber": TO}},
        {"payload": {"messageId": "m1"}},
    ],
)
def test_other_events_and_incomplete_payloads_carry_nothing(body: dict[str, Any]) -> None:
    found = provider_with(lambda r: httpx.Response(500)).event_of(body)
    assert found.receipt is None and found.inbound is None


def test_message_states_map_to_receipt_states() -> None:
    assert android.MESSAGE_STATES == {
        "Delivered": ReceiptState.DELIVERED,
        "Failed": ReceiptState.UNDELIVERED,
        "Pending": ReceiptState.PENDING,
        "Processed": ReceiptState.PENDING,
        "Sent": ReceiptState.PENDING,
    }


def test_read_body_takes_json_objects_only() -> None:
    assert android.read_body(b'{"event": "x"}') == {"event": "x"}
    for raw in (b"[1]", b"not json", b"\xff\xfe", b""):
        assert android.read_body(raw) is None


# --- submit ----------------------------------------------------------------------------------


async def test_submit_posts_the_json_body_with_basic_auth() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(202, json=state("abc123", "Pending"))

    provider = provider_with(handler, sim_number=1)
    assert await provider.submit(message()) == Submitted("abc123")
    [request] = seen
    assert str(request.url) == f"{BASE}/message"
    assert request.headers["authorization"] == httpx.BasicAuth("sms", "secret-pass")._auth_header
    assert json.loads(request.content) == {
        "textMessage": {"text": "Your code is 123456"},
        "phoneNumbers": [TO],
        "withDeliveryReport": True,
        "simNumber": 1,
    }


@pytest.mark.parametrize(
    ("handler", "kind", "words"),
    [
        (
            lambda r: httpx.Response(400, json={"message": f"invalid phone number {TO}"}),
            PermanentError,
            "android HTTP 400: invalid phone number +381*******60",
        ),
        (
            lambda r: httpx.Response(202, json=state("m1", "Failed", "RESULT_ERROR_NO_SERVICE")),
            PermanentError,
            "android: failed at once: RESULT_ERROR_NO_SERVICE",
        ),
        (lambda r: httpx.Response(202, json={"state": "Pending"}), TransientError, "message id"),
        (lambda r: httpx.Response(429, json={"message": "slow"}), TransientError, "HTTP 429"),
        (lambda r: httpx.Response(503, text="busy"), TransientError, "HTTP 503"),
    ],
)
async def test_answers_are_read_as_the_app_documents_them(
    handler: Handler, kind: type[Exception], words: str
) -> None:
    provider = provider_with(handler)
    with pytest.raises(kind) as raised:
        await provider.submit(message())
    assert words in str(raised.value)
    assert provider.health().up


@pytest.mark.parametrize("status", [401, 404])
async def test_refused_credentials_or_no_gateway_take_the_phone_down(status: int) -> None:
    provider = provider_with(lambda r: httpx.Response(status, json={"message": "Unauthorized"}))
    provider._link.start()
    try:
        with pytest.raises(TransientError):
            await provider.submit(message())
        assert not provider.health().up
    finally:
        await provider.stop()


async def test_an_unreachable_phone_is_transient() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("no route to host")

    provider = provider_with(handler)
    with pytest.raises(TransientError, match="connection failed"):
        await provider.submit(message())


async def test_state_of_reads_get_message() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, json=state("a/b", "Delivered"))

    provider = provider_with(handler)
    assert await provider.state_of("a/b") is ReceiptState.DELIVERED
    assert seen == [f"{BASE}/message/a%2Fb"]

    gone = provider_with(lambda r: httpx.Response(404, json={"message": "Message not found"}))
    with pytest.raises(PermanentError, match="Message not found"):
        await gone.state_of("m1")
    assert gone.health().up, "an unknown message id does not take the phone down"


# --- config ----------------------------------------------------------------------------------


def test_config_defaults_suit_a_phone() -> None:
    config = AndroidConfig.from_mapping("phone", table(signing_key=None))
    assert config.http.max_in_flight == android.DEFAULT_MAX_IN_FLIGHT == 2
    assert android.DEFAULT_THROUGHPUT == 1.0
    assert (config.sim_number, config.ttl, config.callback_url) == (0, 0, None)
    assert "secret-pass" not in repr(config) and KEY not in repr(config)
    cloud = AndroidConfig.from_mapping(
        "phone", table(base_url=android.CLOUD_BASE_URL, max_in_flight=5)
    )
    assert (cloud.http.base_url, cloud.http.max_in_flight) == (android.CLOUD_BASE_URL, 5)
    hooked = AndroidConfig.from_mapping("my phone", table(callback_base_url="https://x.example/"))
    assert hooked.callback_url == "https://x.example/callbacks/android/my%20phone"


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"base_url": None}, "base_url is required"),
        ({"username": None}, "username is required"),
        ({"password": None}, "password is required"),
        ({"sim_number": 4}, "sim_number must be an integer from 0 to 3"),
        ({"ttl": -1}, "ttl must be"),
        ({"phone_number": "12"}, "phone_number must be a number in E.164"),
        ({"signing_key": None, "callback_base_url": "https://x.example"}, "needs signing_key"),
        ({"sender": "x"}, "unknown key(s) sender"),
        ({"password": 5}, "password must be a string"),
    ],
)
def test_config_errors_name_the_key(changes: dict[str, object], words: str) -> None:
    with pytest.raises(SettingsError) as raised:
        AndroidConfig.from_mapping("phone", table(**changes))
    assert words in str(raised.value) and "[providers.phone]" in str(raised.value)
    assert "secret-pass" not in str(raised.value)


def test_the_registry_builds_the_android_provider() -> None:
    assert isinstance(build_provider("phone", table()), AndroidProvider)


def test_webhook_ids_are_fixed_per_provider_and_event() -> None:
    assert android.webhook_id("phone", "sms:delivered") == "textgate-phone-sms-delivered"
