"""Phone verification with the published TextFlow Python client (`textflowsms`, unchanged)
against `textgate serve`, and `textgate accounts set` for an account's options."""

from __future__ import annotations

import time

import pytest
import textflowsms as tf
from procs import Server
from test_textflow_client import Redirect

SERBIA = "+381690156360"


@pytest.fixture
def shim(server: Server, monkeypatch: pytest.MonkeyPatch) -> Redirect:
    redirect = Redirect(server.url)
    monkeypatch.setattr(tf, "requests", redirect)
    return redirect


def other_code(code: str) -> str:
    return str((int(code) + 1) % 10 ** len(code)).zfill(len(code))


def test_verification_flow_with_the_published_client(server: Server, shim: Redirect) -> None:
    tf.useKey(server.create_account("verify@example.com", "--credits", "1.00"))

    sent = tf.sendVerificationSMS(SERBIA, service_name="Acme", seconds=300)
    assert isinstance(sent, tf.VerifyPhoneResult)
    assert sent.ok is True and sent.status == 200 and sent.message == "Verification SMS sent. "
    code = sent.data.verification_code
    assert isinstance(code, str) and len(code) == 6 and code.isdigit()
    assert isinstance(sent.data.expires, int)
    assert abs(sent.data.expires - (time.time() + 300) * 1000) < 60_000
    assert sent.data.message_text == f"Your verification code for Acme is: {code}"

    bad = tf.verifyCode(SERBIA, other_code(code))
    assert isinstance(bad, tf.VerifyCodeResult)
    assert bad.valid is False and bad.status == 400 and bad.message == "The code is invalid. "
    assert bad.valid_code == code and isinstance(bad.valid_code, str)
    assert bad.expires == sent.data.expires and isinstance(bad.expires, int)

    good = tf.verifyCode(SERBIA, code)
    assert good.ok is True and good.status == 200 and good.message == "The code is valid. "
    assert good.valid is True
    assert good.valid_code == code and good.expires == sent.data.expires

    again = tf.verifyCode(SERBIA, code)  # a code is good once
    assert again.valid is False and again.ok is False
    assert not hasattr(again, "valid_code")

    assert shim.seen == [
        "https://textflow.me/api/send-code",
        *["https://textflow.me/api/verify-code"] * 3,
    ]
    # The worker hands the code to the console provider, which does not print it; the
    # server's log has neither the code nor the whole number.
    deadline = time.monotonic() + 10
    while "NOT DELIVERED" not in server.out.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    out, log = server.out.read_text(), server.log.read_text()
    assert "verification code withheld" in out
    assert "action=otp_sent" in log and "action=otp_checked" in log and "+381*******60" in log
    for text in (out, log):
        assert code not in text and "381690156360" not in text


def test_defaults_and_errors_with_the_published_client(server: Server, shim: Redirect) -> None:
    tf.useKey("tg_" + "x" * 43)
    denied = tf.sendVerificationSMS(SERBIA)
    assert denied.ok is False and denied.status == 401
    assert denied.message == "Invalid API key or user id."
    denied_check = tf.verifyCode(SERBIA, "123456")
    assert denied_check.valid is False and denied_check.status == 401

    tf.useKey(server.create_account("defaults@example.com", "--credits", "1.00"))
    sent = tf.sendVerificationSMS(SERBIA)  # service_name "" and seconds 600
    assert sent.data.message_text == f"Your verification code is:\n{sent.data.verification_code}"
    assert abs(sent.data.expires - (time.time() + 600) * 1000) < 60_000

    too_long = tf.sendVerificationSMS("+381690156361", seconds=86_401)
    assert too_long.ok is False and too_long.message == "Code can not be stored more then one day."
    bad_phone = tf.verifyCode("+1 not a phone", "123456")
    assert bad_phone.valid is False and bad_phone.message == "Invalid phone number"
    malformed = tf.verifyCode(SERBIA, "abc")
    assert malformed.valid is False and malformed.message == "Invalid code"
    nothing_sent = tf.verifyCode("+381690156369", "123456")
    assert nothing_sent.valid is False and nothing_sent.status == 404
    limited = tf.sendVerificationSMS(SERBIA)
    assert limited.ok is False and limited.status == 429


def test_accounts_set_masks_codes_and_limits_countries(server: Server, shim: Redirect) -> None:
    tf.useKey(server.create_account("masked@example.com", "--credits", "1.00"))
    shown = server.cli(
        "accounts",
        "set",
        "masked@example.com",
        "--code-length",
        "8",
        "--mask-codes",
        "--allowed-countries",
        "RS,US",
        "--otp-prefix-hourly",
        "50",
    ).stdout
    assert "code length 8" in shown and "masked" in shown
    assert "countries RS,US" in shown and "at most 50 codes" in shown

    sent = tf.sendVerificationSMS(SERBIA)
    assert sent.ok is True
    assert sent.data.verification_code == "********"
    assert sent.data.message_text == "Your verification code is:\n********"
    check = tf.verifyCode(SERBIA, "12345678")
    assert check.valid is False and check.message == "The code is invalid. "
    assert not hasattr(check, "valid_code") and isinstance(check.expires, int)

    blocked = tf.sendVerificationSMS("+447400123456")  # the United Kingdom
    assert blocked.ok is False and blocked.status == 403

    cleared = server.cli(
        "accounts", "set", "masked@example.com", "--no-mask-codes", "--allowed-countries", "all"
    ).stdout
    assert "answered back" in cleared and "countries all" in cleared and "code length 8" in cleared
    unmasked = tf.sendVerificationSMS("+447400123456")
    assert unmasked.ok is True and unmasked.data.verification_code.isdigit()

    bad = server.cli("accounts", "set", "masked@example.com", "--code-length", "3", check=False)
    assert bad.returncode == 1 and "4 to 10" in bad.stderr
    unknown = server.cli(
        "accounts", "set", "masked@example.com", "--allowed-countries", "XX", check=False
    )
    assert unknown.returncode == 1 and "XX" in unknown.stderr
