"""One case's lifecycle, laid out on working days before exact times are drawn.

The plan follows the lifecycle the domain enforces, so every record the generator
emits can be applied (docs/contracts.md §2): the submission; the intake decision,
after any correction notices; the acceptance (one receipt for a bundle); the steps
(steps.py); the conclusion, delivery and rating (endings.py). Instant cases
(体外循环, a planted breach) are done within a minute of their submission.
"""

from __future__ import annotations

from datetime import date
from typing import Any, TypeAlias

from domain.vocabulary import Decision, Outcome, RecordKind
from infra.simulate.endings import conclude, concluded, plan_after
from infra.simulate.fields import correction_notice
from infra.simulate.hall import Hall
from infra.simulate.plans import Case, Planned
from infra.simulate.steps import plan_steps
from infra.simulate.texts import REJECT_REASONS
from infra.simulate.timing import DAY_SECONDS, MORNING

__all__ = ["plan_case"]

#: The acceptance (受理) of a bundle: its day and working-second offset, per bundle.
BundleAcceptance: TypeAlias = dict[int, tuple[date, int]]


def plan_case(hall: Hall, case: Case, bundle_accept: BundleAcceptance) -> None:
    """Lay out one case's records on working days, in lifecycle order. Bundles must be
    planned first; their acceptance is recorded in (and then taken from) ``bundle_accept``."""
    submitted = Planned(case.day, RecordKind.SUBMITTED.value, _submitted(case), case.offset)
    case.plan.append(submitted)
    if case.instant:
        _plan_instant(hall, case)
        return
    if case.outcome == Outcome.WITHDRAWN and case.withdraw_early:
        _plan_early_withdrawal(hall, case)
        return
    day = _plan_corrections(hall, case)
    if case.intake in ("rejected", "rejected_no_reason"):
        _plan_rejection(hall, case, day)
        return
    accept_day = _plan_acceptance(hall, case, day, bundle_accept)
    clock_start = case.day if case.intake == "late" else accept_day
    plan_steps(hall, case, accept_day, clock_start)


def _submitted(case: Case) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "item_code": case.item.item_code,
        "channel": case.channel,
        "applicant_kind": case.applicant_kind,
        "applicant_name": case.applicant_name,
        "applicant_id": case.applicant_id,
        "town": case.town,
    }
    if case.bundle is not None:
        fields["bundle_id"] = f"YJS{case.day:%Y%m%d}{case.bundle + 1:03d}"
    return fields


def _plan_early_withdrawal(hall: Hall, case: Case) -> None:
    """Withdrawn while awaiting the intake decision, sometimes after a correction notice."""
    rng, clock = hall.rng, hall.clock
    day = case.day
    if rng.random() < 0.5:
        day = clock.add(day, rng.randint(0, 2))
        notice = correction_notice(rng)
        case.plan.append(Planned(day, RecordKind.CORRECTION_REQUESTED.value, notice))
    day = clock.add(day, rng.randint(0, 2))
    conclude(hall, case, day, Outcome.WITHDRAWN.value)


def _plan_corrections(hall: Hall, case: Case) -> date:
    """The correction notices before the intake decision (受理前补正), each answered;
    return the day of the last record."""
    rng, clock = hall.rng, hall.clock
    day = case.day
    for _ in range({"correction": 1, "correction_twice": 2}.get(case.intake, 0)):
        day = clock.add(day, rng.choice((0, 1, 1, 2, 3)))
        notice = correction_notice(rng)
        case.plan.append(Planned(day, RecordKind.CORRECTION_REQUESTED.value, notice))
        day = clock.add(day, rng.randint(1, 6))
        case.plan.append(Planned(day, RecordKind.CORRECTION_RECEIVED.value, {}))
    return day


def _plan_rejection(hall: Hall, case: Case, day: date) -> None:
    """Not accepted (不予受理): with a reason, or (a planted breach) with none or blank."""
    rng = hall.rng
    day = hall.clock.add(day, rng.choice((0, 1, 2, 3)))
    fields: dict[str, Any] = {}
    if case.intake == "rejected":
        fields["reason"] = rng.choice(REJECT_REASONS)
    elif rng.random() < 0.5:
        fields["reason"] = ""
    case.plan.append(Planned(day, RecordKind.REJECTED.value, fields))


def _plan_acceptance(hall: Hall, case: Case, day: date, bundle_accept: BundleAcceptance) -> date:
    """Accepted within 0-3 working days (6-9 when late); a bundle's members share the
    first member's acceptance. The receipt is numbered once times are known."""
    rng = hall.rng
    accept_offset: int | None = None
    if case.bundle is not None and case.bundle in bundle_accept:
        day, accept_offset = bundle_accept[case.bundle]
    else:
        if case.intake == "late":
            wait = rng.randint(6, 9)
        else:
            wait = rng.choices((0, 1, 2, 3), (25, 35, 25, 15))[0]
        day = hall.clock.add(day, wait)
        if case.bundle is not None:
            lo = case.offset + 60 if day == case.day else 0
            accept_offset = rng.randrange(lo, max(lo + 1, DAY_SECONDS - 3600))
            bundle_accept[case.bundle] = (day, accept_offset)
    accepted = Planned(day, RecordKind.ACCEPTED.value, {"receipt_no": ""}, accept_offset)
    case.plan.append(accepted)
    return day


def _plan_instant(hall: Hall, case: Case) -> None:
    """体外循环: submitted, accepted, every step and concluded within a minute."""
    rng, plan = hall.rng, case.plan
    # Keep the whole minute on one side of the lunch break and inside the day.
    if MORNING[1] - 120 <= case.offset < MORNING[1]:
        case.offset = MORNING[1]
    case.offset = min(case.offset, DAY_SECONDS - 120)
    plan[0].offset = case.offset
    offset = case.offset

    def nxt() -> int:
        nonlocal offset
        offset += rng.randint(2, 4)
        return offset

    plan.append(Planned(case.day, RecordKind.ACCEPTED.value, {"receipt_no": ""}, nxt()))
    handler = hall.handler(case)
    for step in case.item.steps:
        started = {"step": step.name, "handler": handler}
        plan.append(Planned(case.day, RecordKind.STEP_STARTED.value, started, nxt()))
        done = {"step": step.name, "handler": handler, "decision": Decision.PASS.value}
        plan.append(Planned(case.day, RecordKind.STEP_COMPLETED.value, done, nxt()))
    fields = concluded(rng, case, Outcome.APPROVED.value)  # drawn before the time
    plan.append(Planned(case.day, RecordKind.CONCLUDED.value, fields, nxt()))
    plan_after(hall, case, hall.clock.add(case.day, 1), Outcome.APPROVED.value)
