"""When each alert falls due (预警 / 超时): the one home of the alert rules.

From the dates stored in the events, each aggregate's running deadlines and the
moment each passes. The alerter raises what is pending (not raised yet); the
views list what holds at a given time, plus the breaches that stay facts once
they happened (a step completed late, a case concluded after its warning day…).
A stopped clock (suspension, correction after acceptance) has no case or step
deadline; a deadline that moves gives a new alert for the new date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from domain import clock
from domain.model import Case, Complaint, HallAggregate, SupervisionOrder, alert_key
from domain.vocabulary import (
    COMPLAINT_AWAITING_REPLY,
    AlertKind,
    CaseStatus,
    ComplaintStatus,
    OrderStatus,
)

CASE_ALERTS = (
    AlertKind.CASE_WARNING.value,
    AlertKind.CASE_OVERDUE.value,
    AlertKind.STEP_OVERDUE.value,
    AlertKind.INTAKE_OVERDUE.value,
    AlertKind.RATING_UNANSWERED.value,
)


@dataclass(frozen=True, order=True)
class Due:
    """One alert that becomes due at ``at`` unless the aggregate moves on first."""

    at: datetime
    alert: str
    deadline: date
    step: str | None
    detail: str


def _late(deadline: date, alert: AlertKind, detail: str, step: str | None = None) -> Due:
    """A red alert: due from 00:00 after ``deadline``."""
    return Due(clock.overdue_from(deadline), alert.value, deadline, step, detail)


def case_deadlines(case: Case) -> list[Due]:
    """The deadlines a case has running now (预警 yellow, 超时 red, 环节超时, 受理超时,
    差评未整改), raised or not."""
    out: list[Due] = []
    if case.status == CaseStatus.AWAITING_INTAKE:
        due = case.intake_due_date
        out.append(_late(due, AlertKind.INTAKE_OVERDUE, f"no intake decision by {due}"))
    if case.status == CaseStatus.IN_PROGRESS and case.due_date is not None:
        out.extend(_handling_deadlines(case, case.due_date))
    if case.rating_answer_due is not None and case.rating_answered_at is None:
        due = case.rating_answer_due
        detail = f"bad review (level {case.rating}) not answered by {due.isoformat()}"
        out.append(_late(due, AlertKind.RATING_UNANSWERED, detail))
    return out


def _handling_deadlines(case: Case, due: date) -> list[Due]:
    """A running case's warning, due date and steps' due dates."""
    out: list[Due] = []
    if case.warn_date is not None:
        detail = f"due {due.isoformat()}; warning from {case.warn_date.isoformat()}"
        out.append(
            Due(clock.start_of_day(case.warn_date), AlertKind.CASE_WARNING.value, due, None, detail)
        )
    out.append(_late(due, AlertKind.CASE_OVERDUE, f"not concluded by {due.isoformat()}"))
    for st in case.steps.values():
        if st.running and st.due_date is not None:
            detail = f"step {st.name} not completed by {st.due_date.isoformat()}"
            out.append(_late(st.due_date, AlertKind.STEP_OVERDUE, detail, st.name))
    waiting, next_due = case.next_step, case.next_step_due
    if waiting is not None and next_due is not None and not case.steps[waiting].running:
        # its clock runs from the previous step's completion, started or not
        detail = f"step {waiting} not started or completed by {next_due.isoformat()}"
        out.append(_late(next_due, AlertKind.STEP_OVERDUE, detail, waiting))
    return out


def complaint_deadlines(c: Complaint) -> list[Due]:
    """投诉超时: acceptance within its limit, then the reply within its own."""
    if c.status == ComplaintStatus.FILED:
        detail = f"complaint not accepted by {c.accept_due_date.isoformat()}"
        return [_late(c.accept_due_date, AlertKind.COMPLAINT_OVERDUE, detail)]
    if c.status in COMPLAINT_AWAITING_REPLY and c.reply_due_date is not None:
        detail = f"complaint not answered by {c.reply_due_date.isoformat()}"
        return [_late(c.reply_due_date, AlertKind.COMPLAINT_OVERDUE, detail)]
    return []


def order_deadlines(o: SupervisionOrder) -> list[Due]:
    """督办超期: an order not answered by its deadline (escalated as a red card)."""
    if o.status != OrderStatus.ORDERED:
        return []
    detail = f"supervision order by {o.inspector} not answered by {o.due_date.isoformat()}"
    return [_late(o.due_date, AlertKind.SUPERVISION_UNANSWERED, detail)]


def deadlines(agg: HallAggregate) -> list[Due]:
    """The running deadlines of any aggregate that has them."""
    if isinstance(agg, Case):
        return case_deadlines(agg)
    if isinstance(agg, Complaint):
        return complaint_deadlines(agg)
    if isinstance(agg, SupervisionOrder):
        return order_deadlines(agg)
    return []


def dues(agg: HallAggregate) -> list[Due]:
    """The alerts an aggregate still needs raised: its deadlines not raised yet."""
    done = agg.__dict__.get("applied_records", ())
    return [d for d in deadlines(agg) if alert_key(d.alert, d.deadline, d.step) not in done]


# --- what holds at a time (the views' flags) -----------------------------------------------


def _by(t: datetime | None, due: date) -> bool:
    """Something done at ``t`` was done after ``due`` (a breach that stays)."""
    return t is not None and clock.local_date(t) > due


def case_flags(case: Case, now: datetime) -> list[str]:
    """Alert kinds that hold for a case at ``now``, in vocabulary order: the deadlines
    passed by then, and the breaches that happened (a breach once made stays)."""
    held = {d.alert for d in case_deadlines(case) if d.at <= now}
    if case.status == CaseStatus.CONCLUDED:
        if case.on_time is False:
            held.add(AlertKind.CASE_OVERDUE)
        end, warn = case.concluded_at, case.warn_date
        if warn is not None and end is not None and case.accepted_at is not None:
            held.update([AlertKind.CASE_WARNING] if end >= clock.start_of_day(warn) else [])
    if any(st.on_time is False for st in case.steps.values()):
        held.add(AlertKind.STEP_OVERDUE)
    if case.rating_answer_due is not None and _by(case.rating_answered_at, case.rating_answer_due):
        held.add(AlertKind.RATING_UNANSWERED)
    for order in case.orders.values():
        answered, due = order["answered_at"], order["due_date"]
        if (answered is None and clock.is_overdue(due, now)) or _by(answered, due):
            held.add(AlertKind.SUPERVISION_UNANSWERED)
    return [k for k in AlertKind.values() if k in held]


def complaint_flags(c: Complaint, now: datetime) -> list[str]:
    """complaint_overdue: acceptance or reply past its deadline (or made late)."""
    late = any(d.at <= now for d in complaint_deadlines(c))
    late = late or _by(c.accepted_at, c.accept_due_date)
    if c.reply_due_date is not None:
        late = late or _by(c.replied_at, c.reply_due_date)
    return [AlertKind.COMPLAINT_OVERDUE.value] if late else []


def order_flags(o: SupervisionOrder, now: datetime) -> list[str]:
    """supervision_unanswered: unanswered past its deadline, or answered late."""
    late = any(d.at <= now for d in order_deadlines(o)) or _by(o.answered_at, o.due_date)
    return [AlertKind.SUPERVISION_UNANSWERED.value] if late else []


def case_overdue(case: Case, now: datetime) -> bool:
    """审批超时: concluded late, or open with its clock running past its due date."""
    if case.status == CaseStatus.CONCLUDED:
        return case.on_time is False
    return any(d.alert == AlertKind.CASE_OVERDUE and d.at <= now for d in case_deadlines(case))
