"""The dashboard's charts (plotly): cards by unit, overdue rates by week, a case's timeline."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

import plotly.graph_objects as go

from dashboard.i18n import tr, word
from dashboard.ui import CARD_COLOURS
from domain.vocabulary import BoardCard

FONT = "WenQuanYi Micro Hei, Noto Sans CJK SC, sans-serif"


def _layout(fig: go.Figure, height: int) -> go.Figure:
    fig.update_layout(
        height=height,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        font={"family": FONT, "size": 13},
        legend={"orientation": "h", "y": 1.08, "x": 0},
    )
    return fig


def cards_by_unit(rows: Sequence[Mapping[str, Any]], title: str) -> go.Figure:
    """Red and yellow cards per unit, as horizontal stacked bars (most red on top)."""
    units = [str(r["unit"]) for r in rows][::-1]
    fig = go.Figure()
    for card in (BoardCard.RED, BoardCard.YELLOW):
        fig.add_bar(
            y=units,
            x=[int(r[card.value]) for r in rows][::-1],
            name=word(card.value, BoardCard),
            orientation="h",
            marker_color=CARD_COLOURS[card.value],
        )
    fig.update_layout(barmode="stack", title=title)
    return _layout(fig, max(220, 26 * len(units) + 80))


def overdue_heat(rows: Sequence[Mapping[str, Any]], title: str) -> go.Figure:
    """Department × week: the share of cases due that week that were late."""
    departments = sorted({str(r["department"]) for r in rows})
    weeks = sorted({r["week"] for r in rows})
    cell = {(str(r["department"]), r["week"]): r for r in rows}
    z, text = [], []
    for d in departments:
        zr, tr_ = [], []
        for w in weeks:
            r = cell.get((d, w))
            rate = int(r["late"]) / int(r["due"]) if r and int(r["due"]) else None
            zr.append(rate)
            tr_.append("" if r is None else f"{int(r['late'])}/{int(r['due'])}")
        z.append(zr)
        text.append(tr_)
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=[f"{w:%m-%d}" for w in weeks],
            y=departments,
            text=text,
            zmin=0,
            zmax=1,
            colorscale=[[0, "#f7f7f7"], [0.2, "#fdd49e"], [1, "#d62728"]],
            colorbar={"title": tr("超时率", "overdue"), "tickformat": ".0%"},
            hovertemplate="%{y} %{x}: %{z:.0%} (%{text})<extra></extra>",
        )
    )
    fig.update_layout(title=title, xaxis_title=tr("周（周一）", "week (Monday)"))
    return _layout(fig, max(260, 24 * len(departments) + 110))


def _day(value: Any) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return datetime.fromisoformat(str(value)).date()


def pauses(events: Sequence[Mapping[str, Any]]) -> list[tuple[date, date | None]]:
    """The spans a case's clock stood still (suspensions, corrections after acceptance)."""
    out: list[tuple[date, date | None]] = []
    start: date | None = None
    for e in events:
        kind, data = e["type"], e.get("data", {})
        stops = kind == "case.suspended" or (
            kind == "case.correction_requested" and data.get("stage") == "handling"
        )
        runs = kind in ("case.resumed", "case.concluded") or (
            kind == "case.correction_received" and data.get("stage") == "handling"
        )
        if stops and start is None:
            start = _day(e["occurred_at"])
        elif runs and start is not None:
            out.append((start, _day(e["occurred_at"])))
            start = None
    if start is not None:
        out.append((start, None))
    return out


def _step_bars(fig: go.Figure, steps: Sequence[Mapping[str, Any]], end_default: date) -> None:
    """One bar per started step (green done on time, blue running, red late) and a tick at
    its own due date."""
    for s in steps:
        start = _day(s.get("started_on"))
        done = _day(s.get("completed_on"))
        if start is None:
            continue
        finish = done or end_default
        colour = "#d62728" if s.get("overdue") else ("#2ca02c" if done else "#1f77b4")
        fig.add_bar(
            y=[str(s["step"])],
            x=[max(1, (finish - start).days) * 86_400_000],
            base=[start.isoformat()],
            orientation="h",
            marker_color=colour,
            showlegend=False,
            hovertext=f"{s['step']}: {start} → {done or '…'}",
        )
        due = _day(s.get("due_date"))
        if due is not None:
            fig.add_scatter(
                x=[due.isoformat()],
                y=[str(s["step"])],
                mode="markers",
                marker={"symbol": "line-ns-open", "size": 18, "color": "#333"},
                showlegend=False,
                hovertext=tr(f"环节期限 {due}", f"step due {due}"),
            )


def _case_lines(fig: go.Figure, view: Mapping[str, Any]) -> None:
    """The warning line, the due date and the legal due date, labelled."""
    lines = (
        (view.get("warn_at"), "#e6a800", tr("预警", "warning")),
        (view.get("due_date"), "#d62728", tr("承诺期限", "due date")),
        (view.get("legal_due_date"), "#7b3294", tr("法定期限", "legal due date")),
    )
    for i, (value, colour, label) in enumerate(lines):
        d = _day(value)
        if d is not None:
            fig.add_vline(x=d.isoformat(), line_color=colour, line_dash="dash")
            fig.add_annotation(
                x=d.isoformat(), y=1.02 + 0.09 * i, yref="paper", text=label, showarrow=False,
                font={"color": colour}, xanchor="left",
            )  # fmt: skip


def case_timeline(view: Mapping[str, Any], today: date) -> go.Figure:
    """Each step against its own due date, the pauses shaded, the case's due date, legal
    due date and warning line."""
    fig = go.Figure()
    accepted = _day(view.get("accepted_at")) or _day(view.get("submitted_at")) or today
    end_default = _day(view.get("concluded_at")) or today
    steps = list(view.get("steps", []))
    _step_bars(fig, steps, end_default)
    for since, until in pauses(view.get("events", [])):
        fig.add_vrect(
            x0=since.isoformat(),
            x1=(until or today).isoformat(),
            fillcolor="#999",
            opacity=0.2,
            line_width=0,
            annotation_text=tr("暂停计时", "clock stopped"),
            annotation_position="top left",
        )
    _case_lines(fig, view)
    last = max(end_default, _day(view.get("legal_due_date")) or today) + timedelta(days=3)
    names = [str(s["step"]) for s in steps][::-1]
    fig.update_layout(
        xaxis={
            "type": "date",
            "range": [(accepted - timedelta(days=2)).isoformat(), last.isoformat()],
        },
        yaxis={"categoryorder": "array", "categoryarray": names},
        barmode="overlay",
    )
    return _layout(fig, max(240, 40 * len(names) + 120))
