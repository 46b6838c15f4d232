"""``alerts``: every raised alert (预警/超时) and recorded violation (违规), one row each."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from domain.vocabulary import FlagCategory, StreamKind, event_name, name_of_type
from projections.clickhouse import ClickHouse
from projections.projectors.base import DEFAULT_CAPACITY, AppendProjector, Event, as_date
from projections.projectors.towns import Towns

_CASE = StreamKind.CASE.value
#: ``<stream>.violation_flagged``: a violation (its ``violation`` names the kind).
VIOLATION_EVENTS = frozenset(
    event_name(kind.value, "ViolationFlagged") for kind in (StreamKind.CASE, StreamKind.COMPLAINT)
)
#: ``<stream>.alert_raised``: an alert (its ``alert`` names the kind).
ALERT_EVENTS = frozenset(
    event_name(kind.value, "AlertRaised")
    for kind in (StreamKind.CASE, StreamKind.COMPLAINT, StreamKind.SUPERVISION)
)
_HANDLED = VIOLATION_EVENTS | ALERT_EVENTS
_ALERT, _VIOLATION = FlagCategory.ALERT.value, FlagCategory.VIOLATION.value


class AlertsProjector(AppendProjector):
    """One row per alert or violation event; a case's row carries the case's town."""

    table = "alerts"
    columns = (
        "alert_id", "kind", "category", "stream_kind", "stream_id", "subject", "step",
        "department", "town", "item_code", "deadline", "detail", "raised_at", "recorded_at",
        "version",
    )  # fmt: skip
    stream_column = "stream_id"

    def __init__(self, towns: Towns, capacity: int = DEFAULT_CAPACITY) -> None:
        super().__init__(capacity)
        self.towns = towns

    def handles(self, event_type: str) -> bool:
        return name_of_type(event_type) in _HANDLED

    def stream_key(self, e: Event) -> str:
        return e.stream_id

    def prepare(self, ch: ClickHouse, events: Sequence[Event]) -> int:
        cases = [e.subject for e in events if e.stream_kind == _CASE]
        return super().prepare(ch, events) + self.towns.ensure(ch, cases)

    def row(self, e: Event) -> tuple[Any, ...]:
        d = e.data
        violation = e.name in VIOLATION_EVENTS
        kind = str((d.get("violation") if violation else d.get("alert")) or "unknown")
        return (
            e.id, kind, _VIOLATION if violation else _ALERT, e.stream_kind, e.stream_id,
            e.subject, str(d.get("step") or ""), e.department,
            self.towns.get(e.subject) if e.stream_kind == _CASE else "", e.item_code,
            None if violation else as_date(d.get("deadline")), str(d.get("detail") or ""),
            e.time, e.recorded, e.version,
        )  # fmt: skip
