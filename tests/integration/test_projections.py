"""Projections end to end, on both ClickHouse backends (embedded chdb, clickhouse-server 18.16).

One event store (SQLite) is filled with ~20k generated records and the alerts
the alerter raises week by week on simulated time; per backend, an outbox relay
publishes it to a fresh topic on a real local broker, and the projector reads
it into a fresh ClickHouse. Then: the tables agree with the event store; the
whole store published a second time (duplicates on the topic) changes nothing;
``project --rebuild`` gives identical tables; a projector killed with SIGKILL
midway and restarted ends with the tables of the uninterrupted run.
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from domain.application import Hallwatch
from domain.catalogue import parse_catalogue, sample_catalogue_path
from domain.model import Case, Complaint, SupervisionOrder, stream_id
from infra.broker import LocalBroker, ensure_topics
from infra.cli import read_models as projections_cli
from infra.projecting import project
from infra.settings import Settings
from infra.simulate import generate_records
from infra.wiring import open_app
from projections.clickhouse import (
    ChdbBackend,
    ClickHouse,
    ClickHouseError,
    Insert,
    Prepared,
    ServerBackend,
    connect,
)
from projections.migrations import migrate
from projections.projectors import default_projectors
from projections.runner import ProjectionRunner, ProjectorStats, open_writer
from streams.cloudevents import event_type, stored_cloudevents
from tests.support import fresh_clickhouse, ingest_with_alerts, relay_all

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "infra" / "scripts" / "clickhouse-server.sh"
KEY_HEX = "ef" * 32
IDLE = 2.0
_, PROJECTORS = default_projectors()
#: Every table with the columns that order a full comparison of its rows.
TABLES = {p.table: p.columns for p in PROJECTORS}


# --------------------------------------------------------------------------- fixtures
# (``broker``, a local broker on free ports for this module, is in tests/conftest.py)


@pytest.fixture(scope="module")
def server_url(clickhouse_server: str) -> str:
    return clickhouse_server


@dataclass
class World:
    """The event store and what every table must hold according to it."""

    app: Hallwatch
    data_dir: Path
    events: int
    types: Counter[str]
    cases: dict[str, Case]
    complaints: dict[str, Complaint]
    orders: dict[str, SupervisionOrder]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    data_dir = tmp_path_factory.mktemp("store")
    app = open_app(Settings(data_dir=data_dir, secret_key=bytes.fromhex(KEY_HEX)))
    app.load_catalogue(parse_catalogue(sample_catalogue_path()), "sample")
    raised = ingest_with_alerts(
        app, generate_records(cases=2000, start=date(2026, 3, 2), seed=3)[:20_000]
    )
    assert raised > 100
    types: Counter[str] = Counter()
    subjects: dict[str, set[str]] = {"case": set(), "complaint": set(), "supervision": set()}
    created = {
        "gov.hallwatch.case.submitted": ("case", "case_id"),
        "gov.hallwatch.complaint.filed": ("complaint", "complaint_id"),
        "gov.hallwatch.supervision.ordered": ("supervision", "order_id"),
    }
    events = 0
    for _, _, _, topic, state in app.stored_rows():
        events += 1
        t = event_type(topic)
        types[t] += 1
        if t in created:
            kind, key = created[t]
            subjects[kind].add(orjson.loads(state)[key])

    def load(kind: str, key: str) -> Any:
        agg, _ = app.as_of(stream_id(kind, key), None)
        return agg

    w = World(
        app=app,
        data_dir=data_dir,
        events=events,
        types=types,
        cases={k: load("case", k) for k in subjects["case"]},
        complaints={k: load("complaint", k) for k in subjects["complaint"]},
        orders={k: load("supervision", k) for k in subjects["supervision"]},
    )
    assert events >= 20_000 and len(w.complaints) > 5 and len(w.orders) > 5
    try:
        yield w
    finally:
        app.close()


@dataclass
class Projected:
    """One backend, projected once: its settings, the topic's contents, the first run."""

    backend: str
    settings: Settings
    messages: int
    first: ProjectorStats
    cleanup: list[str] = field(default_factory=list)


@pytest.fixture(scope="module", params=["chdb", "server"])
def projected(
    request: pytest.FixtureRequest,
    world: World,
    broker: LocalBroker,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Projected]:
    backend = str(request.param)
    url = request.getfixturevalue("server_url") if backend == "server" else None
    tmp = tmp_path_factory.mktemp(f"proj-{backend}")
    base = Settings(
        data_dir=tmp,
        secret_key=bytes.fromhex(KEY_HEX),
        kafka_bootstrap=broker.bootstrap_servers,
        topic_prefix=f"p{uuid.uuid4().hex[:8]}",
        hall="test-hall",
    )
    ensure_topics(broker.bootstrap_servers, [base.events_topic], partitions=6)
    assert relay_all(world.app, base, "relay") == world.events
    settings = fresh_clickhouse(base, backend, tmp, url)
    t0 = time.monotonic()
    first = project(settings, until_idle=True, idle_seconds=IDLE)
    print(
        f"\n[{backend}] {first.messages} events projected in {time.monotonic() - t0:.1f}s "
        f"(incl. group join and {IDLE}s idle): {first.events_per_second:,.0f} events/s from "
        f"first message to last commit, {first.messages / first.project_seconds:,.0f} events/s "
        f"of projecting; {first.batches} batches, {first.hydration_queries} hydration queries"
    )
    p = Projected(backend, settings, world.events, first)
    if settings.clickhouse_url:
        p.cleanup.append(settings.clickhouse_url)
    try:
        yield p
    finally:
        for db_url in p.cleanup:
            base, db = db_url.rsplit("/", 1)
            ch = ServerBackend(f"{base}/default")
            ch.execute(f"DROP DATABASE IF EXISTS {db}")
            ch.close()


def _open(settings: Settings) -> ClickHouse:
    if settings.clickhouse_url:
        return connect(settings.clickhouse_url, read_only=True)
    return ChdbBackend(settings.clickhouse_path, read_only=True)


def _snapshot(settings: Settings) -> dict[str, list[tuple[Any, ...]]]:
    """Every table, deduplicated (FINAL) and fully ordered."""
    ch = _open(settings)
    try:
        return {
            table: ch.query(
                f"SELECT {', '.join(cols)} FROM {table} FINAL ORDER BY {', '.join(cols)}"
            )
            for table, cols in TABLES.items()
        }
    finally:
        ch.close()


def _counts(settings: Settings) -> dict[str, int]:
    ch = _open(settings)
    try:
        return {t: ch.query(f"SELECT count() FROM {t} FINAL")[0][0] for t in TABLES}
    finally:
        ch.close()


# --------------------------------------------------------------------------- the checks


def _flag(value: bool | None) -> int | None:
    return None if value is None else int(value)


def test_tables_agree_with_the_event_store(projected: Projected, world: World) -> None:
    assert projected.first.messages == world.events and projected.first.bad == 0
    ch = _open(projected.settings)
    try:
        cases = {r["case_id"]: r for r in ch.query_dicts("SELECT * FROM cases FINAL")}
        steps = ch.query_dicts("SELECT * FROM steps FINAL")
        complaints = {
            r["complaint_id"]: r for r in ch.query_dicts("SELECT * FROM complaints FINAL")
        }
        orders = {
            r["order_id"]: r for r in ch.query_dicts("SELECT * FROM supervision_orders FINAL")
        }
        ratings = {r["case_id"]: r for r in ch.query_dicts("SELECT * FROM ratings FINAL")}
        alerts = Counter(
            (k, c) for k, c, _ in ch.query("SELECT kind, category, subject FROM alerts FINAL")
        )
        events = ch.query("SELECT count(), uniqExact(event_id), max(version) FROM events FINAL")
        alert_towns = ch.query(
            "SELECT count() FROM alerts FINAL WHERE stream_kind = 'case' AND town = ''"
        )
    finally:
        ch.close()

    assert events[0][:2] == (world.events, world.events)
    assert set(cases) == set(world.cases)
    for case_id, agg in world.cases.items():
        row = cases[case_id]
        got = {
            k: row[k]
            for k in ("status", "due_date", "on_time", "outcome", "receipt_no", "town",
                      "department", "item_code", "corrections", "suspensions", "violations",
                      "alerts", "steps_completed", "deemed_accepted", "rating", "version",
                      "warn_date", "concluded_at", "handling_days", "site_visits")
        }  # fmt: skip
        want = {
            "status": agg.status,
            "due_date": agg.due_date,
            "on_time": _flag(agg.on_time),
            "outcome": agg.outcome or "",
            "receipt_no": agg.receipt_no or "",
            "town": agg.town,
            "department": agg.department,
            "item_code": agg.item.item_code,
            "corrections": agg.corrections,
            "suspensions": agg.suspensions,
            "violations": len(agg.violations),
            "alerts": len(agg.alerts),
            "steps_completed": sum(1 for s in agg.steps.values() if s.completed_on is not None),
            "deemed_accepted": int(agg.deemed_accepted),
            "rating": agg.rating,
            "version": agg.version,
            "warn_date": agg.warn_date,
            "concluded_at": agg.concluded_at,
            "handling_days": agg.handling_days,
            "site_visits": agg.site_visits,
        }
        assert got == want, case_id
        if agg.rating is not None:
            r = ratings[case_id]
            assert (r["level"], r["town"], r["answered_at"]) == (
                agg.rating,
                agg.town,
                agg.rating_answered_at,
            )
    want_steps = {
        (cid, s.name): (s.due_date, s.completed_on, _flag(s.on_time), s.decision or "")
        for cid, agg in world.cases.items()
        for s in agg.steps.values()
        if s.started_on is not None
    }
    got_steps = {
        (r["case_id"], r["step"]): (r["due_date"], r["completed_on"], r["on_time"], r["decision"])
        for r in steps
    }
    assert got_steps == want_steps
    assert len(ratings) == sum(1 for a in world.cases.values() if a.rating is not None)
    assert {k: (r["status"], r["replied_at"]) for k, r in complaints.items()} == {
        k: (c.status, c.replied_at) for k, c in world.complaints.items()
    }
    assert {k: (r["status"], r["answered_at"], r["due_date"]) for k, r in orders.items()} == {
        k: (o.status, o.answered_at, o.due_date) for k, o in world.orders.items()
    }
    t = world.types
    violations = (
        t["gov.hallwatch.case.violation_flagged"] + t["gov.hallwatch.complaint.violation_flagged"]
    )
    raised = sum(n for name, n in t.items() if name.endswith(".alert_raised"))
    assert sum(n for (_, c), n in alerts.items() if c == "violation") == violations
    assert sum(n for (_, c), n in alerts.items() if c == "alert") == raised > 0
    assert alert_towns == [(0,)]


def test_duplicates_on_the_topic_change_no_count(projected: Projected, world: World) -> None:
    before = _counts(projected.settings)
    # A second relay (another name, so its own position) publishes the whole store again.
    assert relay_all(world.app, projected.settings, "relay-again") == world.events
    again = project(projected.settings, until_idle=True, idle_seconds=IDLE)
    assert again.messages >= world.events
    assert again.new_events == 0 and again.duplicates == again.messages
    assert sum(again.rows.values()) == 0  # every table's gate saw them as old
    assert _counts(projected.settings) == before
    projected.messages += world.events


def test_rebuild_gives_identical_tables(projected: Projected) -> None:
    before = _snapshot(projected.settings)
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        obj = SimpleNamespace(settings=projected.settings)
        result = CliRunner().invoke(projections_cli.project, ["--rebuild", "--until-idle"], obj=obj)
        assert result.exit_code == 0, result.output + repr(result.exception)
        assert f"{projected.messages:,} messages" in result.output
        result = CliRunner().invoke(projections_cli.migrate, [], obj=obj)
        assert result.exit_code == 0 and "up to date" in result.output, result.output
    finally:
        for s, h in handlers.items():
            signal.signal(s, h)
    after = _snapshot(projected.settings)
    assert {t: len(r) for t, r in after.items()} == {t: len(r) for t, r in before.items()}
    assert after == before


_CHILD = """
import sys
from infra.settings import from_env
from infra.projecting import project

def report(stats):
    print(stats.messages, flush=True)

project(from_env(), group=sys.argv[1], max_records=1500, on_batch=report)
"""


def _child(settings: Settings, group: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "HALLWATCH_DATA_DIR": str(settings.data_dir),
        "HALLWATCH_SECRET_KEY": KEY_HEX,
        "HALLWATCH_KAFKA_BOOTSTRAP": settings.kafka_bootstrap or "",
        "HALLWATCH_TOPIC_PREFIX": settings.topic_prefix,
        "HALLWATCH_CLICKHOUSE_URL": settings.clickhouse_url or "",
    }
    return subprocess.Popen(
        [sys.executable, "-c", _CHILD, group],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def _committed_counts(proc: subprocess.Popen[str]) -> queue.Queue[int | None]:
    """The child's progress lines (messages committed so far), None at its end."""
    lines: queue.Queue[int | None] = queue.Queue()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(int(line))
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    return lines


def test_projector_killed_midway_restarts_to_the_same_tables(
    projected: Projected, tmp_path: Path
) -> None:
    settings = fresh_clickhouse(
        projected.settings, projected.backend, tmp_path, projected.settings.clickhouse_url
    )
    if settings.clickhouse_url:
        projected.cleanup.append(settings.clickhouse_url)
    group = f"kill-test-{uuid.uuid4().hex[:8]}"  # a fresh ClickHouse reads from the start
    proc = _child(settings, group)
    seen = 0
    try:
        progress = _committed_counts(proc)
        deadline = time.monotonic() + 90
        while seen < projected.messages // 3:
            n = progress.get(timeout=max(0.1, deadline - time.monotonic()))
            assert n is not None, f"the projector exited with {proc.wait()}"
            seen = n
        proc.send_signal(signal.SIGKILL)  # at once: typically in the next batch's inserts
        proc.wait(20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(20)
    assert 0 < seen < projected.messages
    t0 = time.monotonic()
    rest = project(settings, group=group, until_idle=True, idle_seconds=IDLE)
    print(
        f"\n[{projected.backend}] killed after {seen} committed, restart took "
        f"{time.monotonic() - t0:.1f}s for {rest.messages} messages ({rest.duplicates} duplicates)"
    )
    assert seen + rest.messages >= projected.messages
    assert _snapshot(settings) == _snapshot(projected.settings)
    if not settings.clickhouse_url:
        shutil.rmtree(settings.data_dir, ignore_errors=True)


class _CrashingInsert:
    """A ClickHouse whose insert into ``fail_on`` writes part of the rows, then fails: a
    crash between two tables' inserts and in the middle of one (chdb splits a very large
    insert into several statements). Append-only tables get their first half (a split
    keeps row order); current-state tables every other row (any subset of rows can be
    there: each row, or each stream's only row, is its own gate)."""

    def __init__(self, ch: ClickHouse) -> None:
        self.ch = ch
        self.fail_on: str | None = None

    def insert(self, table: str, columns: Any, rows: Any) -> None:
        if table == self.fail_on:
            self.fail_on = None
            part = rows[: len(rows) // 2] if table in ("events", "alerts") else rows[::2]
            self.ch.insert(table, columns, part)
            raise ClickHouseError(f"simulated crash while inserting into {table}")
        self.ch.insert(table, columns, rows)

    def prepare_inserts(self, inserts: Sequence[Insert]) -> Prepared:
        return Prepared(tuple(inserts))  # kept as they are, for insert_prepared below

    def insert_prepared(self, prepared: Prepared) -> None:
        for table, columns, rows in prepared.statements:
            self.insert(table, columns, rows)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.ch, name)


def _cloudevents(world: World) -> list[bytes]:
    """The store's events as the relay publishes them, in store order."""
    return [m.value for m in stored_cloudevents(world.app.stored_rows(), "test-hall")]


def test_a_failed_batch_retried_leaves_nothing_behind(
    projected: Projected, world: World, tmp_path: Path
) -> None:
    """Each batch fails once in a different table (half its rows written), is retried
    from hydrated state, and the tables still equal the Kafka-fed ones."""
    settings = fresh_clickhouse(
        projected.settings, projected.backend, tmp_path, projected.settings.clickhouse_url
    )
    if settings.clickhouse_url:
        projected.cleanup.append(settings.clickhouse_url)
    ch = open_writer(settings.clickhouse_target)
    try:
        migrate(ch)
        flaky = _CrashingInsert(ch)
        runner = ProjectionRunner(flaky, consumer=None)  # type: ignore[arg-type]
        values = _cloudevents(world)
        tables = list(TABLES)
        size = len(values) // len(tables) + 1
        failed = []
        for i, start in enumerate(range(0, len(values), size)):
            batch = values[start : start + size]
            flaky.fail_on = tables[i % len(tables)]
            try:
                runner.project(batch)
            except ClickHouseError:
                failed.append(tables[i % len(tables)])
                runner.reset()  # what run_once does before the batch is read again
                runner.project(batch)
    finally:
        ch.close()
    assert {"events", "alerts", "steps", "ratings", "cases"} <= set(failed)
    assert _snapshot(settings) == _snapshot(projected.settings)
