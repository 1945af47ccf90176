"""SMPP 3.4 PDUs as bytes: the header, the bodies we send and the bodies we read.

Only what an ESME that submits and receives short messages needs: bind, submit_sm,
deliver_sm, enquire_link, unbind and their responses, generic_nack, and TLVs. C-octet
strings are ASCII on the way out and read as Latin-1, which never fails.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

HEADER = struct.Struct(">IIII")
HEADER_LENGTH = HEADER.size
#: The largest PDU we read: a 64 KiB message_payload and the rest of a deliver_sm.
MAX_LENGTH = 0x10000 + 1024
INTERFACE_VERSION = 0x34
RESPONSE_BIT = 0x80000000


class PduError(ValueError):
    """Bytes that are not a well-formed PDU."""


class Command(enum.IntEnum):
    GENERIC_NACK = 0x80000000
    BIND_RECEIVER = 0x00000001
    BIND_RECEIVER_RESP = 0x80000001
    BIND_TRANSMITTER = 0x00000002
    BIND_TRANSMITTER_RESP = 0x80000002
    SUBMIT_SM = 0x00000004
    SUBMIT_SM_RESP = 0x80000004
    DELIVER_SM = 0x00000005
    DELIVER_SM_RESP = 0x80000005
    UNBIND = 0x00000006
    UNBIND_RESP = 0x80000006
    BIND_TRANSCEIVER = 0x00000009
    BIND_TRANSCEIVER_RESP = 0x80000009
    ENQUIRE_LINK = 0x00000015
    ENQUIRE_LINK_RESP = 0x80000015


class Status(enum.IntEnum):
    """command_status values of SMPP 3.4 (and the few of 5.0 that SMSCs send)."""

    ESME_ROK = 0x00
    ESME_RINVMSGLEN = 0x01
    ESME_RINVCMDLEN = 0x02
    ESME_RINVCMDID = 0x03
    ESME_RINVBNDSTS = 0x04
    ESME_RALYBND = 0x05
    ESME_RINVPRTFLG = 0x06
    ESME_RINVREGDLVFLG = 0x07
    ESME_RSYSERR = 0x08
    ESME_RINVSRCADR = 0x0A
    ESME_RINVDSTADR = 0x0B
    ESME_RINVMSGID = 0x0C
    ESME_RBINDFAIL = 0x0D
    ESME_RINVPASWD = 0x0E
    ESME_RINVSYSID = 0x0F
    ESME_RCANCELFAIL = 0x11
    ESME_RREPLACEFAIL = 0x13
    ESME_RMSGQFUL = 0x14
    ESME_RINVSERTYP = 0x15
    ESME_RINVNUMDESTS = 0x33
    ESME_RINVDLNAME = 0x34
    ESME_RINVDESTFLAG = 0x40
    ESME_RINVSUBREP = 0x42
    ESME_RINVESMCLASS = 0x43
    ESME_RCNTSUBDL = 0x44
    ESME_RSUBMITFAIL = 0x45
    ESME_RINVSRCTON = 0x48
    ESME_RINVSRCNPI = 0x49
    ESME_RINVDSTTON = 0x50
    ESME_RINVDSTNPI = 0x51
    ESME_RINVSYSTYP = 0x53
    ESME_RINVREPFLAG = 0x54
    ESME_RINVNUMMSGS = 0x55
    ESME_RTHROTTLED = 0x58
    ESME_RINVSCHED = 0x61
    ESME_RINVEXPIRY = 0x62
    ESME_RINVDFTMSGID = 0x63
    ESME_RX_T_APPN = 0x64
    ESME_RX_P_APPN = 0x65
    ESME_RX_R_APPN = 0x66
    ESME_RQUERYFAIL = 0x67
    ESME_RINVOPTPARSTREAM = 0xC0
    ESME_ROPTPARNOTALLWD = 0xC1
    ESME_RINVPARLEN = 0xC2
    ESME_RMISSINGOPTPARAM = 0xC3
    ESME_RINVOPTPARAMVAL = 0xC4
    ESME_RDELIVERYFAILURE = 0xFE
    ESME_RUNKNOWNERR = 0xFF
    ESME_RSERTYPUNAUTH = 0x100
    ESME_RPROHIBITED = 0x101
    ESME_RSERTYPUNAVAIL = 0x102
    ESME_RSERTYPDENIED = 0x103
    ESME_RINVDCS = 0x104


def status_name(code: int) -> str:
    """The name of a command_status ("ESME_RINVDSTADR" for 0x0B), or its hex code."""
    try:
        return Status(code).name
    except ValueError:
        return f"0x{code:08X}"


class Tag(enum.IntEnum):
    """TLV tags we write or read."""

    SAR_MSG_REF_NUM = 0x020C
    SAR_TOTAL_SEGMENTS = 0x020E
    SAR_SEGMENT_SEQNUM = 0x020F
    RECEIPTED_MESSAGE_ID = 0x001E
    NETWORK_ERROR_CODE = 0x0423
    MESSAGE_PAYLOAD = 0x0424
    MESSAGE_STATE = 0x0427


#: esm_class bits: the UDH indicator, and the message type "SMSC delivery receipt".
ESM_UDHI = 0x40
ESM_RECEIPT = 0x04
ESM_TYPE_MASK = 0x3C


@dataclass(frozen=True, slots=True)
class Pdu:
    command_id: int
    status: int
    sequence: int
    body: bytes = b""

    @property
    def is_response(self) -> bool:
        return bool(self.command_id & RESPONSE_BIT)

    def encode(self) -> bytes:
        length = HEADER_LENGTH + len(self.body)
        return HEADER.pack(length, self.command_id, self.status, self.sequence) + self.body


def parse_header(data: bytes) -> tuple[int, int, int, int]:
    """(command_length, command_id, command_status, sequence_number) of a 16-byte header."""
    length, command_id, status, sequence = HEADER.unpack(data)
    if not HEADER_LENGTH <= length <= MAX_LENGTH:
        raise PduError(f"command_length {length} is out of range")
    return length, command_id, status, sequence


def cstring(value: str, max_octets: int) -> bytes:
    """A C-octet string of at most `max_octets` octets including the NUL."""
    data = value.encode("ascii")
    if len(data) >= max_octets:
        raise PduError(f"{value!r} is longer than {max_octets - 1} characters")
    return data + b"\0"


def tlv(tag: int, value: bytes) -> bytes:
    return struct.pack(">HH", tag, len(value)) + value


def bind_body(
    system_id: str,
    password: str,
    system_type: str,
    *,
    addr_ton: int = 0,
    addr_npi: int = 0,
    address_range: str = "",
) -> bytes:
    return b"".join(
        (
            cstring(system_id, 16),
            cstring(password, 9),
            cstring(system_type, 13),
            bytes((INTERFACE_VERSION, addr_ton, addr_npi)),
            cstring(address_range, 41),
        )
    )


@dataclass(frozen=True, slots=True)
class ShortMessage:
    """The body of a submit_sm or deliver_sm (they share one layout)."""

    source_addr: str
    destination_addr: str
    short_message: bytes = b""
    source_ton: int = 0
    source_npi: int = 0
    dest_ton: int = 0
    dest_npi: int = 0
    service_type: str = ""
    esm_class: int = 0
    protocol_id: int = 0
    priority_flag: int = 0
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    replace_if_present: int = 0
    data_coding: int = 0
    sm_default_msg_id: int = 0
    tlvs: tuple[tuple[int, bytes], ...] = ()

    def encode(self) -> bytes:
        if len(self.short_message) > 254:
            raise PduError("short_message is longer than 254 octets")
        return b"".join(
            (
                cstring(self.service_type, 6),
                bytes((self.source_ton, self.source_npi)),
                cstring(self.source_addr, 21),
                bytes((self.dest_ton, self.dest_npi)),
                cstring(self.destination_addr, 21),
                bytes((self.esm_class, self.protocol_id, self.priority_flag)),
                cstring(self.schedule_delivery_time, 17),
                cstring(self.validity_period, 17),
                bytes(
                    (
                        self.registered_delivery,
                        self.replace_if_present,
                        self.data_coding,
                        self.sm_default_msg_id,
                        len(self.short_message),
                    )
                ),
                self.short_message,
                *(tlv(tag, value) for tag, value in self.tlvs),
            )
        )

    def tlv(self, tag: int) -> bytes | None:
        """The value of the first TLV with this tag, if there is one."""
        return next((value for t, value in self.tlvs if t == tag), None)

    @classmethod
    def decode(cls, body: bytes) -> ShortMessage:
        reader = _Reader(body)
        service_type = reader.cstring()
        source_ton, source_npi = reader.octet(), reader.octet()
        source_addr = reader.cstring()
        dest_ton, dest_npi = reader.octet(), reader.octet()
        destination_addr = reader.cstring()
        esm_class, protocol_id, priority_flag = reader.octet(), reader.octet(), reader.octet()
        schedule_delivery_time, validity_period = reader.cstring(), reader.cstring()
        registered_delivery, replace_if_present = reader.octet(), reader.octet()
        data_coding, sm_default_msg_id = reader.octet(), reader.octet()
        short_message = reader.take(reader.octet())
        return cls(
            source_addr=source_addr,
            destination_addr=destination_addr,
            short_message=short_message,
            source_ton=source_ton,
            source_npi=source_npi,
            dest_ton=dest_ton,
            dest_npi=dest_npi,
            service_type=service_type,
            esm_class=esm_class,
            protocol_id=protocol_id,
            priority_flag=priority_flag,
            schedule_delivery_time=schedule_delivery_time,
            validity_period=validity_period,
            registered_delivery=registered_delivery,
            replace_if_present=replace_if_present,
            data_coding=data_coding,
            sm_default_msg_id=sm_default_msg_id,
            tlvs=reader.tlvs(),
        )


def message_id(body: bytes) -> str:
    """The message_id of a submit_sm_resp (empty when an error response has no body)."""
    return body.split(b"\0", 1)[0].decode("latin-1")


def udh_concat(ref: int, total: int, seq: int) -> bytes:
    """The 6-octet concatenation UDH: IE 00 (8-bit reference), length 3."""
    return bytes((0x05, 0x00, 0x03, ref & 0xFF, total, seq))


class _Reader:
    def __init__(self, data: bytes) -> None:
        self._data = data
        self._at = 0

    def octet(self) -> int:
        return self.take(1)[0]

    def take(self, count: int) -> bytes:
        end = self._at + count
        if end > len(self._data):
            raise PduError("body ends inside a field")
        chunk = self._data[self._at : end]
        self._at = end
        return chunk

    def cstring(self) -> str:
        end = self._data.find(b"\0", self._at)
        if end < 0:
            raise PduError("C-octet string without its NUL")
        value = self._data[self._at : end].decode("latin-1")
        self._at = end + 1
        return value

    def tlvs(self) -> tuple[tuple[int, bytes], ...]:
        found: list[tuple[int, bytes]] = []
        while self._at < len(self._data):
            tag, length = struct.unpack(">HH", self.take(4))
            found.append((tag, self.take(length)))
        return tuple(found)
