"""What a bulk job would do, before it is started (the console's preview): which numbers it
sends to and which it refuses (by the rules `BulkService.start` applies: invalid,
duplicate, opted out), the text's segments, the price and the balance after.

A preview pays for and stores nothing. Starting the job checks everything again
(`BulkService.start`): the balance or the opt-outs may have changed in between.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from textgate.domain import bulk, text
from textgate.domain.pricing import PriceTable
from textgate.errors import InvalidRequest
from textgate.services.bulk import BulkService
from textgate.store import bulk_console
from textgate.store.db import Database


@dataclass(frozen=True, slots=True)
class RegionCost:
    region: str
    recipients: int
    #: Micro-credits for one message (all its segments) to this region.
    each_micros: int

    @property
    def subtotal_micros(self) -> int:
        return self.recipients * self.each_micros


@dataclass(frozen=True, slots=True)
class Preview:
    #: Numbers in the list, refused ones included.
    numbers: int
    #: Messages the job would queue (and pay for).
    accepted: int
    rejected: bulk.Tally
    text: text.TextInfo
    #: The price by region, dearest total first.
    regions: list[RegionCost]
    price_micros: int
    balance_micros: int

    @property
    def balance_after_micros(self) -> int:
        return self.balance_micros - self.price_micros

    @property
    def affordable(self) -> bool:
        return self.price_micros <= self.balance_micros


class BulkPreviewer:
    def __init__(self, db: Database, prices: PriceTable, bulk_service: BulkService) -> None:
        self._db = db
        self._prices = prices
        self._bulk = bulk_service

    async def preview(self, account_id: int, numbers: Sequence[str], body: str) -> Preview:
        """InvalidText for a text that cannot be sent; InvalidRequest for an empty list or
        one longer than a job takes (`BulkService.max_recipients`)."""
        if not numbers:
            raise InvalidRequest("There are no phone numbers to send to", field="file")
        if len(numbers) > self._bulk.max_recipients:
            raise InvalidRequest(
                f"There are {len(numbers):,} phone numbers; one job takes at most "
                f"{self._bulk.max_recipients:,}",
                field="file",
            )
        info = text.analyze(body)
        sorted_out = await self._bulk.sort_out(numbers)
        facts = await self._db.read(bulk_console.account_facts, account_id)
        recipients, tally = sorted_out.recipients, sorted_out.rejected
        skip = set(bulk.opted_out_positions(recipients, facts.opted_out))
        # As `BulkService.start` reports them: after the invalid and duplicate ones.
        for position in sorted(skip):
            index = recipients[position][0]
            tally.add(index, numbers[index], bulk.Reason.OPTED_OUT)
        per_region = Counter(
            region for position, (_, _, region) in enumerate(recipients) if position not in skip
        )
        regions = [
            RegionCost(region, n, self._prices.price_micros(region, info.segments))
            for region, n in per_region.items()
        ]
        regions.sort(key=lambda r: (-r.subtotal_micros, r.region))
        return Preview(
            numbers=len(numbers),
            accepted=len(recipients) - len(skip),
            rejected=tally,
            text=info,
            regions=regions,
            price_micros=sum(r.subtotal_micros for r in regions),
            balance_micros=facts.credits_micros,
        )
