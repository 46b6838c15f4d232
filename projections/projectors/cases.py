"""``cases``: each case (办件) as its latest event left it (docs/domain.md, "The case
lifecycle"); its status follows the one status machine, ``domain.lifecycle``."""

from __future__ import annotations

from collections.abc import Iterable

from domain import clock
from domain.lifecycle import status_after
from domain.vocabulary import CorrectionStage, StreamKind
from projections.projectors.base import (
    Event,
    StreamRowProjector,
    StreamState,
    as_date,
    flag,
    step_names,
)

_INTAKE = CorrectionStage.INTAKE.value


class CasesProjector(StreamRowProjector):
    """Each case as its latest event left it; every case event moves its version, so
    the row's version is the stream's."""

    table = "cases"
    columns = (
        "case_id", "receipt_no", "item_code", "item_name", "department", "town", "channel",
        "applicant_kind", "online_submission", "bundle_id", "status", "submitted_at",
        "intake_due_date", "accepted_at", "clock_start", "limit_days", "due_date", "warn_date",
        "legal_due_date", "deemed_accepted", "corrections", "suspensions", "suspended",
        "extended_days", "steps_total", "steps_completed", "completed_steps", "concluded_at",
        "outcome", "rejection_reason", "on_time", "late_days", "handling_days",
        "concluded_online", "delivered_at", "delivery_method", "site_visits", "rating",
        "rated_at", "rating_answered_at", "violations", "alerts", "complaints",
        "supervision_orders", "version", "last_event_id", "updated_at",
    )  # fmt: skip
    stream_column = "case_id"
    stream_kind = StreamKind.CASE.value

    def on_case__submitted(self, e: Event, st: StreamState) -> Iterable[str]:
        d = e.data
        st.rows[""] = {
            "case_id": str(d.get("case_id") or e.subject),
            "receipt_no": "",
            "item_code": str(d.get("item_code") or e.item_code),
            "item_name": str(d.get("item_name") or ""),
            "department": str(d.get("department") or e.department),
            "town": str(d.get("town") or ""),
            "channel": str(d.get("channel") or ""),
            "applicant_kind": str(d.get("applicant_kind") or ""),
            "online_submission": int(bool(d.get("online"))),
            "bundle_id": str(d.get("bundle_id") or ""),
            "status": status_after(e.name),
            "submitted_at": e.time,
            "intake_due_date": as_date(d.get("intake_due_date")) or clock.local_date(e.time),
            "accepted_at": None,
            "clock_start": None,
            "limit_days": 0,
            "due_date": None,
            "warn_date": None,
            "legal_due_date": None,
            "deemed_accepted": 0,
            "corrections": 0,
            "suspensions": 0,
            "suspended": 0,
            "extended_days": 0,
            "steps_total": len(step_names(d.get("item"))),
            "steps_completed": 0,
            "completed_steps": [],
            "concluded_at": None,
            "outcome": "",
            "rejection_reason": "",
            "on_time": None,
            "late_days": 0,
            "handling_days": None,
            "concluded_online": None,
            "delivered_at": None,
            "delivery_method": "",
            "site_visits": None,
            "rating": None,
            "rated_at": None,
            "rating_answered_at": None,
            "violations": 0,
            "alerts": 0,
            "complaints": 0,
            "supervision_orders": 0,
            "version": 0,
            "last_event_id": "",
            "updated_at": e.time,
        }
        return ("",)

    def on_case__accepted(self, e: Event, st: StreamState) -> Iterable[str]:
        d = e.data
        return self._update(
            st,
            status=status_after(e.name),
            receipt_no=str(d.get("receipt_no") or ""),
            accepted_at=e.time,
            clock_start=as_date(d.get("clock_start")),
            limit_days=int(d.get("limit_days") or 0),
            due_date=as_date(d.get("due_date")),
            warn_date=as_date(d.get("warn_date")),
            legal_due_date=as_date(d.get("legal_due_date")),
            deemed_accepted=int(bool(d.get("deemed"))),
            steps_total=len(step_names(d.get("item"))),  # the item version in force now
            steps_completed=0,
            completed_steps=[],
        )

    def on_case__rejected(self, e: Event, st: StreamState) -> Iterable[str]:
        reason = str(e.data.get("reason") or "")
        status = status_after(e.name)
        return self._update(st, status=status, rejection_reason=reason, concluded_at=e.time)

    def on_case__correction_requested(self, e: Event, st: StreamState) -> Iterable[str]:
        return self._update(
            st,
            corrections=int(e.data.get("count") or 0),
            status=status_after(e.name, e.data.get("stage")),
        )

    def on_case__correction_received(self, e: Event, st: StreamState) -> Iterable[str]:
        d = e.data
        row = self._row(st)
        if row is None:
            return ()
        stage = d.get("stage")
        status = status_after(e.name, stage)
        if stage == _INTAKE:
            row["status"] = status
            if d.get("intake_due_date") is not None:
                row["intake_due_date"] = as_date(d["intake_due_date"])
            return ("",)
        return self._update(
            st,
            status=status,
            due_date=as_date(d.get("due_date")),
            warn_date=as_date(d.get("warn_date")),
            legal_due_date=as_date(d.get("legal_due_date")),
        )

    def _steps_done(self, st: StreamState, step: str, done: bool) -> Iterable[str]:
        row = self._row(st)
        if row is None:
            return ()
        completed = [s for s in row["completed_steps"] if s != step]
        if done:
            completed.append(step)
        row["completed_steps"] = completed
        row["steps_completed"] = len(completed)
        return ("",)

    def on_case__step_started(self, e: Event, st: StreamState) -> Iterable[str]:
        return self._steps_done(st, str(e.data.get("step")), done=False)

    def on_case__step_completed(self, e: Event, st: StreamState) -> Iterable[str]:
        return self._steps_done(st, str(e.data.get("step")), done=True)

    def on_case__suspended(self, e: Event, st: StreamState) -> Iterable[str]:
        count = int(e.data.get("count") or 0)
        return self._update(st, status=status_after(e.name), suspensions=count, suspended=1)

    def on_case__resumed(self, e: Event, st: StreamState) -> Iterable[str]:
        d = e.data
        return self._update(
            st,
            status=status_after(e.name),
            suspended=0,
            due_date=as_date(d.get("due_date")),
            warn_date=as_date(d.get("warn_date")),
            legal_due_date=as_date(d.get("legal_due_date")),
        )

    def on_case__extended(self, e: Event, st: StreamState) -> Iterable[str]:
        d = e.data
        return self._update(
            st,
            extended_days=int(d.get("days") or 0),
            due_date=as_date(d.get("due_date")),
            warn_date=as_date(d.get("warn_date")),
            legal_due_date=as_date(d.get("legal_due_date")),
        )

    def on_case__concluded(self, e: Event, st: StreamState) -> Iterable[str]:
        d = e.data
        row = self._row(st)
        if row is None:
            return ()
        handling = d.get("handling_days")
        row.update(
            status=status_after(e.name),
            suspended=0,
            outcome=str(d.get("outcome") or ""),
            concluded_at=e.time,
            concluded_online=flag(d.get("online")),
            on_time=flag(d.get("on_time")),
            late_days=int(d.get("late_days") or 0),
            handling_days=None if handling is None else int(handling),
        )
        if d.get("due_date") is not None:
            row["due_date"] = as_date(d["due_date"])
        return ("",)

    def on_case__delivered(self, e: Event, st: StreamState) -> Iterable[str]:
        visits = e.data.get("site_visits")
        return self._update(
            st,
            delivered_at=e.time,
            delivery_method=str(e.data.get("method") or ""),
            site_visits=None if visits is None else int(visits),
        )

    def on_case__rated(self, e: Event, st: StreamState) -> Iterable[str]:
        return self._update(st, rating=int(e.data.get("level") or 0), rated_at=e.time)

    def on_case__rating_answered(self, e: Event, st: StreamState) -> Iterable[str]:
        return self._update(st, rating_answered_at=e.time)

    def on_case__violation_flagged(self, e: Event, st: StreamState) -> Iterable[str]:
        return self._count(st, "violations")

    def on_case__alert_raised(self, e: Event, st: StreamState) -> Iterable[str]:
        return self._count(st, "alerts")

    def on_case__complaint_linked(self, e: Event, st: StreamState) -> Iterable[str]:
        return self._count(st, "complaints")

    def on_case__supervision_ordered(self, e: Event, st: StreamState) -> Iterable[str]:
        return self._count(st, "supervision_orders")
