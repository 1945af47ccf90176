"""The HTTP providers without a network: signatures (against the providers' documented
examples), status and error mapping, config checks, health. Answers come from
`httpx.MockTransport`, handed to the provider as its client."""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable
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
from textgate.delivery.http import (
    TwilioConfig,
    TwilioProvider,
    VonageConfig,
    VonageProvider,
    twilio,
    vonage,
)
from textgate.delivery.http import client as http_client
from textgate.delivery.registry import build_provider
from textgate.domain.text import Encoding
from textgate.settings import SettingsError

SID = "AC" + "0" * 32
KEY_SID = "SK" + "1" * 32
SERVICE = "MG" + "2" * 32
TOKEN = "auth-token-secret"
TO = "+381690156360"
TEXT = "Your code is 123456"

Handler = Callable[[httpx.Request], Awaitable[httpx.Response] | httpx.Response]


def twilio_table(**overrides: object) -> dict[str, object]:
    return {
        "type": "twilio",
        "account_sid": SID,
        "auth_token": TOKEN,
        "from": "+15005550006",
        **overrides,
    }


def vonage_table(**overrides: object) -> dict[str, object]:
    return {
        "type": "vonage",
        "api_key": "a1b2c3d4",
        "api_secret": "vonage-api-secret",
        "from": "TextGate",
        **overrides,
    }


def message(text: str = TEXT, encoding: Encoding = Encoding.GSM7) -> Outgoing:
    return Outgoing(message_id=7, to=TO, text=text, encoding=encoding, segments=1, secret=True)


def twilio_with(handler: Handler, **table: object) -> TwilioProvider:
    config = TwilioConfig.from_mapping("tw", twilio_table(**table))
    return TwilioProvider(config, client=httpx.AsyncClient(transport=httpx.MockTransport(handler)))


def vonage_with(handler: Handler, **table: object) -> VonageProvider:
    config = VonageConfig.from_mapping("vg", vonage_table(**table))
    return VonageProvider(config, client=httpx.AsyncClient(transport=httpx.MockTransport(handler)))


def answer(status: int, body: dict[str, Any], **headers: str) -> Handler:
    return lambda request: httpx.Response(status, json=body, headers=headers)


def twilio_error(status: int, code: int, text: str, **headers: str) -> Handler:
    return answer(status, {"code": code, "message": text, "status": status}, **headers)


# --- signatures ---------------------------------------------------------------------------


def test_twilio_signature_matches_twilios_documented_example() -> None:
    # Twilio's "Validating requests" example: auth token 12345, this URL and these params.
    params = [
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+14158675310"),
        ("Digits", "1234"),
        ("From", "+14158675310"),
        ("To", "+18005551212"),
    ]
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert twilio.signature("12345", url, params) == "GvWf1cFY/Q7PnoempGyD5oXAezc="
    assert twilio.signature("12345", url, list(reversed(params))) == "GvWf1cFY/Q7PnoempGyD5oXAezc="
    assert twilio.signature("12346", url, params) != "GvWf1cFY/Q7PnoempGyD5oXAezc="


def test_twilio_signature_accepts_the_url_with_or_without_its_port() -> None:
    provider = twilio_with(answer(200, {}), callback_base_url="https://sms.example.com")
    params = [("MessageSid", "SM1"), ("MessageStatus", "delivered")]
    path = "/callbacks/twilio/tw"
    for signed_url in (
        "https://sms.example.com/callbacks/twilio/tw",
        "https://sms.example.com:443/callbacks/twilio/tw",
    ):
        header = twilio.signature(TOKEN, signed_url, params)
        urls = provider.callback_urls(path, "http://internal:8000/callbacks/twilio/tw")
        assert provider.check_signature(urls, params, header)
    wrong = twilio.signature(TOKEN, "https://evil.example.com/callbacks/twilio/tw", params)
    assert not provider.check_signature(provider.callback_urls(path, ""), params, wrong)
    assert not provider.check_signature(provider.callback_urls(path, ""), params, None)
    assert twilio.url_variants("http://h:8080/p?q=1") == ["http://h:8080/p?q=1", "http://h/p?q=1"]


def test_without_callback_base_url_the_url_as_seen_is_signed() -> None:
    provider = twilio_with(answer(200, {}))
    seen = "http://127.0.0.1:8000/callbacks/twilio/tw"
    params = [("MessageSid", "SM1")]
    urls = provider.callback_urls("/callbacks/twilio/tw", seen)
    assert provider.check_signature(urls, params, twilio.signature(TOKEN, seen, params))


def test_vonage_signature_matches_the_sdks_documented_example() -> None:
    # The Vonage SDKs' example: these params, signature secret "secret", md5hash.
    params = {"a": "1", "b": "2", "timestamp": "1461605396"}
    assert vonage.signature("secret", params) == "6af838ef94998832dbfc29020b564830"
    signed = {**params, "sig": "6af838ef94998832dbfc29020b564830"}
    assert vonage.signature("secret", signed) == "6af838ef94998832dbfc29020b564830"


def test_vonage_hmac_signatures_replace_ampersand_and_equals_in_values() -> None:
    params = {"text": "a&b=c", "timestamp": "1700000000", "msisdn": "447700900000"}
    text = "&msisdn=447700900000&text=a_b_c&timestamp=1700000000"
    for method in ("md5", "sha1", "sha256", "sha512"):
        expected = hmac.new(b"s3cr3t", text.encode(), getattr(hashlib, method)).hexdigest()
        assert vonage.signature("s3cr3t", params, method) == expected


def test_vonage_receipts_need_a_good_fresh_signature_and_the_token() -> None:
    provider = vonage_with(answer(200, {}), signature_secret="s3cr3t", callback_token="t" * 20)
    now = 1_700_000_000.0
    params = {"messageId": "0A1", "status": "delivered", "timestamp": str(int(now))}
    params["sig"] = vonage.signature("s3cr3t", params)
    assert provider.check_receipt(params, "t" * 20, now=now) is None
    assert provider.check_receipt(params, "t" * 19 + "u", now=now) == "wrong or missing token"
    assert provider.check_receipt(params, None, now=now) == "wrong or missing token"
    assert (
        provider.check_receipt({**params, "sig": params["sig"].upper()}, "t" * 20, now=now) is None
    )
    assert provider.check_receipt({**params, "status": "failed"}, "t" * 20, now=now) == (
        "wrong or missing signature"
    )
    assert provider.check_receipt(params, "t" * 20, now=now + 2 * 86_400) == "signature too old"
    unsigned = vonage_with(answer(200, {}))
    assert unsigned.check_receipt(params, None) is not None, "no way to check: refused"


# --- receipts -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("delivered", ReceiptState.DELIVERED),
        ("undelivered", ReceiptState.UNDELIVERED),
        ("failed", ReceiptState.REJECTED),
        ("sent", ReceiptState.PENDING),
        ("queued", ReceiptState.PENDING),
        ("something-new", ReceiptState.PENDING),
    ],
)
def test_twilio_statuses_become_receipt_states(status: str, state: ReceiptState) -> None:
    provider = twilio_with(answer(200, {}))
    receipt = provider.receipt_of({"MessageSid": "SM9", "MessageStatus": status, "ErrorCode": ""})
    assert receipt is not None
    assert (receipt.provider, receipt.provider_message_id, receipt.state) == ("tw", "SM9", state)
    assert receipt.error_code is None and receipt.raw == {"stat": status}


def test_twilio_receipts_keep_the_error_code_and_ignore_other_accounts() -> None:
    provider = twilio_with(answer(200, {}))
    failed = provider.receipt_of(
        {"SmsSid": "SM9", "SmsStatus": "undelivered", "ErrorCode": "30003"}
    )
    assert failed is not None and failed.error_code == "30003"
    assert (
        provider.receipt_of(
            {"MessageSid": "SM9", "MessageStatus": "delivered", "AccountSid": "AC" + "f" * 32}
        )
        is None
    )
    assert provider.receipt_of({"MessageStatus": "delivered"}) is None


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("delivered", ReceiptState.DELIVERED),
        ("expired", ReceiptState.EXPIRED),
        ("failed", ReceiptState.UNDELIVERED),
        ("rejected", ReceiptState.REJECTED),
        ("accepted", ReceiptState.PENDING),
        ("buffered", ReceiptState.PENDING),
        ("unknown", ReceiptState.PENDING),
    ],
)
def test_vonage_statuses_become_receipt_states(status: str, state: ReceiptState) -> None:
    provider = vonage_with(answer(200, {}))
    receipt = provider.receipt_of({"messageId": "0A1", "status": status, "err-code": "0"})
    assert receipt is not None and receipt.state == state and receipt.error_code is None


def test_vonage_receipts_keep_the_error_code_and_ignore_other_api_keys() -> None:
    provider = vonage_with(answer(200, {}))
    receipt = provider.receipt_of({"messageId": "0A1", "status": "failed", "err-code": "6"})
    assert receipt is not None and receipt.error_code == "6"
    other = {"messageId": "0A1", "status": "delivered", "api-key": "ffffffff"}
    assert provider.receipt_of(other) is None
    assert provider.receipt_of({"status": "delivered"}) is None


# --- submits ------------------------------------------------------------------------------


async def test_twilio_submit_posts_the_form_with_basic_auth() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"sid": "SM123", "status": "queued"})

    provider = twilio_with(
        handler, api_key_sid=KEY_SID, api_key_secret="key-secret", messaging_service_sid=SERVICE
    )
    assert await provider.submit(message()) == Submitted("SM123")
    [request] = seen
    assert str(request.url) == f"https://api.twilio.com/2010-04-01/Accounts/{SID}/Messages.json"
    assert request.headers["authorization"] == httpx.BasicAuth(KEY_SID, "key-secret")._auth_header
    form = dict(httpx.QueryParams(request.content.decode()))
    assert form == {"To": TO, "Body": TEXT, "From": "+15005550006", "MessagingServiceSid": SERVICE}


@pytest.mark.parametrize(
    ("handler", "kind", "words"),
    [
        (
            twilio_error(400, 21211, f"The 'To' number {TO} is not a valid phone number."),
            PermanentError,
            "twilio 21211: The 'To' number +381*******60 is not",
        ),
        (
            twilio_error(400, 21610, "Attempt to send to unsubscribed recipient"),
            PermanentError,
            "twilio 21610: Attempt to send to unsubscribed recipient",
        ),
        (
            twilio_error(
                400, 21408, "Permission to send an SMS has not been enabled for the region"
            ),
            PermanentError,
            "twilio 21408: Permission",
        ),
        (twilio_error(400, 14107, "SMS send rate limit exceeded"), TransientError, "14107"),
        (twilio_error(429, 20429, "Too Many Requests"), TransientError, "HTTP 429"),
        (twilio_error(503, 20503, "Service unavailable"), TransientError, "HTTP 503: 20503"),
        (
            lambda r: httpx.Response(502, text="<html>bad gateway</html>"),
            TransientError,
            "HTTP 502: Bad Gateway",
        ),
        (lambda r: httpx.Response(400, text="?"), PermanentError, "twilio HTTP 400: Bad Request"),
        (answer(201, {"status": "queued"}), TransientError, "without a message sid"),
    ],
)
async def test_twilio_answers_are_read_as_twilio_documents_them(
    handler: Handler, kind: type[Exception], words: str
) -> None:
    provider = twilio_with(handler)
    with pytest.raises(kind) as raised:
        await provider.submit(message())
    assert words in str(raised.value)
    assert TO not in str(raised.value)


async def test_retry_after_is_honoured_and_bounded() -> None:
    provider = twilio_with(twilio_error(429, 20429, "Too Many Requests", **{"Retry-After": "7"}))
    with pytest.raises(TransientError) as raised:
        await provider.submit(message())
    assert raised.value.retry_after == 7.0
    assert provider.health().up, "a 429 is an answer: the provider is up"

    later = email.utils.formatdate(time.time() + 120, usegmt=True)
    capped = twilio_with(
        twilio_error(503, 20503, "Unavailable", **{"Retry-After": later}), max_retry_after=60
    )
    with pytest.raises(TransientError) as raised:
        await capped.submit(message())
    assert raised.value.retry_after == 60.0


def test_retry_after_reads_seconds_and_dates() -> None:
    def wait(value: str) -> float | None:
        response = httpx.Response(429, headers={"Retry-After": value})
        return http_client.retry_after(response, cap=3600, now=1_700_000_000)

    assert wait("30") == 30.0
    assert wait("-5") == 0.0
    assert wait(email.utils.formatdate(1_700_000_090, usegmt=True)) == 90.0
    assert wait("soon") is None
    assert wait("nan") is None
    assert http_client.retry_after(httpx.Response(429), cap=10) is None


async def test_network_errors_are_transient_and_take_the_provider_down_then_a_probe_up() -> None:
    state = {"reachable": False}

    def handler(request: httpx.Request) -> httpx.Response:
        if not state["reachable"]:
            raise httpx.ConnectError("refused", request=request)
        if request.method == "GET":
            return httpx.Response(200, json={"sid": SID})
        return httpx.Response(201, json={"sid": "SM1"})

    provider = twilio_with(handler, down_after=2, probe_interval=0.01)
    with pytest.raises(TransientError, match="connection failed"):
        await provider.submit(message())
    assert provider.health().up
    with pytest.raises(TransientError):
        await provider.submit(message())
    health = provider.health()
    assert not health.up and health.detail["failures_in_a_row"] == "2"
    await asyncio.sleep(0.05)
    assert not provider.health().up, "the probe cannot reach it either"
    assert "last check: no answer" in (provider.health().last_error or "")
    state["reachable"] = True
    deadline = time.monotonic() + 5
    while not provider.health().up:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    assert await provider.submit(message()) == Submitted("SM1")
    await provider.stop()


async def test_timeouts_are_transient() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(TransientError, match="no answer in time"):
        await twilio_with(handler).submit(message())


async def test_refused_credentials_take_the_provider_down_at_once() -> None:
    provider = twilio_with(twilio_error(401, 20003, "Authenticate"), probe_interval=10)
    with pytest.raises(TransientError, match="credentials refused"):
        await provider.submit(message())
    health = provider.health()
    assert not health.up and "20003" in (health.last_error or "")
    await provider.stop()


async def test_requests_in_flight_are_capped() -> None:
    now, most = 0, 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal now, most
        now += 1
        most = max(most, now)
        await asyncio.sleep(0.01)
        now -= 1
        return httpx.Response(201, json={"sid": "SM1"})

    provider = twilio_with(handler, max_in_flight=3)
    results = await asyncio.gather(*(provider.submit(message()) for _ in range(12)))
    assert len(results) == 12 and most == 3


async def test_vonage_submit_posts_the_form() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        parts = [{"status": "0", "message-id": f"0A{n}"} for n in range(2)]
        return httpx.Response(200, json={"message-count": "2", "messages": parts})

    provider = vonage_with(
        handler, callback_base_url="https://sms.example.com", callback_token="t" * 16
    )
    answer_ = await provider.submit(message("Ћ" * 80, Encoding.UCS2))
    assert answer_ == Submitted("0A0", part_ids=("0A0", "0A1"))
    [request] = seen
    assert str(request.url) == "https://rest.nexmo.com/sms/json"
    form = dict(httpx.QueryParams(request.content.decode()))
    assert form == {
        "api_key": "a1b2c3d4",
        "api_secret": "vonage-api-secret",
        "from": "TextGate",
        "to": TO[1:],
        "text": "Ћ" * 80,
        "type": "unicode",
        "client-ref": "textgate-7",
        "callback": "https://sms.example.com/callbacks/vonage/vg/" + "t" * 16,
    }


@pytest.mark.parametrize(
    ("statuses", "kind", "words"),
    [
        (["1"], TransientError, "vonage 1: x"),
        (["5"], TransientError, "vonage 5"),
        (["9"], TransientError, "vonage 9"),
        (["99"], TransientError, "vonage 99"),
        (["3"], PermanentError, "vonage 3"),
        (["7"], PermanentError, "vonage 7"),
        (["29"], PermanentError, "vonage 29"),
        (["0", "1"], TransientError, "vonage 1: x (1 of 2 parts accepted)"),
        (["0", "6"], PermanentError, "(1 of 2 parts accepted)"),
    ],
)
async def test_vonage_part_statuses_are_read_as_vonage_documents_them(
    statuses: list[str], kind: type[Exception], words: str
) -> None:
    parts = [{"status": s, "message-id": "0A", "error-text": "x"} for s in statuses]
    provider = vonage_with(answer(200, {"message-count": str(len(parts)), "messages": parts}))
    with pytest.raises(kind) as raised:
        await provider.submit(message())
    assert words in str(raised.value)
    assert provider.health().up


@pytest.mark.parametrize("status", ["4", "8", "14"])
async def test_vonage_account_problems_take_the_provider_down(status: str) -> None:
    parts = [{"status": status, "error-text": "Bad Credentials"}]
    provider = vonage_with(
        answer(200, {"message-count": "1", "messages": parts}), probe_interval=10
    )
    with pytest.raises(TransientError, match="credentials refused"):
        await provider.submit(message())
    assert not provider.health().up
    await provider.stop()


async def test_vonage_answers_that_are_not_a_list_of_parts() -> None:
    with pytest.raises(TransientError, match="without a list of messages"):
        await vonage_with(answer(200, {"oops": 1})).submit(message())
    with pytest.raises(PermanentError, match="vonage HTTP 400: Bad Request"):
        await vonage_with(lambda r: httpx.Response(400)).submit(message())


async def test_nothing_secret_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for handler in (
        twilio_error(400, 21211, f"The 'To' number {TO} is not valid"),
        twilio_error(401, 20003, "Authenticate"),
        twilio_error(503, 20503, "Unavailable"),
    ):
        provider = twilio_with(handler, down_after=1, probe_interval=10)
        with pytest.raises(Exception):  # noqa: B017 - each kind is checked above
            await provider.submit(message())
        await provider.stop()
    text = " ".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "provider tw is down" in text
    for secret in (TO, TO[1:], TEXT, TOKEN, "123456"):
        assert secret not in text


# --- config -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"account_sid": None}, "account_sid is required"),
        ({"account_sid": "AC123"}, "account_sid must be AC followed by 32 hex digits"),
        ({"auth_token": None}, "auth_token (or api_key_sid and api_key_secret) is required"),
        ({"api_key_sid": KEY_SID}, "api_key_sid and api_key_secret go together"),
        ({"from": None}, "from or messaging_service_sid is required"),
        ({"from": "bad!sender"}, "from must be a number in E.164"),
        ({"messaging_service_sid": "MG1"}, "messaging_service_sid must be MG"),
        ({"base_url": "ftp://api.twilio.com"}, "base_url must be an http:// or https:// URL"),
        ({"callback_base_url": "https://x.example/?a=1"}, "callback_base_url must be an http"),
        ({"max_in_flight": 0}, "max_in_flight must be an integer from 1 to 10000"),
        ({"timeout": "10"}, "timeout must be a number"),
        ({"bogus": 1}, "unknown key(s) bogus"),
        ({"type": "vonage"}, "type must be 'twilio'"),
        ({"auth_token": 12345}, "auth_token must be a string"),
    ],
)
def test_twilio_config_errors_name_the_key(changes: dict[str, object], words: str) -> None:
    table = {k: v for k, v in {**twilio_table(), **changes}.items() if v is not None}
    with pytest.raises(SettingsError) as raised:
        TwilioConfig.from_mapping("tw", table)
    assert str(raised.value).startswith("[providers.tw]: ")
    assert words in str(raised.value)
    assert "12345" not in str(raised.value), "secrets are never echoed"


def test_twilio_callbacks_need_the_auth_token() -> None:
    table = twilio_table(api_key_sid=KEY_SID, api_key_secret="s", callback_base_url="https://x.io")
    del table["auth_token"]
    with pytest.raises(SettingsError, match="callback_base_url needs auth_token"):
        TwilioConfig.from_mapping("tw", table)
    config = TwilioConfig.from_mapping("tw", {**table, "auth_token": TOKEN})
    assert config.credentials == (KEY_SID, "s")
    assert config.status_callback == "https://x.io/callbacks/twilio/tw"
    assert TOKEN not in repr(config)


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"api_key": None}, "api_key is required"),
        ({"api_secret": None}, "api_secret is required"),
        ({"from": None}, "from is required"),
        ({"from": "TwelveChars1"}, "from must be a number"),
        ({"callback_base_url": "https://x.io"}, "callback_base_url needs signature_secret or"),
        ({"callback_token": "short"}, "callback_token must be 16 to 128"),
        ({"signature_method": "sha256"}, "signature_method needs signature_secret"),
        ({"signature_secret": "s", "signature_method": "crc32"}, "signature_method must be"),
        ({"down_after": True}, "down_after must be an integer"),
    ],
)
def test_vonage_config_errors_name_the_key(changes: dict[str, object], words: str) -> None:
    table = {k: v for k, v in {**vonage_table(), **changes}.items() if v is not None}
    with pytest.raises(SettingsError) as raised:
        VonageConfig.from_mapping("vg", table)
    assert str(raised.value).startswith("[providers.vg]: ") and words in str(raised.value)


def test_the_registry_builds_http_providers() -> None:
    assert isinstance(build_provider("tw", twilio_table()), TwilioProvider)
    built = build_provider("vg", vonage_table(base_url="http://127.0.0.1:9/"))
    assert isinstance(built, VonageProvider) and built.config.http.base_url == "http://127.0.0.1:9"
    with pytest.raises(ValueError, match="known: console, smpp, twilio, vonage"):
        build_provider("x", {"type": "carrier-pigeon"})


def test_scrub_masks_numbers_and_flattens() -> None:
    assert http_client.scrub("To +381690156360\nis\tbad") == "To +381*******60 is bad"
    assert http_client.scrub("x" * 500) == "x" * http_client.REASON_LENGTH
