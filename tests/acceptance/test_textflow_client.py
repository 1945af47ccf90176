"""The published TextFlow Python client (`textflowsms`, unchanged) against `textgate serve`.

Only its requests are redirected: the client hard-codes https://textflow.me, so the module's
`requests` is swapped for a shim that rewrites that base URL and calls the real `requests`.
Its parsing code runs as published."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
import requests
import textflowsms as tf
from procs import Server

SERBIA = "+381690156360"


class Redirect:
    def __init__(self, base: str) -> None:
        self.base = base
        self.seen: list[str] = []

    def post(self, url: str, **kwargs: Any) -> requests.Response:
        assert url.startswith("https://textflow.me/")
        self.seen.append(url)
        return requests.post(
            self.base + url.removeprefix("https://textflow.me"), timeout=10, **kwargs
        )


@pytest.fixture
def redirect(server: Server, monkeypatch: pytest.MonkeyPatch) -> Redirect:
    shim = Redirect(server.url)
    monkeypatch.setattr(tf, "requests", shim)
    return shim


def test_send_sms_with_the_published_client(server: Server, redirect: Redirect) -> None:
    key = server.create_account("client@example.com", "--credits", "1.00")
    tf.useKey(key)
    result = tf.sendSMS(SERBIA, "Dummy message text...")
    assert redirect.seen == ["https://textflow.me/api/send-sms"]
    assert isinstance(result, tf.SendMessageResult)
    assert result.ok is True and result.status == 200
    assert result.message == "Message sent successfully"
    data = result.data
    assert data.to == SERBIA and isinstance(data.to, str)
    assert data.content == "Dummy message text..."
    assert data.country_code == "Serbia"
    assert data.price == 0.15 and isinstance(data.price, float)
    assert isinstance(data.timestamp, int)
    assert abs(data.timestamp - time.time() * 1000) < 60_000

    # The worker in the same process hands it to the console provider.
    headers = {"Authorization": f"Bearer {key}"}
    balance = httpx.get(f"{server.url}/api/balance", headers=headers).json()
    assert balance == {
        "ok": True,
        "status": 200,
        "message": "Balance",
        "credits": "0.85",
        "packages": {},
    }
    message_id = httpx.post(
        f"{server.url}/api/send-sms",
        json={"phone_number": SERBIA, "text": "second"},
        headers=headers,
    ).json()["data"]["id"]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        status = httpx.get(f"{server.url}/api/messages/{message_id}", headers=headers).json()
        if status["data"]["status"] == "submitted":
            break
        time.sleep(0.1)
    assert status["data"]["status"] == "submitted"
    printed = server.out.read_text()
    assert "NOT DELIVERED" in printed and "+381*******60" in printed
    # Nothing the server wrote holds the API key or the whole phone number.
    for written in (printed, server.log.read_text()):
        assert key not in written and SERBIA not in written


def test_client_sees_textflow_errors(server: Server, redirect: Redirect) -> None:
    tf.useKey("tg_" + "x" * 43)
    bad_key = tf.sendSMS(SERBIA, "hi")
    assert bad_key.ok is False and bad_key.status == 400
    assert bad_key.message == "Invalid API key"

    key = server.create_account("errors@example.com")
    tf.useKey(key)
    bad_phone = tf.sendSMS("+1 not a phone", "hi")
    assert bad_phone.ok is False and bad_phone.status == 400
    assert bad_phone.message == "Phone number is invalid"


def test_cli_keys_and_credits(server: Server, redirect: Redirect) -> None:
    first = server.create_account("cli@example.com", "--credits", "0")
    second = server.cli("keys", "create", "cli@example.com").stdout.strip().splitlines()[-1]
    assert second.startswith("tg_") and second != first
    listing = server.cli("keys", "list", "cli@example.com").stdout
    assert first[:10] in listing and second[:10] in listing and first not in listing

    tf.useKey(second)
    broke = tf.sendSMS(SERBIA, "hi")
    assert broke.ok is False and broke.status == 402

    assert "0.30 credits" in server.cli("credits", "add", "cli@example.com", "0.30").stdout
    assert tf.sendSMS(SERBIA, "hi").ok is True

    key_ids = [line.split()[1] for line in listing.splitlines() if first[:10] in line]
    assert key_ids, listing
    server.cli("keys", "revoke", key_ids[0])
    tf.useKey(first)
    revoked = tf.sendSMS(SERBIA, "hi")
    assert revoked.ok is False and revoked.message == "Invalid API key"
    tf.useKey(second)
    assert tf.sendSMS(SERBIA, "hi").ok is True

    bad = server.cli("credits", "add", "cli@example.com", "abc", check=False)
    assert bad.returncode != 0 and "not an amount" in bad.stderr
    dup = server.cli("accounts", "create", "cli@example.com", check=False)
    assert dup.returncode == 1 and "already exists" in dup.stderr
