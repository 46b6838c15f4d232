"""Intake records (CONTRACTS.md section 2): the JSON Schema and a compiled validator.

The schema file is the single source of truth: the kind list and the kind groups
below are read from it, so code and contract cannot drift apart silently.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import Any

import fastjsonschema

SCHEMA_RESOURCE = "schemas/intake_record.schema.json"

#: The key that identifies a record's stream, per kind group.
_STREAM_KEYS = {"case": "case_id", "complaint": "complaint_id", "supervision": "order_id"}

_MAX_REASON = 300
_NON_BLANK = r"\S"
_EXAMPLE_AT = "2026-03-02T09:15:00+08:00"


@cache
def schema() -> dict[str, Any]:
    """The parsed intake-record schema, loaded once from package data (do not mutate)."""
    text = resources.files("domain").joinpath(SCHEMA_RESOURCE).read_text(encoding="utf-8")
    parsed: dict[str, Any] = json.loads(text)
    return parsed


@cache
def validator() -> Callable[[Any], Any]:
    """The compiled validator; raises fastjsonschema.JsonSchemaValueException."""
    compiled: Callable[[Any], Any] = fastjsonschema.compile(schema())
    return compiled


def _kind_blocks() -> dict[str, dict[str, Any]]:
    """Map each kind to its `then` block, so groups come from the schema itself."""
    blocks: dict[str, dict[str, Any]] = {}
    for entry in schema()["allOf"]:
        kind = entry["if"]["properties"]["kind"]["const"]
        blocks[kind] = entry["then"]
    return blocks


def _alternatives() -> dict[tuple[str, str], str]:
    """(kind, field) -> the field that may stand in for it ("case_id? or department")."""
    alternatives: dict[tuple[str, str], str] = {}
    for kind, then in _kind_blocks().items():
        if "if" in then and "else" in then:
            (given,) = then["if"]["required"]
            for field in then["else"]["required"]:
                alternatives[(kind, field)] = given
    return alternatives


def _kinds_requiring(key: str) -> frozenset[str]:
    return frozenset(k for k, then in _kind_blocks().items() if key in then.get("required", ()))


RECORD_KINDS: tuple[str, ...] = tuple(schema()["properties"]["kind"]["enum"])
CASE_KINDS: frozenset[str] = _kinds_requiring(_STREAM_KEYS["case"])
COMPLAINT_KINDS: frozenset[str] = _kinds_requiring(_STREAM_KEYS["complaint"])
SUPERVISION_KINDS: frozenset[str] = _kinds_requiring(_STREAM_KEYS["supervision"])
_ALTERNATIVES = _alternatives()


@cache
def kind_validator(kind: str) -> Callable[[Any], Any]:
    """The schema narrowed to one kind's rules, compiled: the intake hot path.

    The full schema tries every kind's ``if`` in turn (fastjsonschema raises and
    catches an exception for each miss); a known kind only needs its own block.
    """
    narrowed = dict(schema())
    narrowed["allOf"] = [
        e["then"] for e in schema()["allOf"] if e["if"]["properties"]["kind"]["const"] == kind
    ]
    compiled: Callable[[Any], Any] = fastjsonschema.compile(narrowed)
    return compiled


_KNOWN_KINDS = frozenset(schema()["properties"]["kind"]["enum"])


def validation_error(record: Any) -> str | None:
    """None when the record is valid, else a short reason naming the field.

    Used for reject files and dead letters, so it never echoes the (possibly
    huge or sensitive) value itself.
    """
    kind = record.get("kind") if isinstance(record, dict) else None
    check = kind_validator(kind) if isinstance(kind, str) and kind in _KNOWN_KINDS else validator()
    try:
        check(record)
    except fastjsonschema.JsonSchemaValueException as exc:
        return _describe(exc, record)
    return None


def _describe(exc: fastjsonschema.JsonSchemaValueException, record: Any) -> str:
    kind = record.get("kind") if isinstance(record, dict) else None
    suffix = f" for kind {kind}" if isinstance(kind, str) and kind in RECORD_KINDS else ""
    if exc.rule == "required" and isinstance(exc.value, dict):
        missing = [f for f in exc.rule_definition if f not in exc.value]
        if missing:
            field = missing[0]
            other = _ALTERNATIVES.get((str(kind), field))
            if other is not None and other not in exc.value:
                return f"{exc.name}.{other} or {exc.name}.{field} is required{suffix}"
            return f"{exc.name}.{field} is required{suffix}"
    if exc.rule == "pattern":
        if exc.rule_definition == schema()["$defs"]["timestamp"]["pattern"]:
            return f"{exc.name} must be an RFC 3339 date-time with offset, e.g. {_EXAMPLE_AT}"
        if exc.rule_definition == _NON_BLANK:
            return f"{exc.name} must not be blank"
    if exc.rule == "minLength" and exc.rule_definition == 1:
        return f"{exc.name} must not be empty"
    if exc.rule == "enum" and exc.name == "data.kind":
        return f"data.kind must be a known record kind, not {str(kind)[:40]!r}"
    message = str(exc.message)
    if len(message) > _MAX_REASON:
        message = message[: _MAX_REASON - 1] + "…"
    return message
