"""The calendar month a KPI ranking covers (每月一公示), in Asia/Shanghai."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from domain import clock


@dataclass(frozen=True, slots=True)
class Month:
    """A calendar month in Asia/Shanghai: [start, end)."""

    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Month:
        """``YYYY-MM``; ValueError naming the input otherwise."""
        try:
            y, m = text.strip().split("-")
            if len(y) != 4 or len(m) != 2:
                raise ValueError
            out = cls(int(y), int(m))
            if not 1 <= out.month <= 12:
                raise ValueError
            return out
        except ValueError:
            raise ValueError(f"month {text!r} is not YYYY-MM (e.g. 2026-10)") from None

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def next_first_day(self) -> date:
        return date(self.year + self.month // 12, self.month % 12 + 1, 1)

    @property
    def start(self) -> datetime:
        return clock.start_of_day(self.first_day)

    @property
    def end(self) -> datetime:
        return clock.start_of_day(self.next_first_day)
