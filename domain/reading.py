"""Reading an intake record: its text checked and parsed, its envelope built.

Nothing a record holds may stop a batch: every way raw bytes can be wrong
(size, encoding, JSON, duplicate keys, times, reserved sources) becomes an
``InvalidRecord`` with a reason naming the input (docs/intake.md).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import orjson

from domain.chain import ChainKey
from domain.errors import InvalidRecord
from domain.model import RecordContext

MAX_RECORD_BYTES = 64 * 1024
"""A record over this size is refused before it is parsed (a record is a few hundred bytes)."""

_BOM = b"\xef\xbb\xbf"
_SPACED = re.compile(rb'"\s')
"""Every key ends ``":`` unless space follows its quote: when none does, counting ``":``
(string values may add some, never hide one) tells a record without duplicate keys."""


def parse_record(raw: bytes | str | Mapping[str, Any]) -> dict[str, Any]:
    # bytes and str first: the Mapping check is an ABC check, slow for what is not one
    if not isinstance(raw, (bytes, str)) and isinstance(raw, Mapping):
        return dict(raw)
    if isinstance(raw, str):
        try:
            raw = raw.encode()
        except UnicodeEncodeError as e:
            raise InvalidRecord(
                f"not valid text: a lone surrogate at character {e.start}"
            ) from None
    if len(raw) > MAX_RECORD_BYTES:
        raise InvalidRecord(f"record of {len(raw)} bytes exceeds the {MAX_RECORD_BYTES} allowed")
    if raw.startswith(_BOM):
        raw = raw[3:]
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise InvalidRecord(_json_error(raw, e)) from None
    if not isinstance(value, dict):
        raise InvalidRecord(f"a record must be a JSON object, not {type(value).__name__}")
    if raw.count(b'":') != _count_keys(value) or _SPACED.search(raw) is not None:
        _refuse_duplicate_keys(raw)  # the exact (slower) check
    return value


def _json_error(raw: bytes, e: orjson.JSONDecodeError) -> str:
    """Where the text breaks, as a byte offset: invalid UTF-8 first, then JSON syntax."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as u:
        return (
            f"not valid JSON: invalid UTF-8 byte 0x{raw[u.start]:02x} at byte offset {u.start} "
            f"({u.reason})"
        )
    offset = len(raw.decode("utf-8")[: e.pos].encode())
    return f"not valid JSON at byte offset {offset} (line {e.lineno}, column {e.colno}): {e.msg}"


def _count_keys(value: dict[str, Any]) -> int:
    """Keys of every object in the record (records are shallow: a loop, not recursion)."""
    count = len(value)
    nested = [x for x in value.values() if x.__class__ is dict or x.__class__ is list]
    if not nested:
        return count  # the usual flat record
    count = 0
    stack: list[Any] = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            count += len(v)
            stack.extend(x for x in v.values() if isinstance(x, (dict, list)))
        elif isinstance(v, list):
            stack.extend(x for x in v if isinstance(x, (dict, list)))
    return count


def _refuse_duplicate_keys(raw: bytes) -> None:
    """Refuse a record that names a field twice (which value would be meant?)."""

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        for k, v in items:
            if k in seen:
                raise InvalidRecord(f"field {k[:40]!r} appears twice in one object")
            seen[k] = v
        return seen

    try:
        json.loads(raw, object_pairs_hook=pairs)
    except (ValueError, RecursionError):  # orjson read it; the stdlib may be stricter
        return


_EARLIEST_YEAR, _LATEST_YEAR = 2000, 2099
_FUTURE_SLACK = timedelta(days=1)
"""How far ``at`` may lie after ``recorded_at`` (clock skew between hall systems)."""

RESERVED_SOURCE_PREFIX = "hallwatch"
"""Sources of hallwatch's own writers (alerter, dashboard): no intake record may use them."""


def _parse_time(value: str, name: str) -> datetime:
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidRecord(f"{name} is not an RFC 3339 date-time: {value[:40]!r}") from None
    if t.tzinfo is None:
        raise InvalidRecord(f"{name} has no UTC offset: {value[:40]!r}")
    if not _EARLIEST_YEAR <= t.year <= _LATEST_YEAR:
        raise InvalidRecord(
            f"{name} {value[:40]!r} is outside the years {_EARLIEST_YEAR}–{_LATEST_YEAR}"
        )
    return t


def record_context(
    r: Mapping[str, Any],
    received: datetime,
    chain_key: ChainKey | None = None,
    *,
    own: bool = False,
) -> RecordContext:
    at_text = r["at"]
    at = _parse_time(at_text, "at")
    rec_text = r.get("recorded_at")
    if not rec_text:
        rec = received
    elif rec_text == at_text:  # entered as it happened: the usual case, parsed once
        rec = at
    else:
        rec = _parse_time(rec_text, "recorded_at")
    if at - rec > _FUTURE_SLACK:
        told = "recorded_at" if rec_text else "the time hallwatch received it"
        raise InvalidRecord(f"at {at_text} lies more than a day after {told}")
    source = r.get("source") or ""
    if source.strip().lower().startswith(RESERVED_SOURCE_PREFIX) != own:
        if own:
            raise InvalidRecord(
                f"hallwatch's own records use a source beginning {RESERVED_SOURCE_PREFIX!r}"
            )
        raise InvalidRecord(f"source {source[:40]!r} is reserved for hallwatch's own writers")
    if r["record_id"].startswith("alert:"):
        raise InvalidRecord("record_id 'alert:…' is reserved for hallwatch's alerts")
    return RecordContext(r["record_id"], source, r["kind"], at, rec, received, chain_key)
