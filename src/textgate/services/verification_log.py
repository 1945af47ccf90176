"""The console's log of an account's verification codes: each with the state it is in.

Codes are kept only as keyed hashes (see `domain.code_vault`): nothing here can show one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from textgate.domain import otp
from textgate.domain.verification_log import CodeState, state
from textgate.services.verification import VerificationService
from textgate.store import console_verifications as log_store
from textgate.store.db import Database

PAGE_SIZE = 25
MAX_NUMBER_FILTER = 32
#: What people type between digits ("+381 69-015"), dropped before matching.
_SEPARATORS = re.compile(r"[\s\-().]")


@dataclass(frozen=True, slots=True)
class CodeEntry:
    code: log_store.CodeRow
    state: CodeState


def number_filter(raw: str | None) -> str | None:
    """Part of a phone number to match, separators removed; None for no filter."""
    cleaned = _SEPARATORS.sub("", raw or "")[:MAX_NUMBER_FILTER]
    return cleaned or None


async def page(
    db: Database,
    verifier: VerificationService,
    account_id: int,
    *,
    number: str | None,
    page: int,
    now: int,
) -> tuple[list[CodeEntry], bool, otp.Policy]:
    """One page (from 1) of codes, whether there is a next page, and the account's rules."""
    rules = verifier.policy(await verifier.options(account_id))
    rows = await db.read(
        log_store.list_codes,
        account_id,
        number=number,
        offset=(page - 1) * PAGE_SIZE,
        limit=PAGE_SIZE + 1,
    )
    entries = [
        CodeEntry(
            code=row,
            state=state(
                live=row.live,
                now=now,
                expires_at=row.expires_at,
                verified_at=row.verified_at,
                attempts=row.attempts or 0,
                max_attempts=rules.max_attempts,
            ),
        )
        for row in rows[:PAGE_SIZE]
    ]
    return entries, len(rows) > PAGE_SIZE, rules
