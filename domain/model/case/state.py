"""The state every part of a case (办件) reads: its fields, guards and clock helpers.

The case's commands and events live with their phase (intake.py, handling.py,
aftercare.py); this base holds what they share.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from domain import clock
from domain.calendar import WorkCalendar
from domain.catalogue import ItemVersion
from domain.errors import CaseClosed, InvalidTransition, UnknownStep
from domain.model.base import HallAggregate, RecordContext
from domain.policy import DEFAULT_POLICY, Policy
from domain.vocabulary import CLOSED_STATUSES, CaseStatus, Decision, ViolationKind

# The statuses as plain strings, and the sets the guards allow, taken from the vocabulary
# once: reading an enum member costs ~0.1 µs on Python 3.11 and the guards run per record.
AWAITING_INTAKE = CaseStatus.AWAITING_INTAKE.value
AWAITING_MATERIALS = CaseStatus.AWAITING_MATERIALS.value
IN_PROGRESS = CaseStatus.IN_PROGRESS.value
CORRECTION_PAUSED = CaseStatus.CORRECTION_PAUSED.value
SUSPENDED = CaseStatus.SUSPENDED.value
REJECTED = CaseStatus.REJECTED.value
CONCLUDED = CaseStatus.CONCLUDED.value
OPEN_BEFORE_ACCEPTANCE = frozenset({AWAITING_INTAKE, AWAITING_MATERIALS})
ONLY_IN_PROGRESS = frozenset({IN_PROGRESS})
ONLY_AWAITING_INTAKE = frozenset({AWAITING_INTAKE})
CORRECTABLE = frozenset({AWAITING_INTAKE, AWAITING_MATERIALS, IN_PROGRESS, CORRECTION_PAUSED})
AWAITING_CORRECTION = frozenset({AWAITING_MATERIALS, CORRECTION_PAUSED})
CLOSED = CLOSED_STATUSES


@dataclass
class StepState:
    """One approval step (审批环节) of a case, as the events left it."""

    name: str
    days: int
    started_on: date | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    handler: str | None = None
    due_date: date | None = None
    completed_on: date | None = None
    decision: str | None = None
    on_time: bool | None = None
    running: bool = False


class CaseBase(HallAggregate):
    """A case's state, guards and clocks; ``Case`` adds the commands of every phase."""

    STREAM = "case"

    if TYPE_CHECKING:  # state set by the events' apply(); hidden from the aggregate metaclass
        case_id: str
        item: ItemVersion
        status: str
        department: str
        town: str
        channel: str
        applicant_kind: str
        applicant_name: str
        applicant_hash: str
        bundle_id: str | None
        online: bool
        submitted_at: datetime
        intake_base: date
        intake_due_date: date
        receipt_no: str | None
        query_code_hash: str | None
        accepted_at: datetime | None
        clock_start: date | None
        limit_days: int
        legal_limit_days: int
        deemed_accepted: bool
        due_date: date | None
        warn_date: date | None
        legal_due_date: date | None
        pause_days: int
        extension_days: int
        paused_since: date | None
        corrections: int
        suspensions: int
        suspension: dict[str, str] | None
        extended_on: date | None
        steps: dict[str, StepState]
        last_completion: date | None
        last_completion_pause: int
        next_step: str | None
        next_step_due: date | None
        correction_requested_at: datetime | None
        suspended_at: datetime | None
        concluded_at: datetime | None
        outcome: str | None
        conclusion_reason: str | None
        concluded_online: bool | None
        on_time: bool | None
        handling_days: int | None
        rejection_reason: str | None
        delivered_at: datetime | None
        delivery_method: str | None
        site_visits: int | None
        rating: int | None
        rated_at: datetime | None
        rating_answer_due: date | None
        rating_answered_at: datetime | None
        violations: list[dict[str, Any]]
        orders: dict[str, dict[str, Any]]
        complaints: list[str]
        alerts: list[dict[str, Any]]
    # --- 违规: what a record breaks --------------------------------------------------------

    class ViolationFlagged(HallAggregate.Event):
        """违规: a supervision rule broken by the record just applied; recorded, never refused."""

        violation: str
        detail: str

        def apply(self, case: CaseBase) -> None:
            case.violations.append(
                {"violation": self.violation, "detail": self.detail, "at": self.occurred_at}
            )

    def _flag(self, ctx: RecordContext, violation: str, detail: str) -> None:
        self._emit(self.ViolationFlagged, ctx, violation=str(violation), detail=detail)

    def _flag_backdated(
        self, ctx: RecordContext, cal: WorkCalendar, policy: Policy | None = None
    ) -> None:
        tolerance = (policy or DEFAULT_POLICY).backdating_tolerance_days
        if clock.is_backdated(cal, ctx.at, ctx.recorded_at, tolerance):
            recorded = clock.local_date(ctx.recorded_at)
            self._flag(
                ctx,
                ViolationKind.BACKDATED_ENTRY,
                f"{ctx.kind} of {ctx.day.isoformat()} entered "
                f"{clock.days_between(cal, ctx.day, recorded)} working days later "
                f"({recorded.isoformat()})",
            )

    def _flag_late_intake(self, ctx: RecordContext) -> None:
        self._flag(
            ctx,
            ViolationKind.LATE_INTAKE_DECISION,
            f"intake decision ({ctx.kind}) on {ctx.day.isoformat()}, due by "
            f"{self.intake_due_date.isoformat()}",
        )

    # --- guards ---------------------------------------------------------------------------

    def check_open(self, what: str) -> None:
        if self.status == CONCLUDED:
            day = clock.local_date(self.concluded_at).isoformat() if self.concluded_at else "?"
            raise CaseClosed(
                f"case {self.case_id} was concluded ({self.outcome}) on {day}: {what} is not "
                "accepted after conclusion"
            )
        if self.status == REJECTED:
            raise CaseClosed(f"case {self.case_id} was rejected at intake: {what} is not accepted")

    def check_status(self, what: str, allowed: Collection[str]) -> None:
        self.check_open(what)
        if self.status not in allowed:
            raise InvalidTransition(
                f"case {self.case_id} is {self.status.replace('_', ' ')}: "
                f"{what} is not possible now"
            )

    def check_step(self, step: str) -> StepState:
        st = self.steps.get(step)
        if st is None:
            names = ", ".join(self.steps) or "none"
            raise UnknownStep(
                f"step '{step}' is not a step of item {self.item.item_code} (steps: {names})"
            )
        return st

    def check_order(self, ctx: RecordContext, after: datetime | None, what: str) -> None:
        """Refuse a record that puts the lifecycle out of time order (it happened before
        ``what``): a case concluded before it was submitted must not count as on time."""
        if after is not None and ctx.at < after:
            raise InvalidTransition(
                f"{ctx.kind} at {ctx.at.isoformat()} is before the {what} of case "
                f"{self.case_id} ({after.isoformat()}): records must follow the case's lifecycle"
            )

    def _check_handling(self, ctx: RecordContext) -> None:
        """Every record after acceptance: not before submission, not before acceptance."""
        self.check_order(ctx, self.submitted_at, "submission")
        self.check_order(ctx, self.accepted_at, "acceptance")

    def _last_step_activity(self) -> datetime | None:
        times = [t for st in self.steps.values() for t in (st.started_at, st.completed_at) if t]
        return max(times, default=None)

    # --- clocks ---------------------------------------------------------------------------

    def _dates(self, cal: WorkCalendar, policy: Policy, shift: int) -> tuple[date, date, date]:
        """Due, warning and legal due date of the accepted case, pushed by ``shift`` days."""
        assert self.clock_start is not None
        return case_dates(
            cal, policy, self.clock_start, self.limit_days, self.legal_limit_days, shift
        )

    def _after_pause(self, ctx: RecordContext, cal: WorkCalendar, policy: Policy) -> dict[str, Any]:
        """The dates a paused clock gets when it runs again today (resumption, correction)."""
        assert self.paused_since is not None
        paused = clock.pause_days(cal, self.paused_since, ctx.day)
        due, warn, legal = self._dates(cal, policy, self.pause_days + paused + self.extension_days)
        waiting = None
        if self.next_step is not None and self.next_step_due is not None:
            waiting = clock.shift_due(cal, self.next_step_due, paused)
        return {
            "paused_days": paused,
            "due_date": due,
            "warn_date": warn,
            "legal_due_date": legal,
            "step_due_dates": tuple(
                (st.name, clock.shift_due(cal, st.due_date, paused))
                for st in self.steps.values()
                if st.running and st.due_date is not None
            ),
            "next_step_due": waiting,
        }

    def _waiting_step(self, done: str | None, decision: str | None) -> str | None:
        """The step whose clock starts now (docs/contracts.md §3: when the previous step
        completes, the first at acceptance), whether or not anyone records its start."""
        if decision == Decision.DENY:
            return None
        if decision == Decision.RETURN:
            return done
        names = list(self.steps)
        start = names.index(done) + 1 if done is not None else 0
        for name in names[start:]:
            st = self.steps[name]
            if st.decision != Decision.PASS:
                return None if st.running else name
        return None

    def _step_base(self) -> tuple[date, int]:
        """Where a newly started step's clock starts: the last completion, else acceptance."""
        if self.last_completion is not None:
            return self.last_completion, self.last_completion_pause
        assert self.clock_start is not None
        return self.clock_start, 0


def case_dates(
    cal: WorkCalendar, policy: Policy, start: date, n: int, legal_n: int, shift: int
) -> tuple[date, date, date]:
    """Due date, warning date and legal due date of an ``n``-day (legal ``legal_n``-day)
    limit started on ``start`` and pushed back by ``shift`` working days (pauses and the
    extension); the warning margin is that of the unshifted limit."""
    margin = clock.warning_margin(n, policy.warning_share)
    return (
        clock.due_date(cal, start, n + shift),
        clock.warning_date(cal, start, n + shift, margin),
        clock.due_date(cal, start, legal_n + shift),
    )


def resume_clock(case: CaseBase, e: Any) -> None:
    """A paused clock runs again (Resumed, CorrectionReceived after acceptance)."""
    case.paused_since = None
    case.pause_days += e.paused_days
    case.due_date = e.due_date
    case.warn_date = e.warn_date
    case.legal_due_date = e.legal_due_date
    for name, due in e.step_due_dates:
        case.steps[name].due_date = due
    if case.next_step is not None:
        case.next_step_due = e.__dict__.get("next_step_due")
