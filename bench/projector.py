"""Projector throughput beside a raw chdb insert of the same rows, and freshness.

Throughput. Setup (not timed): ingest generated records into a fresh SQLite
store and write the CloudEvents the relay would publish to a file. Each side
then runs in its own process (chdb allows one database per process), reads
the file and works through it in batches of 10,000 messages (the projector's
batch):

* raw: plain chdb (``chdb.session``, no WAL), parse each message, insert its
  ``events`` row (one row per event, the same columns) with one
  ``INSERT … FORMAT JSONCompactColumns`` per batch;
* hallwatch: the projector's own loop (``ProjectionRunner.run``: poll, parse,
  gate on stream versions, hydrate, build and encode the rows of all seven
  tables, insert them in the writer thread while the next batch is built,
  commit) on the embedded backend (``chdb.durable``: every insert is logged, each
  batch published to readers as one log segment, checkpoints as they fall due,
  and the closing one), fed from a topic held in memory: Kafka is not in this
  figure (the relay bench measures the broker).

Freshness: a local broker, a ``hallwatch project`` process and an outbox relay
run as in production on the store of the throughput run (~100k events are
relayed and projected first); then single records are committed every 250 ms
and a read-only reader in another process (the dashboard's way in, default
refresh) polls for each one's event. Freshness = the moment the reader sees it minus
the moment the broker acknowledged it to the relay.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console

from bench.relay import acking_relay, free_port
from bench.report import Row
from domain.catalogue import parse_catalogue, sample_catalogue_path
from infra.settings import Settings
from infra.simulate import generate_records
from infra.wiring import open_app
from streams.cloudevents import stored_cloudevents

console = Console(stderr=True)
BATCH = 10_000
ROOT = Path(__file__).resolve().parents[1]
EVENT_COLUMNS = (
    "event_id", "stream_id", "stream_kind", "version", "type", "subject", "department",
    "item_code", "occurred_at", "recorded_at", "data", "chain_hash",
)  # fmt: skip
RAW_DDL = """
CREATE TABLE IF NOT EXISTS events
(
    event_id String, stream_id String, stream_kind String, version UInt32, type String,
    subject String, department String, item_code String,
    occurred_at DateTime('Asia/Shanghai'), recorded_at DateTime('Asia/Shanghai'),
    data String, chain_hash String
)
ENGINE = ReplacingMergeTree() ORDER BY (stream_id, version, event_id)
"""


def write_messages(work: Path, events: int) -> tuple[Path, int]:
    """A fresh store of about ``events`` events; their CloudEvents, one per line."""
    app = open_app(Settings(data_dir=work / "store", secret_key=b"k" * 32))
    try:
        app.load_catalogue(parse_catalogue(sample_catalogue_path()), "sample")
        recs = generate_records(cases=max(1, events // 11), start=date(2026, 3, 2), seed=7)
        lines = [orjson.dumps(r) for r in recs]
        for i in range(0, len(lines), 1000):
            app.ingest(lines[i : i + 1000])
        path = work / "messages.jsonl"
        n = 0
        with path.open("wb") as f:
            for msg in stored_cloudevents(app.stored_rows(), "bench"):
                f.write(msg.value + b"\n")
                n += 1
        return path, n
    finally:
        app.close()


# --------------------------------------------------------------------------- the two sides


def _read(path: Path) -> list[bytes]:
    with path.open("rb") as f:
        return [line.rstrip(b"\n") for line in f if line.strip()]


def _raw(messages: list[bytes], folder: Path) -> float:
    from chdb import session

    s: Any = session.Session(str(folder))  # type: ignore[no-untyped-call]
    s.query(RAW_DDL)
    started = time.perf_counter()
    for i in range(0, len(messages), BATCH):
        rows = []
        for m in messages[i : i + BATCH]:
            ce = orjson.loads(m)
            rows.append(
                (
                    ce["id"],
                    ce["streamid"],
                    ce["streamkind"],
                    int(ce["streamversion"]),
                    ce["type"],
                    ce["subject"],
                    ce.get("department", ""),
                    ce.get("itemcode", ""),
                    ce["time"],
                    ce.get("recordedtime", ce["time"]),
                    orjson.dumps(ce.get("data")).decode(),
                    ce.get("chainhash", ""),
                )
            )
        payload = orjson.dumps(list(zip(*rows, strict=True))).decode()
        s.query(
            f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) SETTINGS "
            f"date_time_input_format = 'best_effort' FORMAT JSONCompactColumns {payload}"
        )
    elapsed = time.perf_counter() - started
    count = s.query("SELECT count() FROM events", "CSV").bytes().strip()
    assert int(count) == len(messages), count
    s.close()
    return elapsed


def _hallwatch(messages: list[bytes], folder: Path) -> float:
    from projections.clickhouse import ChdbBackend
    from projections.migrations import migrate
    from projections.runner import MemoryTopic, ProjectionRunner

    ch = ChdbBackend(folder)
    migrate(ch)
    topic = MemoryTopic(messages)
    runner = ProjectionRunner(ch, topic, max_records=BATCH, max_wait=0.01)
    started = time.perf_counter()
    runner.run(until_idle=True, idle_seconds=0.0)
    runner.close()
    ch.close()  # publishes what is pending
    elapsed = time.perf_counter() - started
    assert topic.committed == len(messages), (topic.committed, len(messages))
    check = ChdbBackend(folder, read_only=True)
    n = check.query("SELECT count() FROM events FINAL")[0][0]
    check.close()
    assert n == len(messages), n
    return elapsed


def _child(side: str, path: Path, folder: Path) -> float:
    """Run one side in a fresh process; its seconds."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.projector", side, str(path), str(folder)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{side} side failed:\n{out.stderr[-3000:]}")
    return float(json.loads(out.stdout.strip().splitlines()[-1])["seconds"])


# --------------------------------------------------------------------------- freshness


class _Probes:
    """Complaints filed one by one, and when each became queryable in another process."""

    def __init__(self, app: Any, reader_path: Path) -> None:
        self.app = app
        self.reader_path = reader_path
        self.reader: Any = None
        self.seen: dict[str, float] = {}

    def file(self, i: int) -> str:
        """Ingest probe ``i``; its event's CloudEvent id."""
        from domain.model import stream_id
        from streams.cloudevents import event_id

        rid = f"FRESH{i:05d}"
        rec = {
            "record_id": rid, "kind": "complaint_filed", "at": "2026-03-02T09:00:00+08:00",
            "recorded_at": "2026-03-02T09:00:00+08:00", "complaint_id": rid,
            "department": "公安局", "channel": "hotline", "content": "freshness probe",
        }  # fmt: skip
        self.app.ingest([orjson.dumps(rec)])
        return event_id(stream_id("complaint", rid), 1)

    def look(self, ids: list[str]) -> None:
        """Note the first time each of ``ids`` is queryable (opening the reader if needed)."""
        from projections.clickhouse import ChdbBackend, quote_all

        if self.reader is None:
            self.reader = ChdbBackend(self.reader_path, read_only=True)
        now = time.perf_counter()
        for (eid,) in self.reader.query(
            f"SELECT event_id FROM events WHERE event_id IN ({quote_all(ids)})"
        ):
            self.seen.setdefault(eid, now)

    def warm_up(self) -> str:
        """The first probe: the group join, the first insert, the reader's first open."""
        from projections.clickhouse import ClickHouseError

        warm = self.file(0)
        deadline = time.monotonic() + 300
        while warm not in self.seen:
            if time.monotonic() > deadline:
                raise RuntimeError("the projector never made the first event queryable")
            with contextlib.suppress(ClickHouseError):
                self.look([warm])
            time.sleep(0.05)
        return warm

    def run(self, probes: int) -> None:
        """A probe every 250 ms; look for the pending ones every 20 ms."""
        pending: list[str] = []
        next_probe = time.perf_counter()
        i = 1
        deadline = time.monotonic() + probes * 0.25 + 60
        while (i <= probes or pending) and time.monotonic() < deadline:
            if i <= probes and time.perf_counter() >= next_probe:
                pending.append(self.file(i))
                i += 1
                next_probe += 0.25
            self.look(pending)
            pending = [p for p in pending if p not in self.seen]
            time.sleep(0.02)

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()


def _freshness(work: Path, probes: int = 120) -> tuple[float, float]:
    """(p50, p95) seconds from the broker's ack of an event to a reader seeing it."""
    from infra.broker import BrokerConfig, LocalBroker

    broker = LocalBroker(
        BrokerConfig(data_dir=work / "broker", kafka_port=free_port(), s3_port=free_port())
    )
    broker.start()
    servers = broker.bootstrap_servers
    data = work / "store"  # the ~100k events of the throughput run come first
    settings = Settings(data_dir=data, secret_key=b"k" * 32, kafka_bootstrap=servers)
    env = {
        **os.environ,
        "HALLWATCH_DATA_DIR": str(data),
        "HALLWATCH_SECRET_KEY": "6b" * 32,
        "HALLWATCH_KAFKA_BOOTSTRAP": servers,
    }
    projector = subprocess.Popen(
        [sys.executable, "-m", "infra.cli", "project"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    app = open_app(settings)
    relay, acked = acking_relay(app, servers, settings.events_topic, "freshness")
    stop = threading.Event()
    t = threading.Thread(target=relay.run, args=(stop,), daemon=True)
    t.start()
    watch = _Probes(app, settings.clickhouse_path)
    try:
        warm = watch.warm_up()
        watch.run(probes)
    finally:
        stop.set()
        t.join(10)
        watch.close()
        projector.terminate()
        projector.wait(30)
        app.close()
        broker.stop()
    lat = sorted(watch.seen[e] - acked[e] for e in watch.seen if e in acked and e != warm)
    if len(lat) < probes:
        return float("inf"), float("inf")
    return statistics.median(lat), lat[int(0.95 * (len(lat) - 1))]


def run_projector(*, events: int, repeat: int) -> list[Row]:
    work = Path(tempfile.mkdtemp(prefix="hallwatch-bench-projector-"))
    try:
        console.print(f"storing about {events:,} events …")
        path, n = write_messages(work, events)
        raw_t: list[float] = []
        hw_t: list[float] = []
        for i in range(repeat):
            raw_t.append(_child("raw", path, work / f"raw-{i}"))
            hw_t.append(_child("hallwatch", path, work / f"hw-{i}" / "clickhouse"))
            console.print(
                f"run {i + 1}: raw chdb {n / raw_t[-1]:,.0f} ev/s, "
                f"projector {n / hw_t[-1]:,.0f} ev/s"
            )
        console.print("freshness: local broker, projector process, relay, reader …")
        p50, p95 = _freshness(work)
        console.print(f"freshness p50 {p50 * 1000:,.0f} ms, p95 {p95 * 1000:,.0f} ms")
        return [
            Row(
                name=f"projector, {n:,} events, 7 tables, chdb",
                unit="ev/s",
                value=n / statistics.median(hw_t),
                baseline_name="raw chdb insert of the events rows",
                baseline=n / statistics.median(raw_t),
                min_value=20_000,
                min_ratio=0.3,
                note=f"batches of {BATCH:,}; durable (logged, published) vs plain chdb",
            ),
            Row(
                name="freshness p95, relay ack to queryable",
                unit="ms",
                value=p95 * 1000,
                baseline_name="target",
                baseline=2000.0,
                max_value=2000.0,
                note=f"p50 {p50 * 1000:,.0f} ms; 120 probes 250 ms apart; reader in own process",
            ),
        ]
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    side, path, folder = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    messages = _read(path)
    seconds = _raw(messages, folder) if side == "raw" else _hallwatch(messages, folder)
    print(json.dumps({"seconds": seconds, "at": datetime.now().isoformat()}))


if __name__ == "__main__":
    main()
