"""The inspectors' live board (监察大屏): counters, who holds the cards, the overdue heat
map, the newest alerts; it refreshes itself every few seconds without a reload, or shows
the whole board as things stood at a past time."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import auth, charts, filters, nav
from dashboard.i18n import tr, word
from dashboard.ui import card_styled, now, reader, user_or_stop
from domain import clock
from domain.vocabulary import AlertKind, BoardCard, CaseStatus, ViolationKind
from projections import board, queries
from projections.board import BoardFilter
from projections.clickhouse import Reader
from projections.scope import Scope

#: Seconds between two refreshes of the live board.
REFRESH_SECONDS = 3
_LISTS = ("red", "yellow", "stopped", "on_track", "all")


@st.cache_data(ttl=1, show_spinner=False)
def board_data(
    _ch: Reader, f: BoardFilter, scope: Scope, at: datetime, as_of: datetime | None, card: str
) -> dict[str, Any]:
    """Everything the board shows at ``at`` (rounded to the second): cached about a second,
    so any number of open boards cost one set of queries per tick."""
    return {
        "counters": board.counters(_ch, f, scope, at, as_of),
        "cases": board.case_list(_ch, f, scope, at, card=card or None, as_of=as_of),
        "by_department": board.cards_by(_ch, f, scope, at, "department", as_of),
        "by_town": board.cards_by(_ch, f, scope, at, "town", as_of),
        "heat": board.overdue_by_week(_ch, f, scope, at, as_of=as_of),
        "alerts": queries.alert_list(
            _ch,
            as_of=as_of,
            department=f.department,
            town=f.town,
            item_code=f.item_code,
            since=f.since,
            scope=scope,
            limit=30,
        ),
    }


def _metrics(counters: dict[str, int]) -> None:
    items = [
        ("open", tr("在办件", "Open cases")),
        ("on_track", word(BoardCard.ON_TRACK, BoardCard)),
        ("yellow", word(BoardCard.YELLOW, BoardCard)),
        ("red", word(BoardCard.RED, BoardCard)),
        ("stopped", word(BoardCard.STOPPED, BoardCard)),
        ("violations_today", tr("今日违规", "Violations today")),
        ("unanswered_orders", tr("督办未反馈", "Orders unanswered")),
    ]
    for col, (key, label) in zip(st.columns(len(items)), items, strict=True):
        col.metric(label, f"{counters.get(key, 0):,}")


def _case_table(rows: list[dict[str, Any]], key: str) -> None:
    if not rows:
        st.caption(tr("没有办件。", "No cases."))
        return
    df = pd.DataFrame(
        {
            tr("牌", "card"): [word(r["card"], BoardCard) for r in rows],
            tr("办件编号", "case"): [r["case_id"] for r in rows],
            tr("受理号", "receipt"): [r["receipt_no"] for r in rows],
            tr("事项", "item"): [r["item_name"] or r["item_code"] for r in rows],
            tr("部门", "department"): [r["department"] for r in rows],
            tr("镇街", "town"): [r["town"] for r in rows],
            tr("状态", "status"): [word(r["status"], CaseStatus) for r in rows],
            tr("期限", "due"): [r["due_date"] or r["intake_due"] for r in rows],
        }
    )
    styled = card_styled(df, tr("牌", "card"), [r["card"] for r in rows])
    picked = st.dataframe(
        styled, hide_index=True, on_select="rerun", selection_mode="single-row", key=key,
        width="stretch", placeholder="—",
    )  # fmt: skip
    if picked and picked.selection.rows:
        nav.open_case(rows[picked.selection.rows[0]]["case_id"], st.query_params.get("asof"))


def _alert_label(kind: str, category: str) -> str:
    return word(kind, ViolationKind if category == "violation" else AlertKind)


def _alerts(rows: list[dict[str, Any]]) -> None:
    st.subheader(tr("最新预警与违规", "Newest alerts and violations"))
    if not rows:
        st.caption(tr("暂无。", "None yet."))
        return
    df = pd.DataFrame(
        {
            tr("时间", "raised"): [f"{r['raised_at']:%m-%d %H:%M}" for r in rows],
            tr("类别", "kind"): [_alert_label(r["kind"], r["category"]) for r in rows],
            tr("对象", "subject"): [r["subject"] for r in rows],
            tr("部门", "department"): [r["department"] for r in rows],
            tr("镇街", "town"): [r["town"] for r in rows],
            tr("未解决", "open"): ["●" if r["open"] else "" for r in rows],
        }
    )
    picked = st.dataframe(
        df, hide_index=True, on_select="rerun", selection_mode="single-row", key="alerts",
        width="stretch", placeholder="—",
    )  # fmt: skip
    if picked and picked.selection.rows:
        r = rows[picked.selection.rows[0]]
        if r["stream_kind"] == "case":
            nav.open_case(str(r["subject"]), st.query_params.get("asof"))


def _list_choice() -> str:
    current = st.query_params.get("list", "red")
    labels = {c: word(c, BoardCard) for c in _LISTS[:-1]} | {"all": tr("全部在办", "all open")}
    choice = st.segmented_control(
        tr("列表", "List"),
        _LISTS,
        default=current if current in _LISTS else "red",
        format_func=lambda c: labels[c],
        key="board_list",
    )
    choice = choice or "red"
    if choice != current:
        st.query_params["list"] = choice
        st.rerun(scope="fragment")
    return choice


def _render(ch: Reader, f: BoardFilter, scope: Scope, as_of: datetime | None) -> None:
    auth.recheck()  # a refresh of its own: a user removed or expired meanwhile is sent away
    at = now().replace(microsecond=0)
    shown = as_of or at
    st.caption(
        (tr("回溯：", "As of ") if as_of else tr("实时 · 现在 ", "Live · now "))
        + f"{shown:%Y-%m-%d %H:%M:%S}"
    )
    listing = st.query_params.get("list", "red")
    listing = listing if listing in _LISTS else "red"
    data = board_data(ch, f, scope, at, as_of, "" if listing == "all" else listing)
    _metrics(data["counters"])
    _list_choice()
    _case_table(data["cases"], "cases")
    left, right = st.columns(2)
    left.plotly_chart(
        charts.cards_by_unit(data["by_department"], tr("按部门", "By department")),
        key="by_department",
    )
    right.plotly_chart(
        charts.cards_by_unit(data["by_town"], tr("按镇街", "By town")), key="by_town"
    )
    if data["heat"]:
        st.plotly_chart(
            charts.overdue_heat(data["heat"], tr("各部门每周超时率", "Overdue rate by week")),
            key="heat",
        )
    _alerts(data["alerts"])


def page() -> None:
    user = user_or_stop()
    st.title(tr("监察大屏", "Live board"))
    ch = reader()
    at = now()
    f = filters.board_filter(ch, user.scope, clock.local_date(at))
    as_of = filters.as_of_control(at)
    if as_of is not None:
        _render(ch, f, user.scope, as_of)
        return
    live = st.fragment(run_every=timedelta(seconds=REFRESH_SECONDS))(_render)
    live(ch, f, user.scope, None)
