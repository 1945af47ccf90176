"""Credits: exact decimals, stored and added up as integer micro-credits (1 credit = 10^6).

Floats never enter: `to_micros` refuses them, so 0.1 + 0.2 cannot go wrong.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

MICROS = 1_000_000
_PLACES = 6


#: Whole digits an amount may have: far beyond any balance (a 64-bit count of micro-credits
#: has 13), yet small enough that scaling it is instant.
MAX_DIGITS = 100


def to_micros(value: Decimal | str | int) -> int:
    """Whole micro-credits for `value` credits: "0.15" -> 150000.

    `TypeError` for a float (or a bool); `ValueError` for text that is not a number, NaN,
    an infinity, more than 6 decimal places that are not zeros, or more than `MAX_DIGITS`
    whole digits.
    """
    if isinstance(value, bool) or not isinstance(value, Decimal | str | int):
        raise TypeError(f"credits must be a Decimal, a str or an int, not {type(value).__name__}")
    if isinstance(value, int):
        return value * MICROS
    try:
        number = Decimal(value.strip()) if isinstance(value, str) else value
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a number") from None
    sign, digits, exponent = number.as_tuple()
    if not isinstance(exponent, int):  # "n", "N" or "F": NaN, signalling NaN, infinity
        raise ValueError(f"{value!r} is not a finite number")
    if number.is_zero():
        return 0
    # Bounds first: an exponent like 1e999999999 would take ages to scale.
    if number.adjusted() >= MAX_DIGITS:
        raise ValueError(f"{value!r} is too large (at most {MAX_DIGITS} digits before the point)")
    if number.adjusted() < -_PLACES:
        raise ValueError(f"{value!r} has more than {_PLACES} decimal places")
    coefficient = int("".join(map(str, digits)))
    shift = exponent + _PLACES
    scale: int = 10 ** abs(shift)
    if shift >= 0:
        micros = coefficient * scale
    else:
        micros, remainder = divmod(coefficient, scale)
        if remainder:
            raise ValueError(f"{value!r} has more than {_PLACES} decimal places")
    return -micros if sign else micros


def from_micros(micros: int) -> Decimal:
    """The exact credits for `micros`: 150000 -> Decimal("0.150000")."""
    return Decimal(f"{micros}e-{_PLACES}")


def format_credits(micros: int) -> str:
    """Credits as plain text with at least 2 decimals: 114370 -> "0.11437", 2000000 -> "2.00"."""
    whole, fraction = divmod(abs(micros), MICROS)
    decimals = f"{fraction:06d}".rstrip("0").ljust(2, "0")
    sign = "-" if micros < 0 else ""
    return f"{sign}{whole}.{decimals}"
