"""Bulk lists: sorting numbers into recipients and rejections, CSV files, job states."""

from __future__ import annotations

import io

from textgate.domain import bulk
from textgate.domain.bulk import JobState, Reason

SERBIA = "+381690156360"
SERBIA_SPACED = "+381 69 015 6360"
USA = "+12015550123"


def sort(numbers: list[str], shown: int = 100) -> bulk.Sorted:
    unique = bulk.distinct(numbers)
    return bulk.sort_out(
        numbers, dict(zip(unique, bulk.parse_many(unique), strict=True)), shown=shown
    )


def test_valid_invalid_and_duplicates_counted_exactly() -> None:
    numbers = [SERBIA, "nope", SERBIA_SPACED, USA, "+999123", "nope", "00381690156360", USA]
    result = sort(numbers)
    assert result.recipients == [(0, SERBIA, "RS"), (3, USA, "US")]
    assert result.rejected.counts == {Reason.INVALID: 3, Reason.DUPLICATE: 3, Reason.OPTED_OUT: 0}
    assert [(r.index, r.phone_number, r.reason) for r in result.rejected.samples] == [
        (1, "nope", Reason.INVALID),
        (2, SERBIA_SPACED, Reason.DUPLICATE),
        (4, "+999123", Reason.INVALID),
        (5, "nope", Reason.INVALID),
        (6, "00381690156360", Reason.DUPLICATE),
        (7, USA, Reason.DUPLICATE),
    ]
    invalid = result.rejected.samples[0]
    assert invalid.detail == "The phone number must not contain letters."
    assert result.rejected.samples[1].detail is None


def test_samples_are_capped_but_counts_are_not() -> None:
    numbers = [f"bad{i}" for i in range(500)] + [SERBIA]
    result = sort(numbers, shown=10)
    assert result.rejected.counts[Reason.INVALID] == 500
    assert result.rejected.total == 500
    assert [r.index for r in result.rejected.samples] == list(range(10))
    assert result.recipients == [(500, SERBIA, "RS")]


def test_opted_out_found_later_keeps_the_first_by_position() -> None:
    tally = bulk.Tally(shown=3)
    for index in (5, 7, 9):
        tally.add(index, f"n{index}", Reason.INVALID)
    tally.add(1, "early", Reason.OPTED_OUT)
    tally.add(8, "late", Reason.OPTED_OUT)
    tally.add(6, "middle", Reason.OPTED_OUT)
    assert [r.index for r in tally.samples] == [1, 5, 6]
    assert tally.counts == {Reason.INVALID: 3, Reason.DUPLICATE: 0, Reason.OPTED_OUT: 3}


def test_opted_out_positions() -> None:
    recipients = [(0, SERBIA, "RS"), (4, USA, "US"), (9, "+441632960961", "GB")]
    assert bulk.opted_out_positions(recipients, {USA, "+10000000000"}) == [1]
    assert bulk.opted_out_positions(recipients, set()) == []


def test_csv_named_column_anywhere() -> None:
    text = f"name,Phone_Number\nAna,{SERBIA}\nBob, {USA} \nEve,\n"
    assert bulk.numbers_from_csv(io.StringIO(text)) == [SERBIA, USA]


def test_csv_first_column_with_or_without_header() -> None:
    assert bulk.numbers_from_csv(io.StringIO(f"{SERBIA},Ana\n{USA},Bob\n")) == [SERBIA, USA]
    assert bulk.numbers_from_csv(io.StringIO(f"mobile,name\n{SERBIA},Ana\n\n")) == [SERBIA]
    assert bulk.numbers_from_csv(io.StringIO("")) == []
    assert bulk.numbers_from_csv(io.StringIO("phone_number\n")) == []


def test_job_state() -> None:
    assert bulk.job_state(pending=3, cancelled=False) is JobState.RUNNING
    assert bulk.job_state(pending=0, cancelled=False) is JobState.FINISHED
    assert bulk.job_state(pending=3, cancelled=True) is JobState.CANCELLED
