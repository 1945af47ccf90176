from __future__ import annotations

from pathlib import Path

import pytest

import textgate
from textgate.domain.pricing import PriceTable, load_price_table

SHIPPED = Path(textgate.__file__).parent / "data" / "prices.toml"


@pytest.fixture
def write(tmp_path: Path):  # type: ignore[no-untyped-def]
    def write(text: str) -> Path:
        path = tmp_path / "prices.toml"
        path.write_text(text, encoding="utf-8")
        return path

    return write


def test_price_by_region_times_segments() -> None:
    table = PriceTable(default_micros=50_000, by_region={"RS": 150_000})
    assert table.price_micros("RS", 1) == 150_000
    assert table.price_micros("RS", 3) == 450_000
    assert table.price_micros("DE", 2) == 100_000
    with pytest.raises(ValueError, match="at least one segment"):
        table.price_micros("RS", 0)


def test_signup_credit() -> None:
    table = PriceTable(default_micros=50_000, by_region={})
    assert table.signup_credit_micros() == 100_000
    assert table.signup_credit_micros(5) == 250_000


def test_table_is_read_only_and_checked() -> None:
    regions = {"RS": 150_000}
    table = PriceTable(default_micros=1, by_region=regions)
    regions["RS"] = 0
    assert table.price_micros("RS", 1) == 150_000
    with pytest.raises(TypeError):
        table.by_region["RS"] = 0  # type: ignore[index]
    with pytest.raises(ValueError, match="negative"):
        PriceTable(default_micros=-1, by_region={})
    with pytest.raises(ValueError, match="RS"):
        PriceTable(default_micros=1, by_region={"RS": -1})


def test_load(write) -> None:  # type: ignore[no-untyped-def]
    path = write(
        "# price per SMS segment, in credits\n"
        'default = "0.05"\n'
        "[countries]\n"
        'RS = "0.15"\n'
        "us = 0.01\n"  # a TOML float, read through its text
        "DE = 1\n"
        'IN = "0.003"\n'
    )
    table = load_price_table(path)
    assert table.default_micros == 50_000
    assert dict(table.by_region) == {"RS": 150_000, "US": 10_000, "DE": 1_000_000, "IN": 3_000}
    assert load_price_table(str(path)) == table


def test_load_without_countries(write) -> None:  # type: ignore[no-untyped-def]
    table = load_price_table(write("default = 0.1\n"))
    assert (table.default_micros, dict(table.by_region)) == (100_000, {})


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "missing 'default'"),
        ("[countries]\nRS = 1\n", "missing 'default'"),
        ('default = "-0.05"\n', "default: a price must not be negative"),
        ('default = "abc"\n', "default: 'abc' is not a number"),
        ('default = "0.0000001"\n', "default: .*more than 6 decimal places"),
        ("default = true\n", "default: a price is a number or a string"),
        ("default = nan\n", "default: .*not a finite number"),
        ("default = inf\n", "default: .*not a finite number"),
        ('default = "0.05"\ncountry = {RS = 1}\n', "unknown key.*country"),
        ('default = "0.05"\ncountries = 3\n', "'countries' must be a table"),
        ('default = "0.05"\n[countries]\nSRB = 1\n', "countries.SRB: a country is a 2-letter"),
        ('default = "0.05"\n[countries]\nR1 = 1\n', "countries.R1: a country is a 2-letter"),
        ('default = "0.05"\n[countries]\nZZ = 1\n', "countries.ZZ: ZZ is not a country"),
        ('default = "0.05"\n[countries]\nRS = 1\nrs = 2\n', "countries.rs: RS is listed twice"),
        ('default = "0.05"\n[countries]\nRS = "-1"\n', "countries.RS: a price must not be neg"),
        ('default = "0.05"\n[countries]\nRS = [1]\n', "countries.RS: a price is a number"),
        ('default = "0.05"\n[countries\n', "not valid TOML"),
    ],
)
def test_load_refuses(write, text: str, words: str) -> None:  # type: ignore[no-untyped-def]
    path = write(text)
    with pytest.raises(ValueError, match=words) as caught:
        load_price_table(path)
    assert str(path) in str(caught.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_price_table(tmp_path / "nope.toml")


def test_shipped_table() -> None:
    table = load_price_table(SHIPPED)
    assert table.default_micros == 50_000
    assert table.price_micros("RS", 1) == 150_000
    assert table.price_micros("US", 1) == table.price_micros("CA", 1) == 10_000
    assert table.price_micros("GB", 1) == 40_000
    assert table.price_micros("IN", 1) == 3_000
    assert len(table.by_region) >= 30
    assert all(0 < micros <= 1_000_000 for micros in table.by_region.values())
    assert table.signup_credit_micros() == 100_000
