"""Masking and redaction (domain/privacy.py): no applicant id or query code survives,
whatever shape the record arrives in."""

from __future__ import annotations

import re
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.privacy import REDACTED, mask_name, redact_raw, redact_record, scrub

# Secrets come from an alphabet the rest of a generated record never uses, so a
# surviving fragment of one can be told from a coincidence.
SECRET_ALPHABET = "QZ0123456789X"
secrets = st.text(alphabet=SECRET_ALPHABET, min_size=6, max_size=24).map(lambda s: "QZ" + s)
other_text = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cs",), blacklist_characters=SECRET_ALPHABET + "QZ"
    ),
    max_size=12,
)
plain = st.one_of(st.none(), st.booleans(), st.integers(-1000, 1000), other_text)
names = st.text(min_size=0, max_size=30)


def _fits(digits: str) -> bool:
    return digits.isascii() and digits.isdigit() and int(digits) < 2**63


@st.composite
def records(draw: st.DrawFn) -> tuple[dict[str, Any], list[str]]:
    found: list[str] = []
    record: dict[str, Any] = {
        draw(other_text.filter(lambda k: k not in ("applicant_id", "query_code"))): draw(plain)
        for _ in range(draw(st.integers(0, 4)))
    }
    for key in ("applicant_id", "query_code"):
        if draw(st.booleans()):
            value = draw(secrets)
            found.append(value)
            # ids arrive as strings, query codes sometimes as numbers
            # (a number as JSON carries it: at most 64 bits)
            digits = value[2:]
            as_number = key == "query_code" and draw(st.booleans()) and _fits(digits)
            record[key] = int(digits) if as_number else value
            if as_number:
                found[-1] = digits
    if draw(st.booleans()):
        record["applicant_name"] = draw(names)
    if draw(st.booleans()):
        inner = draw(secrets)
        found.append(inner)
        record["nested"] = [{"applicant_id": inner, "n": draw(plain)}]
    return record, found


_SECRET_RUN = re.compile(rb"[QZX0-9]{5,}")


def _leaks(out: bytes, values: list[str], *, min_len: int = 6) -> list[bytes]:
    """Whole secrets, and any run of five secret characters: nothing else in a
    generated record is written with them (other numbers have at most four digits)."""
    whole = [v.encode() for v in values if len(v) >= min_len and v.encode() in out]
    return whole + _SECRET_RUN.findall(out)


def test_mask_name_shows_only_the_first_character() -> None:
    assert mask_name("张三") == "张*"
    assert mask_name("张三丰") == "张**"
    assert mask_name("Acme Trading Co").startswith("A*")
    assert set(mask_name("Acme Trading Co")[1:]) == {"*"}
    assert mask_name("") == ""
    assert mask_name("   ") == ""
    assert mask_name(" 李 ") == "李"


@given(names)
def test_mask_name_never_reveals_more_than_one_character(name: str) -> None:
    masked = mask_name(name)
    stripped = name.strip()
    assert masked == "" if not stripped else masked[0] == stripped[0]
    assert set(masked[1:]) <= {"*"}
    assert len(masked) <= 1 + 6


@given(records())
def test_redact_record_replaces_every_secret(case: tuple[dict[str, Any], list[str]]) -> None:
    record, found = case
    out = orjson.dumps(redact_record(record))
    assert _leaks(out, found) == []
    assert redact_record(record).get("applicant_id", REDACTED) == REDACTED


@given(records())
def test_redact_raw_of_json_masks_name_and_keeps_other_fields(
    case: tuple[dict[str, Any], list[str]],
) -> None:
    record, found = case
    out = redact_raw(orjson.dumps(record))
    assert _leaks(out, found) == []
    back = orjson.loads(out)
    if "applicant_name" in record:
        assert back["applicant_name"] == mask_name(record["applicant_name"])
    name = str(record.get("applicant_name") or "").strip()
    for key, value in record.items():
        if key not in ("applicant_id", "query_code", "applicant_name", "nested"):
            # a field repeating the applicant's name is redacted too
            repeats = bool(name) and isinstance(value, str) and name in value
            assert back[key] == value or repeats


def test_redact_raw_replaces_the_records_own_secrets_wherever_they_are_repeated() -> None:
    record = {
        "applicant_id": "441900200111241463",
        "applicant_name": "叶秀涵",
        "note": "id 441900200111241463 of 叶秀涵",
        "days": [441900200111241463],
        "query_code": "496904",
        "content": "code 496904",
    }
    out = redact_raw(orjson.dumps(record))
    for secret in (b"441900200111241463", "叶秀涵".encode(), b"496904"):
        assert secret not in out
    assert orjson.loads(out)["applicant_name"] == "叶**"
    broken = orjson.dumps(record)[:-1] + b"\xff"
    assert b"441900200111241463" not in redact_raw(broken)
    assert "叶秀涵".encode() not in redact_raw(broken)


@st.composite
def broken(draw: st.DrawFn) -> tuple[bytes, list[str]]:
    """A record's bytes spoiled the ways hall systems spoil them."""
    record, found = draw(records())
    raw = orjson.dumps(record)
    how = draw(st.sampled_from(["truncate", "bad_utf8", "no_brace", "garbage", "spaces"]))
    if how == "truncate":
        cut = draw(st.integers(0, len(raw)))
        raw = raw[:cut]
        # only the part of each secret still present can leak
        text = raw.decode("utf-8", errors="replace")
        found = [v[: max(i for i in range(len(v) + 1) if v[:i] in text)] for v in found]
    elif how == "bad_utf8":
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80"])) + raw[at:]
    elif how == "no_brace":
        raw = raw[:-1]
    elif how == "garbage":
        raw = raw + b", }}\x00"
    else:
        raw = raw.replace(b'":', b'" \t: ')
    return raw, found


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(broken())
def test_redact_raw_of_broken_bytes_never_leaks(case: tuple[bytes, list[str]]) -> None:
    raw, found = case
    out = redact_raw(raw)
    # bytes inserted inside a secret split it; neither piece may survive
    assert _leaks(out, found) == []


def test_redact_raw_of_invalid_bytes_inside_a_value() -> None:
    raw = b'{"applicant_id": "4419\xff00200111241463", "query_code": 496904, '
    raw += b'"applicant_name": "\xe5'
    out = redact_raw(raw)
    assert b"4419" not in out and b"496904" not in out and b"00200111241463" not in out


def test_redact_raw_of_records_too_deep_to_reencode() -> None:
    raw = b"[" * 400 + b'{"applicant_id": "441900200111241463"}' + b"]" * 400
    assert b"441900200111241463" not in redact_raw(raw)


def test_redact_raw_of_huge_numbers_and_escaped_keys() -> None:
    big = b'{"query_code": 12345678901234567890123456789, "applicant_id": "x"}'
    assert b"12345678901234567890123456789" not in redact_raw(big)
    escaped = b'{"applicant\\u005fid": "441900200111241463"}'
    assert b"441900200111241463" not in redact_raw(escaped)


def test_scrub_keeps_a_records_own_secrets_out_of_a_reason() -> None:
    raw = '{"applicant_id": "441900200111241463", "query_code": "496904", "applicant_name": "叶秀'
    raw_bytes = raw.encode()
    reason = "applicant_id '441900200111241463' is not an id; code 496904; name 叶秀"
    out = scrub(reason, raw_bytes)
    assert "441900200111241463" not in out and "496904" not in out and "叶秀" not in out
