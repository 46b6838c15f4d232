"""KPIs of a small hand-built month (November 2026) on both ClickHouse backends.

Nine cases of two departments in two towns, two complaints and four ratings go
through the real domain (SQLite store), the alerter on simulated time (a tick
before every record, one at the end of the month), the CloudEvents the relay
publishes, the projectors and each ClickHouse. Every expected figure below is
worked out by hand from DOMAIN.md and CONTRACTS §3/§6 (the working days are
November 2026's Mondays to Fridays: no holiday that month).

市场监管局, item SCJG-001 (promised 1 working day, one step 审核:1, depth 3):
  M1 南城 web     2 Nov accepted, due 3 Nov; concluded 3 Nov online, on time (1 day);
                  delivered 0 visits; rated 5.                       warning 3 Nov
  M2 东城 window  2 Nov accepted, due 3 Nov; concluded 5 Nov offline, late (3 days);
                  delivered 2 visits; rated 2 (bad), answered 9 Nov (on time);
                  complaint C1 about it (filed 6 Nov, replied 10 Nov). warning 3, red 4 Nov
  M3 南城 web     submitted 9 Nov, correction at intake, accepted 10 Nov, due 11 Nov;
                  still open at the end of November.              warning 11, red 12 Nov
  M4 东城 kiosk   submitted and accepted 30 Oct, due 2 Nov; concluded 2 Nov online,
                  on time (1 day); delivered 0 visits.                warning 2 Nov
  M5 南城 app     submitted 16 Nov, rejected at intake 16 Nov.
  M6 东城 web     submitted 17 Nov, two correction notices (violation), accepted
                  19 Nov, due 20 Nov; concluded 20 Nov online (1 day); 1 visit. warning 20 Nov
公安局, items GA-003 (promised 7, 审核:3;制证:4, depth 2) and GA-006 (like SCJG-001):
  P1 南城 window GA-003: accepted 2 Nov, due 11 Nov; concluded 9 Nov offline, on
                  time (5 days); delivered 1 visit; rated 4.
  P2 东城 web     GA-006: accepted 23 Nov, due 24 Nov; still open.  warning 24, red 25 Nov
  P3 南城 web     GA-006: accepted and concluded 24 Nov online (0 days); 0 visits;
                  rated 1 (bad), never answered.
  C2              a complaint against 公安局 with no case: filed and accepted 12 Nov,
                  not replied (reply due 3 Dec).
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from domain.application import Hallwatch
from domain.catalogue import parse_catalogue, sample_catalogue_path
from infra.settings import Settings
from infra.wiring import open_app
from projections import kpi, queries
from projections.clickhouse import ClickHouse, ServerBackend
from projections.migrations import migrate
from projections.projectors import default_projectors
from projections.runner import MemoryTopic, ProjectionRunner
from streams.alerter import Alerter
from streams.cloudevents import stored_cloudevents
from tests.support import at, projected_twice, rec

NOV = kpi.Month(2026, 11)
SCJG, GA = "市场监管局", "公安局"
NANCHENG, DONGCHENG = "南城街道", "东城街道"


def _case(
    cid: str, item: str, town: str, channel: str, when: str, *, accept: str | None = None
) -> list[dict[str, Any]]:
    out = [
        rec(
            "submitted",
            when,
            case_id=cid,
            item_code=item,
            channel=channel,
            applicant_kind="person",
            applicant_name="李四",
            applicant_id=f"id-{cid}",
            town=town,
        )
    ]
    if accept:
        out.append(rec("accepted", accept, case_id=cid, receipt_no=f"SL-{cid}"))
    return out


def _step(cid: str, step: str, start: str, done: str | None) -> list[dict[str, Any]]:
    out = [rec("step_started", start, case_id=cid, step=step, handler="王五")]
    if done:
        out.append(
            rec("step_completed", done, case_id=cid, step=step, handler="王五", decision="pass")
        )
    return out


def _end(
    cid: str, concluded: str, online: bool, delivered: str, visits: int, method: str
) -> list[dict[str, Any]]:
    return [
        rec("concluded", concluded, case_id=cid, outcome="approved", online=online),
        rec("delivered", delivered, case_id=cid, method=method, site_visits=visits),
    ]


def month_records() -> list[dict[str, Any]]:
    r: list[dict[str, Any]] = []
    # 市场监管局 (SCJG-001)
    r += _case("M1", "SCJG-001", NANCHENG, "web", "2026-11-02 09:00", accept="2026-11-02 10:00")
    r += _step("M1", "审核", "2026-11-02 10:05", "2026-11-03 09:00")
    r += _end("M1", "2026-11-03 10:00", True, "2026-11-03 11:00", 0, "electronic")
    r.append(rec("rated", "2026-11-04 09:00", case_id="M1", level=5))

    r += _case("M2", "SCJG-001", DONGCHENG, "window", "2026-11-02 09:30", accept="2026-11-02 09:40")
    r += _step("M2", "审核", "2026-11-02 09:45", "2026-11-05 09:00")
    r += _end("M2", "2026-11-05 10:00", False, "2026-11-05 11:00", 2, "window")
    r.append(rec("rated", "2026-11-06 09:00", case_id="M2", level=2, comment="跑了两趟"))
    r.append(rec("rating_answered", "2026-11-09 10:00", case_id="M2", reply="已整改"))
    r.append(
        rec(
            "complaint_filed",
            "2026-11-06 10:00",
            complaint_id="C1",
            case_id="M2",
            channel="hotline",
            content="办理超时",
        )
    )
    r.append(rec("complaint_accepted", "2026-11-09 09:00", complaint_id="C1"))
    r.append(rec("complaint_replied", "2026-11-10 09:00", complaint_id="C1", reply="已督促"))

    r += _case("M3", "SCJG-001", NANCHENG, "web", "2026-11-09 09:00")
    r.append(rec("correction_requested", "2026-11-09 10:00", case_id="M3", materials=["章程"]))
    r.append(rec("correction_received", "2026-11-10 09:00", case_id="M3"))
    r.append(rec("accepted", "2026-11-10 10:00", case_id="M3", receipt_no="SL-M3"))

    r += _case("M4", "SCJG-001", DONGCHENG, "kiosk", "2026-10-30 09:00", accept="2026-10-30 10:00")
    r += _step("M4", "审核", "2026-10-30 10:05", "2026-11-02 09:00")
    r += _end("M4", "2026-11-02 10:00", True, "2026-11-02 10:30", 0, "electronic")

    r += _case("M5", "SCJG-001", NANCHENG, "app", "2026-11-16 09:00")
    r.append(rec("rejected", "2026-11-16 10:00", case_id="M5", reason="不属于本部门职权范围"))

    r += _case("M6", "SCJG-001", DONGCHENG, "web", "2026-11-17 09:00")
    r.append(
        rec("correction_requested", "2026-11-17 10:00", case_id="M6", materials=["股东会决议"])
    )
    r.append(rec("correction_received", "2026-11-18 09:00", case_id="M6"))
    r.append(rec("correction_requested", "2026-11-18 10:00", case_id="M6", materials=["住所证明"]))
    r.append(rec("correction_received", "2026-11-19 09:00", case_id="M6"))
    r.append(rec("accepted", "2026-11-19 10:00", case_id="M6", receipt_no="SL-M6"))
    r += _step("M6", "审核", "2026-11-19 10:05", "2026-11-20 09:00")
    r += _end("M6", "2026-11-20 10:00", True, "2026-11-20 10:30", 1, "electronic")

    # 公安局 (GA-003, GA-006)
    r += _case("P1", "GA-003", NANCHENG, "window", "2026-11-02 14:00", accept="2026-11-02 15:00")
    r += _step("P1", "审核", "2026-11-02 15:05", "2026-11-04 09:00")
    r += _step("P1", "制证", "2026-11-04 09:05", "2026-11-09 09:00")
    r += _end("P1", "2026-11-09 10:00", False, "2026-11-10 09:00", 1, "post")
    r.append(rec("rated", "2026-11-11 09:00", case_id="P1", level=4))

    r += _case("P2", "GA-006", DONGCHENG, "web", "2026-11-23 09:00", accept="2026-11-23 10:00")
    r += _step("P2", "审核", "2026-11-23 10:05", None)

    r += _case("P3", "GA-006", NANCHENG, "web", "2026-11-24 09:00", accept="2026-11-24 09:30")
    r += _step("P3", "审核", "2026-11-24 09:35", "2026-11-24 09:50")
    r += _end("P3", "2026-11-24 10:00", True, "2026-11-24 10:10", 0, "electronic")
    r.append(rec("rated", "2026-11-25 09:00", case_id="P3", level=1, comment="态度差"))

    r.append(
        rec(
            "complaint_filed",
            "2026-11-12 09:00",
            complaint_id="C2",
            department=GA,
            channel="web",
            content="窗口人员态度差",
        )
    )
    r.append(rec("complaint_accepted", "2026-11-12 10:00", complaint_id="C2"))
    return sorted(r, key=lambda x: x["at"])


# Expected KPIs, worked out by hand (see the module docstring). Rates to 6 places.
EXPECTED_BY_DEPARTMENT: dict[str, dict[str, Any]] = {
    SCJG: {
        "submitted": 5, "concluded": 4, "on_time_rate": 0.75, "overdue_rate": 0.4,
        "online_rate": 0.8, "online_conclusion_rate": 0.75, "fully_online_rate": 0.5,
        "avg_site_visits": 0.75, "correction_rate": 0.4, "avg_handling_days": 1.5,
        "satisfaction_rate": 0.5, "bad_reviews": 1, "complaints": 1,
        "complaints_per_1000": 200.0, "warnings": 5, "overdue_alerts": 2, "violations": 1,
        "p90_handling_days": 3.0, "visits_le1_rate": 0.75, "visits_le2_rate": 1.0,
        "second_corrections": 1, "bad_review_rectification_rate": 1.0,
        "complaint_on_time_reply_rate": 1.0, "depth_1_rate": 0.0, "depth_2_rate": 0.0,
        "depth_3_rate": 1.0,
    },
    GA: {
        "submitted": 3, "concluded": 2, "on_time_rate": 1.0, "overdue_rate": 0.333333,
        "online_rate": 0.666667, "online_conclusion_rate": 0.5, "fully_online_rate": 0.5,
        "avg_site_visits": 0.5, "correction_rate": 0.0, "avg_handling_days": 2.5,
        "satisfaction_rate": 0.5, "bad_reviews": 1, "complaints": 1,
        "complaints_per_1000": 333.333333, "warnings": 1, "overdue_alerts": 1, "violations": 0,
        "p90_handling_days": 5.0, "visits_le1_rate": 1.0, "visits_le2_rate": 1.0,
        "second_corrections": 0, "bad_review_rectification_rate": 0.0,
        "complaint_on_time_reply_rate": 0.0, "depth_1_rate": 0.0, "depth_2_rate": 0.5,
        "depth_3_rate": 0.5,
    },
}  # fmt: skip
EXPECTED_BY_TOWN: dict[str, dict[str, Any]] = {
    NANCHENG: {
        "submitted": 5, "concluded": 3, "on_time_rate": 1.0, "overdue_rate": 0.25,
        "online_rate": 0.8, "online_conclusion_rate": 0.666667, "fully_online_rate": 0.666667,
        "avg_site_visits": 0.333333, "correction_rate": 0.2, "avg_handling_days": 2.0,
        "satisfaction_rate": 0.666667, "bad_reviews": 1, "complaints": 0,
        "complaints_per_1000": 0.0, "warnings": 2, "overdue_alerts": 1, "violations": 0,
    },
    DONGCHENG: {
        "submitted": 3, "concluded": 3, "on_time_rate": 0.666667, "overdue_rate": 0.5,
        "online_rate": 0.666667, "online_conclusion_rate": 0.666667,
        "fully_online_rate": 0.333333, "avg_site_visits": 1.0, "correction_rate": 0.333333,
        "avg_handling_days": 1.666667, "satisfaction_rate": 0.0, "bad_reviews": 1,
        "complaints": 1, "complaints_per_1000": 333.333333, "warnings": 4, "overdue_alerts": 2,
        "violations": 1,
    },
}  # fmt: skip


def build_month(data_dir: Path) -> list[bytes]:
    """The month in a real store, with the alerts the alerter raises on simulated time;
    returns the CloudEvents the relay would publish, in store order."""
    app: Hallwatch = open_app(Settings(data_dir=data_dir, secret_key=b"k" * 32))
    try:
        app.load_catalogue(parse_catalogue(sample_catalogue_path()), "sample")
        records = month_records()
        now = [datetime.fromisoformat(records[0]["at"])]
        alerter = Alerter(app, clock=lambda: now[0])
        alerter.start()
        for r in records:
            now[0] = datetime.fromisoformat(r["at"])
            alerter.tick()
            [outcome] = app.ingest([orjson.dumps(r)])
            assert outcome.status == "applied", (r, outcome)
        now[0] = NOV.end + timedelta(seconds=1)
        alerter.tick()
        return [m.value for m in stored_cloudevents(app.stored_rows(), "test-hall")]
    finally:
        app.close()


@pytest.fixture(scope="module")
def month_events(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    return build_month(tmp_path_factory.mktemp("month-store"))


@pytest.fixture(scope="module", params=["chdb", "server"])
def month(
    request: pytest.FixtureRequest,
    month_events: list[bytes],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ClickHouse, Settings]]:
    """The month projected into a fresh ClickHouse of each kind (each event delivered
    twice, as at-least-once delivery may)."""
    tmp = tmp_path_factory.mktemp(f"month-{request.param}")
    with projected_twice(request, month_events, tmp, "hallwatch_kpi") as projected:
        yield projected


def hallwatch(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI in its own process, as an inspector runs it beside the projector."""
    env = {
        **os.environ,
        "HALLWATCH_DATA_DIR": str(settings.data_dir),
        "HALLWATCH_SECRET_KEY": "6b" * 32,
        "HALLWATCH_CLICKHOUSE_URL": settings.clickhouse_url or "",
    }
    return subprocess.run(
        [sys.executable, "-m", "infra.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
    )


def _pick(rows: list[dict[str, Any]], keys: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The expected keys of the expected groups, floats to 6 places as written above
    (the ranking's values are exact)."""

    def six(v: Any) -> Any:
        return round(v, 6) if isinstance(v, float) else v

    return {
        r["group"]: {k: six(r[k]) for k in next(iter(keys.values()))}
        for r in rows
        if r["group"] in keys
    }


def test_department_kpis_of_a_hand_built_month(month: tuple[ClickHouse, Settings]) -> None:
    ch, _ = month
    rows = kpi.rank(ch, NOV, "department")
    assert [r["group"] for r in rows] == sorted(
        [SCJG, GA], key=lambda g: -next(r["score"] for r in rows if r["group"] == g)
    )
    assert _pick(rows, EXPECTED_BY_DEPARTMENT) == EXPECTED_BY_DEPARTMENT
    for r in rows:
        assert set(kpi.CONTRACT_KEYS) <= set(r) and r["rank"] in (1, 2)


def test_town_kpis_of_a_hand_built_month(month: tuple[ClickHouse, Settings]) -> None:
    ch, _ = month
    rows = kpi.rank(ch, NOV, "town")
    assert {r["group"] for r in rows} == {NANCHENG, DONGCHENG}
    assert _pick(rows, EXPECTED_BY_TOWN) == EXPECTED_BY_TOWN


def test_item_ranking_and_an_empty_month(month: tuple[ClickHouse, Settings]) -> None:
    ch, _ = month
    items = {r["group"]: r for r in kpi.rank(ch, NOV, "item")}
    assert set(items) == {"SCJG-001", "GA-003", "GA-006"}
    assert items["GA-006"]["submitted"] == 2 and items["GA-006"]["overdue_rate"] == 0.5
    assert items["GA-003"]["depth_2_rate"] == 1.0
    october = {r["group"]: r for r in kpi.rank(ch, kpi.Month(2026, 10), "department")}
    assert set(october) == {SCJG}  # M4 submitted in October, open and not yet due at its end
    assert october[SCJG]["submitted"] == 1 and october[SCJG]["overdue_rate"] == 0.0
    assert kpi.rank(ch, kpi.Month(2025, 1), "town") == []


def test_rank_cli_prints_the_contract_json(month: tuple[ClickHouse, Settings]) -> None:
    _, settings = month
    result = hallwatch(settings, "rank", "--month", "2026-11", "--by", "town", "--json")
    assert result.returncode == 0, result.stderr
    rows = orjson.loads(result.stdout)
    assert _pick(rows, EXPECTED_BY_TOWN) == EXPECTED_BY_TOWN
    assert [r["rank"] for r in rows] == [1, 2]
    table = hallwatch(settings, "rank", "--month", "2026-11")
    assert table.returncode == 0 and SCJG in table.stdout, table.stderr
    bad = hallwatch(settings, "rank", "--month", "2026-13")
    assert bad.returncode == 2 and "2026-13" in bad.stderr


def test_alert_list_now_and_as_of(month: tuple[ClickHouse, Settings]) -> None:
    ch, settings = month
    everything = queries.alert_list(ch)
    kinds = sorted((a["subject"], a["kind"]) for a in everything)
    assert ("M6", "second_correction") in kinds
    assert [k for k in kinds if k[1] == "case_overdue"] == [
        ("M2", "case_overdue"), ("M3", "case_overdue"), ("P2", "case_overdue"),
    ]  # fmt: skip
    open_now = {(a["subject"], a["kind"]) for a in queries.alert_list(ch, open_only=True)}
    assert ("M3", "case_overdue") in open_now and ("P2", "case_overdue") in open_now
    assert ("M2", "case_overdue") not in open_now  # M2 concluded on 5 Nov: closed (still listed)
    on_4th = {
        (a["subject"], a["kind"])
        for a in queries.alert_list(ch, as_of=at("2026-11-04 12:00"), open_only=True)
    }
    assert ("M2", "case_overdue") in on_4th  # open then
    assert not any(s in ("M3", "P2") for s, _ in on_4th)  # not raised yet
    scjg = queries.alert_list(ch, department=GA)
    assert {a["subject"] for a in scjg} == {"P2"}
    result = hallwatch(settings, "alerts", "--open", "--department", SCJG, "--json")
    assert result.returncode == 0, result.stderr
    got = {(a["subject"], a["kind"]) for a in orjson.loads(result.stdout)}
    assert got == {k for k in open_now if k[0].startswith("M")}


def test_case_table_as_of_a_past_time(month: tuple[ClickHouse, Settings]) -> None:
    ch, settings = month
    end = {r["case_id"]: r for r in queries.case_table(ch, as_of=NOV.end - timedelta(seconds=1))}
    now = {r["case_id"]: r for r in queries.case_table(ch, now=NOV.end)}
    assert set(end) == set(now) == {"M1", "M2", "M3", "M4", "M5", "M6", "P1", "P2", "P3"}
    for cid, r in now.items():  # nothing happened after November: the same table
        keys = ("status", "due_date", "warn_date", "concluded_at", "overdue", "town", "receipt_no")
        assert {k: end[cid][k] for k in keys} == {k: r[k] for k in keys}, cid
    assert {c for c, r in now.items() if r["overdue"]} == {"M2", "M3", "P2"}
    on_4th = {r["case_id"]: r for r in queries.case_table(ch, as_of=at("2026-11-04 12:00"))}
    assert set(on_4th) == {"M1", "M2", "M4", "P1"}
    assert on_4th["M2"]["status"] == "in_progress" and on_4th["M2"]["overdue"] is True
    assert on_4th["M1"]["status"] == "concluded" and on_4th["M1"]["overdue"] is False
    mid_m6 = queries.case_table(ch, as_of=at("2026-11-18 11:00"), department=SCJG, open_only=True)
    assert {r["case_id"]: r["status"] for r in mid_m6} == {
        "M3": "in_progress", "M6": "awaiting_materials",
    }  # fmt: skip
    result = hallwatch(settings, "cases", "--overdue", "--as-of", "2026-11-04", "--json")
    assert result.returncode == 0, result.stderr
    assert [r["case_id"] for r in orjson.loads(result.stdout)] == ["M2"]


def test_queries_before_any_projection_say_what_to_do(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "empty", secret_key=b"k" * 32)
    for args in (("rank", "--month", "2026-11"), ("alerts", "--open"), ("cases",)):
        result = hallwatch(settings, *args)
        assert result.returncode == 1, result
        assert "hallwatch project" in result.stderr and "clickhouse" in result.stderr


def test_small_caches_and_batches_give_the_same_tables(
    clickhouse_server: str, month_events: list[bytes]
) -> None:
    """Evictions force hydration queries while a batch is still being inserted by the
    writer thread: each query waits for it, so the tables come out identical to a run
    with room for everything. (Two databases at once: a process holds one chdb
    database, so both live on the server.)"""
    base = clickhouse_server.rsplit("/", 1)[0]
    dbs = [f"hallwatch_small_{uuid.uuid4().hex[:10]}" for _ in range(2)]
    whole, small = (ServerBackend(f"{base}/{db}") for db in dbs)
    try:
        hydrations = []
        for ch, capacity, batch in ((whole, 50_000, 10_000), (small, 3, 7)):
            migrate(ch)
            towns, projectors = default_projectors(capacity=capacity)
            runner = ProjectionRunner(
                ch, MemoryTopic(month_events), projectors=projectors, towns=towns,
                max_records=batch, max_wait=0.01,
            )  # fmt: skip
            stats = runner.run(until_idle=True, idle_seconds=0.0)
            runner.close()
            assert stats.messages == len(month_events)
            hydrations.append(stats.hydration_queries)
        assert hydrations[0] == 0 and hydrations[1] > 10  # empty tables need no hydration
        for p in projectors:
            cols = ", ".join(p.columns)
            sql = f"SELECT {cols} FROM {p.table} FINAL ORDER BY {cols}"
            assert small.query(sql) == whole.query(sql), p.table
    finally:
        for ch, db in zip((whole, small), dbs, strict=True):
            ch.execute(f"DROP DATABASE IF EXISTS {db}")
            ch.close()
