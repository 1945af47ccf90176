"""What a deliver_sm says: a delivery receipt for one of our messages, or a message a
handset sent us.

Receipts carry the SMSC's message id and state in TLVs (receipted_message_id, message_state)
and/or in the receipt text of SMPP 3.4 appendix B:

    id:IIIIIIIIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm
    stat:DDDDDDD err:E text: ...

The TLVs win where both are present. Neither is matched to our messages here: the receipt
goes to the sink with the SMSC's id, and the store finds the message by that id.

A handset's message may come in parts: concat.py reads which part it is, inbox.py joins them.
"""

from __future__ import annotations

import re

from textgate.delivery.base import Receipt, ReceiptState
from textgate.delivery.smpp import pdu
from textgate.domain import text as sms_text

_STAT = {
    "DELIVRD": ReceiptState.DELIVERED,
    "DELIVERED": ReceiptState.DELIVERED,
    "UNDELIV": ReceiptState.UNDELIVERED,
    "UNDELIVERABLE": ReceiptState.UNDELIVERED,
    "DELETED": ReceiptState.UNDELIVERED,
    "EXPIRED": ReceiptState.EXPIRED,
    "REJECTD": ReceiptState.REJECTED,
    "REJECTED": ReceiptState.REJECTED,
    "ACCEPTD": ReceiptState.PENDING,
    "ACCEPTED": ReceiptState.PENDING,
    "ENROUTE": ReceiptState.PENDING,
    "UNKNOWN": ReceiptState.PENDING,
}
#: message_state TLV values (SMPP 3.4 section 5.2.28).
_MESSAGE_STATE = {
    1: ReceiptState.PENDING,  # ENROUTE
    2: ReceiptState.DELIVERED,
    3: ReceiptState.EXPIRED,
    4: ReceiptState.UNDELIVERED,  # DELETED
    5: ReceiptState.UNDELIVERED,
    6: ReceiptState.PENDING,  # ACCEPTED
    7: ReceiptState.PENDING,  # UNKNOWN
    8: ReceiptState.REJECTED,
}
_FIELD = re.compile(r"(?:^|\s)(id|sub|dlvrd|submit date|done date|stat|err|text):", re.IGNORECASE)
#: esm_class message types that report on a message we sent: an SMSC delivery receipt and an
#: intermediate delivery notification.
_RECEIPT_TYPES = frozenset({0x04, 0x20})


def is_receipt(message: pdu.ShortMessage) -> bool:
    return (message.esm_class & pdu.ESM_TYPE_MASK) in _RECEIPT_TYPES


def receipt_fields(receipt_text: str) -> dict[str, str]:
    """The `key:value` fields of a receipt text; keys lower case with "_" for spaces. The
    `text` field runs to the end, whatever it contains."""
    found: dict[str, str] = {}
    matches = list(_FIELD.finditer(receipt_text))
    for index, match in enumerate(matches):
        key = match.group(1).lower().replace(" ", "_")
        if key == "text":
            found[key] = receipt_text[match.end() :]
            break
        end = matches[index + 1].start() if index + 1 < len(matches) else len(receipt_text)
        found.setdefault(key, receipt_text[match.end() : end].strip())
    return found


def to_receipt(provider: str, message: pdu.ShortMessage) -> Receipt | None:
    """The receipt a deliver_sm carries; None when it names no message id."""
    body = message.tlv(pdu.Tag.MESSAGE_PAYLOAD) or message.short_message
    raw = receipt_fields(body.decode("latin-1"))
    receipted = message.tlv(pdu.Tag.RECEIPTED_MESSAGE_ID)
    if receipted is not None:
        raw["receipted_message_id"] = receipted.split(b"\0", 1)[0].decode("latin-1")
    state_tlv = message.tlv(pdu.Tag.MESSAGE_STATE)
    if state_tlv:
        raw["message_state"] = str(state_tlv[0])
    message_id = raw.get("receipted_message_id") or raw.get("id")
    if not message_id:
        return None
    state = ReceiptState.PENDING
    if state_tlv and state_tlv[0] in _MESSAGE_STATE:
        state = _MESSAGE_STATE[state_tlv[0]]
    elif "stat" in raw:
        state = _STAT.get(raw["stat"].upper(), ReceiptState.PENDING)
    return Receipt(
        provider=provider,
        provider_message_id=message_id,
        state=state,
        error_code=_error_code(raw, message.tlv(pdu.Tag.NETWORK_ERROR_CODE)),
        raw=raw,
    )


def decode_text(data_coding: int, body: bytes) -> str:
    """The text of a short message in `data_coding` (unknown codings read as Latin-1)."""
    if data_coding == 8:
        return body.decode("utf-16-be", errors="replace")
    gsm = data_coding == 0 or (data_coding & 0xF0 == 0xF0 and not data_coding & 0x04)
    if gsm:
        try:
            return sms_text.decode(body, sms_text.Encoding.GSM7)
        except ValueError:
            pass  # an SMSC whose default alphabet is not GSM 03.38
    return body.decode("latin-1")


def _error_code(raw: dict[str, str], network_error: bytes | None) -> str | None:
    err = raw.get("err", "")
    if err.strip("0"):
        return err
    if network_error is not None and len(network_error) == 3 and network_error[1:] != b"\0\0":
        return f"{network_error[0]}:{int.from_bytes(network_error[1:], 'big')}"
    return None


def stored_address(address: str, ton: int) -> str:
    """An SMPP address as we store it: international numbers (TON 1) with a "+"."""
    if ton == 1 and address.isdigit():
        return f"+{address}"
    return address
