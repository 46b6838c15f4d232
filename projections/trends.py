"""A unit's last months (趋势): the monthly ranking month by month, and one unit's row
of each, for the department heads' and town managers' pages.

Every number comes from :func:`projections.kpi.rank`, the function ``hallwatch rank``
calls: this module only chooses the months and picks rows out of their rankings, so
a trend can never disagree with the ranking of its month.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any

from domain.calendar import WorkCalendar
from projections import kpi
from projections.clickhouse import Reader, identifier
from projections.month import Month
from projections.scope import Scope

#: The groupings a unit page offers (items have no head of their own).
UNIT_GROUPINGS: tuple[kpi.Grouping, ...] = ("department", "town")
Ranking = list[dict[str, Any]]


def shifted(m: Month, months: int) -> Month:
    """The month ``months`` after ``m`` (before it when negative)."""
    index = m.year * 12 + (m.month - 1) + months
    return Month(index // 12, index % 12 + 1)


def last_complete_month(today: date) -> Month:
    """The last month that has ended by ``today`` (the default month of a notice)."""
    return shifted(Month(today.year, today.month), -1)


def months_up_to(last: Month, n: int) -> list[Month]:
    """The ``n`` months ending with ``last``, oldest first."""
    return [shifted(last, i - n + 1) for i in range(n)]


def monthly_ranks(
    ch: Reader,
    months: Iterable[Month],
    by: kpi.Grouping,
    calendar: WorkCalendar | None = None,
) -> dict[str, Ranking]:
    """Each month's ranking (``kpi.rank``, best first), keyed ``YYYY-MM`` in the order
    given; a month with no activity has an empty ranking."""
    return {str(m): kpi.rank(ch, m, by, calendar=calendar) for m in months}


def row_of(ranking: Sequence[Mapping[str, Any]], group: str) -> Mapping[str, Any] | None:
    """One group's row of a ranking, or None when it had no activity that month."""
    return next((r for r in ranking if r["group"] == group), None)


def history(ranks: Mapping[str, Sequence[Mapping[str, Any]]], group: str) -> Ranking:
    """One unit month by month: ``month``, ``units`` (how many were ranked), ``rank``,
    ``score`` and every KPI as the month's ranking has them; ``None`` for a month in
    which the unit had no activity (it is then not ranked)."""
    out: Ranking = []
    for month, ranking in ranks.items():
        row = row_of(ranking, group)
        values = {k.key: None if row is None else row[k.key] for k in kpi.KPIS}
        out.append(
            {
                "month": month,
                "group": group,
                "units": len(ranking),
                "rank": None if row is None else row["rank"],
                "score": None if row is None else row["score"],
                **values,
            }
        )
    return out


def units(ch: Reader, by: kpi.Grouping, scope: Scope) -> list[str]:
    """The departments or towns that have cases, within ``scope``, by name."""
    if by not in UNIT_GROUPINGS:
        raise ValueError(f"units by {by!r}: choose department or town")
    column = identifier(by)
    rows = ch.query(
        f"SELECT DISTINCT {column} FROM cases FINAL WHERE {scope.sql()} AND {column} != '' "
        f"ORDER BY {column}"
    )
    return [str(r[0]) for r in rows]


__all__ = [
    "UNIT_GROUPINGS",
    "history",
    "last_complete_month",
    "monthly_ranks",
    "months_up_to",
    "row_of",
    "shifted",
    "units",
]
