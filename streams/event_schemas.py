"""One JSON Schema per event type's ``data`` (docs/contracts.md §5), from the event classes.

The shipped files under ``streams/schemas/`` are what consumers read; a test
regenerates them and fails when the classes and the files drift apart.
``python -m streams.event_schemas --write`` refreshes them after a deliberate
change (add fields freely; never rename or drop one without a migration path).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import types
import typing
from datetime import date, datetime
from importlib import resources
from typing import Any

from domain.model import AGGREGATES, HallAggregate
from streams.cloudevents import ENVELOPE, TYPE_PREFIX, event_type

_SCHEMA_DIR = "schemas"


def event_classes() -> list[type[Any]]:
    """Every concrete event class of every aggregate."""
    out: list[type[Any]] = []
    for agg in AGGREGATES:
        for name, value in vars(agg).items():
            if (
                isinstance(value, type)
                and issubclass(value, HallAggregate.Event)
                and name not in ("Event", "Created")
                and dataclasses.is_dataclass(value)
            ):
                out.append(value)
    return out


def _json_type(tp: Any) -> dict[str, Any]:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        inner = _json_type(args[0]) if len(args) == 1 else {}
        return {"anyOf": [inner, {"type": "null"}]}
    if tp is str:
        return {"type": "string"}
    if tp is bool:
        return {"type": "boolean"}
    if tp is int:
        return {"type": "integer"}
    if tp is float:
        return {"type": "number"}
    if tp is datetime:
        return {"type": "string", "format": "date-time"}
    if tp is date:
        return {"type": "string", "format": "date"}
    if origin is tuple:
        items = typing.get_args(tp)
        if len(items) == 2 and items[1] is Ellipsis:
            return {"type": "array", "items": _json_type(items[0])}
        return {
            "type": "array",
            "prefixItems": [_json_type(a) for a in items],
            "minItems": len(items),
            "maxItems": len(items),
        }
    if origin is dict or tp is dict:
        return {"type": "object"}
    return {}


def _docstring(cls: type[Any]) -> str:
    """The class's own docstring (the aggregate metaclass re-creates event classes)."""
    for c in cls.__mro__:
        doc = c.__dict__.get("__doc__")
        if doc and not doc.startswith(f"{c.__name__}("):
            return str(doc).strip()
    return ""


def schema_for(cls: type[Any]) -> dict[str, Any]:
    """The JSON Schema of one event type's CloudEvent ``data``."""
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.name not in ENVELOPE]
    topic = f"{cls.__module__}:{cls.__qualname__}"
    ce_type = event_type(topic)
    doc = _docstring(cls).splitlines()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"urn:hallwatch:schema:{ce_type}",
        "title": ce_type,
        "description": doc[0] if doc else ce_type,
        "type": "object",
        "required": names,
        "properties": {n: _json_type(hints[n]) for n in names},
        "additionalProperties": True,
    }


def all_schemas() -> dict[str, dict[str, Any]]:
    """Event type -> schema, for every event class."""
    out = {}
    for cls in event_classes():
        s = schema_for(cls)
        out[s["title"]] = s
    return dict(sorted(out.items()))


def shipped_schema(ce_type: str) -> dict[str, Any]:
    """The schema file shipped in the package for an event type."""
    name = ce_type[len(TYPE_PREFIX) + 1 :] + ".schema.json"
    text = resources.files("streams").joinpath(_SCHEMA_DIR, name).read_text(encoding="utf-8")
    parsed: dict[str, Any] = json.loads(text)
    return parsed


def write_all(directory: str | None = None) -> int:
    import pathlib

    target = pathlib.Path(directory or pathlib.Path(__file__).with_name(_SCHEMA_DIR))
    target.mkdir(parents=True, exist_ok=True)
    schemas = all_schemas()
    for ce_type, s in schemas.items():
        name = ce_type[len(TYPE_PREFIX) + 1 :] + ".schema.json"
        (target / name).write_text(json.dumps(s, ensure_ascii=False, indent=2) + "\n", "utf-8")
    return len(schemas)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m streams.event_schemas")
    parser.add_argument("--write", action="store_true", help="rewrite streams/schemas/*.json")
    args = parser.parse_args(argv)
    if args.write:
        print(f"wrote {write_all()} schemas")
    else:
        json.dump(all_schemas(), sys.stdout, ensure_ascii=False, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
