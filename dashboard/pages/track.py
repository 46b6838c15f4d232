"""(placeholder: the track page)."""

from __future__ import annotations

import streamlit as st


def page() -> None:
    st.title("track")
