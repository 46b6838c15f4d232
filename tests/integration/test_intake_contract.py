"""The strict intake contract on the real stores: what a hostile hall system cannot do.

Idempotency keys that check content, reserved identities (no spoofed alerts), the
time order of a case's lifecycle, plausible times, integral floats, and one bad
record never stopping the good ones around it.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from domain import clock
from domain.application import APPLIED, DUPLICATE, REFUSED, Hallwatch
from domain.model import Case, stream_id
from domain.views import case_view
from projections.clickhouse import ChdbBackend
from projections.migrations import migrate
from projections.runner import ProjectionRunner
from streams.alerter import Alerter
from streams.cloudevents import stored_cloudevents
from tests.support import CAL, at, full_case, rec, submitted


def ingest(app: Hallwatch, records: list[dict[str, Any]]) -> list[Any]:
    return app.ingest([orjson.dumps(r) for r in records])


def applied(app: Hallwatch, records: list[dict[str, Any]]) -> None:
    outcomes = ingest(app, records)
    assert [o.status for o in outcomes] == [APPLIED] * len(records), outcomes


def case_of(app: Hallwatch, case_id: str) -> Case:
    agg, _ = app.as_of(stream_id("case", case_id), None)
    assert isinstance(agg, Case)
    return agg


class SimClock:
    def __init__(self, start: Any) -> None:
        self.now = start

    def __call__(self) -> Any:
        return self.now


# --- idempotency by content ----------------------------------------------------------


def test_the_same_record_again_is_a_duplicate_and_other_content_under_its_key_a_conflict(
    app: Hallwatch,
) -> None:
    records = full_case("IK1")
    applied(app, records)
    again = ingest(app, records)
    assert {o.status for o in again} == {DUPLICATE}
    changed = dict(records[2], handler="李四")  # a step_started, same record_id
    (outcome,) = ingest(app, [changed])
    assert outcome.status == REFUSED
    assert outcome.reason is not None and "other content" in outcome.reason
    assert "digest" in outcome.reason


def test_a_record_id_reused_on_another_case_is_refused(app: Hallwatch) -> None:
    applied(app, full_case("IK2")[:2])
    applied(app, [submitted("IK3", "2026-03-02 09:00")])
    reused = rec("accepted", "2026-03-03 10:00", case_id="IK3", receipt_no="SL-IK3", query_code="1")
    reused["record_id"] = full_case_ids(app, "IK2")[1]
    (outcome,) = ingest(app, [reused])
    assert outcome.status == REFUSED
    assert outcome.reason is not None and "already applied to case:IK2" in outcome.reason
    assert case_of(app, "IK3").status == "awaiting_intake"


def full_case_ids(app: Hallwatch, case_id: str) -> list[str]:
    return [e.record_id for e in app.history(stream_id("case", case_id))]


def test_the_same_key_twice_in_one_batch_with_other_content_is_refused_once(
    app: Hallwatch,
) -> None:
    first = submitted("IK4", "2026-03-02 09:00")
    second = dict(first, town="北城街道")
    outcomes = ingest(app, [first, second, first])
    assert [o.status for o in outcomes] == [APPLIED, REFUSED, DUPLICATE]


# --- reserved identities: an alert cannot be spoofed ---------------------------------


def test_a_spoofed_alerter_record_is_refused_and_the_red_alert_still_comes_on_time(
    app: Hallwatch,
) -> None:
    applied(app, full_case("SP1")[:3])
    case = case_of(app, "SP1")
    assert case.due_date is not None
    spoof = rec("step_started", "2026-03-03 12:00", case_id="SP1", step="现场核查", handler="x")
    spoof["source"] = "hallwatch-alerter"
    spoof["record_id"] = f"alert:case_overdue:{case.due_date.isoformat()}"
    other = dict(spoof, source="some-hall")
    outcomes = ingest(app, [spoof, other, dict(spoof, source="HallWatch-dashboard", record_id="x")])
    assert [o.status for o in outcomes] == [REFUSED] * 3
    assert outcomes[0].reason is not None and "reserved" in outcomes[0].reason
    assert outcomes[1].reason is not None and "reserved" in outcomes[1].reason
    overdue_at = clock.overdue_from(case.due_date)
    sim = SimClock(overdue_at + timedelta(milliseconds=50))
    alerter = Alerter(app, clock=sim)
    alerter.start()
    alerter.tick()
    red = [a for a in case_of(app, "SP1").alerts if a["alert"] == "case_overdue"]
    assert len(red) == 1 and red[0]["at"] == overdue_at


# --- time order ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "build"),
    [
        (
            "accepted before submitted",
            lambda: rec("accepted", "2026-03-01 10:00", case_id="TO", receipt_no="SL-TO"),
        ),
        (
            "rejected before submitted",
            lambda: rec("rejected", "2026-03-02 08:00", case_id="TO", reason="x"),
        ),
        (
            "step completed before it started",
            lambda: rec(
                "step_completed",
                "2026-03-03 10:59",
                case_id="TO",
                step="审查",
                handler="王五",
                decision="pass",
            ),
        ),
        (
            "concluded before acceptance",
            lambda: rec(
                "concluded", "2026-03-03 09:00", case_id="TO", outcome="approved", online=1
            ),
        ),
        (
            "extended before submission",
            lambda: rec(
                "extended", "2026-02-01 09:00", case_id="TO", days=2, reason="x", approved_by="y"
            ),
        ),
    ],
)
def test_records_out_of_the_lifecycle_order_are_refused(
    app: Hallwatch, name: str, build: Any
) -> None:
    record = build()
    records = full_case("TO")[:3]  # submitted 03-02 09:00, accepted 03-03 10:00, step 11:00
    applied(app, records[:1] if record["kind"] in ("accepted", "rejected") else records)
    if record["kind"] == "concluded":
        record["online"] = True
    (outcome,) = ingest(app, [record])
    assert outcome.status == REFUSED, name
    assert outcome.reason is not None and "before the" in outcome.reason, outcome.reason


def test_delivery_before_conclusion_and_rating_before_it_are_refused(app: Hallwatch) -> None:
    records = full_case("TD")
    conclude = next(r for r in records if r["kind"] == "concluded")
    applied(app, records[: records.index(conclude) + 1])
    early = at("2026-03-02 09:30").isoformat()  # after submission, before conclusion
    for kind, fields in (
        ("delivered", {"method": "post", "site_visits": 0}),
        ("rated", {"level": 5}),
    ):
        record = rec(kind, "2026-03-02 09:30", case_id="TD", **fields)
        assert record["at"] == early
        (outcome,) = ingest(app, [record])
        assert outcome.status == REFUSED and "conclusion" in (outcome.reason or ""), outcome


def test_a_case_concluded_before_it_was_submitted_cannot_count_as_on_time(
    app: Hallwatch,
) -> None:
    applied(app, full_case("TK")[:2])
    record = rec("concluded", "2026-02-20 09:00", case_id="TK", outcome="approved", online=True)
    (outcome,) = ingest(app, [record])
    assert outcome.status == REFUSED
    assert case_of(app, "TK").status == "in_progress"


# --- plausible values ----------------------------------------------------------------


def test_integral_floats_stand_for_integers_and_other_floats_are_refused(app: Hallwatch) -> None:
    records = full_case("FL1", item_code="SCJG-003")[:3]
    applied(app, records)
    two = rec(
        "suspended",
        "2026-03-04 09:00",
        case_id="FL1",
        procedure="hearing",
        reason="听证",
        expected_days=2.0,
    )
    half = dict(two, record_id="half", expected_days=2.5)
    outcomes = ingest(app, [half, two])
    assert [o.status for o in outcomes] == [REFUSED, APPLIED]
    events = app.history(stream_id("case", "FL1"))
    suspended = next(e for e in events if type(e).__name__ == "Suspended")
    assert suspended.expected_days == 2 and type(suspended.expected_days) is int  # type: ignore[attr-defined]
    view = case_view(case_of(app, "FL1"), events, at("2026-03-05 00:00"))
    orjson.dumps(view)


@pytest.mark.parametrize(
    ("when", "why"),
    [
        ("9999-12-31T23:59:59-01:00", "outside the years"),
        ("0001-01-01T00:00:00+08:00", "outside the years"),
        ("2099-12-31T23:59:59+08:00", "more than a day after"),
    ],
)
def test_times_outside_a_plausible_range_are_refused_not_crashed(
    app: Hallwatch, when: str, why: str
) -> None:
    good = submitted("TR-good", "2026-03-02 09:00")
    bad = dict(submitted("TR-bad", "2026-03-02 09:00"), at=when)
    bad.pop("recorded_at")
    outcomes = ingest(app, [bad, good])
    assert [o.status for o in outcomes] == [REFUSED, APPLIED]
    assert why in (outcomes[0].reason or "")


def test_a_record_far_in_the_future_of_its_recorded_at_is_refused(app: Hallwatch) -> None:
    r = submitted(
        "TF",
        "2026-03-05 09:00",
    )
    r["recorded_at"] = at("2026-03-02 09:00").isoformat()
    (outcome,) = ingest(app, [r])
    assert outcome.status == REFUSED and "recorded_at" in (outcome.reason or "")


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b'{"record_id": "a", "record_id": "b", "kind": "resumed"}', "appears twice"),
        (b'{"record_id": "a",\n "kind": }', "byte offset 28"),
        (b'{"record_id": "\xe4\xb8", "kind": "resumed"}', "byte offset 15"),
        (b"x" * 70_000, "exceeds"),
        (
            b'{"record_id": "a", "kind": "resumed", "at": "2026-03-02T09:00:00+08:00", '
            b'"case_id": "X", "extra": {"deep": [[[[[[]]]]]]}}',
            "data.extra.deep",
        ),
    ],
)
def test_broken_bytes_are_refused_with_where_they_break(
    app: Hallwatch, raw: bytes, why: str
) -> None:
    (outcome,) = app.ingest([raw])
    assert outcome.status == REFUSED
    assert why in (outcome.reason or ""), outcome.reason


def test_a_utf8_bom_is_read_as_the_start_of_a_file(app: Hallwatch) -> None:
    (outcome,) = app.ingest([b"\xef\xbb\xbf" + orjson.dumps(submitted("BOM", "2026-03-02 09:00"))])
    assert outcome.status == APPLIED


# --- one bad record never stops the others -------------------------------------------


def test_a_record_that_raises_unexpectedly_is_refused_and_the_batch_still_applies(
    app: Hallwatch, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = [r for n in range(3) for r in full_case(f"ISO{n}")[:4]]
    poison = records[6]  # ISO1's first step_started
    original = Case.start_step

    def failing(self: Case, ctx: Any, **kw: Any) -> None:
        if ctx.record_id == poison["record_id"]:
            original(self, ctx, **kw)  # half-changes the aggregate, then fails
            raise RuntimeError("disk on fire")
        original(self, ctx, **kw)

    monkeypatch.setattr(Case, "start_step", failing)
    outcomes = ingest(app, records)
    statuses = [o.status for o in outcomes]
    assert statuses.count(REFUSED) == 2  # the poison and the step it would have completed
    assert statuses[6] == REFUSED and "RuntimeError: disk on fire" in (outcomes[6].reason or "")
    assert all(s == APPLIED for i, s in enumerate(statuses) if i not in (6, 7)), statuses
    assert not case_of(app, "ISO1").steps[poison["step"]].running
    assert app.verify().ok


# --- clocks without gaps -------------------------------------------------------------


def test_a_step_nobody_started_raises_step_overdue_when_its_limit_passes(
    app: Hallwatch,
) -> None:
    records = full_case("US1")[:2]  # submitted, accepted; the first step is never started
    applied(app, records)
    case = case_of(app, "US1")
    first = next(iter(case.steps.values()))
    assert case.next_step == first.name and case.accepted_at is not None
    due = CAL.add_working_days(clock.local_date(case.accepted_at), first.days)
    assert case.next_step_due == due
    sim = SimClock(clock.overdue_from(due) - timedelta(seconds=1))
    alerter = Alerter(app, clock=sim)
    alerter.start()
    alerter.tick()
    assert not [a for a in case_of(app, "US1").alerts if a["alert"] == "step_overdue"]
    sim.now = clock.overdue_from(due) + timedelta(milliseconds=50)
    alerter.tick()
    (red,) = [a for a in case_of(app, "US1").alerts if a["alert"] == "step_overdue"]
    assert red["step"] == first.name and red["deadline"] == due
    view = case_view(case_of(app, "US1"), app.history(stream_id("case", "US1")), sim.now)
    assert "step_overdue" in view["flags"]


def test_the_next_step_waits_from_the_previous_completion_and_starting_late_keeps_its_date(
    app: Hallwatch,
) -> None:
    records = full_case("US2")
    applied(app, records[:4])  # first step started and completed (pass)
    case = case_of(app, "US2")
    names = list(case.steps)
    done_on = case.steps[names[0]].completed_on
    assert done_on is not None and case.next_step == names[1]
    assert case.next_step_due == CAL.add_working_days(done_on, case.steps[names[1]].days)
    late_day = CAL.add_working_days(case.next_step_due, 2)
    start = rec("step_started", f"{late_day} 09:00", case_id="US2", step=names[1], handler="王五")
    applied(app, [start])
    case = case_of(app, "US2")
    assert case.steps[names[1]].due_date == CAL.add_working_days(done_on, case.steps[names[1]].days)
    assert case.next_step is None


def test_a_case_keeps_the_item_version_in_force_when_it_was_received(app: Hallwatch) -> None:
    # SCJG-002: version 1 (10 working days) until 2026-02-28, version 2 (5) from 2026-03-01
    sub = submitted("VER1", "2026-02-27 09:00")
    acc = rec("accepted", "2026-03-02 10:00", case_id="VER1", receipt_no="SL-VER1")
    applied(app, [sub, acc])
    case = case_of(app, "VER1")
    assert case.item.valid_from.isoformat() == "2025-01-01"
    assert case.limit_days == 10
    assert case.due_date == CAL.add_working_days(at("2026-03-02 10:00").date(), 10)
    accepted = app.history(stream_id("case", "VER1"))[1]
    assert accepted.item["valid_from"] == "2025-01-01"  # type: ignore[attr-defined]
    assert accepted.limit_days == 10  # type: ignore[attr-defined]
    assert [s.name for s in case.item.steps] == ["审查", "现场核查", "决定", "制证"]


def test_a_write_conflict_between_two_writers_leaves_no_gap_in_the_notification_ids(
    app: Hallwatch, reopen: Any
) -> None:
    records = full_case("WC1")
    applied(app, records[:2])  # this writer now holds the case in its cache
    other: Hallwatch = reopen()
    assert [o.status for o in ingest(other, records[2:3])] == [APPLIED]
    # the first writer's cached case is one version behind: its save conflicts,
    # is rolled back, and the batch is retried on the reloaded case
    notice = rec("correction_requested", "2026-03-03 12:00", case_id="WC1", materials=["营业执照"])
    assert [o.status for o in ingest(app, [notice])] == [APPLIED]
    assert case_of(app, "WC1").steps[records[2]["step"]].running  # retried on the fresh case
    ids = [n for n, *_ in app.stored_rows()]
    assert ids == list(range(1, len(ids) + 1))
    assert app.verify().ok


def test_the_received_version_reaches_clickhouse_too(app: Hallwatch, tmp_path: Path) -> None:
    sub = submitted("VER2", "2026-02-27 09:00")
    acc = rec("accepted", "2026-03-02 10:00", case_id="VER2", receipt_no="SL-VER2")
    applied(app, [sub, acc])
    events = [m.value for m in stored_cloudevents(app.stored_rows(), "test-hall")]
    ch = ChdbBackend(tmp_path / "clickhouse")
    try:
        migrate(ch)
        ProjectionRunner(ch, consumer=None).project(events)
        (row,) = ch.query_dicts(
            "SELECT limit_days, due_date FROM cases FINAL WHERE case_id = 'VER2'"
        )
    finally:
        ch.close()
    assert row["limit_days"] == 10
    assert (
        str(row["due_date"]) == CAL.add_working_days(at("2026-03-02 10:00").date(), 10).isoformat()
    )
