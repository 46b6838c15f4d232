"""A small service hall for the dashboard's tests: the sample month up to "now" ingested
with its alerts, projected into ClickHouse, and three users; the dashboard run by AppTest.

The projection runs from memory (no broker) and its chdb writer is closed before any
page opens its reader: one chdb opener per process at a time.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from streamlit.testing.v1 import AppTest

from dashboard.services import User
from domain.catalogue import parse_catalogue, sample_catalogue_path
from infra.samples import sample_records_path
from infra.settings import Settings
from infra.users import add_user
from infra.wiring import open_app
from projections.migrations import migrate
from projections.runner import ProjectionRunner, open_writer
from streams.alerter import Alerter
from streams.cloudevents import stored_cloudevents
from tests.support import ingest_with_alerts

ROOT = Path(__file__).resolve().parents[1]
ENTRY = ROOT / "tests" / "dashboard_entry.py"
KEY = bytes(range(32))
#: The board's "now" in the sample month (the clock runs on from it).
NOW = "2026-03-20T10:00:00+08:00"
PASSWORD = "correct horse battery"

INSPECTOR = User("chen", "陈志强", "inspector")
HEAD = User("lin", "林部长", "head", department="市场监管局")
TOWN = User("he", "何主任", "town", town="南城街道")


@dataclass(frozen=True)
class Hall:
    settings: Settings
    env: dict[str, str]


def build_hall(folder: Path, *, clickhouse_url: str | None = None, now: str = NOW) -> Hall:
    """The sample month in an event store and in ClickHouse, and one user per role."""
    clock = f"{now}@{datetime.now(UTC).isoformat()}"
    settings = Settings(data_dir=folder, secret_key=KEY, clickhouse_url=clickhouse_url, clock=clock)
    app = open_app(settings)
    try:
        app.load_catalogue(parse_catalogue(sample_catalogue_path()), "sample")
        cut = datetime.fromisoformat(now)
        records = [
            r
            for line in sample_records_path().read_bytes().splitlines()
            if datetime.fromisoformat((r := orjson.loads(line))["at"]) <= cut
            and datetime.fromisoformat(r.get("recorded_at") or r["at"]) <= cut
        ]
        ingest_with_alerts(app, records)
        alerter = Alerter(app, clock=lambda: cut)  # every alert due by "now"
        alerter.start()
        alerter.tick()
        events = [m.value for m in stored_cloudevents(app.stored_rows(), "test-hall")]
    finally:
        app.close()
    ch = open_writer(settings.clickhouse_target)
    try:
        migrate(ch)
        ProjectionRunner(ch, consumer=None).project(events)
    finally:
        ch.close()
    for user in (INSPECTOR, HEAD, TOWN):
        add_user(
            settings.users_file, user.username, name=user.name, role=user.role,
            password=PASSWORD, department=user.department, town=user.town,
        )  # fmt: skip
    env = {
        "HALLWATCH_DATA_DIR": str(folder),
        "HALLWATCH_SECRET_KEY": KEY.hex(),
        "HALLWATCH_CLOCK": clock,
    }
    if clickhouse_url:
        env["HALLWATCH_CLICKHOUSE_URL"] = clickhouse_url
    return Hall(settings, env)


@contextlib.contextmanager
def dashboard_env(hall: Hall) -> Iterator[None]:
    """The hall's settings in the environment the dashboard's services read, and this
    process's services closed and forgotten afterwards (their chdb reader with them)."""
    from infra.dashboard.services import shared_services

    saved = {k: os.environ.get(k) for k in hall.env}
    os.environ.update(hall.env)
    try:
        yield
    finally:
        shared_services().close()
        shared_services.clear()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def page_test(
    page: str | None = None,
    *,
    user: User | None = None,
    params: dict[str, Any] | None = None,
    timeout: float = 60,
) -> AppTest:
    """An AppTest of one page (``board``, ``case``, ``unit``, ``notice``, ``track``) or, with
    no page, of the whole app routed by role; ``user`` signed in."""
    at = AppTest.from_file(str(ENTRY), default_timeout=timeout)
    if page:
        at.session_state["test_page"] = page
    if user is not None:
        at.session_state["hallwatch_user"] = user
    for k, v in (params or {}).items():
        at.query_params[k] = v
    return at
