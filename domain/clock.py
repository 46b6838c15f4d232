"""Clock rules (时限规则, docs/contracts.md §3): every date a deadline rests on.

Plain functions of a working-day calendar (domain/calendar.py), in Asia/Shanghai:
the aggregates compute every due, warning and pause date through them, so
projections, alerting and replay agree on the same events. Default limits come
from ``Policy`` (domain/policy.py).
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta

from domain.calendar import WorkCalendar
from domain.policy import DEFAULT_POLICY
from domain.vocabulary import TIME_ZONE

__all__ = [
    "INTAKE_LIMIT_DAYS",
    "SHANGHAI",
    "days_between",
    "due_date",
    "intake_deadline",
    "is_backdated",
    "is_overdue",
    "local_date",
    "overdue_from",
    "pause_days",
    "paused_due",
    "shift_due",
    "start_of_day",
    "warning_date",
    "warning_from",
    "warning_margin",
]

#: The halls' time zone (domain/vocabulary.py), under the name the clock rules use.
SHANGHAI = TIME_ZONE

#: The default intake decision limit (受理期限, 行政许可法 art. 32), from ``Policy``.
INTAKE_LIMIT_DAYS = DEFAULT_POLICY.intake_days

_ONE_DAY = timedelta(days=1)
_EIGHT_HOURS = timedelta(hours=8)


def _require_aware(t: datetime, name: str) -> None:
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {t.isoformat()}")


def local_date(t: datetime) -> date:
    """Calendar date (日期) of ``t`` in Asia/Shanghai.

    Limits count whole local days, so a record at 23:30 UTC belongs to the
    next Shanghai day.  A naive datetime has no defined instant: ValueError.
    """
    offset = t.utcoffset()
    if offset == _EIGHT_HOURS:  # nearly every record: already Shanghai time
        return t.date()
    if offset is None:
        _require_aware(t, "t")
    return t.astimezone(SHANGHAI).date()


def start_of_day(d: date) -> datetime:
    """00:00 Asia/Shanghai on ``d`` (aware): the instant warnings and overdue start."""
    return datetime(d.year, d.month, d.day, tzinfo=SHANGHAI)


def parse_as_of(text: str) -> datetime:
    """ "As of" a time the user typed: a date (YYYY-MM-DD) means the end of that day, a
    date-time without an offset is Asia/Shanghai. ValueError naming the input otherwise."""
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            return datetime(d.year, d.month, d.day, 23, 59, 59, 999999, tzinfo=SHANGHAI)
        t = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a date (YYYY-MM-DD) or date-time") from None
    return t if t.tzinfo else t.replace(tzinfo=SHANGHAI)


def warning_margin(n: int, share: float = DEFAULT_POLICY.warning_share) -> int:
    """Warning margin m (预警提前量) for an ``n``-working-day limit: max(1, floor(share × n)).

    The yellow card shows the last ``m`` working days of a limit; at least one
    day, so that even a 1-day limit is warned on its due day.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"share must be in [0, 1], got {share}")
    # The epsilon absorbs binary rounding (0.29 * 100 == 28.999999999999996).
    return max(1, math.floor(share * n + 1e-9))


def due_date(cal: WorkCalendar, start: date, n: int) -> date:
    """Due date (到期日) of an ``n``-working-day limit started on ``start``.

    It is the Nth working day strictly after ``start``: the start day itself
    never counts (行政许可法 art. 82: limits count from the next day).
    """
    return cal.add_working_days(start, n)


def warning_date(cal: WorkCalendar, start: date, n: int, margin: int | None = None) -> date:
    """First day of the yellow warning (预警, 黄牌) for an ``n``-day limit started on ``start``.

    Working day N - m + 1 after ``start``, where m = ``margin`` (per item) or
    ``warning_margin(n)``; never before the first working day after ``start``,
    so it always lies in the limit and is never after the due date.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1 for a warning, got {n}")
    m = warning_margin(n) if margin is None else margin
    if m < 1:
        raise ValueError(f"margin must be >= 1, got {m}")
    return cal.add_working_days(start, max(1, n - m + 1))


def warning_from(cal: WorkCalendar, start: date, n: int, margin: int | None = None) -> datetime:
    """The instant the yellow warning starts: 00:00 Asia/Shanghai of ``warning_date``."""
    return start_of_day(warning_date(cal, start, n, margin))


def overdue_from(due: date) -> datetime:
    """The instant a case becomes overdue (超时, 红牌): 00:00 Asia/Shanghai after ``due``.

    The whole due day is still on time.
    """
    return start_of_day(due + _ONE_DAY)


def days_between(cal: WorkCalendar, a: date, b: date) -> int:
    """Working days in (a, b]: how late, how long handled, how long paused; 0 when b <= a."""
    return cal.working_days_between(a, b)


def pause_days(cal: WorkCalendar, s: date, r: date) -> int:
    """Working days in (S, R]: how far a pause pushes a due date back.

    A suspension (中止, 特别程序 art. 45) from S to resumption R, or a
    correction (补正) requested on S with materials received on R, stops the
    clock; the working days it covered are added to the due date.  0 when
    R <= S.
    """
    return cal.working_days_between(s, r)


def shift_due(cal: WorkCalendar, due: date, days: int) -> date:
    """Move a due date back (later) by ``days`` working days; 0 leaves it unchanged.

    Used for extensions (延期, art. 42) and after a pause (``pause_days``).
    ``days`` < 0 is a ValueError: nothing moves a due date earlier.
    """
    return cal.add_working_days(due, days)


def paused_due(cal: WorkCalendar, due: date, since: date, day: date) -> date:
    """The due date of a clock stopped since ``since`` if it ran again on ``day``: pushed
    back by the working days in (since, day] (a conclusion during a pause is judged by it)."""
    return shift_due(cal, due, pause_days(cal, since, day))


def intake_deadline(
    cal: WorkCalendar, submitted: date, days: int = DEFAULT_POLICY.intake_days
) -> date:
    """Last day for the intake decision (受理期限): ``days`` (5) working days after submission.

    A later decision is a violation and the case counts as accepted on the
    submission date (deemed acceptance, 行政许可法 art. 32).
    """
    return cal.add_working_days(submitted, days)


def is_backdated(
    cal: WorkCalendar,
    at: datetime,
    recorded_at: datetime,
    tolerance: int = DEFAULT_POLICY.backdating_tolerance_days,
) -> bool:
    """True when a record was entered (补录) more than ``tolerance`` (1) working days after
    it happened.

    Counts working days in (local date of ``at``, local date of
    ``recorded_at``]: entering on the same day or the next working day is
    normal; later entry hides delays from real-time supervision.
    """
    aware = at.tzinfo is not None and recorded_at.tzinfo is not None
    if aware and recorded_at - at <= tolerance * _ONE_DAY:  # too soon to be that late
        return False
    days = cal.working_days_between(local_date(at), local_date(recorded_at))
    return days > tolerance


def is_overdue(due: date, now: datetime) -> bool:
    """True from 00:00 Asia/Shanghai of the day after ``due`` (超时)."""
    _require_aware(now, "now")
    return now >= overdue_from(due)
