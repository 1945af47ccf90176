"""Verification codes: making them, the SMS that carries them, and the limits on them.

Pure rules, with no clock and no storage of their own: times (ms) are passed in. What
TextFlow documents (field formats, wording) is kept word for word, spelling included;
textgate's own additions (single use, attempt and send limits, allowed countries) answer in
the same shape.
"""

from __future__ import annotations

import enum
import math
import re
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import phonenumbers

from textgate.errors import InvalidRequest

MIN_LENGTH = 4
MAX_LENGTH = 10
DEFAULT_LENGTH = 6
DEFAULT_SECONDS = 600
MAX_SECONDS = 86_400
MAX_SERVICE_NAME = 110
HOUR_MS = 3_600_000

#: TextFlow's wording (trailing spaces and spelling as textflow.me answers).
SENT = "Verification SMS sent. "
VALID = "The code is valid. "
INVALID = "The code is invalid. "
EXPIRED = "The code has expired. "
MALFORMED = "Invalid code"
SECONDS_TOO_LONG = "Code can not be stored more then one day."
BAD_SERVICE_NAME = (
    "Provider name can not be more than 110 characters and it can only consist of letters,"
    " numbers and spaces."
)

_DIGITS = re.compile(r"[0-9]+")
#: "seconds" as a string: digits, with spaces around at most.
_SECONDS_TEXT = re.compile(r"\s*\+?([0-9]+)\s*")


def generate_code(length: int, *, randbelow: Callable[[int], int] = secrets.randbelow) -> str:
    """`length` random decimal digits from the system's cryptographic source."""
    if not MIN_LENGTH <= length <= MAX_LENGTH:
        raise ValueError(f"a code has {MIN_LENGTH} to {MAX_LENGTH} digits, not {length}")
    return str(randbelow(10**length)).zfill(length)


def message_text(code: str, service_name: str = "") -> str:
    """The SMS that carries the code, as TextFlow words it."""
    if service_name:
        return f"Your verification code for {service_name} is: {code}"
    return f"Your verification code is:\n{code}"


def mask(code: str) -> str:
    """What a masked account is shown instead of the code: as many stars as digits."""
    return "*" * len(code)


def is_well_formed(code: str) -> bool:
    """Whether `code` (surrounding spaces removed) could be one of our codes."""
    return MIN_LENGTH <= len(code) <= MAX_LENGTH and _DIGITS.fullmatch(code) is not None


def parse_seconds(value: object) -> int:
    """How long the code lives: an integer or a numeric string (the Java client), 600 when
    absent, 1 to 86,400."""
    if value is None or value == "":
        return DEFAULT_SECONDS
    if isinstance(value, bool):
        raise _bad_seconds()
    if isinstance(value, float):
        if value == math.inf:
            raise InvalidRequest(SECONDS_TOO_LONG, field="seconds")
        if not math.isfinite(value) or not value.is_integer():
            raise _bad_seconds()
        value = int(value)
    if isinstance(value, str):
        match = _SECONDS_TEXT.fullmatch(value)
        if match is None:
            raise _bad_seconds()
        digits = match.group(1).lstrip("0") or "0"
        if len(digits) > len(str(MAX_SECONDS)):  # and int() of a huge string is slow
            raise InvalidRequest(SECONDS_TOO_LONG, field="seconds")
        value = int(digits)
    if not isinstance(value, int):
        raise _bad_seconds()
    if value > MAX_SECONDS:
        raise InvalidRequest(SECONDS_TOO_LONG, field="seconds")
    if value < 1:
        raise InvalidRequest("Field seconds must be at least 1", field="seconds")
    return value


def _bad_seconds() -> InvalidRequest:
    return InvalidRequest(
        "Field seconds must be a whole number of seconds (an integer or a numeric string)",
        field="seconds",
    )


def check_service_name(value: object) -> str:
    """The name shown in the SMS ("" for none): at most 110 letters, digits and spaces."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidRequest("Field service_name must be a string", field="service_name")
    if len(value) > MAX_SERVICE_NAME or not all(
        ch == " " or ch.isalpha() or ("0" <= ch <= "9") for ch in value
    ):
        raise InvalidRequest(BAD_SERVICE_NAME, field="service_name")
    return value.strip()


def parse_countries(value: str | Iterable[str]) -> frozenset[str]:
    """ISO 3166-1 alpha-2 codes ("RS,US" or a list), checked against phonenumbers."""
    items = value.split(",") if isinstance(value, str) else list(value)
    regions: set[str] = set()
    for item in items:
        region = item.strip().upper()
        if not region:
            continue
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise InvalidRequest(f"Unknown country code: {item.strip()!r} (use e.g. RS, US)")
        regions.add(region)
    if not regions:
        raise InvalidRequest("The list of allowed countries is empty")
    return frozenset(regions)


@dataclass(frozen=True, slots=True)
class AccountOptions:
    """What one account chose for its codes; None means "the server's default"."""

    code_length: int | None = None
    #: Never answer the code back (send-code shows stars, verify-code leaves out valid_code).
    mask_codes: bool = False
    #: Countries codes may go to; None: every country.
    allowed_countries: frozenset[str] | None = None
    #: Codes per country calling code per hour; at most the server's limit.
    prefix_hourly: int | None = None

    def __post_init__(self) -> None:
        if self.code_length is not None and not MIN_LENGTH <= self.code_length <= MAX_LENGTH:
            raise InvalidRequest(f"The code length must be {MIN_LENGTH} to {MAX_LENGTH} digits")
        if self.prefix_hourly is not None and self.prefix_hourly < 1:
            raise InvalidRequest("The hourly limit per calling code must be at least 1")


@dataclass(frozen=True, slots=True)
class Limits:
    """The server's rules (from Settings); each account may only tighten them."""

    code_length: int = DEFAULT_LENGTH
    max_attempts: int = 5
    max_sends: int = 5
    window_ms: int = 600_000
    min_gap_ms: int = 30_000
    prefix_hourly: int = 100


@dataclass(frozen=True, slots=True)
class Policy:
    """The rules in force for one account."""

    code_length: int
    mask_codes: bool
    allowed_countries: frozenset[str] | None
    max_attempts: int
    max_sends: int
    window_ms: int
    min_gap_ms: int
    prefix_hourly: int

    def allows(self, region: str) -> bool:
        return self.allowed_countries is None or region in self.allowed_countries


def policy(limits: Limits, options: AccountOptions) -> Policy:
    prefix = limits.prefix_hourly
    if options.prefix_hourly is not None:
        prefix = min(prefix, options.prefix_hourly)
    return Policy(
        code_length=options.code_length or limits.code_length,
        mask_codes=options.mask_codes,
        allowed_countries=options.allowed_countries,
        max_attempts=limits.max_attempts,
        max_sends=limits.max_sends,
        window_ms=limits.window_ms,
        min_gap_ms=limits.min_gap_ms,
        prefix_hourly=prefix,
    )


def window_wait(nth_latest: int | None, now: int, window_ms: int) -> int:
    """Milliseconds until one more event fits in a sliding window that holds `limit`
    events, given the time of the `limit`-th most recent one (None: fewer happened)."""
    if nth_latest is None:
        return 0
    return max(0, nth_latest + window_ms - now)


def send_wait(latest_first: Sequence[int], now: int, rules: Policy) -> int:
    """Milliseconds until another code may go to a number, from the times of its recent
    codes (newest first, at least `max_sends` of them when there are so many); 0: now."""
    if not latest_first:
        return 0
    gap = max(0, latest_first[0] + rules.min_gap_ms - now)
    nth = latest_first[rules.max_sends - 1] if len(latest_first) >= rules.max_sends else None
    return max(gap, window_wait(nth, now, rules.window_ms))


class Check(enum.Enum):
    #: The right code, in time: the number is verified and the code is spent.
    VALID = "valid"
    #: A wrong code; counted against the code's attempts.
    INVALID = "invalid"
    #: The code's time ran out.
    EXPIRED = "expired"
    #: The code was verified before: a code is good once.
    USED = "used"
    #: Too many wrong codes were tried: this code is dead even if the right one comes.
    TOO_MANY = "too_many"
    #: Not a code at all (not 4 to 10 digits): answered without looking anything up.
    MALFORMED = "malformed"


def judge(
    *,
    now: int,
    expires_at: int,
    verified_at: int | None,
    attempts: int,
    max_attempts: int,
    matches: bool,
) -> Check:
    """What a check of a code answers. Only INVALID costs an attempt."""
    if verified_at is not None:
        return Check.USED
    if now >= expires_at:
        return Check.EXPIRED
    if attempts >= max_attempts:
        return Check.TOO_MANY
    return Check.VALID if matches else Check.INVALID
