"""How events are encoded: one canonical JSON form, read back with real types.

The same bytes that are stored are the bytes the hash chain covers, so the
transcoder must be deterministic (sorted keys, orjson's fixed date formats).
Reading back, fields typed ``datetime``/``date``/``tuple`` on the event class
are rebuilt from their JSON strings and lists.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from datetime import date, datetime
from functools import cache
from typing import Any, cast

import orjson
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import (
    Mapper,
    MapperDeserialisationError,
    StoredEvent,
    Transcoder,
)
from eventsourcing.utils import get_topic, resolve_topic

_OPTS = orjson.OPT_SORT_KEYS  # OPT_NON_STR_KEYS costs 6x: every key here is a str


STORED_BYTES = "_stored_bytes"
"""Where an event built by the domain keeps its canonical bytes (never stored as a field)."""


def canonical_json(obj: Any) -> bytes:
    """Deterministic JSON bytes: sorted keys, ISO dates, UUIDs as strings."""
    return orjson.dumps(obj, option=_OPTS)


class CanonicalTranscoder(Transcoder):
    """orjson transcoder: fast, and byte-for-byte what the hash chain covers."""

    def encode(self, obj: Any) -> bytes:
        return canonical_json(obj)

    def decode(self, data: bytes) -> Any:
        return orjson.loads(data)


Converter = Callable[[Any], Any]


def _tuple_converter(args: tuple[Any, ...]) -> Converter:
    """tuple[X, ...] converts each item; tuple[A, B] converts position by position."""
    if len(args) == 2 and args[1] is Ellipsis:
        inner = _converter_for(args[0])
        if inner is None:
            return lambda v: tuple(v)
        conv = inner
        return lambda v: tuple(conv(x) for x in v)
    convs = [_converter_for(a) for a in args]
    if not any(convs):
        return lambda v: tuple(v)
    return lambda v: tuple(c(x) if c else x for c, x in zip(convs, v, strict=False))


def _converter_for(tp: Any) -> Converter | None:
    """A function turning a JSON value back into the annotated type, or None."""
    origin = typing.get_origin(tp)
    if tp is datetime:
        return datetime.fromisoformat
    if tp is date:
        return date.fromisoformat
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(options) == 1:
            conv = _converter_for(options[0])
            if conv is None:
                return None
            inner = conv
            return lambda v: None if v is None else inner(v)
        return None
    if origin is tuple or tp is tuple:
        return _tuple_converter(typing.get_args(tp))
    return None


@cache
def field_converters(cls: type) -> tuple[tuple[str, Converter], ...]:
    """Per event class, the fields whose JSON form differs from their type."""
    hints = typing.get_type_hints(cls)
    out: list[tuple[str, Converter]] = []
    for name, tp in hints.items():
        if name in ("originator_id", "originator_version"):
            continue
        conv = _converter_for(tp)
        if conv is not None:
            out.append((name, conv))
    return tuple(out)


class TypedMapper(Mapper[Any]):
    """Mapper that restores field types from the event class's annotations.

    Events sealed by the domain already carry their canonical bytes; those are
    stored as they are, so the hash chain covers exactly what is written.
    """

    def to_stored_event(self, domain_event: DomainEventProtocol[Any]) -> StoredEvent:
        pre = vars(domain_event).get(STORED_BYTES)
        if pre is None or self.cipher is not None or self.compressor is not None:
            return super().to_stored_event(domain_event)
        return StoredEvent(
            originator_id=domain_event.originator_id,
            originator_version=domain_event.originator_version,
            topic=get_topic(type(domain_event)),
            state=pre,
        )

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[Any]:
        cls = cast(type, resolve_topic(stored_event.topic))
        try:
            state: dict[str, Any] = self.transcoder.decode(stored_event.state)
            for name, conv in field_converters(cls):
                if name in state:
                    state[name] = conv(state[name])
        except Exception as e:
            msg = (
                f"cannot read stored event {stored_event.originator_id} "
                f"v{stored_event.originator_version} ({stored_event.topic}): {e}"
            )
            raise MapperDeserialisationError(msg) from e
        state["originator_id"] = stored_event.originator_id
        state["originator_version"] = stored_event.originator_version
        event: Any = object.__new__(cls)
        object.__setattr__(event, "__dict__", state)
        return cast(DomainEventProtocol[Any], event)
