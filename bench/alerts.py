"""Alert latency with 100k open cases, beside a raw SQLite insert of the same alert rows.

Setup (not timed): 100k cases submitted and accepted, their due dates scattered
over the following weeks, 10,000 of them sharing one due date (a midnight at
which 10,000 pass at once).  The alerter runs on a simulated clock that jumps to
each deadline instant, so the wall time it then takes to record the alerts is
exactly the latency a real deployment would see after waking at the deadline.
Latency of an alert = wall time from the deadline instant to the commit holding it.
"""

from __future__ import annotations

import shutil
import sqlite3
import statistics
import tempfile
import time
from datetime import date, datetime
from pathlib import Path

import orjson
from rich.console import Console

from bench.report import Row
from domain import clock
from domain.application import Hallwatch
from domain.calendar import WorkCalendar
from domain.catalogue import parse_catalogue, sample_catalogue_path
from infra.settings import Settings
from infra.tuning import tune_for_intake
from infra.wiring import open_app
from streams.alerter import Alerter

console = Console(stderr=True)
ITEM = "SCJG-003"


class _Sim:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _records(cases: int, burst: int, cal: WorkCalendar) -> list[bytes]:
    start = date(2026, 3, 2)
    out: list[bytes] = []
    for i in range(cases):
        day = start if i < burst else cal.add_working_days(start, 1 + (i % 40))
        t = f"{day.isoformat()}T09:00:00+08:00"
        cid = f"AL{i:07d}"
        base = {"at": t, "recorded_at": t, "source": "bench", "case_id": cid}
        out.append(
            orjson.dumps(
                {
                    **base,
                    "record_id": f"{cid}-s",
                    "kind": "submitted",
                    "item_code": ITEM,
                    "channel": "web",
                    "applicant_kind": "person",
                    "applicant_name": "张三",
                    "applicant_id": "x",
                    "town": "南城街道",
                }
            )
        )
        out.append(
            orjson.dumps(
                {**base, "record_id": f"{cid}-a", "kind": "accepted", "receipt_no": f"SL{cid}"}
            )
        )
    return out


def _percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))]


def run_alerts(*, cases: int = 100_000, burst: int = 10_000) -> list[Row]:
    work = Path(tempfile.mkdtemp(prefix="hallwatch-bench-alerts-"))
    try:
        app = open_app(Settings(data_dir=work / "hw", secret_key=b"k" * 32))
        try:
            scattered, burst_latency = _fire_all(app, cases, burst)
        finally:
            app.close()
        raw_burst = _raw_burst(work, burst)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    p99 = _percentile(scattered, 0.99)
    burst_s = max(burst_latency) if burst_latency else float("nan")
    return [
        Row(
            name=f"alert latency p99, scattered deadlines, {cases:,} open cases",
            unit="ms",
            value=p99 * 1000,
            baseline_name="target",
            baseline=1000.0,
            note=f"median {statistics.median(scattered) * 1000:.0f} ms over "
            f"{len(scattered):,} alerts; lower is better",
            max_value=1000.0,
        ),
        Row(
            name=f"alert latency, {burst:,} deadlines at one midnight",
            unit="ms",
            value=burst_s * 1000,
            baseline_name=f"raw SQLite insert of {burst:,} rows",
            baseline=raw_burst * 1000,
            max_value=10_000.0,
            note="lower is better; ratio = hallwatch / raw",
        ),
    ]


def _fire_all(app: Hallwatch, cases: int, burst: int) -> tuple[list[float], list[float]]:
    """Store the open cases, then step simulated time from deadline to deadline: the
    seconds each scattered alert took to be recorded, and each burst's."""
    app.load_catalogue(parse_catalogue(sample_catalogue_path()), "sample")
    console.print(f"storing {cases:,} open cases …")
    tune_for_intake()
    lines = _records(cases, burst, app.calendar)
    for i in range(0, len(lines), 2000):
        app.ingest(lines[i : i + 2000])
    sim = _Sim(datetime(2026, 3, 2, 12, tzinfo=clock.SHANGHAI))
    alerter = Alerter(app, clock=sim)
    started = time.perf_counter()
    alerter.start()
    console.print(
        f"schedule of {alerter.stats.scheduled:,} deadlines built in "
        f"{time.perf_counter() - started:.1f} s"
    )
    burst_latency: list[float] = []
    scattered: list[float] = []
    instants = 0
    while (nxt := alerter.next_due()) is not None and instants < 200:
        sim.now = nxt
        t0 = time.perf_counter()
        raised = alerter.fire(nxt)
        took = time.perf_counter() - t0
        instants += 1
        if raised >= burst:
            burst_latency.append(took)
        elif raised:
            scattered.extend([took] * raised)
    console.print(f"{alerter.stats.raised:,} alerts at {instants} deadline instants")
    return scattered, burst_latency


def _raw_burst(work: Path, burst: int) -> float:
    """Raw baseline: the same number of alert rows inserted straight into SQLite."""
    raw = sqlite3.connect(work / "raw.sqlite3", isolation_level=None)
    raw.execute("PRAGMA journal_mode=WAL")
    raw.execute("CREATE TABLE alerts (id TEXT PRIMARY KEY, body BLOB)")
    rows = [(f"a{i}", b"x" * 400) for i in range(burst)]
    t0 = time.perf_counter()
    raw.execute("BEGIN")
    raw.executemany("INSERT INTO alerts VALUES (?, ?)", rows)
    raw.execute("COMMIT")
    took = time.perf_counter() - t0
    raw.close()
    return took
