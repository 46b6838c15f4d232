"""Links between pages that keep the viewer's language (and nothing else of the URL)."""

from __future__ import annotations

import streamlit as st

from dashboard.i18n import lang


def open_case(ref: str, as_of: str | None = None) -> None:
    """Go to a case's page (``?case=…``), as of a time when one is given."""
    from dashboard.pages import case

    params = {"case": ref, "lang": lang()}
    if as_of:
        params["asof"] = as_of
    st.switch_page(st.Page(case.page, url_path="case"), query_params=params)
