"""chdb.durable's log lines encoded with orjson (docs/decisions/0005-projector-batch-building.md).

chdb.durable encodes every logged statement with the standard json module twice
(once to check the segment size, once to buffer it); a projector batch logs tens
of MB of inserts. ``ChdbBackend`` installs :func:`_orjson_wal_line` instead: the
same JSON object and limit, and the second call for a statement returns the
first one's line.
"""

from __future__ import annotations

from collections.abc import Callable

import orjson

#: The last statement encoded and its line (one writer per process: see ChdbBackend).
_LAST_WAL_LINE: list[tuple[str, bytes]] = []
#: chdb.durable's own encoder, once replaced.
_LIBRARY_WAL_LINE: list[Callable[[str], bytes]] = []


def _orjson_wal_line(sql: str) -> bytes:
    """``chdb.durable.wal.encode_statement`` with orjson. A string orjson refuses (a lone
    surrogate) goes to the library's own encoder, which decides."""
    for text, encoded in _LAST_WAL_LINE:
        if text is sql:
            return encoded
    from chdb.durable.errors import LimitExceeded
    from chdb.durable.protocol import MAX_SQL_BYTES

    try:
        line = orjson.dumps({"sql": sql}) + b"\n"
    except orjson.JSONEncodeError:
        from chdb.durable import wal

        return (_LIBRARY_WAL_LINE or [wal.encode_statement])[0](sql)
    if len(line) > MAX_SQL_BYTES and len(sql.encode()) > MAX_SQL_BYTES:
        raise LimitExceeded(
            f"statement is {len(sql.encode())} bytes of UTF-8, over the V1 limit of {MAX_SQL_BYTES}"
        )
    _LAST_WAL_LINE[:] = [(sql, line)]
    return line


def use_orjson_wal_lines() -> None:
    """Install ``_orjson_wal_line`` in chdb.durable (once per process)."""
    from chdb.durable import wal

    if not _LIBRARY_WAL_LINE:
        _LIBRARY_WAL_LINE.append(wal.encode_statement)
        wal.encode_statement = _orjson_wal_line


def forget_last_line() -> None:
    """Drop the cached line: a batch's statement is large, keep no copy once it is logged."""
    _LAST_WAL_LINE.clear()
