"""The console's replies: the inbound messages matched to an account, newest first.

An inbound message gets an account when it comes from a number the account last sent to
(see `store.inbound`). The message it replies to is not kept on the row (only in the
`message.received` event, which is pruned), so it is not listed here.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from textgate.store.tables import inbound_messages


@dataclass(frozen=True, slots=True)
class ReplyRow:
    id: int
    received_at: int
    from_number: str
    to_number: str
    text: str
    provider: str


def list_replies(
    conn: Connection, account_id: int, *, number: str | None, offset: int, limit: int
) -> list[ReplyRow]:
    """A page of the account's replies, newest first; `number`: part of the number the reply
    came from or went to."""
    i = inbound_messages
    query = sa.select(
        i.c.id, i.c.received_at, i.c.from_number, i.c.to_number, i.c.text, i.c.provider
    ).where(i.c.account_id == account_id)  # through (account_id, id)
    if number:
        query = query.where(
            sa.or_(
                i.c.from_number.contains(number, autoescape=True),
                i.c.to_number.contains(number, autoescape=True),
            )
        )
    query = query.order_by(i.c.id.desc()).offset(offset).limit(limit)
    return [
        ReplyRow(r.id, r.received_at, r.from_number, r.to_number, r.text, r.provider)
        for r in conn.execute(query)
    ]
