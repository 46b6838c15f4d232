"""``complaints``: each complaint (投诉) as its latest event left it; its status follows
the one status machine, ``domain.lifecycle``."""

from __future__ import annotations

from collections.abc import Iterable

from domain import clock
from domain.lifecycle import status_after
from domain.vocabulary import StreamKind
from projections.projectors.base import Event, StreamRowProjector, StreamState, as_date, flag


class ComplaintsProjector(StreamRowProjector):
    """One row per complaint; every complaint event moves its version."""

    table = "complaints"
    columns = (
        "complaint_id", "case_id", "department", "channel", "status", "assigned_to", "filed_at",
        "accept_due_date", "accepted_at", "accepted_on_time", "reply_due_date", "replied_at",
        "replied_on_time", "closed_at", "satisfied", "violations", "alerts", "version",
        "last_event_id", "updated_at",
    )  # fmt: skip
    stream_column = "complaint_id"
    stream_kind = StreamKind.COMPLAINT.value

    def on_complaint__filed(self, e: Event, st: StreamState) -> Iterable[str]:
        d = e.data
        st.rows[""] = {
            "complaint_id": str(d.get("complaint_id") or e.subject),
            "case_id": str(d.get("case_id") or ""),
            "department": str(d.get("department") or e.department),
            "channel": str(d.get("channel") or ""),
            "status": status_after(e.name),
            "assigned_to": "",
            "filed_at": e.time,
            "accept_due_date": as_date(d.get("accept_due_date")) or clock.local_date(e.time),
            "accepted_at": None,
            "accepted_on_time": None,
            "reply_due_date": None,
            "replied_at": None,
            "replied_on_time": None,
            "closed_at": None,
            "satisfied": None,
            "violations": 0,
            "alerts": 0,
            "version": 0,
            "last_event_id": "",
            "updated_at": e.time,
        }
        return ("",)

    def on_complaint__accepted(self, e: Event, st: StreamState) -> Iterable[str]:
        d = e.data
        return self._update(
            st,
            status=status_after(e.name),
            accepted_at=e.time,
            accepted_on_time=flag(d.get("on_time")),
            reply_due_date=as_date(d.get("reply_due_date")),
        )

    def on_complaint__rejected(self, e: Event, st: StreamState) -> Iterable[str]:
        return self._update(st, status=status_after(e.name), closed_at=e.time)

    def on_complaint__assigned(self, e: Event, st: StreamState) -> Iterable[str]:
        assigned_to = str(e.data.get("department") or "")
        return self._update(st, status=status_after(e.name), assigned_to=assigned_to)

    def on_complaint__replied(self, e: Event, st: StreamState) -> Iterable[str]:
        on_time = flag(e.data.get("on_time"))
        status = status_after(e.name)
        return self._update(st, status=status, replied_at=e.time, replied_on_time=on_time)

    def on_complaint__closed(self, e: Event, st: StreamState) -> Iterable[str]:
        satisfied = flag(e.data.get("satisfied"))
        status = status_after(e.name)
        return self._update(st, status=status, closed_at=e.time, satisfied=satisfied)

    def on_complaint__violation_flagged(self, e: Event, st: StreamState) -> Iterable[str]:
        return self._count(st, "violations")

    def on_complaint__alert_raised(self, e: Event, st: StreamState) -> Iterable[str]:
        return self._count(st, "alerts")
