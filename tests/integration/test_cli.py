"""The ``hallwatch`` console script, run as a separate process (CONTRACTS §4)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.support import full_case, rec, submitted

HALLWATCH = [sys.executable, "-m", "infra.cli"]


def run(tmp: Path, *args: str, db_url: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "HALLWATCH_DATA_DIR": str(tmp / "data"),
        "HALLWATCH_SECRET_KEY": "ab" * 32,
        "COLUMNS": "200",
    }
    if db_url:
        env["HALLWATCH_DATABASE_URL"] = db_url
    return subprocess.run(
        [*HALLWATCH, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
    )


def write(path: Path, records: list[Any]) -> Path:
    path.write_bytes(
        b"".join((r if isinstance(r, bytes) else orjson.dumps(r)) + b"\n" for r in records)
    )
    return path


@pytest.fixture
def loaded(tmp_path: Path) -> Path:
    out = run(tmp_path, "catalog", "load", "sample")
    assert out.returncode == 0, out.stderr
    return tmp_path


def test_catalogue_load_is_idempotent(loaded: Path) -> None:
    again = run(loaded, "catalog", "load", "sample")
    assert again.returncode == 0 and "0 new item versions" in again.stdout


def test_catalogue_rows_breaking_rules_are_refused_with_line_and_reason(tmp_path: Path) -> None:
    csv = tmp_path / "cat.csv"
    csv.write_text(
        "item_code,item_name,department,category,statutory_days,promised_days,steps,online_depth,"
        "fully_online,suspendable,extension_days,valid_from\n"
        "T-1,测试事项,测试局,licence,10,5,审查:3;决定:2,2,false,false,0,2026-01-01\n"
        "T-2,坏事项,测试局,licence,5,10,审查:3,2,false,false,0,2026-01-01\n",
        encoding="utf-8",
    )
    out = run(tmp_path, "catalog", "load", str(csv))
    assert out.returncode == 1
    assert (
        "1 new item versions" in out.stdout and "3" in out.stdout and "promised_days" in out.stdout
    )
    kept = list((tmp_path / "data" / "rejected").glob("*.jsonl"))
    assert kept and b'"line":3' in kept[0].read_bytes()


def test_ingest_reports_refusals_keeps_them_and_exits_1(loaded: Path) -> None:
    good = full_case("CLI1")
    bad = [rec("resumed", "2026-03-02 09:00", case_id="NOPE"), b"{not json", b"\xff\xfe"]
    out = run(loaded, "ingest", str(write(loaded / "in.jsonl", [*good, *bad])), "--quiet")
    assert out.returncode == 1
    assert "unknown case NOPE" in out.stdout and "3 records refused" in out.stdout
    (kept,) = (loaded / "data" / "rejected").glob("in-*.jsonl")
    lines = [orjson.loads(x) for x in kept.read_bytes().splitlines()]
    assert [x["line"] for x in lines] == [len(good) + 1, len(good) + 2, len(good) + 3]
    assert all(x["reason"] for x in lines)
    assert lines[2]["record_base64"] == "//4="  # invalid UTF-8 kept byte for byte


def test_ingest_twice_counts_duplicates_and_succeeds(loaded: Path) -> None:
    f = write(loaded / "in.jsonl", full_case("CLI2"))
    assert run(loaded, "ingest", str(f), "--quiet").returncode == 0
    again = run(loaded, "ingest", str(f), "--quiet")
    assert again.returncode == 0
    assert f"│ {len(full_case('X'))}" in again.stdout.replace("total", "")  # all duplicates


def test_case_json_has_the_contract_fields(loaded: Path) -> None:
    run(loaded, "ingest", str(write(loaded / "in.jsonl", full_case("CLI3"))), "--quiet")
    out = run(loaded, "case", "SL-CLI3", "--json")
    assert out.returncode == 0, out.stderr
    view = orjson.loads(out.stdout)
    for key in (
        "case_id",
        "receipt_no",
        "item_code",
        "department",
        "town",
        "status",
        "accepted_at",
        "due_date",
        "warn_at",
        "overdue",
        "flags",
        "events",
    ):
        assert key in view
    assert view["case_id"] == "CLI3" and len(view["due_date"]) == 10
    assert all({"type", "occurred_at"} <= set(e) for e in view["events"])


def test_case_as_of_shows_the_past(loaded: Path) -> None:
    run(loaded, "ingest", str(write(loaded / "in.jsonl", full_case("CLI4"))), "--quiet")
    out = run(loaded, "case", "CLI4", "--json", "--as-of", "2026-03-02")
    view = orjson.loads(out.stdout)
    assert view["status"] == "awaiting_intake" and [e["type"] for e in view["events"]] == [
        "case.submitted"
    ]


def test_unknown_case_is_a_clear_error(loaded: Path) -> None:
    out = run(loaded, "case", "NOPE")
    assert out.returncode == 1 and "no case or receipt number 'NOPE'" in out.stderr


def test_missing_input_file_is_named(loaded: Path) -> None:
    out = run(loaded, "ingest", str(loaded / "missing.jsonl"))
    assert out.returncode == 2 and "missing.jsonl does not exist" in out.stderr


def test_complaint_json(loaded: Path) -> None:
    recs = [
        *full_case("CLI5"),
        rec(
            "complaint_filed",
            "2026-03-10 09:00",
            complaint_id="T1",
            case_id="CLI5",
            channel="hotline",
            content="办理太慢",
        ),
        rec("complaint_accepted", "2026-03-11 09:00", complaint_id="T1"),
    ]
    run(loaded, "ingest", str(write(loaded / "in.jsonl", recs)), "--quiet")
    view = orjson.loads(run(loaded, "complaint", "T1", "--json").stdout)
    assert view["status"] == "accepted" and view["case_id"] == "CLI5" and view["department"]


def test_applicant_tracks_by_receipt_and_query_code_only(loaded: Path) -> None:
    run(loaded, "ingest", str(write(loaded / "in.jsonl", full_case("CLI6"))), "--quiet")
    ok = run(loaded, "track", "SL-CLI6", "123456", "--json")
    assert ok.returncode == 0 and orjson.loads(ok.stdout)["expected_completion"]
    wrong = run(loaded, "track", "SL-CLI6", "000000")
    assert wrong.returncode == 1


def test_verify_names_the_first_edited_event_and_exits_1(loaded: Path) -> None:
    run(loaded, "ingest", str(write(loaded / "in.jsonl", full_case("CLI7"))), "--quiet")
    assert run(loaded, "verify").returncode == 0
    con = sqlite3.connect(loaded / "data" / "events.sqlite3")
    with con:
        con.execute(
            "UPDATE stored_events SET state = CAST(replace(CAST(state AS TEXT), "
            '\'"outcome":"approved"\', \'"outcome":"denied"\') AS BLOB)'
        )
    con.close()
    out = run(loaded, "verify")
    assert out.returncode == 1
    assert "TAMPERED" in out.stdout and "Case.Concluded" in out.stdout and "edited" in out.stdout


def test_same_commands_on_postgresql(tmp_path: Path, pg_database: str) -> None:
    assert run(tmp_path, "catalog", "load", "sample", db_url=pg_database).returncode == 0
    f = write(tmp_path / "in.jsonl", [*full_case("PG1"), submitted("PG2", "2026-03-02 09:00")])
    assert run(tmp_path, "ingest", str(f), "--quiet", db_url=pg_database).returncode == 0
    view = orjson.loads(run(tmp_path, "case", "PG1", "--json", db_url=pg_database).stdout)
    assert view["status"] == "concluded"
    assert run(tmp_path, "verify", db_url=pg_database).returncode == 0
