"""Read views of cases, complaints and orders, with the flags that hold at a given time.

The flags come from domain/alerts.py (the alert rules) and the violations the
domain recorded, so ``hallwatch case --as-of`` shows exactly what an inspector
would have seen then.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from domain import clock
from domain.alerts import case_flags, case_overdue, complaint_flags, order_flags
from domain.calendar import WorkCalendar
from domain.model import Case, Complaint, HallAggregate, StepState, SupervisionOrder
from domain.privacy import mask_name
from domain.vocabulary import CLOSED_STATUSES, CaseStatus, EventName, plain

__all__ = [
    "applicant_view",
    "case_view",
    "complaint_public_view",
    "complaint_view",
    "event_row",
    "order_view",
]


def _iso(v: date | datetime | None) -> str | None:
    return None if v is None else v.isoformat()


def _passed(due: date | None, at: datetime) -> bool:
    """True from 00:00 (Asia/Shanghai) of the day after ``due``."""
    return due is not None and clock.is_overdue(due, at)


def event_row(agg_cls: type[HallAggregate], e: HallAggregate.Event) -> dict[str, Any]:
    """One history line: type, when it happened, when it was entered, who sent it."""
    fields = {
        k: v
        for k, v in vars(e).items()
        if k
        not in (
            "originator_id",
            "originator_version",
            "timestamp",
            "originator_topic",
            "record_id",
            "source",
            "occurred_at",
            "recorded_at",
            "prev_hash",
            "chain_hash",
            "item",
            "query_code_hash",
            "applicant_hash",
            "_stored_bytes",
        )
    }
    if isinstance(fields.get("applicant_name"), str):  # views leave the store: name masked
        fields["applicant_name"] = mask_name(fields["applicant_name"])
    return {
        "version": e.originator_version,
        "type": agg_cls.event_type(e),
        "occurred_at": e.occurred_at.isoformat(),
        "recorded_at": e.recorded_at.isoformat(),
        "stored_at": e.timestamp.isoformat(),
        "record_id": e.record_id,
        "source": e.source,
        "data": {k: (_iso(v) if isinstance(v, (date, datetime)) else v) for k, v in fields.items()},
        "chain_hash": e.chain_hash,
    }


def case_view(case: Case, events: Sequence[HallAggregate.Event], now: datetime) -> dict[str, Any]:
    """The JSON of ``hallwatch case`` (docs/contracts.md §4) at time ``now``."""
    violations = [v["violation"] for v in case.violations]
    recorded = [a["alert"] for a in case.alerts if a["at"] <= now]
    return {
        **_case_head(case),
        **_case_clock(case, now),
        "steps": [_step_row(st, now) for st in case.steps.values()],
        **_case_end(case),
        "supervision_orders": [
            {"order_id": k, **{kk: _plain(vv) for kk, vv in v.items()}}
            for k, v in case.orders.items()
        ],
        "complaints": list(case.complaints),
        "flags": list(dict.fromkeys(case_flags(case, now) + recorded + violations)),
        "violations": [
            {"violation": v["violation"], "detail": v["detail"], "at": _iso(v["at"])}
            for v in case.violations
        ],
        "alerts": [{k: _plain(v) for k, v in a.items()} for a in case.alerts if a["at"] <= now],
        "as_of": now.isoformat(),
        "events": [event_row(Case, e) for e in events],
    }


def _plain(v: Any) -> Any:
    return _iso(v) if isinstance(v, (date, datetime)) else v


def _case_head(case: Case) -> dict[str, Any]:
    """What the case is and who applied (the name masked)."""
    return {
        "case_id": case.case_id,
        "receipt_no": case.receipt_no,
        "item_code": case.item.item_code,
        "item_name": case.item.item_name,
        "item_valid_from": case.item.valid_from.isoformat(),
        "department": case.department,
        "town": case.town,
        "channel": case.channel,
        "applicant_kind": case.applicant_kind,
        "applicant_name": mask_name(case.applicant_name),
        "bundle_id": case.bundle_id,
        "status": case.status,
    }


def _case_clock(case: Case, now: datetime) -> dict[str, Any]:
    """The case's limits and dates, and whether it is overdue at ``now``."""
    return {
        "submitted_at": _iso(case.submitted_at),
        "intake_due_date": _iso(case.intake_due_date),
        "accepted_at": _iso(case.accepted_at),
        "deemed_accepted": case.deemed_accepted,
        "promised_days": case.limit_days or case.item.promised_days,
        "statutory_days": case.legal_limit_days or case.item.statutory_days,
        "due_date": _iso(case.due_date),
        "legal_due_date": _iso(case.legal_due_date),
        "warn_at": _iso(clock.start_of_day(case.warn_date)) if case.warn_date else None,
        "overdue": case_overdue(case, now),
        "paused_days": case.pause_days,
        "extension_days": case.extension_days,
        "suspension": case.suspension,
        "corrections": case.corrections,
    }


def _step_row(st: StepState, now: datetime) -> dict[str, Any]:
    return {
        "step": st.name,
        "days": st.days,
        "started_on": _iso(st.started_on),
        "due_date": _iso(st.due_date),
        "completed_on": _iso(st.completed_on),
        "decision": st.decision,
        "handler": st.handler,
        "on_time": st.on_time,
        "overdue": st.on_time is False or (st.running and _passed(st.due_date, now)),
    }


def _case_end(case: Case) -> dict[str, Any]:
    """How the case ended, was delivered and rated."""
    return {
        "outcome": case.outcome,
        "concluded_at": _iso(case.concluded_at),
        "on_time": case.on_time,
        "handling_days": case.handling_days,
        "rejection_reason": case.rejection_reason,
        "delivered_at": _iso(case.delivered_at),
        "delivery_method": case.delivery_method,
        "site_visits": case.site_visits,
        "rating": case.rating,
        "rating_answered_at": _iso(case.rating_answered_at),
    }


#: The case events an applicant sees in their history: what happened to their application,
#: never the supervision around it (violations, alerts, orders, other people's complaints).
APPLICANT_EVENTS: frozenset[str] = plain(
    EventName.CASE_SUBMITTED,
    EventName.CASE_ACCEPTED,
    EventName.CASE_REJECTED,
    EventName.CASE_CORRECTION_REQUESTED,
    EventName.CASE_CORRECTION_RECEIVED,
    EventName.CASE_STEP_STARTED,
    EventName.CASE_STEP_COMPLETED,
    EventName.CASE_SUSPENDED,
    EventName.CASE_RESUMED,
    EventName.CASE_EXTENDED,
    EventName.CASE_CONCLUDED,
    EventName.CASE_DELIVERED,
    EventName.CASE_RATED,
    EventName.CASE_RATING_ANSWERED,
)
#: The complaint events a complainant sees.
COMPLAINANT_EVENTS: frozenset[str] = plain(
    EventName.COMPLAINT_FILED,
    EventName.COMPLAINT_ACCEPTED,
    EventName.COMPLAINT_REJECTED,
    EventName.COMPLAINT_ASSIGNED,
    EventName.COMPLAINT_REPLIED,
    EventName.COMPLAINT_CLOSED,
)


def applicant_view(
    case: Case,
    events: Sequence[HallAggregate.Event],
    now: datetime,
    *,
    cal: WorkCalendar | None = None,
) -> dict[str, Any]:
    """What an applicant (办事人) sees with receipt number + query code: their own case in
    plain terms (name masked), never internal detail (handlers, violations, alerts, orders,
    hashes). ``cal`` lets it count the working days an open case is late."""
    closed = case.status in CLOSED_STATUSES
    return {
        "receipt_no": case.receipt_no,
        "item_name": case.item.item_name,
        "department": case.department,
        "status": case.status,
        "accepted_at": _iso(case.accepted_at),
        "expected_completion": _iso(case.due_date),
        "suspension": case.suspension,
        "outcome": case.outcome,
        "concluded_at": _iso(case.concluded_at),
        "history": [_public_row(Case, e) for e in events if Case.event_type(e) in APPLICANT_EVENTS],
        "applicant_name": mask_name(case.applicant_name),
        "submitted_at": _iso(case.submitted_at),
        "intake_due_date": _iso(case.intake_due_date),
        "late": case_overdue(case, now),
        "days_late": _days_late(case, events, now, cal),
        "rating": case.rating,
        "rated_at": _iso(case.rated_at),
        "can_rate": closed and case.rating is None,
        "can_complain": closed,
        "as_of": now.isoformat(),
    }


def _public_row(agg_cls: type[HallAggregate], e: HallAggregate.Event) -> dict[str, Any]:
    """One line of a public history: the event's name and when it happened (and the step
    it concerns); no handler, opinion, hash or anyone else."""
    row = {"type": agg_cls.event_type(e), "occurred_at": e.occurred_at.isoformat()}
    step = getattr(e, "step", None)
    if isinstance(step, str):
        row["step"] = step
    return row


def _days_late(
    case: Case, events: Sequence[HallAggregate.Event], now: datetime, cal: WorkCalendar | None
) -> int | None:
    """Working days late: as recorded at conclusion, or from the due date to ``now`` for an
    open case past it (None when it is not late, or not known without a calendar)."""
    if not case_overdue(case, now):
        return None
    if case.status == CaseStatus.CONCLUDED:
        ends = [e for e in events if isinstance(e, Case.Concluded)]
        return ends[-1].late_days if ends else None
    if cal is None or case.due_date is None:
        return None
    return clock.days_between(cal, case.due_date, clock.local_date(now))


def complaint_public_view(
    c: Complaint, events: Sequence[HallAggregate.Event], now: datetime
) -> dict[str, Any]:
    """What a complainant (投诉人) sees with complaint id + its query code: status, dates and
    the reply deadline; not the content, the handlers or the answer's internal detail."""
    return {
        "complaint_id": c.complaint_id,
        "department": c.department,
        "channel": c.channel,
        "status": c.status,
        "filed_at": _iso(c.filed_at),
        "accept_due_date": _iso(c.accept_due_date),
        "accepted_at": _iso(c.accepted_at),
        "reply_due_date": _iso(c.reply_due_date),
        "replied_at": _iso(c.replied_at),
        "closed_at": _iso(c.closed_at),
        "late": bool(complaint_flags(c, now)),
        "history": [
            _public_row(Complaint, e)
            for e in events
            if Complaint.event_type(e) in COMPLAINANT_EVENTS
        ],
        "as_of": now.isoformat(),
    }


def complaint_view(
    c: Complaint, events: Sequence[HallAggregate.Event], now: datetime
) -> dict[str, Any]:
    """The JSON of ``hallwatch complaint``."""
    return {
        "complaint_id": c.complaint_id,
        "case_id": c.case_id,
        "department": c.department,
        "assigned_to": c.assigned_to,
        "channel": c.channel,
        "content": c.content,
        "status": c.status,
        "filed_at": _iso(c.filed_at),
        "accept_due_date": _iso(c.accept_due_date),
        "accepted_at": _iso(c.accepted_at),
        "reply_due_date": _iso(c.reply_due_date),
        "replied_at": _iso(c.replied_at),
        "closed_at": _iso(c.closed_at),
        "satisfied": c.satisfied,
        "rejection_reason": c.rejection_reason,
        "flags": list(
            dict.fromkeys(
                complaint_flags(c, now)
                + [a["alert"] for a in c.alerts if a["at"] <= now]
                + [v["violation"] for v in c.violations]
            )
        ),
        "as_of": now.isoformat(),
        "events": [event_row(Complaint, e) for e in events],
    }


def order_view(
    o: SupervisionOrder, events: Sequence[HallAggregate.Event], now: datetime
) -> dict[str, Any]:
    """The JSON of ``hallwatch order``: a supervision order (督办单) and its answer."""
    return {
        "order_id": o.order_id,
        "case_id": o.case_id,
        "department": o.department,
        "inspector": o.inspector,
        "note": o.note,
        "status": o.status,
        "ordered_at": _iso(o.ordered_at),
        "due_date": _iso(o.due_date),
        "answered_at": _iso(o.answered_at),
        "reply": o.reply,
        "flags": order_flags(o, now),
        "as_of": now.isoformat(),
        "events": [event_row(SupervisionOrder, e) for e in events],
    }
