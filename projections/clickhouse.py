"""ClickHouse for hallwatch's read models: one SQL, two backends.

* ``ChdbBackend`` (the embedded default) runs ClickHouse in this process with
  chdb, on a ``chdb.durable`` object kept in a folder (``<data_dir>/clickhouse``).
  A plain chdb data path can be opened by one process only (a second one fails
  with "Cannot lock file …/status", even with ``mode=ro``). ``chdb.durable``
  lifts that for readers: one writer holds a lease and publishes every
  statement to a write-ahead log in the folder (plus full checkpoints now and
  then); a read-only opener in any other process restores base + WAL into a
  private scratch copy and re-opens when the folder's head moved on, so it sees
  what the writer published at most ``refresh_interval`` seconds ago. The
  costs: every open and every reader refresh restores the whole database
  (about 0.1 s empty, 0.9 s at a million rows), and each statement the writer
  runs is logged as SQL text, so inserts travel as ``INSERT … FORMAT
  JSONCompactColumns <literal data>``. chdb.durable V1 never deletes a
  superseded checkpoint or WAL segment; the writer here does, ``gc_grace``
  seconds after they stopped being referenced. For many readers or a large
  database, use the server.
* ``ServerBackend`` talks to a ClickHouse server through clickhouse-driver's
  native protocol. CI runs it against Debian's clickhouse-server 18.16.

The SQL that projectors and queries write must be accepted by both the newest
ClickHouse (chdb) and 18.16. On 18.16 there are no window functions,
DateTime64, Map/JSON types, ``{p:Type}`` parameters, ``WITH name AS (subquery)``
CTEs, ``true``/``false`` literals, ``FILTER (WHERE …)``, ``JSONExtract*``
(use ``visitParamExtract*``) or more than one JOIN per SELECT (nest aliased
subqueries instead); ``formatDateTime``'s ``%M`` is minutes there and the month
name in new versions (use ``%i`` for neither: avoid it, or format in Python).
Inserts go through :meth:`ClickHouse.insert` only: an inline
``INSERT … VALUES (…)`` sent through the native driver hangs against 18.16
(and with an empty data list is silently dropped), so ``execute`` refuses one on
both backends. Values: ``DateTime('Asia/Shanghai')`` for instants (naive
datetimes are taken as Asia/Shanghai; sub-second precision is dropped: use
UInt64 epoch milliseconds where it matters), ``Date`` for dates, ``UInt8`` for
booleans, ``Nullable(T)`` for optional columns. Results come back as Python
values: str, int, float, ``date``, ``datetime`` (aware, in the column's zone),
``None``.

ReplacingMergeTree collapses duplicates only when parts merge, which happens
eventually, so a query must deduplicate itself: see ``projections.migrations``.
"""

from __future__ import annotations

import math
import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self
from urllib.parse import urlsplit, urlunsplit
from uuid import UUID
from zoneinfo import ZoneInfo

import orjson

SHANGHAI = ZoneInfo("Asia/Shanghai")
SERVER_SCHEMES = ("clickhouse://", "clickhouses://")


class ClickHouseError(RuntimeError):
    """A statement, an insert or a connection failed; the message says which and why."""


#: One table's batch: (table, columns, rows).
Insert = tuple[str, Sequence[str], Sequence[Sequence[Any]]]


@dataclass(frozen=True, slots=True)
class Prepared:
    """Inserts encoded by a backend's ``prepare_inserts``, for its ``insert_prepared``
    only (chdb: statements; a server: native inserts)."""

    statements: tuple[Any, ...]


class ClickHouse(Protocol):
    """What projectors and queries use, whichever backend is behind it."""

    def execute(self, sql: str) -> None:
        """Run one statement that returns nothing (DDL, INSERT … SELECT, OPTIMIZE…)."""
        ...

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Insert rows (one tuple per row, in ``columns`` order) as one batch."""
        ...

    def insert_many(self, inserts: Sequence[Insert]) -> None:
        """Several ``insert`` calls (table, columns, rows) that readers should see together
        where the backend can publish them at once (chdb: one log segment)."""
        ...

    def prepare_inserts(self, inserts: Sequence[Insert]) -> Prepared:
        """``insert_many`` in two halves: this one checks and encodes the rows, touching
        no connection (a projector does it while the previous batch is written) …"""
        ...

    def insert_prepared(self, prepared: Prepared) -> None:
        """… and this one sends what ``prepare_inserts`` made."""
        ...

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """Run one SELECT-like statement and return its rows."""
        ...

    def query_dicts(self, sql: str) -> list[dict[str, Any]]:
        """Like ``query``, one dict per row keyed by column name."""
        ...

    def server_version(self) -> tuple[int, ...]:
        """The ClickHouse version, e.g. (18, 16, 1) or (26, 9, 2, 1)."""
        ...

    def close(self) -> None:
        """Release the connection (and, for chdb, the write lease)."""
        ...


# --------------------------------------------------------------------------- SQL helpers

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?\Z")
_LEADING_COMMENTS = re.compile(r"\A(?:\s+|--[^\n]*(?:\n|\Z)|/\*.*?\*/)*", re.S)
_INLINE_INSERT = re.compile(
    r"INSERT\s+INTO\s+(?:TABLE\s+)?[^\s(]+\s*(?:\([^)]*\)\s*)?(?:SETTINGS\b.*?)?\b(?:VALUES|FORMAT)\b",
    re.I | re.S,
)
_STRING_ESCAPES = str.maketrans(
    {"\\": "\\\\", "'": "\\'", "\0": "\\0", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
)


def quote(value: Any) -> str:
    """A SQL literal for ``value``, safe to splice into a statement where no
    server-side parameters exist (18.16 has none). Strings are escaped with
    backslashes as ClickHouse reads them; datetimes become
    ``toDateTime('…', 'Asia/Shanghai')`` (naive ones taken as Shanghai time)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise TypeError(f"cannot quote {value!r}")
        return str(value)
    if isinstance(value, datetime):
        local = value.astimezone(SHANGHAI) if value.tzinfo else value
        return f"toDateTime('{local:%Y-%m-%d %H:%M:%S}', 'Asia/Shanghai')"
    if isinstance(value, date):
        return f"toDate('{value.isoformat()}')"
    if isinstance(value, str):
        return "'" + value.translate(_STRING_ESCAPES) + "'"
    raise TypeError(f"cannot quote a {type(value).__name__} as a ClickHouse literal")


def identifier(name: str) -> str:
    """``name`` if it is a plain (optionally database-qualified) identifier; refuse anything else,
    since table and column names are spliced into SQL as they are."""
    if not _IDENT.match(name):
        raise ClickHouseError(f"not a plain identifier: {name!r}")
    return name


def _statement(sql: str) -> str:
    """One statement without the trailing ``;``; refuse inline INSERT data (see module doc)."""
    text = sql.strip().rstrip(";").rstrip()
    if not text:
        raise ClickHouseError("empty statement")
    m = _LEADING_COMMENTS.match(text)
    head = text[m.end() :] if m else text
    if _INLINE_INSERT.match(head):
        raise ClickHouseError(
            "inline INSERT … VALUES/FORMAT is not portable (the native driver hangs on it "
            "against ClickHouse 18.16): use insert(table, columns, rows)"
        )
    return text


def _json_default(value: Any) -> Any:
    """orjson fallback for insert payloads (datetimes, dates and UUIDs it writes itself)."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, set | frozenset):
        return list(value)
    raise TypeError(f"cannot insert a {type(value).__name__}")


def _naive_as_shanghai(rows: Sequence[Sequence[Any]], width: int) -> Sequence[Sequence[Any]]:
    """Rows with every naive datetime given the Shanghai zone, so both backends read it the
    same way whatever the column's zone (columns are only rewritten where one is found)."""
    fix = []
    for i in range(width):
        first = next((r[i] for r in rows if r[i] is not None), None)
        if isinstance(first, datetime) and any(
            isinstance(r[i], datetime) and r[i].tzinfo is None for r in rows
        ):
            fix.append(i)
    if not fix:
        return rows
    out = [list(r) for r in rows]
    for r in out:
        for i in fix:
            v = r[i]
            if isinstance(v, datetime) and v.tzinfo is None:
                r[i] = v.replace(tzinfo=SHANGHAI)
    return out


def _check_rows(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    cols = [identifier(c) for c in columns]
    if not cols:
        raise ClickHouseError("insert needs at least one column")
    width = len(cols)
    for i, row in enumerate(rows):
        if len(row) != width:
            raise ClickHouseError(f"row {i} has {len(row)} values for {width} columns")
    return cols


# --------------------------------------------------------------------------- result values

_Conv = Callable[[Any], Any]


def _split_args(inner: str) -> list[str]:
    """Top-level comma-separated arguments of a type like ``Tuple(a, Array(b))``."""
    out, depth, start, quoted = [], 0, 0, False
    for i, ch in enumerate(inner):
        if ch == "'":
            quoted = not quoted
        elif quoted:
            continue
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(inner[start:i].strip())
            start = i + 1
    out.append(inner[start:].strip())
    return out


def _parse_datetime(tz: ZoneInfo | None) -> _Conv:
    def conv(v: Any) -> Any:
        if v is None:
            return None
        dt = datetime.fromisoformat(v)
        return dt.replace(tzinfo=tz) if tz else dt

    return conv


def _json_converter(type_name: str) -> _Conv | None:
    """How to turn chdb's JSONCompact value of this type into the Python value the driver gives."""
    t = type_name.strip()
    for wrapper in ("Nullable(", "LowCardinality("):
        if t.startswith(wrapper):
            inner = _json_converter(t[len(wrapper) : -1])
            if inner is None:
                return None
            return lambda v: None if v is None else inner(v)
    if t == "DateTime" or t.startswith("DateTime("):
        zone = t[len("DateTime(") : -1].strip("'") if t.startswith("DateTime(") else ""
        return _parse_datetime(ZoneInfo(zone) if zone else None)
    if t in ("Date", "Date32"):
        return lambda v: None if v is None else date.fromisoformat(v)
    if re.fullmatch(r"U?Int(64|128|256)", t):
        return lambda v: None if v is None else int(v)
    if t.startswith("Float"):
        return lambda v: math.nan if v is None else float(v)
    if t.startswith("Decimal"):
        return lambda v: None if v is None else Decimal(str(v))
    if t.startswith("Array("):
        item = _json_converter(t[len("Array(") : -1])
        if item is None:
            return None
        return lambda v: None if v is None else [item(x) for x in v]
    if t.startswith("Tuple("):
        parts = [_json_converter(p.split(" ")[-1] if " " in p else p) for p in _split_args(t[6:-1])]
        ident: _Conv = lambda x: x  # noqa: E731
        fns = [p or ident for p in parts]
        return lambda v: None if v is None else tuple(f(x) for f, x in zip(fns, v, strict=False))
    return None


def _server_value(v: Any) -> Any:
    """The driver's value, made identical to what chdb gives (zoneinfo zones, str UUIDs)."""
    if isinstance(v, datetime) and v.tzinfo is not None and not isinstance(v.tzinfo, ZoneInfo):
        return v.astimezone(ZoneInfo(str(getattr(v.tzinfo, "zone", None) or v.tzname())))
    if isinstance(v, list):
        return [_server_value(x) for x in v]
    if isinstance(v, tuple):
        return tuple(_server_value(x) for x in v)
    if isinstance(v, UUID):
        return str(v)
    return v


def _needs_server_fix(type_name: str) -> bool:
    return "DateTime(" in type_name or "UUID" in type_name


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text)[:4])


# --------------------------------------------------------------------------- chdb

#: One inline insert statement stays below chdb.durable's 64 MiB statement limit.
MAX_INSERT_STATEMENT_BYTES = 48 * 1024 * 1024


def _orjson_wal_line(sql: str) -> bytes:
    """``chdb.durable.wal.encode_statement`` with orjson: the same JSON object and limit.

    The library encodes every logged statement with the standard json module twice,
    once to check the segment size and once to buffer it; a projector batch logs tens
    of MB of inserts, where that was about 15% of the projector's time. Here the
    second call for the same statement returns the first one's line. A string orjson
    refuses (a lone surrogate) goes to the library's own encoder, which decides."""
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


#: The last statement encoded and its line (one writer per process: see ChdbBackend).
_LAST_WAL_LINE: list[tuple[str, bytes]] = []
_LIBRARY_WAL_LINE: list[Callable[[str], bytes]] = []


def _use_orjson_wal_lines() -> None:
    """Install ``_orjson_wal_line`` in chdb.durable (once per process)."""
    from chdb.durable import wal

    if not _LIBRARY_WAL_LINE:
        _LIBRARY_WAL_LINE.append(wal.encode_statement)
        wal.encode_statement = _orjson_wal_line


class _Common:
    """What both backends derive from their own ``_select`` (column names, rows),
    ``prepare_inserts`` and ``insert_prepared``."""

    def _select(self, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        raise NotImplementedError

    def prepare_inserts(self, inserts: Sequence[Insert]) -> Prepared:
        raise NotImplementedError

    def insert_prepared(self, prepared: Prepared) -> None:
        raise NotImplementedError

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        self.insert_many([(table, columns, rows)])

    def insert_many(self, inserts: Sequence[Insert]) -> None:
        self.insert_prepared(self.prepare_inserts(inserts))

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        return self._select(sql)[1]

    def query_dicts(self, sql: str) -> list[dict[str, Any]]:
        names, rows = self._select(sql)
        return [dict(zip(names, r, strict=True)) for r in rows]


class ChdbBackend(_Common):
    """Embedded ClickHouse (chdb) on a ``chdb.durable`` folder: one writer, any readers.

    ``read_only=False`` takes the folder's write lease (a second writer, in any
    process, is refused until it is released or expires after ``lease_ttl``
    seconds). ``read_only=True`` needs the folder to exist and reloads it when a
    query finds the writer has published since, at most every
    ``refresh_interval`` seconds. A process can hold one chdb database at a time.
    """

    def __init__(
        self,
        path: Path,
        read_only: bool = False,
        *,
        refresh_interval: float = 1.0,
        lease_ttl: float = 30.0,
        checkpoint_min_bytes: int = 64 * 1024 * 1024,
        wal_per_base_byte: float = 8.0,
        max_wal_segments: int = 256,
        gc_grace: float = 60.0,
    ) -> None:
        self.path = Path(path).absolute()
        if any(c in str(self.path) for c in "?#"):
            raise ClickHouseError(f"chdb path must not contain '?' or '#': {self.path}")
        self.read_only = read_only
        self.refresh_interval = refresh_interval
        self.lease_ttl = lease_ttl
        self.checkpoint_min_bytes = checkpoint_min_bytes
        self.wal_per_base_byte = wal_per_base_byte
        self.max_wal_segments = max_wal_segments
        self.gc_grace = gc_grace
        self._superseded: dict[str, float] = {}
        self.catch_ups = 0  # refreshes that replayed only new log segments
        self.reloads = 0  # refreshes that restored the whole database (a new checkpoint)
        self._lock = threading.RLock()
        self._version: tuple[int, ...] | None = None
        self._checked_at = 0.0
        from chdb import durable  # heavy (loads the engine): only when chdb is used

        _use_orjson_wal_lines()
        self._durable: Any = durable
        self._namespace_url = f"local:{self.path.parent}"
        self._store: Any = durable.make_backend(self._namespace_url, self.path.name)
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._obj: Any = None
        self._open()

    # -- lifecycle ------------------------------------------------------------
    def _open(self) -> None:
        d = self._durable
        ns = d.Namespace(
            self._namespace_url, owner=f"hallwatch-{os.getpid()}", lease_ttl=self.lease_ttl
        )
        try:
            for attempt in range(5):
                try:
                    self._obj = ns.open(self.path.name, read_only=self.read_only)
                    break
                except d.Corrupt:
                    # A reader that read the head just before the writer swept what it
                    # superseded finds a file gone: the new head names the current ones.
                    if not self.read_only or attempt == 4:
                        raise
                    time.sleep(0.05 * (attempt + 1))
        except d.LeaseHeld as e:
            raise ClickHouseError(
                f"{self.path} is being written by another process ({e}); open it read-only to "
                f"query it, or wait until that writer closes (its lease lasts {self.lease_ttl:g}s "
                "after a crash)"
            ) from e
        except d.NotFound as e:
            raise ClickHouseError(
                f"no ClickHouse data at {self.path} yet: a writer (migrate) must create it first"
            ) from e
        except d.DurableError as e:
            raise ClickHouseError(
                f"could not open chdb at {self.path}: {e} (a process can hold one chdb database "
                "at a time: close the other one first)"
            ) from e
        self._checked_at = time.monotonic()
        if not self.read_only:
            self._sweep()

    def close(self) -> None:
        """Fold a long WAL into a checkpoint (the rule of ``_maybe_checkpoint``), release
        the lease."""
        with self._lock:
            obj, self._obj = self._obj, None
            if obj is None:
                return
            try:
                if not self.read_only:
                    self._maybe_checkpoint(obj)
            except ClickHouseError:
                obj.close()
                raise
            try:
                obj.close()
            except self._durable.DurableError as e:
                raise ClickHouseError(f"closing {self.path} failed: {e}") from e

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _live(self) -> Any:
        if self._obj is None:
            raise ClickHouseError(f"the chdb connection to {self.path} is closed")
        return self._obj

    # -- freshness (readers) --------------------------------------------------
    def _published_mark(self) -> tuple[int, str | None]:
        from chdb.durable.protocol import HEAD_KEY

        raw = self._store.get(HEAD_KEY)
        if raw is None:
            raise ClickHouseError(f"{self.path} has disappeared")
        manifest = self._durable.Head.parse(raw).manifest
        return manifest.seq, manifest.base.key if manifest.base else None

    def refresh(self) -> bool:
        """Reload the database if the writer published since it was opened; True if it did."""
        with self._lock:
            obj = self._live()
            self._checked_at = time.monotonic()
            if not self.read_only:
                return False  # the writer's copy is the newest there is
            mine = (obj.seq, obj.base.key if obj.base else None)
            if self._published_mark() == mine:
                return False
            if self._catch_up(obj):
                self.catch_ups += 1
                return True
            self.reloads += 1
            self._obj = None
            obj.close()
            self._open()
            return True

    def _catch_up(self, obj: Any) -> bool:
        """Replay only the log segments the writer published since this reader last
        looked, when the checkpoint is the same one (the usual case between checkpoints):
        a refresh then costs what is new, not a restore of the whole database (seconds
        at 100k events). False when it cannot (new checkpoint, unexpected state): the
        caller reopens."""
        from chdb.durable.digest import verify_bytes
        from chdb.durable.wal import replay

        try:
            head, etag = obj._read_head()
            if head is None or obj._head is None or obj._engine is None:
                return False
            old, new = obj._head.manifest, head.manifest
            old_keys = [r.key for r in old.wal]
            if (new.base != old.base or new.db != old.db
                    or [r.key for r in new.wal[: len(old_keys)]] != old_keys):  # fmt: skip
                return False
            segments = []
            for ref in new.wal[len(old_keys) :]:
                segment = obj.backend.get(ref.key)
                if segment is None:
                    return False
                verify_bytes(segment, ref, what="WAL segment")
                segments.append((ref, segment))
            obj._engine.use_database(obj.db)
            for ref, segment in segments:
                replay(segment, ref.key, lambda sql: obj._engine.query(sql, "CSV"))
            obj._head, obj._head_etag = head, etag
            return True
        except Exception:  # anything unexpected: a full reopen is always correct
            return False

    def _maybe_refresh(self) -> None:
        if self.read_only and time.monotonic() - self._checked_at >= self.refresh_interval:
            self.refresh()

    # -- writes ----------------------------------------------------------------
    def _writable(self) -> Any:
        if self.read_only:
            raise ClickHouseError(f"{self.path} was opened read-only")
        return self._live()

    def _run_logged(self, sql: str, *, publish: bool = True) -> None:
        """Run one mutation and log it; with ``publish`` also publish the log (readers see
        it from now on) and checkpoint if due."""
        d = self._durable
        obj = self._writable()
        try:
            try:
                obj.execute(sql)
            except d.LimitExceeded:
                if obj.flush() is None:  # the statement alone is over the limit
                    raise
                obj.execute(sql)  # the pending segment was full: it is published now
            finally:
                _LAST_WAL_LINE.clear()  # a batch's statement is large: keep no copy of it
            if publish:
                obj.flush()
        except d.DurableError as e:
            raise ClickHouseError(f"{e}: {sql[:200]}") from e
        if publish:
            self._maybe_checkpoint(obj)

    def _publish(self) -> None:
        d = self._durable
        obj = self._writable()
        try:
            obj.flush()
        except d.DurableError as e:
            raise ClickHouseError(f"publishing {self.path} failed: {e}") from e
        self._maybe_checkpoint(obj)

    def _maybe_checkpoint(self, obj: Any) -> None:
        """Fold the WAL into a fresh base once replaying it would cost about as much as
        restoring the base: every open (a reader, a restarted writer) restores the base,
        then replays the WAL.

        Measured with chdb 4.4 on ~115k events: restoring a 15 MB base took 5.8 s
        (0.38 s/MB), replaying 87 MB of logged inserts 2.9 s (0.034 s/MB), so a WAL byte
        costs about a tenth of a base byte. The WAL is folded at ``wal_per_base_byte``
        (8) WAL bytes per base byte, and never below ``checkpoint_min_bytes`` (64 MiB,
        about 2 s of replay), or at ``max_wal_segments`` segments. A checkpoint is a full
        backup, so folding rarely also keeps a bulk rebuild linear."""
        wal = obj.wal
        if not wal:
            return
        wal_bytes = sum(r.size for r in wal)
        base_bytes = obj.base.size if obj.base else 0
        if len(wal) >= self.max_wal_segments or wal_bytes >= max(
            self.checkpoint_min_bytes, self.wal_per_base_byte * base_bytes
        ):
            try:
                obj.checkpoint()
            except self._durable.DurableError as e:
                raise ClickHouseError(f"checkpoint of {self.path} failed: {e}") from e
            self._sweep(obj)

    def _sweep(self, obj: Any = None) -> None:
        """Delete checkpoints and WAL segments the head no longer names, ``gc_grace`` seconds
        after this writer first saw them unreferenced: chdb.durable V1 keeps every one forever,
        and a reader restoring from an older head may still be reading them for a moment."""
        obj = obj or self._obj
        referenced = {r.key for r in obj.wal}
        if obj.base:
            referenced.add(obj.base.key)
        now = time.monotonic()
        for sub in ("wal", "checkpoints"):
            folder = self.path / sub
            if not folder.is_dir():
                continue
            for f in folder.iterdir():
                key = f"{sub}/{f.name}"
                if key in referenced or not f.name.endswith((".jsonl", ".tar.gz")):
                    continue
                since = self._superseded.setdefault(key, now)
                if now - since >= self.gc_grace:
                    f.unlink(missing_ok=True)
                    del self._superseded[key]

    def execute(self, sql: str) -> None:
        with self._lock:
            self._run_logged(_statement(sql))

    def prepare_inserts(self, inserts: Sequence[Insert]) -> Prepared:
        """One ``INSERT … FORMAT JSONCompactColumns`` per table with orjson-built data (split
        only past 48 MiB): the WAL must hold literal data, and this is the fastest literal
        form found (datetimes travel as RFC 3339 text with their offset, read with
        ``best_effort``)."""
        statements: list[str] = []
        for table, columns, rows in inserts:
            cols = _check_rows(columns, rows)
            if not rows:
                continue
            head = (
                f"INSERT INTO {identifier(table)} ({', '.join(cols)}) "
                "SETTINGS date_time_input_format = 'best_effort' FORMAT JSONCompactColumns "
            )
            self._encode(head, _naive_as_shanghai(rows, len(cols)), statements)
        return Prepared(tuple(statements))

    def insert_prepared(self, prepared: Prepared) -> None:
        """Every statement, then one publish: readers see the whole batch at once, and a
        batch costs one log segment and one head update instead of one per table."""
        with self._lock:
            for sql in prepared.statements:
                self._run_logged(sql, publish=False)
            self._publish()

    @staticmethod
    def _encode(head: str, rows: Sequence[Sequence[Any]], out: list[str]) -> None:
        """The statement(s) inserting ``rows``: halves until each is under 48 MiB."""
        try:
            payload = orjson.dumps(
                list(zip(*rows, strict=True)),
                default=_json_default,
                option=orjson.OPT_OMIT_MICROSECONDS,
            )
        except (TypeError, orjson.JSONEncodeError) as e:
            raise ClickHouseError(f"cannot encode rows for {head.split()[2]}: {e}") from e
        if len(payload) > MAX_INSERT_STATEMENT_BYTES and len(rows) > 1:
            half = len(rows) // 2
            ChdbBackend._encode(head, rows[:half], out)
            ChdbBackend._encode(head, rows[half:], out)
            return
        out.append(head + payload.decode())

    # -- reads -------------------------------------------------------------------
    def _select(self, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        text = _statement(sql)
        with self._lock:
            self._maybe_refresh()
            try:
                raw = self._live().query(text, "JSONCompact").bytes()
            except self._durable.DurableError as e:
                raise ClickHouseError(f"{e}: {text[:200]}") from e
        if not raw:
            return [], []
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError as e:
            raise ClickHouseError(f"unexpected chdb output (no FORMAT clause, please): {e}") from e
        meta = doc.get("meta", [])
        names = [m["name"] for m in meta]
        convs = [
            (i, c) for i, m in enumerate(meta) if (c := _json_converter(m["type"])) is not None
        ]
        data = doc.get("data", [])
        if not convs:
            return names, [tuple(r) for r in data]
        out = []
        for r in data:
            for i, c in convs:
                r[i] = c(r[i])
            out.append(tuple(r))
        return names, out

    def server_version(self) -> tuple[int, ...]:
        if self._version is None:
            self._version = _version_tuple(str(self.query("SELECT version()")[0][0]))
        return self._version


# --------------------------------------------------------------------------- server


class ServerBackend(_Common):
    """A ClickHouse server over the native protocol (clickhouse-driver).

    ``url``: ``clickhouse://user:password@host:9000/db`` (driver options as query
    parameters). The database is created when missing. ``read_only=True`` runs every
    statement with ``readonly=2``.
    """

    def __init__(self, url: str, read_only: bool = False) -> None:
        from clickhouse_driver import Client, errors

        self._errors: Any = errors
        self.url = url
        self.read_only = read_only
        self._lock = threading.RLock()
        parts = urlsplit(url)
        self.database = parts.path.strip("/") or "default"
        identifier(self.database)
        self._client: Any = Client.from_url(url)
        try:
            version = self._client.execute("SELECT version()")[0][0]
        except errors.ServerException as e:
            if e.code != 81:  # UNKNOWN_DATABASE
                raise ClickHouseError(f"ClickHouse at {self._where()}: {self._message(e)}") from e
            self._create_database(Client, parts)
            version = self._call(lambda: self._client.execute("SELECT version()"))[0][0]
        except (errors.Error, OSError, EOFError) as e:
            raise ClickHouseError(f"cannot reach ClickHouse at {self._where()}: {e}") from e
        self._version = _version_tuple(str(version))
        settings: dict[str, Any] = {}
        if read_only:
            settings["readonly"] = 2
        if self._version < (19,):
            # LowCardinality is experimental on 18.x; newer servers neither need nor want this.
            settings["allow_experimental_low_cardinality_type"] = 1
        self._client.settings.update(settings)

    def _where(self) -> str:
        p = urlsplit(self.url)
        return f"{p.hostname}:{p.port or 9000}/{self.database}"

    def _create_database(self, client_cls: Any, parts: Any) -> None:
        admin = client_cls.from_url(urlunsplit(parts._replace(path="/default")))
        try:
            admin.execute(f"CREATE DATABASE IF NOT EXISTS {self.database}")
        except (self._errors.Error, OSError, EOFError) as e:
            raise ClickHouseError(
                f"cannot create database {self.database}: {self._message(e)}"
            ) from e
        finally:
            admin.disconnect()

    @staticmethod
    def _message(e: BaseException) -> str:
        text = str(e)
        return text.split("Stack trace:")[0].strip()

    def _call(self, fn: Callable[[], Any], sql: str = "") -> Any:
        with self._lock:
            try:
                return fn()
            except (self._errors.Error, OSError, EOFError) as e:
                suffix = f": {sql[:200]}" if sql else ""
                raise ClickHouseError(f"{self._message(e)}{suffix}") from e

    def execute(self, sql: str) -> None:
        text = _statement(sql)
        self._call(lambda: self._client.execute(text), text)

    def prepare_inserts(self, inserts: Sequence[Insert]) -> Prepared:
        """The driver's native insert per table (``INSERT INTO t (cols) VALUES`` + the rows),
        naive datetimes given the Shanghai zone as chdb does; a server shows each as soon
        as it is written."""
        out = []
        for table, columns, rows in inserts:
            cols = _check_rows(columns, rows)
            if rows:
                sql = f"INSERT INTO {identifier(table)} ({', '.join(cols)}) VALUES"
                out.append((sql, _naive_as_shanghai(rows, len(cols))))
        return Prepared(tuple(out))

    def insert_prepared(self, prepared: Prepared) -> None:
        for sql, data in prepared.statements:
            self._call(partial(self._client.execute, sql, data), sql)

    def _select(self, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        text = _statement(sql)
        rows, types = self._call(lambda: self._client.execute(text, with_column_types=True), text)
        names = [n for n, _ in types]
        fix = [i for i, (_, t) in enumerate(types) if _needs_server_fix(t)]
        if fix:
            out = []
            for r in rows:
                lst = list(r)
                for i in fix:
                    lst[i] = _server_value(lst[i])
                out.append(tuple(lst))
            rows = out
        return names, rows

    def server_version(self) -> tuple[int, ...]:
        return self._version

    def close(self) -> None:
        with self._lock:
            self._client.disconnect()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def connect(url_or_path: str | Path, *, read_only: bool = False) -> ClickHouse:
    """``clickhouse://…`` (or ``clickhouses://``) opens a server; anything else is a chdb folder."""
    if isinstance(url_or_path, str) and url_or_path.startswith(SERVER_SCHEMES):
        return ServerBackend(url_or_path, read_only=read_only)
    return ChdbBackend(Path(url_or_path), read_only=read_only)
