from __future__ import annotations

from textgate.domain.states import FINAL_STATES, MessageKind, MessageStatus, can_move
from textgate.store.sql import _render


def test_final_states_go_nowhere() -> None:
    for final in FINAL_STATES:
        assert not any(can_move(final, s) for s in MessageStatus)


def test_the_normal_path_and_retries() -> None:
    assert can_move(MessageStatus.QUEUED, MessageStatus.SENDING)
    assert can_move(MessageStatus.SENDING, MessageStatus.SUBMITTED)
    assert can_move(MessageStatus.SENDING, MessageStatus.QUEUED)
    assert can_move(MessageStatus.SUBMITTED, MessageStatus.DELIVERED)
    assert not can_move(MessageStatus.SUBMITTED, MessageStatus.QUEUED)
    assert not can_move(MessageStatus.QUEUED, MessageStatus.DELIVERED)


def test_verification_codes_go_first_bulk_last() -> None:
    order = sorted(MessageKind, key=lambda k: k.priority)
    assert order == [MessageKind.OTP, MessageKind.SMS, MessageKind.BULK]


def test_placeholders_follow_the_driver() -> None:
    sql = "UPDATE t SET a = ? WHERE id = ? AND b = ?"
    assert _render(sql, "qmark") == sql
    assert _render(sql, "numeric_dollar") == "UPDATE t SET a = $1 WHERE id = $2 AND b = $3"
    assert _render(sql, "format") == "UPDATE t SET a = %s WHERE id = %s AND b = %s"
