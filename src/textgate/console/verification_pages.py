"""The verification log: the account's codes sent and checked, newest first."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response, get

from textgate.console.web import current_account, page_number, render
from textgate.services import verification_log
from textgate.store.db import now_ms


@get("/verifications")
async def verifications_page(request: Request[Any, Any, Any]) -> Response[str]:
    session, account = await current_account(request)
    svc = request.app.state.services
    params = request.query_params
    number = verification_log.number_filter(params.get("number"))
    page = page_number(params.get("page"))
    entries, more, rules = await verification_log.page(
        svc.db, svc.verifier, account.id, number=number, page=page, now=now_ms()
    )
    kept = {"number": number} if number else {}

    def link(to_page: int) -> str:
        return "/console/verifications?" + urlencode({**kept, "page": to_page})

    return render(
        request,
        "verifications.html",
        session=session,
        account=account,
        entries=entries,
        number=number,
        rules=rules,
        page=page,
        prev_link=link(page - 1) if page > 1 else None,
        next_link=link(page + 1) if more else None,
    )


HANDLERS = (verifications_page,)
