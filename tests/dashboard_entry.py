"""The dashboard as AppTest runs it: one page on its own (``session_state["test_page"]``)
or the whole app; the services are the real ones, from the environment."""

import streamlit as st

from dashboard import app, context
from dashboard.pages import board, case, notice, track, unit
from infra.dashboard.services import shared_services

PAGES = {"board": board, "case": case, "notice": notice, "track": track, "unit": unit}

page = st.session_state.get("test_page")
if page:
    context.use(shared_services())
    PAGES[page].page()
else:
    app.run(shared_services())
