"""Bulk recipient lists: numbers read from a CSV file, and a list sorted into the numbers a
job sends to and the ones it refuses, with the reason for each (invalid, duplicate, opted
out).

Counts are exact; the refused numbers themselves are kept only up to a cap (the first ones
in the list), so a 100,000-number list of junk does not make a 100,000-entry answer.
Duplicates are found after normalising to E.164: "+381 69 015 6360" repeats
"+381690156360". The first occurrence of a number is the one sent (or refused as opted
out); later ones are duplicates. An invalid number stays invalid however often it repeats.
"""

from __future__ import annotations

import bisect
import csv
import enum
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from textgate.domain import phones
from textgate.errors import InvalidPhone

#: The CSV column that holds the numbers; without it, the first column does.
CSV_COLUMN = "phone_number"
#: Refused numbers listed in an answer, at most (the counts are always complete).
REJECTIONS_SHOWN = 100


class Reason(enum.StrEnum):
    #: Not a valid international number (the detail says why).
    INVALID = "invalid"
    #: The same number (after normalising) appears earlier in the list.
    DUPLICATE = "duplicate"
    #: The account recorded that this number does not want its messages.
    OPTED_OUT = "opted out"


@dataclass(frozen=True, slots=True)
class Rejection:
    #: Position in the list the client sent, from 0.
    index: int
    #: As the client sent it.
    phone_number: str
    reason: Reason
    detail: str | None = None


#: One parse result: (E.164, region) for a valid number, else why it is invalid.
Parsed = tuple[str, str] | str
#: A number to send to: (position in the client's list, E.164, region).
Recipient = tuple[int, str, str]


@dataclass
class Tally:
    """Refused numbers: exact counts by reason, and the first `shown` of them."""

    shown: int = REJECTIONS_SHOWN
    counts: dict[Reason, int] = field(default_factory=lambda: dict.fromkeys(Reason, 0))
    samples: list[Rejection] = field(default_factory=list)

    def add(self, index: int, phone_number: str, reason: Reason, detail: str | None = None) -> None:
        self.counts[reason] += 1
        if len(self.samples) >= self.shown:
            if not self.samples or index > self.samples[-1].index:
                return
            self.samples.pop()
        # Opted-out numbers are found after the others: keep the first `shown` by position.
        bisect.insort(self.samples, Rejection(index, phone_number, reason, detail), key=_position)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def _position(rejection: Rejection) -> int:
    return rejection.index


@dataclass(frozen=True)
class Sorted:
    recipients: list[Recipient]
    rejected: Tally


def parse_many(numbers: Sequence[str]) -> list[Parsed]:
    """`phones.parse_phone` for each number, as picklable tuples (this runs on worker
    processes for big lists)."""
    out: list[Parsed] = []
    append = out.append
    parse = phones.parse_phone
    for raw in numbers:
        try:
            phone = parse(raw)
        except InvalidPhone as exc:
            append(exc.message)
        else:
            append((phone.e164, phone.region))
    return out


def distinct(numbers: Iterable[str]) -> list[str]:
    """The numbers as sent, each once, in order: what needs parsing."""
    return list(dict.fromkeys(numbers))


def sort_out(
    numbers: Sequence[str], parsed: Mapping[str, Parsed], *, shown: int = REJECTIONS_SHOWN
) -> Sorted:
    """Splits `numbers` into recipients and rejections (invalid, duplicate); `parsed` maps
    each distinct number as sent to its parse result."""
    seen: set[str] = set()
    recipients: list[Recipient] = []
    tally = Tally(shown)
    for index, raw in enumerate(numbers):
        result = parsed[raw]
        if isinstance(result, str):
            tally.add(index, raw, Reason.INVALID, result)
            continue
        e164, region = result
        if e164 in seen:
            tally.add(index, raw, Reason.DUPLICATE)
            continue
        seen.add(e164)
        recipients.append((index, e164, region))
    return Sorted(recipients, tally)


def opted_out_positions(recipients: Sequence[Recipient], opted_out: Container[str]) -> list[int]:
    """Positions (in `recipients`) of the numbers that opted out."""
    return [i for i, (_, e164, _) in enumerate(recipients) if e164 in opted_out]


def numbers_from_csv(lines: Iterable[str]) -> list[str]:
    """The numbers in a CSV file: the column named `phone_number` (any case), else the
    first column. A first row whose first cell holds no digit is taken for a header.
    Blank cells are skipped; cells are stripped."""
    rows = csv.reader(lines)
    first = next(rows, None)
    if first is None:
        return []
    header = [cell.strip().lower() for cell in first]
    column = header.index(CSV_COLUMN) if CSV_COLUMN in header else 0
    numbers: list[str] = []
    if column == 0 and first and any(ch.isdigit() for ch in first[0]):
        numbers.append(first[0].strip())
    for row in rows:
        if column < len(row):
            cell = row[column].strip()
            if cell:
                numbers.append(cell)
    return numbers


class JobState(enum.StrEnum):
    #: Recipients are still waiting in the queue or being handed to a provider.
    RUNNING = "running"
    #: Every recipient was handed over (or failed); receipts may still come.
    FINISHED = "finished"
    #: Cancelled: the recipients not yet sent were taken out of the queue and credited back.
    CANCELLED = "cancelled"


def job_state(*, pending: int, cancelled: bool) -> JobState:
    if cancelled:
        return JobState.CANCELLED
    return JobState.RUNNING if pending else JobState.FINISHED
