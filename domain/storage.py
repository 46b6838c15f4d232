"""How events are written: one canonical JSON encoding, read back with real types.

The same bytes that are stored are the bytes the hash chain covers, so the
transcoder must be deterministic (sorted keys, orjson's fixed date formats).
Reading back, fields typed ``datetime``/``date``/``tuple`` on the event class
are rebuilt from their JSON strings and lists.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Sequence
from datetime import date, datetime
from functools import cache
from typing import Any, cast
from uuid import UUID

import orjson
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import (
    Mapper,
    MapperDeserialisationError,
    StoredEvent,
    Transcoder,
)
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore, PostgresFactory
from eventsourcing.sqlite import (
    SQLiteApplicationRecorder,
    SQLiteConnection,
    SQLiteConnectionPool,
    SQLiteCursor,
    SQLiteFactory,
)
from eventsourcing.utils import get_topic, resolve_topic
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

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


class BatchSQLiteRecorder(SQLiteApplicationRecorder):
    """SQLite recorder inserting a batch with one ``executemany``.

    The library inserts event by event to read each rowid back; inside the one
    write transaction rowids are consecutive (SQLite assigns max(rowid) + 1), so
    the notification ids follow from ``last_insert_rowid()``.
    """

    def construct_create_table_statements(self) -> list[str]:
        statements = super().construct_create_table_statements()
        statements.append(
            f"CREATE TABLE IF NOT EXISTS {RECORD_KEYS_TABLE} "
            "(key TEXT PRIMARY KEY, stream TEXT NOT NULL, digest TEXT NOT NULL) WITHOUT ROWID"
        )
        return statements

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = self._insert_rows(c, stored_events)
        _insert_keys_sqlite(c, kwargs.get("record_keys"))
        return ids

    def _insert_rows(self, c: SQLiteCursor, stored_events: Sequence[StoredEvent]) -> list[int]:
        if not stored_events:
            return []
        params = [
            (
                s.originator_id.hex if isinstance(s.originator_id, UUID) else s.originator_id,
                s.originator_version,
                s.topic,
                s.state,
            )
            for s in stored_events
        ]
        c.executemany(self.insert_events_statement, params)
        c.execute("SELECT last_insert_rowid()")
        last = int(c.fetchone()[0])
        return list(range(last - len(params) + 1, last + 1))

    def insert_rows(
        self,
        rows: Sequence[tuple[str, int, str, bytes]],
        record_keys: Sequence[tuple[str, str, str]] = (),
    ) -> None:
        """Insert ready rows (stream id hex, version, topic, state) in one transaction,
        with the idempotency keys of the records that caused them.

        For events that carry their canonical bytes: no StoredEvent per event,
        and each stream's id is turned to hex once rather than once per event.
        """
        with self.datastore.transaction(commit=True) as c:
            c.executemany(self.insert_events_statement, rows)
            _insert_keys_sqlite(c, record_keys)


WAL_AUTOCHECKPOINT_PAGES = 10_000
"""Checkpoint the WAL every ~40 MB instead of SQLite's ~4 MB.

Each batch lands on random pages of the (stream id, version) index; with the
default interval the same hot pages are checkpointed into the database file
again and again.  A larger interval writes each one once per checkpoint: about
15% faster intake, for up to ~40 MB of WAL on disk.
"""


SYNCHRONOUS = "FULL"
"""Sync the WAL at every commit: a committed batch survives a power loss or a kernel
crash, not only a crashed process. hallwatch is a system of record: once a batch is
committed its events may already be on Kafka (event ids are stream and version) and
the Kafka intake has committed its offsets, so a batch rolled back by ``NORMAL``
after a power cut could neither be told apart from new events nor be re-read. (The
intake bench's raw baseline uses the same setting.)
"""


class TunedSQLiteConnectionPool(SQLiteConnectionPool):
    """Connections with the event store's WAL checkpoint interval and sync level."""

    def _create_connection(self) -> SQLiteConnection:
        conn = super()._create_connection()
        conn._sqlite_conn.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
        if not self.is_sqlite_memory_mode:
            conn._sqlite_conn.execute(f"PRAGMA synchronous={SYNCHRONOUS}")
        return conn


class TunedSQLiteFactory(SQLiteFactory):
    """SQLite event store for hallwatch: batched inserts, tuned checkpoints."""

    application_recorder_class = BatchSQLiteRecorder

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        old = self.datastore.pool
        self.datastore.pool = TunedSQLiteConnectionPool(
            db_name=old.db_name, lock_timeout=old.lock_timeout
        )


# --- the idempotency keys of applied records -------------------------------------------

RECORD_KEYS_TABLE = "hallwatch_record_keys"
"""(source, record_id) -> the stream it was applied to and the digest of its content.

Written in the same transaction as the events the record caused, so a key is
there exactly when its events are: the same key again with the same content is
a duplicate, with other content (or on another stream) a conflict.
"""


def _insert_keys_sqlite(c: SQLiteCursor, keys: Sequence[tuple[str, str, str]] | None) -> None:
    if keys:
        c.executemany(
            f"INSERT INTO {RECORD_KEYS_TABLE} (key, stream, digest) VALUES (?, ?, ?)", keys
        )


class KeyedPostgresApplicationRecorder(PostgresApplicationRecorder):
    """PostgreSQL recorder that also records the idempotency keys of applied records."""

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name=events_table_name)
        self.record_keys_table = f"{events_table_name}_record_keys"
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {schema}.{table} "
                "(key text PRIMARY KEY, stream text NOT NULL, digest text NOT NULL)"
            ).format(
                schema=Identifier(self.datastore.schema),
                table=Identifier(self.record_keys_table),
            )
        )
        # Notification ids numbered under the table lock, not by the sequence: a
        # rolled-back insert (a write conflict) then leaves no hole that verify would
        # have to take for a deleted event (docs/tamper-evidence.md).
        self.insert_events_statement = SQL(
            "INSERT INTO {schema}.{table} AS t "
            "(originator_id, originator_version, topic, state, notification_id) "
            "SELECT e.originator_id, e.originator_version, e.topic, e.state, "
            "(SELECT COALESCE(MAX(notification_id), 0) FROM {schema}.{table}) + e.n "
            "FROM unnest(%s::{schema}.{stored_event_type}[]) WITH ORDINALITY "
            "AS e(originator_id, originator_version, topic, state, n) "
            "RETURNING notification_id"
        ).format(
            schema=Identifier(self.datastore.schema),
            table=Identifier(self.events_table_name),
            stored_event_type=Identifier(self.stored_event_type_name),
        )
        self.sql_insert_keys = SQL(
            "INSERT INTO {schema}.{table} (key, stream, digest) VALUES (%s, %s, %s)"
        ).format(schema=Identifier(self.datastore.schema), table=Identifier(self.record_keys_table))

    def _insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        keys = kwargs.get("record_keys")
        if keys:
            curs.executemany(self.sql_insert_keys, keys)


class KeyedPostgresFactory(PostgresFactory):
    """PostgreSQL event store for hallwatch: events plus the records' idempotency keys."""

    application_recorder_class = KeyedPostgresApplicationRecorder


def select_record_keys(
    recorder: Any, keys: Sequence[str], chunk: int = 900
) -> dict[str, tuple[str, str]]:
    """The stored (stream, digest) of each key already applied; absent keys are new."""
    out: dict[str, tuple[str, str]] = {}
    if isinstance(recorder, BatchSQLiteRecorder):
        for i in range(0, len(keys), chunk):
            part = keys[i : i + chunk]
            marks = ",".join("?" * len(part))
            with recorder.datastore.transaction(commit=False) as c:
                c.execute(
                    f"SELECT key, stream, digest FROM {RECORD_KEYS_TABLE} WHERE key IN ({marks})",
                    list(part),
                )
                for row in c.fetchall():
                    out[row[0]] = (row[1], row[2])
    elif isinstance(recorder, KeyedPostgresApplicationRecorder):
        query = SQL("SELECT key, stream, digest FROM {schema}.{table} WHERE key = ANY(%s)").format(
            schema=Identifier(recorder.datastore.schema),
            table=Identifier(recorder.record_keys_table),
        )
        with recorder.datastore.transaction(commit=False) as c:
            c.execute(query, [list(keys)])
            for row in c.fetchall():
                out[row["key"]] = (row["stream"], row["digest"])
    return out
