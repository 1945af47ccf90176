from __future__ import annotations

import hashlib
import hmac

import pytest

from textgate.domain.keys import (
    KEY_PREFIX,
    display_prefix,
    generate_api_key,
    generate_pepper,
    hash_key,
    is_well_formed,
)


def test_generated_key_shape() -> None:
    key = generate_api_key()
    assert key.startswith(KEY_PREFIX)
    assert len(key) == len(KEY_PREFIX) + 43
    assert is_well_formed(key)


def test_generated_keys_differ() -> None:
    assert len({generate_api_key() for _ in range(100)}) == 100


@pytest.mark.parametrize(
    "key",
    [
        "",
        "tg_",
        "tg_" + "a" * 42,
        "tg_" + "a" * 44,
        "xx_" + "a" * 43,
        "TG_" + "a" * 43,
        "tg_" + "a" * 42 + "=",
        "tg_" + "a" * 42 + "+",
        "tg_" + "a" * 42 + "/",
        "tg_" + "a" * 42 + "é",
        " tg_" + "a" * 43,
        "tg_" + "a" * 43 + "\n",
    ],
)
def test_malformed_keys(key: str) -> None:
    assert not is_well_formed(key)


def test_well_formed_accepts_urlsafe_alphabet() -> None:
    assert is_well_formed("tg_" + "Az09-_" * 7 + "x")


def test_not_a_string_is_not_well_formed() -> None:
    assert not is_well_formed(None)  # type: ignore[arg-type]


def test_display_prefix() -> None:
    key = "tg_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcdefg"
    assert display_prefix(key) == "tg_AbCdEfG"


def test_hash_key_is_hmac_sha256() -> None:
    pepper = bytes(range(32))
    key = "tg_" + "k" * 43
    digest = hash_key(pepper, key)
    assert len(digest) == 32
    assert digest == hmac.new(pepper, key.encode(), hashlib.sha256).digest()
    assert hash_key(pepper, key) == digest
    assert hash_key(bytes(32), key) != digest
    assert hash_key(pepper, key[:-1] + "j") != digest


def test_hash_key_needs_a_pepper() -> None:
    with pytest.raises(ValueError, match="pepper"):
        hash_key(b"", "tg_" + "k" * 43)


def test_generate_pepper() -> None:
    pepper = generate_pepper()
    assert isinstance(pepper, bytes)
    assert len(pepper) == 32
    assert generate_pepper() != pepper
