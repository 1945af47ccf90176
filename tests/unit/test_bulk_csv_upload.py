"""Reading an uploaded CSV leniently: the header, the column of numbers, the delimiter, the
encoding; and the files refused."""

from __future__ import annotations

import codecs

import pytest

from textgate.domain import bulk_csv
from textgate.errors import InvalidRequest


def read(text: str, max_numbers: int = 1000) -> bulk_csv.CsvNumbers:
    return bulk_csv.read_numbers(text, max_numbers=max_numbers)


def test_one_number_a_row_without_a_header() -> None:
    found = read("+381690156360\n+12015550123\n\n+44 7700 900123\n")
    assert found.numbers == ["+381690156360", "+12015550123", "+44 7700 900123"]
    assert found.rows == [1, 2, 4]
    assert (found.column, found.header) == (0, None)


def test_a_header_row_is_skipped_and_the_phone_column_is_found_by_name() -> None:
    found = read("Name,Mobile Number,Note\nAna,+381690156360,x\nBob, +12015550123 ,y\n")
    assert found.numbers == ["+381690156360", "+12015550123"]
    assert found.rows == [2, 3]
    assert (found.column, found.header) == (1, "Mobile Number")


@pytest.mark.parametrize(
    ("header", "column"),
    [
        ("id,phone_number,phone", 1),
        ("id,Telephone", 1),
        ("MSISDN;name", 0),
        ("email,tel,number", 2),  # a whole name wins over a part of one
    ],
)
def test_header_names(header: str, column: int) -> None:
    delimiter = ";" if ";" in header else ","
    width = header.count(delimiter) + 1
    row = delimiter.join(f"+38169000000{i}" for i in range(width))
    assert read(f"{header}\n{row}\n").column == column


def test_without_a_named_column_the_first_column_that_parses_is_read() -> None:
    found = read("Ana;Belgrade;+381690156360\nBob;Newark;+12015550123\n")
    assert found.column == 2 and found.numbers == ["+381690156360", "+12015550123"]
    tabbed = read("who\twhere\tnumber?\nAna\tBelgrade\t+381690156360\n")
    assert tabbed.column == 2 and tabbed.rows == [2]


def test_no_column_parses_the_first_is_read_and_refused_later() -> None:
    found = read("hello\nworld\nfoo\n")
    assert found.numbers == ["world", "foo"] and found.header == "hello"


def test_long_cells_are_cut_and_stay_too_long_to_be_a_number() -> None:
    long = "+381" + "1" * 100
    found = read(f"{long}\n")
    assert len(found.numbers[0]) == bulk_csv.MAX_CELL and found.numbers[0].endswith("…")


def test_quoted_cells_may_hold_line_breaks() -> None:
    found = read('name,phone\n"Ana\nMarija",+381690156360\nBob,+12015550123\n')
    assert found.numbers == ["+381690156360", "+12015550123"] and found.rows == [2, 3]


def test_empty_files_and_too_many_numbers_are_refused() -> None:
    with pytest.raises(InvalidRequest, match="empty"):
        read("")
    with pytest.raises(InvalidRequest, match="no phone numbers"):
        read("name,phone\nAna,\n")
    with pytest.raises(InvalidRequest, match="more than 2 phone numbers"):
        read("+381690156360\n+381690156361\n+381690156362\n", max_numbers=2)
    assert len(read("+381690156360\n+381690156361\n", max_numbers=2).numbers) == 2


def test_decode_takes_utf8_utf16_and_windows_text() -> None:
    assert bulk_csv.decode(codecs.BOM_UTF8 + b"phone\n+381690156360\n") == (
        "phone\n+381690156360\n"
    )
    assert bulk_csv.decode(codecs.BOM_UTF16_LE + "Tél\n+33612345678\n".encode("utf-16-le")) == (
        "Tél\n+33612345678\n"
    )
    assert bulk_csv.decode("Zoë,+381690156360\n".encode("cp1252")) == "Zoë,+381690156360\n"


@pytest.mark.parametrize(
    "data", [b"PK\x03\x04\x14\x00\x06\x00", b"\x89PNG\r\n\x1a\n\x00\x00", b"+3816\x0090156360"]
)
def test_decode_refuses_binary_files(data: bytes) -> None:
    with pytest.raises(InvalidRequest, match="not a CSV text file"):
        bulk_csv.decode(data)
