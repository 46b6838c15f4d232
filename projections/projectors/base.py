"""What every projector shares: the parsed event, per-stream state and the base classes.

A projector says which event types it ``handles`` and turns a batch of them into
rows (``rows(events, state)``), given the state of each stream as its own table
last recorded it. Why the rules every table follows:

* Delivery is at least once (a relay re-sends its unacknowledged tail, a crashed
  projector re-reads what it had not committed), so every table is gated by the
  stream version of its own rows: an event whose version is <= the version the
  table already holds for that stream (for ``steps``, for that row) is a
  duplicate and produces nothing. Each table keeps its own gate, so a crash
  between two tables' inserts leaves nothing behind: the re-read batch is new
  for the table that missed it and old for the rest.
* Rows carry the version of the event that made them; the current-state tables
  are ``ReplacingMergeTree(version)`` and the append-only ones (``events``,
  ``alerts``) are keyed by the event id, so even a row written twice reads once.
* A row only uses facts of its own stream: Kafka orders a stream's events but
  not events of different streams, so a cross-stream lookup would depend on the
  order of consumption and a rebuild could differ. Queries join across streams.
* Rows are built from event fields only (``updated_at`` is the event's time, not
  the clock), so a rebuild gives identical tables.

How a batch is built and why (msgspec parsing, hydration only where needed, the
cache sizes): docs/decisions/0005-projector-batch-building.md.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from operator import itemgetter
from typing import Any, ClassVar, NamedTuple

import msgspec
import orjson

from domain.checkpoint import CHECKPOINT_TYPE
from domain.vocabulary import event_type, name_of_type
from projections.clickhouse import ClickHouse, identifier, quote_all

#: Keys per hydration query: an IN list stays well under 18.16's 256 KiB max_query_size.
HYDRATE_CHUNK = 2000
#: Streams per table kept in memory (docs/decisions/0005-projector-batch-building.md).
DEFAULT_CAPACITY = 50_000


class BadEvent(ValueError):
    """A message that is not a hallwatch CloudEvent (skipped and counted, never fatal)."""


class StoreCheckpoint(BadEvent):
    """A signed store checkpoint (docs/tamper-evidence.md): nothing to project, counted apart."""


class Event(NamedTuple):
    """One CloudEvent from the events topic, as projectors need it.

    ``name`` is the event name (``case.accepted``, docs/contracts.md §5); ``data``
    the event's own fields and ``data_json`` the same object as published (JSON
    text); ``department`` and ``item_code`` come from the extensions ('' when
    absent). A named tuple: the cheapest immutable record Python builds, and a
    batch parses ten thousand."""

    id: str
    name: str
    stream_id: str
    stream_kind: str
    subject: str
    version: int
    time: datetime
    recorded: datetime
    department: str
    item_code: str
    chain_hash: str
    data: dict[str, Any]
    data_json: str

    @property
    def type(self) -> str:
        return event_type(self.name)


class _Wire(msgspec.Struct):
    """The CloudEvent attributes projectors read (``streams/cloudevents.py``); any other
    attribute is skipped unread, and ``data`` is kept as its JSON text."""

    id: str
    type: str
    time: datetime
    streamid: str
    streamversion: int
    subject: str | None = None
    streamkind: str | None = None
    recordedtime: datetime | None = None
    department: str | None = None
    itemcode: str | None = None
    chainhash: str | None = None
    data: msgspec.Raw = msgspec.Raw(b"{}")


_WIRE = msgspec.json.Decoder(_Wire, strict=False)
_EMPTY = (b"{}", b"null", b"")


def parse_event(value: bytes | str) -> Event:
    """The event in a structured-mode CloudEvent message; BadEvent when it is not one."""
    try:
        w = _WIRE.decode(value)
    except (msgspec.DecodeError, UnicodeDecodeError) as e:
        raise BadEvent(f"unreadable CloudEvent: {e}") from e
    ce_type = w.type
    if ce_type == CHECKPOINT_TYPE:
        raise StoreCheckpoint("a store checkpoint")
    name = name_of_type(ce_type)
    if name is None:
        raise BadEvent(f"not a hallwatch event type: {ce_type!r}")
    if w.time.tzinfo is None or (w.recordedtime is not None and w.recordedtime.tzinfo is None):
        raise BadEvent("time or recordedtime has no UTC offset")
    raw = bytes(w.data)
    if raw in _EMPTY:
        data: Any = {}
        raw = b"{}"
    else:
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as e:  # pragma: no cover - msgspec checked it
            raise BadEvent(f"unreadable data: {e}") from e
        if type(data) is not dict:
            raise BadEvent("data is not an object")
    return Event(
        w.id,
        name,
        w.streamid,
        w.streamkind or name.split(".")[0],
        w.subject or w.streamid,
        w.streamversion,
        w.time,
        w.recordedtime or w.time,
        w.department or "",
        w.itemcode or "",
        w.chainhash or "",
        data,
        raw.decode(),
    )


# --------------------------------------------------------------------------- state


@dataclass(slots=True)
class StreamState:
    """What one table holds for one stream: the highest version applied and the current
    rows (keyed by the row key within the stream: '' for one-row tables, the step name
    for ``steps``)."""

    version: int = 0
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)


class StateCache:
    """LRU of per-stream states (key: the stream's key in the table, e.g. the case_id).

    Trimmed only between batches (``trim``), so a state hydrated for a batch is never
    evicted before that batch's rows are inserted."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self._states: OrderedDict[str, StreamState] = OrderedDict()
        #: Every stream the table holds is in here: the table was empty when this
        #: cache started and nothing has been evicted since. A stream missing from a
        #: complete cache is new to the table: no hydration query is needed.
        self.complete = False

    def __contains__(self, key: object) -> bool:
        return key in self._states

    def __len__(self) -> int:
        return len(self._states)

    def get(self, key: str) -> StreamState:
        """The state of ``key`` (a fresh empty one for a stream the table has never seen)."""
        st = self._states.get(key)
        if st is None:
            st = self._states[key] = StreamState()
        else:
            self._states.move_to_end(key)
        return st

    def put(self, key: str, state: StreamState) -> None:
        self._states[key] = state
        self._states.move_to_end(key)

    def missing(self, keys: Iterable[str]) -> list[str]:
        return [k for k in dict.fromkeys(keys) if k not in self._states]

    def trim(self) -> None:
        while len(self._states) > self.capacity:
            self._states.popitem(last=False)
            self.complete = False

    def clear(self) -> None:
        self._states.clear()
        self.complete = False


def chunks(keys: Sequence[str], size: int = HYDRATE_CHUNK) -> Iterable[Sequence[str]]:
    """``keys`` in slices of at most ``size``: one hydration query each."""
    for i in range(0, len(keys), size):
        yield keys[i : i + size]


# --------------------------------------------------------------------------- row values


def as_date(value: Any) -> date | None:
    """An ISO date from event data (None stays None)."""
    return None if value is None else date.fromisoformat(str(value))


def flag(value: Any) -> int | None:
    """A UInt8 flag from event data (None stays None)."""
    return None if value is None else int(bool(value))


def step_names(item: Any) -> list[str]:
    """Distinct step names of an item dict (``steps``: ``[[name, days], …]`` or dicts)."""
    names: dict[str, None] = {}
    for s in (item or {}).get("steps") or []:
        names[str(s["name"] if isinstance(s, dict) else s[0])] = None
    return list(names)


# --------------------------------------------------------------------------- base classes


class Projector:
    """One read model: which events it takes, how its rows follow from them.

    ``stream_column`` holds the stream's key in the table, ``row_key`` the columns
    that tell a stream's rows apart (none for one row per stream)."""

    table: ClassVar[str]
    columns: ClassVar[tuple[str, ...]]
    stream_column: ClassVar[str]
    row_key: ClassVar[tuple[str, ...]] = ()

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.state = StateCache(capacity)
        self.skipped = 0  # duplicates / replays seen by this table

    def handles(self, event_type: str) -> bool:
        """True for the CloudEvent types (``gov.hallwatch.case.accepted``) this table uses."""
        raise NotImplementedError

    def stream_key(self, e: Event) -> str:
        """The stream's key in this table (the subject: case_id, complaint_id, order_id)."""
        return e.subject

    def prepare(self, ch: ClickHouse, events: Sequence[Event]) -> int:
        """Hydrate, in one query per chunk of keys, the streams of ``events`` not in memory;
        returns how many queries ran."""
        missing = self.state.missing(self.stream_key(e) for e in events)
        if self.state.complete:
            for key in missing:
                self.state.put(key, StreamState())
            return 0
        queries = 0
        for chunk in chunks(missing):
            queries += 1
            loaded = self.load(ch, chunk)
            for key in chunk:
                self.state.put(key, loaded.get(key) or StreamState())
        return queries

    def load(self, ch: ClickHouse, keys: Sequence[str]) -> dict[str, StreamState]:
        """The latest row (by version) of every row of these streams."""
        by = ", ".join(identifier(c) for c in (self.stream_column, *self.row_key))
        rows = ch.query_dicts(
            f"SELECT {', '.join(self.columns)} FROM {identifier(self.table)} "
            f"WHERE {identifier(self.stream_column)} IN ({quote_all(keys)}) "
            f"ORDER BY version DESC LIMIT 1 BY {by}"
        )
        out: dict[str, StreamState] = {}
        for row in rows:
            key = str(row[self.stream_column])
            st = out.setdefault(key, StreamState())
            st.rows[self.row_id(row)] = row
            st.version = max(st.version, int(row["version"]))
        return out

    def row_id(self, row: dict[str, Any]) -> str:
        return "\x1f".join(str(row[c]) for c in self.row_key)

    def rows(self, events: Sequence[Event], state: StateCache) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def as_tuple(self, row: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(row[c] for c in self.columns)

    def as_tuples(self, rows: Iterable[dict[str, Any]]) -> list[tuple[Any, ...]]:
        """``as_tuple`` of each row, with one C-level getter (a batch has thousands)."""
        if len(self.columns) == 1:
            return [self.as_tuple(r) for r in rows]
        get = itemgetter(*self.columns)
        return [get(r) for r in rows]


_UNKNOWN: Any = object()
Handler = Callable[[Event, StreamState], Iterable[str]]


class StateProjector(Projector):
    """A current-state table: each event updates the row(s) of its stream in place;
    a batch writes the final state of every row it changed, once.

    Handlers are the methods named after the event: ``on_case__accepted`` handles
    ``case.accepted``. The gate is the stream's version in the table, or with
    ``row_gate`` each row's own version (for tables with several rows per stream,
    whose rows one insert may split between two statements: then a row that made it
    must not hide one that did not)."""

    row_gate: ClassVar[bool] = False

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        super().__init__(capacity)
        self._handlers: dict[str, Handler] = {}
        prefix = "on_"
        for attr in dir(self):
            if attr.startswith(prefix):
                name = attr[len(prefix) :].replace("__", ".")
                self._handlers[name] = getattr(self, attr)
        #: ``handler(name)`` by event name, as it is first asked for.
        self._by_name: dict[str, Handler | None] = {}

    def handler(self, name: str) -> Handler | None:
        return self._handlers.get(name)

    def handles(self, event_type: str) -> bool:
        return name_of_type(event_type) in self._handlers

    def rows(self, events: Sequence[Event], state: StateCache) -> list[tuple[Any, ...]]:
        changed: dict[tuple[str, str], dict[str, Any]] = {}
        handlers = self._by_name
        stream_key, get_state, row_gate = self.stream_key, state.get, self.row_gate
        for e in events:
            key = stream_key(e)
            st = get_state(key)
            version = e.version
            if version <= st.version and not row_gate:
                self.skipped += 1
                continue
            handle = handlers.get(e.name, _UNKNOWN)
            if handle is _UNKNOWN:
                handle = handlers[e.name] = self.handler(e.name)
            touched = list(handle(e, st)) if handle is not None else []
            for rid in touched:
                row = st.rows[rid]
                row["version"] = version
                row["last_event_id"] = e.id
                if "updated_at" in row:
                    row["updated_at"] = e.time
                changed[(key, rid)] = row
            if row_gate and not touched and version <= st.version:
                self.skipped += 1
            if version > st.version:
                st.version = version
        return self.as_tuples(changed.values())

    # -- one row per stream (row key ''): the helpers its handlers share

    def _row(self, st: StreamState) -> dict[str, Any] | None:
        return st.rows.get("")

    def _update(self, st: StreamState, **changes: Any) -> Iterable[str]:
        """Change the row; nothing for an event before the stream's first (no row yet)."""
        row = st.rows.get("")
        if row is None:
            return ()
        row.update(changes)
        return ("",)

    def _count(self, st: StreamState, column: str) -> Iterable[str]:
        row = st.rows.get("")
        if row is None:
            return ()
        row[column] = int(row[column]) + 1
        return ("",)


class AppendProjector(Projector):
    """An append-only table (one row per event); the gate is the highest version of the
    stream's rows in the table."""

    def load(self, ch: ClickHouse, keys: Sequence[str]) -> dict[str, StreamState]:
        col = identifier(self.stream_column)
        return {
            str(k): StreamState(version=int(v))
            for k, v in ch.query(
                f"SELECT {col}, max(version) FROM {identifier(self.table)} "
                f"WHERE {col} IN ({quote_all(keys)}) GROUP BY {col}"
            )
        }

    def row(self, e: Event) -> tuple[Any, ...] | None:
        raise NotImplementedError

    def rows(self, events: Sequence[Event], state: StateCache) -> list[tuple[Any, ...]]:
        out = []
        stream_key, get_state, make_row = self.stream_key, state.get, self.row
        for e in events:
            st = get_state(stream_key(e))
            if e.version <= st.version:
                self.skipped += 1
                continue
            st.version = e.version
            row = make_row(e)
            if row is not None:
                out.append(row)
        return out


class StreamRowProjector(StateProjector):
    """One row per stream of one kind (``stream_kind``: ``case``…): every event of the
    stream, known to this projector or added to the domain later, moves the row's version,
    so the row's version is the stream's."""

    stream_kind: ClassVar[str]

    def handles(self, event_type: str) -> bool:
        name = name_of_type(event_type)
        return name is not None and name.startswith(f"{self.stream_kind}.")

    def handler(self, name: str) -> Handler | None:
        own = super().handler(name)
        return own if own is not None else self._touch

    def _touch(self, e: Event, st: StreamState) -> Iterable[str]:
        return ("",) if "" in st.rows else ()
