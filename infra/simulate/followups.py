"""Complaints (投诉) and supervision orders (督办单) about the simulated cases.

They are the other two streams of intake records (docs/contracts.md §2). Complaints
come about one case in a hundred, mostly about a case and otherwise about a department;
every fourth is turned down. Supervision orders mostly chase late or open cases; all
but one are answered, most of them in time, so that an escalation shows.
"""

from __future__ import annotations

from datetime import date
from typing import Any, TypeAlias

from domain.vocabulary import Channel, RecordKind
from infra.simulate.hall import Hall
from infra.simulate.plans import Case, Planned
from infra.simulate.texts import (
    COMPLAINT_REJECTS,
    COMPLAINT_REPLIES,
    COMPLAINTS,
    INSPECTORS,
    SUPERVISION_NOTES,
    SUPERVISION_REPLIES,
)
from infra.simulate.timing import quota

__all__ = ["complaints", "supervision_orders"]

#: The records of one complaint or order.
Stream: TypeAlias = list[dict[str, Any]]

#: Complaint channels and their weights.
_COMPLAINT_CHANNELS = (
    (Channel.HOTLINE.value, Channel.WEB.value, Channel.APP.value, Channel.WINDOW.value),
    (45, 30, 20, 5),
)


def complaints(hall: Hall, cases: list[Case]) -> list[Stream]:
    """About 1 complaint per 100 cases: about a case (mostly) or a department."""
    count = quota(0.01, hall.n, hall.rng)
    candidates = [c for c in cases if len(c.records) >= 2]
    return [_complaint(hall, j, candidates) for j in range(count)]


def _complaint(hall: Hall, j: int, candidates: list[Case]) -> Stream:
    rng, clock = hall.rng, hall.clock
    base, department, subject = _complaint_subject(hall, candidates)
    day = clock.add(base, rng.randint(1, 3))
    complaint_id = f"TS{day:%Y%m%d}{j + 1:04d}"
    channel = rng.choices(*_COMPLAINT_CHANNELS)[0]
    filed = {**subject, "channel": channel, "content": rng.choice(COMPLAINTS)}
    plan = [Planned(day, RecordKind.COMPLAINT_FILED.value, filed)]
    day = clock.add(day, rng.choices((0, 1, 2, 3, 7), (20, 40, 20, 15, 5))[0])
    if j % 4 == 1:
        rejected = {"reason": rng.choice(COMPLAINT_REJECTS)}
        plan.append(Planned(day, RecordKind.COMPLAINT_REJECTED.value, rejected))
    else:
        _plan_complaint_handling(hall, plan, day, department)
    return hall.stream(hall.timed(plan), {"complaint_id": complaint_id})


def _complaint_subject(hall: Hall, candidates: list[Case]) -> tuple[date, str, dict[str, Any]]:
    """``(day it refers to, department, subject fields)``: a case or a department."""
    rng = hall.rng
    if rng.random() < 0.7 and candidates:
        c = rng.choice(candidates)
        base = rng.choice(c.records[1:])[0].date()
        return base, c.item.department, {"case_id": c.case_id}
    base = rng.choice(hall.days)
    department = rng.choice(hall.departments)
    return base, department, {"department": department}


def _plan_complaint_handling(hall: Hall, plan: list[Planned], day: date, dept: str) -> None:
    """Accepted and assigned to the department, replied, then closed (mostly rated)."""
    rng, clock = hall.rng, hall.clock
    plan.append(Planned(day, RecordKind.COMPLAINT_ACCEPTED.value, {}))
    plan.append(Planned(day, RecordKind.COMPLAINT_ASSIGNED.value, {"department": dept}))
    day = clock.add(day, rng.randint(1, 10))
    replied = {"reply": rng.choice(COMPLAINT_REPLIES)}
    plan.append(Planned(day, RecordKind.COMPLAINT_REPLIED.value, replied))
    day = clock.add(day, rng.randint(1, 3))
    closed: dict[str, Any] = {}
    if rng.random() < 0.8:
        closed["satisfied"] = rng.random() < 0.75
    plan.append(Planned(day, RecordKind.COMPLAINT_CLOSED.value, closed))


def supervision_orders(hall: Hall, cases: list[Case]) -> list[Stream]:
    """A few supervision orders (督办单), mostly about late or open cases; most answered."""
    count = max(1, hall.n // 75) if hall.n >= 20 else 0
    troubled = [
        c for c in cases if (c.late or c.leave_open or c.intake == "late") and len(c.records) >= 2
    ]
    return [_order(hall, j, troubled) for j in range(count)]


def _order(hall: Hall, j: int, troubled: list[Case]) -> Stream:
    rng, clock = hall.rng, hall.clock
    day, subject, note = _order_subject(hall, j, troubled)
    due = rng.choice((3, 5))
    order_id = f"DB{day:%Y%m%d}{j + 1:03d}"
    ordered = {**subject, "inspector": rng.choice(INSPECTORS), "due_days": due, "note": note}
    plan = [Planned(day, RecordKind.SUPERVISION_ORDERED.value, ordered)]
    if j != 2:  # the third order stays unanswered: an escalation to show
        wait = rng.randint(1, due) if rng.random() < 0.85 else due + rng.randint(1, 3)
        answered = {"reply": rng.choice(SUPERVISION_REPLIES)}
        kind = RecordKind.SUPERVISION_ANSWERED.value
        plan.append(Planned(clock.add(day, wait), kind, answered))
    return hall.stream(hall.timed(plan), {"order_id": order_id})


def _order_subject(hall: Hall, j: int, troubled: list[Case]) -> tuple[date, dict[str, Any], str]:
    """``(day, subject fields, note)``: a troubled case past its promised days (taken out
    of ``troubled``) for two orders in three, else a department after the last day."""
    rng, clock = hall.rng, hall.clock
    if troubled and j % 3 != 2:
        c = troubled.pop(rng.randrange(len(troubled)))
        base = c.records[1][0].date()
        day = clock.add(base, rng.randint(c.item.promised_days, c.item.promised_days + 5))
        return day, {"case_id": c.case_id}, SUPERVISION_NOTES[0]
    day = clock.add(hall.days[-1], rng.randint(1, 5))
    subject = {"department": rng.choice(hall.departments)}
    return day, subject, rng.choice(SUPERVISION_NOTES[1:])
