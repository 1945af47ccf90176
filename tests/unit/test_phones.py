from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from textgate.domain.phones import Phone, mask_phone, parse_phone
from textgate.errors import InvalidPhone, InvalidRequest


def test_serbian_mobile() -> None:
    assert parse_phone("+381690156360") == Phone(
        e164="+381690156360", region="RS", country_name="Serbia", calling_code=381
    )


def test_us_number_with_punctuation() -> None:
    phone = parse_phone("+1 (201) 555-0123")
    assert phone == Phone(
        e164="+12015550123", region="US", country_name="United States", calling_code=1
    )


@pytest.mark.parametrize(
    "raw",
    ["00381690156360", "00 381 69 015 6360", "+381 69 015 6360", "+381-69-015-6360",
     "+381.69.015.6360", "+381 (69) 0156360", " +381690156360 "],
)  # fmt: skip
def test_accepted_spellings(raw: str) -> None:
    assert parse_phone(raw).e164 == "+381690156360"


def test_shared_calling_code_picks_the_region() -> None:
    assert parse_phone("+44 7400 123456").region == "GB"
    guernsey = parse_phone("+44 1481 256789")
    assert (guernsey.region, guernsey.country_name, guernsey.calling_code) == (
        "GG",
        "Guernsey",
        44,
    )
    assert parse_phone("+1 416 555 0123").region == "CA"


def test_national_prefix_after_country_code_is_dropped() -> None:
    assert parse_phone("+44 (0)20 7946 0958").e164 == "+442079460958"


def test_italian_leading_zero_is_kept() -> None:
    phone = parse_phone("+39 06 1234 5678")
    assert (phone.e164, phone.region) == ("+390612345678", "IT")


def test_country_name_for_region_without_geocoder_name() -> None:
    # phonenumbers' geocoder has no English name for Kosovo.
    phone = parse_phone("+383 44 123 456")
    assert (phone.region, phone.country_name) == ("XK", "Kosovo")


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (381690156360, "string"),
        (None, "string"),
        ("", "empty"),
        ("   ", "empty"),
        ("+" + "1" * 40, "too long"),
        ("381690156360", "international format"),
        ("0690156360", "international format"),
        ("+1 800 FLOWERS", "letters"),
        ("+381abc", "letters"),
        ("+", "no digits"),
        ("00", "no digits"),
        ("+381_690156360", "only digits"),
        ("++381690156360", "only digits"),
        ("+381 69/015/6360", "only digits"),
        ("+٣٨١٦٩٠١٥٦٣٦٠", "only digits"),  # Arabic-Indic digits
        ("+381 6901", "not a valid number"),
        ("+999 123456789", "not a valid number"),  # no such calling code
        ("+0381690156360", "not a valid number"),
        ("+1 201 555 01234", "not a valid number"),  # a digit too many
        ("+800 1234 5678", "not a valid number"),  # international freephone: no country
    ],
)
def test_refused(raw: object, words: str) -> None:
    with pytest.raises(InvalidPhone) as caught:
        parse_phone(raw)  # type: ignore[arg-type]
    assert words in caught.value.message
    assert isinstance(caught.value, InvalidRequest)
    assert caught.value.status == 400


def test_input_of_exactly_the_limit_is_looked_at() -> None:
    raw = "+381 69 015 6360".ljust(32)
    assert parse_phone(raw).e164 == "+381690156360"
    with pytest.raises(InvalidPhone, match="too long"):
        parse_phone(raw + " ")


def _reference(digits: str) -> tuple[str, str] | None:
    """What phonenumbers itself says about "+digits": (e164, region) when valid."""
    try:
        number = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    region = phonenumbers.region_code_for_number(number)
    if region is None or region not in phonenumbers.SUPPORTED_REGIONS:
        return None  # non-geographic numbers (+800, +881, ...) have no country
    return phonenumbers.format_number(number, PhoneNumberFormat.E164), region


def _ours(digits: str) -> tuple[str, str] | None:
    try:
        phone = parse_phone("+" + digits)
    except InvalidPhone:
        return None
    return phone.e164, phone.region


def _example_digits() -> list[str]:
    found: set[str] = set()
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in vars(PhoneNumberType).values():
            if not isinstance(kind, int):
                continue
            number = phonenumbers.example_number_for_type(region, kind)
            if number is not None:
                found.add(phonenumbers.format_number(number, PhoneNumberFormat.E164)[1:])
    return sorted(found)


EXAMPLES = _example_digits()


def test_agrees_with_phonenumbers_on_every_example_number() -> None:
    assert len(EXAMPLES) > 900
    mismatches = [d for d in EXAMPLES if _ours(d) != _reference(d)]
    assert mismatches == []
    assert sum(_ours(d) is not None for d in EXAMPLES) > 900


@settings(max_examples=400, database=None)
@given(
    example=st.sampled_from(EXAMPLES),
    edit=st.sampled_from(["same", "drop", "add", "change", "prefix0", "prefix1"]),
    position=st.integers(min_value=0, max_value=20),
    digit=st.sampled_from("0123456789"),
)
def test_agrees_with_phonenumbers_on_edited_numbers(
    example: str, edit: str, position: int, digit: str
) -> None:
    cc_len = next(
        n for n in (1, 2, 3) if int(example[:n]) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE
    )
    i = min(position, len(example) - 1)
    digits = {
        "same": example,
        "drop": example[:i] + example[i + 1 :],
        "add": example[:i] + digit + example[i:],
        "change": example[:i] + digit + example[i + 1 :],
        "prefix0": example[:cc_len] + "0" + example[cc_len:],
        "prefix1": example[:cc_len] + "1" + example[cc_len:],
    }[edit]
    assert _ours(digits) == _reference(digits)


@settings(max_examples=300, database=None)
@given(st.text(alphabet="0123456789", min_size=1, max_size=18))
def test_agrees_with_phonenumbers_on_random_digits(digits: str) -> None:
    assert _ours(digits) == _reference(digits)


@pytest.mark.parametrize(
    ("e164", "masked"),
    [
        ("+381690156360", "+381*******60"),
        ("+12015550123", "+120******23"),
        ("+4915123456789", "+491********89"),
        ("+1234", "+****"),
        ("381690156360", "381*******60"),
    ],
)
def test_mask_phone(e164: str, masked: str) -> None:
    assert mask_phone(e164) == masked


def test_mask_hides_most_digits() -> None:
    masked = mask_phone("+381690156360")
    assert "0156" not in masked
    assert len(masked) == len("+381690156360")
