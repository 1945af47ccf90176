"""The state of a verification code as the console's log shows it.

Only the live code of a number keeps its expiry, attempts and verification (see
`store.verifications`); a code that a newer one to the same number replaced is `REPLACED`.
The order matches `otp.judge`: a verified code stays verified, then time runs out, then
too many wrong attempts lock it.
"""

from __future__ import annotations

import enum


class CodeState(enum.StrEnum):
    #: Live: it may still be checked.
    PENDING = "pending"
    #: Checked with the right code (it is spent).
    VERIFIED = "verified"
    #: Its time ran out before the right code came.
    EXPIRED = "expired"
    #: Too many wrong codes were tried: it can no longer be verified.
    LOCKED_OUT = "locked-out"
    #: A newer code to the same number took its place.
    REPLACED = "replaced"


def state(
    *,
    live: bool,
    now: int,
    expires_at: int | None,
    verified_at: int | None,
    attempts: int,
    max_attempts: int,
) -> CodeState:
    """`live`: the code is still the number's current one (its row is known)."""
    if not live or expires_at is None:
        return CodeState.REPLACED
    if verified_at is not None:
        return CodeState.VERIFIED
    if now >= expires_at:
        return CodeState.EXPIRED
    if attempts >= max_attempts:
        return CodeState.LOCKED_OUT
    return CodeState.PENDING
