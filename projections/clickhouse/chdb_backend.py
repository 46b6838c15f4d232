"""Embedded ClickHouse (chdb) on a ``chdb.durable`` folder: one writer, any readers.

A plain chdb data path can be opened by one process only, so the projector is the
one writer (a lease) and logs every statement; any other process opens the folder
read-only and catches up on what the writer published
(docs/decisions/0001-chdb-single-writer.md). Inserts therefore travel as SQL text
with literal data (``INSERT … FORMAT JSONCompactColumns``); the log is folded into
a checkpoint by the rule of docs/decisions/0002-chdb-checkpoint-rule.md, and the
checkpoints and segments it supersedes are deleted (chdb.durable V1 keeps them
forever). For many readers or a large database, use the server.
"""

from __future__ import annotations

import math
import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from zoneinfo import ZoneInfo

import orjson

from projections.clickhouse.common import (
    BackendBase,
    ClickHouseError,
    Insert,
    Prepared,
    check_rows,
    identifier,
    naive_as_local,
    statement,
    version_tuple,
)
from projections.clickhouse.wal import forget_last_line, use_orjson_wal_lines

#: One inline insert statement stays below chdb.durable's 64 MiB statement limit.
MAX_INSERT_STATEMENT_BYTES = 48 * 1024 * 1024


def _json_default(value: Any) -> Any:
    """orjson fallback for insert payloads (datetimes, dates and UUIDs it writes itself)."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, set | frozenset):
        return list(value)
    raise TypeError(f"cannot insert a {type(value).__name__}")


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


class ChdbBackend(BackendBase):
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

        use_orjson_wal_lines()
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
        a refresh then costs what is new, not a full restore
        (docs/decisions/0001-chdb-single-writer.md). False when it cannot (new
        checkpoint, unexpected state): the caller reopens."""
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
                forget_last_line()  # a batch's statement is large: keep no copy of it
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
        """Fold the WAL into a fresh base once replaying it would cost about what restoring
        the base costs (every open restores the base, then replays the WAL): at
        ``wal_per_base_byte`` WAL bytes per base byte, never below
        ``checkpoint_min_bytes``, or at ``max_wal_segments`` segments. The figures behind
        the defaults: docs/decisions/0002-chdb-checkpoint-rule.md."""
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
            self._run_logged(statement(sql))

    def prepare_inserts(self, inserts: Sequence[Insert]) -> Prepared:
        """One ``INSERT … FORMAT JSONCompactColumns`` per table with orjson-built data (split
        only past 48 MiB): the WAL must hold literal data, and this is the fastest literal
        form found (datetimes travel as RFC 3339 text with their offset, read with
        ``best_effort``)."""
        statements: list[str] = []
        for table, columns, rows in inserts:
            cols = check_rows(columns, rows)
            if not rows:
                continue
            head = (
                f"INSERT INTO {identifier(table)} ({', '.join(cols)}) "
                "SETTINGS date_time_input_format = 'best_effort' FORMAT JSONCompactColumns "
            )
            self._encode(head, naive_as_local(rows, len(cols)), statements)
        return Prepared(tuple(statements))

    def insert_prepared(self, prepared: Prepared) -> None:
        """Every statement, then one publish: readers see the whole batch at once, in one
        log segment (docs/decisions/0005-projector-batch-building.md)."""
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
        text = statement(sql)
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
            self._version = version_tuple(str(self.query("SELECT version()")[0][0]))
        return self._version
