"""The `textgate` command."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from textgate import logs
from textgate.app import build, running
from textgate.cli import bulk as bulk_cli
from textgate.domain import money
from textgate.errors import TextgateError
from textgate.services.container import Services
from textgate.settings import Settings, SettingsError
from textgate.store import migrate as migrations

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
accounts_app = typer.Typer(no_args_is_help=True, help="Accounts")
keys_app = typer.Typer(no_args_is_help=True, help="API keys")
credits_app = typer.Typer(no_args_is_help=True, help="Credits")
app.add_typer(accounts_app, name="accounts")
app.add_typer(keys_app, name="keys")
app.add_typer(credits_app, name="credits")
app.add_typer(bulk_cli.bulk_app, name="bulk")
app.add_typer(bulk_cli.optout_app, name="optout")

err = Console(stderr=True)
T = TypeVar("T")


def _settings() -> Settings:
    try:
        return Settings.load()
    except SettingsError as exc:
        err.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from None


def _with_services(work: Callable[[Services], Awaitable[T]]) -> T:
    """Runs `work` against a migrated database, without the worker."""
    settings = _settings()
    migrations.upgrade(settings.database_url)

    async def main() -> T:
        svc = build(settings)
        async with running(svc, worker=False):
            return await work(svc)

    try:
        return asyncio.run(main())
    except TextgateError as exc:
        err.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(1) from None


#: The most credits one command may give or take (a balance is a 64-bit count of micros).
MAX_CREDITS = 1_000_000_000


def _amount(value: str) -> int:
    try:
        micros = money.to_micros(Decimal(value))
    except (InvalidOperation, ValueError) as exc:
        raise typer.BadParameter(f"{value!r} is not an amount of credits ({exc})") from None
    if abs(micros) > MAX_CREDITS * money.MICROS:
        raise typer.BadParameter(f"{value!r}: at most {MAX_CREDITS:,} credits at a time")
    return micros


@app.command()
def migrate() -> None:
    """Bring the database schema up to date."""
    settings = _settings()
    migrations.upgrade(settings.database_url)
    err.print("database is up to date")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on")] = None,
    no_worker: Annotated[bool, typer.Option("--no-worker", help="Serve the API alone")] = False,
    workers: Annotated[int, typer.Option(help="API processes")] = 1,
) -> None:
    """Migrate the database, then serve the API (and, unless --no-worker, the worker)."""
    from granian import Granian
    from granian.constants import Interfaces, Loops

    settings = _settings()
    migrations.upgrade(settings.database_url)
    os.environ["TEXTGATE_RUN_WORKER"] = "0" if no_worker else "1"
    bind_host = host or settings.host
    bind_port = settings.port if port is None else port
    err.print(
        f"textgate on http://{bind_host}:{bind_port} "
        f"({'API only' if no_worker else 'API and worker'}, database {_db_name(settings)})"
    )
    Granian(
        "textgate.cli.asgi:app",
        address=bind_host,
        port=bind_port,
        interface=Interfaces.ASGI,
        factory=True,
        workers=workers,
        loop=Loops.uvloop,
        log_access=False,
        backlog=2048,
    ).serve()


def _db_name(settings: Settings) -> str:
    if settings.is_sqlite:
        return settings.database_url.removeprefix("sqlite:///")
    return settings.database_url.split("@")[-1]


@app.command()
def worker() -> None:
    """Run the dispatcher alone (scale-out: any number, on any machine)."""
    settings = _settings()
    logs.setup(settings.log_level)
    migrations.upgrade(settings.database_url)

    async def main() -> None:
        svc = build(settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with running(svc, worker=True):
            await stop.wait()

    asyncio.run(main())


@accounts_app.command("create")
def accounts_create(
    email: str,
    credits: Annotated[
        str | None, typer.Option(help="Starting credits (default: sign-up credit)")
    ] = None,
    operator: Annotated[bool, typer.Option("--operator", help="Make it an operator")] = False,
) -> None:
    """Create an account and its first API key; the key is printed alone on the last line."""
    micros = _amount(credits) if credits is not None else None

    async def work(svc: Services) -> None:
        account, key = await svc.accounts.create(email, credits_micros=micros, is_operator=operator)
        err.print(
            f"account {account.id} {account.email}: {money.format_credits(account.credits_micros)}"
            f" credits{' (operator)' if account.is_operator else ''}; API key {key.key.id}:"
        )
        typer.echo(key.secret)

    _with_services(work)


@accounts_app.command("promote")
def accounts_promote(email: str) -> None:
    """Make an account an operator."""

    async def work(svc: Services) -> None:
        account = await svc.accounts.set_operator(email, True)
        typer.echo(f"{account.email} is now an operator")

    _with_services(work)


@accounts_app.command("set")
def accounts_set(
    email: str,
    code_length: Annotated[
        int | None, typer.Option(help="Digits in verification codes (4 to 10)")
    ] = None,
    mask_codes: Annotated[
        bool | None,
        typer.Option("--mask-codes/--no-mask-codes", help="Never answer codes back"),
    ] = None,
    allowed_countries: Annotated[
        str | None,
        typer.Option(help='Countries codes may go to, e.g. "RS,US"; "all" for every one'),
    ] = None,
    otp_prefix_hourly: Annotated[
        int | None, typer.Option(help="Codes per country calling code per hour")
    ] = None,
) -> None:
    """Change an account's verification options; prints them."""
    from textgate.cli import account_options

    _with_services(
        lambda svc: account_options.apply(
            svc, email, code_length, mask_codes, allowed_countries, otp_prefix_hourly
        )
    )


@keys_app.command("create")
def keys_create(email: str, name: Annotated[str, typer.Option(help="A label")] = "") -> None:
    """Create another API key; printed alone on the last line."""

    async def work(svc: Services) -> None:
        account = await svc.accounts.find(email)
        key = await svc.accounts.create_key(account.id, name)
        err.print(f"API key {key.key.id} for {account.email}:")
        typer.echo(key.secret)

    _with_services(work)


@keys_app.command("list")
def keys_list(email: str) -> None:
    """List an account's API keys (prefix only: keys are never stored)."""

    async def work(svc: Services) -> None:
        account = await svc.accounts.find(email)
        table = Table("id", "prefix", "name", "created", "last used", "revoked")
        for key in await svc.accounts.list_keys(account.id):
            table.add_row(
                str(key.id),
                key.prefix + "…",
                key.name,
                _when(key.created_at),
                _when(key.last_used_at),
                _when(key.revoked_at),
            )
        Console().print(table)

    _with_services(work)


@keys_app.command("revoke")
def keys_revoke(key_id: int) -> None:
    """Revoke an API key at once."""

    async def work(svc: Services) -> None:
        await svc.accounts.revoke_key(key_id)
        typer.echo(f"API key {key_id} revoked")

    _with_services(work)


@credits_app.command("add")
def credits_add(email: str, amount: str) -> None:
    """Add credits to an account (a negative amount takes them away)."""
    micros = _amount(amount)

    async def work(svc: Services) -> None:
        account = await svc.accounts.find(email)
        left = await svc.accounts.add_credits(account.id, micros)
        typer.echo(f"{account.email}: {money.format_credits(left)} credits")

    _with_services(work)


def _when(ms: int | None) -> str:
    if ms is None:
        return "-"
    import datetime as dt

    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def main() -> None:
    app()
