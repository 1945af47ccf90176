from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from textgate.domain.text import (
    MAX_SEGMENTS,
    Encoding,
    TextInfo,
    analyze,
    decode,
    encode,
    split,
)
from textgate.errors import InvalidText

GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = "^{}\\[~]|€\f"


def test_alphabets_are_complete() -> None:
    assert len(GSM_BASIC) == 127  # 128 codes less the escape
    assert len(set(GSM_BASIC)) == 127


def test_short_plain_text() -> None:
    assert analyze("Your code is 123456") == TextInfo(Encoding.GSM7, 19, 1)


def test_every_gsm_character_is_gsm7() -> None:
    info = analyze(GSM_BASIC)
    assert (info.encoding, info.units) == (Encoding.GSM7, 127)


@pytest.mark.parametrize("ch", list(GSM_EXTENSION))
def test_extension_characters_count_two_septets(ch: str) -> None:
    info = analyze("a" + ch)
    assert (info.encoding, info.units) == (Encoding.GSM7, 3)


@pytest.mark.parametrize("ch", ["`", "ç", "á", "ő", "Ж", "\t", "\x01", "\x1b", "\x7f", "😀"])
def test_characters_outside_gsm_need_ucs2(ch: str) -> None:
    assert analyze("abc" + ch).encoding is Encoding.UCS2


@pytest.mark.parametrize(
    ("text", "units", "segments"),
    [
        ("a" * 160, 160, 1),
        ("a" * 161, 161, 2),
        ("a" * 153 * 2, 306, 2),
        ("a" * (153 * 2 + 1), 307, 3),
        ("a" * 153 * 10, 1530, 10),
        ("€" * 80, 160, 1),
        ("€" * 81, 162, 2),
        ("a" * 159 + "€", 161, 2),
    ],
)
def test_gsm7_segments(text: str, units: int, segments: int) -> None:
    assert analyze(text) == TextInfo(Encoding.GSM7, units, segments)


@pytest.mark.parametrize(
    ("text", "units", "segments"),
    [
        ("ж" * 70, 70, 1),
        ("ж" * 71, 71, 2),
        ("ж" * 67 * 2, 134, 2),
        ("ж" * (67 * 2 + 1), 135, 3),
        ("😀" * 35, 70, 1),
        ("😀" * 36, 72, 2),
    ],
)
def test_ucs2_segments(text: str, units: int, segments: int) -> None:
    assert analyze(text) == TextInfo(Encoding.UCS2, units, segments)


def test_extension_pair_is_not_split_across_parts() -> None:
    # 152 septets, then "€" (2): it does not fit in the first part's last septet.
    text = "a" * 152 + "€" + "b" * 10
    assert split(text) == ["a" * 152, "€" + "b" * 10]
    # 153 septets would fit in 2 parts if pairs could be cut; whole pairs need 3.
    assert analyze("€" * 153).segments == 3
    assert [len(part) for part in split("€" * 153)] == [76, 76, 1]


def test_surrogate_pair_is_not_split_across_parts() -> None:
    text = "ж" * 66 + "😀" + "ж" * 10
    assert split(text) == ["ж" * 66, "😀" + "ж" * 10]
    assert analyze(text) == TextInfo(Encoding.UCS2, 78, 2)


def test_one_part_when_it_fits() -> None:
    assert split("hello") == ["hello"]
    assert split("a" * 160) == ["a" * 160]


def test_split_plain_text() -> None:
    text = "x" * 400
    assert split(text) == ["x" * 153, "x" * 153, "x" * 94]


def test_empty_text_refused() -> None:
    with pytest.raises(InvalidText, match="The message text is empty"):
        analyze("")
    with pytest.raises(InvalidText):
        split("")


@pytest.mark.parametrize(
    ("text", "segments"),
    [("a" * (153 * 10 + 1), 11), ("ж" * (67 * 10 + 1), 11), ("€" * 800, 11)],
)
def test_too_many_segments_refused(text: str, segments: int) -> None:
    with pytest.raises(InvalidText) as caught:
        analyze(text)
    assert f"{segments} SMS segments" in caught.value.message
    assert f"limit is {MAX_SEGMENTS}" in caught.value.message
    with pytest.raises(InvalidText):
        split(text)


def test_lone_surrogate_refused() -> None:
    with pytest.raises(InvalidText, match="surrogate"):
        analyze("abc\ud83d")


@pytest.mark.parametrize("text", ["\x00", "abc\x00", "ж\x00ж", "a" * 2000 + "\x00"])
def test_nul_refused(text: str) -> None:
    with pytest.raises(InvalidText, match="NUL"):
        analyze(text)


def test_encode_gsm7_known_septets() -> None:
    assert encode("@£$A", Encoding.GSM7) == bytes([0x00, 0x01, 0x02, 0x41])
    assert encode("a€b", Encoding.GSM7) == bytes([0x61, 0x1B, 0x65, 0x62])
    assert encode("{}", Encoding.GSM7) == bytes([0x1B, 0x28, 0x1B, 0x29])
    assert encode("Ç¤", Encoding.GSM7) == bytes([0x09, 0x24])


def test_encode_ucs2_is_utf16_be() -> None:
    assert encode("ж", Encoding.UCS2) == b"\x04\x36"
    assert encode("😀", Encoding.UCS2) == b"\xd8\x3d\xde\x00"


def test_encode_gsm7_refuses_other_characters() -> None:
    with pytest.raises(ValueError, match="GSM 7-bit"):
        encode("ok ж", Encoding.GSM7)


def test_round_trip_every_gsm_character() -> None:
    text = GSM_BASIC + GSM_EXTENSION
    data = encode(text, Encoding.GSM7)
    assert len(data) == analyze(text).units
    assert max(data) < 0x80
    assert decode(data, Encoding.GSM7) == text


def test_decode_gsm7_unknown_escape_reads_as_space() -> None:
    assert decode(bytes([0x61, 0x1B, 0x01, 0x62]), Encoding.GSM7) == "a b"
    with pytest.raises(ValueError, match="septet"):
        decode(b"\x80", Encoding.GSM7)


GSM_ALL = frozenset(GSM_BASIC + GSM_EXTENSION)

gsm_text = st.text(alphabet=GSM_BASIC + GSM_EXTENSION, min_size=1, max_size=1600)
any_text = st.text(alphabet=st.characters(exclude_categories=["Cs"]), min_size=1, max_size=800)
mixed_text = st.text(alphabet=st.sampled_from("ab€{😀ж"), min_size=1, max_size=800)


def _expected(text: str) -> TextInfo:
    """The rules, spelt out one character at a time."""
    gsm = all(c in GSM_ALL for c in text)
    if gsm:
        weights = [2 if c in GSM_EXTENSION else 1 for c in text]
        single, part = 160, 153
    else:
        weights = [2 if ord(c) > 0xFFFF else 1 for c in text]
        single, part = 70, 67
    units = sum(weights)
    segments, used = 1, 0
    if units > single:
        for weight in weights:
            if used + weight > part:
                segments, used = segments + 1, 0
            used += weight
    return TextInfo(Encoding.GSM7 if gsm else Encoding.UCS2, units, segments)


def _units(part: str, encoding: Encoding) -> int:
    if encoding is Encoding.GSM7:
        return len(encode(part, encoding))
    return len(part.encode("utf-16-le")) // 2


@settings(max_examples=300, database=None)
@given(st.one_of(gsm_text, any_text, mixed_text))
def test_analyze_and_split_follow_the_rules(text: str) -> None:
    if "\x00" in text:
        with pytest.raises(InvalidText, match="NUL"):
            analyze(text)
        return
    expected = _expected(text)
    if expected.segments > MAX_SEGMENTS:
        with pytest.raises(InvalidText, match=f"{expected.segments} SMS segments"):
            analyze(text)
        return
    info = analyze(text)
    assert info == expected
    parts = split(text)
    assert "".join(parts) == text
    assert len(parts) == info.segments
    assert sum(_units(p, info.encoding) for p in parts) == info.units
    gsm = info.encoding is Encoding.GSM7
    limit = (160 if gsm else 70) if len(parts) == 1 else (153 if gsm else 67)
    assert all(0 < _units(p, info.encoding) <= limit for p in parts)
    # Greedy: each part but the last is full, but for one unit when a pair did not fit.
    assert all(_units(p, info.encoding) >= limit - 1 for p in parts[:-1])


@settings(max_examples=200, database=None)
@given(st.one_of(gsm_text, any_text, mixed_text))
def test_encode_round_trips(text: str) -> None:
    encoding = Encoding.GSM7 if all(c in GSM_ALL for c in text) else Encoding.UCS2
    data = encode(text, encoding)
    assert decode(data, encoding) == text
    if encoding is Encoding.GSM7:
        assert len(data) == _expected(text).units
