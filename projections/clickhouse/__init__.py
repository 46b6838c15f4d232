"""ClickHouse for hallwatch's read models: one SQL, two backends.

* ``ChdbBackend`` (``chdb_backend.py``, the embedded default): ClickHouse in this
  process on a ``chdb.durable`` folder (``<data_dir>/clickhouse``), one writer and
  any number of read-only openers (docs/decisions/0001-chdb-single-writer.md).
* ``ServerBackend`` (``server_backend.py``): a ClickHouse server through
  clickhouse-driver's native protocol; CI runs it against Debian's 18.16.

``common.py`` holds the SQL subset both accept, the one quoting function and the
``ClickHouse`` protocol; ``wal.py`` the faster encoder of chdb.durable's log lines.

ReplacingMergeTree collapses duplicates only when parts merge, which happens
eventually, so a query must deduplicate itself: see ``projections.migrations``.
"""

from __future__ import annotations

from pathlib import Path

from projections.clickhouse.chdb_backend import MAX_INSERT_STATEMENT_BYTES, ChdbBackend
from projections.clickhouse.common import (
    SERVER_SCHEMES,
    SHANGHAI,
    ClickHouse,
    ClickHouseError,
    Insert,
    Prepared,
    Reader,
    day,
    equals,
    identifier,
    quote,
    quote_all,
    ts,
)
from projections.clickhouse.server_backend import ServerBackend

__all__ = [
    "MAX_INSERT_STATEMENT_BYTES",
    "SERVER_SCHEMES",
    "SHANGHAI",
    "ChdbBackend",
    "ClickHouse",
    "ClickHouseError",
    "Insert",
    "Prepared",
    "Reader",
    "ServerBackend",
    "connect",
    "day",
    "equals",
    "identifier",
    "quote",
    "quote_all",
    "ts",
]


def connect(url_or_path: str | Path, *, read_only: bool = False) -> ClickHouse:
    """``clickhouse://…`` (or ``clickhouses://``) opens a server; anything else is a chdb folder."""
    if isinstance(url_or_path, str) and url_or_path.startswith(SERVER_SCHEMES):
        return ServerBackend(url_or_path, read_only=read_only)
    return ChdbBackend(Path(url_or_path), read_only=read_only)
