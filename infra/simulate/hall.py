"""The simulated hall: the state that every stage of one run shares.

One ``random.Random(seed)`` drives every draw of a run, so that the same arguments give
the same records byte for byte; the order in which the stages draw from it is part of
the output, and must be kept when anything changes. The hall also knows its working
days, its catalogue (with a popularity per item), the staff and leaders of each
department, and how a timed record becomes an intake record (docs/contracts.md §2).
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from domain.calendar import WorkCalendar
from domain.catalogue import Catalogue, ItemVersion
from infra.simulate.people import fake_person_name
from infra.simulate.plans import Case, Planned, Timed
from infra.simulate.timing import WorkClock, place_times, rfc3339

__all__ = ["Hall"]

#: New cases per working day: sets how many working days the submissions span.
_CASES_PER_DAY = 15
#: Handlers (经办人) per department.
_STAFF_PER_DEPARTMENT = 6


class Hall:
    """The shared state of one run; see :func:`infra.simulate.generate_records`."""

    def __init__(
        self, cases: int, start: date, seed: int, source: str, catalogue: Catalogue
    ) -> None:
        self.n = cases
        self.rng = random.Random(seed)
        self.source = source
        self.catalogue = catalogue
        self.clock = WorkClock(WorkCalendar.default())
        first = self.clock.on_or_after(start)
        span = max(1, math.ceil(cases / _CASES_PER_DAY))
        #: The working days on which cases are submitted.
        self.days = [first] + [self.clock.add(first, i) for i in range(1, span)]
        self.codes = catalogue.codes()
        order = list(self.codes)
        self.rng.shuffle(order)
        # Popularity: a few items get most cases, as in a real hall.
        self.weights = {code: 1.0 / (rank + 1) ** 0.7 for rank, code in enumerate(order)}
        self.departments = catalogue.departments()
        self.staff = {
            d: [fake_person_name(self.rng) for _ in range(_STAFF_PER_DEPARTMENT)]
            for d in self.departments
        }
        self.leaders = {d: fake_person_name(self.rng) for d in self.departments}

    def item_on(self, day: date) -> ItemVersion:
        """An item in force on ``day`` (and with steps), by popularity."""
        available: list[ItemVersion] = []
        weights: list[float] = []
        for code in self.codes:
            v = self.catalogue.version_on(code, day)
            if v is not None and len(v.steps) >= 1:
                available.append(v)
                weights.append(self.weights[code])
        if not available:
            raise ValueError(f"no catalogue item is in force on {day.isoformat()}")
        return self.rng.choices(available, weights)[0]

    def handler(self, case: Case) -> str:
        """A handler of the case's department, for one step."""
        return self.rng.choice(self.staff[case.item.department])

    def timed(self, plan: Sequence[Planned]) -> list[Timed]:
        """The plan with exact times drawn (see :func:`place_times`)."""
        return place_times(self.rng, plan)

    def record(self, at: datetime, kind: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        """A record entered when it happened: a historical backfill carries ``recorded_at``,
        otherwise hallwatch would take the time it receives the file and flag it back-dated.
        ``record_id`` is numbered when all streams are merged."""
        when = rfc3339(at)
        return {
            "record_id": "",
            "kind": kind,
            "at": when,
            "recorded_at": when,
            "source": self.source,
            **fields,
        }

    def stream(self, timed: Sequence[Timed], key: Mapping[str, str]) -> list[dict[str, Any]]:
        """The records of one stream; ``key`` names it (``{"case_id": ...}``)."""
        return [self.record(at, kind, {**key, **fields}) for at, kind, fields in timed]
