"""What a receipt's state makes of a message, and of a long message from its parts."""

from __future__ import annotations

import pytest

from textgate.delivery.base import ReceiptState
from textgate.domain import receipts
from textgate.domain.states import MessageStatus


def test_every_receipt_state_is_known() -> None:
    assert {s.value for s in ReceiptState} == receipts.STATES


@pytest.mark.parametrize(
    ("state", "status"),
    [
        ("delivered", MessageStatus.DELIVERED),
        ("undelivered", MessageStatus.UNDELIVERED),
        ("expired", MessageStatus.EXPIRED),
        ("rejected", MessageStatus.UNDELIVERED),
        ("pending", None),
        ("something-else", None),
    ],
)
def test_final_status(state: str, status: MessageStatus | None) -> None:
    assert receipts.final_status(state) == status


def test_final_statuses_are_final_and_never_refunded() -> None:
    from textgate.domain.states import REFUNDED_STATES

    for state in receipts.STATES - {receipts.PENDING}:
        status = receipts.final_status(state)
        assert status is not None and status.is_final and status not in REFUNDED_STATES


def test_error_text() -> None:
    assert receipts.error_of("undelivered", "001") == "001"
    assert receipts.error_of("delivered", None) is None
    assert receipts.error_of("rejected", "002") == "rejected: 002"
    assert receipts.error_of("rejected", None) == "rejected"


@pytest.mark.parametrize(
    ("parts", "combined"),
    [
        ([], None),
        (["pending", "pending", "pending"], None),
        (["delivered", "delivered", "pending"], None),
        (["delivered", "delivered", "delivered"], "delivered"),
        (["pending", "undelivered", "pending"], "undelivered"),
        (["delivered", "expired", "undelivered"], "expired"),
        (["rejected", "delivered", "delivered"], "rejected"),
    ],
)
def test_long_message_from_its_parts(parts: list[str], combined: str | None) -> None:
    assert receipts.combined(parts) == combined
