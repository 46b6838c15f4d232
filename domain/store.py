"""What the application needs of its event store beyond the library's recorder.

The domain names the operations; infra/persistence.py implements them for SQLite
and PostgreSQL, and infra/wiring.py hands the application the one configured.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol, runtime_checkable
from uuid import UUID

from eventsourcing.persistence import StoredEvent

#: A ready row: stream id, version, topic, the canonical bytes the chain covers.
StoredRow = tuple[UUID, int, str, bytes]
#: An applied record's idempotency key, the stream it was applied to and its digest.
RecordKey = tuple[str, str, str]


@runtime_checkable
class BatchRecorder(Protocol):
    """An event store that writes a whole intake batch at once and reads many streams
    and idempotency keys in one query each."""

    def insert_batch(self, rows: Sequence[StoredRow], record_keys: Sequence[RecordKey]) -> None:
        """Store the rows and the keys of the records that caused them, in one transaction."""

    def select_streams(self, ids: Sequence[UUID]) -> Iterator[StoredEvent]:
        """Every stored event of these streams (in no particular order)."""

    def select_record_keys(self, keys: Sequence[str]) -> dict[str, tuple[str, str]]:
        """The stored (stream, digest) of each key already applied; absent keys are new."""
