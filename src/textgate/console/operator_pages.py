"""The operators' pages: every account (search, pages, add credits, the operator role), the
price table and each provider's health. To anyone but an operator each of these URLs is
the console's plain 404, as an unknown path is: the pages do not say they exist."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath

from textgate.console.session import Session
from textgate.console.web import checked_form, current_account, page_number, redirect, render
from textgate.errors import InvalidRequest
from textgate.services.operators import MAX_ADD_MICROS, OperatorService
from textgate.store.db import now_ms
from textgate.store.records import Account

#: What a redirect after a change says on the account's page (`?done=`).
DONE = {
    "credits": "Credits added.",
    "promoted": "The account is now an operator.",
    "demoted": "The account is no longer an operator.",
}


async def _operator(request: Request[Any, Any, Any]) -> tuple[Session, Account]:
    """The signed-in operator; the same 404 as an unknown path for anyone else."""
    session, account = await current_account(request)
    if not account.is_operator:
        raise NotFoundException()
    return session, account


def _service(request: Request[Any, Any, Any]) -> OperatorService:
    svc = request.app.state.services
    return OperatorService(
        svc.db,
        svc.prices,
        svc.router,
        svc.settings.providers,
        price_file=svc.settings.price_file,
    )


@get("/operators")
async def operators_page(request: Request[Any, Any, Any]) -> Response[str]:
    session, operator = await _operator(request)
    service = _service(request)
    search = (request.query_params.get("q") or "").strip()[:320] or None
    page = page_number(request.query_params.get("page"))
    rows, more = await service.accounts(search, page, now_ms())
    kept = {"q": search} if search else {}

    def link(to_page: int) -> str:
        return "/console/operators?" + urlencode({**kept, "page": to_page})

    svc = request.app.state.services
    return render(
        request,
        "operators.html",
        session=session,
        account=operator,
        rows=rows,
        search=search,
        total=await service.account_count(),
        page=page,
        prev_link=link(page - 1) if page > 1 else None,
        next_link=link(page + 1) if more else None,
        prices=service.prices(),
        providers=service.providers(),
        queue=await service.queue(),
        worker_here=svc.dispatcher is not None,
    )


async def _account_page(
    request: Request[Any, Any, Any],
    session: Session,
    operator: Account,
    account_id: int,
    *,
    status: int = 200,
    error: str | None = None,
    error_for: str | None = None,
    amount: str = "",
) -> Response[str]:
    target = await _service(request).account(account_id, now_ms())
    done = DONE.get(request.query_params.get("done") or "") if status == 200 else None
    return render(
        request,
        "operator_account.html",
        session=session,
        account=operator,
        status=status,
        target=target,
        error=error,
        error_for=error_for,
        amount=amount[:40],
        done=done,
        max_add=MAX_ADD_MICROS,
    )


@get("/operators/accounts/{account_id:int}")
async def account_page(request: Request[Any, Any, Any], account_id: FromPath[int]) -> Response[str]:
    session, operator = await _operator(request)
    return await _account_page(request, session, operator, account_id)


@post("/operators/accounts/{account_id:int}/credits")
async def add_credits(request: Request[Any, Any, Any], account_id: FromPath[int]) -> Response[str]:
    session, operator = await _operator(request)
    _, form = await checked_form(request)
    amount = form.get("amount", "")
    try:
        await _service(request).add_credits(operator.id, account_id, amount)
    except InvalidRequest as exc:
        return await _account_page(
            request,
            session,
            operator,
            account_id,
            status=400,
            error=exc.message,
            error_for="credits",
            amount=amount,
        )
    return redirect(request, f"/console/operators/accounts/{account_id}?done=credits")


@post("/operators/accounts/{account_id:int}/operator")
async def set_operator(request: Request[Any, Any, Any], account_id: FromPath[int]) -> Response[str]:
    session, operator = await _operator(request)
    _, form = await checked_form(request)
    wanted = form.get("operator", "")
    if wanted not in ("0", "1"):
        raise InvalidRequest("The form must say operator=1 (promote) or operator=0 (demote)")
    try:
        await _service(request).set_operator(operator.id, account_id, wanted == "1")
    except InvalidRequest as exc:
        return await _account_page(
            request,
            session,
            operator,
            account_id,
            status=400,
            error=exc.message,
            error_for="operator",
        )
    done = "promoted" if wanted == "1" else "demoted"
    return redirect(request, f"/console/operators/accounts/{account_id}?done={done}")


HANDLERS = (operators_page, account_page, add_credits, set_operator)
