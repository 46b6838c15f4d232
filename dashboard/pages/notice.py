"""The monthly public notice (每月一公示): a month's ranking of the departments or the
towns, its charts, and how the score is made, laid out to be printed or saved as PDF
from the browser (the sidebar, menus and toolbars are hidden when printing).

The numbers are ``projections.kpi.rank``'s, as on the unit pages and in ``hallwatch
rank --json``; the tables show them rounded for reading (rates to 0.1 %), the CSV
download holds them exact.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from dashboard.i18n import tr
from dashboard.kpi_view import (
    KPI_BY_KEY,
    Rows,
    download,
    grouping_label,
    kpi_label,
    layout,
    rankings,
    score_chart,
    show,
)
from dashboard.pages.unit import (
    grouping_choice,
    month_choice,
    score_legend,
)
from dashboard.ui import now, reader, user_or_stop
from domain.vocabulary import Role
from projections.month import Month

#: The notice's first table: the score and what it is made of, with the volumes.
HEADLINE = (
    "score", "submitted", "concluded", "on_time_rate", "overdue_rate", "satisfaction_rate",
    "online_rate", "fully_online_rate", "complaints_per_1000", "violations",
)  # fmt: skip
#: The other KPIs follow in tables of at most this many columns (a printed page's width).
COLUMNS_PER_TABLE = 9
#: The rates charted next to the scores.
CHARTED_RATES = ("on_time_rate", "overdue_rate", "satisfaction_rate")
#: Print layout: only the notice on the paper. A static style block: no data in it.
PRINT_CSS = """<style>
@media print {
  [data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"],
  [data-testid="stHeader"], [data-testid="stToolbar"], [data-testid="stDecoration"],
  [data-testid="stStatusWidget"], [data-testid="stElementToolbar"],
  [data-testid="stAppDeployButton"], [data-testid="stMainMenu"], #MainMenu, header, footer,
  .st-key-notice-screen-only { display: none !important; }
  [data-testid="stAppViewContainer"], [data-testid="stMain"], section.main {
    margin: 0 !important; padding: 0 !important; overflow: visible !important;
  }
  [data-testid="stMainBlockContainer"], .block-container {
    max-width: 100% !important; padding: 0 !important;
  }
  [data-testid="stTable"] table { font-size: 9pt; }
  [data-testid="stTable"], .js-plotly-plot, [data-testid="stPlotlyChart"] {
    break-inside: avoid;
  }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
@page { size: A4 landscape; margin: 12mm; }
</style>"""


def title(month: Month, by: str) -> str:
    """``2026年3月 部门效能评价公示``."""
    return tr(
        f"{month.year}年{month.month}月 {grouping_label(by)}效能评价公示",
        f"{month}: public notice of the {grouping_label(by)}' performance ranking",
    )


def rates_chart(ranking: Rows, keys: Sequence[str], chart_title: str) -> go.Figure:
    """A few rates of every unit as dots on one 0–100 % scale, the best-ranked on top."""
    rows = list(ranking)[::-1]
    fig = go.Figure()
    for key, symbol in zip(keys, ("circle", "x", "diamond", "square"), strict=False):
        fig.add_scatter(
            y=[f"{r['rank']}. {r['group']}" for r in rows],
            x=[r[key] for r in rows],
            name=kpi_label(key),
            mode="markers",
            marker={"symbol": symbol, "size": 10},
            hovertemplate="%{y}: %{x:.1%}<extra></extra>",
        )
    fig.update_layout(xaxis={"range": [-0.02, 1.02], "tickformat": ".0%"})
    return layout(fig, max(260, 22 * len(rows) + 110), chart_title)


def printed_table(ranking: Rows, keys: Sequence[str]) -> pd.DataFrame:
    """Rank, unit and ``keys`` for reading: rates as percentages, means to 2 decimals,
    "—" where there was nothing to measure."""
    data: dict[str, list[str]] = {
        kpi_label("rank"): [str(r["rank"]) for r in ranking],
        kpi_label("group"): [str(r["group"]) for r in ranking],
    }
    for key in keys:
        kind = KPI_BY_KEY[key].kind if key in KPI_BY_KEY else "mean"
        data[kpi_label(key)] = [show(r[key], kind) for r in ranking]
    return pd.DataFrame(data)


def tables(ranking: Rows) -> None:
    """The headline table, then every other KPI in tables a page wide."""
    st.table(printed_table(ranking, HEADLINE), border="horizontal")
    rest = [k for k in KPI_BY_KEY if k not in HEADLINE]
    st.markdown(f"**{tr('其他指标', 'Other KPIs')}**")
    for i in range(0, len(rest), COLUMNS_PER_TABLE):
        st.table(printed_table(ranking, rest[i : i + COLUMNS_PER_TABLE]), border="horizontal")


def page() -> None:
    user = user_or_stop()
    ch = reader()
    at = now()
    by = grouping_choice("town" if user.role == Role.TOWN else "department", "notice_by")
    month = month_choice(at.date(), "notice_month")
    st.markdown(PRINT_CSS, unsafe_allow_html=True)
    ranking = rankings(ch, str(month), by, 1)[str(month)]
    st.title(title(month, by))
    st.caption(
        tr(
            f"统计月份 {month}（北京时间）· 参评{grouping_label(by)} {len(ranking)} 个"
            f" · 数据截至 {at:%Y-%m-%d %H:%M}",
            f"Month {month} (Beijing time) · {len(ranking)} {grouping_label(by)} ranked"
            f" · data as of {at:%Y-%m-%d %H:%M}",
        )
    )
    if (month.year, month.month) == (at.year, at.month):
        st.warning(
            tr("本月尚未结束，以下为截至目前的数据。", "This month is not over: data so far.")
        )
    if not ranking:
        st.info(tr(f"{month} 没有办件活动，无排名。", f"No activity in {month}: no ranking."))
        return
    st.plotly_chart(
        score_chart(ranking, tr("综合得分", "Score")), key="notice_scores", width="stretch"
    )
    tables(ranking)
    st.plotly_chart(
        rates_chart(ranking, CHARTED_RATES, tr("主要指标", "Main rates")), key="notice_rates"
    )
    st.markdown(f"**{tr('得分说明', 'How the score is made')}**：{score_legend()}")
    with st.container(key="notice-screen-only"):
        st.info(
            tr(
                "打印或保存为 PDF：使用浏览器的“打印”（Ctrl+P / ⌘P），目标选择打印机或"
                "“另存为 PDF”，建议横向；打印时侧栏与菜单不会出现。",
                "To print or save as PDF, use the browser's Print (Ctrl+P / ⌘P) and choose a "
                "printer or “Save as PDF”, landscape; the sidebar and menus are left out.",
            )
        )
        download(ranking, list(ranking[0]), f"hallwatch-rank-{by}-{month}", "notice_csv")


__all__ = ["PRINT_CSS", "page", "printed_table", "title"]
