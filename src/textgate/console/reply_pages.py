"""The replies page: the inbound messages matched to the account, newest first."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response, get

from textgate.console.web import current_account, page_number, render
from textgate.services.verification_log import number_filter
from textgate.store import console_replies

PAGE_SIZE = 25


@get("/replies")
async def replies_page(request: Request[Any, Any, Any]) -> Response[str]:
    session, account = await current_account(request)
    db = request.app.state.services.db
    params = request.query_params
    number = number_filter(params.get("number"))
    page = page_number(params.get("page"))
    rows = await db.read(
        console_replies.list_replies,
        account.id,
        number=number,
        offset=(page - 1) * PAGE_SIZE,
        limit=PAGE_SIZE + 1,
    )
    kept = {"number": number} if number else {}

    def link(to_page: int) -> str:
        return "/console/replies?" + urlencode({**kept, "page": to_page})

    return render(
        request,
        "replies.html",
        session=session,
        account=account,
        replies=rows[:PAGE_SIZE],
        number=number,
        page=page,
        prev_link=link(page - 1) if page > 1 else None,
        next_link=link(page + 1) if len(rows) > PAGE_SIZE else None,
    )


HANDLERS = (replies_page,)
