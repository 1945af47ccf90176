"""The state the console's verification log gives a code."""

from __future__ import annotations

import pytest

from textgate.domain.verification_log import CodeState, state

NOW = 1_000_000


@pytest.mark.parametrize(
    ("live", "expires_at", "verified_at", "attempts", "expected"),
    [
        (True, NOW + 1, None, 0, CodeState.PENDING),
        (True, NOW + 1, None, 4, CodeState.PENDING),
        (True, NOW + 1, None, 5, CodeState.LOCKED_OUT),
        (True, NOW, None, 0, CodeState.EXPIRED),
        (True, NOW - 1, None, 5, CodeState.EXPIRED),  # as otp.judge: time first
        (True, NOW - 1, NOW - 5, 0, CodeState.VERIFIED),  # verified stays verified
        (True, NOW + 1, NOW, 4, CodeState.VERIFIED),
        (False, None, None, 0, CodeState.REPLACED),
        (True, None, None, 0, CodeState.REPLACED),
    ],
)
def test_states(
    live: bool, expires_at: int | None, verified_at: int | None, attempts: int, expected: CodeState
) -> None:
    got = state(
        live=live,
        now=NOW,
        expires_at=expires_at,
        verified_at=verified_at,
        attempts=attempts,
        max_attempts=5,
    )
    assert got is expected
