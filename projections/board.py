"""The inspectors' board (监察大屏) in SQL: each open case's card, the counters that
count those very cards, the cards by unit, overdue rates by department and week, and
the orders still unanswered — now, or as things stood at a past time.

A case is red when its handling clock runs past its due date or its intake decision
is past due, yellow from its warning day, "stopped" while it waits for materials or
a special procedure, and on track otherwise (docs/domain.md). Every value reaches
SQL through ``quote``; every query takes the viewer's ``Scope``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from domain import clock
from domain.vocabulary import (
    CLOCK_STOPPED,
    OPEN_STATUSES,
    BoardCard,
    CaseStatus,
    FlagCategory,
)
from projections.clickhouse import Reader, day, equals, quote, quote_all, ts
from projections.queries import case_state_sql
from projections.scope import Scope

_RED, _YELLOW = quote(BoardCard.RED.value), quote(BoardCard.YELLOW.value)
_STOPPED, _ON_TRACK = quote(BoardCard.STOPPED.value), quote(BoardCard.ON_TRACK.value)
_IN_PROGRESS = quote(CaseStatus.IN_PROGRESS.value)
_AWAITING_INTAKE = quote(CaseStatus.AWAITING_INTAKE.value)
_CONCLUDED = quote(CaseStatus.CONCLUDED.value)
_OPEN = quote_all(sorted(OPEN_STATUSES))
_STOPPED_STATUSES = quote_all(sorted(CLOCK_STOPPED))
CARD_ORDER = (BoardCard.RED, BoardCard.YELLOW, BoardCard.STOPPED, BoardCard.ON_TRACK)
CASE_LIST_COLUMNS = (
    "case_id", "receipt_no", "department", "town", "item_code", "item_name", "channel",
    "status", "card", "submitted_at", "due_date", "warn_date", "intake_due",
)  # fmt: skip


@dataclass(frozen=True)
class BoardFilter:
    """What the inspector narrowed the board to; ``since``/``until`` bound the cases'
    submission and the alerts' raising ([since, until))."""

    department: str | None = None
    town: str | None = None
    item_code: str | None = None
    channel: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def case_conditions(self) -> list[str]:
        out = [
            equals(col, v)
            for col, v in (
                ("department", self.department),
                ("town", self.town),
                ("item_code", self.item_code),
                ("channel", self.channel),
            )
            if v
        ]
        if self.since is not None:
            out.append(f"submitted_at >= {ts(self.since)}")
        if self.until is not None:
            out.append(f"submitted_at < {ts(self.until)}")
        return out


def _card_sql(today: str, *, running: str, due: str, warn: str, intake: str) -> str:
    """The card of one case row, as SQL (the rule in this module's docstring)."""
    return (
        f"multiIf({running} AND ifNull({due} < {today}, 0), {_RED}, "
        f"status = {_AWAITING_INTAKE} AND ifNull({intake} < {today}, 0), {_RED}, "
        f"{running} AND ifNull({warn} <= {today}, 0), {_YELLOW}, "
        f"status IN ({_STOPPED_STATUSES}), {_STOPPED}, "
        f"status IN ({_OPEN}), {_ON_TRACK}, '')"
    )


def cases_sql(now: datetime, as_of: datetime | None = None) -> str:
    """Every case with its card (empty for a closed case): from ``cases`` now, or from the
    events as of a past time (the cut ``hallwatch cases --as-of`` makes)."""
    today = day(clock.local_date(as_of or now))
    if as_of is None:
        card = _card_sql(
            today,
            running=f"status = {_IN_PROGRESS}",
            due="due_date",
            warn="warn_date",
            intake="intake_due_date",
        )
        return f"""
SELECT case_id, receipt_no, department, town, item_code, item_name, channel, status,
  submitted_at, due_date, warn_date, intake_due_date AS intake_due, concluded_at, on_time,
  {card} AS card
FROM cases FINAL"""
    card = _card_sql(today, running="running", due="due", warn="warn", intake="intake_due")
    return f"""
SELECT case_id, receipt_no, department, town, item_code, item_name, channel, status,
  submitted_at, due AS due_date, warn AS warn_date, intake_due, concluded_at,
  if(on_time_s = 'true', 1, if(on_time_s = 'false', 0, NULL)) AS on_time,
  {card} AS card
FROM ({case_state_sql(as_of)})"""


def _where(conditions: list[str]) -> str:
    return f" WHERE {' AND '.join(conditions)}" if conditions else ""


def counters(
    ch: Reader, f: BoardFilter, scope: Scope, now: datetime, as_of: datetime | None = None
) -> dict[str, int]:
    """The board's counters: open cases and each card, violations raised today, supervision
    orders unanswered. Each counts exactly the rows its list shows."""
    conditions = ["card != ''", scope.sql(), *f.case_conditions()]
    (row,) = ch.query_dicts(
        "SELECT count() AS open, "
        + ", ".join(f"countIf(card = {quote(c.value)}) AS {c.value}" for c in CARD_ORDER)
        + f" FROM ({cases_sql(now, as_of)}){_where(conditions)}"
    )
    out = {k: int(v) for k, v in row.items()}
    out["violations_today"] = violations_today(ch, f, scope, as_of or now)
    out["unanswered_orders"] = len(open_orders(ch, scope, as_of or now, f.department))
    return out


def case_list(
    ch: Reader,
    f: BoardFilter,
    scope: Scope,
    now: datetime,
    *,
    card: str | None = None,
    as_of: datetime | None = None,
    limit: int = 200,
) -> list[dict[str, Any]]:
    """The open cases behind a counter (``card``: one card; None: every open case), the
    most urgent first: red, yellow, stopped, on track, then by due date."""
    conditions = ["card != ''", scope.sql(), *f.case_conditions()]
    if card:
        conditions.append(f"card = {quote(card)}")
    order = ", ".join(f"card = {quote(c.value)} DESC" for c in CARD_ORDER)
    return ch.query_dicts(
        f"SELECT {', '.join(CASE_LIST_COLUMNS)} FROM ({cases_sql(now, as_of)})"
        f"{_where(conditions)} ORDER BY {order}, isNull(due_date), due_date, case_id "
        f"LIMIT {quote(int(limit))}"
    )


def cards_by(
    ch: Reader,
    f: BoardFilter,
    scope: Scope,
    now: datetime,
    by: str,
    as_of: datetime | None = None,
) -> list[dict[str, Any]]:
    """Yellow and red cards per department or town (``by``), most red first."""
    if by not in ("department", "town"):
        raise ValueError(f"cards by {by!r}: choose department or town")
    conditions = ["card != ''", scope.sql(), *f.case_conditions()]
    return ch.query_dicts(
        f"SELECT {by} AS unit, countIf(card = {_YELLOW}) AS yellow, countIf(card = {_RED}) AS red"
        f" FROM ({cases_sql(now, as_of)}){_where(conditions)}"
        f" GROUP BY unit HAVING yellow + red > 0 ORDER BY red DESC, yellow DESC, unit"
    )


def overdue_by_week(
    ch: Reader,
    f: BoardFilter,
    scope: Scope,
    now: datetime,
    *,
    weeks: int = 12,
    as_of: datetime | None = None,
) -> list[dict[str, Any]]:
    """Per department and week (Monday), of the cases due that week, how many were late:
    concluded after their due date, or still running past it."""
    at = as_of or now
    today = clock.local_date(at)
    first = today - timedelta(days=today.weekday() + 7 * (weeks - 1))
    conditions = [
        "due_date IS NOT NULL",
        f"due_date >= {day(first)}",
        f"due_date <= {day(today)}",
        scope.sql(),
        *f.case_conditions(),
    ]
    return ch.query_dicts(
        f"""
SELECT department, toMonday(assumeNotNull(due_date)) AS week, count() AS due,
  countIf((status = {_CONCLUDED} AND ifNull(on_time, 1) = 0)
          OR (status = {_IN_PROGRESS} AND ifNull(due_date < {day(today)}, 0))) AS late
FROM ({cases_sql(now, as_of)}){_where(conditions)}
GROUP BY department, week ORDER BY department, week"""
    )


def violations_today(ch: Reader, f: BoardFilter, scope: Scope, at: datetime) -> int:
    """Violation flags (违规) raised since 00:00 of ``at``'s day, up to ``at``."""
    midnight = clock.start_of_day(clock.local_date(at))
    conditions = [
        f"category = {quote(FlagCategory.VIOLATION.value)}",
        f"raised_at >= {ts(midnight)}",
        f"raised_at <= {ts(at)}",
        scope.sql(),
        *(
            equals(col, v)
            for col, v in (
                ("department", f.department),
                ("town", f.town),
                ("item_code", f.item_code),
            )
            if v
        ),
    ]
    (row,) = ch.query(f"SELECT uniqExact(alert_id) FROM alerts{_where(conditions)}")
    return int(row[0])


def open_orders(
    ch: Reader, scope: Scope, at: datetime, department: str | None = None
) -> list[dict[str, Any]]:
    """Supervision orders (督办单) issued by ``at`` and not answered then, soonest due first.
    A town's scope reaches the orders about its towns' cases."""
    conditions = [f"ordered_at <= {ts(at)}", f"(answered_at IS NULL OR answered_at > {ts(at)})"]
    if department:
        conditions.append(equals("department", department))
    scoped = scope.sql(town=None)
    if scope.town:
        scoped = f"case_id IN (SELECT case_id FROM cases FINAL WHERE {scope.sql(department=None)})"
    conditions.append(scoped)
    return ch.query_dicts(
        "SELECT order_id, case_id, department, inspector, note, ordered_at, due_date, "
        f"due_date < {day(clock.local_date(at))} AS overdue "
        f"FROM supervision_orders FINAL{_where(conditions)} ORDER BY due_date, order_id"
    )


def bad_reviews_waiting(ch: Reader, scope: Scope, at: datetime) -> list[dict[str, Any]]:
    """Bad reviews (差评) given by ``at`` and not answered then, soonest due first."""
    conditions = [
        "bad = 1",
        f"rated_at <= {ts(at)}",
        f"(answered_at IS NULL OR answered_at > {ts(at)})",
        scope.sql(),
    ]
    return ch.query_dicts(
        "SELECT case_id, department, town, item_code, level, rated_at, answer_due_date, "
        f"ifNull(answer_due_date < {day(clock.local_date(at))}, 0) AS overdue "
        f"FROM ratings FINAL{_where(conditions)} ORDER BY isNull(answer_due_date), "
        "answer_due_date, case_id"
    )


def week_start(d: date) -> date:
    """The Monday of ``d``'s week (the heat map's columns)."""
    return d - timedelta(days=d.weekday())


__all__ = [
    "CARD_ORDER",
    "CASE_LIST_COLUMNS",
    "BoardFilter",
    "bad_reviews_waiting",
    "cards_by",
    "case_list",
    "cases_sql",
    "counters",
    "open_orders",
    "overdue_by_week",
    "violations_today",
    "week_start",
]
