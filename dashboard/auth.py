"""Signing in (placeholder until the sign-in module lands): nobody is signed in."""

from __future__ import annotations

import streamlit as st

from dashboard.i18n import tr
from dashboard.services import User


def current_user() -> User | None:
    user = st.session_state.get("hallwatch_user")
    return user if isinstance(user, User) else None


def sign_in_page() -> None:
    st.title(tr("工作人员登录", "Staff sign-in"))


def sign_out_button(user: User) -> None:
    st.sidebar.caption(user.name)
