"""Webhook signatures (sign, verify), secrets, sealing and URL rules."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from textgate.domain import webhooks
from textgate.domain.webhooks import InvalidSignature, SecretBox
from textgate.errors import InvalidRequest

SECRET = "whsec_" + "s" * 43
BODY = b'{"type":"test","id":"evt_1","created":1700000000,"data":{}}'
T = 1_700_000_000


def test_signature_is_hmac_sha256_of_time_dot_body() -> None:
    header = webhooks.sign(SECRET, BODY, T)
    expected = hmac.new(SECRET.encode(), f"{T}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert header == f"t={T},v1={expected}"


def test_a_good_signature_verifies_and_answers_its_time() -> None:
    header = webhooks.sign(SECRET, BODY, T)
    assert webhooks.verify(SECRET, BODY, header, now=T + 10) == T
    assert webhooks.verify(SECRET, BODY, header.replace(",", " , "), now=T) == T


@pytest.mark.parametrize(
    ("secret", "body"),
    [
        ("whsec_other", BODY),
        (SECRET, BODY + b" "),
        (SECRET, BODY.replace(b"test", b"tesT")),
    ],
)
def test_another_secret_or_a_changed_body_is_refused(secret: str, body: bytes) -> None:
    header = webhooks.sign(SECRET, BODY, T)
    with pytest.raises(InvalidSignature, match="no signature matches"):
        webhooks.verify(secret, body, header, now=T)


def test_the_timestamp_is_part_of_what_is_signed() -> None:
    signature = webhooks.sign(SECRET, BODY, T).split(",")[1]
    with pytest.raises(InvalidSignature, match="no signature matches"):
        webhooks.verify(SECRET, BODY, f"t={T + 1},{signature}", now=T)


def test_the_tolerance_window_refuses_old_and_future_signatures() -> None:
    header = webhooks.sign(SECRET, BODY, T)
    assert webhooks.verify(SECRET, BODY, header, now=T + 300) == T
    assert webhooks.verify(SECRET, BODY, header, now=T - 300) == T
    for now in (T + 301, T - 301):
        with pytest.raises(InvalidSignature, match="tolerance"):
            webhooks.verify(SECRET, BODY, header, now=now)
    assert webhooks.verify(SECRET, BODY, header, now=T + 3600, tolerance=3600) == T


def test_one_matching_signature_among_several_is_enough() -> None:
    good = webhooks.sign(SECRET, BODY, T).split(",")[1]
    header = f"t={T},v1={'0' * 64},{good},v0=ignored"
    assert webhooks.verify(SECRET, BODY, header, now=T) == T


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "no signature header"),
        ("", "no signature header"),
        (f"v1={'a' * 64}", "no timestamp"),
        (f"t={T}", "no v1 signature"),
        (f"t=abc,v1={'a' * 64}", "not a number"),
        (f"t=-5,v1={'a' * 64}", "not a number"),
        (f"t=１２,v1={'a' * 64}", "not a number"),  # noqa: RUF001 - full-width digits
        ("garbage", "no timestamp"),
    ],
)
def test_malformed_headers_are_refused(header: str | None, reason: str) -> None:
    with pytest.raises(InvalidSignature, match=reason):
        webhooks.verify(SECRET, BODY, header, now=T)


def test_a_wrong_signature_of_another_length_is_refused_not_crashed() -> None:
    with pytest.raises(InvalidSignature):
        webhooks.verify(SECRET, BODY, f"t={T},v1=abc", now=T)
    with pytest.raises(InvalidSignature):
        webhooks.verify(SECRET, BODY, f"t={T},v1=é", now=T)


def test_new_secrets_are_random_and_long() -> None:
    a, b = webhooks.new_secret(), webhooks.new_secret()
    assert a != b and a.startswith("whsec_") and len(a) == len("whsec_") + 43
    assert webhooks.new_event_id() != webhooks.new_event_id()


def test_a_sealed_secret_opens_only_for_its_account_and_key() -> None:
    box = SecretBox(b"k" * 32)
    sealed = box.seal(7, SECRET)
    assert SECRET.encode() not in sealed
    assert box.open(7, sealed) == SECRET
    assert box.open(8, sealed) is None
    assert SecretBox(b"x" * 32).open(7, sealed) is None
    assert box.open(7, sealed[:-1] + bytes([sealed[-1] ^ 1])) is None
    assert box.open(7, b"short") is None
    assert box.seal(7, SECRET) != sealed  # a fresh nonce each time
    with pytest.raises(ValueError):
        SecretBox(b"short")


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/hooks",
        "http://127.0.0.1:8080/x?token=abc",
        "  https://example.com  ",
        "HTTPS://EXAMPLE.COM/",
    ],
)
def test_good_urls(url: str) -> None:
    assert webhooks.check_url(url) == url.strip()


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("", "Enter the webhook URL"),
        ("ftp://example.com/", "http:// or https://"),
        ("javascript:alert(1)", "http:// or https://"),
        ("example.com/hook", "http:// or https://"),
        ("https://user:pass@example.com/", "user name or password"),
        ("https://user@example.com/", "user name or password"),
        ("https:///path-only", "no host name"),
        ("https://example.com:99999/", "not a valid URL"),
        ("https://example.com:port/", "not a valid URL"),
        ("https://[::1/", "not a valid URL"),
        ("https://exa mple.com/", "spaces"),
        ("https://example.com/\x00", "spaces"),
        ("https://example.com/" + "a" * 2000, "longer than 2000"),
    ],
)
def test_bad_urls_are_refused_with_a_reason(url: str, reason: str) -> None:
    with pytest.raises(InvalidRequest, match=reason):
        webhooks.check_url(url)
