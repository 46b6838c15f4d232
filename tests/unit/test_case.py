"""The Case aggregate: every event kind, every violation, the clocks it stores."""

from __future__ import annotations

from datetime import date

import pytest

from domain.catalogue import ItemVersion, parse_catalogue, sample_catalogue_path
from domain.errors import CaseClosed, InvalidTransition, NotAllowed, UnknownStep
from domain.model import Case, Complaint, SupervisionOrder, item_dict, item_from
from domain.policy import Policy
from domain.vocabulary import CaseStatus
from tests.support import CAL, ctx, sample_catalogue

AWAITING_MATERIALS, CONCLUDED, CORRECTION_PAUSED = (
    CaseStatus.AWAITING_MATERIALS,
    CaseStatus.CONCLUDED,
    CaseStatus.CORRECTION_PAUSED,
)
IN_PROGRESS, REJECTED, SUSPENDED = CaseStatus.IN_PROGRESS, CaseStatus.REJECTED, CaseStatus.SUSPENDED
CAT = sample_catalogue()
POLICY = Policy()
FOOD = CAT.version_on("SCJG-002", date(2026, 3, 2))  # 食品经营许可: 20 statutory, 5 promised
EIA = next(v for c in CAT.codes() if (v := CAT.latest(c)) and v.suspendable and v.extension_days)
assert FOOD is not None


def submit(item=FOOD, when: str = "2026-03-02 09:00", **kw):  # type: ignore[no-untyped-def]
    return Case.submit(
        ctx(when, "submitted"),
        case_id="C1",
        item=item,
        town="南城街道",
        channel="web",
        applicant_kind="person",
        applicant_name="张三",
        applicant_hash="h",
        bundle_id=None,
        cal=CAL,
        policy=POLICY,
        **kw,
    )


def accepted(item=FOOD, when: str = "2026-03-03 09:00") -> Case:  # type: ignore[no-untyped-def]
    case = submit(item)
    case.accept(
        ctx(when, "accepted"),
        receipt_no="SL1",
        query_code_hash="q",
        item=item,
        cal=CAL,
        policy=POLICY,
    )
    return case


def kinds(case: Case) -> list[str]:
    return [v["violation"] for v in case.violations]


def types(case: Case) -> list[str]:
    return [Case.event_type(e) for e in case.pending_events]


def run_all_steps(case: Case, start: str = "2026-03-03") -> None:
    for st in case.item.steps:
        case.start_step(
            ctx(f"{start} 10:00"), step=st.name, handler="王五", department=None, cal=CAL
        )
        case.complete_step(
            ctx(f"{start} 11:00"),
            step=st.name,
            handler="王五",
            decision="pass",
            opinion=None,
            cal=CAL,
        )


def test_submission_sets_intake_deadline_five_working_days_later() -> None:
    case = submit()
    assert case.intake_due_date == date(2026, 3, 9)
    assert types(case) == ["case.submitted"]


def test_acceptance_stores_due_warning_and_legal_dates() -> None:
    case = accepted()
    assert case.status == IN_PROGRESS
    assert case.clock_start == date(2026, 3, 3)
    assert case.due_date == CAL.add_working_days(date(2026, 3, 3), FOOD.promised_days)
    assert case.legal_due_date == CAL.add_working_days(date(2026, 3, 3), FOOD.statutory_days)
    assert case.warn_date is not None and case.warn_date <= case.due_date
    ev = case.pending_events[-1]
    assert isinstance(ev, Case.Accepted) and ev.due_date == case.due_date


def test_acceptance_after_five_working_days_is_flagged_and_counts_from_submission() -> None:
    case = accepted(when="2026-03-12 09:00")
    assert kinds(case) == ["late_intake_decision"]
    assert case.deemed_accepted and case.clock_start == date(2026, 3, 2)


def test_rejection_without_reason_is_recorded_and_flagged() -> None:
    case = submit()
    case.reject(ctx("2026-03-03 09:00"), reason="", cal=CAL)
    assert case.status == REJECTED
    assert kinds(case) == ["missing_reason"]


def test_rejection_with_reason_is_clean() -> None:
    case = submit()
    case.reject(ctx("2026-03-03 09:00"), reason="不属于本部门职权范围", cal=CAL)
    assert kinds(case) == [] and case.rejection_reason == "不属于本部门职权范围"


def test_correction_at_intake_waits_for_materials_then_restarts_intake_clock() -> None:
    case = submit()
    case.request_correction(ctx("2026-03-03 09:00"), materials=("身份证",), cal=CAL)
    assert case.status == AWAITING_MATERIALS
    case.receive_correction(ctx("2026-03-16 09:00"), cal=CAL, policy=POLICY)
    assert case.intake_due_date == CAL.add_working_days(date(2026, 3, 16), 5)
    case.accept(
        ctx("2026-03-17 09:00"),
        receipt_no="SL1",
        query_code_hash="q",
        item=FOOD,
        cal=CAL,
        policy=POLICY,
    )
    assert kinds(case) == []


def test_second_correction_notice_is_flagged() -> None:
    case = submit()
    case.request_correction(ctx("2026-03-03 09:00"), materials=("身份证",), cal=CAL)
    case.request_correction(ctx("2026-03-03 10:00"), materials=("营业执照",), cal=CAL)
    assert kinds(case) == ["second_correction"]


def test_correction_after_acceptance_pauses_the_clock() -> None:
    case = accepted()
    before = case.due_date
    case.request_correction(ctx("2026-03-04 09:00"), materials=("平面图",), cal=CAL)
    assert case.status == CORRECTION_PAUSED
    case.receive_correction(ctx("2026-03-09 09:00"), cal=CAL, policy=POLICY)
    assert case.status == IN_PROGRESS
    assert case.due_date == CAL.add_working_days(before, 3)  # (03-04, 03-09] = 5,6,9


def test_steps_get_their_own_due_dates_and_lateness() -> None:
    case = accepted()
    first = case.item.steps[0]
    case.start_step(
        ctx("2026-03-03 10:00"), step=first.name, handler="王五", department=None, cal=CAL
    )
    assert case.steps[first.name].due_date == CAL.add_working_days(date(2026, 3, 3), first.days)
    late = CAL.add_working_days(case.steps[first.name].due_date, 2)
    case.complete_step(
        ctx(f"{late} 10:00"),
        step=first.name,
        handler="王五",
        decision="pass",
        opinion=None,
        cal=CAL,
    )
    assert case.steps[first.name].on_time is False
    second = case.item.steps[1]
    case.start_step(
        ctx(f"{late} 11:00"), step=second.name, handler="赵六", department=None, cal=CAL
    )
    assert case.steps[second.name].due_date == CAL.add_working_days(late, second.days)


def test_unknown_step_is_refused_without_changing_the_case() -> None:
    case = accepted()
    version = case.version
    with pytest.raises(UnknownStep, match="not a step of item"):
        case.start_step(ctx("2026-03-03 10:00"), step="盖章", handler="x", department=None, cal=CAL)
    assert case.version == version


def test_completing_a_step_never_started_is_refused() -> None:
    case = accepted()
    with pytest.raises(InvalidTransition, match="was not started"):
        case.complete_step(
            ctx("2026-03-03 10:00"),
            step=FOOD.steps[0].name,
            handler="x",
            decision="pass",
            opinion=None,
            cal=CAL,
        )


def test_suspension_stops_the_clock_and_resumption_recomputes_it() -> None:
    assert EIA is not None
    case = accepted(EIA)
    before = case.due_date
    assert before is not None
    case.suspend(
        ctx("2026-03-04 09:00"), procedure="hearing", reason="听证", expected_days=10, cal=CAL
    )
    assert case.status == SUSPENDED
    with pytest.raises(InvalidTransition, match="suspended"):
        case.start_step(
            ctx("2026-03-05 09:00"), step=EIA.steps[0].name, handler="x", department=None, cal=CAL
        )
    case.resume(ctx("2026-03-18 09:00"), cal=CAL, policy=POLICY)
    paused = CAL.working_days_between(date(2026, 3, 4), date(2026, 3, 18))
    assert case.due_date == CAL.add_working_days(before, paused)
    assert case.pause_days == paused


def test_second_suspension_is_flagged() -> None:
    assert EIA is not None
    case = accepted(EIA)
    for start, end in (("2026-03-04", "2026-03-05"), ("2026-03-06", "2026-03-09")):
        case.suspend(
            ctx(f"{start} 09:00"), procedure="testing", reason="检测", expected_days=2, cal=CAL
        )
        case.resume(ctx(f"{end} 09:00"), cal=CAL, policy=POLICY)
    assert kinds(case) == ["repeated_suspension"]


def test_suspension_of_a_non_suspendable_item_is_refused() -> None:
    case = accepted()
    with pytest.raises(NotAllowed, match="does not allow special procedures"):
        case.suspend(
            ctx("2026-03-04 09:00"), procedure="hearing", reason="x", expected_days=2, cal=CAL
        )


def test_extension_moves_due_date_by_its_days_once() -> None:
    case = accepted()
    before = case.due_date
    assert before is not None
    case.extend(
        ctx("2026-03-04 09:00"),
        days=FOOD.extension_days,
        reason="情况复杂",
        approved_by="局长",
        cal=CAL,
        policy=POLICY,
    )
    assert case.due_date == CAL.add_working_days(before, FOOD.extension_days)
    with pytest.raises(NotAllowed, match="one extension per case"):
        case.extend(
            ctx("2026-03-05 09:00"), days=1, reason="x", approved_by="y", cal=CAL, policy=POLICY
        )


def test_extension_beyond_the_item_allowance_is_refused() -> None:
    case = accepted()
    with pytest.raises(NotAllowed, match="exceeds"):
        case.extend(
            ctx("2026-03-04 09:00"),
            days=FOOD.extension_days + 1,
            reason="x",
            approved_by="y",
            cal=CAL,
            policy=POLICY,
        )


def test_conclusion_on_time_with_all_steps_is_clean() -> None:
    case = accepted()
    run_all_steps(case)
    case.conclude(
        ctx("2026-03-04 16:00"),
        outcome="approved",
        reason=None,
        online=True,
        cal=CAL,
        policy=POLICY,
    )
    assert case.status == CONCLUDED and case.on_time is True and kinds(case) == []
    assert case.handling_days == 1


def test_conclusion_after_due_date_is_late() -> None:
    case = accepted()
    run_all_steps(case)
    assert case.due_date is not None
    late = CAL.add_working_days(case.due_date, 3)
    case.conclude(
        ctx(f"{late} 16:00"), outcome="approved", reason=None, online=True, cal=CAL, policy=POLICY
    )
    assert case.on_time is False
    ev = case.pending_events[-1]
    assert isinstance(ev, Case.Concluded) and ev.late_days == 3


def test_approval_with_steps_skipped_is_flagged() -> None:
    case = accepted()
    case.conclude(
        ctx("2026-03-04 16:00"),
        outcome="approved",
        reason=None,
        online=False,
        cal=CAL,
        policy=POLICY,
    )
    assert kinds(case) == ["skipped_steps"]


def test_denial_without_reason_is_flagged() -> None:
    case = accepted()
    st = FOOD.steps[0].name
    case.start_step(ctx("2026-03-03 10:00"), step=st, handler="王五", department=None, cal=CAL)
    case.complete_step(
        ctx("2026-03-03 11:00"),
        step=st,
        handler="王五",
        decision="deny",
        opinion="材料不实",
        cal=CAL,
    )
    case.conclude(
        ctx("2026-03-04 16:00"), outcome="denied", reason=None, online=False, cal=CAL, policy=POLICY
    )
    assert kinds(case) == ["missing_reason"]


def test_case_concluded_within_seconds_after_steps_is_flagged_as_instant() -> None:
    case = submit(when="2026-03-02 09:00:00")
    case.accept(
        ctx("2026-03-02 09:00:10"),
        receipt_no="SL1",
        query_code_hash="q",
        item=FOOD,
        cal=CAL,
        policy=POLICY,
    )
    for st in FOOD.steps:
        case.start_step(
            ctx("2026-03-02 09:00:20"), step=st.name, handler="x", department=None, cal=CAL
        )
        case.complete_step(
            ctx("2026-03-02 09:00:30"),
            step=st.name,
            handler="x",
            decision="pass",
            opinion=None,
            cal=CAL,
        )
    case.conclude(
        ctx("2026-03-02 09:00:45"),
        outcome="approved",
        reason=None,
        online=True,
        cal=CAL,
        policy=POLICY,
    )
    assert kinds(case) == ["instant_conclusion"]


def test_record_entered_days_after_it_happened_is_flagged_backdated() -> None:
    case = submit()
    case.accept(
        ctx("2026-03-03 09:00", "accepted", recorded="2026-03-09 09:00"),
        receipt_no="SL1",
        query_code_hash="q",
        item=FOOD,
        cal=CAL,
        policy=POLICY,
    )
    assert kinds(case) == ["backdated_entry"]


def test_record_entered_next_working_day_is_not_backdated() -> None:
    case = submit()
    case.accept(
        ctx("2026-03-06 17:00", "accepted", recorded="2026-03-09 09:00"),
        receipt_no="SL1",
        query_code_hash="q",
        item=FOOD,
        cal=CAL,
        policy=POLICY,
    )
    assert kinds(case) == []


def test_nothing_but_delivery_and_rating_after_conclusion() -> None:
    case = accepted()
    run_all_steps(case)
    case.conclude(
        ctx("2026-03-04 16:00"),
        outcome="approved",
        reason=None,
        online=True,
        cal=CAL,
        policy=POLICY,
    )
    with pytest.raises(CaseClosed, match="after conclusion"):
        case.start_step(
            ctx("2026-03-05 10:00"), step=FOOD.steps[0].name, handler="x", department=None, cal=CAL
        )
    case.deliver(ctx("2026-03-05 10:00"), method="window", site_visits=1, cal=CAL)
    with pytest.raises(InvalidTransition, match="already delivered"):
        case.deliver(ctx("2026-03-05 11:00"), method="window", site_visits=1, cal=CAL)
    case.rate(ctx("2026-03-05 12:00"), level=1, comment="太慢", cal=CAL, policy=POLICY)
    assert case.rating_answer_due == CAL.add_working_days(date(2026, 3, 5), 5)
    case.answer_rating(ctx("2026-03-06 12:00"), reply="已整改", cal=CAL)
    assert types(case)[-3:] == ["case.delivered", "case.rated", "case.rating_answered"]


def test_rating_before_conclusion_is_refused() -> None:
    case = accepted()
    with pytest.raises(InvalidTransition, match="cannot be rated"):
        case.rate(ctx("2026-03-05 12:00"), level=5, comment=None, cal=CAL, policy=POLICY)


def test_only_withdrawal_or_termination_before_acceptance() -> None:
    case = submit()
    with pytest.raises(InvalidTransition, match="never accepted"):
        case.conclude(
            ctx("2026-03-03 09:00"),
            outcome="approved",
            reason=None,
            online=True,
            cal=CAL,
            policy=POLICY,
        )
    case.conclude(
        ctx("2026-03-03 09:00"),
        outcome="withdrawn",
        reason="申请人撤回",
        online=True,
        cal=CAL,
        policy=POLICY,
    )
    assert case.status == CONCLUDED and case.on_time is None


def test_supervision_and_complaint_links_appear_in_case_history() -> None:
    case = accepted()
    case.link_supervision(
        ctx("2026-03-04 09:00"),
        order_id="O1",
        inspector="纪检",
        note="请加快",
        due_date=date(2026, 3, 6),
    )
    case.link_supervision_answer(ctx("2026-03-05 09:00"), order_id="O1", on_time=True)
    case.link_complaint(ctx("2026-03-05 10:00"), complaint_id="T1")
    assert types(case)[-3:] == [
        "case.supervision_ordered",
        "case.supervision_answered",
        "case.complaint_linked",
    ]


def test_complaint_lifecycle_with_deadlines() -> None:
    c = Complaint.file(
        ctx("2026-03-02 09:00"),
        complaint_id="T1",
        case_id=None,
        department="公安局",
        channel="hotline",
        content="窗口态度差",
        cal=CAL,
        policy=POLICY,
    )
    assert c.accept_due_date == CAL.add_working_days(date(2026, 3, 2), 5)
    c.accept(ctx("2026-03-03 09:00"), cal=CAL, policy=POLICY)
    c.assign(ctx("2026-03-03 10:00"), department="公安局")
    c.reply(ctx("2026-03-05 10:00"), reply="已核实并整改")
    c.close(ctx("2026-03-06 10:00"), satisfied=True)
    assert [Complaint.event_type(e) for e in c.pending_events] == [
        "complaint.filed",
        "complaint.accepted",
        "complaint.assigned",
        "complaint.replied",
        "complaint.closed",
    ]
    with pytest.raises(InvalidTransition):
        c.reply(ctx("2026-03-07 10:00"), reply="again")


def test_complaint_rejected_without_reason_is_flagged() -> None:
    c = Complaint.file(
        ctx("2026-03-02 09:00"),
        complaint_id="T2",
        case_id=None,
        department="公安局",
        channel="web",
        content="x",
        cal=CAL,
        policy=POLICY,
    )
    c.reject(ctx("2026-03-03 09:00"), reason=None)
    assert [v["violation"] for v in c.violations] == ["missing_reason"]


def test_supervision_order_due_date_and_single_answer() -> None:
    o = SupervisionOrder.issue(
        ctx("2026-03-02 09:00"),
        order_id="O1",
        case_id=None,
        department="住建局",
        inspector="纪检监察室",
        due_days=3,
        note="限期办结",
        cal=CAL,
    )
    assert o.due_date == CAL.add_working_days(date(2026, 3, 2), 3)
    o.answer(ctx("2026-03-03 09:00"), reply="已办结")
    with pytest.raises(InvalidTransition):
        o.answer(ctx("2026-03-04 09:00"), reply="again")


def test_item_dicts_are_built_once_and_read_back_without_serialising() -> None:
    for v in parse_catalogue(sample_catalogue_path()).versions:
        d = item_dict(v)
        assert d == v.to_dict()
        assert item_dict(v) is d  # one dict per item version
        assert item_from(d) is v  # known by identity
        copy = dict(d)
        assert item_from(copy) == v == ItemVersion.from_dict(copy)  # any other dict: by content
