"""Projectors (投影): the CloudEvents of ``<prefix>.events`` as ClickHouse read models.

One projector per table. Each says which event types it ``handles`` and turns
a batch of them into rows (``rows(events, state)``), given the state of each
stream as its own table last recorded it. The runner (``projections.runner``)
polls the topic, hydrates the states it lacks, inserts each table's rows in
one batch and only then commits the offsets.

Why the rules below:

* Delivery is at least once (a relay re-sends its unacknowledged tail, a
  crashed projector re-reads what it had not committed, a second relay
  republishes everything), so every table is gated by the stream version of
  its own rows: an event whose version is <= the version the table already
  holds for that stream (for ``steps``, for that row) is a duplicate and
  produces nothing. Each table keeps its own gate, so a crash between two
  tables' inserts leaves nothing behind: the re-read batch is new for the
  table that missed it and old for the rest.
* Rows carry the version of the event that made them; the current-state
  tables are ``ReplacingMergeTree(version)`` and the append-only ones
  (``events``, ``alerts``) are keyed by the event id, so even a row written
  twice reads once with ``FINAL`` / ``argMax`` / ``GROUP BY``.
* A row only uses facts of its own stream (the town of a case comes from that
  case's ``submitted`` event, never from another stream's): Kafka orders a
  stream's events (one key, one partition) but not events of different
  streams, so a cross-stream lookup would depend on the order of consumption
  and a rebuild could differ from the original. Queries join across streams.
* Rows are built from event fields only (``updated_at`` is the event's time,
  not the clock), so a rebuild gives identical tables.
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

from domain import clock
from domain.checkpoint import CHECKPOINT_TYPE
from domain.model import (
    AWAITING_INTAKE,
    AWAITING_MATERIALS,
    CONCLUDED,
    CORRECTION_PAUSED,
    IN_PROGRESS,
    REJECTED,
    SUSPENDED,
)
from domain.privacy import redact_record
from projections.clickhouse import ClickHouse, identifier, quote

TYPE_PREFIX = "gov.hallwatch."
#: Keys per hydration query: an IN list stays well under 18.16's 256 KiB max_query_size.
HYDRATE_CHUNK = 2000
DEFAULT_CAPACITY = 50_000  # streams per table kept in memory (a case row is ~5 KB)


class BadEvent(ValueError):
    """A message that is not a hallwatch CloudEvent (skipped and counted, never fatal)."""


class StoreCheckpoint(BadEvent):
    """A signed store checkpoint (docs/tamper-evidence.md): nothing to project, counted apart."""



class Event(NamedTuple):
    """One CloudEvent from the events topic, as projectors need it.

    ``name`` is the type without ``gov.hallwatch.`` (``case.accepted``);
    ``data`` the event's own fields (``streams/schemas``) and ``data_json`` the
    same object as published (JSON text); ``department`` and ``item_code`` come
    from the extensions (the stream's, '' when absent). A named tuple: a batch
    parses ten thousand of them, and a tuple is the cheapest immutable record
    Python builds."""

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
        return TYPE_PREFIX + self.name


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
_PREFIX_LEN = len(TYPE_PREFIX)
_EMPTY = (b"{}", b"null", b"")


def parse_event(value: bytes | str) -> Event:
    """The event in a structured-mode CloudEvent message; BadEvent when it is not one.

    msgspec reads the attributes into typed fields (times included) and skips the
    rest, about twice as fast as a dict of everything; ``data`` is then read once."""
    try:
        w = _WIRE.decode(value)
    except (msgspec.DecodeError, UnicodeDecodeError) as e:
        raise BadEvent(f"unreadable CloudEvent: {e}") from e
    ce_type = w.type
    if ce_type == CHECKPOINT_TYPE:
        raise StoreCheckpoint("a store checkpoint")
    if not ce_type.startswith(TYPE_PREFIX):
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
    name = ce_type[_PREFIX_LEN:]
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


def _in_list(keys: Sequence[str]) -> str:
    return ", ".join(quote(k) for k in keys)


def _chunks(keys: Sequence[str], size: int = HYDRATE_CHUNK) -> Iterable[Sequence[str]]:
    for i in range(0, len(keys), size):
        yield keys[i : i + size]


class Towns:
    """case_id -> town (镇街), learnt from ``case.submitted`` events, else read from ``cases``.

    A case's town never changes, so any row of ``cases`` will do; ``cases`` has the
    case once the batch holding its ``submitted`` event was committed."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self._towns: OrderedDict[str, str] = OrderedDict()
        self.complete = False  # as StateCache.complete, for the cases table

    def learn(self, events: Iterable[Event]) -> None:
        for e in events:
            if e.name == "case.submitted":
                self._towns[e.subject] = str(e.data.get("town") or "")

    def ensure(self, ch: ClickHouse, case_ids: Iterable[str]) -> int:
        """Read the towns of the cases not known yet; returns how many queries ran."""
        if self.complete:
            return 0
        missing = [c for c in dict.fromkeys(case_ids) if c not in self._towns]
        queries = 0
        for chunk in _chunks(missing):
            queries += 1
            for case_id, town in ch.query(
                f"SELECT case_id, any(town) FROM cases WHERE case_id IN ({_in_list(chunk)}) "
                "GROUP BY case_id"
            ):
                self._towns[str(case_id)] = str(town)
        return queries

    def get(self, case_id: str) -> str:
        town = self._towns.get(case_id)
        if town is None:
            return ""
        self._towns.move_to_end(case_id)
        return town

    def trim(self) -> None:
        while len(self._towns) > self.capacity:
            self._towns.popitem(last=False)
            self.complete = False

    def clear(self) -> None:
        self._towns.clear()
        self.complete = False


# --------------------------------------------------------------------------- base classes


def _date(value: Any) -> date | None:
    return None if value is None else date.fromisoformat(str(value))


def _flag(value: Any) -> int | None:
    return None if value is None else int(bool(value))


def _step_names(item: Any) -> list[str]:
    """Distinct step names of an item dict (``steps``: ``[[name, days], …]`` or dicts)."""
    names: dict[str, None] = {}
    for s in (item or {}).get("steps") or []:
        names[str(s["name"] if isinstance(s, dict) else s[0])] = None
    return list(names)


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
        for chunk in _chunks(missing):
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
            f"WHERE {identifier(self.stream_column)} IN ({_in_list(keys)}) "
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


class StateProjector(Projector):
    """A current-state table: each event updates the row(s) of its stream in place;
    a batch writes the final state of every row it changed, once.

    The gate is the stream's version in the table, or with ``row_gate`` each row's
    own version (for tables with several rows per stream, whose rows one insert may
    split between two statements: then a row that made it must not hide one that
    did not)."""

    row_gate: ClassVar[bool] = False

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        super().__init__(capacity)
        self._handlers: dict[str, Callable[[Event, StreamState], Iterable[str]]] = {}
        prefix = "on_"
        for attr in dir(self):
            if attr.startswith(prefix):
                name = attr[len(prefix) :].replace("__", ".")
                self._handlers[name] = getattr(self, attr)
        #: ``handler(name)`` by event name, as it is first asked for.
        self._by_name: dict[str, Callable[[Event, StreamState], Iterable[str]] | None] = {}

    def handler(self, name: str) -> Callable[[Event, StreamState], Iterable[str]] | None:
        return self._handlers.get(name)

    def handles(self, event_type: str) -> bool:
        return event_type.removeprefix(TYPE_PREFIX) in self._handlers

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
                f"WHERE {col} IN ({_in_list(keys)}) GROUP BY {col}"
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
    """One row per stream of one kind (``stream_prefix``: ``case.``…): every event of the
    stream, known to this projector or added to the domain later, moves the row's version,
    so the row's version is the stream's."""

    stream_prefix: ClassVar[str]

    def handles(self, event_type: str) -> bool:
        return event_type.startswith(TYPE_PREFIX + self.stream_prefix)

    def handler(self, name: str) -> Callable[[Event, StreamState], Iterable[str]] | None:
        own = super().handler(name)
        return own if own is not None else self._touch

    def _touch(self, e: Event, st: StreamState) -> Iterable[str]:
        return ("",) if "" in st.rows else ()


# --------------------------------------------------------------------------- the tables


class EventsProjector(AppendProjector):
    """``events``: every event as published (the source of KPIs that need history)."""

    table = "events"
    columns = (
        "event_id", "stream_id", "stream_kind", "version", "type", "subject", "department",
        "item_code", "occurred_at", "recorded_at", "data", "chain_hash",
    )  # fmt: skip
    stream_column = "stream_id"

    def handles(self, event_type: str) -> bool:
        return event_type.startswith(TYPE_PREFIX)

    def stream_key(self, e: Event) -> str:
        return e.stream_id

    def row(self, e: Event) -> tuple[Any, ...]:
        data = e.data_json
        if "applicant_" in data or "query_code" in data:
            # the relay masks these already; a topic written before it did must not leak
            data = orjson.dumps(redact_record(e.data)).decode()
        return (
            e.id, e.stream_id, e.stream_kind, e.version, e.type, e.subject, e.department,
            e.item_code, e.time, e.recorded, data, e.chain_hash,
        )  # fmt: skip


_ALERT_EVENTS = frozenset(
    {
        "case.violation_flagged",
        "complaint.violation_flagged",
        "case.alert_raised",
        "complaint.alert_raised",
        "supervision.alert_raised",
    }
)


class AlertsProjector(AppendProjector):
    """``alerts``: every raised alert (预警/超时) and recorded violation (违规), one row each."""

    table = "alerts"
    columns = (
        "alert_id", "kind", "category", "stream_kind", "stream_id", "subject", "step",
        "department", "town", "item_code", "deadline", "detail", "raised_at", "recorded_at",
        "version",
    )  # fmt: skip
    stream_column = "stream_id"

    def __init__(self, towns: Towns, capacity: int = DEFAULT_CAPACITY) -> None:
        super().__init__(capacity)
        self.towns = towns

    def handles(self, event_type: str) -> bool:
        return event_type.removeprefix(TYPE_PREFIX) in _ALERT_EVENTS

    def stream_key(self, e: Event) -> str:
        return e.stream_id

    def prepare(self, ch: ClickHouse, events: Sequence[Event]) -> int:
        cases = [e.subject for e in events if e.stream_kind == "case"]
        return super().prepare(ch, events) + self.towns.ensure(ch, cases)

    def row(self, e: Event) -> tuple[Any, ...]:
        d = e.data
        violation = e.name.endswith(".violation_flagged")
        kind = str((d.get("violation") if violation else d.get("alert")) or "unknown")
        return (
            e.id, kind, "violation" if violation else "alert", e.stream_kind, e.stream_id,
            e.subject, str(d.get("step") or ""), e.department,
            self.towns.get(e.subject) if e.stream_kind == "case" else "", e.item_code,
            None if violation else _date(d.get("deadline")), str(d.get("detail") or ""),
            e.time, e.recorded, e.version,
        )  # fmt: skip


class CasesProjector(StreamRowProjector):
    """``cases``: each case (办件) as its latest event left it; every case event moves
    its version, so the row's version is the stream's."""

    table = "cases"
    columns = (
        "case_id", "receipt_no", "item_code", "item_name", "department", "town", "channel",
        "applicant_kind", "online_submission", "bundle_id", "status", "submitted_at",
        "intake_due_date", "accepted_at", "clock_start", "limit_days", "due_date", "warn_date",
        "legal_due_date", "deemed_accepted", "corrections", "suspensions", "suspended",
        "extended_days", "steps_total", "steps_completed", "completed_steps", "concluded_at",
        "outcome", "rejection_reason", "on_time", "late_days", "handling_days",
        "concluded_online", "delivered_at", "delivery_method", "site_visits", "rating",
        "rated_at", "rating_answered_at", "violations", "alerts", "complaints",
        "supervision_orders", "version", "last_event_id", "updated_at",
    )  # fmt: skip
    stream_column = "case_id"
    stream_prefix = "case."

    def on_case__submitted(self, e: Event, st: StreamState) -> Iterable[str]:
        d = e.data
        st.rows[""] = {
            "case_id": str(d.get("case_id") or e.subject),
            "receipt_no": "",
            "item_code": str(d.get("item_code") or e.item_code),
            "item_name": str(d.get("item_name") or ""),
            "department": str(d.get("department") or e.department),
            "town": str(d.get("town") or ""),
            "channel": str(d.get("channel") or ""),
            "applicant_kind": str(d.get("applicant_kind") or ""),
            "online_submission": int(bool(d.get("online"))),
            "bundle_id": str(d.get("bundle_id") or ""),
            "status": AWAITING_INTAKE,
            "submitted_at": e.time,
            "intake_due_date": _date(d.get("intake_due_date")) or clock.local_date(e.time),
            "accepted_at": None,
            "clock_start": None,
            "limit_days": 0,
            "due_date": None,
            "warn_date": None,
            "legal_due_date": None,
            "deemed_accepted": 0,
            "corrections": 0,
            "suspensions": 0,
            "suspended": 0,
            "extended_days": 0,
            "steps_total": len(_step_names(d.get("item"))),
            "steps_completed": 0,
            "completed_steps": [],
            "concluded_at": None,
            "outcome": "",
            "rejection_reason": "",
            "on_time": None,
            "late_days": 0,
            "handling_days": None,
            "concluded_online": None,
            "delivered_at": None,
            "delivery_method": "",
            "site_visits": None,
            "rating": None,
            "rated_at": None,
            "rating_answered_at": None,
            "violations": 0,
            "alerts": 0,
            "complaints": 0,
            "supervision_orders": 0,
            "version": 0,
            "last_event_id": "",
            "updated_at": e.time,
        }
        return ("",)

    def on_case__accepted(self, e: Event, st: StreamState) -> Iterable[str]:
        d = e.data
        return self._update(
            st,
            status=IN_PROGRESS,
            receipt_no=str(d.get("receipt_no") or ""),
            accepted_at=e.time,
            clock_start=_date(d.get("clock_start")),
            limit_days=int(d.get("limit_days") or 0),
            due_date=_date(d.get("due_date")),
            warn_date=_date(d.get("warn_date")),
            legal_due_date=_date(d.get("legal_due_date")),
            deemed_accepted=int(bool(d.get("deemed"))),
            steps_total=len(_step_names(d.get("item"))),  # the item version in force now
            steps_completed=0,
            completed_steps=[],
        )

    def on_case__rejected(self, e: Event, st: StreamState) -> Iterable[str]:
        reason = str(e.data.get("reason") or "")
        return self._update(st, status=REJECTED, rejection_reason=reason, concluded_at=e.time)

    def on_case__correction_requested(self, e: Event, st: StreamState) -> Iterable[str]:
        at_intake = e.data.get("stage") == "intake"
        return self._update(
            st,
            corrections=int(e.data.get("count") or 0),
            status=AWAITING_MATERIALS if at_intake else CORRECTION_PAUSED,
        )

    def on_case__correction_received(self, e: Event, st: StreamState) -> Iterable[str]:
        d = e.data
        row = self._row(st)
        if row is None:
            return ()
        if d.get("stage") == "intake":
            row["status"] = AWAITING_INTAKE
            if d.get("intake_due_date") is not None:
                row["intake_due_date"] = _date(d["intake_due_date"])
            return ("",)
        return self._update(
            st,
            status=IN_PROGRESS,
            due_date=_date(d.get("due_date")),
            warn_date=_date(d.get("warn_date")),
            legal_due_date=_date(d.get("legal_due_date")),
        )

    def _steps_done(self, st: StreamState, step: str, done: bool) -> Iterable[str]:
        row = self._row(st)
        if row is None:
            return ()
        completed = [s for s in row["completed_steps"] if s != step]
        if done:
            completed.append(step)
        row["completed_steps"] = completed
        row["steps_completed"] = len(completed)
        return ("",)

    def on_case__step_started(self, e: Event, st: StreamState) -> Iterable[str]:
        return self._steps_done(st, str(e.data.get("step")), done=False)

    def on_case__step_completed(self, e: Event, st: StreamState) -> Iterable[str]:
        return self._steps_done(st, str(e.data.get("step")), done=True)

    def on_case__suspended(self, e: Event, st: StreamState) -> Iterable[str]:
        count = int(e.data.get("count") or 0)
        return self._update(st, status=SUSPENDED, suspensions=count, suspended=1)

    def on_case__resumed(self, e: Event, st: StreamState) -> Iterable[str]:
        d = e.data
        return self._update(
            st,
            status=IN_PROGRESS,
            suspended=0,
            due_date=_date(d.get("due_date")),
            warn_date=_date(d.get("warn_date")),
            legal_due_date=_date(d.get("legal_due_date")),
        )

    def on_case__extended(self, e: Event, st: StreamState) -> Iterable[str]:
        d = e.data
        return self._update(
            st,
            extended_days=int(d.get("days") or 0),
            due_date=_date(d.get("due_date")),
            warn_date=_date(d.get("warn_date")),
            legal_due_date=_date(d.get("legal_due_date")),
        )

    def on_case__concluded(self, e: Event, st: StreamState) -> Iterable[str]:
        d = e.data
        row = self._row(st)
        if row is None:
            return ()
        handling = d.get("handling_days")
        row.update(
            status=CONCLUDED,
            suspended=0,
            outcome=str(d.get("outcome") or ""),
            concluded_at=e.time,
            concluded_online=_flag(d.get("online")),
            on_time=_flag(d.get("on_time")),
            late_days=int(d.get("late_days") or 0),
            handling_days=None if handling is None else int(handling),
        )
        if d.get("due_date") is not None:
            row["due_date"] = _date(d["due_date"])
        return ("",)

    def on_case__delivered(self, e: Event, st: StreamState) -> Iterable[str]:
        visits = e.data.get("site_visits")
        return self._update(
            st,
            delivered_at=e.time,
            delivery_method=str(e.data.get("method") or ""),
            site_visits=None if visits is None else int(visits),
        )

    def on_case__rated(self, e: Event, st: StreamState) -> Iterable[str]:
        return self._update(st, rating=int(e.data.get("level") or 0), rated_at=e.time)

    def on_case__rating_answered(self, e: Event, st: StreamState) -> Iterable[str]:
        return self._update(st, rating_answered_at=e.time)

    def on_case__violation_flagged(self, e: Event, st: StreamState) -> Iterable[str]:
        return self._count(st, "violations")

    def on_case__alert_raised(self, e: Event, st: StreamState) -> Iterable[str]:
        return self._count(st, "alerts")

    def on_case__complaint_linked(self, e: Event, st: StreamState) -> Iterable[str]:
        return self._count(st, "complaints")

    def on_case__supervision_ordered(self, e: Event, st: StreamState) -> Iterable[str]:
        return self._count(st, "supervision_orders")


class StepsProjector(StateProjector):
    """``steps``: each approval step (审批环节) of each case, with its own due date."""

    table = "steps"
    columns = (
        "case_id", "step", "department", "item_code", "started_on", "due_date", "completed_on",
        "decision", "on_time", "handler", "version", "last_event_id",
    )  # fmt: skip
    stream_column = "case_id"
    row_key = ("step",)
    row_gate = True  # a case has several step rows: each row is its own gate

    @staticmethod
    def _current(st: StreamState, step: str, e: Event) -> dict[str, Any] | None:
        """The step's row if this event is newer than it (None: absent or already applied)."""
        row = st.rows.get(step)
        return row if row is not None and int(row["version"]) < e.version else None

    def on_case__step_started(self, e: Event, st: StreamState) -> Iterable[str]:
        d = e.data
        step = str(d.get("step"))
        old = st.rows.get(step)
        if old is not None and int(old["version"]) >= e.version:
            return ()
        st.rows[step] = {
            "case_id": e.subject,
            "step": step,
            "department": str(d.get("department") or e.department),
            "item_code": e.item_code,
            "started_on": clock.local_date(e.time),
            "due_date": _date(d.get("due_date")),
            "completed_on": None,
            "decision": "",
            "on_time": None,
            "handler": str(d.get("handler") or ""),
            "version": 0,
            "last_event_id": "",
        }
        return (step,)

    def on_case__step_completed(self, e: Event, st: StreamState) -> Iterable[str]:
        d = e.data
        step = str(d.get("step"))
        row = self._current(st, step, e)
        if row is None:
            return ()
        row.update(
            completed_on=clock.local_date(e.time),
            decision=str(d.get("decision") or ""),
            on_time=_flag(d.get("on_time")),
            handler=str(d.get("handler") or row["handler"]),
        )
        return (step,)

    def _shift(self, e: Event, st: StreamState) -> Iterable[str]:
        """A pause ended: running steps' due dates move back (stored in the event)."""
        changed = []
        for name, due in e.data.get("step_due_dates") or ():
            row = self._current(st, str(name), e)
            if row is not None:
                row["due_date"] = _date(due)
                changed.append(str(name))
        return changed

    def on_case__resumed(self, e: Event, st: StreamState) -> Iterable[str]:
        return self._shift(e, st)

    def on_case__correction_received(self, e: Event, st: StreamState) -> Iterable[str]:
        return self._shift(e, st)


class RatingsProjector(StateProjector):
    """``ratings``: one row per rated case (好差评), answered or not (差评整改)."""

    table = "ratings"
    columns = (
        "case_id", "department", "item_code", "town", "level", "bad", "rated_at",
        "answer_due_date", "answered_at", "answered_on_time", "version", "last_event_id",
    )  # fmt: skip
    stream_column = "case_id"

    def __init__(self, towns: Towns, capacity: int = DEFAULT_CAPACITY) -> None:
        super().__init__(capacity)
        self.towns = towns

    def prepare(self, ch: ClickHouse, events: Sequence[Event]) -> int:
        return super().prepare(ch, events) + self.towns.ensure(ch, (e.subject for e in events))

    def on_case__rated(self, e: Event, st: StreamState) -> Iterable[str]:
        d = e.data
        level = int(d.get("level") or 0)
        st.rows[""] = {
            "case_id": e.subject,
            "department": e.department,
            "item_code": e.item_code,
            "town": self.towns.get(e.subject),
            "level": level,
            "bad": int(bool(d.get("bad", level <= 2))),
            "rated_at": e.time,
            "answer_due_date": _date(d.get("answer_due_date")),
            "answered_at": None,
            "answered_on_time": None,
            "version": 0,
            "last_event_id": "",
        }
        return ("",)

    def on_case__rating_answered(self, e: Event, st: StreamState) -> Iterable[str]:
        on_time = _flag(e.data.get("on_time"))
        return self._update(st, answered_at=e.time, answered_on_time=on_time)


class ComplaintsProjector(StreamRowProjector):
    """``complaints``: each complaint (投诉) as its latest event left it."""

    table = "complaints"
    columns = (
        "complaint_id", "case_id", "department", "channel", "status", "assigned_to", "filed_at",
        "accept_due_date", "accepted_at", "accepted_on_time", "reply_due_date", "replied_at",
        "replied_on_time", "closed_at", "satisfied", "violations", "alerts", "version",
        "last_event_id", "updated_at",
    )  # fmt: skip
    stream_column = "complaint_id"
    stream_prefix = "complaint."

    def on_complaint__filed(self, e: Event, st: StreamState) -> Iterable[str]:
        d = e.data
        st.rows[""] = {
            "complaint_id": str(d.get("complaint_id") or e.subject),
            "case_id": str(d.get("case_id") or ""),
            "department": str(d.get("department") or e.department),
            "channel": str(d.get("channel") or ""),
            "status": "filed",
            "assigned_to": "",
            "filed_at": e.time,
            "accept_due_date": _date(d.get("accept_due_date")) or clock.local_date(e.time),
            "accepted_at": None,
            "accepted_on_time": None,
            "reply_due_date": None,
            "replied_at": None,
            "replied_on_time": None,
            "closed_at": None,
            "satisfied": None,
            "violations": 0,
            "alerts": 0,
            "version": 0,
            "last_event_id": "",
            "updated_at": e.time,
        }
        return ("",)

    def on_complaint__accepted(self, e: Event, st: StreamState) -> Iterable[str]:
        d = e.data
        return self._update(
            st,
            status="accepted",
            accepted_at=e.time,
            accepted_on_time=_flag(d.get("on_time")),
            reply_due_date=_date(d.get("reply_due_date")),
        )

    def on_complaint__rejected(self, e: Event, st: StreamState) -> Iterable[str]:
        return self._update(st, status="rejected", closed_at=e.time)

    def on_complaint__assigned(self, e: Event, st: StreamState) -> Iterable[str]:
        return self._update(st, status="assigned", assigned_to=str(e.data.get("department") or ""))

    def on_complaint__replied(self, e: Event, st: StreamState) -> Iterable[str]:
        on_time = _flag(e.data.get("on_time"))
        return self._update(st, status="replied", replied_at=e.time, replied_on_time=on_time)

    def on_complaint__closed(self, e: Event, st: StreamState) -> Iterable[str]:
        satisfied = _flag(e.data.get("satisfied"))
        return self._update(st, status="closed", closed_at=e.time, satisfied=satisfied)

    def on_complaint__violation_flagged(self, e: Event, st: StreamState) -> Iterable[str]:
        return self._count(st, "violations")

    def on_complaint__alert_raised(self, e: Event, st: StreamState) -> Iterable[str]:
        return self._count(st, "alerts")


class SupervisionOrdersProjector(StreamRowProjector):
    """``supervision_orders``: each supervision order (督办单) and its answer (反馈)."""

    table = "supervision_orders"
    columns = (
        "order_id", "case_id", "department", "inspector", "note", "status", "due_days",
        "ordered_at", "due_date", "answered_at", "answered_on_time", "alerts", "version",
        "last_event_id", "updated_at",
    )  # fmt: skip
    stream_column = "order_id"
    stream_prefix = "supervision."

    def on_supervision__ordered(self, e: Event, st: StreamState) -> Iterable[str]:
        d = e.data
        st.rows[""] = {
            "order_id": str(d.get("order_id") or e.subject),
            "case_id": str(d.get("case_id") or ""),
            "department": str(d.get("department") or e.department),
            "inspector": str(d.get("inspector") or ""),
            "note": str(d.get("note") or ""),
            "status": "ordered",
            "due_days": int(d.get("due_days") or 0),
            "ordered_at": e.time,
            "due_date": _date(d.get("due_date")) or clock.local_date(e.time),
            "answered_at": None,
            "answered_on_time": None,
            "alerts": 0,
            "version": 0,
            "last_event_id": "",
            "updated_at": e.time,
        }
        return ("",)

    def on_supervision__answered(self, e: Event, st: StreamState) -> Iterable[str]:
        on_time = _flag(e.data.get("on_time"))
        return self._update(st, status="answered", answered_at=e.time, answered_on_time=on_time)

    def on_supervision__alert_raised(self, e: Event, st: StreamState) -> Iterable[str]:
        return self._count(st, "alerts")


def default_projectors(capacity: int = DEFAULT_CAPACITY) -> tuple[Towns, list[Projector]]:
    """Every read model, in insert order (any order is safe: each table has its own gate),
    with the town directory the ratings and alerts share."""
    towns = Towns(capacity)
    return towns, [
        EventsProjector(capacity),
        AlertsProjector(towns, capacity),
        StepsProjector(capacity),
        RatingsProjector(towns, capacity),
        ComplaintsProjector(capacity),
        SupervisionOrdersProjector(capacity),
        CasesProjector(capacity),
    ]
