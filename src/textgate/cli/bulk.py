"""`textgate bulk send` (a CSV file to a bulk job, through the HTTP API, with a progress
bar) and `textgate optout` (the numbers an account's bulk jobs skip)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from textgate.domain import bulk
from textgate.errors import NotFound
from textgate.services import opt_outs
from textgate.services.container import Services

bulk_app = typer.Typer(no_args_is_help=True, help="Bulk SMS through the HTTP API")
optout_app = typer.Typer(
    no_args_is_help=True, help="Numbers that opted out of an account's bulk messages"
)

#: Results: no markup or highlighting (numbers and messages are the user's data), no wrapping.
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True)
T = TypeVar("T")

#: Exit status when the user cancelled the job with Ctrl-C (as shells report SIGINT).
CANCELLED_BY_USER = 130
SHOWN_REJECTIONS = 10


@bulk_app.command("send")
def send(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True, dir_okay=False, readable=True, help="CSV: a phone_number column"
        ),
    ],
    text: Annotated[str, typer.Option(help="The message, sent to every number")],
    api_key: Annotated[str, typer.Option(envvar="TEXTGATE_API_KEY", help="Your API key")],
    url: Annotated[
        str, typer.Option(envvar="TEXTGATE_URL", help="The textgate server")
    ] = "http://127.0.0.1:8000",
    wait: Annotated[
        bool, typer.Option("--wait/--no-wait", help="Follow the job until it is done")
    ] = True,
    interval: Annotated[float, typer.Option(help="Seconds between progress checks")] = 0.5,
) -> None:
    """Send TEXT to every number in FILE as one bulk job, and follow it with a progress bar.

    Ctrl-C asks whether to cancel the job (recipients not sent yet are credited back).
    Exit status: 0 when the job finished; 1 on errors; 130 when you cancelled it."""
    try:
        with file.open(newline="", encoding="utf-8-sig") as lines:
            numbers = bulk.numbers_from_csv(lines)
    except (OSError, UnicodeDecodeError) as exc:
        _fail(f"cannot read {file}: {exc}")
    if not numbers:
        _fail(f"no phone numbers in {file}")
    headers = {"Authorization": f"Bearer {api_key}"}
    with httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=120) as http:
        started = _call(
            http, "POST", "/api/bulk-sms", json={"phone_numbers": numbers, "text": text}
        )
        job_id = int(started["job_id"])
        _print_started(started, len(numbers))
        if not wait:
            return
        job, by_user = _follow(http, job_id, int(started["accepted"]), interval)
    _print_final(job)
    if job["state"] == "cancelled":
        raise typer.Exit(CANCELLED_BY_USER if by_user else 1)


def _follow(
    http: httpx.Client, job_id: int, total: int, interval: float
) -> tuple[dict[str, Any], bool]:
    """Polls the job until it is no longer running; Ctrl-C offers to cancel it. Answers the
    last state, and whether the user cancelled it."""
    while True:
        try:
            return _progress(http, job_id, total, interval), False
        except KeyboardInterrupt:
            pass
        if not typer.confirm(
            f"\nCancel bulk job {job_id}? Recipients not sent yet are credited back",
            default=False,
        ):
            continue
        reply = http.post(f"/api/bulk/{job_id}/cancel").json()
        if reply.get("ok"):
            data = reply["data"]
            err.print(
                f"cancelled {data['cancelled']} recipient(s); "
                f"{data['refunded_credits']} credits back"
            )
        else:
            err.print("[yellow]not cancelled:[/yellow] ", end="")
            err.print(str(reply.get("message")), markup=False, highlight=False)
        return _call(http, "GET", f"/api/bulk/{job_id}")["data"], bool(reply.get("ok"))


def _progress(http: httpx.Client, job_id: int, total: int, interval: float) -> dict[str, Any]:
    columns = (
        TextColumn(f"job {job_id}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[counts]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=out) as progress:
        task = progress.add_task("sending", total=total, counts="")
        while True:
            job: dict[str, Any] = _call(http, "GET", f"/api/bulk/{job_id}")["data"]
            progress.update(task, completed=job["recipients"] - job["pending"], counts=_counts(job))
            if job["state"] != "running":
                return job
            time.sleep(interval)


def _counts(job: dict[str, Any]) -> str:
    return ", ".join(f"{status} {n}" for status, n in job["counts"].items() if n)


def _print_started(reply: dict[str, Any], sent: int) -> None:
    out.print(
        f"bulk job {reply['job_id']}: {reply['accepted']} of {sent} number(s) accepted, "
        f"{reply['rejected']} rejected; price {reply['price']} credits"
    )
    reasons = {k: n for k, n in reply.get("rejected_by_reason", {}).items() if n}
    if reasons:
        out.print("rejected: " + ", ".join(f"{n} {reason}" for reason, n in reasons.items()))
    for r in reply.get("rejections", [])[:SHOWN_REJECTIONS]:
        detail = f": {r['detail']}" if r.get("detail") else ""
        out.print(
            f"  number {r['index'] + 1}: {r['phone_number']!r} {r['reason']}{detail}", markup=False
        )


def _print_final(job: dict[str, Any]) -> None:
    took = ""
    if job.get("finished_at") is not None:
        took = f" in {(job['finished_at'] - job['started_at']) / 1000:.1f} s"
    out.print(f"job {job['id']} {job['state']}{took}: {_counts(job) or 'nothing sent'}")


def _call(http: httpx.Client, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    try:
        response = http.request(method, path, **kwargs)
    except httpx.HTTPError as exc:
        _fail(f"cannot reach textgate at {http.base_url}: {exc}")
    try:
        reply: dict[str, Any] = response.json()
    except ValueError:
        _fail(f"{method} {path}: HTTP {response.status_code}, not a textgate answer")
    if not reply.get("ok"):
        _fail(f"{reply.get('message') or 'failed'} (HTTP {response.status_code})")
    return reply


def _fail(message: str) -> NoReturn:
    err.print("[red]error:[/red] ", end="")
    err.print(message, markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(1)


def _with_services(work: Callable[[Services], Awaitable[T]]) -> T:
    from textgate.cli.main import _with_services  # main imports this module

    return _with_services(work)


@optout_app.command("add")
def optout_add(email: str, number: str) -> None:
    """Record that NUMBER opted out: the account's bulk jobs skip it ("opted out")."""

    async def work(svc: Services) -> None:
        account = await svc.accounts.find(email)
        phone, added = await opt_outs.add(svc.db, account.id, number)
        state = "opted out" if added else "had already opted out"
        typer.echo(f"{phone.e164} {state} of {account.email}'s bulk messages")

    _with_services(work)


@optout_app.command("remove")
def optout_remove(email: str, number: str) -> None:
    """Forget NUMBER's opt-out: the account's bulk jobs send to it again."""

    async def work(svc: Services) -> None:
        account = await svc.accounts.find(email)
        phone, removed = await opt_outs.remove(svc.db, account.id, number)
        if not removed:
            raise NotFound(f"{phone.e164} has not opted out of {account.email}'s messages")
        typer.echo(f"{phone.e164} gets {account.email}'s bulk messages again")

    _with_services(work)


@optout_app.command("list")
def optout_list(email: str) -> None:
    """The numbers that opted out of an account's bulk messages, one a line."""

    async def work(svc: Services) -> None:
        account = await svc.accounts.find(email)
        for number in await opt_outs.numbers(svc.db, account.id):
            typer.echo(number)

    _with_services(work)
