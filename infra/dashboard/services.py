"""The dashboard's services, built from settings: the one ClickHouse reader of this
process, the event store for a case's history and chain, the domain application for
the records the dashboard writes (supervision orders, ratings, complaints).

Streamlit serves every session from threads of one process: the reader and the
application are shared, each behind its own lock.
"""

from __future__ import annotations

import atexit
import hashlib
import hmac
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import streamlit as st

from dashboard.services import CaseRecord, Tracked, User, Written
from domain.application import APPLIED, Hallwatch
from domain.calendar import WorkCalendar
from domain.errors import DomainError
from domain.model import Case
from domain.views import case_view
from infra.clock import clock_of
from infra.dashboard.tracker import tracker_of
from infra.settings import Settings, from_env
from infra.users import read_users
from infra.wiring import build_calendar, open_app
from projections.clickhouse import ClickHouse, ClickHouseError, Reader, connect
from projections.scope import Scope

logger = logging.getLogger(__name__)

#: hallwatch's own source for what the dashboard writes (intake refuses it to others).
DASHBOARD_SOURCE = "hallwatch-dashboard"
#: Seconds before a reader that could not be opened is tried again.
RETRY_SECONDS = 5.0


class LockedClickHouse:
    """A reader shared by threads: one query at a time."""

    def __init__(self, ch: ClickHouse) -> None:
        self._ch = ch
        self._lock = threading.Lock()

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._ch.query(sql)

    def query_dicts(self, sql: str) -> list[dict[str, Any]]:
        with self._lock:
            return self._ch.query_dicts(sql)

    def close(self) -> None:
        with self._lock:
            self._ch.close()


class HallwatchServices:
    """What the dashboard's pages may ask of hallwatch (``dashboard.services.Services``)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.clock: Callable[[], datetime] = clock_of(settings.clock)
        self._reader: LockedClickHouse | None = None
        self._problem = ""
        self._next_try = 0.0
        self._reader_lock = threading.Lock()
        self._app: Hallwatch | None = None
        self._app_lock = threading.RLock()
        self._calendar: WorkCalendar | None = None

    # --- the read models -----------------------------------------------------------------

    def reader(self) -> Reader | None:
        with self._reader_lock:
            if self._reader is None and time.monotonic() >= self._next_try:
                self._open_reader()
            return self._reader

    def _open_reader(self) -> None:
        target = self.settings.clickhouse_target
        where = str(target).split("@")[-1]
        if not isinstance(target, str) and not Path(target).exists():
            self._problem = (
                f"No read models at {where} yet: run `hallwatch project` "
                "(尚无读模型：请先运行 hallwatch project)."
            )
        else:
            try:
                self._reader = LockedClickHouse(connect(target, read_only=True))
                self._problem = ""
                return
            except (ClickHouseError, OSError) as e:
                logger.warning("dashboard: cannot open ClickHouse at %s: %s", where, e)
                self._problem = (
                    f"ClickHouse at {where} cannot be reached (无法连接 ClickHouse): {e}"
                )
        self._next_try = time.monotonic() + RETRY_SECONDS

    def reader_problem(self) -> str:
        return self._problem or "ClickHouse is not open."

    def close(self) -> None:
        with self._reader_lock:
            if self._reader is not None:
                self._reader.close()
                self._reader = None
        with self._app_lock:
            if self._app is not None:
                self._app.close()
                self._app = None

    # --- the clock, users and keys ------------------------------------------------------

    def now(self) -> datetime:
        return self.clock()

    def calendar(self) -> WorkCalendar:
        if self._calendar is None:
            self._calendar = build_calendar(self.settings)
        return self._calendar

    def users(self) -> Mapping[str, Mapping[str, Any]]:
        return read_users(self.settings.users_file)

    def cookie_key(self) -> str:
        return hmac.new(self.settings.key(), b"dashboard-cookie", hashlib.sha256).hexdigest()

    # --- the event store -----------------------------------------------------------------

    @contextmanager
    def store(self) -> Iterator[Hallwatch]:
        """The application, one caller at a time; another writer may have written since,
        so its caches are dropped first."""
        with self._app_lock:
            if self._app is None:
                self._app = open_app(self.settings)
            self._app.forget()
            yield self._app

    def case_record(self, ref: str, scope: Scope, as_of: datetime | None) -> CaseRecord | None:
        ref = ref.strip()
        if not ref or len(ref) > 200:
            return None
        with self.store() as app:
            try:
                sids = app.find_cases(ref)
            except DomainError:
                return None
            for sid in sids:
                agg, events = app.as_of(sid, as_of)
                if not isinstance(agg, Case) or not scope.allows(agg.department, agg.town):
                    continue
                brk = app.verify_stream(sid)
                detail = "" if brk is None else f"version {brk.version}: {brk.reason}"
                view = case_view(agg, events, as_of or self.now())
                return CaseRecord(view, brk is None, detail)
        return None

    def write(self, record: dict[str, Any]) -> Written:
        """Apply one record of hallwatch's own through the domain (same checks, same
        idempotency, same hash chain as an intake record)."""
        with self.store() as app:
            (outcome,) = app.ingest([record], own=True)
        if outcome.status == APPLIED:
            return Written(True)
        return Written(False, outcome.reason or outcome.status)

    def own_record(self, kind: str, **fields: Any) -> dict[str, Any]:
        """A record of the dashboard's, stamped with the board's clock."""
        at = self.now().isoformat()
        return {
            "record_id": f"dashboard-{kind}-{uuid.uuid4().hex}",
            "kind": kind,
            "at": at,
            "recorded_at": at,
            "source": DASHBOARD_SOURCE,
            **fields,
        }

    def issue_order(
        self,
        user: User,
        *,
        case_id: str | None,
        department: str | None,
        due_days: int,
        note: str,
    ) -> Written:
        order_id = f"DB{self.now():%Y%m%d}{uuid.uuid4().hex[:8].upper()}"
        about: dict[str, Any] = {"case_id": case_id} if case_id else {"department": department}
        record = self.own_record(
            "supervision_ordered",
            order_id=order_id,
            inspector=user.name,
            due_days=due_days,
            note=note,
            **about,
        )
        done = self.write(record)
        logger.info("dashboard: %s issued order %s: %s", user.username, order_id, done.ok)
        return Written(done.ok, done.reason, order_id if done.ok else "")

    # --- the public tracker (infra/dashboard/tracker.py) ---------------------------------

    def track(self, receipt_no: str, code: str) -> Tracked:
        return tracker_of(self).track(receipt_no, code)

    def rate(self, receipt_no: str, code: str, level: int, comment: str) -> Written:
        return tracker_of(self).rate(receipt_no, code, level, comment)

    def complain(self, receipt_no: str, code: str, content: str) -> Written:
        return tracker_of(self).complain(receipt_no, code, content)

    def track_complaint(self, complaint_id: str, code: str) -> Tracked:
        return tracker_of(self).track_complaint(complaint_id, code)


@st.cache_resource(show_spinner=False)
def shared_services() -> HallwatchServices:
    """This process's services (Streamlit serves every session from it): built once from
    the environment's settings, closed when the process ends."""
    built = HallwatchServices(from_env())
    atexit.register(built.close)  # the one chdb reader is released when the process ends
    return built
