"""Routes beyond TextFlow: a message and its status history."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.params import FromPath
from litestar.response.base import ASGIResponse

from textgate.api import shapes
from textgate.api.auth import caller_of
from textgate.api.docs import doc
from textgate.domain.states import MessageKind
from textgate.errors import NotFound
from textgate.store import messages as messages_store

OTP_WITHHELD = "<verification code withheld>"


@get("/api/messages/{message_id:int}", **doc("message"))
async def get_message(request: Request[Any, Any, Any], message_id: FromPath[int]) -> ASGIResponse:
    svc = request.app.state.services
    caller = await caller_of(request)
    if not 0 < message_id < 2**63:  # no such id can exist (and PostgreSQL would refuse it)
        raise NotFound(f"No message {message_id} in this account")
    found = await svc.db.read(messages_store.get_with_history, message_id, caller.account_id)
    if found is None:
        raise NotFound(f"No message {message_id} in this account")
    message, events = found
    return shapes.reply(
        True,
        200,
        "Message found",
        data={
            "id": message.id,
            "to": message.to_number,
            # A verification SMS is kept sealed (it holds a code): its text is not shown.
            "content": message.body if message.kind is not MessageKind.OTP else OTP_WITHHELD,
            "country": message.region,
            "kind": message.kind.value,
            "status": message.status.value,
            "segments": message.segments,
            "encoding": message.encoding,
            "price": shapes.price(message.price_micros),
            "attempts": message.attempts,
            "provider": message.provider,
            "error": message.error,
            "created_at": message.created_at,
            "updated_at": message.updated_at,
            "submitted_at": message.submitted_at,
            "final_at": message.final_at,
            "history": [{"status": e.status.value, "at": e.at, "detail": e.detail} for e in events],
        },
    )
