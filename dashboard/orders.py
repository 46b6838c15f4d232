"""Issuing a supervision order (督办) from the dashboard: inspectors only; the order goes
through the domain like any intake record and reaches the board the normal way."""

from __future__ import annotations

import streamlit as st

from dashboard import context
from dashboard.i18n import tr
from dashboard.services import User
from domain.vocabulary import Role

MAX_NOTE = 500


def order_form(user: User, *, case_id: str | None = None, department: str | None = None) -> None:
    """The form: inspector (the signed-in one), due days, note."""
    if user.role != Role.INSPECTOR:
        return
    about = case_id or department or ""
    with st.expander(tr(f"督办 {about}", f"Order action on {about}")), st.form(f"order-{about}"):
        st.text_input(tr("督办人", "Inspector"), value=user.name, disabled=True)
        days = st.number_input(tr("反馈期限（工作日）", "Answer within (working days)"), 1, 60, 5)
        note = st.text_area(tr("督办事项", "What must be done"), max_chars=MAX_NOTE)
        if not st.form_submit_button(tr("发出督办", "Issue the order")):
            return
    if not note.strip():
        st.error(tr("请写明督办事项。", "Please say what must be done."))
        return
    done = context.services().issue_order(
        user, case_id=case_id, department=department, due_days=int(days), note=note.strip()
    )
    if done.ok:
        st.success(tr(f"已发出督办单 {done.ref}。", f"Supervision order {done.ref} issued."))
    else:
        st.error(tr(f"未能发出：{done.reason}", f"Not issued: {done.reason}"))
