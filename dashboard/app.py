"""The dashboard: each user's pages, routed by role (``st.navigation``).

Inspectors (纪检监察) get the live board first; department heads (部门负责人) and town
managers (镇街) their unit's page; the public (办事人/投诉人) the tracker, and every
staff member a sign-in page. ``run`` is called by the composition root with the
services object (infra/dashboard/).
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from dashboard import auth, context
from dashboard.i18n import language_switch, tr
from dashboard.pages import board, case, notice, track, unit
from dashboard.services import Services, User
from domain.vocabulary import Role


def _page(fn: Callable[[], None], title: str, url: str, *, default: bool = False) -> st.Page:
    return st.Page(fn, title=title, url_path=url, default=default)


def pages_for(user: User | None) -> list[st.Page]:
    """The pages a user may open, the first one the default."""
    tracker = _page(track.page, tr("办件查询", "Track a case"), "track")
    if user is None:
        return [
            _page(track.page, tr("办件查询", "Track a case"), "track", default=True),
            _page(auth.sign_in_page, tr("工作人员登录", "Staff sign-in"), "signin"),
        ]
    case_page = _page(case.page, tr("办件详情", "Case"), "case")
    units = _page(unit.page, tr("部门与镇街", "Units and rankings"), "unit")
    public_notice = _page(notice.page, tr("每月一公示", "Monthly notice"), "notice")
    if user.role == Role.INSPECTOR:
        live = _page(board.page, tr("监察大屏", "Live board"), "board", default=True)
        return [live, case_page, units, public_notice, tracker]
    own = _page(unit.page, tr("本单位", "My unit"), "unit", default=True)
    return [own, case_page, public_notice, tracker]


def run(services: Services) -> None:
    """One script run: the page chrome, the signed-in user, the page asked for."""
    context.use(services)
    st.set_page_config(page_title="hallwatch 电子监察", layout="wide")
    language_switch()
    user = auth.current_user()
    if user is not None:
        auth.sign_out_button(user)
    st.navigation(pages_for(user)).run()
