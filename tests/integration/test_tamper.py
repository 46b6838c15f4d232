"""Tampering by a database administrator without hallwatch's keys (docs/tamper-evidence.md).

Each test builds a real store from the sample (catalogue and intake records), signs
a checkpoint into the anchor file, tampers with the database directly as an
administrator would (recomputing unkeyed hashes where the kind of tampering says
so), and checks that ``hallwatch verify`` exits 1 naming the first bad event or
the missing range.  SQLite through the CLI as a process; PostgreSQL in-process.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import orjson
import pytest

from domain.catalogue import parse_catalogue, sample_catalogue_path
from domain.encoding import canonical_json
from infra.anchors import Anchoring, verify_store
from infra.samples import sample_records_path
from infra.settings import Settings
from infra.wiring import open_app
from tests.support import full_case, relay_all

KEY_HEX = "ab" * 32
ROOT = Path(__file__).resolve().parents[2]


# --- the administrator's view of the database ------------------------------------------


@dataclass
class Row:
    nid: int
    sid: UUID
    version: int
    topic: str
    state: dict[str, Any]


class Db:
    """Raw SQL on the events table, SQLite or PostgreSQL, with ``?`` parameters."""

    def __init__(self, settings: Settings) -> None:
        self.pg = settings.database_url is not None
        if settings.database_url is not None:
            import psycopg

            self.con: Any = psycopg.connect(settings.database_url, autocommit=True)
            self.table, self.nid = "hallwatch_events", "notification_id"
        else:
            import sqlite3

            self.con = sqlite3.connect(settings.sqlite_path, isolation_level=None)
            self.table, self.nid = "stored_events", "rowid"

    def sql(self, statement: str, *params: Any) -> list[Any]:
        statement = statement.format(t=self.table, nid=self.nid)
        if self.pg:
            statement = statement.replace("?", "%s")
        cur = self.con.execute(statement, params)
        try:
            return list(cur.fetchall())
        except Exception:
            return []

    def _sid(self, value: Any) -> Any:
        return value if self.pg else value.hex

    def rows(self) -> list[Row]:
        out = []
        for nid, oid, version, topic, state in self.sql(
            "SELECT {nid}, originator_id, originator_version, topic, state FROM {t} ORDER BY {nid}"
        ):
            sid = oid if isinstance(oid, UUID) else UUID(str(oid))
            out.append(Row(nid, sid, version, topic, orjson.loads(bytes(state))))
        return out

    def stream(self, sid: UUID) -> list[Row]:
        return [r for r in self.rows() if r.sid == sid]

    def put(self, row: Row) -> None:
        self.sql("UPDATE {t} SET state = ? WHERE {nid} = ?", canonical_json(row.state), row.nid)

    def delete(self, *nids: int) -> None:
        for nid in nids:
            self.sql("DELETE FROM {t} WHERE {nid} = ?", nid)

    def set_nid(self, old: int, new: int) -> None:
        self.sql("UPDATE {t} SET {nid} = ? WHERE {nid} = ?", new, old)

    def set_version(self, row: Row, version: int) -> None:
        self.sql("UPDATE {t} SET originator_version = ? WHERE {nid} = ?", version, row.nid)

    def insert(self, sid: UUID, version: int, topic: str, state: dict[str, Any]) -> None:
        if self.pg:  # hallwatch numbers the rows itself: take the next id as it would
            self.sql(
                "INSERT INTO {t} (originator_id, originator_version, topic, state, notification_id)"
                " VALUES (?,?,?,?,(SELECT COALESCE(MAX(notification_id), 0) + 1 FROM {t}))",
                self._sid(sid), version, topic, canonical_json(state),
            )  # fmt: skip
            return
        self.sql(
            "INSERT INTO {t} (originator_id, originator_version, topic, state) VALUES (?,?,?,?)",
            self._sid(sid), version, topic, canonical_json(state),
        )  # fmt: skip

    def close(self) -> None:
        self.con.close()


def unkeyed(row: Row, prev: str) -> str:
    """What an administrator without the key can compute: the old unkeyed SHA-256."""
    state = dict(row.state, chain_hash="", prev_hash=prev)
    h = hashlib.sha256(f"{prev}|{row.topic}|{row.sid.hex}|{row.version}|".encode())
    h.update(canonical_json(state))
    return h.hexdigest()


def rehash(db: Db, rows: list[Row], prev: str) -> None:
    """Recompute (unkeyed) and store the hashes of ``rows`` of one stream, chained from prev."""
    for r in rows:
        r.state["prev_hash"] = prev
        r.state["chain_hash"] = unkeyed(r, prev)
        db.put(r)
        prev = r.state["chain_hash"]


def longest_stream(rows: list[Row]) -> list[Row]:
    by: dict[UUID, list[Row]] = {}
    for r in rows:
        by.setdefault(r.sid, []).append(r)
    cases = [s for s in by.values() if s[0].topic.endswith("Case.Submitted")]
    return max(cases, key=len)


# --- the fifteen kinds of tampering: each returns (first notification id, reason words) --


Tamper = Callable[[Db], tuple[int | tuple[int, int], str]]


def edit_middle(db: Db) -> tuple[int, str]:
    s = longest_stream(db.rows())
    r = s[len(s) // 2]
    r.state["occurred_at"] = "2026-01-01T00:00:00+08:00"
    db.put(r)
    return r.nid, "edited or forged"


def edit_last(db: Db) -> tuple[int, str]:
    r = longest_stream(db.rows())[-1]
    r.state["record_id"] = "forged"
    db.put(r)
    return r.nid, "edited or forged"


def edit_and_recompute(db: Db) -> tuple[int, str]:
    s = longest_stream(db.rows())
    r = s[-1]
    r.state["record_id"] = "forged"
    rehash(db, [r], s[-2].state["chain_hash"])
    return r.nid, "keyed hash"


def edit_middle_and_recompute_rest(db: Db) -> tuple[int, str]:
    s = longest_stream(db.rows())
    k = len(s) // 2
    s[k].state["occurred_at"] = "2026-01-01T00:00:00+08:00"
    rehash(db, s[k:], s[k - 1].state["chain_hash"])
    return s[k].nid, "keyed hash"


def delete_middle(db: Db) -> tuple[int, str]:
    s = longest_stream(db.rows())
    r = s[len(s) // 2]
    db.delete(r.nid)
    return r.nid, "deleted"


def delete_stream_tail(db: Db) -> tuple[int, str]:
    r = longest_stream(db.rows())[-1]
    db.delete(r.nid)
    return r.nid, "deleted"


def delete_last_three(db: Db) -> tuple[int, str]:
    rows = db.rows()
    db.delete(*(r.nid for r in rows[-3:]))
    return rows[-3].nid, f"#{rows[-3].nid}..#{rows[-1].nid}"


def delete_case(db: Db) -> tuple[int, str]:
    s = longest_stream(db.rows())
    db.delete(*(r.nid for r in s))
    return s[0].nid, "missing"


def delete_all(db: Db) -> tuple[int, str]:
    rows = db.rows()
    db.sql("DELETE FROM {t}")
    return 1, f"#1..#{rows[-1].nid} deleted"


def remove_violation_and_renumber(db: Db) -> tuple[tuple[int, int], str]:
    rows = db.rows()
    flagged = next(r for r in rows if r.topic.endswith("Case.ViolationFlagged"))
    s = db.stream(flagged.sid)
    k = next(i for i, r in enumerate(s) if r.nid == flagged.nid)
    db.delete(flagged.nid)
    rest = s[k + 1 :]
    for r in rest:  # versions closed up, hashes recomputed, ids shifted down: no hole left
        r.version -= 1
        db.set_version(r, r.version)
    rehash(db, rest, s[k - 1].state["chain_hash"])
    for r in rows:
        if r.nid > flagged.nid:
            db.set_nid(r.nid, r.nid - 1)
    # named at the first event that moved: a signed head renumbered, or the stream itself
    return (flagged.nid, rest[0].nid - 1 if rest else flagged.nid), ""


def append_forgery(db: Db) -> tuple[int, str]:
    s = longest_stream(db.rows())
    last = s[-1]
    forged = Row(0, last.sid, last.version + 1, last.topic, dict(last.state))
    forged.state["record_id"] = "forged-approval"
    forged.state["prev_hash"] = last.state["chain_hash"]
    forged.state["chain_hash"] = unkeyed(forged, last.state["chain_hash"])
    db.insert(forged.sid, forged.version, forged.topic, forged.state)
    return db.rows()[-1].nid, "keyed hash"


def swap_payloads(db: Db) -> tuple[int, str]:
    s = longest_stream(db.rows())
    a, b = s[2], s[3]
    a.state, b.state = b.state, a.state
    db.put(a)
    db.put(b)
    return a.nid, ""


def change_topic(db: Db) -> tuple[int, str]:
    s = longest_stream(db.rows())
    r = s[len(s) // 2]
    db.sql("UPDATE {t} SET topic = ? WHERE {nid} = ?", "domain.model:Case.Concluded", r.nid)
    return r.nid, "edited or forged"


def change_stream_id(db: Db) -> tuple[int, str]:
    s = longest_stream(db.rows())
    other = UUID(int=12345)
    for r in s:
        db.sql("UPDATE {t} SET originator_id = ? WHERE {nid} = ?", db._sid(other), r.nid)
    return s[0].nid, ""


def swap_notification_ids(db: Db) -> tuple[int, str]:
    rows = db.rows()
    a = rows[len(rows) // 3]
    b = next(r for r in rows[len(rows) // 3 + 1 :] if r.sid != a.sid)
    top = rows[-1].nid + 1000
    db.set_nid(a.nid, top)
    db.set_nid(b.nid, a.nid)
    db.set_nid(top, b.nid)
    return a.nid, "renumbered"


KINDS: dict[str, Tamper] = {
    "edit a middle event": edit_middle,
    "edit the last event": edit_last,
    "edit and recompute its hash": edit_and_recompute,
    "edit a middle event and recompute the rest": edit_middle_and_recompute_rest,
    "delete a middle event": delete_middle,
    "delete the last event of a stream": delete_stream_tail,
    "delete the last three": delete_last_three,
    "delete a whole case": delete_case,
    "delete every event": delete_all,
    "remove a ViolationFlagged and renumber": remove_violation_and_renumber,
    "append a forged event": append_forgery,
    "swap two events' payloads": swap_payloads,
    "change the topic column": change_topic,
    "change a stream id": change_stream_id,
    "swap two notification ids": swap_notification_ids,
}


# --- stores --------------------------------------------------------------------------------


def build_store(settings: Settings) -> None:
    """The sample store with one signed checkpoint at its end."""
    app = open_app(settings)
    try:
        app.load_catalogue(parse_catalogue(sample_catalogue_path()), "sample")
        lines = sample_records_path().read_bytes().splitlines()
        for i in range(0, len(lines), 500):
            app.ingest(lines[i : i + 500])
        assert Anchoring(app, settings, "test").checkpoint() is not None
    finally:
        app.close()


def cli(
    data: Path, *args: str, db_url: str | None = None, **extra: str
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "HALLWATCH_DATA_DIR": str(data),
        "HALLWATCH_SECRET_KEY": KEY_HEX,
        "COLUMNS": "250",
        **extra,
    }
    if db_url:
        env["HALLWATCH_DATABASE_URL"] = db_url
    return subprocess.run(
        [sys.executable, "-m", "infra.cli", *args],
        capture_output=True, text=True, env=env, timeout=300, cwd=ROOT,
    )  # fmt: skip


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Settings]:
    settings = Settings(data_dir=tmp_path / "data", secret_key=bytes.fromhex(KEY_HEX))
    build_store(settings)
    yield settings


@pytest.fixture
def pg_store(tmp_path: Path, pg_database: str) -> Iterator[Settings]:
    settings = Settings(
        data_dir=tmp_path / "data", database_url=pg_database, secret_key=bytes.fromhex(KEY_HEX)
    )
    build_store(settings)
    yield settings


def _expected(expected: int | tuple[int, int], named: int) -> bool:
    if isinstance(expected, tuple):
        return expected[0] <= named <= expected[1]
    return named == expected


def _first_line(out: str) -> str:
    return next(line for line in out.splitlines() if line.startswith("TAMPERED"))


# --- tests ---------------------------------------------------------------------------------


def test_an_untampered_store_verifies_clean_through_the_cli(sqlite_store: Settings) -> None:
    out = cli(sqlite_store.data_dir, "verify", "--json")
    assert out.returncode == 0, out.stdout + out.stderr
    report = orjson.loads(out.stdout)
    assert report["ok"] and report["checkpoints_checked"] == 1 and report["events"] > 3000
    text = cli(sqlite_store.data_dir, "verify")
    assert text.returncode == 0 and text.stdout.startswith("ok:"), text.stdout


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_kind_of_tampering_is_named_by_verify_on_sqlite(
    sqlite_store: Settings, kind: str
) -> None:
    db = Db(sqlite_store)
    try:
        first_id, words = KINDS[kind](db)
    finally:
        db.close()
    out = cli(sqlite_store.data_dir, "verify")
    assert out.returncode == 1, f"{kind}: not detected\n{out.stdout}{out.stderr}"
    line = _first_line(out.stdout)
    report = orjson.loads(cli(sqlite_store.data_dir, "verify", "--json").stdout)
    assert not report["ok"], kind
    named = report["first"]["notification_id"]
    assert _expected(first_id, named) and f"#{named}" in line and words in line, f"{kind}: {line}"


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_kind_of_tampering_is_named_by_verify_on_postgres(
    pg_store: Settings, kind: str
) -> None:
    db = Db(pg_store)
    try:
        first_id, words = KINDS[kind](db)
    finally:
        db.close()
    app = open_app(pg_store)
    try:
        report = verify_store(app, pg_store)
    finally:
        app.close()
    assert not report.ok, f"{kind}: not detected"
    first = report.first
    assert first is not None and _expected(first_id, first.notification_id), (kind, first)
    assert words in first.describe(), (kind, first.describe())


def test_tampering_after_the_last_checkpoint_is_caught_by_the_keyed_chain_and_gaps(
    sqlite_store: Settings,
) -> None:
    app = open_app(sqlite_store)
    try:
        app.ingest([orjson.dumps(r) for r in full_case("AFTER-A") + full_case("AFTER-B")])
    finally:
        app.close()
    from domain.model import stream_id

    db = Db(sqlite_store)
    try:
        a, b = db.stream(stream_id("case", "AFTER-A")), db.stream(stream_id("case", "AFTER-B"))
        a[-1].state["record_id"] = "forged"
        rehash(db, [a[-1]], a[-2].state["chain_hash"])  # recomputed without the key
        db.delete(b[2].nid)  # a hole in the uncheckpointed part
    finally:
        db.close()
    out = cli(sqlite_store.data_dir, "verify")
    assert out.returncode == 1
    first = min(a[-1].nid, b[2].nid)
    assert f"#{first}" in _first_line(out.stdout)
    assert f"#{a[-1].nid}" in out.stdout and "keyed hash" in out.stdout
    assert f"#{b[2].nid}" in out.stdout and "missing" in out.stdout


def test_a_forged_anchor_line_or_replaced_public_key_is_reported(sqlite_store: Settings) -> None:
    anchor = sqlite_store.anchor_file
    line = orjson.loads(anchor.read_bytes().splitlines()[0])
    line["events"] -= 1
    with anchor.open("ab") as f:
        f.write(orjson.dumps(line) + b"\n")
    out = cli(sqlite_store.data_dir, "verify")
    assert out.returncode == 1 and "signature does not verify" in out.stdout, out.stdout


def test_verify_checkpoint_writes_a_new_line_only_when_the_store_moved(
    sqlite_store: Settings,
) -> None:
    lines = len(sqlite_store.anchor_file.read_bytes().splitlines())
    again = cli(sqlite_store.data_dir, "verify", "--checkpoint")
    assert again.returncode == 0
    assert len(sqlite_store.anchor_file.read_bytes().splitlines()) == lines
    records = sqlite_store.data_dir.parent / "more.jsonl"
    records.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in full_case("MOVED")))
    out = cli(sqlite_store.data_dir, "ingest", str(records), "--quiet")
    assert out.returncode == 0 and "checkpoint #" in out.stdout, out.stdout + out.stderr
    new = sqlite_store.anchor_file.read_bytes().splitlines()
    assert len(new) == lines + 1
    assert len(orjson.loads(new[-1])["heads"]) == 2  # the new case and its receipt: a delta
    assert cli(sqlite_store.data_dir, "verify").returncode == 0


def test_against_topic_catches_a_deleted_tail_that_no_checkpoint_covers(
    sqlite_store: Settings, broker: Any
) -> None:
    settings = Settings(
        data_dir=sqlite_store.data_dir,
        secret_key=sqlite_store.secret_key,
        kafka_bootstrap=broker.bootstrap_servers,
        topic_prefix="tamper",
    )
    app = open_app(settings)
    try:
        app.ingest([orjson.dumps(r) for r in full_case("TAIL")])
        relay_all(app, settings, "tamper-relay")  # published, not checkpointed
    finally:
        app.close()
    db = Db(settings)
    try:
        rows = db.rows()
        db.delete(rows[-1].nid, rows[-2].nid)  # the newest two: no hole, no checkpoint sees it
    finally:
        db.close()
    env = ["--data-dir", str(settings.data_dir)]
    os.environ["HALLWATCH_KAFKA_BOOTSTRAP"] = broker.bootstrap_servers
    os.environ["HALLWATCH_TOPIC_PREFIX"] = "tamper"
    try:
        plain = cli(settings.data_dir, *env, "verify")
        topic = cli(settings.data_dir, *env, "verify", "--against-topic", "--json")
    finally:
        del os.environ["HALLWATCH_KAFKA_BOOTSTRAP"], os.environ["HALLWATCH_TOPIC_PREFIX"]
    assert plain.returncode == 0, plain.stdout  # the limit the topic is there for
    assert topic.returncode == 1, topic.stdout + topic.stderr
    report = orjson.loads(topic.stdout)
    assert report["first"]["notification_id"] == rows[-2].nid
    assert "deleted" in report["first"]["reason"]
    assert {p["notification_id"] for p in report["problems"]} == {rows[-2].nid, rows[-1].nid}


def test_the_relay_publishes_signed_checkpoints_and_the_topic_agrees_with_the_store(
    sqlite_store: Settings, broker: Any
) -> None:
    env = {"HALLWATCH_KAFKA_BOOTSTRAP": broker.bootstrap_servers, "HALLWATCH_TOPIC_PREFIX": "cp"}
    os.environ.update(env)
    try:
        relay = cli(sqlite_store.data_dir, "relay", "--until-idle")
        report = cli(sqlite_store.data_dir, "verify", "--against-topic", "--json")
    finally:
        for k in env:
            del os.environ[k]
    assert relay.returncode == 0 and "1 signed checkpoints" in relay.stdout, relay.stdout
    assert report.returncode == 0, report.stdout + report.stderr
    got = orjson.loads(report.stdout)
    assert got["topic_checkpoints"] == 1 and got["topic_events"] == got["events"]


def test_keys_kept_outside_the_data_folder_are_used_and_a_missing_one_is_named(
    tmp_path: Path,
) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "secret.hex").write_text(KEY_HEX)
    (keys / "signing.hex").write_text("cd" * 32)
    data = tmp_path / "data"
    env = {
        "HALLWATCH_SECRET_KEY": "",
        "HALLWATCH_SECRET_KEY_FILE": str(keys / "secret.hex"),
        "HALLWATCH_SIGNING_KEY_FILE": str(keys / "signing.hex"),
    }
    assert cli(data, "catalog", "load", "sample", **env).returncode == 0
    out = cli(data, "ingest", str(sample_records_path()), "--quiet", **env)
    assert out.returncode == 0 and "checkpoint #" in out.stdout, out.stdout + out.stderr
    assert not (data / "secret.key").exists() and not (data / "signing.key").exists()
    assert (data / "anchors.pub").exists()
    assert cli(data, "verify", **env).returncode == 0
    # the same store under another secret: every chain fails, named from the first event
    other = cli(data, "verify", **{**env, "HALLWATCH_SECRET_KEY": "ef" * 32})
    assert other.returncode == 1 and "first bad event #1 " in other.stdout, other.stdout
    missing = cli(data, "verify", **{**env, "HALLWATCH_SIGNING_KEY_FILE": str(keys / "nope")})
    assert missing.returncode == 2 and "HALLWATCH_SIGNING_KEY_FILE" in missing.stderr
    assert str(keys / "nope") in missing.stderr


def test_demo_keys_created_in_the_data_folder_are_owner_only(sqlite_store: Settings) -> None:
    out = cli(sqlite_store.data_dir, "verify", HALLWATCH_SECRET_KEY="")
    assert out.returncode == 1  # a new demo secret: the store was chained under another key
    for name in ("secret.key", "signing.key"):
        assert (sqlite_store.data_dir / name).stat().st_mode & 0o777 == 0o600
