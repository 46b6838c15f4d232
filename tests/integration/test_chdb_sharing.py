"""One chdb writer process and readers in other processes, on one folder (chdb.durable).

A plain chdb data path is locked by the first process that opens it; the
durable folder lets a writer publish while other processes (CLI, dashboard)
read what it published, a moment later.
"""

from __future__ import annotations

import multiprocessing as mp
import statistics
import time
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import pytest

from projections.clickhouse import ChdbBackend, ClickHouseError
from projections.migrations import MIGRATIONS_DIR, migrate

SPAWN = mp.get_context("spawn")


def _writer(path: str, ready: Event, stop: Event, result: Any) -> None:
    """Insert one tick every 0.1 s until told to stop; checkpoint and sweep often, so readers
    meet files disappearing under them."""
    try:
        ch = ChdbBackend(Path(path), max_wal_segments=10, gc_grace=0.3)
        migrate(ch)
        ch.execute("CREATE TABLE ticks (n UInt64, written_ms UInt64) ENGINE = Log")
        ready.set()
        n = 0
        while not stop.is_set():
            n += 1
            ch.insert("ticks", ["n", "written_ms"], [(n, int(time.time() * 1000))])
            time.sleep(0.1)
        ch.close()
        result.put(("ok", n))
    except BaseException as e:  # report instead of dying silently
        ready.set()
        result.put(("error", repr(e)))


def _second_writer(path: str, result: Any) -> None:
    try:
        ChdbBackend(Path(path)).close()
        result.put("opened")
    except ClickHouseError as e:
        result.put(str(e))


def _plain_open(path: str, result: Any) -> None:
    """What a second process gets from a plain (non-durable) chdb path held by another one."""
    from chdb.state import sqlitelike

    try:
        sqlitelike.connect(f"{path}?mode=ro").close()
        result.put("opened")
    except Exception as e:
        result.put(str(e))


def test_reader_process_sees_rows_a_writer_process_keeps_inserting(tmp_path: Path) -> None:
    path = tmp_path / "clickhouse"
    ready, stop, result = SPAWN.Event(), SPAWN.Event(), SPAWN.Queue()
    writer = SPAWN.Process(target=_writer, args=(str(path), ready, stop, result))
    writer.start()
    try:
        assert ready.wait(60), "the writer did not start"
        assert result.empty(), result.get()

        # A second writer is refused while the lease is held, with a clear reason.
        other: Any = SPAWN.Queue()
        p = SPAWN.Process(target=_second_writer, args=(str(path), other))
        p.start()
        p.join(60)
        assert "being written by another process" in other.get(timeout=5)

        reader = ChdbBackend(path, read_only=True, refresh_interval=0.2)
        lags, seen, opens = [], [], []
        try:
            deadline = time.monotonic() + 6
            while time.monotonic() < deadline:
                t0 = time.perf_counter()
                reopened = reader.refresh()
                if reopened:
                    opens.append(time.perf_counter() - t0)
                n, written_ms = reader.query("SELECT max(n), max(written_ms) FROM ticks")[0]
                if not seen or n > seen[-1]:
                    seen.append(n)
                    lags.append(time.time() * 1000 - written_ms)
                time.sleep(0.2)
            with pytest.raises(ClickHouseError, match="read-only"):
                reader.insert("ticks", ["n", "written_ms"], [(0, 0)])
            # Between checkpoints a refresh replays only the new log segments; a new
            # checkpoint (every 10 segments here) means a full reload.
            assert reader.catch_ups > reader.reloads > 0, (reader.catch_ups, reader.reloads)
        finally:
            reader.close()
    finally:
        stop.set()
        writer.join(60)
    status, total = result.get(timeout=5)
    assert status == "ok", total

    print(
        f"\nreader saw {len(seen)} increments up to n={seen[-1]} of {total}; "
        f"lag median {statistics.median(lags):.0f} ms, max {max(lags):.0f} ms; "
        f"reopen median {statistics.median(opens) * 1000:.0f} ms, max {max(opens) * 1000:.0f} ms"
    )
    assert len(seen) >= 10  # it kept up with new rows, not one snapshot
    assert max(lags[1:]) < 2000  # each new row visible within ~2 s of its insert

    # Superseded checkpoints and WAL segments were swept (~60 published), not kept forever:
    # what is left is the current WAL and base plus one batch still in its grace period.
    kept = [f for sub in ("wal", "checkpoints") for f in (path / sub).glob("*")]
    assert len(kept) <= 25, sorted(f.name for f in kept)

    final = ChdbBackend(path, read_only=True)
    try:
        assert final.query("SELECT count(), max(n) FROM ticks") == [(total, total)]
        shipped = len(list(MIGRATIONS_DIR.glob("*.sql")))
        assert final.query("SELECT count() FROM schema_migrations") == [(shipped,)]
    finally:
        final.close()


def test_a_plain_chdb_path_is_locked_by_its_process(tmp_path: Path) -> None:
    """Why the durable folder is needed: even read-only, a second process cannot open the path."""
    from chdb.state import sqlitelike

    path = tmp_path / "plain"
    conn = sqlitelike.connect(str(path))
    try:
        conn.query("CREATE TABLE t (k UInt8) ENGINE = MergeTree() ORDER BY k")
        result: Any = SPAWN.Queue()
        p = SPAWN.Process(target=_plain_open, args=(str(path), result))
        p.start()
        p.join(60)
        assert result.get(timeout=5) != "opened"
    finally:
        conn.close()


def test_a_reader_needs_a_folder_a_writer_created(tmp_path: Path) -> None:
    with pytest.raises(ClickHouseError, match=r"a writer .* must create it first"):
        ChdbBackend(tmp_path / "nothing", read_only=True)
    writer = ChdbBackend(tmp_path / "clickhouse")
    writer.close()
    reader = ChdbBackend(tmp_path / "clickhouse", read_only=True)
    try:
        assert reader.query("SELECT 1") == [(1,)]
    finally:
        reader.close()
