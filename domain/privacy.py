"""Personal data outside the event store (个人信息保护, PIPL).

The event store keeps what the law requires; everything else hallwatch writes
(the events topic, ClickHouse, reject files, dead letters, logs, terminal views)
shows an applicant's name masked (张三 → 张*) and never an applicant id
(身份证号 / 统一社会信用代码) or a query code (查询码). Records that cannot even be
parsed are redacted byte by byte, so a broken record never leaks either.
"""

from __future__ import annotations

import contextlib
import re
from typing import Any

import orjson

REDACTED = "<redacted>"
"""What replaces an applicant id or a query code."""

NAME_KEY = "applicant_name"
SECRET_KEYS = frozenset({"applicant_id", "query_code"})
"""Keys whose values never leave the event store."""

MAX_MASK_STARS = 6
"""A long enterprise name shows at most this many stars, so its length stays vague."""


def mask_name(name: str) -> str:
    """First character, then one ``*`` per remaining character (capped at
    ``MAX_MASK_STARS``): 张三 → 张*, 张三丰 → 张**; never more than the first
    character; an empty or blank name stays empty."""
    stripped = name.strip() if isinstance(name, str) else ""
    if not stripped:
        return ""
    return stripped[0] + "*" * min(len(stripped) - 1, MAX_MASK_STARS)


def _mask_value(value: Any) -> Any:
    """A name that is not a string is not shown at all."""
    return mask_name(value) if isinstance(value, str) else REDACTED


def redact_record(record: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``record`` with applicant ids and query codes replaced by
    ``REDACTED`` and applicant names masked, at any depth.

    Walks iteratively so that a record nested deeper than Python's recursion
    limit is redacted too.
    """
    root: dict[str, Any] = {}
    stack: list[tuple[Any, Any]] = [(record, root)]
    while stack:
        source, target = stack.pop()
        items = source.items() if isinstance(source, dict) else enumerate(source)
        for key, value in items:
            if isinstance(source, dict) and key in SECRET_KEYS:
                new: Any = REDACTED
            elif isinstance(source, dict) and key == NAME_KEY:
                new = _mask_value(value)
            elif isinstance(value, dict):
                new = {}
                stack.append((value, new))
            elif isinstance(value, list):
                new = [None] * len(value)
                stack.append((value, new))
            else:
                new = value
            target[key] = new
    return root


def redact_value(value: Any) -> Any:
    """``redact_record`` for any decoded JSON value (a list of records, a scalar)."""
    if isinstance(value, dict):
        return redact_record(value)
    if isinstance(value, list):
        return redact_record({"_": value})["_"]
    return value


# A scalar JSON value: a string (possibly cut short: the closing quote is optional),
# a number, or, when neither fits, whatever follows up to the next delimiter.
# Brackets are not consumed, so the pairs inside an object or a list are found too.
_STRING = rb'"(?:[^"\\]|\\.)*(?:"|\\?$)'
_NUMBER = rb"-?[0-9][0-9.eE+\-\x00-\x1f\x7f-\xff]*"
_SCALAR = _STRING + rb"|" + _NUMBER + rb"|[^\s\"\[{,}\]][^,}\]\[{]*"
# between a key, its colon and its value: blanks, and the stray bytes of a broken record
_GAP = rb"[\s\x00-\x1f\x7f-\xff]*"
_PAIR_RE = re.compile(
    rb'("((?:[^"\\]|\\.){0,64})"' + _GAP + rb":" + _GAP + rb")(" + _SCALAR + rb")?",
    re.DOTALL,
)
_STRING_RE = re.compile(_STRING, re.DOTALL)
_REDACTED_JSON = orjson.dumps(REDACTED)


def _key_name(key: bytes) -> str:
    """A key as a reader would take it: bytes that are not UTF-8 dropped, escapes
    resolved, so neither hides a secret key from the pattern."""
    text = key.decode("utf-8", errors="ignore")
    with contextlib.suppress(orjson.JSONDecodeError):
        text = str(orjson.loads('"' + text + '"'))
    return text.strip()


def _masked_literal(literal: bytes) -> bytes:
    body = literal[1:-1] if literal.endswith(b'"') and len(literal) > 1 else literal[1:]
    try:
        text = str(orjson.loads(b'"' + body + b'"'))
    except orjson.JSONDecodeError:
        text = body.decode("utf-8", errors="replace")
    return orjson.dumps(mask_name(text))


def _bracket_end(raw: bytes, start: int) -> int:
    """Where the list or object opening at ``start`` closes (strings skipped), or
    the end of a truncated record."""
    depth = 0
    i = start
    while i < len(raw):
        c = raw[i]
        if c == 0x22:  # a string: skip it whole
            m = _STRING_RE.match(raw, i)
            i = m.end() if m else len(raw)
            continue
        if c in b"[{":
            depth += 1
        elif c in b"]}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return len(raw)


def _redact_bytes(raw: bytes) -> bytes:
    """The byte-level fallback for records that do not parse: every ``"key": value``
    pair is found; a secret key's value (scalar, list or object) is replaced and a
    name masked."""
    out: list[bytes] = []
    pos = 0
    while (m := _PAIR_RE.search(raw, pos)) is not None:
        out.append(raw[pos : m.start()])
        key = _key_name(m.group(2))
        value = m.group(3)
        pos = m.end()
        if key in SECRET_KEYS:
            out.append(m.group(1) + _REDACTED_JSON)
            if value is None and pos < len(raw) and raw[pos] in b"[{":
                pos = _bracket_end(raw, pos)
        elif key == NAME_KEY and value is not None:
            out.append(
                m.group(1) + (_masked_literal(value) if value.startswith(b'"') else _REDACTED_JSON)
            )
        else:
            out.append(m.group(0))
        if m.end() == m.start():  # cannot happen (a pair has a key), but never loop
            pos += 1
    out.append(raw[pos:])
    return b"".join(out)


def redact_raw(raw: bytes) -> bytes:
    """A record's bytes with applicant ids and query codes replaced and the
    applicant name masked: parsed and re-encoded when it is JSON, else
    rewritten by a byte-level pattern (invalid JSON or UTF-8, truncated,
    too deep to re-encode). The record's own ids, codes and names are also
    replaced where another field repeats them (a ``note`` quoting the id)."""
    values = [v for v in personal_values(raw) if len(v) >= MIN_REPEATED or _is_name_like(v)]
    try:
        return orjson.dumps(_replace_values(redact_value(orjson.loads(raw)), values))
    except (orjson.JSONDecodeError, orjson.JSONEncodeError, RecursionError, TypeError):
        out = _redact_bytes(raw)
        for v in values:
            out = out.replace(v.encode(), REDACTED.encode())
        return out


MIN_REPEATED = 6
"""Shortest id or code also replaced where another field repeats it (shorter ones
would blank out years and counts)."""


def _replace_values(value: Any, values: list[str]) -> Any:
    """``value`` (freshly built by ``redact_value``, so changed in place) with every
    string containing one of ``values`` rewritten and every number equal to one
    replaced."""
    if not values:
        return value
    wanted = set(values)

    def fix(v: Any) -> Any:
        if isinstance(v, str):
            for secret in values:
                if secret in v:
                    v = v.replace(secret, REDACTED)
            return v
        if isinstance(v, int | float) and not isinstance(v, bool) and str(v) in wanted:
            return REDACTED
        return v

    if not isinstance(value, dict | list):
        return fix(value)
    stack: list[Any] = [value]
    while stack:
        node = stack.pop()
        keys = list(node.keys()) if isinstance(node, dict) else range(len(node))
        for k in keys:
            child = node[k]
            if isinstance(child, dict | list):
                stack.append(child)
            else:
                node[k] = fix(child)
    return value


def _scalar_text(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (str, int, float)):
        return str(value).strip()
    return None


def personal_values(raw: bytes) -> list[str]:
    """Every applicant id, query code and applicant name a record carries (at any
    depth; also from bytes that do not parse), longest first: what ``scrub`` keeps
    out of a message about the record."""
    found: set[str] = set()
    try:
        stack: list[Any] = [orjson.loads(raw)]
    except orjson.JSONDecodeError:
        stack = []
        for m in _PAIR_RE.finditer(raw):
            if _key_name(m.group(2)) in SECRET_KEYS | {NAME_KEY} and m.group(3):
                literal = m.group(3)
                if literal.startswith(b'"'):
                    found.add(str(orjson.loads(_decodable_literal(literal))))
                else:
                    found.add(literal.decode("utf-8", errors="replace").strip())
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if key in SECRET_KEYS or key == NAME_KEY:
                    text = _scalar_text(value)
                    if text:
                        found.add(text)
                stack.append(value)
        elif isinstance(item, list):
            stack.extend(item)
    # values shorter than 4 characters would blank out ordinary words of a message
    return sorted((v for v in found if len(v) >= 4 or _is_name_like(v)), key=len, reverse=True)


def _is_name_like(value: str) -> bool:
    """A two- or three-character Chinese name is worth scrubbing; two digits are not."""
    return len(value) >= 2 and not value.isascii()


def _decodable_literal(literal: bytes) -> bytes:
    """A JSON string literal made decodable (closing quote added, bad bytes dropped)."""
    body = literal[1:-1] if literal.endswith(b'"') and len(literal) > 1 else literal[1:]
    text = body.decode("utf-8", errors="ignore").rstrip("\\")
    try:
        orjson.loads('"' + text + '"')
    except orjson.JSONDecodeError:
        return orjson.dumps(text)
    return ('"' + text + '"').encode()


def scrub(message: str, raw: bytes) -> str:
    """``message`` (a refusal reason, a log line) with the record's own applicant
    id, query code and applicant name replaced: the reason of a refused record
    often quotes the value it refuses."""
    for value in personal_values(raw):
        message = message.replace(value, REDACTED)
    return message
