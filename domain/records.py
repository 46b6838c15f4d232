"""Intake records (docs/contracts.md §2): the JSON Schema and a compiled validator.

The schema file is the single source of truth: the kind list and the kind groups
below are read from it, so code and contract cannot drift apart silently.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import fastjsonschema

SCHEMA_RESOURCE = "schemas/intake_record.schema.json"

#: The key that identifies a record's stream, per kind group.
_STREAM_KEYS = {"case": "case_id", "complaint": "complaint_id", "supervision": "order_id"}

_MAX_REASON = 300
_NON_BLANK = r"\S"
_NON_BLANK_PRINTABLE = r"^(?!\s*$)[^\u0000-\u001f\u007f]+$"  # identifiers and names
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


# --- the fast path ---------------------------------------------------------------------
#
# fastjsonschema's generated code costs more per record than everything else intake
# does before the domain rules (a call, a name concatenation and type checks twice per
# field).  For the keywords this schema uses, each kind's rules are generated again as
# one function of inline tests.  The fast check only ever says "valid": anything it
# does not accept -- a breach, a str subclass, a float that is an integer, a keyword
# it does not know -- goes to fastjsonschema, which decides and words the reason.  So
# it may be stricter than the schema, never laxer (tests/unit/test_intake_schema.py).

Check = Callable[[Any], bool]

_IGNORED = frozenset({"description", "title", "$comment", "examples"})
_DOLLAR = re.compile(r"(?<!\\)\$")  # fastjsonschema reads `$` as \Z (end of string only)


class _Unsupported(Exception):
    """A keyword the fast path does not compile: the kind keeps fastjsonschema alone."""


class _Source:
    """Python source of one kind's check, with the constants it refers to."""

    def __init__(self) -> None:
        self.names: dict[str, Any] = {}
        self.keys: dict[Any, str] = {}

    def const(self, value: Any, key: Any = None) -> str:
        """A name for ``value``; the same ``key`` gets the same name (equal tests compare equal)."""
        if key is not None and key in self.keys:
            return self.keys[key]
        name = f"_c{len(self.names)}"
        self.names[name] = value
        if key is not None:
            self.keys[key] = name
        return name

    def resolve(self, node: Any) -> dict[str, Any]:
        """The node with a ``$ref`` into this schema's ``$defs`` (all it uses) inlined."""
        if not isinstance(node, dict):
            raise _Unsupported(node)
        ref = node.get("$ref")
        if ref is None:
            return node
        # fastjsonschema rewrites the cached schema's refs to absolute ones when it compiles
        base, _, fragment = ref.partition("#") if isinstance(ref, str) else ("?", "", "")
        prefix = "/$defs/"
        if base not in ("", schema().get("$id")) or not fragment.startswith(prefix):
            raise _Unsupported(ref)
        rest = {k: v for k, v in node.items() if k != "$ref" and k not in _IGNORED}
        target = self.resolve(schema()["$defs"][fragment[len(prefix) :]])
        # Draft 2020-12 applies the siblings of $ref too: both must hold.
        return {"allOf": [target, rest]} if rest else target

    def expr(self, node: Any, v: str) -> str:
        """A boolean expression over variable ``v``: true only when certainly valid."""
        node = self.resolve(node)
        keys = set(node) - _IGNORED
        if "allOf" in keys:
            if keys != {"allOf"}:
                raise _Unsupported("allOf with siblings")
            return " and ".join(self.expr(n, v) for n in node["allOf"]) or "True"
        if keys == {"enum"} or keys == {"const"}:
            values = node["enum"] if "enum" in node else [node["const"]]
            if not all(isinstance(x, str) for x in values):
                raise _Unsupported("enum")
            return f"({v}.__class__ is str and {v} in {self.const(frozenset(values))})"
        kind = node.get("type")
        rest = keys - {"type"}
        if kind is None and rest <= {"maxLength"}:  # untyped: a bound on strings only
            hi = node.get("maxLength")
            return "True" if hi is None else f"(not isinstance({v}, str) or len({v}) <= {hi:d})"
        if kind == "string" and rest <= {"minLength", "maxLength", "pattern"}:
            return self.string(node, v)
        if kind == "boolean" and not rest:
            return f"({v}.__class__ is bool)"
        if isinstance(kind, list) and rest <= {"maxLength"}:
            return self.scalars(kind, node.get("maxLength"), v)
        if kind == "object" and rest <= {"maxProperties", "propertyNames", "additionalProperties"}:
            return self.flat_object(node, v)
        if kind == "integer" and rest <= {"minimum", "maximum"}:
            lo, hi = node.get("minimum"), node.get("maximum")
            low = f" and {lo!r} <= {v}" if lo is not None else ""
            high = f" and {v} <= {hi!r}" if hi is not None else ""
            return f"({v}.__class__ is int{low}{high})"
        if kind == "array" and rest <= {"minItems", "maxItems", "items"}:
            lo, hi = node.get("minItems", 0), node.get("maxItems")
            out = f"({v}.__class__ is list and {lo:d} <= len({v})"
            out += f" <= {hi:d}" if hi is not None else ""
            if "items" in node:
                item = self.const(eval(f"lambda x: {self.expr(node['items'], 'x')}", self.names))
                out += f" and all(map({item}, {v}))"
            return out + ")"
        raise _Unsupported(f"{kind} {sorted(rest)}")

    def scalars(self, kinds: list[Any], most: int | None, v: str) -> str:
        """A value of one of the given scalar types; a string one bounded by ``most``."""
        classes = {"string": "str", "number": "int, float", "integer": "int"}
        classes |= {"boolean": "bool", "null": "type(None)"}
        if not set(kinds) <= set(classes):
            raise _Unsupported(f"types {kinds}")
        names = self.const(tuple(eval(f"({', '.join(classes[k] for k in kinds)},)")))
        test = f"({v}.__class__ in {names}"
        if "string" in kinds and most is not None:
            test += f" and ({v}.__class__ is not str or len({v}) <= {most:d})"
        if "number" in kinds or "integer" in kinds:  # NaN and infinities are not JSON numbers
            test += f" and ({v}.__class__ is not float or {v} - {v} == 0)"
        return test + ")"

    def flat_object(self, node: dict[str, Any], v: str) -> str:
        """The one object shape the schema uses (``extra``): bounded keys, bounded values."""
        names, values = node.get("propertyNames", {}), node.get("additionalProperties", {})
        if set(names) - _IGNORED - {"maxLength"} or not isinstance(values, dict):
            raise _Unsupported("object")
        key_max, most = names.get("maxLength"), node.get("maxProperties")
        value = self.const(eval(f"lambda x: {self.expr(values, 'x')}", self.names))
        out = f"({v}.__class__ is dict"
        out += f" and len({v}) <= {most:d}" if most is not None else ""
        if key_max is not None:
            out += f" and all(k.__class__ is str and len(k) <= {key_max:d} for k in {v})"
        return out + f" and all(map({value}, {v}.values())))"

    def string(self, node: dict[str, Any], v: str) -> str:
        lo, hi, pattern = node.get("minLength", 0), node.get("maxLength"), node.get("pattern")
        if pattern == _NON_BLANK_PRINTABLE:
            # printable (no C0/DEL, nor other separators: stricter, never laxer) and not blank
            lo, test = max(lo, 1), f" and {v}.isprintable() and not {v}.isspace()"
        elif pattern == r"\S":
            # "contains a non-space": str.isspace uses the same Unicode table as re's \s.
            lo, test = max(lo, 1), f" and not {v}.isspace()"
        elif pattern is not None:
            regex = re.compile(_DOLLAR.sub(r"\\Z", pattern))
            search = self.const(regex.search, ("pattern", pattern))
            test = f" and {search}({v}) is not None"
        else:
            test = ""
        if hi is not None:
            bounds = f" and {lo:d} <= len({v}) <= {hi:d}" if lo else f" and len({v}) <= {hi:d}"
        else:
            bounds = f" and {lo:d} <= len({v})" if lo else ""
        return f"({v}.__class__ is str{bounds}{test})"


_TOP_KEYS = frozenset(
    {"$schema", "$id", "type", "required", "maxProperties", "properties"}
    | {"additionalProperties", "allOf", "$defs"}
)


@dataclass
class _KindRules:
    """What the schema asks of one kind's records, gathered from its blocks."""

    required: list[str]
    rules: dict[str, list[Any]]  # field -> the schema nodes its value must satisfy
    extra: Any  # the node any other field's value must satisfy
    either: list[tuple[str, list[str]]]  # when the first is absent, the rest are required
    allowed: frozenset[str] | None  # the only field names a record of the kind may use
    most: int | None  # maxProperties


def _kind_rules(kind: str) -> _KindRules:
    """Gather one kind's rules from the schema (raises _Unsupported for what the
    generated check does not handle)."""
    top = schema()
    if set(top) - _IGNORED - _TOP_KEYS or top.get("type") != "object":
        raise _Unsupported("top level")
    extra = top.get("additionalProperties", {})
    k = _KindRules(
        list(top.get("required", ())),
        {name: [v] for name, v in top.get("properties", {}).items()},
        extra,
        [],
        None,
        top.get("maxProperties"),
    )
    for block in (
        e["then"] for e in top["allOf"] if e["if"]["properties"]["kind"]["const"] == kind
    ):
        keys = set(block) - _IGNORED
        if keys - {"required", "properties", "if", "else", "propertyNames"} or ("if" in keys) != (
            "else" in keys
        ):
            raise _Unsupported("then block")
        if "propertyNames" in keys:
            only = block["propertyNames"]
            if set(only) - _IGNORED != {"enum"}:
                raise _Unsupported("propertyNames")
            names = frozenset(only["enum"])
            k.allowed = names if k.allowed is None else k.allowed & names
        k.required += [r for r in block.get("required", ()) if r not in k.required]
        for name, v in block.get("properties", {}).items():
            k.rules.setdefault(name, [extra]).append(v)
        if "if" in keys:
            cond, alt = block["if"], block["else"]
            if set(cond) - _IGNORED != {"required"} or set(alt) - _IGNORED != {"required"}:
                raise _Unsupported("if/else")
            (given,) = cond["required"]
            k.either.append((given, list(alt["required"])))
    return k


def _record_check(kind: str) -> Check:
    """One kind's whole record check, generated as plain Python (raises _Unsupported)."""
    k = _kind_rules(kind)
    src = _Source()
    lines = ["def check(d):"]
    head = "d.__class__ is not dict" + (f" or len(d) > {k.most:d}" if k.most is not None else "")
    lines.append(
        f"    if {head} or not {src.const(frozenset(k.required))} <= d.keys(): return False"
    )
    if k.allowed is not None:
        lines.append(f"    if not d.keys() <= {src.const(k.allowed)}: return False")
    for given, alt in k.either:
        lines.append(f"    if {given!r} not in d and not {src.const(frozenset(alt))} <= d.keys():")
        lines.append("        return False")
    lines.append("    n = 0")
    seen: dict[str, str] = {}  # test -> the variable of a required field it passed
    for i, (name, nodes) in enumerate(k.rules.items()):
        v = f"v{i}"
        template = " and ".join(src.expr(n, "\0") for n in nodes)
        cond = f"not ({template.replace(chr(0), v)})"
        same = seen.get(template)
        if same is not None:  # equal to a value that passed the same test: valid too
            cond = f"not ({v} == {same} and {v}.__class__ is {same}.__class__) and {cond}"
        if name in k.required:
            lines += [f"    {v} = d[{name!r}]", f"    if {cond}: return False"]
            seen.setdefault(template, v)
        else:
            lines += [f"    {v} = d.get({name!r}, _MISSING)", f"    if {v} is not _MISSING:"]
            lines += [f"        if {cond}: return False", "        n += 1"]
    always = sum(1 for r in k.required if r in k.rules)  # present and checked above
    lines.append(f"    if len(d) > n + {always:d}:")
    known, extra_test = src.const(frozenset(k.rules)), src.expr(k.extra, "x")
    lines.append("        for k, x in d.items():")
    lines.append(f"            if k not in {known} and not ({extra_test}): return False")
    lines.append("    return True")
    names: dict[str, Any] = {"_MISSING": _MISSING, **src.names}
    exec("\n".join(lines), names)
    check: Check = names["check"]
    return check


_MISSING = object()


@cache
def fast_check(kind: str) -> Check | None:
    """The fast check of a known kind, or None when its rules use an unknown keyword."""
    if kind not in _KNOWN_KINDS:
        return None
    try:
        return _record_check(kind)
    except _Unsupported:
        return None


def validation_error(record: Any) -> str | None:
    """None when the record is valid, else a short reason naming the field.

    Used for reject files and dead letters, so it never echoes the (possibly
    huge or sensitive) value itself.
    """
    kind = record.get("kind") if isinstance(record, dict) else None
    if isinstance(kind, str) and kind in _KNOWN_KINDS:
        fast = fast_check(kind)
        if fast is not None and fast(record):
            return None
    check = kind_validator(kind) if isinstance(kind, str) and kind in _KNOWN_KINDS else validator()
    try:
        check(record)
    except fastjsonschema.JsonSchemaValueException as exc:
        return _describe(exc, record)
    return None


@cache
def allowed_fields(kind: str) -> frozenset[str]:
    """Every field a record of ``kind`` may carry (its block's ``propertyNames``)."""
    block = _kind_blocks().get(kind, {})
    names = block.get("propertyNames", {}).get("enum")
    return frozenset(names) if names is not None else frozenset(schema()["properties"])


#: Fields whose value is an integer; an integral float (``2.0``) stands for that integer.
INTEGER_FIELDS = ("days", "expected_days", "due_days", "level", "site_visits")


def normalize(record: dict[str, Any]) -> None:
    """Integral floats to ints, in place, after the schema accepted the record.

    JSON Schema counts ``2.0`` as an integer, so the contract accepts it; the
    domain then sees the integer it stands for, never a float.
    """
    for name in INTEGER_FIELDS:
        value = record.get(name)
        if value.__class__ is float and value.is_integer():
            record[name] = int(value)


def _describe(exc: fastjsonschema.JsonSchemaValueException, record: Any) -> str:
    kind = record.get("kind") if isinstance(record, dict) else None
    suffix = f" for kind {kind}" if isinstance(kind, str) and kind in RECORD_KINDS else ""
    if exc.rule == "propertyNames" and isinstance(record, dict) and isinstance(kind, str):
        allowed = allowed_fields(kind)
        unknown = sorted(str(k)[:40] for k in record if k not in allowed)
        if unknown:
            listed = ", ".join(repr(u) for u in unknown[:5]) + (" …" if len(unknown) > 5 else "")
            return (
                f"data has unknown field(s) {listed}: a {kind} record carries only its own "
                "fields (free-form data goes under 'extra')"
            )
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
        if exc.rule_definition == _NON_BLANK_PRINTABLE:
            return f"{exc.name} must not be blank nor hold control characters"
    if exc.rule == "minLength" and exc.rule_definition == 1:
        return f"{exc.name} must not be empty"
    if exc.rule == "enum" and exc.name == "data.kind":
        return f"data.kind must be a known record kind, not {str(kind)[:40]!r}"
    message = str(exc.message)
    if len(message) > _MAX_REASON:
        message = message[: _MAX_REASON - 1] + "…"
    return message
