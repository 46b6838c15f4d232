"""A case (办件详情): who, what and where; its timeline against its due dates; every
event with when it happened and when it was entered; its alerts and violations; and a
badge saying whether its hash chain, read from the event store, is intact. An as-of
control shows the case as it stood at a past moment."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import charts, context
from dashboard.filters import as_of_param
from dashboard.i18n import tr, word
from dashboard.orders import order_form
from dashboard.ui import now, stop_with, user_or_stop
from domain import clock
from domain.vocabulary import TIME_ZONE, AlertKind, CaseStatus, Channel, EventName, ViolationKind


def _header(v: dict[str, Any], chain_ok: bool, chain_detail: str) -> None:
    st.title(f"{v['case_id']} · {v['item_name']}")
    if chain_ok:
        st.success(tr("哈希链完整（事件库核验）", "Hash chain intact (checked in the event store)"))
    else:
        st.error(tr("哈希链断裂：", "Hash chain broken: ") + chain_detail)
    cols = st.columns(4)
    cols[0].metric(tr("状态", "Status"), word(v["status"], CaseStatus))
    cols[1].metric(tr("承诺期限", "Due"), v.get("due_date") or "—")
    cols[2].metric(tr("法定期限", "Legal due"), v.get("legal_due_date") or "—")
    cols[3].metric(tr("超时", "Overdue"), tr("是", "yes") if v["overdue"] else tr("否", "no"))
    st.markdown(
        f"**{tr('受理号', 'Receipt')}** {v.get('receipt_no') or '—'}"
        f" · **{tr('部门', 'Department')}** {v['department']}"
        f" · **{tr('镇街', 'Town')}** {v['town']}"
        f" · **{tr('渠道', 'Channel')}** {word(v['channel'], Channel)}"
        f" · **{tr('申请人', 'Applicant')}** {v['applicant_name']}"
    )


def _detail(data: dict[str, Any]) -> str:
    return ", ".join(f"{k}={val}" for k, val in data.items() if val not in (None, "", [], ()))[:160]


def _events(v: dict[str, Any]) -> None:
    st.subheader(tr("全部事件", "Every event"))
    rows = v["events"]
    st.dataframe(
        pd.DataFrame(
            {
                "v": [e["version"] for e in rows],
                tr("事件", "event"): [word(e["type"], EventName) for e in rows],
                tr("发生时间", "happened"): [e["occurred_at"][:19] for e in rows],
                tr("录入时间", "entered"): [e["recorded_at"][:19] for e in rows],
                tr("内容", "what changed"): [_detail(e["data"]) for e in rows],
            }
        ),
        hide_index=True,
        placeholder="—",
        width="stretch",
    )


def _flags(v: dict[str, Any]) -> None:
    left, right = st.columns(2)
    left.subheader(tr("预警与超时", "Alerts"))
    for a in v["alerts"]:
        step = f" · {tr('环节', 'step')} {a['step']}" if a.get("step") else ""
        left.markdown(
            f"- **{word(a['alert'], AlertKind)}** {a['at'][:16].replace('T', ' ')}"
            f" · {tr('期限', 'deadline')} {a['deadline']}{step}"
        )
    if not v["alerts"]:
        left.caption(tr("无", "none"))
    right.subheader(tr("违规", "Violations"))
    for x in v["violations"]:
        label = word(x["violation"], ViolationKind)
        right.markdown(f"- **{label}** {x['at'][:16].replace('T', ' ')} · {x['detail']}")
    if not v["violations"]:
        right.caption(tr("无", "none"))


def _as_of_control(current: datetime | None) -> datetime | None:
    with st.sidebar:
        st.subheader(tr("按时间回溯", "As of a past time"))
        on = st.toggle(tr("显示当时的办件", "Show the case as it stood"), value=current is not None)
        if not on:
            st.query_params.pop("asof", None)
            return None
        shown = current or now()
        day = st.date_input(tr("日期", "Date"), value=shown.date(), key="case_asof_date")
        at = st.time_input(tr("时间", "Time"), value=time(shown.hour, shown.minute), step=60)
    when = datetime.combine(day, at, tzinfo=TIME_ZONE)
    st.query_params["asof"] = when.strftime("%Y-%m-%dT%H:%M")
    return when


def page() -> None:
    user = user_or_stop()
    ref = st.text_input(
        tr("办件编号或受理号", "Case id or receipt number"), value=st.query_params.get("case", "")
    ).strip()
    if not ref:
        stop_with(tr("请输入办件编号或受理号。", "Enter a case id or a receipt number."))
    st.query_params["case"] = ref
    as_of = _as_of_control(as_of_param())
    record = context.services().case_record(ref, user.scope, as_of)
    if record is None:
        stop_with(tr(f"没有可查看的办件 {ref}。", f"No case {ref} that you may see."), error=True)
    v = dict(record.view)
    _header(v, record.chain_ok, record.chain_detail)
    at = as_of or now()
    st.plotly_chart(charts.case_timeline(v, clock.local_date(at)), key="timeline")
    st.caption(
        tr(
            "绿：按时完成的环节 · 蓝：进行中 · 红：超时 · 灰底：暂停计时 · 短竖线：环节期限 · "
            "虚线：预警、承诺期限、法定期限",
            "green: step done on time · blue: running · red: late · grey band: clock stopped · "
            "tick: the step's due date · dashed: warning, due date, legal due date",
        )
    )
    _flags(v)
    _events(v)
    if as_of is None:
        order_form(user, case_id=v["case_id"])
