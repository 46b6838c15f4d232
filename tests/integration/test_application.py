"""The application on a real event store: SQLite file and PostgreSQL server alike."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson
import pytest

from domain.application import APPLIED, DUPLICATE, REFUSED, Hallwatch
from domain.intake import COMMANDS as _STREAM_KEYS_OF  # the prefetch reads each command's streams
from domain.intake import handled_kinds
from domain.model import Case, stream_id
from domain.views import case_view
from infra.settings import Settings
from tests.support import at, full_case, rec, submitted


def dump(records: list[dict[str, Any]]) -> list[bytes]:
    return [orjson.dumps(r) for r in records]


def store_rows(app: Hallwatch) -> list[tuple[Any, ...]]:
    return [(n, str(s), v, t, bytes(st)) for n, s, v, t, st in app.stored_rows()]


def statuses(outcomes: list[Any]) -> list[str]:
    return [o.status for o in outcomes]


def test_a_whole_case_lifecycle_is_stored_and_readable(app: Hallwatch) -> None:
    outcomes = app.ingest(dump(full_case("DG1")))
    assert set(statuses(outcomes)) == {APPLIED}
    (sid,) = app.find_cases("SL-DG1")
    case, events = app.as_of(sid, None)
    assert isinstance(case, Case)
    assert case.status == "concluded" and case.on_time is True and case.rating == 5
    view = case_view(case, events, at("2026-06-01 00:00"))
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
    assert view["flags"] == ["case_warning"] or view["flags"] == []
    assert [e["type"] for e in view["events"]][:2] == ["case.submitted", "case.accepted"]


def test_same_1000_records_ingested_twice_give_the_same_store(
    app: Hallwatch, reopen: Callable[[], Hallwatch]
) -> None:
    records: list[dict[str, Any]] = []
    n = 0
    while len(records) < 1000:
        records += full_case(f"IDEM{n:04d}", start="2026-03-02 09:00")
        n += 1
    records = records[:1000]
    first = app.ingest(dump(records))
    assert REFUSED not in statuses(first)
    before = store_rows(app)
    again = app.ingest(dump(records))
    assert set(statuses(again)) == {DUPLICATE}
    # A new process (no cache), as after a crash and a replay of the whole file:
    fresh = reopen()
    replay = fresh.ingest(dump(records))
    assert set(statuses(replay)) == {DUPLICATE}
    assert store_rows(fresh) == before


def test_a_batch_replayed_after_partial_application_adds_only_the_rest(
    app: Hallwatch, reopen: Callable[[], Hallwatch]
) -> None:
    records = full_case("HALF")
    app.ingest(dump(records[:4]))
    fresh = reopen()
    outcomes = fresh.ingest(dump(records))
    assert statuses(outcomes) == [DUPLICATE] * 4 + [APPLIED] * (len(records) - 4)


BAD_RECORDS: list[tuple[str, bytes | dict[str, Any], str]] = [
    ("invalid json", b'{"record_id": "x", ', "not valid JSON"),
    ("not an object", b"[1, 2, 3]", "must be a JSON object"),
    ("invalid utf-8", b'{"record_id": "\xff\xfe", "kind": "submitted"}', "not valid JSON"),
    ("unknown kind", rec("teleported", "2026-03-02 09:00", case_id="C0"), "kind"),
    (
        "missing field",
        {k: v for k, v in submitted("C0", "2026-03-02 09:00").items() if k != "item_code"},
        "item_code",
    ),
    (
        "wrong type",
        rec("delivered", "2026-03-02 09:00", case_id="C0", method="post", site_visits="two"),
        "site_visits",
    ),
    (
        "no utc offset",
        {**rec("resumed", "2026-03-02 09:00", case_id="C0"), "at": "2026-03-02T09:00:00"},
        "at",
    ),
    ("unknown case", rec("resumed", "2026-03-02 09:00", case_id="NOPE"), "unknown case NOPE"),
    (
        "unknown item",
        submitted("C9", "2026-03-02 09:00", item_code="XX-999"),
        "unknown service item",
    ),
    (
        "unknown complaint",
        rec("complaint_replied", "2026-03-02 09:00", complaint_id="T9", reply="r"),
        "unknown complaint",
    ),
    (
        "unknown order",
        rec("supervision_answered", "2026-03-02 09:00", order_id="O9", reply="r"),
        "unknown supervision order",
    ),
]


@pytest.mark.parametrize(("name", "record", "reason"), BAD_RECORDS, ids=[b[0] for b in BAD_RECORDS])
def test_impossible_records_are_refused_with_a_reason(
    app: Hallwatch, name: str, record: bytes | dict[str, Any], reason: str
) -> None:
    before = store_rows(app)
    (outcome,) = app.ingest([record if isinstance(record, bytes) else orjson.dumps(record)])
    assert outcome.status == REFUSED, name
    assert outcome.reason is not None and reason in outcome.reason
    assert store_rows(app) == before


def _case_then(app: Hallwatch, extra: list[dict[str, Any]]) -> list[Any]:
    app.ingest(dump(full_case("LIFE")))
    return app.ingest(dump(extra))


def test_a_step_after_conclusion_is_refused(app: Hallwatch) -> None:
    (o,) = _case_then(
        app, [rec("step_started", "2026-04-01 09:00", case_id="LIFE", step="审查", handler="x")]
    )
    assert o.status == REFUSED and "after conclusion" in (o.reason or "")


def test_an_unknown_step_name_is_refused(app: Hallwatch) -> None:
    app.ingest(dump(full_case("STEP")[:2]))
    (o,) = app.ingest(
        dump([rec("step_started", "2026-03-03 11:00", case_id="STEP", step="盖章", handler="x")])
    )
    assert o.status == REFUSED and "not a step of item" in (o.reason or "")


def test_a_second_submission_of_the_same_case_by_another_record_is_refused(app: Hallwatch) -> None:
    app.ingest(dump([submitted("TWICE", "2026-03-02 09:00")]))
    (o,) = app.ingest(dump([submitted("TWICE", "2026-03-02 10:00")]))
    assert o.status == REFUSED and "already submitted" in (o.reason or "")


def test_a_receipt_number_of_another_case_is_refused(app: Hallwatch) -> None:
    app.ingest(dump(full_case("R1", receipt="SL-SAME")[:2]))
    app.ingest(dump([submitted("R2", "2026-03-02 09:00")]))
    (o,) = app.ingest(
        dump([rec("accepted", "2026-03-03 09:00", case_id="R2", receipt_no="SL-SAME")])
    )
    assert o.status == REFUSED and "already issued" in (o.reason or "")


def test_bundle_cases_share_one_receipt(app: Hallwatch) -> None:
    recs = [
        submitted("B1", "2026-03-02 09:00", bundle_id="YJS-1"),
        submitted("B2", "2026-03-02 09:00", item_code="SCJG-001", bundle_id="YJS-1"),
        rec("accepted", "2026-03-03 09:00", case_id="B1", receipt_no="SL-BUNDLE"),
        rec("accepted", "2026-03-03 09:00", case_id="B2", receipt_no="SL-BUNDLE"),
    ]
    assert set(statuses(app.ingest(dump(recs)))) == {APPLIED}
    assert app.find_cases("SL-BUNDLE") == [stream_id("case", "B1"), stream_id("case", "B2")]


def test_supervision_rule_breaches_are_recorded_not_refused(app: Hallwatch) -> None:
    recs = [
        submitted("V1", "2026-03-02 09:00"),
        rec("correction_requested", "2026-03-03 09:00", case_id="V1", materials=["身份证"]),
        rec("correction_requested", "2026-03-03 10:00", case_id="V1", materials=["营业执照"]),
        submitted("V2", "2026-03-02 09:00"),
        rec("rejected", "2026-03-20 09:00", case_id="V2"),
    ]
    assert set(statuses(app.ingest(dump(recs)))) == {APPLIED}
    v1, _ = app.as_of(stream_id("case", "V1"), None)
    v2, _ = app.as_of(stream_id("case", "V2"), None)
    assert isinstance(v1, Case) and isinstance(v2, Case)
    assert [v["violation"] for v in v1.violations] == ["second_correction"]
    assert sorted(v["violation"] for v in v2.violations) == [
        "late_intake_decision",
        "missing_reason",
    ]


def test_case_as_of_a_past_time_shows_the_state_then(app: Hallwatch) -> None:
    app.ingest(dump(full_case("ASOF")))
    sid = stream_id("case", "ASOF")
    then, events = app.as_of(sid, at("2026-03-03 10:30"))
    assert isinstance(then, Case) and then.status == "in_progress"
    assert [Case.event_type(e) for e in events] == ["case.submitted", "case.accepted"]
    assert app.as_of(sid, at("2026-03-01 00:00"))[0] is None


def test_open_case_past_its_due_date_is_overdue_as_of_later(app: Hallwatch) -> None:
    app.ingest(dump(full_case("LATE")[:3]))  # accepted, first step started, never concluded
    case, events = app.as_of(stream_id("case", "LATE"), None)
    assert isinstance(case, Case) and case.due_date is not None
    inside = case_view(case, events, at(f"{case.due_date} 23:59"))
    after = case_view(
        case,
        events,
        at(f"{case.due_date} 23:59")
        .replace(hour=0, minute=0)
        .__add__(__import__("datetime").timedelta(days=1)),
    )
    assert inside["overdue"] is False and "case_warning" in inside["flags"]
    assert after["overdue"] is True and "case_overdue" in after["flags"]


def test_applicant_id_is_never_stored_in_clear(app: Hallwatch) -> None:
    app.ingest(dump([submitted("PII", "2026-03-02 09:00", applicant_id="440101199001019999")]))
    assert not any(b"440101199001019999" in row[4] for row in store_rows(app))


def test_query_code_is_checked_not_stored(app: Hallwatch) -> None:
    app.ingest(dump(full_case("QC")))
    case, _ = app.as_of(stream_id("case", "QC"), None)
    assert isinstance(case, Case)
    assert app.query_code_matches(case, "123456") and not app.query_code_matches(case, "654321")
    assert not any(b'"123456"' in row[4] for row in store_rows(app))


def test_generated_query_code_is_derived_from_the_receipt(app: Hallwatch) -> None:
    app.ingest(
        dump(
            [
                submitted("GEN", "2026-03-02 09:00"),
                rec("accepted", "2026-03-03 09:00", case_id="GEN", receipt_no="SL-GEN"),
            ]
        )
    )
    case, _ = app.as_of(stream_id("case", "GEN"), None)
    assert isinstance(case, Case)
    assert app.query_code_matches(case, app.derived_query_code("SL-GEN"))


def test_verify_passes_on_an_untouched_store(app: Hallwatch) -> None:
    app.ingest(dump(full_case("OK1") + full_case("OK2")))
    report = app.verify()
    assert report.ok and report.events > 20


def _tamper(settings: Settings, app: Hallwatch, old: bytes, new: bytes) -> None:
    if settings.database_url is None:
        import sqlite3

        con = sqlite3.connect(settings.sqlite_path)
        with con:
            cur = con.execute(
                "UPDATE stored_events SET state = CAST(replace(CAST(state AS TEXT), ?, ?) "
                "AS BLOB) WHERE instr(CAST(state AS TEXT), ?) > 0",
                (old.decode(), new.decode(), old.decode()),
            )
            assert cur.rowcount == 1
        con.close()
    else:
        import psycopg

        with psycopg.connect(settings.database_url, autocommit=True) as con:
            cur = con.execute(
                "UPDATE hallwatch_events SET state = "
                "convert_to(replace(convert_from(state, 'UTF8'), %s, %s), 'UTF8') "
                "WHERE position(%s in convert_from(state, 'UTF8')) > 0",
                (old.decode(), new.decode(), old.decode()),
            )
            assert cur.rowcount == 1


def test_verify_detects_an_event_edited_directly_in_the_database(
    settings: Settings, app: Hallwatch, reopen: Callable[[], Hallwatch]
) -> None:
    app.ingest(dump(full_case("TAMPER")))
    app.ingest(dump([rec("rated", "2026-03-20 09:00", case_id="LIFE", level=1)]))  # refused, fine
    _tamper(settings, app, b'"level":5', b'"level":4')
    report = reopen().verify()
    assert not report.ok
    assert report.breaks is not None
    first = report.breaks[0]
    assert first.stream_id == stream_id("case", "TAMPER")
    assert first.topic.endswith("Case.Rated") and "edited" in first.reason


def test_event_times_keep_occurred_and_recorded_apart(app: Hallwatch) -> None:
    app.ingest(
        dump(
            [
                submitted("T1", "2026-03-02 09:00"),
                rec(
                    "accepted",
                    "2026-03-03 09:00",
                    recorded="2026-03-03 17:00",
                    case_id="T1",
                    receipt_no="SL-T1",
                ),
            ]
        )
    )
    _, events = app.as_of(stream_id("case", "T1"), None)
    assert events[1].occurred_at == at("2026-03-03 09:00")
    assert events[1].recorded_at == at("2026-03-03 17:00")
    assert isinstance(events[1].timestamp, datetime)


def test_prefetch_knows_the_streams_of_every_kind() -> None:
    assert set(_STREAM_KEYS_OF) == handled_kinds()
