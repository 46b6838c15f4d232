"""``steps``: each approval step (审批环节) of each case, with its own due date."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from domain import clock
from projections.projectors.base import Event, StateProjector, StreamState, as_date, flag


class StepsProjector(StateProjector):
    """One row per (case, step); each row is its own version gate."""

    table = "steps"
    columns = (
        "case_id", "step", "department", "item_code", "started_on", "due_date", "completed_on",
        "decision", "on_time", "handler", "version", "last_event_id",
    )  # fmt: skip
    stream_column = "case_id"
    row_key = ("step",)
    row_gate = True  # a case has several step rows: each row is its own gate

    @staticmethod
    def _current(st: StreamState, step: str, e: Event) -> dict[str, Any] | None:
        """The step's row if this event is newer than it (None: absent or already applied)."""
        row = st.rows.get(step)
        return row if row is not None and int(row["version"]) < e.version else None

    def on_case__step_started(self, e: Event, st: StreamState) -> Iterable[str]:
        d = e.data
        step = str(d.get("step"))
        old = st.rows.get(step)
        if old is not None and int(old["version"]) >= e.version:
            return ()
        st.rows[step] = {
            "case_id": e.subject,
            "step": step,
            "department": str(d.get("department") or e.department),
            "item_code": e.item_code,
            "started_on": clock.local_date(e.time),
            "due_date": as_date(d.get("due_date")),
            "completed_on": None,
            "decision": "",
            "on_time": None,
            "handler": str(d.get("handler") or ""),
            "version": 0,
            "last_event_id": "",
        }
        return (step,)

    def on_case__step_completed(self, e: Event, st: StreamState) -> Iterable[str]:
        d = e.data
        step = str(d.get("step"))
        row = self._current(st, step, e)
        if row is None:
            return ()
        row.update(
            completed_on=clock.local_date(e.time),
            decision=str(d.get("decision") or ""),
            on_time=flag(d.get("on_time")),
            handler=str(d.get("handler") or row["handler"]),
        )
        return (step,)

    def _shift(self, e: Event, st: StreamState) -> Iterable[str]:
        """A pause ended: running steps' due dates move back (stored in the event)."""
        changed = []
        for name, due in e.data.get("step_due_dates") or ():
            row = self._current(st, str(name), e)
            if row is not None:
                row["due_date"] = as_date(due)
                changed.append(str(name))
        return changed

    def on_case__resumed(self, e: Event, st: StreamState) -> Iterable[str]:
        return self._shift(e, st)

    def on_case__correction_received(self, e: Event, st: StreamState) -> Iterable[str]:
        return self._shift(e, st)
