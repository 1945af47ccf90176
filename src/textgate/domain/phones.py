"""Phone numbers: parse what a client sent into a checked E.164 `Phone`, mask one for logs.

We take international numbers only: a leading "+" (or the "00" international prefix), then
the country calling code and the national number, with spaces, dashes, dots and parentheses
allowed between the digits. Validity is `phonenumbers.is_valid_number`; numbers of no
country (the non-geographic codes such as +800 and +882) are refused.

`parse_phone` runs on every request, so it does not call `phonenumbers.parse`: that function
accepts free text (RFC 3966 URIs, vanity letters, extensions) and spends most of its time
finding the number in it. Once the input is "+" and digits we follow its steps for that case
ourselves (country code, national prefix, validity per region), using the library's metadata
and helpers, and keep compiled patterns and country names per region. A unit test checks that
we agree with `phonenumbers.parse` + `is_valid_number` on numbers from every region.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from phonenumbers import geocoder
from phonenumbers import phonenumberutil as pnu
from phonenumbers.phonemetadata import PhoneMetadata, PhoneNumberDesc

from textgate.errors import InvalidPhone

#: The longest input we look at, separators included.
MAX_INPUT_LENGTH = 32

_SEPARATORS = str.maketrans("", "", " \t-.()")
_MIN_NSN = 2  # phonenumbers' _MIN_LENGTH_FOR_NSN
_MAX_NSN = 17  # phonenumbers' _MAX_LENGTH_FOR_NSN
_NO_STRIP = frozenset(
    {
        pnu.ValidationResult.TOO_SHORT,
        pnu.ValidationResult.IS_POSSIBLE_LOCAL_ONLY,
        pnu.ValidationResult.INVALID_LENGTH,
    }
)
#: English names for the regions phonenumbers' geocoder has none for.
_NAME_FALLBACK = {"AC": "Ascension Island", "TA": "Tristan da Cunha", "XK": "Kosovo"}


@dataclass(frozen=True, slots=True)
class Phone:
    """A valid phone number."""

    e164: str  #: "+381690156360"
    region: str  #: ISO 3166-1 alpha-2, "RS"
    country_name: str  #: English, "Serbia"
    calling_code: int  #: 381


def parse_phone(raw: str) -> Phone:
    """The `Phone` for an international number, or `InvalidPhone` saying what is wrong."""
    if not isinstance(raw, str):
        raise InvalidPhone("The phone number must be a string.")
    if len(raw) > MAX_INPUT_LENGTH:
        raise InvalidPhone(
            f"The phone number is too long: more than {MAX_INPUT_LENGTH} characters."
        )
    cleaned = raw.translate(_SEPARATORS)
    if not cleaned:
        raise InvalidPhone("The phone number is empty.")
    if cleaned[0] == "+":
        digits = cleaned[1:]
    elif cleaned.startswith("00"):
        digits = cleaned[2:]
    else:
        digits = ""
    if not (digits.isdigit() and digits.isascii()):
        raise InvalidPhone(_refusal(cleaned))
    phone = _resolve(digits)
    if phone is None:
        raise InvalidPhone("The phone number is not a valid number for any country.")
    return phone


def mask_phone(e164: str) -> str:
    """A form safe for logs: "+381690156360" -> "+381*******60".

    Numbers with fewer than 8 digits (a few small countries have such) are starred in full:
    the 5 digits kept would give most of them away.
    """
    plus = "+" if e164.startswith("+") else ""
    digits = e164[len(plus) :]
    if len(digits) < 8:
        return plus + "*" * len(digits)
    return f"{plus}{digits[:3]}{'*' * (len(digits) - 5)}{digits[-2:]}"


def _refusal(cleaned: str) -> str:
    """Why an input that is not "+" or "00" then digits was refused."""
    if any(ch.isalpha() for ch in cleaned):
        return "The phone number must not contain letters."
    if cleaned[0] != "+" and not cleaned.startswith("00"):
        return (
            "The phone number must be in international format: "
            'a "+" and the country calling code, e.g. +381690156360.'
        )
    rest = cleaned[1:] if cleaned[0] == "+" else cleaned[2:]
    if not rest:
        return "The phone number has no digits after the international prefix."
    return (
        "The phone number may contain only digits after the international prefix "
        "(spaces, dashes, dots and parentheses are allowed between them)."
    )


@functools.lru_cache(maxsize=4096)
def _resolve(digits: str) -> Phone | None:
    """The phone for country code + national number `digits`, or None if it is not valid.

    Follows `phonenumbers.parse` for a "+" and digits, then `is_valid_number`.
    """
    if not digits or digits[0] == "0":
        return None
    for cc_len in (1, 2, 3):
        calling_code = int(digits[:cc_len])
        regions = pnu.COUNTRY_CODE_TO_REGION_CODE.get(calling_code)
        if regions is not None:
            break
    else:
        return None
    nsn = digits[cc_len:]
    if len(nsn) < _MIN_NSN:
        return None
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(calling_code, regions[0])
    if metadata is None:
        return None
    # A national prefix written after the country code, as in "+44 (0)20 ...".
    _, stripped, _ = pnu._maybe_strip_national_prefix_carrier_code(nsn, metadata)
    if pnu._test_number_length(stripped, metadata) not in _NO_STRIP:
        nsn = stripped
    if len(nsn) > _MAX_NSN:
        return None
    region = _region_of(nsn, regions)
    if region is None:
        return None
    return Phone(
        e164=f"+{calling_code}{nsn}",
        region=region,
        country_name=_country_name(region),
        calling_code=calling_code,
    )


def _region_of(nsn: str, regions: tuple[str, ...]) -> str | None:
    """The region the number is valid in, as `region_code_for_number` then
    `is_valid_number_for_region` decide it, without checking one region twice."""
    if len(regions) == 1:
        checker = _checker(regions[0])
        return regions[0] if checker is not None and checker.is_valid(nsn) else None
    for region in regions:
        checker = _checker(region)
        if checker is None:
            continue
        if checker.leading_digits is not None:
            if checker.leading_digits.match(nsn):
                return region if checker.is_valid(nsn) else None
        elif checker.is_valid(nsn):
            return region
    return None


@dataclass(frozen=True, slots=True)
class _Desc:
    lengths: frozenset[int]  #: empty: any length the general description allows
    pattern: re.Pattern[str]

    def matches(self, nsn: str) -> bool:
        if self.lengths and len(nsn) not in self.lengths:
            return False
        return self.pattern.fullmatch(nsn) is not None


@dataclass(frozen=True, slots=True)
class _Checker:
    """One region's validity rules, compiled: `_number_type_helper(...) != UNKNOWN`."""

    leading_digits: re.Pattern[str] | None
    general: _Desc
    #: Mobile and fixed line first: the order does not change the answer, only its speed.
    types: tuple[_Desc, ...]

    def is_valid(self, nsn: str) -> bool:
        if not self.general.matches(nsn):
            return False
        return any(desc.matches(nsn) for desc in self.types)


def _desc(desc: PhoneNumberDesc | None) -> _Desc | None:
    if desc is None or not desc.national_number_pattern:
        return None
    return _Desc(frozenset(desc.possible_length), re.compile(desc.national_number_pattern))


@functools.cache
def _checker(region: str) -> _Checker | None:
    metadata = PhoneMetadata.metadata_for_region(region)
    if metadata is None:
        return None
    general = _desc(metadata.general_desc)
    if general is None:
        return None
    candidates = (
        metadata.mobile,
        metadata.fixed_line,
        metadata.premium_rate,
        metadata.toll_free,
        metadata.shared_cost,
        metadata.voip,
        metadata.personal_number,
        metadata.pager,
        metadata.uan,
        metadata.voicemail,
    )
    types = tuple(d for d in map(_desc, candidates) if d is not None)
    leading = re.compile(metadata.leading_digits) if metadata.leading_digits else None
    return _Checker(leading_digits=leading, general=general, types=types)


@functools.cache
def _country_name(region: str) -> str:
    return geocoder._region_display_name(region, "en") or _NAME_FALLBACK.get(region, region)


def country_name(region: str) -> str:
    """The English name of a region: "RS" -> "Serbia"."""
    return _country_name(region)
