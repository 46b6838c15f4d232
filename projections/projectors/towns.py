"""The town directory (镇街) the ``ratings`` and ``alerts`` projectors share.

Those rows carry the town of their case, a fact of the case's own stream: learnt
from its ``case.submitted`` event, else read from ``cases``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

from domain.vocabulary import StreamKind, event_name
from projections.clickhouse import ClickHouse, quote_all
from projections.projectors.base import DEFAULT_CAPACITY, Event, chunks

_SUBMITTED = event_name(StreamKind.CASE.value, "Submitted")


class Towns:
    """case_id -> town, learnt from ``case.submitted`` events, else read from ``cases``.

    A case's town never changes, so any row of ``cases`` will do; ``cases`` has the
    case once the batch holding its ``submitted`` event was committed."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self._towns: OrderedDict[str, str] = OrderedDict()
        self.complete = False  # as StateCache.complete, for the cases table

    def learn(self, events: Iterable[Event]) -> None:
        for e in events:
            if e.name == _SUBMITTED:
                self._towns[e.subject] = str(e.data.get("town") or "")

    def ensure(self, ch: ClickHouse, case_ids: Iterable[str]) -> int:
        """Read the towns of the cases not known yet; returns how many queries ran."""
        if self.complete:
            return 0
        missing = [c for c in dict.fromkeys(case_ids) if c not in self._towns]
        queries = 0
        for chunk in chunks(missing):
            queries += 1
            for case_id, town in ch.query(
                f"SELECT case_id, any(town) FROM cases WHERE case_id IN ({quote_all(chunk)}) "
                "GROUP BY case_id"
            ):
                self._towns[str(case_id)] = str(town)
        return queries

    def get(self, case_id: str) -> str:
        town = self._towns.get(case_id)
        if town is None:
            return ""
        self._towns.move_to_end(case_id)
        return town

    def trim(self) -> None:
        while len(self._towns) > self.capacity:
            self._towns.popitem(last=False)
            self.complete = False

    def clear(self) -> None:
        self._towns.clear()
        self.complete = False
