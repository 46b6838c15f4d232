"""``supervision_orders``: each supervision order (督办单) and its answer (反馈); its
status follows the one status machine, ``domain.lifecycle``."""

from __future__ import annotations

from collections.abc import Iterable

from domain import clock
from domain.lifecycle import status_after
from domain.vocabulary import StreamKind
from projections.projectors.base import Event, StreamRowProjector, StreamState, as_date, flag


class SupervisionOrdersProjector(StreamRowProjector):
    """One row per order; every order event moves its version."""

    table = "supervision_orders"
    columns = (
        "order_id", "case_id", "department", "inspector", "note", "status", "due_days",
        "ordered_at", "due_date", "answered_at", "answered_on_time", "alerts", "version",
        "last_event_id", "updated_at",
    )  # fmt: skip
    stream_column = "order_id"
    stream_kind = StreamKind.SUPERVISION.value

    def on_supervision__ordered(self, e: Event, st: StreamState) -> Iterable[str]:
        d = e.data
        st.rows[""] = {
            "order_id": str(d.get("order_id") or e.subject),
            "case_id": str(d.get("case_id") or ""),
            "department": str(d.get("department") or e.department),
            "inspector": str(d.get("inspector") or ""),
            "note": str(d.get("note") or ""),
            "status": status_after(e.name),
            "due_days": int(d.get("due_days") or 0),
            "ordered_at": e.time,
            "due_date": as_date(d.get("due_date")) or clock.local_date(e.time),
            "answered_at": None,
            "answered_on_time": None,
            "alerts": 0,
            "version": 0,
            "last_event_id": "",
            "updated_at": e.time,
        }
        return ("",)

    def on_supervision__answered(self, e: Event, st: StreamState) -> Iterable[str]:
        on_time = flag(e.data.get("on_time"))
        status = status_after(e.name)
        return self._update(st, status=status, answered_at=e.time, answered_on_time=on_time)

    def on_supervision__alert_raised(self, e: Event, st: StreamState) -> Iterable[str]:
        return self._count(st, "alerts")
