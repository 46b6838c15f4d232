"""The ClickHouse layer on both backends: embedded chdb and Debian's clickhouse-server (18.16).

Every test runs twice, once per backend, with the same SQL. The server is a
private one started by ``infra/scripts/clickhouse-server.sh`` for the session
(installing the package when missing); if it cannot be had the tests fail.
``HALLWATCH_TEST_CLICKHOUSE`` may name an existing server instead.
"""

from __future__ import annotations

import hashlib
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from projections.clickhouse import (
    SHANGHAI,
    ChdbBackend,
    ClickHouse,
    ClickHouseError,
    ServerBackend,
    connect,
    quote,
)
from projections.migrations import MIGRATIONS_DIR, MigrationError, migrate, split_statements

EVENT_COLUMNS = [
    "event_id", "stream_id", "stream_kind", "version", "type", "subject", "department",
    "item_code", "occurred_at", "recorded_at", "data", "chain_hash",
]  # fmt: skip


@pytest.fixture(params=["chdb", "server"])
def ch(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ClickHouse]:
    """A fresh, empty ClickHouse of each kind: a chdb folder, or a new database on the server."""
    if request.param == "chdb":
        backend: ClickHouse = ChdbBackend(tmp_path / "clickhouse")
        try:
            yield backend
        finally:
            backend.close()
        return
    base = request.getfixturevalue("clickhouse_server").rsplit("/", 1)[0]
    name = f"hallwatch_test_{uuid.uuid4().hex[:12]}"
    backend = ServerBackend(f"{base}/{name}")
    try:
        yield backend
    finally:
        backend.execute(f"DROP DATABASE IF EXISTS {name}")
        backend.close()


def _reopen(ch: ClickHouse, *, read_only: bool = False) -> ClickHouse:
    """The same database through a new connection (the old one is closed)."""
    ch.close()
    if isinstance(ch, ChdbBackend):
        return ChdbBackend(ch.path, read_only=read_only)
    assert isinstance(ch, ServerBackend)
    return connect(ch.url, read_only=read_only)


def _event(event_id: str, stream: str = "DG2026030200001", version: int = 1, **kw: Any) -> tuple:
    t = kw.get("occurred_at", datetime(2026, 3, 2, 9, 0, tzinfo=SHANGHAI))
    return (
        event_id, stream, "case", version, "gov.hallwatch.case.accepted", stream,
        kw.get("department", "市场监督管理局"), "SCJG-002", t, t + timedelta(seconds=3),
        '{"item":"食品经营许可"}', "ab" * 32,
    )  # fmt: skip


# --------------------------------------------------------------------------- migrations


def test_migrate_applies_every_migration_once(ch: ClickHouse) -> None:
    shipped = sorted(p.stem for p in MIGRATIONS_DIR.glob("*.sql"))
    assert migrate(ch) == shipped
    assert migrate(ch) == []
    again = _reopen(ch)
    try:
        assert migrate(again) == []
        rows = again.query("SELECT version, name, checksum FROM schema_migrations FINAL")
    finally:
        again.close()
    digest = hashlib.sha256((MIGRATIONS_DIR / "0001_events.sql").read_bytes()).hexdigest()
    assert sorted(rows)[0] == (1, "0001_events", digest)
    assert [r[1] for r in sorted(rows)] == shipped
    ch = _reopen(ch)
    cols = ch.query_dicts(
        "SELECT name, type FROM system.columns WHERE database = currentDatabase() "
        "AND table = 'events' ORDER BY name"
    )
    types = {c["name"]: c["type"] for c in cols}
    assert types["occurred_at"] == "DateTime('Asia/Shanghai')"
    assert types["version"] == "UInt32"
    assert sorted(types) == sorted(EVENT_COLUMNS)
    ch.close()


def test_an_edited_applied_migration_is_refused(ch: ClickHouse, tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    shutil.copy(MIGRATIONS_DIR / "0001_events.sql", folder)  # a folder of this test's own
    extra = folder / "0002_counts.sql"
    extra.write_text(
        "-- two statements in one file\n"
        "CREATE TABLE IF NOT EXISTS daily (day Date, n UInt64)\n"
        "ENGINE = MergeTree() PARTITION BY toYYYYMM(day) ORDER BY day;\n"
        "CREATE TABLE IF NOT EXISTS monthly (month UInt32, n UInt64)\n"
        "ENGINE = MergeTree() ORDER BY month;\n",
        encoding="utf-8",
    )
    assert migrate(ch, folder) == ["0001_events", "0002_counts"]
    tables = {r[0] for r in ch.query("SHOW TABLES")}
    assert {"events", "daily", "monthly", "schema_migrations"} <= tables

    extra.write_text(extra.read_text(encoding="utf-8") + "-- a harmless-looking edit\n")
    (folder / "0003_more.sql").write_text(
        "CREATE TABLE IF NOT EXISTS more (k String) ENGINE = MergeTree() ORDER BY k;\n"
    )
    with pytest.raises(MigrationError, match=r"0002_counts\.sql.*never edit an applied migration"):
        migrate(ch, folder)
    assert "more" not in {r[0] for r in ch.query("SHOW TABLES")}


def test_split_statements() -> None:
    sql = "-- note\nCREATE TABLE a (x String)\nENGINE = Memory;\n\n-- end\nSELECT ';'\n;\n-- only\n"
    assert split_statements(sql) == [
        "-- note\nCREATE TABLE a (x String)\nENGINE = Memory",
        "-- end\nSELECT ';'",
    ]


# --------------------------------------------------------------------------- values

TYPES_DDL = """
CREATE TABLE IF NOT EXISTS typed
(
    k    UInt32,
    s    String,
    ns   Nullable(String),
    lc   LowCardinality(String),
    i    Int64,
    u    UInt64,
    f    Float64,
    b    UInt8,
    d    Date,
    nd   Nullable(Date),
    t    DateTime('Asia/Shanghai'),
    nt   Nullable(DateTime('Asia/Shanghai')),
    ms   UInt64
)
ENGINE = MergeTree() PARTITION BY toYYYYMM(d) ORDER BY k
"""
TYPED = ["k", "s", "ns", "lc", "i", "u", "f", "b", "d", "nd", "t", "nt", "ms"]


def test_every_column_type_round_trips(ch: ClickHouse) -> None:
    ch.execute(TYPES_DDL)
    aware = datetime(2026, 3, 31, 23, 30, 0, tzinfo=SHANGHAI)  # still March in Shanghai
    utc = datetime(2026, 3, 31, 16, 30, 0, tzinfo=UTC)  # 00:30 on 1 April in Shanghai
    naive = datetime(2026, 2, 17, 8, 0, 0)  # taken as Shanghai wall time
    rows = [
        (1, "市场监督管理局", "补正材料：营业执照", "网上办理", -(2**63), 2**64 - 1, 0.1, True,
         date(2026, 3, 2), date(2026, 10, 8), aware, utc, 1772413200123),
        (2, "It's a \\ test\n\t'; DROP TABLE typed; --", None, "窗口", 0, 0, -1.5e300, False,
         date(1970, 1, 2), None, naive, None, 0),
    ]  # fmt: skip
    ch.insert("typed", TYPED, rows)
    got = ch.query(f"SELECT {', '.join(TYPED)} FROM typed ORDER BY k")
    expected = [list(r) for r in rows]
    expected[0][7] = 1
    expected[1][7] = 0
    expected[1][10] = naive.replace(tzinfo=SHANGHAI)
    assert [list(r) for r in got] == expected
    for r in got:
        for v in (r[10], r[11]):
            assert v is None or (isinstance(v, datetime) and v.tzinfo == SHANGHAI)
    assert got[0][11].hour == 0 and got[0][11].day == 1  # shown in the column's zone

    # ClickHouse itself sees Shanghai wall time and months.
    seen = ch.query(
        "SELECT toString(t), toYYYYMM(t), toYYYYMM(nt), toDate(t), toUnixTimestamp(t) "
        "FROM typed WHERE k = 1"
    )
    assert seen == [("2026-03-31 23:30:00", 202603, 202604, date(2026, 3, 31), 1774971000)]
    dicts = ch.query_dicts("SELECT k, ns, nd FROM typed ORDER BY k")
    assert dicts == [
        {"k": 1, "ns": "补正材料：营业执照", "nd": date(2026, 10, 8)},
        {"k": 2, "ns": None, "nd": None},
    ]


def test_duplicate_events_count_once(ch: ClickHouse) -> None:
    migrate(ch)
    first, other = _event("ev-1"), _event("ev-2", version=2)
    ch.insert("events", EVENT_COLUMNS, [first, other])
    ch.insert("events", EVENT_COLUMNS, [first])  # re-delivered by Kafka
    ch.insert("events", EVENT_COLUMNS, [first])
    # The bare table may still hold copies (merges are eventual): never count it raw.
    assert ch.query("SELECT count() FROM events")[0][0] >= 2
    assert ch.query("SELECT count() FROM events FINAL") == [(2,)]
    assert ch.query("SELECT uniqExact(event_id) FROM events") == [(2,)]
    one_each = ch.query(
        "SELECT event_id, any(version) FROM events GROUP BY event_id ORDER BY event_id"
    )
    assert one_each == [("ev-1", 1), ("ev-2", 2)]
    ch.execute("OPTIMIZE TABLE events FINAL")
    assert ch.query("SELECT count() FROM events") == [(2,)]


def test_aliased_subquery_join_works_on_both(ch: ClickHouse) -> None:
    migrate(ch)
    ch.insert("events", EVENT_COLUMNS, [_event("a"), _event("b", "DG2", department="公安局")])
    rows = ch.query(
        "SELECT s.department, s.n, c.n FROM "
        "(SELECT department, count() AS n FROM events FINAL GROUP BY department) AS s "
        "ALL LEFT JOIN "
        "(SELECT department, uniqExact(stream_id) AS n FROM events GROUP BY department) AS c "
        "USING (department) ORDER BY s.department"
    )
    assert rows == [("公安局", 1, 1), ("市场监督管理局", 1, 1)]


# --------------------------------------------------------------------------- quoting

NASTY = [
    "O'Brien",
    "a\\'b",
    "\\",
    "\\\\'",
    "'; DROP TABLE t; --",
    "x' OR '1'='1",
    "\\' OR 1=1 --",
    "中文\n换行\t制表\r回车",
    "nul\0byte",
    "{p:String} ? %s $1",
    "",
]


def test_quote_resists_injection(ch: ClickHouse) -> None:
    ch.execute("CREATE TABLE t (k UInt32, s String) ENGINE = MergeTree() ORDER BY k")
    ch.insert("t", ["k", "s"], list(enumerate(NASTY)))
    for k, value in enumerate(NASTY):
        assert ch.query(f"SELECT {quote(value)}") == [(value,)]
        assert ch.query(f"SELECT k FROM t WHERE s = {quote(value)}") == [(k,)]
    assert ch.query(f"SELECT count() FROM t WHERE s = {quote(NASTY[5])} OR 0") == [(1,)]
    assert ch.query("SELECT count() FROM t") == [(len(NASTY),)]


def test_quote_other_values(ch: ClickHouse) -> None:
    when = datetime(2026, 3, 2, 1, 0, 0, tzinfo=UTC)
    row = ch.query(
        f"SELECT {quote(None)}, {quote(True)}, {quote(False)}, {quote(-42)}, {quote(2.5)}, "
        f"{quote(date(2026, 3, 2))}, {quote(when)}, {quote(datetime(2026, 3, 2, 9, 0))}"
    )[0]
    assert row[:6] == (None, 1, 0, -42, 2.5, date(2026, 3, 2))
    assert row[6] == when and row[6].tzinfo == SHANGHAI and row[6].hour == 9
    assert row[7] == when
    with pytest.raises(TypeError):
        quote(b"bytes")


# --------------------------------------------------------------------------- behaviour


def test_inline_insert_is_refused_on_both(ch: ClickHouse) -> None:
    ch.execute("CREATE TABLE t (k UInt32) ENGINE = MergeTree() ORDER BY k")
    for sql in ("INSERT INTO t (k) VALUES (1)", "-- c\n insert into t format JSONEachRow {}"):
        with pytest.raises(ClickHouseError, match=r"use insert\("):
            ch.execute(sql)
    ch.execute("INSERT INTO t (k) SELECT number FROM system.numbers LIMIT 3")
    assert ch.query("SELECT sum(k) FROM t") == [(3,)]


def test_errors_are_clickhouse_errors(ch: ClickHouse) -> None:
    with pytest.raises(ClickHouseError, match="no_such_table"):
        ch.query("SELECT * FROM no_such_table")
    with pytest.raises(ClickHouseError):
        ch.insert("no_such_table", ["a"], [(1,)])
    with pytest.raises(ClickHouseError, match="row 1 has 1 values for 2 columns"):
        ch.insert("t", ["a", "b"], [(1, 2), (3,)])
    with pytest.raises(ClickHouseError, match="plain identifier"):
        ch.insert("t; DROP TABLE x", ["a"], [(1,)])
    assert ch.query("SELECT 1") == [(1,)]  # still usable


def test_read_only_connection_reads_but_refuses_writes(ch: ClickHouse) -> None:
    migrate(ch)
    ch.insert("events", EVENT_COLUMNS, [_event("e")])
    reader = _reopen(ch, read_only=True)
    try:
        assert reader.query("SELECT event_id FROM events FINAL") == [("e",)]
        with pytest.raises(ClickHouseError):
            reader.execute("CREATE TABLE x (k UInt8) ENGINE = MergeTree() ORDER BY k")
        with pytest.raises(ClickHouseError):
            reader.insert("events", EVENT_COLUMNS, [_event("f")])
    finally:
        reader.close()


def test_server_version_and_settings(ch: ClickHouse) -> None:
    version = ch.server_version()
    assert version >= (18, 16)
    if isinstance(ch, ServerBackend) and version < (19,):
        setting = "allow_experimental_low_cardinality_type"
        assert ch.query(f"SELECT value FROM system.settings WHERE name = '{setting}'") == [("1",)]


def test_one_insert_of_100k_rows_lands_whole(ch: ClickHouse) -> None:
    """One batched insert of 100k 10-column rows (its speed is measured in bench/, not here)."""
    ch.execute(
        "CREATE TABLE bulk (event_id String, stream_id String, version UInt32, type String, "
        "department String, occurred_at DateTime('Asia/Shanghai'), day Date, "
        "note Nullable(String), flag UInt8, ms UInt64) "
        "ENGINE = ReplacingMergeTree() PARTITION BY toYYYYMM(occurred_at) "
        "ORDER BY (stream_id, version, event_id)"
    )
    base = datetime(2026, 3, 1, 8, 0, tzinfo=SHANGHAI)
    rows = []
    for i in range(100_000):
        t = base + timedelta(seconds=i * 7)
        rows.append(
            (f"ev-{i:08d}", f"DG2026{i // 8:08d}", i % 8 + 1, "gov.hallwatch.case.accepted",
             "市场监督管理局", t, t.date(), None if i % 3 else "补正'\\说明", i % 2,
             int(t.timestamp() * 1000))
        )  # fmt: skip
    cols = ["event_id", "stream_id", "version", "type", "department", "occurred_at", "day",
            "note", "flag", "ms"]  # fmt: skip
    ch.insert("bulk", cols, rows)
    assert ch.query("SELECT count(), countIf(note IS NULL), max(version) FROM bulk") == [
        (100_000, 66_666, 8)
    ]
    assert ch.query("SELECT note FROM bulk WHERE event_id = 'ev-00000003'") == [("补正'\\说明",)]


def _files(folder: Path) -> set[str]:
    return {f.name for f in folder.iterdir()} if folder.is_dir() else set()


def test_a_batch_of_several_tables_is_published_as_one_log_segment(tmp_path: Path) -> None:
    """chdb: readers see a projector batch whole, and it costs one segment, not one per table."""
    ch = ChdbBackend(tmp_path / "clickhouse")
    try:
        ch.execute("CREATE TABLE a (k String, v UInt32) ENGINE = MergeTree() ORDER BY k")
        ch.execute(
            "CREATE TABLE b (k String, at DateTime('Asia/Shanghai')) "
            "ENGINE = MergeTree() ORDER BY k"
        )
        before = _files(tmp_path / "clickhouse" / "wal")
        at = datetime(2026, 3, 2, 9, 0, tzinfo=SHANGHAI)
        ch.insert_many(
            [("a", ["k", "v"], [("x", 1), ("y", 2)]), ("b", ["k", "at"], [("x", at)]),
             ("a", ["k", "v"], [])]
        )  # fmt: skip
        assert len(_files(tmp_path / "clickhouse" / "wal") - before) == 1
        assert ch.query("SELECT count() FROM a") == [(2,)]
        assert ch.query("SELECT k, at FROM b") == [("x", at)]
    finally:
        ch.close()
    reader = ChdbBackend(tmp_path / "clickhouse", read_only=True)
    try:
        assert reader.query("SELECT sum(v) FROM a") == [(3,)]
    finally:
        reader.close()


def test_the_log_is_folded_into_a_checkpoint_once_it_outweighs_the_base(tmp_path: Path) -> None:
    """A checkpoint when the WAL passes max(checkpoint_min_bytes, wal_per_base_byte x base),
    not before: replaying a WAL byte costs about a tenth of restoring a base byte."""
    folder = tmp_path / "clickhouse"
    ch = ChdbBackend(folder, checkpoint_min_bytes=20_000, wal_per_base_byte=8.0, gc_grace=0)
    try:
        ch.execute("CREATE TABLE t (k String, note String) ENGINE = MergeTree() ORDER BY k")
        rows = [(f"k{i:05d}", "补正材料" * 20) for i in range(100)]  # ~25 KB logged
        ch.insert("t", ["k", "note"], rows[:10])
        assert _files(folder / "checkpoints") == set()  # under the minimum
        ch.insert("t", ["k", "note"], rows)
        (first,) = _files(folder / "checkpoints")  # over it: folded
        base = (folder / "checkpoints" / first).stat().st_size
        ch.insert("t", ["k", "note"], rows[:20])
        assert _files(folder / "checkpoints") == {first}  # well under 8 x base
        n = 0
        while _files(folder / "checkpoints") == {first}:
            ch.insert("t", ["k", "note"], rows)
            n += 1
            assert n * 25_000 < 3 * max(20_000, 8 * base)
        assert n * 26_000 >= max(20_000, 8 * base) - 26_000
    finally:
        ch.close()
