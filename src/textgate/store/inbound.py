"""Inbound messages: what handsets sent to our numbers and sender ids.

A message from a number one of our accounts sent to is taken as a reply: it gets the account
of the latest `message.sent` webhook event to that number (so replies are matched for
accounts with a webhook, within the events' retention), and a `message.received` event."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.engine import Connection

from textgate.store import sql, webhook_events

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
    owners = webhook_events.reply_owners(
        conn, (m.from_number for m in items if m.account_id is None)
    )
    plain: list[tuple[object, ...]] = []
    replies: list[tuple[int, int | None]] = []
    for m in items:
        reply_to = owners.get(m.from_number) if m.account_id is None else None
        row = (
            m.account_id if reply_to is None else reply_to.account_id,
            m.provider,
            m.from_number[:ADDRESS_LENGTH],
            m.to_number[:ADDRESS_LENGTH],
            m.text.replace("\0", "\ufffd"),
            now,
        )
        if row[0] is None:
            plain.append(row)
            continue
        # Few, and their ids are needed: one at a time.
        row_id = sql.execute(conn, f"{_INSERT} RETURNING id", row).scalar_one()
        replies.append((row_id, reply_to.message_id if reply_to is not None else None))
    if plain:
        sql.execute_many(conn, _INSERT, plain)
    webhook_events.on_received(conn, replies, now=now)


def recent(conn: Connection, *, limit: int = 100) -> list[InboundMessage]:
    """The newest inbound messages, newest first."""
    rows = sql.execute(
        conn, f"SELECT {_COLUMNS} FROM inbound_messages ORDER BY id DESC LIMIT ?", (limit,)
    )
    return [InboundMessage(*row) for row in rows]
