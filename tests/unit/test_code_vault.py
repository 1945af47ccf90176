"""Codes at rest: a keyed hash to check them, an authenticated encryption to show them."""

from __future__ import annotations

import base64

import pytest

from textgate.domain.code_vault import TEXT_PREFIX, CodeVault

KEY = bytes(range(32))
PHONE = "+381690156360"


def test_digest_is_keyed_and_bound_to_account_and_number() -> None:
    vault = CodeVault(KEY)
    digest = vault.digest(1, PHONE, "214158")
    assert len(digest) == 32 and b"214158" not in digest
    assert vault.digest(1, PHONE, "214158") == digest
    assert vault.digest(2, PHONE, "214158") != digest
    assert vault.digest(1, "+381690156361", "214158") != digest
    assert CodeVault(bytes(32)).digest(1, PHONE, "214158") != digest
    # The separators keep "1" + "2..." apart from "12" + "...".
    assert vault.digest(1, "2" + PHONE, "x") != vault.digest(12, PHONE, "x")


def test_matches() -> None:
    vault = CodeVault(KEY)
    digest = vault.digest(7, PHONE, "004242")
    assert vault.matches(digest, 7, PHONE, "004242")
    assert not vault.matches(digest, 7, PHONE, "4242")
    assert not vault.matches(digest, 7, PHONE, "004243")
    assert not vault.matches(digest, 8, PHONE, "004242")


def test_seal_and_open() -> None:
    vault = CodeVault(KEY)
    sealed = vault.seal(7, PHONE, "214158")
    assert b"214158" not in sealed
    assert len(sealed) == 12 + 6 + 16  # nonce, code, tag
    assert vault.open(sealed, 7, PHONE) == "214158"
    assert vault.seal(7, PHONE, "214158") != sealed  # a fresh nonce each time


def test_a_sealed_code_opens_only_for_its_row_and_key() -> None:
    vault = CodeVault(KEY)
    sealed = vault.seal(7, PHONE, "214158")
    assert vault.open(sealed, 8, PHONE) is None
    assert vault.open(sealed, 7, "+381690156361") is None
    assert CodeVault(bytes(32)).open(sealed, 7, PHONE) is None
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    assert vault.open(tampered, 7, PHONE) is None
    assert vault.open(b"short", 7, PHONE) is None


def test_short_keys_are_refused() -> None:
    with pytest.raises(ValueError):
        CodeVault(b"too short")


def test_message_texts_are_sealed_for_the_queue() -> None:
    vault = CodeVault(KEY)
    text = "Your verification code is:\n214158"
    body = vault.seal_text(PHONE, text)
    assert body.startswith(TEXT_PREFIX) and "214158" not in body and body.isascii()
    assert vault.open_text(PHONE, body) == text
    assert vault.seal_text(PHONE, text) != body
    assert vault.open_text("+381690156361", body) is None  # bound to its number
    assert CodeVault(bytes(32)).open_text(PHONE, body) is None  # and to the key
    assert vault.open_text(PHONE, text) is None  # plain text is not taken as sealed
    assert vault.open_text(PHONE, TEXT_PREFIX + "!!not base64") is None
    assert vault.open_text(PHONE, body[:-4]) is None


def test_the_text_key_is_not_the_code_key() -> None:
    vault = CodeVault(KEY)
    sealed = vault.seal(7, PHONE, "214158")
    # A sealed code cannot be passed off as a sealed text.
    forged = TEXT_PREFIX + base64.urlsafe_b64encode(sealed).decode()
    assert vault.open_text(PHONE, forged) is None
