"""What a message costs: micro-credits per SMS segment, by the recipient's country.

The table is a TOML file (the shipped one is `textgate/data/prices.toml`):

    # price per SMS segment, in credits
    default = "0.05"
    [countries]
    RS = "0.15"

Prices may be strings (best: exact), integers or TOML floats (read through their text, so
0.15 stays 0.15); at most 6 decimal places, none negative. Countries are ISO 3166-1
alpha-2 codes that phonenumbers knows.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType

import phonenumbers

from textgate.domain import money


@dataclass(frozen=True)
class PriceTable:
    default_micros: int
    #: Region (alpha-2, upper case) -> micro-credits per segment; others pay the default.
    by_region: Mapping[str, int]

    def __post_init__(self) -> None:
        if self.default_micros < 0:
            raise ValueError("the default price must not be negative")
        for region, micros in self.by_region.items():
            if micros < 0:
                raise ValueError(f"the price for {region} must not be negative")
        object.__setattr__(self, "by_region", MappingProxyType(dict(self.by_region)))

    def price_micros(self, region: str, segments: int) -> int:
        """The price of a message of `segments` segments to a number in `region`."""
        if segments < 1:
            raise ValueError(f"a message has at least one segment, not {segments}")
        return self.by_region.get(region, self.default_micros) * segments

    def signup_credit_micros(self, sms: int = 2) -> int:
        """The credit a new account starts with: enough for `sms` one-segment messages
        at the default price."""
        return self.default_micros * sms


def load_price_table(path: str | Path) -> PriceTable:
    """Read a price table file; `ValueError` naming the file and the key when it is wrong."""
    path = Path(path)
    try:
        with path.open("rb") as file:
            data = tomllib.load(file)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: not valid TOML: {exc}") from exc
    unknown = sorted(set(data) - {"default", "countries"})
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {', '.join(unknown)}")
    if "default" not in data:
        raise ValueError(f"{path}: missing 'default' (the price per segment elsewhere)")
    default = _price(path, "default", data["default"])
    countries = data.get("countries", {})
    if not isinstance(countries, dict):
        raise ValueError(f"{path}: 'countries' must be a table of REGION = price")
    by_region: dict[str, int] = {}
    for key, value in countries.items():
        region = key.strip().upper()
        name = f"countries.{key}"
        if not (len(region) == 2 and region.isalpha()):
            raise ValueError(f"{path}: {name}: a country is a 2-letter ISO code, like RS")
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"{path}: {name}: {region} is not a country phonenumbers knows")
        if region in by_region:
            raise ValueError(f"{path}: {name}: {region} is listed twice")
        by_region[region] = _price(path, name, value)
    return PriceTable(default_micros=default, by_region=by_region)


def _price(path: Path, name: str, value: object) -> int:
    """Micro-credits for one price in the file."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"{path}: {name}: a price is a number or a string, not {value!r}")
    try:
        micros = money.to_micros(Decimal(str(value)) if isinstance(value, float) else value)
    except ValueError as exc:
        raise ValueError(f"{path}: {name}: {exc}") from None
    if micros < 0:
        raise ValueError(f"{path}: {name}: a price must not be negative, got {value!r}")
    return micros
