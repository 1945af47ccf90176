"""API keys: made here, shown to their owner once, stored only as a peppered HMAC.

A key is "tg_" and 43 URL-safe base64 characters (256 random bits). The store keeps
`hash_key(pepper, key)`, which needs the server's pepper to compute, and the first
characters (`display_prefix`) so people can tell their keys apart in lists.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import secrets

KEY_PREFIX = "tg_"
_RANDOM_BYTES = 32
_KEY = re.compile(rf"{KEY_PREFIX}[A-Za-z0-9_-]{{43}}")
_DISPLAY_LENGTH = 10


def generate_api_key() -> str:
    """A new random key: "tg_" and 43 URL-safe characters."""
    return KEY_PREFIX + secrets.token_urlsafe(_RANDOM_BYTES)


def is_well_formed(key: str) -> bool:
    """Whether `key` looks like one of ours (so a typo costs no database look-up)."""
    return isinstance(key, str) and _KEY.fullmatch(key) is not None


def display_prefix(key: str) -> str:
    """The part of a key that lists show: "tg_" and 7 characters."""
    return key[:_DISPLAY_LENGTH]


def hash_key(pepper: bytes, key: str) -> bytes:
    """HMAC-SHA256 of the key under the server's pepper: the 32 bytes the store keeps."""
    if not pepper:
        raise ValueError("the pepper is empty")
    mac = _keyed(pepper).copy()
    mac.update(key.encode("utf-8"))
    return mac.digest()


@functools.lru_cache(maxsize=8)
def _keyed(pepper: bytes) -> hmac.HMAC:
    """An HMAC already keyed with the pepper, to copy for each key (this is on the path of
    every request). Copying skips the key set-up, and unlike `hmac.digest`, whose one-shot C
    call lets go of the GIL, the small update and digest keep it: a request thread that lets
    go of the GIL waits for it again behind the server's other threads."""
    return hmac.new(pepper, digestmod=hashlib.sha256)


def generate_pepper() -> bytes:
    """32 random bytes for a new server's pepper."""
    return secrets.token_bytes(_RANDOM_BYTES)
