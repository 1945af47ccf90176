"""Numbers from an uploaded CSV file, read leniently (the console's bulk upload).

People upload what their spreadsheet exports: one number a row, or a table with a column
named "Phone", "Mobile number" or "msisdn", separated by commas, semicolons or tabs, in
UTF-8 (with or without a byte-order mark), UTF-16 or a Windows code page. We take:

- the delimiter the first lines use (comma unless another one is plain);
- the first row as a header when none of its cells looks like a number (5 digits or more);
- the column whose header names a phone number, else the first column in which a number
  parses (`phones.parse_phone`, the API's parser), else the first column;
- every non-blank cell of that column, stripped, with its row number in the file.

Which numbers are sent is decided afterwards, by the bulk rules (`domain.bulk`) the API
uses: this module only finds the cells.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from textgate.domain import phones
from textgate.errors import InvalidPhone, InvalidRequest

#: Cells are cut to this many characters: longer ones are no phone number anyway (the parser
#: refuses more than `phones.MAX_INPUT_LENGTH`), and the cut one is refused for the same
#: reason, so a list of junk does not travel back and forth whole.
MAX_CELL = 40
#: Data rows looked at to find the column of numbers.
SNIFF_ROWS = 50
#: Characters at the start of the file that decide the delimiter.
SNIFF_BYTES = 8192
DELIMITERS = ",;\t|"
#: Header names of a phone number column, best first (compared lower case, without
#: spaces, dashes and underscores).
_NAMES = ("phonenumber", "phone", "mobilenumber", "mobile", "msisdn", "number", "cellphone")
#: Parts of a header name that mark a phone number column, when no whole name matched.
_PARTS = ("phone", "mobile", "msisdn", "number", "tel", "cell")
_NAME_NOISE = re.compile(r"[\s_\-.]+")
_DIGITS = re.compile(r"\d")


@dataclass(frozen=True, slots=True)
class CsvNumbers:
    #: The cells as found (stripped, cut to `MAX_CELL`), in file order.
    numbers: list[str]
    #: The row number in the file (from 1, the header counted) of each cell.
    rows: list[int]
    #: The column read, from 0, and its header (None without a header row).
    column: int
    header: str | None


def decode(data: bytes) -> str:
    """The text of an uploaded file; InvalidRequest for one that is not text."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise _not_text() from None
    if b"\x00" in data:  # a spreadsheet (.xlsx is a zip), an image, a binary
        raise _not_text()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # A Windows code page: the numbers are ASCII whatever the other columns hold.
        return data.decode("cp1252", errors="replace")


def _not_text() -> InvalidRequest:
    return InvalidRequest(
        "This file is not a CSV text file: save the spreadsheet as CSV (comma separated) "
        "and upload that",
        field="file",
    )


def read_numbers(text: str, *, max_numbers: int) -> CsvNumbers:
    """The cells of the phone number column; InvalidRequest when there is none, the file is
    not CSV, or it holds more than `max_numbers` of them."""
    try:
        rows = list(_rows(text, _dialect(text[:SNIFF_BYTES])))
    except csv.Error as exc:
        raise InvalidRequest(f"This file is not a CSV file we can read: {exc}") from None
    if not rows:
        raise InvalidRequest("The file is empty: it has no phone numbers", field="file")
    first = [cell.strip() for cell in rows[0][1]]
    has_header = not any(_looks_numeric(cell) for cell in first)
    data = rows[1:] if has_header else rows
    column = _named_column(first) if has_header else None
    if column is None:
        column = _parsing_column([cells for _, cells in data[:SNIFF_ROWS]])
    numbers: list[str] = []
    found_rows: list[int] = []
    for row_number, cells in data:
        if column < len(cells) and (cell := cells[column].strip()):
            if len(numbers) == max_numbers:
                raise InvalidRequest(
                    f"The file has more than {max_numbers:,} phone numbers; "
                    f"one job takes at most {max_numbers:,}",
                    field="file",
                )
            numbers.append(cell if len(cell) <= MAX_CELL else cell[: MAX_CELL - 1] + "…")
            found_rows.append(row_number)
    if not numbers:
        raise InvalidRequest("The file has no phone numbers", field="file")
    header = first[column] if has_header and column < len(first) else None
    return CsvNumbers(numbers=numbers, rows=found_rows, column=column, header=header)


def _dialect(sample: str) -> type[csv.Dialect] | csv.Dialect:
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS)
    except csv.Error:  # one column, or nothing it could decide on
        return csv.excel


def _rows(text: str, dialect: type[csv.Dialect] | csv.Dialect) -> Iterator[tuple[int, list[str]]]:
    """(row number from 1, cells) of each row that is not blank."""
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    for number, cells in enumerate(reader, start=1):
        if any(cell.strip() for cell in cells):
            yield number, cells


def _looks_numeric(cell: str) -> bool:
    return len(_DIGITS.findall(cell)) >= 5


def _named_column(header: Sequence[str]) -> int | None:
    names = [_NAME_NOISE.sub("", cell.lower()) for cell in header]
    for wanted in _NAMES:
        if wanted in names:
            return names.index(wanted)
    for part in _PARTS:
        for index, name in enumerate(names):
            if part in name:
                return index
    return None


def _parsing_column(rows: Sequence[Sequence[str]]) -> int:
    """The first column in which some cell parses as a phone number; else 0."""
    width = max((len(cells) for cells in rows), default=0)
    for column in range(width):
        for cells in rows:
            if column < len(cells) and _parses(cells[column].strip()):
                return column
    return 0


def _parses(cell: str) -> bool:
    try:
        phones.parse_phone(cell)
    except InvalidPhone:
        return False
    return True
