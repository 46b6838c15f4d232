"""The dashboard's entry script (``hallwatch dashboard`` runs it under Streamlit): the
pages, with this process's services; nothing is opened before a page asks for it."""

from __future__ import annotations

from dashboard.app import run
from infra.dashboard.services import shared_services

run(shared_services())
