"""Durable positions of the relay and consumers, kept in the event store's database.

A position is written only after the work up to it is done (for the relay: the
broker acknowledged every message), so a crash repeats at most the tail.
"""

from __future__ import annotations

from typing import Any

from eventsourcing.sqlite import SQLiteApplicationRecorder

_TABLE = "hallwatch_positions"


class PositionStore:
    """``name -> last processed notification id`` in SQLite or PostgreSQL."""

    def __init__(self, recorder: Any) -> None:
        self.recorder = recorder
        self.sqlite = isinstance(recorder, SQLiteApplicationRecorder)
        with recorder.datastore.transaction(commit=True) as c:
            c.execute(
                f"CREATE TABLE IF NOT EXISTS {_TABLE} "
                "(name TEXT PRIMARY KEY, position BIGINT NOT NULL)"
            )

    def get(self, name: str) -> int:
        mark = "?" if self.sqlite else "%s"
        with self.recorder.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT position FROM {_TABLE} WHERE name = {mark}", [name])
            row = c.fetchone()
        if row is None:
            return 0
        return int(row[0] if self.sqlite else row["position"])

    def set(self, name: str, position: int) -> None:
        mark = "?" if self.sqlite else "%s"
        with self.recorder.datastore.transaction(commit=True) as c:
            c.execute(
                f"INSERT INTO {_TABLE} (name, position) VALUES ({mark}, {mark}) "
                "ON CONFLICT (name) DO UPDATE SET position = excluded.position",
                [name, position],
            )
