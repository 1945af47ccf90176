from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from textgate.domain.money import format_credits, from_micros, to_micros


@pytest.mark.parametrize(
    ("value", "micros"),
    [
        ("0.15", 150_000),
        ("0.05", 50_000),
        ("0.003", 3_000),
        ("0.000001", 1),
        ("2", 2_000_000),
        (" 1.5 ", 1_500_000),
        ("1e3", 1_000_000_000),
        ("-0.25", -250_000),
        ("0.1000000", 100_000),  # more places, but only zeros
        (Decimal("0.11437"), 114_370),
        (3, 3_000_000),
        (0, 0),
        ("123456789012345678901234567890.123456", 123456789012345678901234567890123456),
    ],
)
def test_to_micros(value: Decimal | str | int, micros: int) -> None:
    assert to_micros(value) == micros


@pytest.mark.parametrize("value", [0.1, 1.0, True, None, [1]])
def test_to_micros_refuses_floats_and_others(value: object) -> None:
    with pytest.raises(TypeError):
        to_micros(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("0.0000001", "more than 6 decimal places"),
        (Decimal("1.2345678"), "more than 6 decimal places"),
        ("NaN", "not a finite number"),
        (Decimal("sNaN"), "not a finite number"),
        ("Infinity", "not a finite number"),
        (Decimal("-inf"), "not a finite number"),
        ("abc", "not a number"),
        ("1e999999999", "too large"),
        ("-1e999999999", "too large"),
        ("1" + "0" * 100, "too large"),
        ("1e-999999999", "more than 6 decimal places"),
        ("", "not a number"),
        ("1,5", "not a number"),
    ],
)
def test_to_micros_refuses_bad_values(value: Decimal | str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        to_micros(value)


def test_from_micros_is_exact() -> None:
    assert from_micros(150_000) == Decimal("0.15")
    assert from_micros(1) == Decimal("0.000001")
    assert from_micros(-2_500_000) == Decimal("-2.5")
    big = 10**40 + 1
    # Beyond the default 28-digit context: Decimal(big) / MICROS would round.
    assert str(from_micros(big)) == "1" + "0" * 34 + ".000001"
    assert to_micros(from_micros(big)) == big


@pytest.mark.parametrize(
    ("micros", "text"),
    [
        (114_370, "0.11437"),
        (2_000_000, "2.00"),
        (0, "0.00"),
        (150_000, "0.15"),
        (100_000, "0.10"),
        (1, "0.000001"),
        (12_345_678_900_000, "12345678.90"),
        (-150_000, "-0.15"),
        (-1, "-0.000001"),
        (10**30, "1" + "0" * 24 + ".00"),
    ],
)
def test_format_credits(micros: int, text: str) -> None:
    assert format_credits(micros) == text


@settings(max_examples=300, database=None)
@given(st.integers(min_value=-(10**24), max_value=10**24))
def test_round_trips(micros: int) -> None:
    assert to_micros(from_micros(micros)) == micros
    text = format_credits(micros)
    assert "e" not in text.lower()
    assert len(text.split(".")[1]) >= 2
    assert to_micros(text) == micros
