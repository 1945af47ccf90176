"""Webhook events without I/O: the retry schedule, event ids, the fair pick of a claim, and
the settings that shape them."""

from __future__ import annotations

import pytest

from textgate.domain import webhook_events as rules
from textgate.settings import Settings, SettingsError
from textgate.store.webhook_events import _fair


def test_the_default_schedule_spreads_the_attempts_over_about_a_day() -> None:
    policy = rules.retry_policy()
    waits = rules.schedule(policy)
    assert len(waits) == rules.DEFAULT_MAX_ATTEMPTS - 1 == 14
    assert waits[:4] == [30.0, 60.0, 120.0, 240.0]
    assert max(waits) == 4 * 3600.0
    assert 20 * 3600 < sum(waits) < 28 * 3600
    # After the last attempt: none more.
    assert policy.next_delay(rules.DEFAULT_MAX_ATTEMPTS) is None
    # Jitter moves a wait by at most 20 %, either way.
    assert policy.next_delay(1, rand=0.0) == pytest.approx(24.0)
    assert policy.next_delay(1, rand=1.0) == pytest.approx(36.0)


def test_fewer_attempts_make_a_shorter_schedule() -> None:
    assert rules.schedule(rules.retry_policy(3)) == [30.0, 60.0]
    assert rules.schedule(rules.retry_policy(1)) == []


def test_event_ids_are_the_row_ids() -> None:
    assert rules.event_id(42) == "evt_42"


def test_a_claim_takes_accounts_in_turns_each_within_its_share() -> None:
    rows = [(1, 7), (2, 7), (3, 7), (4, 7), (5, 8), (6, 9), (7, 8)]
    left = {7: 2, 8: 5, 9: 5}
    assert _fair(rows, 10, left) == [1, 5, 6, 2, 7]
    assert left == {7: 0, 8: 3, 9: 4}


def test_a_claim_stops_at_its_limit_and_skips_full_accounts() -> None:
    rows = [(1, 7), (2, 8), (3, 8), (4, 9)]
    assert _fair(rows, 2, {7: 0, 8: 1, 9: 1}) == [2, 4]
    assert _fair(rows, 1, {7: 3, 8: 3, 9: 3}) == [1]
    assert _fair([], 5, {}) == []


def test_webhook_settings_have_defaults_and_bounds() -> None:
    s = Settings.from_sources({}, {})
    assert (s.webhook_max_attempts, s.webhook_retention_days, s.webhook_concurrency) == (
        15,
        7,
        20,
    )
    s = Settings.from_sources(
        {"TEXTGATE_WEBHOOK_MAX_ATTEMPTS": "5", "TEXTGATE_WEBHOOK_CONCURRENCY": "4"},
        {"server": {"webhook_retention_days": 30}},
    )
    assert (s.webhook_max_attempts, s.webhook_retention_days, s.webhook_concurrency) == (5, 30, 4)
    for name, bad in (
        ("WEBHOOK_MAX_ATTEMPTS", "0"),
        ("WEBHOOK_RETENTION_DAYS", "0"),
        ("WEBHOOK_CONCURRENCY", "many"),
    ):
        with pytest.raises(SettingsError, match=f"TEXTGATE_{name}"):
            Settings.from_sources({f"TEXTGATE_{name}": bad}, {})
