"""The console's verification log: an account's codes, newest first.

Every code sent is a message of kind `otp` (its text sealed, never read here). The details
of a code (expiry, wrong attempts, verification) live on its `verifications` row only while
it is its number's live code: a newer code to the number replaces them.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from textgate.domain.states import MessageKind, MessageStatus
from textgate.store.tables import messages, verifications

#: A literal, not a bound parameter, so both databases use the partial index on `kind`.
_IS_OTP = messages.c.kind == sa.literal_column(f"'{MessageKind.OTP.value}'")


@dataclass(frozen=True, slots=True)
class CodeRow:
    message_id: int
    phone: str
    sent_at: int
    #: Of the SMS that carried the code.
    message_status: MessageStatus
    #: False when a newer code to the number replaced this one (the rest are then None).
    live: bool
    expires_at: int | None
    attempts: int | None
    verified_at: int | None


def list_codes(
    conn: Connection, account_id: int, *, number: str | None, offset: int, limit: int
) -> list[CodeRow]:
    """A page of the account's codes, newest first; `number`: part of the phone number."""
    m, v = messages, verifications
    joined = m.outerjoin(
        v,
        sa.and_(
            v.c.account_id == m.c.account_id,  # through the (account_id, phone) unique index
            v.c.phone == m.c.to_number,
            v.c.message_id == m.c.id,
        ),
    )
    query = (
        sa.select(
            m.c.id,
            m.c.to_number,
            m.c.created_at,
            m.c.status,
            v.c.id.label("verification_id"),
            v.c.expires_at,
            v.c.attempts,
            v.c.verified_at,
        )
        .select_from(joined)
        .where(m.c.account_id == account_id, _IS_OTP)
    )
    if number:
        query = query.where(m.c.to_number.contains(number, autoescape=True))
    query = query.order_by(m.c.id.desc()).offset(offset).limit(limit)
    return [
        CodeRow(
            message_id=r.id,
            phone=r.to_number,
            sent_at=r.created_at,
            message_status=MessageStatus(r.status),
            live=r.verification_id is not None,
            expires_at=r.expires_at,
            attempts=r.attempts,
            verified_at=r.verified_at,
        )
        for r in conn.execute(query)
    ]
