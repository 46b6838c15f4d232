"""The alerter (``hallwatch alert``): raises each alert the moment its deadline passes.

It follows the store's notification log like the relay, keeps a heap of every
pending deadline (domain/alerts.py) and records each alert when it falls due as
an ``AlertRaised`` event through the domain: in the store, on Kafka, in
ClickHouse and in the case's history like every other fact. Exactly once, also
with several alerters: an alert's record id is its kind, deadline and step,
which the aggregate remembers, and racing writers collide on the stream version.
"""

from __future__ import annotations

import heapq
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import UUID

from eventsourcing.persistence import RecordConflictError
from eventsourcing.utils import get_topic

from domain import clock as clocks
from domain.alerts import Due, dues
from domain.application import Hallwatch
from domain.model import WATCHED, HallAggregate, alert_id

logger = logging.getLogger(__name__)

#: Stored topics of the watched aggregates' events begin with these.
_WATCHED = tuple(f"{get_topic(cls)}." for cls in WATCHED)


def system_clock() -> datetime:
    """Now, in Asia/Shanghai."""
    return datetime.now(UTC).astimezone(clocks.SHANGHAI)


@dataclass
class AlerterStats:
    """What the alerter did (``hallwatch alert`` prints it)."""

    raised: int = 0
    conflicts: int = 0
    scheduled: int = 0
    position: int = 0
    latencies: list[float] = field(default_factory=list)  # seconds from deadline to record


class Alerter:
    """Schedules every pending deadline and records each alert when it falls due."""

    def __init__(
        self,
        app: Hallwatch,
        *,
        clock: Callable[[], datetime] = system_clock,
        page: int = 5000,
        keep_latencies: bool = False,
    ) -> None:
        self.app = app
        self.clock = clock
        self.page = page
        self.keep_latencies = keep_latencies
        self.stats = AlerterStats()
        #: (deadline, tie-breaker, stream, due key): the counter spares comparing UUIDs.
        self._heap: list[tuple[datetime, int, UUID, str]] = []
        self._seq = 0
        self._scheduled: set[tuple[UUID, str]] = set()

    # --- schedule ------------------------------------------------------------------------

    def start(self) -> None:
        """Build the schedule from every watched stream in the store."""
        streams: set[UUID] = set()
        last = 0
        for nid, sid, _version, topic, _state in self.app.stored_rows(self.page):
            last = nid
            if topic.startswith(_WATCHED):
                streams.add(sid)
        self.stats.position = last
        self._schedule(streams)
        logger.info(
            "alerter: %d deadlines of %d streams scheduled, store position #%d",
            len(self._heap), len(streams), last,
        )  # fmt: skip

    def follow(self) -> int:
        """Take in new events: reschedule every stream they touched."""
        touched: set[UUID] = set()
        n = 0
        while True:
            rows = self.app.recorder.select_notifications(self.stats.position + 1, self.page)
            if not rows:
                break
            for r in rows:
                if r.topic.startswith(_WATCHED):
                    oid = r.originator_id
                    touched.add(oid if isinstance(oid, UUID) else UUID(str(oid)))
            self.stats.position = rows[-1].id
            n += len(rows)
            if len(rows) < self.page:
                break
        if touched:
            self._schedule(touched)
        return n

    def _schedule(self, streams: Iterable[UUID]) -> None:
        ids = list(streams)
        for i in range(0, len(ids), 2000):
            self._schedule_loaded(self.app.load_many(ids[i : i + 2000]).values())

    def _schedule_loaded(self, aggregates: Iterable[HallAggregate]) -> None:
        """Schedule the pending deadlines of aggregates as they stand in memory."""
        for agg in aggregates:
            sid = agg.id
            for due in dues(agg):
                key = (sid, _due_key(due))
                if key not in self._scheduled:
                    self._scheduled.add(key)
                    self._seq += 1
                    heapq.heappush(self._heap, (due.at, self._seq, sid, key[1]))
                    self.stats.scheduled += 1

    def next_due(self) -> datetime | None:
        return self._heap[0][0] if self._heap else None

    # --- raising -------------------------------------------------------------------------

    def fire(self, now: datetime) -> int:
        """Raise every alert due at ``now``; returns how many were recorded."""
        streams: set[UUID] = set()
        while self._heap and self._heap[0][0] <= now:
            _at, _seq, sid, key = heapq.heappop(self._heap)
            self._scheduled.discard((sid, key))
            streams.add(sid)
        if not streams:
            return 0
        return self._raise(list(streams), now)

    def _raise(self, streams: list[UUID], now: datetime, attempt: int = 0) -> int:
        fresh = self.app.load_many(streams)
        changed: list[HallAggregate] = []
        raised = 0
        latencies: list[float] = []
        for agg in fresh.values():
            did = False
            for due in dues(agg):
                if due.at <= now and agg.raise_alert(
                    alert=due.alert,
                    deadline=due.deadline,
                    detail=due.detail,
                    step=due.step,
                    at=due.at,
                    now=now,
                    chain_key=self.app.chain_key,
                ):
                    did = True
                    raised += 1
                    if self.keep_latencies:
                        latencies.append((system_clock() - due.at).total_seconds())
            if did:
                changed.append(agg)
        if not changed:
            return 0
        try:
            self.app.save_batch(changed)
        except RecordConflictError:
            # Another alerter (or intake) wrote to one of these streams: reload and
            # retry; alerts it already raised are now applied records and skipped.
            self.stats.conflicts += 1
            logger.info("alerter: another writer changed %d streams; retrying", len(streams))
            self.app.forget()
            if attempt >= 5:
                raise
            if len(streams) > 1:
                return sum(self._raise([s], now, attempt + 1) for s in streams)
            return self._raise(streams, now, attempt + 1)
        self.stats.raised += raised
        self.stats.latencies.extend(latencies)
        logger.info("alerter: %d alerts raised at %s", raised, now.isoformat())
        # Deadlines that moved (a new warning after an extension…) get scheduled again,
        # from the aggregates just saved: they are what a reload would give.
        self._schedule_loaded(changed)
        return raised

    def tick(self) -> int:
        """Follow the store, then raise what is due now."""
        self.follow()
        return self.fire(self.clock())

    def run(self, stop: threading.Event, *, tick_seconds: float = 0.5) -> AlerterStats:
        """Tick until ``stop``: wake at the next deadline or after ``tick_seconds``."""
        self.start()
        while not stop.is_set():
            self.tick()
            wait = tick_seconds
            nxt = self.next_due()
            if nxt is not None:
                wait = max(0.0, min(wait, (nxt - self.clock()).total_seconds()))
            stop.wait(wait)
        return self.stats


def _due_key(due: Due) -> str:
    return alert_id(due.alert, due.deadline, due.step)
