"""The event store on SQLite (the embedded default) and PostgreSQL (production).

Each recorder adds to the library's what the application asks for
(domain/store.py): a batch written in one statement, many streams and
idempotency keys read in one query. Why the SQLite settings: docs/decisions/
0004-sqlite-full-sync.md; why PostgreSQL numbers events under the table lock:
docs/tamper-evidence.md.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore, PostgresFactory
from eventsourcing.sqlite import (
    SQLiteApplicationRecorder,
    SQLiteConnection,
    SQLiteConnectionPool,
    SQLiteCursor,
    SQLiteFactory,
)
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

from domain.store import RecordKey, StoredRow

RECORD_KEYS_TABLE = "hallwatch_record_keys"
"""(source, record_id) -> the stream it was applied to and the digest of its content,
written in the same transaction as the events the record caused."""

#: Ids per SELECT … IN (…): under SQLite's limit of host parameters.
CHUNK = 900

#: Checkpoint the WAL every ~40 MB instead of SQLite's ~4 MB (docs/decisions/0004).
WAL_AUTOCHECKPOINT_PAGES = 10_000

#: Sync the WAL at every commit: a committed batch may already be on Kafka (docs/decisions/0004).
SYNCHRONOUS = "FULL"


def _chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), CHUNK):
        yield items[i : i + CHUNK]


# --- SQLite ---------------------------------------------------------------------------


class BatchSQLiteRecorder(SQLiteApplicationRecorder):
    """SQLite recorder inserting a batch with one ``executemany``: inside the one write
    transaction rowids are consecutive, so notification ids follow from the last one."""

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
        if not stored_events:
            _insert_keys_sqlite(c, kwargs.get("record_keys"))
            return []
        c.executemany(
            self.insert_events_statement,
            [
                (
                    s.originator_id.hex if isinstance(s.originator_id, UUID) else s.originator_id,
                    s.originator_version,
                    s.topic,
                    s.state,
                )
                for s in stored_events
            ],
        )
        _insert_keys_sqlite(c, kwargs.get("record_keys"))
        c.execute("SELECT last_insert_rowid()")
        last = int(c.fetchone()[0])
        return list(range(last - len(stored_events) + 1, last + 1))

    def insert_batch(self, rows: Sequence[StoredRow], record_keys: Sequence[RecordKey]) -> None:
        """Ready rows (no StoredEvent per event) and their records' keys, one transaction."""
        with self.datastore.transaction(commit=True) as c:
            c.executemany(
                self.insert_events_statement, [(sid.hex, v, t, s) for sid, v, t, s in rows]
            )
            _insert_keys_sqlite(c, record_keys)

    def select_streams(self, ids: Sequence[UUID]) -> Iterator[StoredEvent]:
        cols = "originator_id, originator_version, topic, state"
        for part in _chunks(ids):
            marks = ",".join("?" * len(part))
            with self.datastore.transaction(commit=False) as c:
                c.execute(
                    f"SELECT {cols} FROM {self.events_table_name} WHERE originator_id IN ({marks})",
                    [u.hex for u in part],
                )
                rows = c.fetchall()
            for row in rows:
                yield StoredEvent(UUID(row[0]), row[1], row[2], row[3])

    def select_record_keys(self, keys: Sequence[str]) -> dict[str, tuple[str, str]]:
        out: dict[str, tuple[str, str]] = {}
        for part in _chunks(keys):
            marks = ",".join("?" * len(part))
            with self.datastore.transaction(commit=False) as c:
                c.execute(
                    f"SELECT key, stream, digest FROM {RECORD_KEYS_TABLE} WHERE key IN ({marks})",
                    list(part),
                )
                for row in c.fetchall():
                    out[row[0]] = (row[1], row[2])
        return out


def _insert_keys_sqlite(c: SQLiteCursor, keys: Sequence[RecordKey] | None) -> None:
    if keys:
        c.executemany(
            f"INSERT INTO {RECORD_KEYS_TABLE} (key, stream, digest) VALUES (?, ?, ?)", keys
        )


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


# --- PostgreSQL -------------------------------------------------------------------------


class KeyedPostgresApplicationRecorder(PostgresApplicationRecorder):
    """PostgreSQL recorder that also records the idempotency keys of applied records and
    numbers events under the table lock, so a rolled-back write conflict leaves no gap."""

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name=events_table_name)
        self.record_keys_table = f"{events_table_name}_record_keys"
        schema = Identifier(self.datastore.schema)
        keys = Identifier(self.record_keys_table)
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {schema}.{table} "
                "(key text PRIMARY KEY, stream text NOT NULL, digest text NOT NULL)"
            ).format(schema=schema, table=keys)
        )
        self.insert_events_statement = SQL(
            "INSERT INTO {schema}.{table} AS t "
            "(originator_id, originator_version, topic, state, notification_id) "
            "SELECT e.originator_id, e.originator_version, e.topic, e.state, "
            "(SELECT COALESCE(MAX(notification_id), 0) FROM {schema}.{table}) + e.n "
            "FROM unnest(%s::{schema}.{stored_event_type}[]) WITH ORDINALITY "
            "AS e(originator_id, originator_version, topic, state, n) "
            "RETURNING notification_id"
        ).format(
            schema=schema,
            table=Identifier(self.events_table_name),
            stored_event_type=Identifier(self.stored_event_type_name),
        )
        self.sql_insert_keys = SQL(
            "INSERT INTO {schema}.{table} (key, stream, digest) VALUES (%s, %s, %s)"
        ).format(schema=schema, table=keys)
        self.sql_select_keys = SQL(
            "SELECT key, stream, digest FROM {schema}.{table} WHERE key = ANY(%s)"
        ).format(schema=schema, table=keys)

    def _insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        keys = kwargs.get("record_keys")
        if keys:
            curs.executemany(self.sql_insert_keys, keys)

    def insert_batch(self, rows: Sequence[StoredRow], record_keys: Sequence[RecordKey]) -> None:
        stored = [StoredEvent(sid, v, t, s) for sid, v, t, s in rows]
        self.insert_events(stored, record_keys=record_keys)

    def select_streams(self, ids: Sequence[UUID]) -> Iterator[StoredEvent]:
        cols = "originator_id, originator_version, topic, state"
        for part in _chunks(ids):
            with self.datastore.transaction(commit=False) as c:
                c.execute(
                    f"SELECT {cols} FROM {self.events_table_name} WHERE originator_id = ANY(%s)",
                    [list(part)],
                )
                rows = c.fetchall()
            for row in rows:
                yield StoredEvent(
                    row["originator_id"],
                    row["originator_version"],
                    row["topic"],
                    bytes(row["state"]),
                )

    def select_record_keys(self, keys: Sequence[str]) -> dict[str, tuple[str, str]]:
        out: dict[str, tuple[str, str]] = {}
        with self.datastore.transaction(commit=False) as c:
            c.execute(self.sql_select_keys, [list(keys)])
            for row in c.fetchall():
                out[row["key"]] = (row["stream"], row["digest"])
        return out


class KeyedPostgresFactory(PostgresFactory):
    """PostgreSQL event store for hallwatch: events plus the records' idempotency keys."""

    application_recorder_class = KeyedPostgresApplicationRecorder
