"""The settings page: the account's webhook, its verification options and its opt-outs.

Every change is a POST with the CSRF token. A change that worked redirects back to the page
with a notice (chosen from a fixed list); a bad value renders the page again with the
error beside its form and a 4xx status. A new webhook secret and a test event's result are
answered on the POST's own page: the secret is shown that once.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response, get, post
from litestar.params import FromPath

from textgate.console.session import Session
from textgate.console.web import checked_form, current_account, page_number, redirect, render
from textgate.domain import otp
from textgate.errors import Conflict, InvalidRequest, TextgateError
from textgate.services import opt_outs, webhook_deliveries
from textgate.services.webhooks import Delivery
from textgate.store.records import Account

OPT_OUT_PAGE = 50
_EVERY_COUNTRY = {"", "all", "*"}
MAX_COUNTRIES_FIELD = 1000

NOTICES = {
    "webhook-saved": ("webhook", "The webhook URL is saved."),
    "webhook-cleared": ("webhook", "The webhook URL is removed: no events are sent."),
    "webhook-retried": ("deliveries", "The event is sent again now."),
    "verification-saved": ("verification", "The verification options are saved."),
    "opt-out-added": ("opt-outs", "The number is on the opt-out list."),
    "opt-out-present": ("opt-outs", "That number was already on the opt-out list."),
    "opt-out-removed": ("opt-outs", "The number is off the opt-out list."),
    "opt-out-absent": ("opt-outs", "That number was not on the opt-out list."),
}


def _done(request: Request[Any, Any, Any], notice: str) -> Response[str]:
    section, _ = NOTICES[notice]
    return redirect(request, f"/console/settings?notice={notice}#{section}")


async def _page(
    request: Request[Any, Any, Any],
    session: Session,
    account: Account,
    *,
    status: int = 200,
    opt_out_page: int = 1,
    notice: str | None = None,
    new_secret: str | None = None,
    delivery: Delivery | None = None,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
) -> Response[str]:
    svc = request.app.state.services
    webhook = await svc.webhooks.webhook(account.id)
    options = await svc.verifier.options(account.id)
    rules = svc.verifier.policy(options)
    rows, total = await opt_outs.page(svc.db, account.id, opt_out_page, size=OPT_OUT_PAGE)
    deliveries = await webhook_deliveries.recent(svc.db, account.id)

    def link(to_page: int) -> str:
        return "/console/settings?" + urlencode({"page": to_page}) + "#opt-outs"

    countries = options.allowed_countries
    shown = {
        "url": webhook.url or "",
        "code_length": str(options.code_length or ""),
        "mask_codes": "yes" if options.mask_codes else "",
        "allowed_countries": ",".join(sorted(countries)) if countries else "",
        "prefix_hourly": str(options.prefix_hourly or ""),
        "number": "",
        **(values or {}),
    }
    return render(
        request,
        "settings.html",
        session=session,
        account=account,
        status=status,
        notice=NOTICES[notice][1] if notice in NOTICES else None,
        webhook=webhook,
        deliveries=deliveries,
        new_secret=new_secret,
        delivery=delivery,
        rules=rules,
        default_length=svc.settings.otp_code_length,
        server_prefix_hourly=svc.settings.otp_prefix_hourly,
        lengths=range(otp.MIN_LENGTH, otp.MAX_LENGTH + 1),
        opt_outs=rows,
        opt_out_total=total,
        page=opt_out_page,
        prev_link=link(opt_out_page - 1) if opt_out_page > 1 else None,
        next_link=link(opt_out_page + 1) if opt_out_page * OPT_OUT_PAGE < total else None,
        errors=errors or {},
        values=shown,
    )


@get("/settings")
async def settings_page(request: Request[Any, Any, Any]) -> Response[str]:
    session, account = await current_account(request)
    params = request.query_params
    return await _page(
        request,
        session,
        account,
        opt_out_page=page_number(params.get("page")),
        notice=params.get("notice"),
    )


@post("/settings/webhook")
async def set_webhook(request: Request[Any, Any, Any]) -> Response[str]:
    session, account = await current_account(request)
    _, form = await checked_form(request)
    url = form.get("url", "")
    try:
        secret = await request.app.state.services.webhooks.set_url(account.id, url)
    except InvalidRequest as exc:
        return await _page(
            request,
            session,
            account,
            status=400,
            errors={"webhook": exc.message},
            values={"url": url[:2100]},
        )
    if secret is None:
        return _done(request, "webhook-saved")
    return await _page(request, session, account, notice="webhook-saved", new_secret=secret)


@post("/settings/webhook/clear")
async def clear_webhook(request: Request[Any, Any, Any]) -> Response[str]:
    _, account = await current_account(request)
    await checked_form(request)
    await request.app.state.services.webhooks.clear_url(account.id)
    return _done(request, "webhook-cleared")


@post("/settings/webhook/rotate")
async def rotate_secret(request: Request[Any, Any, Any]) -> Response[str]:
    session, account = await current_account(request)
    await checked_form(request)
    secret = await request.app.state.services.webhooks.rotate_secret(account.id)
    return await _page(request, session, account, new_secret=secret)


@post("/settings/webhook/test")
async def send_test_event(request: Request[Any, Any, Any]) -> Response[str]:
    session, account = await current_account(request)
    await checked_form(request)
    try:
        delivery = await request.app.state.services.webhooks.send_test(account.id)
    except Conflict as exc:
        return await _page(request, session, account, status=409, errors={"webhook": exc.message})
    # The receiver's answer, good or bad, is this page's news: the page itself is fine.
    return await _page(request, session, account, delivery=delivery)


@post("/settings/webhook/events/{event_id:int}/retry")
async def retry_event(request: Request[Any, Any, Any], event_id: FromPath[int]) -> Response[str]:
    session, account = await current_account(request)
    await checked_form(request)
    svc = request.app.state.services
    try:
        await webhook_deliveries.retry_now(svc.db, account.id, event_id)
    except Conflict as exc:  # another account's event is a NotFound: the error page
        return await _page(
            request, session, account, status=409, errors={"deliveries": exc.message}
        )
    if svc.webhook_sender is not None:
        svc.webhook_sender.wake()
    return _done(request, "webhook-retried")


def _options_from(form: dict[str, str], server_prefix_hourly: int) -> dict[str, Any]:
    """The verification options a form asks for (InvalidRequest naming a bad one)."""
    raw_length = form.get("code_length", "").strip()
    code_length: int | None = None
    if raw_length:
        if not (raw_length.isascii() and raw_length.isdigit() and len(raw_length) <= 2):
            raise InvalidRequest("The code length must be a number of digits")
        code_length = int(raw_length)
        if not otp.MIN_LENGTH <= code_length <= otp.MAX_LENGTH:
            raise InvalidRequest(
                f"The code length must be {otp.MIN_LENGTH} to {otp.MAX_LENGTH} digits"
            )
    raw_countries = form.get("allowed_countries", "")
    if len(raw_countries) > MAX_COUNTRIES_FIELD:
        raise InvalidRequest("The list of allowed countries is too long")
    countries: frozenset[str] | None = None
    if raw_countries.strip().lower() not in _EVERY_COUNTRY:
        countries = otp.parse_countries(raw_countries)
    raw_hourly = form.get("prefix_hourly", "").strip()
    hourly: int | None = None
    if raw_hourly:
        if not (raw_hourly.isascii() and raw_hourly.isdigit()) or len(raw_hourly) > 9:
            raise InvalidRequest("The hourly limit must be a whole number")
        hourly = int(raw_hourly)
        if not 1 <= hourly <= server_prefix_hourly:
            raise InvalidRequest(
                f"The hourly limit must be 1 to {server_prefix_hourly} (this server's limit)"
            )
    return {
        "code_length": code_length,
        "mask_codes": form.get("mask_codes", "") in ("yes", "on"),
        "allowed_countries": countries,
        "prefix_hourly": hourly,
    }


@post("/settings/verification")
async def set_verification(request: Request[Any, Any, Any]) -> Response[str]:
    session, account = await current_account(request)
    _, form = await checked_form(request)
    svc = request.app.state.services
    try:
        chosen = _options_from(form, svc.settings.otp_prefix_hourly)
        await svc.verifier.set_options(account.id, **chosen)
    except InvalidRequest as exc:
        values = {
            key: form.get(key, "")[:MAX_COUNTRIES_FIELD]
            for key in ("code_length", "mask_codes", "allowed_countries", "prefix_hourly")
        }
        return await _page(
            request,
            session,
            account,
            status=400,
            errors={"verification": exc.message},
            values=values,
        )
    return _done(request, "verification-saved")


async def _opt_out_change(request: Request[Any, Any, Any], *, add: bool) -> Response[str]:
    session, account = await current_account(request)
    _, form = await checked_form(request)
    number = form.get("number", "")
    db = request.app.state.services.db
    try:
        if add:
            _, changed = await opt_outs.add(db, account.id, number)
        else:
            _, changed = await opt_outs.remove(db, account.id, number)
    except TextgateError as exc:  # InvalidPhone
        return await _page(
            request,
            session,
            account,
            status=exc.status,
            errors={"opt-outs": exc.message},
            values={"number": number[:40]},
        )
    if add:
        return _done(request, "opt-out-added" if changed else "opt-out-present")
    return _done(request, "opt-out-removed" if changed else "opt-out-absent")


@post("/settings/opt-outs")
async def add_opt_out(request: Request[Any, Any, Any]) -> Response[str]:
    return await _opt_out_change(request, add=True)


@post("/settings/opt-outs/remove")
async def remove_opt_out(request: Request[Any, Any, Any]) -> Response[str]:
    return await _opt_out_change(request, add=False)


HANDLERS = (
    settings_page,
    set_webhook,
    clear_webhook,
    rotate_secret,
    send_test_event,
    retry_event,
    set_verification,
    add_opt_out,
    remove_opt_out,
)
