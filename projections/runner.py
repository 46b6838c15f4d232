"""The projection loop: ``<prefix>.events`` into ClickHouse.

One consumer group drives every projector (``projections.projectors``). Each
round: poll up to ~10k messages or ~1 s; parse them; hydrate, per table, the
streams not in memory; build each table's rows; insert them, one batched insert
per table; and only then commit the offsets. A crash anywhere before the commit
re-delivers the batch, and the per-table version gates turn what was already
written into no-ops, so a killed projector restarts where it was and ends with
the tables an uninterrupted run would have. Why the batch is built and written
the way it is (writer thread, switch interval, GC pause, batch size):
docs/decisions/0005-projector-batch-building.md.

The runner takes a ready ClickHouse and a ready consumer (anything with Kafka's
``poll``/``commit``/``seek``/``assignment``, e.g. :class:`MemoryTopic`);
``infra/projecting.py`` wires them to the broker and the settings.

Kafka here is the local tansu broker as much as a real cluster: ~6 s session
timeout, ``earliest`` resets, no end offsets, ``latest`` or ``read_committed``
(so ``until_idle`` means "nothing new for a few seconds after the partitions
were assigned", not "caught up with the end offsets").
"""

from __future__ import annotations

import contextlib
import gc
import logging
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from domain.vocabulary import event_type
from projections.clickhouse import (
    SERVER_SCHEMES,
    ChdbBackend,
    ClickHouse,
    ClickHouseError,
    Prepared,
    ServerBackend,
    identifier,
)
from projections.migrations import TABLE as MIGRATIONS_TABLE
from projections.migrations import discover, migrate
from projections.projectors import (
    BadEvent,
    Event,
    Projector,
    StoreCheckpoint,
    Towns,
    default_projectors,
    parse_event,
)
from streams.loop import first_offsets, next_offsets, run_batches

logger = logging.getLogger(__name__)

GROUP = "hallwatch-projector"
MAX_RECORDS = 10_000
MAX_WAIT = 1.0
#: A batch in hand is projected once the topic has been quiet this long (seconds).
QUIET = 0.1
#: The projector's fetch wait: the broker answers a fetch after at most this long.
FETCH_MAX_WAIT_MS = 100
IDLE_SECONDS = 3.0
#: The projector's chdb write lease: a killed projector blocks its successor this long
#: (docs/decisions/0001-chdb-single-writer.md); renewed every third of it.
PROJECTOR_LEASE_TTL = 10.0

_CREATES = re.compile(
    r"\bCREATE\s+(MATERIALIZED\s+VIEW|VIEW|TABLE)\s+(?:IF\s+NOT\s+EXISTS\s+)?([A-Za-z_][\w.]*)",
    re.I,
)


#: The interpreter's thread switch interval while a pipelined projector runs (seconds).
SWITCH_INTERVAL = 0.0002


@contextlib.contextmanager
def _quick_thread_handoffs(pipelined: bool) -> Iterator[None]:
    """A short thread switch interval while the writer thread works beside the builder:
    the writer waits in chdb with the GIL released and must take it back after every
    statement (docs/decisions/0005-projector-batch-building.md)."""
    if not pipelined:
        yield
        return
    was = sys.getswitchinterval()
    sys.setswitchinterval(min(was, SWITCH_INTERVAL))
    try:
        yield
    finally:
        sys.setswitchinterval(was)


@contextlib.contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a batch is built: nothing a batch builds is
    cyclic, and the collector would keep scanning the long-lived state caches as the
    batch grows (docs/decisions/0005-projector-batch-building.md). Collection resumes,
    as it was set, when the batch is built."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


@dataclass
class ProjectorStats:
    """What the projector did; ``hallwatch project`` reports it, tests read it."""

    messages: int = 0
    new_events: int = 0
    duplicates: int = 0
    bad: int = 0
    checkpoints: int = 0  # signed store checkpoints seen on the topic (not projected)
    batches: int = 0
    errors: int = 0
    hydration_queries: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    project_seconds: float = 0.0  # parse + hydrate + build + insert + commit
    first_message_at: float | None = None
    last_batch_at: float | None = None

    @property
    def events_per_second(self) -> float:
        """Messages projected per second from the first message to the last batch."""
        if self.first_message_at is None or self.last_batch_at is None:
            return 0.0
        span = self.last_batch_at - self.first_message_at
        return self.messages / span if span > 0 else 0.0


_Built = tuple[Projector, list[tuple[Any, ...]]]


@dataclass
class _InFlight:
    """A batch whose inserts are running: its messages are committed when they end."""

    future: Future[None]
    inserted: dict[str, int]  # rows per table
    messages: Sequence[Any]
    started: float
    duplicates: int


class _AfterDrain:
    """The ClickHouse seen by hydration: every query first waits for the batch in flight."""

    def __init__(self, ch: ClickHouse, drain: Callable[[], None]) -> None:
        self._ch = ch
        self._drain = drain

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        self._drain()
        return self._ch.query(sql)

    def query_dicts(self, sql: str) -> list[dict[str, Any]]:
        self._drain()
        return self._ch.query_dicts(sql)


class ProjectionRunner:
    """Drives the projectors from one Kafka consumer into one ClickHouse."""

    def __init__(
        self,
        ch: ClickHouse,
        consumer: Any,
        *,
        topic: str | None = None,
        projectors: Sequence[Projector] | None = None,
        towns: Towns | None = None,
        max_records: int = MAX_RECORDS,
        max_wait: float = MAX_WAIT,
        on_batch: Callable[[ProjectorStats], None] | None = None,
        pipeline: bool = True,
    ) -> None:
        self.ch = ch
        #: Insert in the writer thread while the next batch is built (False: one batch
        #: at a time; docs/decisions/0005-projector-batch-building.md).
        self.pipeline = pipeline
        self.consumer = consumer
        if projectors is None:
            towns, projectors = default_projectors()
        self.towns = towns or Towns()
        self.projectors = list(projectors)
        self.max_records = max_records
        self.max_wait = max_wait
        self.on_batch = on_batch
        self.stats = ProjectorStats()
        self._handles: dict[str, list[Projector]] = {}
        self._assigned_at: float | None = None
        self._started = False  # a batch has been projected (or tried)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="projector-write")
        self._inflight: _InFlight | None = None
        self._note_empty_tables()
        if topic is not None:
            self.subscribe(topic)

    def subscribe(self, topic: str) -> None:
        """Subscribe with a listener that forgets every state on a rebalance: another
        consumer may have moved the streams of a partition on while it was away."""
        from kafka import ConsumerRebalanceListener

        runner = self

        class _Forget(ConsumerRebalanceListener):  # type: ignore[misc]
            def on_partitions_revoked(self, revoked: Any) -> None:
                with contextlib.suppress(Exception):  # else the new owner re-reads it
                    runner._drain()
                runner.reset()

            def on_partitions_assigned(self, assigned: Any) -> None:
                runner.reset()
                if assigned:
                    runner._assigned_at = time.monotonic()

        self.consumer.subscribe([topic], listener=_Forget())

    def reset(self) -> None:
        """Forget every in-memory state; the next batch hydrates from ClickHouse. Before
        the first batch (the first partition assignment), tables still empty need none."""
        for p in self.projectors:
            p.state.clear()
        self.towns.clear()
        if not self._started:
            self._note_empty_tables()

    def _note_empty_tables(self) -> None:
        """Mark the caches of empty tables complete (a rebuild, a fresh ClickHouse): every
        row those tables will hold is then written by this runner, and a stream it has
        not seen needs no hydration query. Another group member's partitions hold other
        streams; a partition moving here after this runner started resets it for good."""
        empty = {
            table: not self.ch.query(f"SELECT 1 FROM {identifier(table)} LIMIT 1")
            for table in {p.table for p in self.projectors} | {"cases"}
        }
        for p in self.projectors:
            p.state.complete = empty[p.table]
        self.towns.complete = empty["cases"]

    # -- one batch ----------------------------------------------------------------------

    def poll(self) -> list[Any]:
        """Up to ``max_records`` messages, waiting at most ``max_wait`` seconds in all, and
        no longer than ``QUIET`` once messages are in hand and the topic goes quiet: a
        busy topic gives ~one insert per second or per 10k rows, a trickle is
        queryable at once instead of after a full second."""
        out: list[Any] = []
        deadline = time.monotonic() + self.max_wait
        while len(out) < self.max_records:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            wait = min(left, QUIET) if out else left
            polled = self.consumer.poll(
                timeout_ms=max(1, int(wait * 1000)), max_records=self.max_records - len(out)
            )
            got = 0
            for part in polled.values():
                out.extend(part)
                got += len(part)
            if out and not got:
                break
        return out

    def _projectors_for(self, name: str) -> list[Projector]:
        """The projectors of an event by its short name (``case.accepted``)."""
        found = self._handles.get(name)
        if found is None:
            ce_type = event_type(name)
            found = self._handles[name] = [p for p in self.projectors if p.handles(ce_type)]
        return found

    def project(self, values: Sequence[bytes]) -> dict[str, int]:
        """Project message values: hydrate, build, insert one batch per table.
        Returns the rows inserted per table."""
        prepared, inserted = self._encode(self._build(values, self.ch))
        self.ch.insert_prepared(prepared)
        return inserted

    def _build(self, values: Sequence[bytes], reader: Any) -> list[_Built]:
        """Parse, hydrate (through ``reader``) and build each table's rows."""
        self._started = True
        events: list[Event] = []
        for v in values:
            try:
                events.append(parse_event(v))
            except StoreCheckpoint:
                self.stats.checkpoints += 1
            except BadEvent:
                self.stats.bad += 1
        self.towns.learn(events)
        mine: dict[str, list[Event]] = {p.table: [] for p in self.projectors}
        for e in events:
            for p in self._projectors_for(e.name):
                mine[p.table].append(e)
        built: list[_Built] = []
        for p in self.projectors:
            handled = mine[p.table]
            if not handled:
                continue
            self.stats.hydration_queries += p.prepare(reader, handled)
            built.append((p, p.rows(handled, p.state)))
        return built

    def _encode(self, built: Sequence[_Built]) -> tuple[Prepared, dict[str, int]]:
        """The batch's inserts, encoded for the backend, and the rows per table."""
        tables = [(p.table, p.columns, rows) for p, rows in built if rows]
        return self.ch.prepare_inserts(tables), {t: len(rows) for t, _, rows in tables}

    def run_once(self) -> int:
        """Poll, build, insert, commit; returns how many messages were taken.

        Pipelined: a batch's inserts run in a writer thread while the next batch is
        polled, built and encoded; its offsets are committed when its inserts are done, before
        the next batch's inserts start. Any hydration query first waits for the
        batch in flight, so it reads every row written before it. On an error the
        consumer is rewound to the first uncommitted message and every state
        forgotten."""
        messages = self.poll()
        if not messages:
            self._drain()
            return 0
        now = time.monotonic()
        if self.stats.first_message_at is None:
            self.stats.first_message_at = now
        events_before = self._events_skipped()
        try:
            with _cyclic_gc_paused():
                built = self._build([m.value for m in messages], _AfterDrain(self.ch, self._drain))
                prepared, inserted = self._encode(built)  # here, not in the writer thread
            duplicates = self._events_skipped() - events_before
            for p in self.projectors:
                p.state.trim()
            self.towns.trim()
            self._drain()
            self._inflight = _InFlight(
                self._pool.submit(self.ch.insert_prepared, prepared),
                inserted,
                messages,
                now,
                duplicates,
            )
            if not self.pipeline:
                self._drain()
        except Exception:
            self._abandon(messages)
            raise
        return len(messages)

    def _drain(self) -> None:
        """Wait for the batch in flight, commit its offsets, count it."""
        f = self._inflight
        if f is None:
            return
        try:
            f.future.result()
            self.consumer.commit(next_offsets(f.messages))
        except Exception:
            self._abandon()
            raise
        self._inflight = None
        done = time.monotonic()
        s = self.stats
        s.messages += len(f.messages)
        s.batches += 1
        s.project_seconds += done - f.started
        s.last_batch_at = done
        s.duplicates += f.duplicates
        s.new_events += f.inserted.get("events", 0)
        for table, n in f.inserted.items():
            s.rows[table] = s.rows.get(table, 0) + n
        logger.debug(
            "projected %d messages in %.3f s, rows per table %s",
            len(f.messages),
            done - f.started,
            f.inserted,
        )
        if self.on_batch is not None:
            self.on_batch(s)

    def _abandon(self, messages: Sequence[Any] = ()) -> None:
        """After a failure: let the write in flight end, forget every state and rewind to
        the first message not committed."""
        f, self._inflight = self._inflight, None
        pending = list(messages)
        if f is not None:
            with contextlib.suppress(Exception):
                f.future.result()
            pending = list(f.messages) + pending
        self.reset()
        self._rewind(pending)

    def close(self) -> None:
        """Finish (and commit) the batch in flight; stop the writer thread."""
        try:
            self._drain()
        finally:
            self._pool.shutdown(wait=True)

    def _events_skipped(self) -> int:
        return sum(p.skipped for p in self.projectors if p.table == "events")

    def _rewind(self, messages: Sequence[Any]) -> None:
        for tp, offset in first_offsets(messages).items():
            try:
                self.consumer.seek(tp, offset)
            except Exception:  # no longer assigned: its new owner starts from the commit
                continue

    # -- the loop -----------------------------------------------------------------------

    def run(
        self,
        stop: threading.Event | None = None,
        *,
        until_idle: bool = False,
        idle_seconds: float = IDLE_SECONDS,
        assign_timeout: float = 60.0,
        on_error: Callable[[Exception], None] | None = None,
        max_backoff: float = 5.0,
    ) -> ProjectorStats:
        """Project until ``stop`` is set, or with ``until_idle`` until nothing arrived for
        ``idle_seconds`` after the partitions were assigned. A failed batch (ClickHouse or
        the broker away) is retried from its first message after a back-off."""
        stop = stop or threading.Event()
        started = time.monotonic()
        last_seen = started

        def failed(e: Exception) -> None:
            self.stats.errors += 1
            logger.warning("projecting a batch failed, retrying from its first message: %s", e)
            if on_error is not None:
                on_error(e)

        def done(handled: int) -> bool:
            nonlocal last_seen
            now = time.monotonic()
            if handled:
                last_seen = now
                return False
            if not until_idle:
                return False
            if self._assigned_at is None and not self.consumer.assignment():
                if now - started > assign_timeout:
                    raise TimeoutError(f"no partitions assigned within {assign_timeout:g}s")
                return False
            if self._assigned_at is None:
                self._assigned_at = now
            return now - max(last_seen, self._assigned_at) >= idle_seconds

        with _quick_thread_handoffs(self.pipeline):
            run_batches(self.run_once, stop, done=done, on_failure=failed, max_backoff=max_backoff)
            try:
                self._drain()  # stopped while a batch was in flight
            except Exception as e:
                self.stats.errors += 1
                logger.warning("the last batch failed; it is re-read on the next start: %s", e)
                if on_error is not None:
                    on_error(e)
        return self.stats


@dataclass(frozen=True, slots=True)
class MemoryMessage:
    topic: str
    partition: int
    offset: int
    value: bytes


class MemoryTopic:
    """A one-partition topic already in memory, as the projector's consumer sees it
    (poll, commit, seek): the projector's own loop without a broker, for a file of
    events or a benchmark."""

    def __init__(self, messages: Sequence[bytes], name: str = "memory") -> None:
        self.name = name
        self.messages = [MemoryMessage(name, 0, i, v) for i, v in enumerate(messages)]
        self.position = 0
        self.committed = 0

    def poll(self, timeout_ms: int = 0, max_records: int = 500) -> dict[Any, list[MemoryMessage]]:
        chunk = self.messages[self.position : self.position + max_records]
        self.position += len(chunk)
        return {(self.name, 0): chunk} if chunk else {}

    def commit(self, offsets: dict[Any, Any]) -> None:
        self.committed = max(o.offset for o in offsets.values())  # the next to read

    def assignment(self) -> set[Any]:
        return {(self.name, 0)}

    def seek(self, tp: Any, offset: int) -> None:
        self.position = offset


# --------------------------------------------------------------------------- schema and writer


def migration_tables(directory: Path | None = None) -> list[str]:
    """Tables and views the migration files create, in creation order."""
    names: list[str] = []
    for m in discover(directory):
        for stmt in m.statements():
            names.extend(match.group(2) for match in _CREATES.finditer(stmt))
    return list(dict.fromkeys(names))


def reset_schema(ch: ClickHouse, directory: Path | None = None) -> list[str]:
    """Drop every migrated table (views first: reverse creation order), forget the applied
    migrations and migrate again (a rebuild); returns the migrations applied."""
    tables = migration_tables(directory)
    logger.info("rebuild: dropping %d read-model tables and migrating again", len(tables))
    for name in reversed(tables):
        ch.execute(f"DROP TABLE IF EXISTS {identifier(name)}")
    ch.execute(f"DROP TABLE IF EXISTS {MIGRATIONS_TABLE}")
    return migrate(ch, directory)


def open_writer(
    target: str | Path,
    *,
    wait: float = 45.0,
    lease_ttl: float = PROJECTOR_LEASE_TTL,
    on_wait: Callable[[str], None] | None = None,
) -> ClickHouse:
    """The projector's ClickHouse. For chdb, the single writer: when another process
    holds the folder (a projector killed a moment ago keeps its lease until it expires)
    wait up to ``wait`` seconds for it, calling ``on_wait`` once."""
    deadline = time.monotonic() + wait
    told = False
    while True:
        try:
            if isinstance(target, str) and target.startswith(SERVER_SCHEMES):
                return ServerBackend(target)
            return ChdbBackend(Path(target), lease_ttl=lease_ttl)
        except ClickHouseError as e:
            if "being written by another process" not in str(e) or time.monotonic() > deadline:
                raise
            if not told:
                logger.info("waiting up to %gs for the chdb write lease: %s", wait, e)
                if on_wait is not None:
                    on_wait(str(e))
                told = True
            time.sleep(0.5)
