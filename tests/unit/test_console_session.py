"""The console's signed session cookie and its log-in limiter (no I/O)."""

from __future__ import annotations

import base64
import json
import time

import pytest

from textgate.console.session import MAX_AGE, Session, SessionCodec
from textgate.errors import RateLimited
from textgate.services.console import LoginLimiter, month_and_day_start

KEY = b"k" * 32


def test_a_cookie_round_trips() -> None:
    codec = SessionCodec(KEY)
    session = Session.fresh(42)
    loaded = codec.load(codec.dump(session))
    assert loaded == session
    assert loaded is not None and loaded.csrf_ok(session.csrf)
    assert not loaded.csrf_ok("") and not loaded.csrf_ok(None) and not loaded.csrf_ok("x")


def test_a_signed_in_cookie_carries_its_session_token() -> None:
    codec = SessionCodec(KEY)
    session = Session.fresh(7, "server-session-token")
    loaded = codec.load(codec.dump(session))
    assert loaded == session and loaded is not None and loaded.token == "server-session-token"
    signed_out = codec.load(codec.dump(Session.fresh()))
    assert signed_out is not None and signed_out.token is None and signed_out.account_id is None
    # A token that is not a string, even under a good signature, is no session.
    payload = json.dumps({"a": 7, "c": "x", "t": int(time.time()), "s": 5}).encode()
    body = base64.urlsafe_b64encode(payload).rstrip(b"=").decode()
    tag = base64.urlsafe_b64encode(codec._sign(payload)).rstrip(b"=").decode()
    assert codec.load(f"{body}.{tag}") is None


def test_forged_or_foreign_cookies_are_ignored() -> None:
    codec = SessionCodec(KEY)
    cookie = codec.dump(Session.fresh(1))
    body, _, tag = cookie.partition(".")
    assert SessionCodec(b"o" * 32).load(cookie) is None  # another server's key
    assert codec.load(f"{body}x.{tag}") is None
    assert codec.load(f"{body}.{tag[:-2]}") is None
    assert codec.load("") is None and codec.load(None) is None and codec.load("...") is None
    assert codec.load("not base64!.at all!") is None


def test_cookies_expire() -> None:
    codec = SessionCodec(KEY)
    cookie = codec.dump(Session.fresh(1))
    assert codec.load(cookie, now=time.time() + MAX_AGE - 5) is not None
    assert codec.load(cookie, now=time.time() + MAX_AGE + 5) is None


def test_limiter_blocks_after_five_failures_per_email_and_client() -> None:
    limiter = LoginLimiter(max_failures=5, window=900)
    for _ in range(5):
        limiter.check("A@example.com", "1.2.3.4")
        limiter.failed("a@example.com", "1.2.3.4")
    with pytest.raises(RateLimited) as caught:
        limiter.check("a@example.com", "1.2.3.4")
    assert 0 < caught.value.retry_after <= 901
    limiter.check("a@example.com", "5.6.7.8")  # another client
    limiter.check("b@example.com", "1.2.3.4")  # another email


def test_limiter_forgets_failures_after_its_window_and_on_success() -> None:
    limiter = LoginLimiter(max_failures=2, window=0.0)
    limiter.failed("a@example.com", "ip")
    limiter.failed("a@example.com", "ip")
    limiter.check("a@example.com", "ip")  # the window (0 s) is over
    limiter = LoginLimiter(max_failures=2, window=900)
    limiter.failed("a@example.com", "ip")
    limiter.succeeded("a@example.com", "ip")
    limiter.failed("a@example.com", "ip")
    limiter.check("a@example.com", "ip")


def test_day_and_month_start_in_utc() -> None:
    day, month = month_and_day_start(1_796_043_600_000)  # 2026-11-30 13:00:00 UTC
    assert day == 1_795_996_800_000  # 2026-11-30 00:00 UTC
    assert month == 1_793_491_200_000  # 2026-11-01 00:00 UTC
