"""Immutable records that rows become; nothing outside `store` sees a row."""

from __future__ import annotations

from dataclasses import dataclass

from textgate.domain.states import MessageKind, MessageStatus


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    email: str
    credits_micros: int
    is_operator: bool
    created_at: int


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: int
    account_id: int
    prefix: str
    name: str
    created_at: int
    last_used_at: int | None
    revoked_at: int | None


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: the account behind a valid API key."""

    account_id: int
    key_id: int


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message the API has validated and priced, ready to be paid for and queued."""

    account_id: int
    api_key_id: int | None
    kind: MessageKind
    to_number: str
    region: str
    body: str
    encoding: str
    segments: int
    price_micros: int


@dataclass(frozen=True, slots=True)
class Accepted:
    message_id: int
    created_at: int


@dataclass(frozen=True, slots=True)
class Event:
    status: MessageStatus
    at: int
    detail: str | None


@dataclass(frozen=True, slots=True)
class Message:
    id: int
    account_id: int
    kind: MessageKind
    to_number: str
    region: str
    body: str
    encoding: str
    segments: int
    price_micros: int
    status: MessageStatus
    attempts: int
    provider: str | None
    provider_message_id: str | None
    error: str | None
    created_at: int
    updated_at: int
    submitted_at: int | None
    final_at: int | None


@dataclass(frozen=True, slots=True)
class Claimed:
    """A message a worker holds under a lease; `attempts` is this attempt's number and
    serves as the lease token (a late worker's update matches no row)."""

    id: int
    kind: MessageKind
    to_number: str
    region: str
    body: str
    encoding: str
    segments: int
    attempts: int
