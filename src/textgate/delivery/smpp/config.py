"""The settings of one SMPP provider, read and checked from its `[providers.NAME]` table."""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields


class BindMode(enum.StrEnum):
    #: One session per bind that both submits and receives receipts.
    TRANSCEIVER = "transceiver"
    #: Two sessions per bind: a transmitter for submits and a receiver for receipts.
    TRANSMITTER_RECEIVER = "transmitter_receiver"


#: Type of number / numbering plan of a sender id (SMPP 3.4 section 5.2.5, 5.2.6).
TON_INTERNATIONAL, TON_NETWORK_SPECIFIC, TON_ALPHANUMERIC = 1, 3, 5
NPI_UNKNOWN, NPI_ISDN = 0, 1
#: Digit-only sender ids up to this long are short codes.
SHORT_CODE_MAX = 8


def sender_address(sender: str) -> tuple[int, int, str]:
    """(TON, NPI, address) for a sender id: alphanumeric 5/0, short code 3/0, international
    digits 1/1 (the "+" dropped). `ValueError` for one SMPP cannot carry."""
    digits = sender.removeprefix("+")
    if digits.isascii() and digits.isdigit():
        if not sender.startswith("+") and len(digits) <= SHORT_CODE_MAX:
            return TON_NETWORK_SPECIFIC, NPI_UNKNOWN, digits
        if len(digits) > 15:
            raise ValueError(f"sender {sender!r} has more than 15 digits")
        return TON_INTERNATIONAL, NPI_ISDN, digits
    if not sender or len(sender) > 11 or not sender.isascii() or not sender.isprintable():
        raise ValueError(
            f"sender {sender!r} is neither a phone number, a short code nor an alphanumeric "
            "id of 1 to 11 printable ASCII characters"
        )
    return TON_ALPHANUMERIC, NPI_UNKNOWN, sender


@dataclass(frozen=True, slots=True)
class SmppConfig:
    name: str
    host: str
    system_id: str
    password: str = field(repr=False)
    port: int = 2775
    system_type: str = ""
    #: The default sender id; a message's own `sender` wins.
    source_addr: str = ""
    #: Override the TON/NPI derived from `source_addr`.
    source_ton: int | None = None
    source_npi: int | None = None
    service_type: str = ""
    bind_mode: BindMode = BindMode.TRANSCEIVER
    #: address_range of a receiver bind (which destinations' messages we take).
    address_range: str = ""
    #: submit_sm sent and not yet answered, at most, per bind.
    window: int = 10
    #: submit_sm PDUs a second across all binds; 0 = no cap.
    throughput: float = 0.0
    binds: int = 1
    #: Seconds of silence before we send enquire_link.
    enquire_link_interval: float = 30.0
    #: Seconds to wait for a bind_resp, an enquire_link_resp or the TCP connect.
    response_timeout: float = 10.0
    #: Seconds to wait for a submit_sm_resp before the submit counts as failed (transient).
    submit_timeout: float = 30.0
    #: Reconnect backoff: first delay, cap, factor between tries (with up to 25% jitter).
    reconnect_initial: float = 1.0
    reconnect_max: float = 30.0
    reconnect_factor: float = 2.0
    #: Seconds `submit` waits for a bind to come up before it raises TransientError.
    bind_wait: float = 2.0
    #: Long messages in one submit_sm with the message_payload TLV instead of UDH parts.
    use_message_payload: bool = False
    #: 1 = ask for a final delivery receipt; 0 = none.
    registered_delivery: int = 1
    #: retry_after hints for ESME_RTHROTTLED and ESME_RMSGQFUL. After ESME_RTHROTTLED
    #: every new submit of the provider also waits that long (the sender slows down).
    throttled_retry_after: float = 1.0
    queue_full_retry_after: float = 10.0
    #: Seconds `stop` waits for in-flight submits to be answered before it unbinds.
    stop_timeout: float = 5.0
    #: Seconds the parts of a long inbound message wait for the rest (from the first part);
    #: then what came is stored with a marker for each missing part.
    concat_timeout: float = 60.0
    #: Long inbound messages waiting for parts, at most; the oldest is stored as it is.
    concat_max_groups: int = 1000

    @property
    def source(self) -> tuple[int, int, str]:
        """(TON, NPI, address) of the default sender."""
        if not self.source_addr:
            return 0, 0, ""
        ton, npi, addr = sender_address(self.source_addr)
        return (
            ton if self.source_ton is None else self.source_ton,
            npi if self.source_npi is None else self.source_npi,
            addr,
        )

    @classmethod
    def from_mapping(cls, name: str, data: Mapping[str, object]) -> SmppConfig:
        """Read a `[providers.NAME]` table; `ValueError` naming the key that is wrong."""
        where = f"[providers.{name}]"
        known = {f.name for f in fields(cls)} - {"name"}
        unknown = sorted(set(data) - known - {"type"})
        if unknown:
            raise ValueError(
                f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(known))}"
            )
        if data.get("type", "smpp") != "smpp":
            raise ValueError(f"{where}: type must be 'smpp', not {data['type']!r}")
        get = _Getter(where, data)
        config = cls(
            name=name,
            host=get.text("host", required=True, min_length=1),
            port=get.integer("port", 2775, low=1, high=65535),
            system_id=get.text("system_id", required=True, min_length=1, max_length=15),
            password=get.text("password", required=True, max_length=8),
            system_type=get.text("system_type", max_length=12),
            source_addr=get.text("source_addr"),
            source_ton=get.optional_integer("source_ton", low=0, high=6),
            source_npi=get.optional_integer("source_npi", low=0, high=18),
            service_type=get.text("service_type", max_length=5),
            bind_mode=get.choice("bind_mode", BindMode, BindMode.TRANSCEIVER),
            address_range=get.text("address_range", max_length=40),
            window=get.integer("window", 10, low=1, high=1000),
            throughput=get.number("throughput", 0.0, low=0.0),
            binds=get.integer("binds", 1, low=1, high=64),
            enquire_link_interval=get.number("enquire_link_interval", 30.0, low=0.1),
            response_timeout=get.number("response_timeout", 10.0, low=0.1),
            submit_timeout=get.number("submit_timeout", 30.0, low=0.1),
            reconnect_initial=get.number("reconnect_initial", 1.0, low=0.01),
            reconnect_max=get.number("reconnect_max", 30.0, low=0.01),
            reconnect_factor=get.number("reconnect_factor", 2.0, low=1.0),
            bind_wait=get.number("bind_wait", 2.0, low=0.0),
            use_message_payload=get.boolean("use_message_payload", False),
            registered_delivery=get.integer("registered_delivery", 1, low=0, high=255),
            throttled_retry_after=get.number("throttled_retry_after", 1.0, low=0.0),
            queue_full_retry_after=get.number("queue_full_retry_after", 10.0, low=0.0),
            stop_timeout=get.number("stop_timeout", 5.0, low=0.0),
            concat_timeout=get.number("concat_timeout", 60.0, low=0.01),
            concat_max_groups=get.integer("concat_max_groups", 1000, low=1, high=1_000_000),
        )
        for key in ("host", "system_id", "password", "system_type", "address_range"):
            if not getattr(config, key).isascii():
                raise ValueError(f"{where}: {key} must be ASCII")
        if config.reconnect_max < config.reconnect_initial:
            raise ValueError(f"{where}: reconnect_max must be at least reconnect_initial")
        if config.source_addr:
            try:
                config.source  # noqa: B018 - checks the sender id
            except ValueError as err:
                raise ValueError(f"{where}: source_addr: {err}") from None
        return config


class _Getter:
    """Typed reads of one table, each error naming the table and the key."""

    def __init__(self, where: str, data: Mapping[str, object]) -> None:
        self._where = where
        self._data = data

    def _fail(self, key: str, wants: str) -> ValueError:
        shown = "the value given" if key == "password" else repr(self._data[key])
        return ValueError(f"{self._where}: {key} must be {wants}, not {shown}")

    def text(
        self, key: str, *, required: bool = False, min_length: int = 0, max_length: int = 255
    ) -> str:
        if key not in self._data:
            if required:
                raise ValueError(f"{self._where}: {key} is required")
            return ""
        value = self._data[key]
        if not isinstance(value, str) or not min_length <= len(value) <= max_length:
            raise self._fail(key, f"a string of {min_length} to {max_length} characters")
        return value

    def optional_integer(self, key: str, *, low: int, high: int) -> int | None:
        return self._bounded_integer(key, low, high) if key in self._data else None

    def integer(self, key: str, default: int, *, low: int, high: int) -> int:
        return self._bounded_integer(key, low, high) if key in self._data else default

    def _bounded_integer(self, key: str, low: int, high: int) -> int:
        value = self._data[key]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self._fail(key, f"an integer from {low} to {high}")
        return value

    def number(self, key: str, default: float, *, low: float) -> float:
        value = self._data.get(key, default)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value < low
        ):
            raise self._fail(key, f"a number of at least {low}")
        return float(value)

    def boolean(self, key: str, default: bool) -> bool:
        value = self._data.get(key, default)
        if not isinstance(value, bool):
            raise self._fail(key, "true or false")
        return value

    def choice(self, key: str, kind: type[BindMode], default: BindMode) -> BindMode:
        value = self._data.get(key, default)
        if not isinstance(value, str) or value not in {member.value for member in kind}:
            raise self._fail(key, " or ".join(repr(member.value) for member in kind))
        return kind(value)
