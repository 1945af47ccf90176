"""SMS text: which encoding a message needs, how many segments it takes, its bytes.

A message goes as GSM 7-bit (GSM 03.38) when every character is in the default alphabet or
its extension table, otherwise as UCS-2 (UTF-16, so characters outside the BMP take two
units). One segment carries 160 septets or 70 units; a longer message is sent in parts of
153 septets or 67 units (the rest is the concatenation header). An extension character
(escape + code) and a UTF-16 surrogate pair are never cut between two parts, so a part may
carry one unit less than the limit.
"""

from __future__ import annotations

import enum
import functools
import re
from dataclasses import dataclass

from textgate.errors import InvalidText

MAX_SEGMENTS = 10

#: The GSM 03.38 default alphabet, indexed by septet (0x1B is the escape to the extension).
_GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
#: The extension table: each takes the escape septet and this code.
_GSM_EXTENSION = {
    "\f": 0x0A,
    "^": 0x14,
    "{": 0x28,
    "}": 0x29,
    "\\": 0x2F,
    "[": 0x3C,
    "~": 0x3D,
    "]": 0x3E,
    "|": 0x40,
    "€": 0x65,
}
_ESC = 0x1B

_TO_SEPTETS: dict[int, str] = {
    ord(ch): chr(code) for code, ch in enumerate(_GSM_BASIC) if code != _ESC
}
_TO_SEPTETS.update({ord(ch): f"\x1b{chr(code)}" for ch, code in _GSM_EXTENSION.items()})
_FROM_SEPTET = {code: ch for code, ch in enumerate(_GSM_BASIC) if code != _ESC}
_FROM_EXTENSION = {code: ch for ch, code in _GSM_EXTENSION.items()}

_gsm_chars = "".join(ch for ch in _GSM_BASIC if ch != "\x1b") + "".join(_GSM_EXTENSION)
#: Any character that GSM 7-bit cannot carry.
_NOT_GSM = re.compile(f"[^{re.escape(_gsm_chars)}]")
#: The characters that take two septets.
_EXTENSION = re.compile(f"[{re.escape(''.join(_GSM_EXTENSION))}]")
#: Characters outside the BMP: two UTF-16 units (a surrogate pair) each.
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")
#: A lone surrogate (a broken pair from the client): UTF-16 cannot carry it.
_SURROGATE = re.compile("[\ud800-\udfff]")
_EXTENSION_CHARS = frozenset(_GSM_EXTENSION)
_ASCII_BASIC = bytes(code for code in range(0x80) if code != _ESC and chr(code) in _GSM_BASIC)
_ASCII_EXTENSION = "".join(ch for ch in _GSM_EXTENSION if ch.isascii()).encode("ascii")

_GSM_SINGLE, _GSM_PART = 160, 153
_UCS2_SINGLE, _UCS2_PART = 70, 67


class Encoding(enum.StrEnum):
    #: GSM 03.38 default alphabet and extension table, 7 bits a character (data_coding 0).
    GSM7 = "gsm7"
    #: UTF-16 big-endian, 16 bits a unit; astral characters take two (data_coding 8).
    UCS2 = "ucs2"


@dataclass(frozen=True, slots=True)
class TextInfo:
    encoding: Encoding
    #: Septets for GSM7 (extension characters count 2), UTF-16 code units for UCS2.
    units: int
    segments: int


#: Records are immutable and few (the segment limit bounds `units`): share them, as building
#: a frozen dataclass costs more than the rest of `analyze` for a short text.
_text_info = functools.cache(TextInfo)


def analyze(text: str) -> TextInfo:
    """The encoding, size and segment count of `text`; `InvalidText` if it is empty, holds
    a character no SMS can carry (a lone surrogate, NUL) or needs more than `MAX_SEGMENTS`
    segments."""
    if not text:
        raise InvalidText("The message text is empty")
    gsm, doubles = _gsm_doubles(text)
    if gsm:
        encoding, single, part = Encoding.GSM7, _GSM_SINGLE, _GSM_PART
    else:
        if _SURROGATE.search(text) is not None:
            raise InvalidText("The message text contains an unpaired UTF-16 surrogate")
        if "\x00" in text:
            # No phone shows it, and PostgreSQL cannot store it in a text column.
            raise InvalidText("The message text contains a NUL character (U+0000)")
        encoding, single, part = Encoding.UCS2, _UCS2_SINGLE, _UCS2_PART
        doubles = len(_ASTRAL.findall(text))
    units = len(text) + doubles
    if units <= single:
        segments = 1
    elif doubles == 0:
        segments = -(-units // part)
    else:
        segments = len(_pack(text, part, gsm=gsm))
    _check_segments(segments)
    return _text_info(encoding, units, segments)


def split(text: str) -> list[str]:
    """The parts `text` is sent in: `[text]` when it fits in one segment. Same rules and
    errors as `analyze`."""
    info = analyze(text)
    if info.segments == 1:
        return [text]
    if info.encoding is Encoding.GSM7:
        return _pack(text, _GSM_PART, gsm=True)
    return _pack(text, _UCS2_PART, gsm=False)


def encode(text: str, encoding: Encoding) -> bytes:
    """The bytes of `text` in `encoding`: for GSM7 one unpacked septet a byte, extension
    characters as 0x1B and their code (SMPP data_coding 0); for UCS2 UTF-16-BE."""
    if encoding is Encoding.UCS2:
        return text.encode("utf-16-be")
    bad = _NOT_GSM.search(text)
    if bad is not None:
        raise ValueError(f"{bad.group()!r} at index {bad.start()} is not in the GSM 7-bit alphabet")
    return text.translate(_TO_SEPTETS).encode("ascii")


def decode(data: bytes, encoding: Encoding) -> str:
    """The text of `data` in `encoding`, as `encode` writes it (and SMPP data_coding 0 or 8
    carries it). An escape before an unknown code reads as a space, as GSM 03.38 says."""
    if encoding is Encoding.UCS2:
        return data.decode("utf-16-be")
    chars: list[str] = []
    escaped = False
    for byte in data:
        if byte > 0x7F:
            raise ValueError(f"byte 0x{byte:02X} is not a GSM 7-bit septet")
        if escaped:
            chars.append(_FROM_EXTENSION.get(byte, " "))
            escaped = False
        elif byte == _ESC:
            escaped = True
        else:
            chars.append(_FROM_SEPTET[byte])
    if escaped:
        chars.append(" ")
    return "".join(chars)


def _gsm_doubles(text: str) -> tuple[bool, int]:
    """Whether GSM 7-bit can carry `text`, and how many extension characters it has."""
    if text.isascii():
        # The common case, in C loops: drop the one-septet characters, then the others.
        rest = text.encode("ascii").translate(None, _ASCII_BASIC)
        if not rest:
            return True, 0
        if not rest.translate(None, _ASCII_EXTENSION):
            return True, len(rest)
        return False, 0
    if _NOT_GSM.search(text) is not None:
        return False, 0
    return True, len(_EXTENSION.findall(text))


def _check_segments(segments: int) -> None:
    if segments > MAX_SEGMENTS:
        raise InvalidText(
            f"The message text is too long: it would take {segments} SMS segments "
            f"and the limit is {MAX_SEGMENTS}"
        )


def _pack(text: str, capacity: int, *, gsm: bool) -> list[str]:
    """`text` cut greedily into parts of at most `capacity` units, where extension
    characters (GSM7) or astral ones (UCS2) take two units and are never cut."""
    parts: list[str] = []
    start = used = 0
    for index, ch in enumerate(text):
        wide = ch in _EXTENSION_CHARS if gsm else ch > "\uffff"
        size = 2 if wide else 1
        if used + size > capacity:
            parts.append(text[start:index])
            start, used = index, 0
        used += size
    parts.append(text[start:])
    return parts
