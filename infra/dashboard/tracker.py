"""The public tracker behind the dashboard (办事人 / 投诉人): a case by receipt number and
query code, a complaint by its id and query code, the applicant's rating and complaint.

Codes are checked by the domain application in constant time. Wrong codes are counted
per receipt number (and per complaint id) in the event store's own database, so a
lock-out holds across sessions, restarts and several dashboard replicas:

- a wrong code (or a receipt number that does not exist: the two look the same) at
  time t, while the number is not locked, counts once; counts older than 15 minutes
  (at or before t - 15 min) are forgotten;
- the 5th count within 15 minutes locks the number until t + 15 min and clears the
  counts;
- while locked, every request on that number is refused before its code is looked at
  (a right code does not open it early) and nothing is counted or extended.

The lock-out runs on the real clock (``real_clock``; injectable for tests), whatever
the board's clock says. Ratings and complaints are hallwatch's own intake records
(``ingest(..., own=True)``): checked, applied once and hash-chained like any other.
"""

from __future__ import annotations

import logging
import threading
import unicodedata
import uuid
import weakref
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

from eventsourcing.sqlite import SQLiteApplicationRecorder

from dashboard.pages.track import (
    ALREADY_RATED,
    BAD_INPUT,
    LOCKED,
    MAX_CODE,
    MAX_ID,
    MAX_TEXT,
    NO_MATCH,
    NOT_CONCLUDED,
    UNAVAILABLE,
    input_problem,
)
from dashboard.services import Tracked, Written
from domain.application import APPLIED, Hallwatch
from domain.model import Case, Complaint, Receipt, stream_id
from domain.views import applicant_view, complaint_public_view
from domain.vocabulary import CLOSED_STATUSES, TIME_ZONE, Channel, RecordKind
from infra.clock import real_clock

logger = logging.getLogger(__name__)

#: Wrong codes within ``WINDOW`` that lock a receipt number (or complaint id).
MAX_FAILURES = 5
#: The sliding window wrong codes are counted in.
WINDOW = timedelta(minutes=15)
#: How long the number stays locked after the last counted wrong code.
LOCK = timedelta(minutes=15)

_TABLE = "hallwatch_tracker_lockouts"
T = TypeVar("T")


@dataclass(frozen=True)
class Lockout:
    """Where a receipt number (or complaint id) stands: locked until when, or how many
    wrong codes it may still take before it is locked."""

    locked_until: datetime | None
    attempts_left: int


class LockoutStore:
    """Wrong codes per subject, and locks, in the event store's database (SQLite or
    PostgreSQL, next to the relay's positions: streams/positions.py)."""

    def __init__(self, recorder: Any, *, clock: Callable[[], datetime] = real_clock) -> None:
        self.recorder = recorder
        self.clock = clock
        self.sqlite = isinstance(recorder, SQLiteApplicationRecorder)
        self._mark = "?" if self.sqlite else "%s"
        with recorder.datastore.transaction(commit=True) as c:
            c.execute(
                f"CREATE TABLE IF NOT EXISTS {_TABLE} (subject TEXT PRIMARY KEY, "
                "failures TEXT NOT NULL, locked_until DOUBLE PRECISION NOT NULL, "
                "expires DOUBLE PRECISION NOT NULL)"
            )
            c.execute(f"CREATE INDEX IF NOT EXISTS {_TABLE}_expires ON {_TABLE} (expires)")

    def _now(self) -> float:
        return self.clock().timestamp()

    def state(self, subject: str) -> Lockout:
        """The subject's lock or tries left, now; changes nothing."""
        m = self._mark
        with self.recorder.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT failures, locked_until FROM {_TABLE} WHERE subject = {m}", [subject])
            row = c.fetchone()
        now = self._now()
        if row is None:
            return Lockout(None, MAX_FAILURES)
        if float(row["locked_until"]) > now:
            return Lockout(_instant(float(row["locked_until"])), 0)
        return Lockout(None, MAX_FAILURES - len(_recent(row["failures"], now)))

    def fail(self, subject: str) -> Lockout:
        """Count one wrong code (unless the subject is locked) and lock it on the
        ``MAX_FAILURES``-th within ``WINDOW``: one transaction, one subject at a time."""
        m = self._mark
        with self.recorder.datastore.transaction(commit=True) as c:
            # the write comes first: SQLite takes its write lock here, before reading
            c.execute(
                f"INSERT INTO {_TABLE} (subject, failures, locked_until, expires) "
                f"VALUES ({m}, '', 0, 0) ON CONFLICT (subject) DO NOTHING",
                [subject],
            )
            lock = "" if self.sqlite else " FOR UPDATE"
            c.execute(
                f"SELECT failures, locked_until FROM {_TABLE} WHERE subject = {m}{lock}", [subject]
            )
            row = c.fetchone()
            now = self._now()
            if float(row["locked_until"]) > now:
                return Lockout(_instant(float(row["locked_until"])), 0)
            recent = [*_recent(row["failures"], now), now]
            until = 0.0
            if len(recent) >= MAX_FAILURES:
                until, recent = now + LOCK.total_seconds(), []
            expires = max(until, now + WINDOW.total_seconds())
            c.execute(
                f"UPDATE {_TABLE} SET failures = {m}, locked_until = {m}, expires = {m} "
                f"WHERE subject = {m}",
                [" ".join(f"{t:.6f}" for t in recent), until, expires, subject],
            )
        self._purge(now)
        if until:
            return Lockout(_instant(until), 0)
        return Lockout(None, MAX_FAILURES - len(recent))

    def _purge(self, now: float) -> None:
        """Forget subjects whose counts and lock have all run out (their own transaction,
        so it never holds one subject while waiting for another)."""
        with self.recorder.datastore.transaction(commit=True) as c:
            c.execute(f"DELETE FROM {_TABLE} WHERE expires < {self._mark}", [now])


def _recent(failures: str, now: float) -> list[float]:
    """The counted wrong codes still inside the window at ``now``."""
    start = now - WINDOW.total_seconds()
    return [t for t in (float(x) for x in failures.split()) if t > start]


def _instant(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC).astimezone(TIME_ZONE)


class Host(Protocol):
    """What the tracker needs of the dashboard's services (infra/dashboard/services.py)."""

    def store(self) -> AbstractContextManager[Hallwatch]: ...

    def now(self) -> datetime: ...

    def own_record(self, kind: str, **fields: Any) -> dict[str, Any]: ...


def normalized(text: object, limit: int) -> str | None:
    """An id or code as typed, made comparable (full-width digits and letters made plain by
    NFKC, surrounding blanks dropped), or None when it is no acceptable one (too long, odd
    characters: ``input_problem``). The length is checked before any other work."""
    if not isinstance(text, str) or len(text) > limit:
        return None
    plain = unicodedata.normalize("NFKC", text).strip()
    return None if input_problem(plain, limit) else plain


@dataclass(frozen=True)
class _Found:
    """The cases a right code opened, or why none were."""

    cases: list[Case]
    lockout: Lockout | None = None


class Tracker:
    """``track``, ``rate``, ``complain`` and ``track_complaint`` of the dashboard's
    services; ``clock`` is the lock-out's (the real one unless a test moves it)."""

    def __init__(self, host: Host, *, clock: Callable[[], datetime] = real_clock) -> None:
        self.host = host
        self.clock = clock
        self._lockouts: LockoutStore | None = None

    def _lockout(self, app: Hallwatch) -> LockoutStore:
        """The lock-out table of the application's store (made again if the store was
        reopened)."""
        if self._lockouts is None or self._lockouts.recorder is not app.recorder:
            self._lockouts = LockoutStore(app.recorder, clock=lambda: self.clock())
        return self._lockouts

    @staticmethod
    def _subject(app: Hallwatch, kind: str, ref: str) -> str:
        """The lock-out's key for a receipt number or complaint id (keyed: the table holds
        no numbers)."""
        return app.keyed_hash("tracker-lockout", f"{kind}|{ref}")

    def track(self, receipt_no: str, code: str) -> Tracked:
        """A case by receipt number and query code (every case of the receipt it opens)."""
        return _safely("track", lambda: self._track(receipt_no, code), _UNAVAILABLE_VIEW)

    def rate(self, receipt_no: str, code: str, level: int, comment: str) -> Written:
        """The applicant's rating (好差评) of their concluded case, once."""
        return _safely(
            "rate", lambda: self._rate(receipt_no, code, level, comment), _UNAVAILABLE_WRITE
        )

    def complain(self, receipt_no: str, code: str, content: str) -> Written:
        """A complaint (投诉) about the applicant's concluded case; its id and query code."""
        return _safely(
            "complain", lambda: self._complain(receipt_no, code, content), _UNAVAILABLE_WRITE
        )

    def track_complaint(self, complaint_id: str, code: str) -> Tracked:
        """A complaint by its id and query code."""
        return _safely(
            "track_complaint", lambda: self._track_complaint(complaint_id, code), _UNAVAILABLE_VIEW
        )

    def _track(self, receipt_no: str, code: str) -> Tracked:
        receipt, query_code = normalized(receipt_no, MAX_ID), normalized(code, MAX_CODE)
        if receipt is None or query_code is None:
            return Tracked(None, extra={"error": BAD_INPUT})
        with self.host.store() as app:
            found = self._open_cases(app, receipt, query_code)
            if not found.cases:
                return _refused(found.lockout)
            now = self.host.now()
            views = [
                applicant_view(c, app.history(c.id), now, cal=app.calendar) for c in found.cases
            ]
        return Tracked(views[0], extra={"cases": views} if len(views) > 1 else {})

    def _open_cases(self, app: Hallwatch, receipt_no: str, code: str) -> _Found:
        """The receipt's cases the code opens; wrong codes and unknown numbers counted."""
        lockouts = self._lockout(app)
        subject = self._subject(app, "receipt", receipt_no)
        state = lockouts.state(subject)
        if state.locked_until is not None:
            return _Found([], state)
        cases = [c for c in self._receipt_cases(app, receipt_no) if app.query_code_matches(c, code)]
        if not cases:
            return _Found([], lockouts.fail(subject))
        return _Found(cases)

    @staticmethod
    def _receipt_cases(app: Hallwatch, receipt_no: str) -> list[Case]:
        """The cases a receipt number was issued to (a bundle may share one); none for an
        unknown number, which still costs a code comparison."""
        receipt = app.load(stream_id("receipt", receipt_no))
        if not isinstance(receipt, Receipt):
            app.keyed_hash("query-code", f"{receipt_no}|")  # the same work as a known number
            return []
        loaded = (app.load(stream_id("case", cid)) for cid in receipt.case_ids)
        return [c for c in loaded if isinstance(c, Case)]

    def _rate(self, receipt_no: str, code: str, level: int, comment: str) -> Written:
        receipt, query_code = normalized(receipt_no, MAX_ID), normalized(code, MAX_CODE)
        bad_comment = input_problem(comment, MAX_TEXT, multiline=True, empty=True)
        if receipt is None or query_code is None or bad_comment or not _is_level(level):
            return Written(False, BAD_INPUT)
        with self.host.store() as app:
            found = self._open_cases(app, receipt, query_code)
            if not found.cases:
                return _refused_write(found.lockout)
            closed = [c for c in found.cases if c.status in CLOSED_STATUSES]
            open_to_rate = [c for c in closed if c.rating is None]
            if not open_to_rate:
                return Written(False, ALREADY_RATED if closed else NOT_CONCLUDED)
            text = comment.strip()
            records = [
                self.host.own_record(
                    RecordKind.RATED.value,
                    case_id=c.case_id,
                    level=level,
                    **({"comment": text} if text else {}),
                    extra={"channel": Channel.WEB.value},
                )
                for c in open_to_rate
            ]
            return _written(app, records)

    def _complain(self, receipt_no: str, code: str, content: str) -> Written:
        receipt, query_code = normalized(receipt_no, MAX_ID), normalized(code, MAX_CODE)
        bad_content = input_problem(content, MAX_TEXT, multiline=True)
        if receipt is None or query_code is None or bad_content:
            return Written(False, BAD_INPUT)
        with self.host.store() as app:
            found = self._open_cases(app, receipt, query_code)
            if not found.cases:
                return _refused_write(found.lockout)
            closed = [c for c in found.cases if c.status in CLOSED_STATUSES]
            if not closed:
                return Written(False, NOT_CONCLUDED)
            complaint_id = f"TS{self.host.now():%Y%m%d}{uuid.uuid4().hex[:10].upper()}"
            record = self.host.own_record(
                RecordKind.COMPLAINT_FILED.value,
                complaint_id=complaint_id,
                case_id=closed[0].case_id,
                channel=Channel.WEB.value,
                content=content.strip(),
            )
            done = _written(app, [record])
            if not done.ok:
                return done
            return Written(True, ref=complaint_id, code=app.complaint_query_code(complaint_id))

    def _track_complaint(self, complaint_id: str, code: str) -> Tracked:
        ref, query_code = normalized(complaint_id, MAX_ID), normalized(code, MAX_CODE)
        if ref is None or query_code is None:
            return Tracked(None, extra={"error": BAD_INPUT})
        with self.host.store() as app:
            lockouts = self._lockout(app)
            subject = self._subject(app, "complaint", ref)
            state = lockouts.state(subject)
            if state.locked_until is not None:
                return _refused(state)
            complaint = app.load(stream_id("complaint", ref))
            right = app.complaint_code_matches(ref, query_code)  # compared either way
            if not isinstance(complaint, Complaint) or not right:
                return _refused(lockouts.fail(subject))
            view = complaint_public_view(complaint, app.history(complaint.id), self.host.now())
        return Tracked(view)


_UNAVAILABLE_VIEW = Tracked(None, extra={"error": UNAVAILABLE})
_UNAVAILABLE_WRITE = Written(False, UNAVAILABLE)


def _safely(what: str, run: Callable[[], T], fallback: T) -> T:
    """The page never sees an exception: an unexpected failure (the store unreachable, a
    bug) is logged and answered as "unavailable"."""
    try:
        return run()
    except Exception:
        logger.exception("tracker: %s failed", what)
        return fallback


def _is_level(level: object) -> bool:
    return isinstance(level, int) and not isinstance(level, bool) and 1 <= level <= 5


def _refused(lockout: Lockout | None) -> Tracked:
    """Nothing to show: locked (until when), or no match (tries left)."""
    extra = {"lock_minutes": int(LOCK.total_seconds() // 60)}
    if lockout is None:
        return Tracked(None, extra=extra)
    if lockout.locked_until is not None:
        return Tracked(None, locked_until=lockout.locked_until, attempts_left=0, extra=extra)
    return Tracked(None, attempts_left=lockout.attempts_left, extra=extra)


def _refused_write(lockout: Lockout | None) -> Written:
    locked = lockout is not None and lockout.locked_until is not None
    return Written(False, LOCKED if locked else NO_MATCH)


def _written(app: Hallwatch, records: Sequence[dict[str, Any]]) -> Written:
    """Apply the records as hallwatch's own, in one batch: done, or the first refusal."""
    outcomes = app.ingest(list(records), own=True)
    refused = [o for o in outcomes if o.status != APPLIED]
    if refused:
        return Written(False, refused[0].reason or refused[0].status)
    return Written(True)


_trackers: weakref.WeakKeyDictionary[Any, Tracker] = weakref.WeakKeyDictionary()
_trackers_lock = threading.Lock()


def tracker_of(host: Host) -> Tracker:
    """The one tracker of a services object (made on first use)."""
    with _trackers_lock:
        tracker = _trackers.get(host)
        if tracker is None:
            tracker = _trackers[host] = Tracker(host)
        return tracker
