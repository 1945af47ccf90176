"""What operators do in the console: see every account, add credits, make and unmake
operators, and read what the running server has loaded (its price table) and knows (its
providers' health). Who may do it is the console's check (`is_operator`); every change is
logged with the operator's id and the account's."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Connection

from textgate.delivery.base import Health
from textgate.delivery.router import Router
from textgate.domain import money, phones
from textgate.domain.pricing import PriceTable
from textgate.errors import InvalidRequest, NotFound
from textgate.services.console import month_and_day_start
from textgate.store import accounts as accounts_store
from textgate.store import operators as operators_store
from textgate.store.db import Database
from textgate.worker import throttle

log = logging.getLogger("textgate.operators")

PAGE_SIZE = 25
#: The most one addition may add, and the most an account may hold.
MAX_ADD_MICROS = money.to_micros(1_000_000)
MAX_BALANCE_MICROS = money.to_micros(1_000_000_000)
#: Plain decimals only: no exponents (1e999999999 would be a very long computation), signs,
#: underscores or non-ASCII digits.
_AMOUNT = re.compile(r"[0-9]{1,7}(\.[0-9]{1,6})?")


def parse_amount(raw: str) -> int:
    """Micro-credits for a positive amount of credits typed in a form ("2.50")."""
    text = raw.strip()
    if not _AMOUNT.fullmatch(text):
        raise InvalidRequest(
            "Enter an amount of credits such as 10 or 2.50 (digits, at most 6 decimal places)"
        )
    micros = money.to_micros(text)
    if micros <= 0:
        raise InvalidRequest("The amount must be more than zero")
    if micros > MAX_ADD_MICROS:
        limit = money.format_credits(MAX_ADD_MICROS)
        raise InvalidRequest(f"At most {limit} credits can be added at a time")
    return micros


@dataclass(frozen=True, slots=True)
class PriceRow:
    region: str
    country: str
    micros: int


@dataclass(frozen=True, slots=True)
class Prices:
    default_micros: int
    rows: list[PriceRow]
    #: The file they were read from; None for the shipped table.
    source: Path | None


@dataclass(frozen=True, slots=True)
class ProviderView:
    name: str
    #: Its `type` in the configuration: smpp, console, ...
    kind: str
    health: Health
    #: Messages per second (in each worker process); None when uncapped.
    throughput: float | None
    #: The routes that name it: prefixes ("+381") and countries ("RS").
    routes: tuple[str, ...]


class OperatorService:
    def __init__(
        self,
        db: Database,
        prices: PriceTable,
        router: Router,
        provider_config: Mapping[str, Mapping[str, Any]],
        price_file: Path | None = None,
    ) -> None:
        self._db = db
        self._prices = prices
        self._router = router
        self._config = provider_config
        self._price_file = price_file

    async def accounts(
        self, search: str | None, page: int, now_ms: int
    ) -> tuple[list[operators_store.AccountRow], bool]:
        """One page (from 1) of accounts, and whether there is a next page."""
        _, month = month_and_day_start(now_ms)
        rows = await self._db.read(
            operators_store.list_accounts,
            search,
            month_start=month,
            offset=(page - 1) * PAGE_SIZE,
            limit=PAGE_SIZE + 1,
        )
        return rows[:PAGE_SIZE], len(rows) > PAGE_SIZE

    async def account_count(self) -> int:
        return await self._db.read(operators_store.count_accounts)

    async def account(self, account_id: int, now_ms: int) -> operators_store.AccountRow:
        _, month = month_and_day_start(now_ms)
        found = None
        if 0 < account_id < 2**31:
            found = await self._db.read(operators_store.get_account, account_id, month_start=month)
        if found is None:
            raise NotFound(f"No account {account_id}")
        return found

    async def add_credits(self, operator_id: int, account_id: int, amount: str) -> int:
        """Adds `amount` credits (text from a form) to the account; the new balance."""
        micros = parse_amount(amount)
        if not 0 < account_id < 2**31:
            raise NotFound(f"No account {account_id}")

        def work(conn: Connection) -> int:
            current = operators_store.balance_of(conn, account_id)
            if current is None:
                raise NotFound(f"No account {account_id}")
            if current + micros > MAX_BALANCE_MICROS:
                limit = money.format_credits(MAX_BALANCE_MICROS)
                raise InvalidRequest(f"An account may hold at most {limit} credits")
            return accounts_store.add_credits(conn, account_id, micros)

        balance = await self._db.write(work)
        log.info(
            "operator added credits",
            extra={
                "action": "operator_credits_added",
                "operator": operator_id,
                "account": account_id,
                "micros": micros,
                "balance_micros": balance,
            },
        )
        return balance

    async def set_operator(self, operator_id: int, account_id: int, is_operator: bool) -> None:
        if account_id == operator_id and not is_operator:
            raise InvalidRequest(
                "You cannot remove your own operator role: another operator can, "
                "or the command line (textgate accounts promote / create --operator)"
            )
        changed = 0 < account_id < 2**31 and await self._db.write(
            operators_store.set_operator, account_id, is_operator
        )
        if not changed:
            raise NotFound(f"No account {account_id}")
        log.info(
            "operator role changed",
            extra={
                "action": "operator_promoted" if is_operator else "operator_demoted",
                "operator": operator_id,
                "account": account_id,
            },
        )

    def prices(self) -> Prices:
        """The price table this process loaded at start-up (it is what sends charge)."""
        table = self._prices
        rows = [
            PriceRow(region=region, country=phones.country_name(region), micros=micros)
            for region, micros in sorted(table.by_region.items())
        ]
        return Prices(default_micros=table.default_micros, rows=rows, source=self._price_file)

    def providers(self) -> list[ProviderView]:
        """Each provider the router holds, with what it says of itself right now."""
        views = []
        for name, provider in self._router.providers.items():
            config = self._config.get(name, {})
            cap = throttle.cap_of(config)
            if isinstance(cap, bool):
                cap = 0
            routes = tuple(
                route.prefix or route.country or "?"
                for route in self._router.routes
                if name in route.providers
            )
            views.append(
                ProviderView(
                    name=name,
                    kind=str(config.get("type", "console")),
                    health=provider.health(),
                    throughput=float(cap) if isinstance(cap, int | float) and cap > 0 else None,
                    routes=routes,
                )
            )
        return views

    async def queue(self) -> operators_store.QueueCounts:
        return await self._db.read(operators_store.queue_counts)
