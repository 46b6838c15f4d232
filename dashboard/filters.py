"""The board's view, kept in the URL so it can be bookmarked and shared: the unit, item
and channel filters, the period (today, this week, this month, last month, custom),
and the time the board is shown as of (按时间回溯)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

import streamlit as st

from dashboard.i18n import tr, word
from domain import clock
from domain.vocabulary import TIME_ZONE, Channel
from projections.board import BoardFilter
from projections.clickhouse import Reader
from projections.scope import Scope

PERIODS = ("all", "today", "week", "month", "last_month", "custom")
_PERIOD_LABELS = {
    "all": ("全部", "all"),
    "today": ("今天", "today"),
    "week": ("本周", "this week"),
    "month": ("本月", "this month"),
    "last_month": ("上月", "last month"),
    "custom": ("自定义", "custom"),
}
_ALL = ""


def period_bounds(
    period: str, today: date, start: date | None, end: date | None
) -> tuple[datetime | None, datetime | None]:
    """[since, until) of a quick range on ``today``'s calendar (Asia/Shanghai)."""
    if period == "today":
        first, last = today, today
    elif period == "week":
        first, last = today - timedelta(days=today.weekday()), today
    elif period == "month":
        first, last = today.replace(day=1), today
    elif period == "last_month":
        last = today.replace(day=1) - timedelta(days=1)
        first = last.replace(day=1)
    elif period == "custom" and start is not None and end is not None and start <= end:
        first, last = start, end
    else:
        return None, None
    return clock.start_of_day(first), clock.start_of_day(last + timedelta(days=1))


def _param(name: str) -> str | None:
    value = st.query_params.get(name)
    return value if value else None


def _date_param(name: str) -> date | None:
    try:
        text = _param(name)
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def as_of_param() -> datetime | None:
    """The URL's ``asof`` (``YYYY-MM-DDTHH:MM``, Asia/Shanghai), or None for live."""
    text = _param("asof")
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    when = when if when.tzinfo else when.replace(tzinfo=TIME_ZONE)
    return when if 2000 <= when.year <= 2100 else None


def _set(name: str, value: str | None) -> None:
    if value:
        st.query_params[name] = value
    elif name in st.query_params:
        del st.query_params[name]


@st.cache_data(ttl=60, show_spinner=False)
def _choices(_ch: Reader, scope: Scope, column: str) -> list[str]:
    """The values a filter can take, within the viewer's scope."""
    rows = _ch.query(
        f"SELECT DISTINCT {column} FROM cases WHERE {scope.sql()} AND {column} != '' "
        f"ORDER BY {column} LIMIT 5000"
    )
    return [str(r[0]) for r in rows]


def _select(label: str, name: str, options: list[str], fmt: Any = str) -> str | None:
    current = _param(name) or _ALL
    known = current in options or current == _ALL
    values = [_ALL, *options] if known else [_ALL, current, *options]
    choice = st.sidebar.selectbox(
        label,
        values,
        index=values.index(current),
        format_func=lambda v: tr("全部", "all") if v == _ALL else fmt(v),
        key=f"filter_{name}",
    )
    _set(name, choice or None)
    return choice or None


def board_filter(ch: Reader, scope: Scope, today: date) -> BoardFilter:
    """The filter widgets (in the sidebar), read from and written to the URL."""
    st.sidebar.subheader(tr("筛选", "Filters"))
    department = _select(tr("部门", "Department"), "dept", _choices(ch, scope, "department"))
    town = _select(tr("镇街", "Town"), "town", _choices(ch, scope, "town"))
    item = _select(tr("事项", "Item"), "item", _choices(ch, scope, "item_code"))
    channel = _select(
        tr("渠道", "Channel"), "channel", list(Channel.values()), lambda v: word(v, Channel)
    )
    period = _param("period") or "all"
    period = st.sidebar.selectbox(
        tr("时间段（申报）", "Period (submitted)"),
        PERIODS,
        index=PERIODS.index(period) if period in PERIODS else 0,
        format_func=lambda p: tr(*_PERIOD_LABELS[p]),
        key="filter_period",
    )
    _set("period", None if period == "all" else period)
    start, end = _date_param("from"), _date_param("to")
    if period == "custom":
        start = st.sidebar.date_input(tr("起", "From"), value=start or today, key="filter_from")
        end = st.sidebar.date_input(tr("止", "To"), value=end or today, key="filter_to")
        _set("from", start.isoformat() if isinstance(start, date) else None)
        _set("to", end.isoformat() if isinstance(end, date) else None)
    first = start if isinstance(start, date) else None
    last = end if isinstance(end, date) else None
    since, until = period_bounds(period, today, first, last)
    return BoardFilter(department, town, item, channel, since, until)


def as_of_control(now: datetime) -> datetime | None:
    """The one control that turns the board into "as things stood at T" (按时间回溯)."""
    current = as_of_param()
    st.sidebar.subheader(tr("按时间回溯", "As of a past time"))
    on = st.sidebar.toggle(tr("回溯", "Show a past time"), value=current is not None, key="asof_on")
    if not on:
        _set("asof", None)
        return None
    shown = current or now
    day = st.sidebar.date_input(tr("日期", "Date"), value=shown.date(), key="asof_date")
    at = st.sidebar.time_input(
        tr("时间", "Time"), value=time(shown.hour, shown.minute), key="asof_time", step=60
    )
    when = datetime.combine(day, at, tzinfo=TIME_ZONE)
    _set("asof", when.strftime("%Y-%m-%dT%H:%M"))
    return when
