"""When things happen in the simulated hall: working hours, working days, exact times.

Records must carry RFC 3339 times with their +08:00 offset (docs/contracts.md §2), and
a believable feed only has them in the hall's working hours on working days. Days are
planned first; a time of day is then drawn as a "working second" (0..25200, lunch
excluded) and turned into a local time here.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from itertools import groupby

from domain.calendar import WorkCalendar
from domain.vocabulary import TIME_ZONE
from infra.simulate.plans import Planned, Timed

__all__ = [
    "DAY_SECONDS",
    "MORNING",
    "WorkClock",
    "local_time",
    "place_times",
    "quota",
    "rfc3339",
]

#: Working hours of the hall: 09:00-12:00 and 13:30-17:30, as "working seconds" 0..25200.
MORNING = (time(9, 0), 3 * 3600)
AFTERNOON = (time(13, 30), 4 * 3600)
DAY_SECONDS = MORNING[1] + AFTERNOON[1]


class WorkClock:
    """Working-day arithmetic for the simulation, with the hall's calendar."""

    def __init__(self, calendar: WorkCalendar) -> None:
        self.cal = calendar

    def add(self, day: date, n: int) -> date:
        """``n`` working days after ``day``; ``day`` itself when ``n <= 0``."""
        return self.cal.add_working_days(day, n) if n > 0 else day

    def on_or_after(self, day: date) -> date:
        return day if self.cal.is_working_day(day) else self.cal.add_working_days(day, 1)

    def between(self, a: date, b: date) -> int:
        return self.cal.working_days_between(a, b)


def local_time(day: date, offset: int) -> datetime:
    """Turn a working-second offset into a local time (overtime past 17:30 if needed)."""
    if offset < MORNING[1]:
        start, extra = MORNING[0], offset
    else:
        start, extra = AFTERNOON[0], offset - MORNING[1]
    base = datetime.combine(day, start, tzinfo=TIME_ZONE)
    return base + timedelta(seconds=extra)


def rfc3339(t: datetime) -> str:
    return t.isoformat(timespec="seconds")


def quota(share: float, n: int, rng: random.Random) -> int:
    """How many of ``n`` get a trait of ``share``: at least 1 in a big enough run so a
    300-case sample shows every rare behaviour, stochastic rounding otherwise."""
    exact = share * n
    count = int(exact) + (1 if rng.random() < exact - int(exact) else 0)
    return max(count, 1) if n * share >= 0.25 else count


def place_times(rng: random.Random, plan: Sequence[Planned]) -> list[Timed]:
    """Draw exact times: strictly increasing, inside working hours where possible.

    The plan is taken a run of same-day records at a time; a fixed offset is kept (moved
    later if an earlier record needs it), records without one are spread at random
    between their fixed neighbours.
    """
    out: list[Timed] = []
    for _, run in groupby(plan, key=lambda p: p.day):
        _place_day(rng, list(run), out)
    return out


def _place_day(rng: random.Random, run: list[Planned], out: list[Timed]) -> None:
    """Time one run of same-day records, from the start of the working day, into ``out``."""
    lo = 0  # the first working second still free
    segments = [list(g) for _, g in groupby(run, key=lambda p: p.offset is None)]
    for n, segment in enumerate(segments):
        if segment[0].offset is not None:
            for p in segment:
                off = max(p.offset or 0, lo)
                out.append((local_time(p.day, off), p.kind, p.fields))
                lo = off + 1
            continue
        following = segments[n + 1][0].offset if n + 1 < len(segments) else None
        hi = DAY_SECONDS if following is None else following
        count = len(segment)
        if hi - lo >= count:
            offsets = sorted(rng.sample(range(lo, hi), count))
        else:
            offsets = list(range(lo, lo + count))
        for p, off in zip(segment, offsets, strict=True):
            out.append((local_time(p.day, off), p.kind, p.fields))
        lo = offsets[-1] + 1
