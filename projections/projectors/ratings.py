"""``ratings``: one row per rated case (好差评), answered or not (差评整改)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from domain.vocabulary import is_bad_rating
from projections.clickhouse import ClickHouse
from projections.projectors.base import (
    DEFAULT_CAPACITY,
    Event,
    StateProjector,
    StreamState,
    as_date,
    flag,
)
from projections.projectors.towns import Towns


class RatingsProjector(StateProjector):
    """One row per rated case; the case's town from the shared directory."""

    table = "ratings"
    columns = (
        "case_id", "department", "item_code", "town", "level", "bad", "rated_at",
        "answer_due_date", "answered_at", "answered_on_time", "version", "last_event_id",
    )  # fmt: skip
    stream_column = "case_id"

    def __init__(self, towns: Towns, capacity: int = DEFAULT_CAPACITY) -> None:
        super().__init__(capacity)
        self.towns = towns

    def prepare(self, ch: ClickHouse, events: Sequence[Event]) -> int:
        return super().prepare(ch, events) + self.towns.ensure(ch, (e.subject for e in events))

    def on_case__rated(self, e: Event, st: StreamState) -> Iterable[str]:
        d = e.data
        level = int(d.get("level") or 0)
        st.rows[""] = {
            "case_id": e.subject,
            "department": e.department,
            "item_code": e.item_code,
            "town": self.towns.get(e.subject),
            "level": level,
            "bad": int(bool(d.get("bad", is_bad_rating(level)))),
            "rated_at": e.time,
            "answer_due_date": as_date(d.get("answer_due_date")),
            "answered_at": None,
            "answered_on_time": None,
            "version": 0,
            "last_event_id": "",
        }
        return ("",)

    def on_case__rating_answered(self, e: Event, st: StreamState) -> Iterable[str]:
        on_time = flag(e.data.get("on_time"))
        return self._update(st, answered_at=e.time, answered_on_time=on_time)
