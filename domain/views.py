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
from domain.model import Case, Complaint, HallAggregate, StepState, SupervisionOrder
from domain.privacy import mask_name

__all__ = [
    "applicant_view",
    "case_view",
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


def applicant_view(
    case: Case, events: Sequence[HallAggregate.Event], now: datetime
) -> dict[str, Any]:
    """What an applicant (办事人) sees with receipt number + query code: no internal detail."""
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
        "history": [
            {"type": Case.event_type(e), "occurred_at": e.occurred_at.isoformat()}
            for e in events
            if not isinstance(e, Case.ViolationFlagged)
        ],
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
