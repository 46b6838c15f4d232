"""A department's or a town's page (部门与镇街): the month's ranking of every unit of its
kind, each KPI over the last 12 months, its rank and score month by month, and what it
must act on now — its red and yellow cases, its open supervision orders (督办) and its
bad reviews (差评) waiting for an answer. Every table downloads as CSV.

A department head (部门负责人) sees their department and a town manager (镇街) their town,
from the signed-in user and never from the URL; an inspector chooses the grouping and
the unit, and may order a department to act. The rankings of all units stay visible
to every role. Every ranking is ``projections.kpi.rank`` (through ``projections.trends``),
the function ``hallwatch rank`` calls, so a downloaded ranking holds exactly the numbers
of ``hallwatch rank --json``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import nav
from dashboard.i18n import lang, tr, word
from dashboard.kpi_view import (
    KPI_BY_KEY,
    Rows,
    download,
    grouping_label,
    kpi_columns,
    kpi_label,
    month_label,
    plain,
    rank_chart,
    rankings,
    score_chart,
    show,
    trend_chart,
    unit_names,
)
from dashboard.orders import order_form
from dashboard.services import User
from dashboard.ui import now, reader, stop_with, user_or_stop
from domain.vocabulary import BoardCard, CaseStatus, Rating, Role
from projections import board, kpi, trends
from projections.board import BoardFilter
from projections.clickhouse import Reader
from projections.month import Month
from projections.scope import Scope

#: Months the month selector offers, the current (unfinished) one first.
MONTHS_OFFERED = 24
#: The columns of a ranking as the page shows it (``month`` and ``by`` are the page's).
RANK_COLUMNS = ("rank", "group", "score", *KPI_BY_KEY)


# --------------------------------------------------------------------------- choices


def month_choice(today: date, key: str) -> Month:
    """The month shown: the URL's ``month`` (``YYYY-MM``), else the last complete month
    before ``today``; a sidebar selector of the last two years, written to the URL."""
    current = Month(today.year, today.month)
    offered = [str(trends.shifted(current, -i)) for i in range(MONTHS_OFFERED)]
    chosen = str(trends.last_complete_month(today))
    try:
        asked = Month.parse(st.query_params.get("month", ""))
        if asked.year >= 2000 and str(asked) <= str(current):
            chosen = str(asked)
    except ValueError:
        pass
    if chosen not in offered:
        offered.append(chosen)
    choice = st.sidebar.selectbox(
        tr("月份", "Month"),
        offered,
        index=offered.index(chosen),
        format_func=lambda m: month_label(m, today),
        key=key,
    )
    st.query_params["month"] = choice
    return Month.parse(choice)


def grouping_choice(default: kpi.Grouping, key: str) -> kpi.Grouping:
    """Departments or towns: the URL's ``by``, else ``default``; written to the URL."""
    asked = st.query_params.get("by", default)
    current = next((g for g in trends.UNIT_GROUPINGS if g == asked), default)
    choice = st.sidebar.radio(
        tr("排名范围", "Rank"),
        trends.UNIT_GROUPINGS,
        index=trends.UNIT_GROUPINGS.index(current),
        format_func=grouping_label,
        horizontal=True,
        key=key,
    )
    st.query_params["by"] = choice
    return choice


def _unit_choice(ch: Reader, by: kpi.Grouping) -> str:
    options = unit_names(ch, by)
    if not options:
        stop_with(tr("还没有任何办件。", "No cases yet."))
    asked = st.query_params.get("unit", "")
    choice = st.sidebar.selectbox(
        tr("部门", "Department") if by == "department" else tr("镇街", "Town"),
        options,
        index=options.index(asked) if asked in options else 0,
        key=f"unit_name_{by}",
    )
    st.query_params["unit"] = choice
    return str(choice)


def view_of(ch: Reader, user: User) -> tuple[kpi.Grouping, str, Scope]:
    """The grouping, the unit and the scope its lists are read with. A head's and a town
    manager's come from their sign-in only; an inspector's unit narrows their scope to
    that unit (the scope a head or town manager of it would have)."""
    if user.role == Role.HEAD:
        if not user.department:
            stop_with(tr("您的账号没有所属部门。", "Your account names no department."))
        return "department", user.department, user.scope
    if user.role == Role.TOWN:
        if not user.town:
            stop_with(tr("您的账号没有所属镇街。", "Your account names no town."))
        return "town", user.town, user.scope
    if user.role != Role.INSPECTOR:
        stop_with(tr("此页面仅供工作人员使用。", "This page is for staff only."), error=True)
    by = grouping_choice("department", "unit_by")
    unit = _unit_choice(ch, by)
    if by == "department":
        return by, unit, Scope(Role.HEAD.value, department=unit)
    return by, unit, Scope(Role.TOWN.value, town=unit)


# --------------------------------------------------------------------------- sections


def _delta(history: Rows, key: str) -> float | None:
    """The change of a value from the month before (None when either is missing)."""
    if len(history) < 2 or history[-1][key] is None or history[-2][key] is None:
        return None
    return float(history[-1][key]) - float(history[-2][key])


def _headline(history: Rows) -> None:
    """The unit's rank and key KPIs this month, with the change from the month before."""
    last = history[-1]
    rank = f"{last['rank']} / {last['units']}" if last["rank"] else "—"
    cols = st.columns(5)
    d_rank = _delta(history, "rank")
    cols[0].metric(
        kpi_label("rank"), rank, None if d_rank is None else int(d_rank), delta_color="inverse"
    )
    d_score = _delta(history, "score")
    cols[1].metric(
        kpi_label("score"), show(last["score"]), None if d_score is None else round(d_score, 2)
    )
    for col, key, inverse in zip(
        cols[2:],
        ("on_time_rate", "overdue_rate", "satisfaction_rate"),
        (False, True, False),
        strict=True,
    ):
        d = _delta(history, key)
        col.metric(
            kpi_label(key),
            show(last[key], "rate"),
            None if d is None else f"{d:+.1%}",
            delta_color="inverse" if inverse else "normal",
        )


def ranking_section(ranking: Rows, month: Month, by: kpi.Grouping, unit: str | None) -> None:
    """The month's ranking of every unit: the score chart and every KPI in a table."""
    title = tr(
        f"{month.year}年{month.month}月 {grouping_label(by)}排名",
        f"{month} ranking of the {grouping_label(by)}",
    )
    st.subheader(title)
    if not ranking:
        st.info(tr(f"{month} 没有办件活动，无排名。", f"No activity in {month}: no ranking."))
        return
    st.plotly_chart(score_chart(ranking, "", unit), key=f"score_chart_{by}")
    st.dataframe(
        pd.DataFrame([{c: r[c] for c in RANK_COLUMNS} for r in ranking], columns=RANK_COLUMNS),
        column_config=kpi_columns(RANK_COLUMNS),
        hide_index=True,
        placeholder="—",
        width="stretch",
    )
    download(ranking, list(ranking[0]), f"hallwatch-rank-{by}-{month}", f"ranking_csv_{by}")
    st.caption(tr("得分：", "Score: ") + score_legend())


def score_legend() -> str:
    """How the score is made, in the viewer's language (the weights of ``kpi.score``)."""
    if lang() == "en":
        return kpi.SCORE_SUMMARY + (
            "; a term with nothing to measure is left out and the others rescaled; ties by name."
        )
    lower = {"overdue_rate", "complaints_per_1000", "violations"}  # kpi.score inverts these
    parts = [
        f"{kpi_label(key)}{'（越低越好）' if key in lower else ''} {round(weight * 100)}"
        for key, weight in kpi.SCORE_WEIGHTS.items()
    ]
    return (
        "0–100 分，按权重综合：" + "、".join(parts) + "（违规数按每百件申报计）。"
        "当月无数据的指标不计入，其余权重按比例折算；同分按单位名称排序。"
    )


def history_section(history: Rows, unit: str) -> None:
    """Each KPI's trend, the rank and score, and every value month by month."""
    name, n = plain(unit), len(history)
    st.subheader(tr(f"{name} 近{n}个月", f"{name}: the last {n} months"))
    left, right = st.columns(2)
    with left:
        keys = list(KPI_BY_KEY)
        key = st.selectbox(
            tr("指标", "KPI"),
            keys,
            index=keys.index("on_time_rate") if "on_time_rate" in keys else 0,
            format_func=kpi_label,
            key="unit_trend_kpi",
        )
        st.plotly_chart(
            trend_chart(history, key, tr(f"{kpi_label(key)}趋势", f"{kpi_label(key)} by month")),
            key="trend_chart",
        )
    right.plotly_chart(rank_chart(history, tr("名次与得分", "Rank and score")), key="rank_chart")
    columns = ["month", "units", "rank", "score", *KPI_BY_KEY]
    st.dataframe(
        pd.DataFrame([{c: r[c] for c in columns} for r in history], columns=columns)[::-1],
        column_config=kpi_columns(columns),
        hide_index=True,
        placeholder="—",
        width="stretch",
    )
    download(history, ["group", *columns], f"{unit}-history-{history[-1]['month']}", "history_csv")


def _when(value: Any) -> str:
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M}"
    return "" if value is None else str(value)


def _list(
    rows: Rows, labels: Mapping[str, str], csv_columns: Sequence[str], name: str, stem: str
) -> None:
    """One of the unit's lists: its rows under their labels (the keys stay the dataframe's
    columns), its CSV (the raw values of ``csv_columns``); a row opens its case."""
    frame = pd.DataFrame([{c: r.get(c) for c in labels} for r in rows], columns=list(labels))
    picked = st.dataframe(
        frame,
        column_config=dict(labels),
        hide_index=True,
        placeholder="—",
        width="stretch",
        on_select="rerun",
        selection_mode="single-row",
        key=f"unit_{name}",
    )
    download(rows, csv_columns, f"{stem}-{name}", f"{name}_csv")
    if picked and picked.selection.rows and rows[picked.selection.rows[0]].get("case_id"):
        nav.open_case(str(rows[picked.selection.rows[0]]["case_id"]))


def _late(overdue: Any) -> str:
    return tr("已逾期", "late") if overdue else ""


def cases_section(ch: Reader, scope: Scope, at: datetime, stem: str) -> None:
    """The unit's red and yellow cases now, the most urgent first."""
    st.subheader(tr("红牌与黄牌办件", "Red and yellow cases"))
    rows = [
        {
            **r,
            "card_label": word(r["card"], BoardCard),
            "status_label": word(r["status"], CaseStatus),
            "item": r["item_name"] or r["item_code"],
            "submitted": _when(r["submitted_at"]),
        }
        for card in (BoardCard.RED, BoardCard.YELLOW)
        for r in board.case_list(ch, BoardFilter(), scope, at, card=card.value)
    ]
    if not rows:
        st.caption(tr("没有红牌或黄牌办件。", "No red or yellow cases."))
        return
    labels = {
        "card_label": tr("牌", "card"),
        "case_id": tr("办件编号", "case"),
        "receipt_no": tr("受理号", "receipt"),
        "item": tr("事项", "item"),
        "department": tr("部门", "department"),
        "town": tr("镇街", "town"),
        "status_label": tr("状态", "status"),
        "submitted": tr("申报时间", "submitted"),
        "warn_date": tr("预警日", "warning day"),
        "due_date": tr("承诺期限", "due"),
    }
    _list(rows, labels, board.CASE_LIST_COLUMNS, "cases", stem)


def orders_section(ch: Reader, scope: Scope, at: datetime, stem: str) -> None:
    """The supervision orders (督办单) to the unit not yet answered, soonest due first."""
    st.subheader(tr("未反馈的督办单", "Open supervision orders"))
    rows = [
        {**r, "ordered": _when(r["ordered_at"]), "late": _late(r["overdue"])}
        for r in board.open_orders(ch, scope, at)
    ]
    if not rows:
        st.caption(tr("没有未反馈的督办单。", "No open supervision orders."))
        return
    labels = {
        "order_id": tr("督办单号", "order"),
        "case_id": tr("办件编号", "case"),
        "department": tr("部门", "department"),
        "inspector": tr("督办人", "inspector"),
        "note": tr("督办事项", "what must be done"),
        "ordered": tr("督办时间", "ordered"),
        "due_date": tr("反馈期限", "answer due"),
        "late": tr("逾期", "late"),
    }
    columns = ("order_id", "case_id", "department", "inspector", "note", "ordered_at",
               "due_date", "overdue")  # fmt: skip
    _list(rows, labels, columns, "orders", stem)


def reviews_section(ch: Reader, scope: Scope, at: datetime, stem: str) -> None:
    """The unit's bad reviews (差评) not yet answered, soonest due first."""
    st.subheader(tr("待整改的差评", "Bad reviews waiting for an answer"))
    rows = [
        {
            **r,
            "level_label": word(r["level"], Rating),
            "rated": _when(r["rated_at"]),
            "late": _late(r["overdue"]),
        }
        for r in board.bad_reviews_waiting(ch, scope, at)
    ]
    if not rows:
        st.caption(tr("没有待整改的差评。", "No bad reviews waiting."))
        return
    labels = {
        "case_id": tr("办件编号", "case"),
        "department": tr("部门", "department"),
        "town": tr("镇街", "town"),
        "item_code": tr("事项编码", "item"),
        "level_label": tr("评价", "rating"),
        "rated": tr("评价时间", "rated"),
        "answer_due_date": tr("整改期限", "answer due"),
        "late": tr("逾期", "late"),
    }
    columns = ("case_id", "department", "town", "item_code", "level", "rated_at",
               "answer_due_date", "overdue")  # fmt: skip
    _list(rows, labels, columns, "bad-reviews", stem)


# --------------------------------------------------------------------------- the page


def page() -> None:
    user = user_or_stop()
    ch = reader()
    at = now()
    by, unit, scope = view_of(ch, user)
    month = month_choice(at.date(), "unit_month")
    st.title(f"{plain(unit)} · {month_label(str(month), at.date())}")
    with st.spinner(tr("正在计算近12个月的排名…", "Ranking the last 12 months…")):
        ranks = rankings(ch, str(month), by)
    history = trends.history(ranks, unit)
    _headline(history)
    ranking_section(ranks[str(month)], month, by, unit)
    history_section(history, unit)
    st.caption(tr(f"以下为当前情况（{at:%Y-%m-%d %H:%M}）。", f"Below: as things stand now "
                  f"({at:%Y-%m-%d %H:%M})."))  # fmt: skip
    stem = f"{unit}-{at:%Y-%m-%d}"
    cases_section(ch, scope, at, stem)
    orders_section(ch, scope, at, stem)
    reviews_section(ch, scope, at, stem)
    if by == "department":
        order_form(user, department=unit)
