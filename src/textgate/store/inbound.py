"""Inbound messages: what handsets sent to our numbers and sender ids."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.engine import Connection

from textgate.store import sql

#: The widest address SMPP carries is 21 characters; the column holds 32.
ADDRESS_LENGTH = 32

_INSERT = (
    "INSERT INTO inbound_messages (account_id, provider, from_number, to_number, text,"
    " received_at) VALUES (?, ?, ?, ?, ?, ?)"
)
_COLUMNS = "id, account_id, provider, from_number, to_number, text, received_at"


@dataclass(frozen=True, slots=True)
class NewInbound:
    provider: str
    from_number: str
    to_number: str
    text: str
    #: None until inbound routing assigns numbers to accounts.
    account_id: int | None = None


@dataclass(frozen=True, slots=True)
class InboundMessage:
    id: int
    account_id: int | None
    provider: str
    from_number: str
    to_number: str
    text: str
    received_at: int


def insert(conn: Connection, items: Sequence[NewInbound], *, now: int) -> None:
    """Stores `items` in the caller's transaction. NUL characters (which PostgreSQL text
    cannot hold) become U+FFFD."""
    if not items:
        return
    sql.execute_many(
        conn,
        _INSERT,
        [
            (
                m.account_id,
                m.provider,
                m.from_number[:ADDRESS_LENGTH],
                m.to_number[:ADDRESS_LENGTH],
                m.text.replace("\0", "\ufffd"),
                now,
            )
            for m in items
        ],
    )


def recent(conn: Connection, *, limit: int = 100) -> list[InboundMessage]:
    """The newest inbound messages, newest first."""
    rows = sql.execute(
        conn, f"SELECT {_COLUMNS} FROM inbound_messages ORDER BY id DESC LIMIT ?", (limit,)
    )
    return [InboundMessage(*row) for row in rows]
