"""How the unit and notice pages show KPIs: the rankings they read (cached), KPI names
and numbers in the viewer's language, CSV downloads with ``rank --json``'s numbers, and
the ranking, trend and rank charts."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

import plotly.graph_objects as go
import streamlit as st

from dashboard import context
from dashboard.charts import FONT
from dashboard.i18n import tr
from projections import kpi, trends
from projections.clickhouse import Reader
from projections.month import Month
from projections.scope import Scope

#: Months of history the page shows (each KPI's trend, the rank and score).
HISTORY_MONTHS = 12
#: Seconds a computed ranking is kept: past months change rarely (a record entered
#: late), and a minute keeps the page as close to ``hallwatch rank`` as a reload.
RANK_TTL = 60
KPI_BY_KEY = {k.key: k for k in kpi.KPIS}
#: Characters that make a spreadsheet read a text cell as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_HIGHLIGHT, _OTHERS = "#08519c", "#9ecae1"
_MARKDOWN = frozenset("\\`*_{}[]()#+-.!|<>~$:=")
Rows = Sequence[Mapping[str, Any]]


# --------------------------------------------------------------------------- data, cached


@st.cache_data(ttl=RANK_TTL, show_spinner=False)
def rankings(
    _ch: Reader, last: str, by: kpi.Grouping, months: int = HISTORY_MONTHS
) -> dict[str, list[dict[str, Any]]]:
    """The rankings of the ``months`` months ending with ``last`` (``YYYY-MM``), oldest
    first, keyed ``YYYY-MM``: ``kpi.rank`` month by month."""
    months_shown = trends.months_up_to(Month.parse(last), months)
    # the deployment's working days (its override file), as ``hallwatch rank`` uses them
    return trends.monthly_ranks(_ch, months_shown, by, context.services().calendar())


@st.cache_data(ttl=RANK_TTL, show_spinner=False)
def unit_names(_ch: Reader, by: kpi.Grouping) -> list[str]:
    """Every department or town that has cases (an inspector's choice)."""
    return trends.units(_ch, by, Scope.everything())


# --------------------------------------------------------------------------- words and numbers


def kpi_label(key: str) -> str:
    """A KPI's (or a ranking column's) name in the viewer's language."""
    names = {
        "rank": ("名次", "rank"),
        "group": ("单位", "unit"),
        "score": ("综合得分", "score"),
        "month": ("月份", "month"),
        "units": ("参评单位数", "units ranked"),
    }
    if key in names:
        return tr(*names[key])
    k = KPI_BY_KEY.get(key)
    return tr(k.zh, key.replace("_", " ")) if k else key


def plain(text: str) -> str:
    """A name from the data as literal text in Markdown (a title, a header): a town's
    name comes from intake records and must not become a link, a colour or a formula."""
    return "".join("\\" + c if c in _MARKDOWN else c for c in " ".join(text.split()))


def month_label(text: str, today: date) -> str:
    """``2026年3月`` / ``2026-03``; the month not yet ended says so."""
    m = Month.parse(text)
    label = tr(f"{m.year}年{m.month}月", text)
    if (m.year, m.month) == (today.year, today.month):
        label += tr("（本月，至今）", " (this month, so far)")
    return label


def grouping_label(by: str) -> str:
    return tr("部门", "departments") if by == "department" else tr("镇街", "towns")


def show(value: Any, kind: str = "count") -> str:
    """One number for reading: rates as percentages (0.1 %), means to 2 decimals."""
    if value is None:
        return "—"
    if kind == "rate":
        return f"{value:.1%}"
    if kind in ("mean", "per_1000") or isinstance(value, float):
        return f"{value:.2f}"
    return f"{value:,}"


def kpi_columns(keys: Sequence[str]) -> dict[str, Any]:
    """The dataframe columns of ranking keys: their names, rates as percentages; the
    values stay exact (the CSV download holds them as computed)."""
    out: dict[str, Any] = {}
    for key in keys:
        k = KPI_BY_KEY.get(key)
        if k is None:
            fmt = "%.2f" if key == "score" else "%d"
            out[key] = (
                st.column_config.NumberColumn(kpi_label(key), format=fmt)
                if key in ("rank", "score", "units")
                else st.column_config.TextColumn(kpi_label(key))
            )
            continue
        fmt = {"rate": "percent", "count": "%d"}.get(k.kind, "%.2f")
        out[key] = st.column_config.NumberColumn(kpi_label(key), format=fmt, help=k.formula)
    return out


# --------------------------------------------------------------------------- CSV


def _cell(value: Any) -> Any:
    """A CSV cell: numbers exactly as computed (Python writes the shortest text that
    reads back as the same float), dates ISO, empty for None; a text that a spreadsheet
    would run as a formula is prefixed with ``'``."""
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_bytes(rows: Rows, columns: Sequence[str]) -> bytes:
    """The rows as CSV in UTF-8 with a byte-order mark: Excel, which most halls open a
    CSV with, reads a BOM-less file in the local code page and garbles every Chinese
    name; other programs skip the mark (Python's ``utf-8-sig``, pandas, LibreOffice)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return buffer.getvalue().encode("utf-8-sig")


def download(rows: Rows, columns: Sequence[str], name: str, key: str) -> None:
    """A table's CSV download (nothing when the table is empty)."""
    if not rows:
        return
    safe = "".join("_" if c in '/\\:*?"<>|' else c for c in name)
    st.download_button(
        tr("下载 CSV", "Download CSV"),
        csv_bytes(rows, columns),
        file_name=f"{safe}.csv",
        mime="text/csv",
        key=key,
        on_click="ignore",
        icon=":material/download:",
    )


# --------------------------------------------------------------------------- charts


def layout(fig: go.Figure, height: int, title: str) -> go.Figure:
    fig.update_layout(
        title=title,
        height=height,
        margin={"l": 10, "r": 10, "t": 40 if title else 10, "b": 10},
        font={"family": FONT, "size": 13},
        legend={"orientation": "h", "y": 1.1, "x": 0},
    )
    return fig


def score_chart(ranking: Rows, title: str, highlight: str | None = None) -> go.Figure:
    """Every unit's score as horizontal bars, the best on top, ``highlight`` marked."""
    rows = list(ranking)[::-1]
    fig = go.Figure(
        go.Bar(
            y=[f"{r['rank']}. {r['group']}" for r in rows],
            x=[r["score"] for r in rows],
            orientation="h",
            marker_color=[_HIGHLIGHT if r["group"] == highlight else _OTHERS for r in rows],
            text=[show(r["score"]) for r in rows],
            textposition="outside",
            hovertemplate="%{y}: %{x:.2f}<extra></extra>",
        )
    )
    fig.update_layout(xaxis={"range": [0, 105], "title": kpi_label("score")})
    return layout(fig, max(240, 22 * len(rows) + 90), title)


def trend_chart(history: Rows, key: str, title: str) -> go.Figure:
    """One KPI of one unit month by month (a gap where it had no activity)."""
    k = KPI_BY_KEY.get(key)
    fig = go.Figure(
        go.Scatter(
            x=[r["month"] for r in history],
            y=[r[key] for r in history],
            mode="lines+markers",
            name=kpi_label(key),
            connectgaps=False,
        )
    )
    axis: dict[str, Any] = {"title": kpi_label(key), "rangemode": "tozero"}
    if k is not None and k.kind == "rate":
        axis |= {"tickformat": ".0%", "range": [0, 1.05]}
    fig.update_layout(yaxis=axis, xaxis={"type": "category"})
    return layout(fig, 320, title)


def rank_chart(history: Rows, title: str) -> go.Figure:
    """A unit's score (left axis) and rank (right axis, first at the top) by month."""
    months = [r["month"] for r in history]
    fig = go.Figure()
    fig.add_scatter(
        x=months, y=[r["score"] for r in history], mode="lines+markers", name=kpi_label("score")
    )
    fig.add_scatter(
        x=months,
        y=[r["rank"] for r in history],
        mode="lines+markers",
        name=kpi_label("rank"),
        yaxis="y2",
        line={"dash": "dot"},
        text=[f"{r['rank']} / {r['units']}" if r["rank"] else "" for r in history],
        hovertemplate="%{x}: %{text}<extra></extra>",
    )
    most = max([1, *(int(r["units"]) for r in history)])
    step = 1 if most <= 10 else 5 if most <= 50 else 10
    fig.update_layout(
        xaxis={"type": "category"},
        yaxis={"title": kpi_label("score"), "range": [0, 105]},
        yaxis2={
            "title": kpi_label("rank"),
            "overlaying": "y",
            "side": "right",
            "range": [most + 0.5, 0.5],  # first at the top
            "tickmode": "array",
            "tickvals": sorted({1, *range(step, most + 1, step)}),
            "showgrid": False,
        },
    )
    return layout(fig, 320, title)
