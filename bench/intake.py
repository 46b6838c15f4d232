"""Intake throughput on SQLite beside a raw SQLite insert of the same rows.

Both sides read the same JSON Lines file and commit in batches of the same
size to a SQLite file in WAL mode; the raw side only inserts each line as a
row keyed by its record id, hallwatch validates, applies the domain rules,
hash-chains and stores every resulting event.
"""

from __future__ import annotations

import gc
import shutil
import sqlite3
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

import orjson
from rich.console import Console

from bench.report import Row
from domain.catalogue import parse_catalogue, sample_catalogue_path
from infra.settings import Settings
from infra.simulate import generate_records, write_jsonl
from infra.tuning import tune_for_intake
from infra.wiring import open_app

console = Console(stderr=True)


def _lines(path: Path) -> list[bytes]:
    with path.open("rb") as f:
        return [line.rstrip(b"\n") for line in f if line.strip()]


def raw_sqlite(path: Path, workdir: Path, batch_size: int) -> float:
    """Seconds to insert every line as (record_id, body) rows, batch per transaction."""
    db = workdir / "raw.sqlite3"
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE records (record_id TEXT PRIMARY KEY, body BLOB)")
    started = time.perf_counter()
    lines = _lines(path)
    for i in range(0, len(lines), batch_size):
        chunk = lines[i : i + batch_size]
        rows = [(orjson.loads(line)["record_id"], line) for line in chunk]
        con.execute("BEGIN")
        con.executemany("INSERT INTO records VALUES (?, ?)", rows)
        con.execute("COMMIT")
    elapsed = time.perf_counter() - started
    con.close()
    return elapsed


def hallwatch_sqlite(path: Path, workdir: Path, batch_size: int) -> tuple[float, int]:
    """Seconds for hallwatch's intake of the same file (the ``hallwatch ingest`` loop)."""
    settings = Settings(data_dir=workdir / "hw", secret_key=b"k" * 32, batch_size=batch_size)
    before = gc.get_threshold()
    tune_for_intake()  # exactly what `hallwatch ingest` does
    app = open_app(settings)
    app.load_catalogue(parse_catalogue(sample_catalogue_path()), "sample")
    started = time.perf_counter()
    lines = _lines(path)
    refused = 0
    for i in range(0, len(lines), batch_size):
        outcomes = app.ingest(lines[i : i + batch_size])
        refused += sum(1 for o in outcomes if o.status == "refused")
    elapsed = time.perf_counter() - started
    app.close()
    gc.set_threshold(*before)
    return elapsed, refused


def run_intake(*, records: int, repeat: int, batch_size: int) -> list[Row]:
    work = Path(tempfile.mkdtemp(prefix="hallwatch-bench-"))
    try:
        console.print(f"generating about {records:,} intake records …")
        recs = generate_records(cases=max(1, records // 10), start=date(2026, 3, 2), seed=11)
        recs = recs[:records]
        data = work / "records.jsonl"
        write_jsonl(recs, data)
        n = len(recs)
        raw_times: list[float] = []
        hw_times: list[float] = []
        refused = 0
        for i in range(repeat):
            run = work / f"run{i}"
            run.mkdir()
            raw_times.append(raw_sqlite(data, run, batch_size))
            t, refused = hallwatch_sqlite(data, run, batch_size)
            hw_times.append(t)
            console.print(
                f"run {i + 1}: raw {n / raw_times[-1]:,.0f} rec/s, "
                f"hallwatch {n / t:,.0f} rec/s ({refused} refused)"
            )
            shutil.rmtree(run)
        raw_rate = n / statistics.median(raw_times)
        hw_rate = n / statistics.median(hw_times)
        return [
            Row(
                name=f"intake, {n:,} records, SQLite",
                unit="rec/s",
                value=hw_rate,
                baseline_name="raw SQLite insert",
                baseline=raw_rate,
                min_value=5000,
                min_ratio=0.10,
                note=f"{refused} refused; batch {batch_size}",
            )
        ]
    finally:
        shutil.rmtree(work, ignore_errors=True)
