"""When each alert falls due (预警 / 超时), from the dates stored in the events.

Pure functions: given an aggregate as it stands, the alerts it will need and the
moment each one becomes due.  An alert already raised for the same deadline is
not listed again; a deadline that moves (a suspension ends, an extension is
granted) gives a new alert for the new deadline.  A clock that is stopped
(suspension, correction after acceptance) has no case or step deadline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from domain import clock
from domain.model import (
    AWAITING_INTAKE,
    C_ACCEPTED,
    C_ASSIGNED,
    C_FILED,
    IN_PROGRESS,
    Case,
    Complaint,
    HallAggregate,
    SupervisionOrder,
    alert_key,
)

CASE_ALERTS = (
    "case_warning",
    "case_overdue",
    "step_overdue",
    "intake_overdue",
    "rating_unanswered",
)


@dataclass(frozen=True, order=True)
class Due:
    """One alert that becomes due at ``at`` unless the aggregate moves on first."""

    at: datetime
    alert: str
    deadline: date
    step: str | None
    detail: str


def _applied(agg: HallAggregate) -> frozenset[str] | set[str]:
    applied: frozenset[str] | set[str] = agg.__dict__.get("applied_records", frozenset())
    return applied


def case_dues(case: Case) -> list[Due]:
    """The alerts a case still needs (预警 yellow, 超时 red, 环节超时, 受理超时, 差评未整改)."""
    out: list[Due] = []
    if case.status == AWAITING_INTAKE:
        out.append(
            Due(
                clock.overdue_from(case.intake_due_date),
                "intake_overdue",
                case.intake_due_date,
                None,
                f"no intake decision by {case.intake_due_date.isoformat()}",
            )
        )
    if case.status == IN_PROGRESS and case.due_date is not None:
        if case.warn_date is not None:
            out.append(
                Due(
                    clock.start_of_day(case.warn_date),
                    "case_warning",
                    case.due_date,
                    None,
                    f"due {case.due_date.isoformat()}; warning from {case.warn_date.isoformat()}",
                )
            )
        out.append(
            Due(
                clock.overdue_from(case.due_date),
                "case_overdue",
                case.due_date,
                None,
                f"not concluded by {case.due_date.isoformat()}",
            )
        )
        for st in case.steps.values():
            if st.running and st.due_date is not None:
                out.append(
                    Due(
                        clock.overdue_from(st.due_date),
                        "step_overdue",
                        st.due_date,
                        st.name,
                        f"step {st.name} not completed by {st.due_date.isoformat()}",
                    )
                )
        waiting, due = case.next_step, case.next_step_due
        if waiting is not None and due is not None and not case.steps[waiting].running:
            # its clock runs from the previous step's completion, started or not
            out.append(
                Due(
                    clock.overdue_from(due),
                    "step_overdue",
                    due,
                    waiting,
                    f"step {waiting} not started or completed by {due.isoformat()}",
                )
            )
    if case.rating_answer_due is not None and case.rating_answered_at is None:
        out.append(
            Due(
                clock.overdue_from(case.rating_answer_due),
                "rating_unanswered",
                case.rating_answer_due,
                None,
                f"bad review (level {case.rating}) not answered by "
                f"{case.rating_answer_due.isoformat()}",
            )
        )
    done = _applied(case)
    return [d for d in out if alert_key(d.alert, d.deadline, d.step) not in done]


def complaint_dues(c: Complaint) -> list[Due]:
    """投诉超时: acceptance within its limit, then the reply within its own."""
    out: list[Due] = []
    if c.status == C_FILED:
        out.append(
            Due(
                clock.overdue_from(c.accept_due_date),
                "complaint_overdue",
                c.accept_due_date,
                None,
                f"complaint not accepted by {c.accept_due_date.isoformat()}",
            )
        )
    elif c.status in (C_ACCEPTED, C_ASSIGNED) and c.reply_due_date is not None:
        out.append(
            Due(
                clock.overdue_from(c.reply_due_date),
                "complaint_overdue",
                c.reply_due_date,
                None,
                f"complaint not answered by {c.reply_due_date.isoformat()}",
            )
        )
    done = _applied(c)
    return [d for d in out if alert_key(d.alert, d.deadline, d.step) not in done]


def order_dues(o: SupervisionOrder) -> list[Due]:
    """督办超期: an order not answered by its deadline (escalated as a red card)."""
    if o.status != "ordered":
        return []
    due = Due(
        clock.overdue_from(o.due_date),
        "supervision_unanswered",
        o.due_date,
        None,
        f"supervision order by {o.inspector} not answered by {o.due_date.isoformat()}",
    )
    return [] if alert_key(due.alert, due.deadline) in _applied(o) else [due]


def dues(agg: HallAggregate) -> list[Due]:
    """Pending alerts of any aggregate that has them."""
    if isinstance(agg, Case):
        return case_dues(agg)
    if isinstance(agg, Complaint):
        return complaint_dues(agg)
    if isinstance(agg, SupervisionOrder):
        return order_dues(agg)
    return []
