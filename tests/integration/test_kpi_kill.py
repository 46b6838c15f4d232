"""Kill -9 the projector midway through ~100k events: every KPI is unchanged.

One store of ~100k events (generated cases over several months, with the
alerts the alerter raises week by week on simulated time) is relayed once to
a topic on a real local broker. One projector reads the topic uninterrupted
into chdb: the reference. Per backend (chdb, clickhouse-server 18.16) another, in
its own process, is killed with SIGKILL after about a third has been committed
and a fresh process finishes the job into a fresh ClickHouse. Then
``hallwatch rank`` gives the reference's JSON for every month and every grouping,
and the alert lists match (so the two backends agree with each other as well).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest

from domain.application import Hallwatch
from domain.catalogue import parse_catalogue, sample_catalogue_path
from infra.broker import LocalBroker, ensure_topics
from infra.projecting import project
from infra.settings import Settings
from infra.simulate import generate_records
from infra.wiring import open_app
from projections.clickhouse import ServerBackend
from tests.support import fresh_clickhouse, ingest_with_alerts, relay_all

ROOT = Path(__file__).resolve().parents[2]
KEY_HEX = "5a" * 32
IDLE = 2.0

_KILLED_CHILD = """
import sys
from infra.settings import from_env
from infra.projecting import project

def report(stats):
    print(stats.messages, flush=True)

project(from_env(), group=sys.argv[1], on_batch=report)
"""

_KPIS_CHILD = """
import orjson, sys
from infra.settings import from_env
from projections.clickhouse import connect
from projections import kpi, queries

s = from_env()
ch = connect(s.clickhouse_target, read_only=True)
months = [r[0] for r in ch.query(
    "SELECT DISTINCT toString(toYYYYMM(occurred_at)) AS m FROM events ORDER BY m")]
out = {"months": months, "rank": {}, "alerts": None}
for m in months:
    month = kpi.Month(int(m[:4]), int(m[4:]))
    for by in kpi.GROUPINGS:
        out["rank"][f"{month}/{by}"] = kpi.rank(ch, month, by)
out["alerts"] = sorted(
    (a["alert_id"], a["kind"], a["subject"], a["open"])
    for a in queries.alert_list(ch, limit=10**9))
ch.close()
sys.stdout.write(orjson.dumps(out, default=str).decode())
"""


def _env(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "HALLWATCH_DATA_DIR": str(settings.data_dir),
        "HALLWATCH_SECRET_KEY": KEY_HEX,
        "HALLWATCH_KAFKA_BOOTSTRAP": settings.kafka_bootstrap or "",
        "HALLWATCH_TOPIC_PREFIX": settings.topic_prefix,
        "HALLWATCH_CLICKHOUSE_URL": settings.clickhouse_url or "",
    }


def _kpis(settings: Settings) -> dict[str, Any]:
    """Every month's ranking by every grouping, and the alert list, from its own process
    (a process holds one chdb database at a time)."""
    out = subprocess.run(
        [sys.executable, "-c", _KPIS_CHILD],
        cwd=ROOT,
        env=_env(settings),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return orjson.loads(out.stdout)  # type: ignore[no-any-return]


def _store(data_dir: Path) -> tuple[Hallwatch, int]:
    app = open_app(Settings(data_dir=data_dir, secret_key=bytes.fromhex(KEY_HEX)))
    app.load_catalogue(parse_catalogue(sample_catalogue_path()), "sample")
    ingest_with_alerts(app, generate_records(cases=9000, start=date(2026, 3, 2), seed=11))
    return app, sum(1 for _ in app.stored_rows())


@pytest.fixture(scope="module")
def topic(broker: LocalBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """~100k events on a fresh topic; the settings to read it."""
    tmp = tmp_path_factory.mktemp("kpi-kill")
    app, stored = _store(tmp / "store")
    try:
        assert stored >= 100_000
        settings = Settings(
            data_dir=tmp,
            secret_key=bytes.fromhex(KEY_HEX),
            kafka_bootstrap=broker.bootstrap_servers,
            topic_prefix=f"k{uuid.uuid4().hex[:8]}",
            hall="test-hall",
        )
        ensure_topics(broker.bootstrap_servers, [settings.events_topic], partitions=6)
        assert relay_all(app, settings, "kill") == stored
    finally:
        app.close()
    yield replace(settings, data_dir=tmp / "unused")


@pytest.fixture(scope="module")
def reference(topic: Settings, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The topic projected uninterrupted into chdb: its event count and KPIs."""
    whole = fresh_clickhouse(topic, "chdb", tmp_path_factory.mktemp("whole"), None)
    first = project(whole, group=f"whole-{uuid.uuid4().hex[:8]}", until_idle=True,
                    idle_seconds=IDLE)  # fmt: skip
    assert first.messages >= 100_000 and first.duplicates == 0
    return {"total": first.messages, "kpis": _kpis(whole)}


@pytest.mark.parametrize("backend", ["chdb", "server"])
def test_projector_killed_midway_through_100k_events_gives_the_same_kpis(
    backend: str,
    topic: Settings,
    reference: dict[str, Any],
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    server = request.getfixturevalue("clickhouse_server") if backend == "server" else None
    killed = fresh_clickhouse(topic, backend, tmp_path, server)
    try:
        total = reference["total"]

        group = f"killed-{uuid.uuid4().hex[:8]}"
        proc = subprocess.Popen(
            [sys.executable, "-c", _KILLED_CHILD, group],
            cwd=ROOT,
            env=_env(killed),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        committed = 0
        try:
            assert proc.stdout is not None
            deadline = time.monotonic() + 180
            for line in proc.stdout:
                committed = int(line)
                if committed >= total // 3 or time.monotonic() > deadline:
                    break
            proc.send_signal(signal.SIGKILL)
            proc.wait(20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(20)
        assert 0 < committed < total, committed
        rest = project(killed, group=group, until_idle=True, idle_seconds=IDLE)
        assert committed + rest.messages >= total
        print(
            f"\n[{backend}] {total:,} events; killed after {committed:,} committed; the restart "
            f"read {rest.messages:,} ({rest.duplicates:,} already projected)"
        )

        want, got = reference["kpis"], _kpis(killed)
        assert len(want["months"]) >= 3 and want["months"] == got["months"]
        assert sum(len(v) for v in want["rank"].values()) > 100
        assert got["rank"] == want["rank"]
        assert got["alerts"] == want["alerts"] and len(want["alerts"]) > 100
    finally:
        if killed.clickhouse_url:
            base, db = killed.clickhouse_url.rsplit("/", 1)
            ch = ServerBackend(f"{base}/default")
            ch.execute(f"DROP DATABASE IF EXISTS {db}")
            ch.close()
