"""The model's shared base: events built directly equal the library's, topics stay put,
and every status comes from the one status machine (domain/lifecycle.py)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from eventsourcing.utils import get_topic, resolve_topic

from domain.chain import ChainKey
from domain.encoding import STORED_BYTES, CanonicalTranscoder, TypedMapper
from domain.lifecycle import STATUS_AFTER, status_after
from domain.model import AGGREGATES, Case, Complaint, HallAggregate, SupervisionOrder
from domain.model.base import RecordContext
from domain.policy import Policy
from domain.vocabulary import CaseStatus, ComplaintStatus, OrderStatus
from tests.support import CAL, at, sample_catalogue

CAT = sample_catalogue()
EIA = next(v for c in CAT.codes() if (v := CAT.latest(c)) and v.suspendable and v.extension_days)
POLICY = Policy()
KEY = ChainKey.derive(b"k" * 32)
_N = iter(range(1, 10_000))


def ctx(when: str, kind: str) -> RecordContext:
    t = at(when)
    return RecordContext(f"r{next(_N)}", "test", kind, t, t, at("2026-06-01 00:00"), KEY)


def lived_case() -> Case:
    """A case through most of its lifecycle, every event built by hallwatch's fast path."""
    case = Case.submit(
        ctx("2026-03-02 09:00", "submitted"), case_id="FAST-1", item=EIA, town="南城街道",
        channel="web", applicant_kind="person", applicant_name="张三", applicant_hash="h",
        bundle_id=None, cal=CAL, policy=POLICY,
    )  # fmt: skip
    case.accept(
        ctx("2026-03-03 09:00", "accepted"), receipt_no="SL-FAST", query_code_hash="q",
        item=EIA, cal=CAL, policy=POLICY,
    )  # fmt: skip
    first = EIA.steps[0].name
    case.start_step(
        ctx("2026-03-03 10:00", "s"), step=first, handler="李", department=None, cal=CAL
    )
    case.request_correction(ctx("2026-03-04 09:00", "c"), materials=("图纸",), cal=CAL)
    case.receive_correction(ctx("2026-03-09 09:00", "r"), cal=CAL, policy=POLICY)
    case.suspend(
        ctx("2026-03-10 09:00", "x"), procedure="hearing", reason="听证", expected_days=5, cal=CAL
    )
    case.resume(ctx("2026-03-17 09:00", "y"), cal=CAL, policy=POLICY)
    case.extend(
        ctx("2026-03-18 09:00", "e"), days=EIA.extension_days, reason="复杂", approved_by="王",
        cal=CAL, policy=POLICY,
    )  # fmt: skip
    case.complete_step(
        ctx("2026-03-19 09:00", "d"), step=first, handler="李", decision="pass", opinion=None,
        cal=CAL,
    )  # fmt: skip
    case.conclude(
        ctx("2026-03-20 09:00", "k"), outcome="approved", reason=None, online=True, cal=CAL,
        policy=POLICY,
    )  # fmt: skip
    case.rate(ctx("2026-03-21 09:00", "t"), level=1, comment="慢", cal=CAL, policy=POLICY)
    case.raise_alert(
        alert="rating_unanswered", deadline=date(2026, 3, 28), detail="d", step=None,
        at=at("2026-03-29 00:00"), now=at("2026-03-29 00:00"), chain_key=KEY,
    )  # fmt: skip
    return case


def _fields(e: Any) -> dict[str, Any]:
    return {
        k: v
        for k, v in vars(e).items()
        if k not in (STORED_BYTES, "originator_id", "originator_version", "originator_topic")
    }


def test_events_built_directly_equal_what_the_library_trigger_event_builds() -> None:
    fast = lived_case()
    events = list(fast.pending_events)
    assert len(events) >= 12
    slow: Any = Case._create(type(events[0]), id=events[0].originator_id, **_fields(events[0]))
    for e in events[1:]:
        slow.trigger_event(type(e), **_fields(e))
    mapper = TypedMapper(transcoder=CanonicalTranscoder())
    for ours, theirs in zip(events, slow.pending_events, strict=True):
        assert type(ours) is type(theirs)
        assert {k: v for k, v in vars(ours).items() if k != STORED_BYTES} == vars(theirs)
        assert mapper.to_stored_event(theirs).state == vars(ours)[STORED_BYTES]
    skip = {"_pending_events"}
    assert {k: v for k, v in vars(fast).items() if k not in skip} == {
        k: v for k, v in vars(slow).items() if k not in skip
    }


def test_every_class_keeps_its_stored_topic_and_resolves_back() -> None:
    seen = 0
    for agg in AGGREGATES:
        assert get_topic(agg) == f"domain.model:{agg.__name__}"
        for name, value in vars(agg).items():
            if isinstance(value, type) and issubclass(value, HallAggregate.Event):
                topic = get_topic(value)
                assert topic == f"domain.model:{agg.__name__}.{name}"
                assert resolve_topic(topic) is value
                seen += 1
    assert seen > 40


def test_a_case_moves_through_exactly_the_statuses_of_the_status_machine() -> None:
    case = lived_case()
    seen = []
    agg: Any = None
    for e in case.collect_events():
        agg = e.mutate(agg)
        name = Case.event_type(e)
        if name in STATUS_AFTER:
            assert agg.status == status_after(name, vars(e).get("stage"))
            seen.append(agg.status)
    assert seen[0] == CaseStatus.AWAITING_INTAKE and seen[-1] == CaseStatus.CONCLUDED
    assert CaseStatus.CORRECTION_PAUSED in seen and CaseStatus.SUSPENDED in seen


@pytest.mark.parametrize(
    ("name", "stage", "status"),
    [
        ("case.correction_requested", "intake", CaseStatus.AWAITING_MATERIALS),
        ("case.correction_requested", "handling", CaseStatus.CORRECTION_PAUSED),
        ("case.correction_received", "intake", CaseStatus.AWAITING_INTAKE),
        ("case.correction_received", "handling", CaseStatus.IN_PROGRESS),
        ("complaint.assigned", None, ComplaintStatus.ASSIGNED),
        ("supervision.answered", None, OrderStatus.ANSWERED),
    ],
)
def test_status_after_follows_the_stage_of_a_correction(
    name: str, stage: str | None, status: str
) -> None:
    assert status_after(name, stage) == status


def test_every_status_an_event_leads_to_is_a_word_of_the_vocabulary() -> None:
    words = {*CaseStatus.values(), *ComplaintStatus.values(), *OrderStatus.values()}
    for after in STATUS_AFTER.values():
        for status in [after] if isinstance(after, str) else after.values():
            assert status in words
    for agg in (Case, Complaint, SupervisionOrder):
        assert any(name.startswith(f"{agg.STREAM}.") for name in STATUS_AFTER)
