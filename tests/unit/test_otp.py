"""The pure verification rules: codes, texts, masking, field formats and limits."""

from __future__ import annotations

import secrets

import pytest

from textgate.domain import otp
from textgate.errors import InvalidRequest


@pytest.mark.parametrize("length", [4, 6, 10])
def test_codes_have_the_length_asked_for(length: int) -> None:
    codes = {otp.generate_code(length) for _ in range(200)}
    assert all(len(c) == length and c.isdigit() and c.isascii() for c in codes)
    assert len(codes) > 150  # random, not a counter or a constant


def test_codes_keep_leading_zeros_and_cover_the_whole_range() -> None:
    assert otp.generate_code(6, randbelow=lambda n: 0) == "000000"
    assert otp.generate_code(6, randbelow=lambda n: n - 1) == "999999"
    asked: list[int] = []
    otp.generate_code(8, randbelow=lambda n: asked.append(n) or 42)
    assert asked == [10**8]
    assert otp.generate_code(4, randbelow=lambda n: 42) == "0042"


def test_codes_come_from_the_secrets_module_by_default() -> None:
    assert otp.generate_code.__kwdefaults__ == {"randbelow": secrets.randbelow}


@pytest.mark.parametrize("length", [0, 3, 11])
def test_code_length_is_4_to_10(length: int) -> None:
    with pytest.raises(ValueError):
        otp.generate_code(length)


def test_message_text_as_textflow_words_it() -> None:
    assert otp.message_text("214158") == "Your verification code is:\n214158"
    assert otp.message_text("214158", "Guest") == "Your verification code for Guest is: 214158"
    # The longest name still fits one GSM-7 segment with the longest code.
    longest = otp.message_text("1" * otp.MAX_LENGTH, "x" * otp.MAX_SERVICE_NAME)
    assert len(longest) <= 160


def test_mask_keeps_the_length() -> None:
    assert otp.mask("214158") == "******"
    assert otp.mask("12345678") == "********"


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (None, 600),
        ("", 600),
        (600, 600),
        ("600", 600),
        (" 600 ", 600),
        ("+30", 30),
        ("0000000000086400", 86_400),
        (1, 1),
        (86_400, 86_400),
        (120.0, 120),
    ],
)
def test_seconds_accepted(value: object, seconds: int) -> None:
    assert otp.parse_seconds(value) == seconds


@pytest.mark.parametrize("value", [86_401, "86401", "9" * 5000, 10**30, 1e300, float("inf")])
def test_seconds_over_a_day_get_textflows_message(value: object) -> None:
    with pytest.raises(InvalidRequest) as caught:
        otp.parse_seconds(value)
    assert caught.value.message == "Code can not be stored more then one day."
    assert caught.value.extra["field"] == "seconds"


@pytest.mark.parametrize(
    "value",
    [0, -5, "0", "-5", "abc", "6e2", "60.5", 60.5, True, False, [600], {"s": 1}, "१२०", "nan"],
)
def test_seconds_refused(value: object) -> None:
    with pytest.raises(InvalidRequest) as caught:
        otp.parse_seconds(value)
    assert "seconds" in caught.value.message
    assert caught.value.extra["field"] == "seconds"


@pytest.mark.parametrize(
    ("value", "name"),
    [
        (None, ""),
        ("", ""),
        ("Guest", "Guest"),
        ("My App 2", "My App 2"),
        ("  padded  ", "padded"),
        ("Čačak", "Čačak"),
        ("a" * 110, "a" * 110),
    ],
)
def test_service_names_accepted(value: object, name: str) -> None:
    assert otp.check_service_name(value) == name


@pytest.mark.parametrize(
    "value", ["a" * 111, "Acme!", "new\nline", "tab\there", "https://evil.example", "a_b", "²"]
)
def test_service_names_refused_with_textflows_message(value: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        otp.check_service_name(value)
    assert caught.value.message == otp.BAD_SERVICE_NAME


@pytest.mark.parametrize("value", [42, ["Guest"], True])
def test_service_name_must_be_a_string(value: object) -> None:
    with pytest.raises(InvalidRequest, match="service_name"):
        otp.check_service_name(value)


@pytest.mark.parametrize(
    ("code", "ok"),
    [
        ("214158", True),
        ("0000", True),
        ("1234567890", True),
        ("123", False),
        ("12345678901", False),
        ("12a456", False),
        ("", False),
        ("١٢٣٤٥٦", False),  # Arabic-Indic digits
        ("12 456", False),
    ],
)
def test_well_formed_codes(code: str, ok: bool) -> None:
    assert otp.is_well_formed(code) is ok


def test_countries_are_checked() -> None:
    assert otp.parse_countries("rs, US") == frozenset({"RS", "US"})
    assert otp.parse_countries(["GB"]) == frozenset({"GB"})
    with pytest.raises(InvalidRequest, match="XX"):
        otp.parse_countries("RS,XX")
    with pytest.raises(InvalidRequest, match="empty"):
        otp.parse_countries(" , ")


def test_account_options_are_checked() -> None:
    with pytest.raises(InvalidRequest):
        otp.AccountOptions(code_length=3)
    with pytest.raises(InvalidRequest):
        otp.AccountOptions(code_length=11)
    with pytest.raises(InvalidRequest):
        otp.AccountOptions(prefix_hourly=0)


def test_an_account_may_only_tighten_the_prefix_cap() -> None:
    limits = otp.Limits(prefix_hourly=100)
    assert otp.policy(limits, otp.AccountOptions()).prefix_hourly == 100
    assert otp.policy(limits, otp.AccountOptions(prefix_hourly=50)).prefix_hourly == 50
    assert otp.policy(limits, otp.AccountOptions(prefix_hourly=500)).prefix_hourly == 100


def test_policy_takes_the_accounts_choices() -> None:
    rules = otp.policy(
        otp.Limits(),
        otp.AccountOptions(code_length=8, mask_codes=True, allowed_countries=frozenset({"RS"})),
    )
    assert rules.code_length == 8 and rules.mask_codes
    assert rules.allows("RS") and not rules.allows("US")
    assert otp.policy(otp.Limits(), otp.AccountOptions()).allows("US")
    assert otp.policy(otp.Limits(code_length=7), otp.AccountOptions()).code_length == 7


RULES = otp.policy(otp.Limits(), otp.AccountOptions())  # 5 per 10 min, 30 s apart


def test_first_code_goes_at_once() -> None:
    assert otp.send_wait([], 1_000_000, RULES) == 0


def test_codes_to_one_number_are_30_seconds_apart() -> None:
    now = 10_000_000
    assert otp.send_wait([now - 1_000], now, RULES) == 29_000
    assert otp.send_wait([now - 30_000], now, RULES) == 0


def test_at_most_5_codes_per_10_minutes() -> None:
    now = 10_000_000
    four = [now - 60_000 * i for i in range(1, 5)]
    assert otp.send_wait(four, now, RULES) == 0
    five = [now - 60_000, now - 120_000, now - 180_000, now - 240_000, now - 500_000]
    # The oldest leaves the window 600 s after it was sent: in 100 s.
    assert otp.send_wait(five, now, RULES) == 100_000
    assert otp.send_wait(five, now + 100_000, RULES) == 0


def test_window_wait() -> None:
    assert otp.window_wait(None, 5_000, 3_600_000) == 0
    assert otp.window_wait(1_000, 1_000, 3_600_000) == 3_600_000
    assert otp.window_wait(1_000, 3_601_000, 3_600_000) == 0


def judge(**overrides: object) -> otp.Check:
    args: dict[str, object] = {
        "now": 1_000,
        "expires_at": 2_000,
        "verified_at": None,
        "attempts": 0,
        "max_attempts": 5,
        "matches": True,
    }
    args.update(overrides)
    return otp.judge(**args)  # type: ignore[arg-type]


def test_judge() -> None:
    assert judge() is otp.Check.VALID
    assert judge(matches=False) is otp.Check.INVALID
    assert judge(now=2_000) is otp.Check.EXPIRED
    assert judge(verified_at=900) is otp.Check.USED
    assert judge(verified_at=900, now=5_000) is otp.Check.USED
    assert judge(attempts=4, matches=False) is otp.Check.INVALID
    assert judge(attempts=5) is otp.Check.TOO_MANY  # even the right code
    assert judge(attempts=5, now=3_000) is otp.Check.EXPIRED


def test_settings_for_codes_are_checked_at_start_up() -> None:
    from textgate.settings import Settings, SettingsError

    base = {"TEXTGATE_DATABASE_URL": "sqlite:///x.db"}
    defaults = Settings.from_sources(base, {})
    assert (defaults.otp_code_length, defaults.otp_max_attempts) == (6, 5)
    assert (defaults.otp_max_sends, defaults.otp_send_window, defaults.otp_min_gap) == (5, 600, 30)
    assert defaults.otp_prefix_hourly == 100
    tuned = Settings.from_sources({**base, "TEXTGATE_OTP_CODE_LENGTH": "8"}, {})
    assert tuned.otp_code_length == 8
    bad = [("OTP_CODE_LENGTH", "3"), ("OTP_CODE_LENGTH", "11"), ("OTP_MAX_SENDS", "x")]
    for name, value in bad:
        with pytest.raises(SettingsError, match=name):
            Settings.from_sources({**base, f"TEXTGATE_{name}": value}, {})
