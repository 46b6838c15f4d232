"""The alerter on simulated time, on the real event stores (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import orjson

from domain import clock
from domain.application import Hallwatch
from domain.model import Case, Complaint, SupervisionOrder, stream_id
from streams.alerter import Alerter
from tests.support import CAL, at, full_case, rec, submitted


class SimClock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def ingest(app: Hallwatch, records: list[dict[str, Any]]) -> None:
    outcomes = app.ingest([orjson.dumps(r) for r in records])
    assert all(o.status == "applied" for o in outcomes), outcomes


def alerts_of(app: Hallwatch, kind: str, key: str) -> list[dict[str, Any]]:
    agg, _ = app.as_of(stream_id(kind, key), None)
    assert isinstance(agg, Case | Complaint | SupervisionOrder)
    return list(agg.alerts)


def accepted_case(app: Hallwatch, case_id: str) -> Case:
    ingest(app, full_case(case_id)[:3])  # submitted, accepted, first step started
    agg, _ = app.as_of(stream_id("case", case_id), None)
    assert isinstance(agg, Case)
    return agg


def test_overdue_case_gets_its_red_alert_within_one_tick_of_the_deadline(app: Hallwatch) -> None:
    case = accepted_case(app, "A1")
    assert case.due_date is not None
    overdue_at = clock.overdue_from(case.due_date)
    sim = SimClock(overdue_at - timedelta(seconds=1))
    alerter = Alerter(app, clock=sim)
    alerter.start()
    alerter.tick()
    assert "case_overdue" not in [a["alert"] for a in alerts_of(app, "case", "A1")]
    sim.now = overdue_at + timedelta(milliseconds=100)  # no new event; the deadline passed
    alerter.tick()
    kinds = [a["alert"] for a in alerts_of(app, "case", "A1")]
    assert kinds.count("case_overdue") == 1 and kinds.count("case_warning") == 1
    red = next(a for a in alerts_of(app, "case", "A1") if a["alert"] == "case_overdue")
    assert red["at"] == overdue_at and red["deadline"] == case.due_date
    alerter.tick()
    sim.now += timedelta(days=3)
    alerter.tick()
    assert [a["alert"] for a in alerts_of(app, "case", "A1")].count("case_overdue") == 1


def test_yellow_warning_comes_at_the_start_of_the_warning_day(app: Hallwatch) -> None:
    case = accepted_case(app, "W1")
    assert case.warn_date is not None
    sim = SimClock(clock.start_of_day(case.warn_date) - timedelta(seconds=1))
    alerter = Alerter(app, clock=sim)
    alerter.start()
    alerter.tick()

    def warnings() -> list[dict[str, Any]]:
        return [a for a in alerts_of(app, "case", "W1") if a["alert"] == "case_warning"]

    assert warnings() == []
    sim.now += timedelta(seconds=2)
    alerter.tick()
    assert len(warnings()) == 1 and warnings()[0]["at"] == clock.start_of_day(case.warn_date)


def test_two_alerters_at_once_record_each_alert_once(
    app: Hallwatch, reopen: Callable[[], Hallwatch]
) -> None:
    for i in range(20):
        accepted_case(app, f"T{i:02d}")
    case, _ = app.as_of(stream_id("case", "T00"), None)
    assert isinstance(case, Case) and case.due_date is not None
    sim = SimClock(clock.overdue_from(case.due_date) + timedelta(seconds=1))
    alerters = [Alerter(reopen(), clock=sim) for _ in range(2)]
    for a in alerters:
        a.start()
    barrier = threading.Barrier(2)

    def go(a: Alerter) -> None:
        barrier.wait()
        a.tick()

    threads = [threading.Thread(target=go, args=(a,)) for a in alerters]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for i in range(20):
        kinds = [a["alert"] for a in alerts_of(app, "case", f"T{i:02d}")]
        assert kinds.count("case_overdue") == 1, kinds
        assert kinds.count("step_overdue") == 1, kinds
    assert sum(a.stats.raised for a in alerters) == 20 * 3  # warning, overdue, step overdue


def test_a_restarted_alerter_raises_nothing_again(
    app: Hallwatch, reopen: Callable[[], Hallwatch]
) -> None:
    case = accepted_case(app, "R1")
    assert case.due_date is not None
    sim = SimClock(clock.overdue_from(case.due_date) + timedelta(hours=1))
    first = Alerter(app, clock=sim)
    first.start()
    assert first.tick() == 3
    second = Alerter(reopen(), clock=sim)
    second.start()
    assert second.tick() == 0


def test_suspended_case_is_not_overdue_and_resumption_moves_the_deadline(app: Hallwatch) -> None:
    item = "ZJ-001"  # a suspendable construction licence in the sample catalogue
    from tests.support import sample_catalogue

    assert (
        sample_catalogue().latest(item) is not None and sample_catalogue().latest(item).suspendable
    )
    ingest(
        app,
        [
            submitted("S1", "2026-03-02 09:00", item_code=item),
            rec("accepted", "2026-03-03 09:00", case_id="S1", receipt_no="SL-S1"),
            rec(
                "suspended",
                "2026-03-04 09:00",
                case_id="S1",
                procedure="hearing",
                reason="听证",
                expected_days=30,
            ),
        ],
    )
    case, _ = app.as_of(stream_id("case", "S1"), None)
    assert isinstance(case, Case) and case.due_date is not None
    old_due = case.due_date
    sim = SimClock(clock.overdue_from(old_due) + timedelta(hours=1))
    alerter = Alerter(app, clock=sim)
    alerter.start()
    alerter.tick()
    assert alerts_of(app, "case", "S1") == []  # clock stopped: nothing is late
    resume_day = CAL.add_working_days(old_due, 2)
    ingest(app, [rec("resumed", f"{resume_day} 09:00", case_id="S1")])
    case, _ = app.as_of(stream_id("case", "S1"), None)
    assert isinstance(case, Case) and case.due_date is not None and case.due_date > old_due
    sim.now = clock.overdue_from(case.due_date) + timedelta(seconds=1)
    alerter.tick()
    overdue = [a for a in alerts_of(app, "case", "S1") if a["alert"] == "case_overdue"]
    assert len(overdue) == 1 and overdue[0]["deadline"] == case.due_date


def test_intake_rating_complaint_and_supervision_deadlines(app: Hallwatch) -> None:
    records = [submitted("I1", "2026-03-02 09:00"), *full_case("B1")]
    records.append(rec("rated", "2026-03-20 10:00", case_id="B1", level=1, comment="太慢"))
    records += [
        rec(
            "complaint_filed",
            "2026-03-02 09:00",
            complaint_id="C1",
            department="公安局",
            channel="hotline",
            content="窗口无人",
        ),
        rec(
            "supervision_ordered",
            "2026-03-02 09:00",
            order_id="O1",
            department="住建局",
            inspector="纪检监察室",
            due_days=3,
            note="限期办结",
        ),
    ]
    ingest(
        app,
        [r for r in records if r["kind"] != "rated" or r["case_id"] != "B1" or r.get("level") == 1],
    )
    sim = SimClock(at("2026-04-30 00:00"))
    alerter = Alerter(app, clock=sim)
    alerter.start()
    alerter.tick()
    assert [a["alert"] for a in alerts_of(app, "case", "I1")] == ["intake_overdue"]
    assert "rating_unanswered" in [a["alert"] for a in alerts_of(app, "case", "B1")]
    assert [a["alert"] for a in alerts_of(app, "complaint", "C1")] == ["complaint_overdue"]
    assert [a["alert"] for a in alerts_of(app, "supervision", "O1")] == ["supervision_unanswered"]


def test_alerts_are_events_in_the_case_history(app: Hallwatch) -> None:
    case = accepted_case(app, "H1")
    assert case.due_date is not None
    sim = SimClock(clock.overdue_from(case.due_date) + timedelta(minutes=5))
    alerter = Alerter(app, clock=sim)
    alerter.start()
    alerter.tick()
    _, events = app.as_of(stream_id("case", "H1"), None)
    raised = [e for e in events if isinstance(e, Case.AlertRaised)]
    assert {e.alert for e in raised} == {"case_warning", "case_overdue", "step_overdue"}
    assert all(e.recorded_at == sim.now for e in raised)
    assert app.verify().ok  # alerts are hash-chained like everything else
