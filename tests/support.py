"""Builders for intake records and aggregates used across the tests."""

from __future__ import annotations

import contextlib
import itertools
import socket
import threading
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from domain import clock
from domain.application import Hallwatch
from domain.calendar import WorkCalendar
from domain.catalogue import Catalogue, parse_catalogue, sample_catalogue_path
from domain.model import RecordContext
from infra.kafka import producer
from infra.settings import Settings
from projections.clickhouse import ChdbBackend, ClickHouse, ServerBackend
from projections.migrations import migrate
from projections.runner import ProjectionRunner
from streams.alerter import Alerter
from streams.relay import OutboxRelay

_ids = itertools.count(1)
CAL = WorkCalendar.load()


def sample_catalogue() -> Catalogue:
    return Catalogue(parse_catalogue(sample_catalogue_path()).versions)


def at(text: str) -> datetime:
    """'2026-03-02 09:00' in Asia/Shanghai."""
    return datetime.fromisoformat(text).replace(tzinfo=clock.SHANGHAI)


def ctx(when: str, kind: str = "test", recorded: str | None = None) -> RecordContext:
    t = at(when)
    return RecordContext(f"r{next(_ids)}", "test", kind, t, at(recorded) if recorded else t)


def rec(kind: str, when: str, *, recorded: str | None = None, **fields: Any) -> dict[str, Any]:
    """An intake record (CONTRACTS §2) with a fresh record_id."""
    r: dict[str, Any] = {
        "record_id": f"rec-{next(_ids)}",
        "kind": kind,
        "at": at(when).isoformat(),
        "source": "test-hall",
    }
    if recorded:
        r["recorded_at"] = at(recorded).isoformat()
    else:
        r["recorded_at"] = r["at"]
    r.update(fields)
    return r


def submitted(case_id: str, when: str, item_code: str = "SCJG-002", **extra: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "case_id": case_id,
        "item_code": item_code,
        "channel": "web",
        "applicant_kind": "person",
        "applicant_name": "张三",
        "applicant_id": "440101199001011234",
        "town": "南城街道",
    }
    fields.update(extra)
    return rec("submitted", when, **fields)


def full_case(
    case_id: str,
    start: str = "2026-03-02 09:00",
    item_code: str = "SCJG-002",
    receipt: str | None = None,
) -> list[dict[str, Any]]:
    """A case that runs its whole lifecycle on time: submit … rate."""
    from domain.catalogue import Catalogue  # noqa: F401

    cat = sample_catalogue()
    d = at(start).date()
    item = cat.version_on(item_code, d)
    assert item is not None
    day = d
    out = [submitted(case_id, start, item_code)]
    day = CAL.add_working_days(day, 1)
    out.append(
        rec(
            "accepted",
            f"{day} 10:00",
            case_id=case_id,
            receipt_no=receipt or f"SL-{case_id}",
            query_code="123456",
        )
    )
    for st in item.steps:
        out.append(
            rec("step_started", f"{day} 11:00", case_id=case_id, step=st.name, handler="王五")
        )
        day = CAL.add_working_days(day, 1)
        out.append(
            rec(
                "step_completed",
                f"{day} 10:00",
                case_id=case_id,
                step=st.name,
                handler="王五",
                decision="pass",
            )
        )
    out.append(rec("concluded", f"{day} 16:00", case_id=case_id, outcome="approved", online=True))
    day = CAL.add_working_days(day, 1)
    out.append(
        rec("delivered", f"{day} 09:30", case_id=case_id, method="electronic", site_visits=0)
    )
    out.append(rec("rated", f"{day} 10:30", case_id=case_id, level=5))
    return out


def free_port() -> int:
    """A TCP port nobody listens on right now (for the brokers tests start)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ingest_with_alerts(app: Hallwatch, records: list[dict[str, Any]]) -> int:
    """Ingest week by week, letting the alerter raise what fell due at the end of each."""
    now = [datetime.fromisoformat(records[0]["at"])]
    alerter = Alerter(app, clock=lambda: now[0])
    alerter.start()
    week = now[0] + timedelta(days=7)
    chunk: list[bytes] = []
    for r in records:
        if datetime.fromisoformat(r["at"]) >= week:
            app.ingest(chunk)
            chunk = []
            now[0] = week
            alerter.tick()
            week += timedelta(days=7)
        chunk.append(orjson.dumps(r))
    app.ingest(chunk)
    return alerter.stats.raised


def relay_all(app: Hallwatch, settings: Settings, name: str) -> int:
    """Publish every stored event to the settings' events topic; how many were published."""
    relay = OutboxRelay(
        app.recorder,
        producer(settings.kafka_bootstrap or ""),
        topic=settings.events_topic,
        source="test-hall",
        name=name,
    )
    try:
        return relay.run(threading.Event(), until_idle=True).published
    finally:
        relay.producer.close(timeout=10)  # type: ignore[attr-defined]


def fresh_clickhouse(base: Settings, backend: str, tmp: Path, server_url: str | None) -> Settings:
    """The same topic, a fresh ClickHouse: a new chdb folder or a new server database."""
    data_dir = tmp / f"ch-{uuid.uuid4().hex[:8]}"
    if backend == "chdb":
        return replace(base, data_dir=data_dir, clickhouse_url=None)
    assert server_url is not None
    db = f"hallwatch_test_{uuid.uuid4().hex[:10]}"
    return replace(base, data_dir=data_dir, clickhouse_url=f"{server_url.rsplit('/', 1)[0]}/{db}")


@contextlib.contextmanager
def projected_twice(
    request: pytest.FixtureRequest, events: list[bytes], tmp: Path, prefix: str
) -> Iterator[tuple[ClickHouse, Settings]]:
    """The events projected into a fresh ClickHouse of the kind ``request.param`` names
    (``chdb`` or ``server``), each delivered twice as at-least-once delivery may."""
    ch: ClickHouse
    if request.param == "chdb":
        settings = Settings(data_dir=tmp, secret_key=b"k" * 32)
        ch = ChdbBackend(settings.clickhouse_path)
    else:
        base = request.getfixturevalue("clickhouse_server").rsplit("/", 1)[0]
        url = f"{base}/{prefix}_{uuid.uuid4().hex[:10]}"
        settings = Settings(data_dir=tmp, secret_key=b"k" * 32, clickhouse_url=url)
        ch = ServerBackend(url)
    try:
        migrate(ch)
        runner = ProjectionRunner(ch, consumer=None)
        runner.project(events)
        runner.reset()
        runner.project(events)  # duplicates change nothing
        if isinstance(ch, ChdbBackend):
            ch.close()
            ch = ChdbBackend(settings.clickhouse_path, read_only=True)
        yield ch, settings
    finally:
        if isinstance(ch, ServerBackend):
            ch.execute(f"DROP DATABASE IF EXISTS {str(settings.clickhouse_url).rsplit('/', 1)[1]}")
        ch.close()
